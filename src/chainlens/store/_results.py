"""The store's results interface: what runners, reports and the web layer read and write.

:class:`ResultsMixin` is part of :class:`chainlens.store.Store`. Its methods are the only
way a caller reaches stored results and the dated files a runner reads (no caller uses a
private store attribute):

* :meth:`~ResultsMixin.dated_files`: the catalogued, checksum-verified Parquet files of one
  kind and session (pool workers then read them with :func:`chainlens.store.read_partition`
  without opening the catalog);
* :meth:`~ResultsMixin.write_session_results`: the pipeline parts and the market rollup of a
  session, each cast to its declared schema (:mod:`chainlens.results`);
* :meth:`~ResultsMixin.read_docs`, :meth:`~ResultsMixin.read_market`,
  :meth:`~ResultsMixin.result_sessions`: the typed documents and the sessions holding them.

The generic :meth:`Store.write_results` / :meth:`Store.read_results` /
:meth:`Store.results_index` (any results name) stay in :mod:`chainlens.store._store`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from chainlens._dates import parse_date
from chainlens.results import MARKET_RESULTS, RESULTS_NAME, MarketDoc, UnderlyingDoc, conform

if TYPE_CHECKING:
    import duckdb

__all__ = ["ResultsMixin"]


class ResultsMixin:
    """Results and dated-file methods of :class:`chainlens.store.Store` (see module doc)."""

    root: Path

    if TYPE_CHECKING:  # provided by Store

        @property
        def con(self) -> duckdb.DuckDBPyConnection: ...

        def check_file(self, rel: str) -> None: ...

        def write_results(
            self, name: str, session: dt.date, tables: Mapping[str, pa.Table]
        ) -> None: ...

        def read_results(
            self, name: str, session: dt.date, part: str, *, underlying: str | None = None
        ) -> pa.Table: ...

        def results_index(self) -> pa.Table: ...

    def dated_files(self, kind: str, session: dt.date | str) -> list[str]:
        """Store-relative paths of the ``kind`` files (``chain``, ``trades``, ``prints``) of
        ``session``, in ingest order, each verified against its recorded checksum here (so
        pool workers can read them as they are)."""
        rows = self.con.execute(
            "SELECT f.file FROM files f JOIN sources s USING (source_id) "
            "WHERE f.kind = ? AND f.trade_date = ? ORDER BY s.seq",
            [kind, parse_date(session)],
        ).fetchall()
        for r in rows:
            self.check_file(r[0])
        return [r[0] for r in rows]

    def write_session_results(
        self, session: dt.date | str, parts: Mapping[str, pa.Table], market: MarketDoc
    ) -> None:
        """Store a session's pipeline parts (``result_parts``) and its market rollup.

        Each part is cast to its declared schema first (:func:`chainlens.results.conform`:
        a :class:`~chainlens.errors.ChainlensError` naming the part and column on a mismatch),
        then written atomically under :data:`~chainlens.results.RESULTS_NAME`; the rollup is
        the one-row ``doc`` part of :data:`~chainlens.results.MARKET_RESULTS`.
        """
        d = parse_date(session)
        self.write_results(RESULTS_NAME, d, {k: conform(k, t) for k, t in parts.items()})
        doc = pa.table({"doc": pa.array([json.dumps(market, allow_nan=False)], pa.string())})
        self.write_results(MARKET_RESULTS, d, {"doc": conform("market.doc", doc)})

    def read_docs(
        self, session: dt.date | str, underlying: str | None = None
    ) -> list[UnderlyingDoc]:
        """The stored per-underlying documents of a session (all, or one underlying's)."""
        t = self.read_results(RESULTS_NAME, parse_date(session), "docs", underlying=underlying)
        return [json.loads(s) for s in t.column("doc").to_pylist()]

    def read_market(self, session: dt.date | str) -> MarketDoc:
        """The stored market-wide rollup of a session."""
        t = self.read_results(MARKET_RESULTS, parse_date(session), "doc")
        out: MarketDoc = json.loads(t.column("doc")[0].as_py())
        return out

    def result_sessions(self, name: str = RESULTS_NAME) -> list[dt.date]:
        """Sessions with stored results ``name`` (default: the pipeline's), oldest first."""
        idx = self.results_index()
        names = idx.column("name").to_pylist()
        return sorted(
            {s for n, s in zip(names, idx.column("session").to_pylist(), strict=True) if n == name}
        )
