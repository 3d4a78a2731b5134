"""The runner boundary: what every runner (local process pool, Spark) implements and shares.

A runner maps the pure kernel :func:`chainlens.pipeline.analyze_underlyings` over the
underlyings of one or more sessions and stores the result parts. Every runner turns kernel
results into stored parts with :func:`result_parts`, so the local and the Spark runner write
the same tables (SPEC "Architecture").

Examples
--------
>>> from chainlens.runners.base import RunSummary
>>> RunSummary(session="2024-03-15", underlyings=2, failed=[], parts={"docs": 2},
...            workers=1, elapsed_s=0.5, engine="local").to_json()["parts"]
{'docs': 2}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from chainlens.results import (
    MarketFacts,
    ResultSchemaError,
    conform,
    docs_to_table,
    with_summaries,
)

__all__ = ["ProgressFn", "RunSummary", "Runner", "result_parts", "with_other_results"]

#: ``progress(done, total, label)`` after each unit of work (an underlying, or a group).
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one runner did for one session (the ``chainlens run --json`` object, SPEC "CLI").

    Attributes
    ----------
    session
        ISO session date.
    underlyings
        Underlyings analysed.
    failed
        One message per underlying that failed (it is left out of the results).
    parts
        Rows per stored results part (``part -> rows``).
    workers
        Worker processes (local) or Spark tasks' parallelism used.
    elapsed_s
        Wall time of the session, seconds.
    engine
        ``"local"`` or ``"spark"``.
    extra
        Engine-specific figures (added keys only; never renames the pinned ones).
    """

    session: str
    underlyings: int
    failed: list[str]
    parts: dict[str, int]
    workers: int
    elapsed_s: float
    engine: str = "local"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The pinned CLI keys (``session``, ``underlyings``, ``failed``, ``parts``,
        ``workers``, ``elapsed_s``) plus ``engine`` and the extra figures."""
        return {
            "session": self.session,
            "underlyings": self.underlyings,
            "failed": list(self.failed),
            "parts": dict(self.parts),
            "workers": self.workers,
            "elapsed_s": self.elapsed_s,
            "engine": self.engine,
            **self.extra,
        }


@runtime_checkable
class Runner(Protocol):
    """A way to run the daily pipeline over stored sessions.

    ``source`` is what the runner reads: an open :class:`chainlens.store.Store` for the local
    runner; a store directory or a Parquet dataset path (``file://``, ``s3a://`` ...) laid out as
    the store lays it out for the Spark runner. Each session's results are stored atomically:
    a failed session leaves no partial results.
    """

    engine: str

    def run(
        self,
        source: Any,
        sessions: Sequence[dt.date],
        config: Any = None,
        *,
        underlyings: Sequence[str] | None = None,
        progress: ProgressFn | None = None,
    ) -> list[RunSummary]:
        """Run ``sessions`` (oldest first) and return one :class:`RunSummary` per session."""
        ...


def result_parts(results: Sequence[Any]) -> dict[str, pa.Table]:
    """The stored results parts of kernel results of one session (``part -> table``).

    ``docs`` holds one row per underlying (``underlying``, ``session``, ``doc`` as JSON); each
    other part is the concatenation, in result order, of the results' tables of that name.
    Every table is cast to its declared schema first (:func:`chainlens.results.conform`), so
    the concatenation needs no type promotion and every runner writes the same tables.

    Raises
    ------
    chainlens.results.ResultSchemaError
        Naming the underlying, the part and the column, when a kernel table does not match
        its declared schema.
    """
    parts: dict[str, pa.Table] = {"docs": docs_to_table(results)}
    names = sorted({k for r in results for k in r.tables})
    for name in names:
        # runs of consecutive tables with one schema: one concatenation and one conform per
        # run (a cast is value by value, so conforming the run is conforming each table)
        runs: list[tuple[pa.Schema, list[Any], list[pa.Table]]] = []
        for r in results:
            t = r.tables.get(name)
            if t is None or not t.num_rows:
                continue
            if runs and runs[-1][0].equals(t.schema):
                runs[-1][1].append(r)
                runs[-1][2].append(t)
            else:
                runs.append((t.schema, [r], [t]))
        ts = [_conform_run(name, rs, run) for _, rs, run in runs]
        if ts:
            parts[name] = ts[0] if len(ts) == 1 else pa.concat_tables(ts)
    return parts


def _conform_run(name: str, rs: Sequence[Any], tables: Sequence[pa.Table]) -> pa.Table:
    """``conform(name, ...)`` of the concatenation of ``tables`` (one schema), the results
    ``rs``'; on a mismatch, the error of the first result whose table does not conform."""
    try:
        return conform(name, tables[0] if len(tables) == 1 else pa.concat_tables(tables))
    except ResultSchemaError:
        for r, t in zip(rs, tables, strict=True):
            try:
                conform(name, t)
            except ResultSchemaError as exc:
                raise ResultSchemaError(
                    f"{r.underlying} {r.session}: {exc.message}",
                    part=exc.part,
                    column=exc.column,
                    hint=exc.hint,
                ) from None
        raise


def with_other_results(
    store: Any, session: dt.date, names: Sequence[str], parts: dict[str, pa.Table]
) -> tuple[dict[str, pa.Table], list[MarketFacts]]:
    """A run over some underlyings (``names``) of ``session``: its ``parts`` merged with the
    stored results of the session's other underlyings, and those underlyings' market facts.

    Each per-underlying part keeps the stored rows of every other name and takes this run's
    rows for ``names``; the scanner parts are this run's (they scan the whole store). The
    market rollup is then that of every stored name, as a whole-session run gives it: a run
    of ``chainlens run -u AAPL`` after a whole-session run changes AAPL's rows only. Nothing
    is merged when the session has no stored results.
    """
    import json

    from chainlens.market import market_facts
    from chainlens.scan._stored import NETDELTA_PARTS, SCAN_PARTS

    stored = store.results_except(session, names)
    if not stored:
        return parts, []
    scanner = {*SCAN_PARTS, *NETDELTA_PARTS}
    merged = dict(parts)
    for k, old in stored.items():
        if k in scanner or not old.num_rows:
            continue
        if k == "docs":  # stored before the summary column: made from the documents
            old = with_summaries(old)
        merged[k] = pa.concat_tables([conform(k, old), conform(k, parts[k])]) if k in parts else old
    others = stored.get("docs")
    facts = (
        [market_facts(json.loads(s)) for s in others.column("doc").to_pylist()]
        if others is not None
        else []
    )
    return merged, facts
