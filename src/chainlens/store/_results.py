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
  :meth:`~ResultsMixin.result_sessions`: the typed documents and the sessions holding them;
  :meth:`~ResultsMixin.read_doc_fields`: the documents pruned to the keys a market-wide
  reader needs (the daily report), decoding only those;
* :meth:`~ResultsMixin.read_results_of`, :meth:`~ResultsMixin.read_docs_of`: the rows and the
  documents of many underlyings in one read (the report writer shares them across its
  per-ticker reports);
* :meth:`~ResultsMixin.results_except`: a session's stored parts without some underlyings'
  rows (a run over a subset of names keeps the others' results).

The generic :meth:`Store.write_results` / :meth:`Store.read_results` /
:meth:`Store.results_index` (any results name) stay in :mod:`chainlens.store._store`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from chainlens._dates import parse_date
from chainlens._gc import paused_gc
from chainlens.results import MARKET_RESULTS, RESULTS_NAME, MarketDoc, UnderlyingDoc, conform

if TYPE_CHECKING:
    import duckdb

    from chainlens.store._stage import StagedFile

__all__ = ["ResultsMixin"]

#: A dotted key path of :meth:`ResultsMixin.read_doc_fields` (``flow.totals``).
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: The documents of a session pruned to key paths, in file order (one scan of the ``docs``
#: part: DuckDB's JSON reader extracts every path from each document in one parse).
_DOC_FIELDS_SQL = """
SELECT CASE WHEN underlying IN (SELECT unnest($whole::VARCHAR[])) THEN doc END AS whole,
       json_extract(doc, $paths)::VARCHAR[] AS parts
FROM read_parquet($path, filename = true, file_row_number = true)
ORDER BY filename, file_row_number
"""
#: Every document's summary (the ``docs`` part's ``summary`` column), in file order.
_SUMMARIES_SQL = """
SELECT underlying, summary FROM read_parquet($path, filename = true, file_row_number = true)
ORDER BY filename, file_row_number
"""
#: The documents of some underlyings of a session, in file order (one scan, no JSON parsed).
_DOCS_OF_SQL = """
SELECT doc FROM read_parquet($path, filename = true, file_row_number = true)
WHERE underlying IN (SELECT unnest($names::VARCHAR[]))
ORDER BY filename, file_row_number
"""


def _decoded(texts: Sequence[str | bytes | None]) -> list[Any]:
    """Each JSON text decoded (orjson), with the collector paused (:func:`paused_gc`)."""
    with paused_gc():
        return [orjson.loads(s) for s in texts]  # type: ignore[arg-type]


class ResultsMixin:
    """Results and dated-file methods of :class:`chainlens.store.Store` (see module doc)."""

    root: Path

    if TYPE_CHECKING:  # provided by Store

        @property
        def con(self) -> duckdb.DuckDBPyConnection: ...

        def check_file(self, rel: str) -> None: ...

        def write_results(
            self,
            name: str,
            session: dt.date,
            tables: Mapping[str, pa.Table],
            *,
            files: Mapping[str, Sequence[StagedFile]] | None = None,
        ) -> None: ...

        def read_results(
            self, name: str, session: dt.date, part: str, *, underlying: str | None = None
        ) -> pa.Table: ...

        def results_index(self) -> pa.Table: ...

        def _read_results_files(
            self, rels: Sequence[str], names: Sequence[str] | None
        ) -> pa.Table: ...

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
        self,
        session: dt.date | str,
        parts: Mapping[str, pa.Table],
        market: MarketDoc,
        *,
        files: Mapping[str, Sequence[StagedFile]] | None = None,
    ) -> None:
        """Store a session's pipeline parts (``result_parts``) and its market rollup.

        Each part is cast to its declared schema first (:func:`chainlens.results.conform`:
        a :class:`~chainlens.errors.ChainlensError` naming the part and column on a mismatch),
        then written atomically under :data:`~chainlens.results.RESULTS_NAME`; the rollup is
        the one-row ``doc`` part of :data:`~chainlens.results.MARKET_RESULTS`. ``files``: parts
        the pool workers wrote, per part its files in order (:meth:`Store.write_results`);
        each file's schema is checked against the part's declared one.
        """
        import pyarrow.parquet as pq

        from chainlens.results import ResultSchemaError, schema_of

        d = parse_date(session)
        for k, fs in (files or {}).items():
            for f in fs:  # a loop over files: one footer each
                if not pq.read_schema(f.path).equals(schema_of(k), check_metadata=False):
                    raise ResultSchemaError(
                        f"results part {k!r}: staged file {f.path} does not hold the declared "
                        "schema",
                        part=k,
                    )
        self.write_results(
            RESULTS_NAME, d, {k: conform(k, t) for k, t in parts.items()}, files=files
        )
        doc = pa.table({"doc": pa.array([json.dumps(market, allow_nan=False)], pa.string())})
        self.write_results(MARKET_RESULTS, d, {"doc": conform("market.doc", doc)})

    def read_docs(
        self, session: dt.date | str, underlying: str | None = None
    ) -> list[UnderlyingDoc]:
        """The stored per-underlying documents of a session (all, or one underlying's)."""
        t = self.read_results(RESULTS_NAME, parse_date(session), "docs", underlying=underlying)
        return _decoded(t.column("doc").to_pylist())

    def read_doc_fields(
        self,
        session: dt.date | str,
        fields: Sequence[str],
        *,
        whole: Collection[str] = (),
    ) -> list[UnderlyingDoc]:
        """The stored per-underlying documents of a session (all, in the order of
        :meth:`read_docs`), each pruned to ``fields``; the documents of the ``whole``
        underlyings come whole, as :meth:`read_docs` gives them.

        ``fields`` are dotted key paths (``"underlying"``, ``"flow.totals"``). A pruned
        document holds each path the stored document holds, with the objects on the way to it
        and none of their other keys; a path the document lacks is absent, and so is an object
        none of whose requested paths exist (read with ``.get``, as the report readers do).
        Only the requested values are decoded in Python: DuckDB extracts the paths from the
        stored JSON (measured on 5,000 underlyings, 660 MB of JSON: 3.4 s of CPU for the
        17 paths of the daily report instead of 17.6 s for :meth:`read_docs`).

        Raises
        ------
        NotFoundError
            If the session has no stored documents.
        InputError
            If a field is not a dotted key path.
        """
        from chainlens.errors import InputError

        bad = [f for f in fields if not _FIELD.fullmatch(f)]
        if bad or not fields:
            raise InputError(
                "fields must be dotted key paths", column="fields", value=bad[0] if bad else ""
            )
        keys = [f.split(".") for f in fields]
        got = self._doc_fields_from_summaries(session, fields, whole)
        if got is not None:
            return got
        t = self.con.sql(
            _DOC_FIELDS_SQL,
            params={
                "path": self._docs_path(session),
                "whole": sorted(str(u) for u in whole),
                "paths": ["$." + f for f in fields],
            },
        ).to_arrow_table()
        out: list[UnderlyingDoc] = []
        with paused_gc():  # a loop over documents: the decoding itself
            for w, parts in zip(
                t.column("whole").to_pylist(), t.column("parts").to_pylist(), strict=True
            ):
                if w is not None:
                    out.append(orjson.loads(w))
                    continue
                doc: dict[str, object] = {}
                for ks, v in zip(keys, parts, strict=True):
                    if v is None:  # the path is not in this document
                        continue
                    cur = doc
                    for k in ks[:-1]:
                        nxt = cur.setdefault(k, {})
                        assert isinstance(nxt, dict)
                        cur = nxt
                    cur[ks[-1]] = orjson.loads(v)
                out.append(doc)  # type: ignore[arg-type]
        return out

    def _doc_fields_from_summaries(
        self, session: dt.date | str, fields: Sequence[str], whole: Collection[str]
    ) -> list[UnderlyingDoc] | None:
        """:meth:`read_doc_fields` from the ``docs`` part's ``summary`` column (the documents
        pruned to :data:`~chainlens.results.SUMMARY_FIELDS` when stored), when every field lies
        within those keys and every stored row has a summary; ``None`` otherwise (a part
        stored before the column existed, or a field outside it: the caller extracts the
        fields from the documents). Pruning a summary to a path it covers gives what pruning
        the document gives (the summary holds the whole value at or above the path)."""
        import pyarrow.parquet as pq

        from chainlens.results import SUMMARY_FIELDS, prune_doc, summary_covers
        from chainlens.store._reading import _read_errors

        if not summary_covers(fields):
            return None
        path = self._docs_path(session)
        with _read_errors(path[0]):
            if "summary" not in pq.read_schema(path[0]).names:
                return None
        t = self.con.sql(_SUMMARIES_SQL, params={"path": path}).to_arrow_table()
        col = t.column("summary")
        if col.null_count:
            return None
        mine = {str(u) for u in whole}
        names = t.column("underlying").to_pylist()
        full = {}
        if mine.intersection(names):
            full = {d["underlying"]: d for d in self.read_docs_of(session, mine)}
        out: list[UnderlyingDoc] = []
        # the summaries' own fields, in their order: a summary pruned to them is itself
        same = tuple(fields) == SUMMARY_FIELDS
        with paused_gc():
            for u, s in zip(names, col.to_pylist(), strict=True):  # a loop over documents
                doc: Any = full.get(u)
                if doc is None:
                    doc = orjson.loads(s) if same else prune_doc(orjson.loads(s), fields)
                out.append(doc)
        return out

    def read_docs_of(
        self, session: dt.date | str, underlyings: Collection[str]
    ) -> list[UnderlyingDoc]:
        """The stored documents of ``underlyings`` in a session, in one scan of the ``docs``
        part (those :meth:`read_docs` gives one underlying at a time, in file order; an
        underlying without a document has none). At 5,000 underlyings one
        ``read_docs(session, u)`` decodes the whole part (0.77 s of CPU): 50 of them in one
        scan take about 1 s.

        Raises
        ------
        NotFoundError
            If the session has no stored documents.
        """
        t = self.con.sql(
            _DOCS_OF_SQL,
            params={
                "path": self._docs_path(session),
                "names": sorted(str(u) for u in underlyings),
            },
        ).to_arrow_table()
        return _decoded(t.column("doc").to_pylist())

    def _docs_path(self, session: dt.date | str) -> list[str]:
        """The checked files of the ``docs`` part of ``session``, in order (NotFoundError if
        none)."""
        return [
            str(self.root / rel)
            for rel in self._results_files(RESULTS_NAME, parse_date(session), "docs")
        ]

    def _results_files(self, name: str, d: dt.date, part: str) -> list[str]:
        """The stored files of results ``(name, d, part)`` (relative to the root), in order
        (one, or one per block where pool workers wrote the part), each checksum checked;
        :class:`~chainlens.errors.NotFoundError` if it was never written."""
        from chainlens.errors import NotFoundError

        rows = self.con.execute(
            "SELECT file FROM results WHERE name = ? AND session = ? AND part = ? ORDER BY file",
            [name, d, part],
        ).fetchall()
        if not rows:
            raise NotFoundError(
                f"no results {name!r} part {part!r} for session {d} in {self.root}",
                hint="run `chainlens run --date D` first",
            )
        rels = [str(r[0]) for r in rows]
        for rel in rels:
            self.check_file(rel)
        return rels

    def read_results_of(
        self, name: str, session: dt.date | str, part: str, underlyings: Sequence[str]
    ) -> pa.Table:
        """The rows of ``underlyings`` of one stored results part, in one read: the rows
        ``read_results(name, session, part, underlying=u)`` gives for each ``u``, in file order
        (the whole part when it has no ``underlying`` column, as :meth:`read_results`).

        Raises
        ------
        NotFoundError
            If ``(name, session, part)`` was never written.
        """
        rels = self._results_files(name, parse_date(session), part)
        return self._read_results_files(rels, [str(u) for u in underlyings])

    def results_except(
        self, session: dt.date | str, names: Collection[str], name: str = RESULTS_NAME
    ) -> dict[str, pa.Table]:
        """Every stored part of results ``(name, session)`` without the rows of ``names``
        (a part without an ``underlying`` column comes whole), as stored; empty when the
        session has no such results.

        A run over some underlyings of a session merges these rows with its own, so that the
        session keeps the results of the names it did not analyse
        (:func:`chainlens.runners.local.run_local`).
        """
        import pyarrow.compute as pc

        d = parse_date(session)
        rows = self.con.execute(
            "SELECT DISTINCT part FROM results WHERE name = ? AND session = ? ORDER BY part",
            [name, d],
        ).fetchall()
        drop = pa.array(sorted({str(u) for u in names}), pa.string())
        out: dict[str, pa.Table] = {}
        for (part,) in rows:
            t = self._read_results_files(self._results_files(name, d, part), None)
            if "underlying" in t.column_names:
                t = t.filter(pc.invert(pc.is_in(t.column("underlying"), value_set=drop)))
            out[str(part)] = t
        return out

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
