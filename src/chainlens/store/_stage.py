"""Staging of canonical tables into Parquet files inside the store's ``tmp/`` area.

Nothing written here is visible to readers: files are staged under ``<root>/tmp/<id>/`` and
only become part of the store when :mod:`chainlens.store._store` renames them into place and
commits their catalog rows in one DuckDB transaction.

Layout of the published files (relative to the store root)::

    chain/trade_date=YYYY-MM-DD/<source-id>.parquet    sorted by underlying, snapshot, expiry, strike, right
    trades/trade_date=YYYY-MM-DD/<source-id>.parquet   sorted by underlying, ts
    prints/trade_date=YYYY-MM-DD/<source-id>.parquet   sorted by ticker, ts
    bars|events|sectors/<source-id>.parquet
    results/<name>/session=YYYY-MM-DD/<part>-<id>.parquet
    rejects/<stamp>_<source-id>_<file name>.rejects.csv
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from chainlens import schema

#: Rows per Parquet row group: small enough that DuckDB/Arrow prune by underlying, large
#: enough that per-group overhead stays negligible.
ROW_GROUP_ROWS = 16_384

#: Kinds partitioned by session date (one directory per ``trade_date``).
DATED_KINDS = ("chain", "trades", "prints")
#: Kinds stored as one file per source.
PLAIN_KINDS = ("bars", "events", "sectors")

SORT_KEYS: dict[str, list[tuple[str, str]]] = {
    "chain": [
        ("underlying", "ascending"),
        ("snapshot_ts", "ascending"),
        ("expiry", "ascending"),
        ("strike", "ascending"),
        ("right", "ascending"),
        ("root", "ascending"),
    ],
    "trades": [("underlying", "ascending"), ("ts", "ascending")],
    "prints": [("ticker", "ascending"), ("ts", "ascending")],
    "bars": [("ticker", "ascending"), ("trade_date", "ascending")],
    "events": [("date", "ascending"), ("ticker", "ascending")],
    "sectors": [("ticker", "ascending")],
}

_QUOTE_COLUMNS = ("bid", "ask", "last", "volume")

#: Parquet compression of staged partitions. LZ4 (raw) encodes and decodes several times
#: faster than zstd at the price of somewhat larger files (measured in bench_store.py).
COMPRESSION = "lz4"

#: Columns that get Parquet dictionary encoding: the low-cardinality ones (keys, dates,
#: session constants). High-cardinality columns (symbol, quotes, greeks) are written plain:
#: a dictionary there costs hashing time and is dropped by the writer once it overflows.
DICTIONARY_COLUMNS = (
    "trade_date",
    "snapshot_ts",
    "underlying",
    "root",
    "ticker",
    "expiry",
    "settlement",
    "strike",
    "right",
    "multiplier",
    "spot",
    "exchange",
    "condition",
    "venue",
    "kind",
    "sector",
    "date",
)


#: Columns with row-group min/max statistics: the keys readers filter or prune on. Statistics
#: of the quote, volume and greek columns cost write time and prune nothing.
STATISTICS_COLUMNS = (
    *DICTIONARY_COLUMNS,
    "symbol",
    "ts",
)


def _dictionary_columns(names: Iterable[str]) -> list[str]:
    have = set(names)
    return [c for c in DICTIONARY_COLUMNS if c in have]


def _statistics_columns(names: Iterable[str]) -> list[str]:
    have = set(names)
    return [c for c in STATISTICS_COLUMNS if c in have]


def is_sorted(table: pa.Table, keys: list[tuple[str, str]]) -> bool:
    """Whether ``table`` is already in ascending lexicographic order of ``keys``.

    One vectorized pass comparing each row with the next (about 2 comparisons per key and
    row, a fraction of the cost of a sort); nulls and NaN make the answer False (sort them).
    """
    n = table.num_rows
    if n < 2:
        return True
    bad: pa.Array | None = None
    eq: pa.Array | None = None
    for k, order in keys:
        a = table.column(k)
        if a.null_count or order != "ascending":
            return False
        if pa.types.is_floating(a.type) and pc.any(pc.is_nan(a)).as_py():
            return False  # NaN compares false both ways: let the sort place it
        nxt, prev = a.slice(1), a.slice(0, n - 1)
        lt = pc.less(nxt, prev)
        term = lt if eq is None else pc.and_(eq, lt)
        bad = term if bad is None else pc.or_(bad, term)
        e = pc.equal(nxt, prev)
        eq = e if eq is None else pc.and_(eq, e)
    return bad is None or not pc.any(bad).as_py()


def sort_table(table: pa.Table, kind: str) -> pa.Table:
    """Sort ``table`` by the partition's sort keys (stable); a no-op when already sorted."""
    keys = [(k, o) for k, o in SORT_KEYS.get(kind, []) if k in table.column_names]
    if not keys or table.num_rows < 2 or is_sorted(table, keys):
        return table
    return table.take(pc.sort_indices(table, sort_keys=keys))


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one table as a Parquet file with statistics and moderate row groups, fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        row_group_size=ROW_GROUP_ROWS,
        compression=COMPRESSION,
        use_dictionary=_dictionary_columns(table.column_names),
        write_statistics=_statistics_columns(table.column_names),
    )
    _fsync(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SnapshotStat:
    """Accumulated counts of one (underlying, trade_date, snapshot_ts) chain snapshot."""

    contracts: int = 0
    quoted: int = 0  # rows with any of bid/ask/last/volume present


@dataclass
class Staged:
    """One staged Parquet file and what the catalog must record about it."""

    staged: Path
    rel: str  # final path relative to the store root
    kind: str
    trade_date: dt.date | None
    rows: int = 0
    snapshots: dict[tuple[str, int], SnapshotStat] = field(default_factory=dict)


class Stager:
    """Stream canonical tables into staged Parquet files, one per (kind, session).

    Each added batch is conformed to its canonical schema, split by session date, sorted by
    the partition keys and appended to that partition's file as new row groups. Memory stays
    bounded by one batch: a file larger than memory is written as several sorted runs (row-
    group statistics still prune well because adapters emit batches in file order).

    Parquet encoding runs on one background thread (pyarrow releases the GIL), so the
    adapter reads and validates batch k+1 while batch k is written; at most one batch waits
    for the writer, which keeps memory bounded by about two batches.
    """

    def __init__(self, stage_dir: Path, source_id: str) -> None:
        self.dir = stage_dir
        self.source_id = source_id
        self.dir.mkdir(parents=True, exist_ok=False)
        self._writers: dict[tuple[str, dt.date | None], pq.ParquetWriter] = {}
        self.files: dict[tuple[str, dt.date | None], Staged] = {}
        self._rejects: pacsv.CSVWriter | None = None
        self.rejects_staged: Path | None = None
        self.rejects_rows = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def _submit(self, writer: pq.ParquetWriter, table: pa.Table) -> None:
        """Write ``table`` on the background thread after the previous write completes."""
        self._wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainlens-stage")
        self._pending = self._pool.submit(writer.write_table, table, ROW_GROUP_ROWS)

    def _wait(self) -> None:
        """Wait for the pending background write; re-raise its error here."""
        fut, self._pending = self._pending, None
        if fut is not None:
            fut.result()

    # -- data ----------------------------------------------------------------------------
    def add(self, kind: str, table: pa.Table) -> int:
        """Stage ``table`` of canonical ``kind``; returns the number of rows staged."""
        if kind not in schema.SCHEMAS:
            raise ValueError(
                f"unknown table kind {kind!r}; expected one of {sorted(schema.SCHEMAS)}"
            )
        if table.num_rows == 0:
            return 0
        table = schema.conform(table, schema.SCHEMAS[kind])
        if kind in DATED_KINDS:
            dates = pc.unique(table.column("trade_date")).to_pylist()
            if len(dates) == 1:
                self._append(kind, dates[0], table)
            else:
                for d in sorted(dates):  # loop over sessions, not rows
                    self._append(kind, d, table.filter(pc.equal(table.column("trade_date"), d)))
        else:
            self._append(kind, None, table)
        return table.num_rows

    def _append(self, kind: str, day: dt.date | None, table: pa.Table) -> None:
        table = sort_table(table, kind)
        key = (kind, day)
        st = self.files.get(key)
        if st is None:
            name = f"{self.source_id}.parquet"
            rel = (
                f"{kind}/trade_date={day.isoformat()}/{name}"
                if day is not None
                else f"{kind}/{name}"
            )
            staged = self.dir / rel.replace("/", "__")
            st = Staged(staged=staged, rel=rel, kind=kind, trade_date=day)
            self.files[key] = st
            self._writers[key] = pq.ParquetWriter(
                staged,
                table.schema,
                compression=COMPRESSION,
                use_dictionary=_dictionary_columns(table.column_names),
                write_statistics=_statistics_columns(table.column_names),
            )
        self._submit(self._writers[key], table)
        st.rows += table.num_rows
        if kind == "chain":
            self._count_snapshots(st, table)

    @staticmethod
    def _count_snapshots(st: Staged, table: pa.Table) -> None:
        """Count contracts and quoted rows per (underlying, snapshot) by runs of equal keys.

        ``table`` is sorted by underlying then snapshot_ts, so each snapshot is one run; a
        key seen in several runs (several batches) is summed."""
        n = table.num_rows
        quoted = np.zeros(n, dtype=bool)
        for c in _QUOTE_COLUMNS:
            a = table.column(c)
            if a.null_count == 0:
                quoted[:] = True
                break
            quoted |= pc.is_valid(a).to_numpy(zero_copy_only=False)
        und = table.column("underlying")
        ns = pc.cast(table.column("snapshot_ts"), pa.int64()).to_numpy(zero_copy_only=False)
        change = np.ones(n, dtype=bool)
        if n > 1:
            same_u = pc.equal(und.slice(1), und.slice(0, n - 1)).to_numpy(zero_copy_only=False)
            change[1:] = ~same_u | (ns[1:] != ns[:-1])
        starts = np.flatnonzero(change)
        counts = np.diff(np.append(starts, n))
        q = np.add.reduceat(quoted.astype(np.int64), starts)
        for u, k, c, qq in zip(
            pc.take(und, pa.array(starts)).to_pylist(),
            ns[starts].tolist(),
            counts.tolist(),
            q.tolist(),
            strict=True,
        ):  # one iteration per snapshot run, not per contract
            s = st.snapshots.setdefault((u, k), SnapshotStat())
            s.contracts += c
            s.quoted += qq

    # -- rejects -------------------------------------------------------------------------
    def add_rejects(self, rejects: pa.Table) -> int:
        """Append rejected rows (``schema.REJECTS``) to the staged rejects CSV."""
        if rejects.num_rows == 0:
            return 0
        rejects = schema.conform(rejects, schema.REJECTS)
        if self._rejects is None:
            self.rejects_staged = self.dir / "rejects.csv"
            self._rejects = pacsv.CSVWriter(self.rejects_staged, rejects.schema)
        self._rejects.write_table(rejects)
        self.rejects_rows += rejects.num_rows
        return rejects.num_rows

    # -- end -----------------------------------------------------------------------------
    def finish(self) -> list[Staged]:
        """Close every writer, fsync, and check each file's row count against what was written.

        Raises
        ------
        RuntimeError
            If a staged file does not hold the rows written to it.
        """
        self._wait()
        self.close()
        out = list(self.files.values())
        for st in out:
            n = pq.ParquetFile(st.staged).metadata.num_rows
            if n != st.rows:
                raise RuntimeError(f"staged {st.rel}: wrote {st.rows} rows, file holds {n}")
            _fsync(st.staged)
        if self.rejects_staged is not None:
            _fsync(self.rejects_staged)
        return out

    def close(self) -> None:
        """Wait for the background write, close open writers (idempotent).

        This is also the abort path, so a background write error is not raised here:
        :meth:`finish` raises it before closing."""
        try:
            self._wait()
        except Exception:  # aborting: the staged files are discarded anyway
            pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for w in self._writers.values():
            w.close()
        self._writers.clear()
        if self._rejects is not None:
            self._rejects.close()
            self._rejects = None


def iter_files(root: Path, subdirs: Iterable[str]) -> list[Path]:
    """Every regular file below ``root/<subdir>`` for each subdir (for orphan cleanup)."""
    out: list[Path] = []
    for sub in subdirs:
        base = root / sub
        if base.is_dir():
            out.extend(p for p in base.rglob("*") if p.is_file())
    return out
