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
import hashlib
import os
import shutil
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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


#: Row-group bounds of an input file published verbatim (its bytes copied, not re-encoded):
#: at most 64k rows per group keeps row-group pruning by underlying useful (the store writes
#: 16k); at least 1k rows (except the last group) keeps per-group overhead small.
VERBATIM_MAX_ROW_GROUP_ROWS = 65_536
VERBATIM_MIN_ROW_GROUP_ROWS = 1_024


def verbatim_layout(meta: pq.FileMetaData, arrow_schema: pa.Schema, kind: str) -> str | None:
    """Why a Parquet file cannot be published as a store partition byte for byte (None: it can).

    Checked from the footer only: exactly the canonical columns and types of ``kind`` in
    order; row groups within ``[VERBATIM_MIN_ROW_GROUP_ROWS, VERBATIM_MAX_ROW_GROUP_ROWS]``
    rows (the last may be smaller); min/max statistics on the sort keys (readers prune on
    them); for dated kinds, one session (``trade_date`` statistics min == max everywhere).
    The data itself (rules, sort order, session) is checked batch by batch by
    :meth:`Stager.add_verbatim`.
    """
    want = schema.SCHEMAS.get(kind)
    if want is None or kind not in SORT_KEYS:
        return f"no verbatim layout for {kind!r}"
    if arrow_schema.names != want.names or any(
        arrow_schema.field(f.name).type != f.type for f in want
    ):
        return "columns or types differ from the canonical schema"
    n_groups = meta.num_row_groups
    if meta.num_rows == 0 or n_groups == 0:
        return "no rows"
    keys = [k for k, _ in SORT_KEYS[kind]] + (["trade_date"] if kind in DATED_KINDS else [])
    index = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
    if any(k not in index for k in keys):
        return "a key column is not a top-level Parquet column"
    days: set[object] = set()
    for i in range(n_groups):
        rg = meta.row_group(i)
        if rg.num_rows > VERBATIM_MAX_ROW_GROUP_ROWS:
            return f"row group {i} holds {rg.num_rows} rows (> {VERBATIM_MAX_ROW_GROUP_ROWS})"
        if rg.num_rows < VERBATIM_MIN_ROW_GROUP_ROWS and i < n_groups - 1:
            return f"row group {i} holds {rg.num_rows} rows (< {VERBATIM_MIN_ROW_GROUP_ROWS})"
        for k in keys:
            st = rg.column(index[k]).statistics
            if st is None or not st.has_min_max:
                return f"row group {i} has no min/max statistics on {k}"
        if kind in DATED_KINDS:
            st = rg.column(index["trade_date"]).statistics
            days.update((st.min, st.max))
    if len(days) > 1:
        return "more than one session (trade_date)"
    return None


def sort_table(table: pa.Table, kind: str) -> pa.Table:
    """Sort ``table`` by the partition's sort keys (stable); a no-op when already sorted."""
    keys = [(k, o) for k, o in SORT_KEYS.get(kind, []) if k in table.column_names]
    if not keys or table.num_rows < 2 or is_sorted(table, keys):
        return table
    return table.take(pc.sort_indices(table, sort_keys=keys))


def sort_trades_by_dictionary(table: pa.Table) -> pa.Table:
    """:func:`sort_table` for a trades table whose ``underlying`` is one dictionary array
    (no nulls in it nor in ``ts``): the same stable order, (underlying, ts), from the
    dictionary indices ranked by value (equal values share a rank) and the timestamps, with
    NumPy's stable ``lexsort`` instead of Arrow's sort over the strings (about 3x faster)."""
    und = table.column("underlying").chunk(0)
    rank = pc.rank(und.dictionary, sort_keys="ascending", tiebreaker="dense").to_numpy()
    key = rank[und.indices.to_numpy(zero_copy_only=False)]
    ts = pc.cast(table.column("ts").chunk(0), pa.int64()).to_numpy(zero_copy_only=False)
    return table.take(pa.array(np.lexsort((ts, key))))


#: Leading characters that make a spreadsheet treat a CSV cell as a formula (OWASP).
_FORMULA_LEAD = r"^[=+\-@\t\r]"


def _formula_safe(table: pa.Table) -> pa.Table:
    """The text columns of ``table`` with formula-leading cells (``=cmd|...``, ``+1``, ``-5``,
    ``@SUM``, tab, CR) prefixed by ``'``, so a spreadsheet opening the rejects CSV shows them
    as text and never runs them. Vectorized; other columns unchanged."""
    cols = []
    for name in table.column_names:
        a = table.column(name)
        if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
            lead = pc.fill_null(pc.match_substring_regex(a, _FORMULA_LEAD), False)
            if pc.any(lead).as_py():
                a = pc.if_else(lead, pc.binary_join_element_wise("'", a, ""), a)
        cols.append(a)
    return pa.Table.from_arrays(cols, schema=table.schema)


#: Upper bound of a results row group's in-memory size: a part of large rows (the ``docs``
#: part's JSON documents, ~130 KB each) gets row groups of fewer rows, so reading one
#: underlying's rows decodes a few MB, not the whole part.
ROW_GROUP_BYTES = 8 << 20


def _group_rows(nbytes: float, rows: int) -> int:
    """The rows per row group of a table of ``rows`` rows and ``nbytes`` bytes of Arrow data:
    :data:`ROW_GROUP_ROWS`, or fewer where rows are large (about :data:`ROW_GROUP_BYTES`
    each)."""
    per_row = nbytes / max(rows, 1)
    return max(1, min(ROW_GROUP_ROWS, int(ROW_GROUP_BYTES // max(per_row, 1.0))))


def _flat(typ: pa.DataType) -> bool:
    """A type whose Arrow size is its validity bitmap, its offsets and its values only."""
    return (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_temporal(typ)
        or pa.types.is_string(typ)
        or pa.types.is_binary(typ)
    )


def nbytes_slack(rows: int, chunks: int) -> int:
    """Upper bound of how much the ``nbytes`` of a flat column (:func:`_flat`) of ``rows``
    rows in ``chunks`` chunks can differ from that of the same column combined into one
    chunk: the referenced bytes of the values are the same; each chunk may add a partial
    byte of validity bitmap or of boolean values at either end and 4 bytes of offsets, and
    the chunks may hold validity bitmaps (``rows / 8`` bytes) the combined column lacks, or
    the other way round: at most ``rows / 8 + 6 * chunks + 1``, taken twice over."""
    return rows // 4 + 16 * chunks + 16


def row_group_rows(table: pa.Table, combined: pa.Table) -> int:
    """:func:`_group_rows` of ``table``'s ``nbytes``, worked out from ``combined`` (``table``
    with its chunks combined) where that decides it.

    ``nbytes`` of a column of many chunks (a block's part: a chunk per underlying) is a
    C++ walk of every chunk (~2 us each: 0.3 ms per underlying for a block's parts); that of
    the combined column is one. The two differ by at most :func:`nbytes_slack` per flat
    column, so when both ends of that range give the same row groups (or row groups of the
    whole table) the answer is exact; otherwise, and for the other columns (lists), the
    chunks are walked."""
    n = table.num_rows
    est, slack = 0, 0
    for a, b in zip(table.columns, combined.columns, strict=True):  # a loop over columns
        if _flat(a.type):
            est += b.nbytes
            slack += nbytes_slack(n, a.num_chunks)
        else:
            est += a.nbytes
    lo = _group_rows(est + slack, n)
    hi = _group_rows(max(est - slack, 0), n)
    if lo == hi or lo >= n:  # the exact value lies in [lo, hi]: the same file
        return lo
    return _group_rows(table.nbytes, n)


#: Half the Parquet writer's data page size (1 MiB): a column whose values of one row group
#: stay below it is written as one page per row group however its chunks fall.
PAGE_HALF = 1 << 19


def _one_page(col: pa.ChunkedArray, group: int) -> bool:
    """The values of ``col`` (one chunk) in any ``group`` rows stay below :data:`PAGE_HALF`
    bytes: fixed-width values, strings by their longest one, other types by all their
    bytes."""
    typ = col.type
    if pa.types.is_string(typ) or pa.types.is_binary(typ):
        longest = pc.max(pc.binary_length(col)).as_py() if len(col) else 0
        return (int(longest or 0) + 5) * group <= PAGE_HALF
    if _flat(typ):
        try:
            return (typ.bit_width // 8 + 1) * group <= PAGE_HALF
        except ValueError:  # a type without a fixed width
            pass
    return int(col.nbytes) <= PAGE_HALF


def _write_layout(table: pa.Table, combined: pa.Table, rows: int) -> pa.Table:
    """The table to encode: ``combined``'s columns where each row group's values make one
    data page (the writer then lays out the same pages as from ``table``'s chunks, faster),
    ``table``'s chunks for the others (large values, the ``docs`` part's documents: a page
    ends after a batch of values, and the chunks cut the batches)."""
    group = min(rows, table.num_rows)
    cols = [
        b if _one_page(b, group) else a
        for a, b in zip(table.columns, combined.columns, strict=True)  # a loop over columns
    ]
    return pa.Table.from_arrays(cols, schema=table.schema)


def write_parquet(table: pa.Table, path: Path, combined: pa.Table | None = None) -> None:
    """Write one table as a Parquet file with statistics and moderate row groups, fsynced.

    Row groups hold :data:`ROW_GROUP_ROWS` rows, or fewer where rows are large (about
    :data:`ROW_GROUP_BYTES` of Arrow data each). The table's chunks are combined first (a
    block's part has a chunk per underlying): the writer encodes one chunk per column
    faster (:func:`_write_layout`: the same file), and the row-group size is worked out
    without walking every chunk (:func:`row_group_rows`). Measured on a block of 200
    underlyings' parts: 1.17 -> 0.70 ms CPU per underlying. ``combined``: the table's chunks
    combined already, if the caller has them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if combined is None:
        combined = table.combine_chunks()
    rows = row_group_rows(table, combined)
    table = _write_layout(table, combined, rows)
    pq.write_table(
        table,
        path,
        row_group_size=rows,
        compression=COMPRESSION,
        use_dictionary=_dictionary_columns(table.column_names),
        write_statistics=_statistics_columns(table.column_names),
    )
    _fsync(path)


def copy_hashed(src: Path, dst: Path, chunk: int = 1 << 20) -> str:
    """Copy ``src`` to ``dst`` (a new file) and return the SHA-256 hex digest of the copy.

    The copy is made by the kernel (``copy_file_range``, no round trip through Python
    buffers: about 5x faster than read/write here), then the copy
    itself is hashed, so the hash names exactly the bytes the copy holds even if ``src``
    changes meanwhile."""
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        _copy_range(fi, fo)
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(dst, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _copy_range(fi: BinaryIO, fo: BinaryIO) -> None:
    """Copy the rest of ``fi`` into ``fo`` in the kernel (``os.copy_file_range``; elsewhere,
    or when the kernel refuses, e.g. across file systems on old kernels, a plain copy)."""
    fin, fout = fi.fileno(), fo.fileno()
    try:
        while os.copy_file_range(fin, fout, 1 << 30):
            pass
    except (OSError, AttributeError):  # the rest, the plain way
        shutil.copyfileobj(fi, fo)


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
    #: ``xxh3_128:<hex>`` of the staged bytes (set by :meth:`Stager.finish`)
    checksum: str | None = None


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
        self._verbatim: Staged | None = None
        self._verbatim_last: pa.Table | None = None  # sort keys of the last row checked
        #: SHA-256 of the verbatim copy's bytes (set by :meth:`begin_verbatim`).
        self.verbatim_sha256: str | None = None
        self._verbatim_synced: Future[None] | None = None  # background fsync of that copy

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

    def add_checked(
        self, day: dt.date, table: pa.Table, snapshots: list[tuple[str, int, int, int]]
    ) -> int:
        """Stage a chain block proved clean, canonical and in the store's order by
        :class:`chainlens.io._verify.ChainVerifier` (all of session ``day``, blocks in file
        order): written as is, with the (underlying, snapshot_ts ns, contracts, quoted) runs
        the proof counted."""
        st = self._file("chain", day, table.schema)
        self._submit(self._writers[("chain", day)], table)
        st.rows += table.num_rows
        for u, k, c, q in snapshots:
            s = st.snapshots.setdefault((u, k), SnapshotStat())
            s.contracts += c
            s.quoted += q
        return table.num_rows

    def reset(self) -> None:
        """Drop everything staged so far (writers closed, files deleted), to start over."""
        self.close()
        for st in self.files.values():
            st.staged.unlink(missing_ok=True)
        self.files.clear()

    def _file(self, kind: str, day: dt.date | None, sch: pa.Schema) -> Staged:
        """The staged file of (kind, session), its writer opened on first use."""
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
                sch,
                compression=COMPRESSION,
                use_dictionary=_dictionary_columns(sch.names),
                write_statistics=_statistics_columns(sch.names),
            )
        return st

    def _append(self, kind: str, day: dt.date | None, table: pa.Table) -> None:
        table = sort_table(table, kind)
        st = self._file(kind, day, table.schema)
        self._submit(self._writers[(kind, day)], table)
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

    # -- verbatim publish of an already-canonical Parquet file -------------------------
    def begin_verbatim(self, src: Path, kind: str) -> Path | None:
        """Copy ``src`` into the staging area to be published as is, if its layout allows.

        Returns the staged copy (which the caller must then read and pass batch by batch to
        :meth:`add_verbatim`), or None when the footer rules it out
        (:func:`verbatim_layout`). The copy is a new inode (never a hard link: the store's
        files must not change when the user's file does), and its own footer is re-checked,
        so what is validated and published is the copy's bytes. The copy's SHA-256 (computed
        while copying) is left in :attr:`verbatim_sha256`."""
        if self.files or self._verbatim is not None:
            return None
        try:
            pf = pq.ParquetFile(src)
        except (pa.ArrowInvalid, OSError):
            return None
        if verbatim_layout(pf.metadata, pf.schema_arrow, kind) is not None:
            return None
        day: dt.date | None = None
        if kind in DATED_KINDS:
            j = pf.schema_arrow.get_field_index("trade_date")
            day = pf.metadata.row_group(0).column(j).statistics.min
        rel = (
            f"{kind}/trade_date={day.isoformat()}/{self.source_id}.parquet"
            if day is not None
            else f"{kind}/{self.source_id}.parquet"
        )
        staged = self.dir / rel.replace("/", "__")
        self.verbatim_sha256 = copy_hashed(src, staged)
        copy = pq.ParquetFile(staged)
        if verbatim_layout(copy.metadata, copy.schema_arrow, kind) is not None:
            staged.unlink(missing_ok=True)  # changed while copied: take the normal path
            self.verbatim_sha256 = None
            return None
        self._verbatim = Staged(staged=staged, rel=rel, kind=kind, trade_date=day)
        self._verbatim_last = None
        # The copy's pages go to disk while it is validated (fsync waits on I/O, not on CPU).
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainlens-stage")
        self._verbatim_synced = self._pool.submit(_fsync, staged)
        return staged

    def add_verbatim(self, kind: str, table: pa.Table) -> bool:
        """Account for the next validated batch of the verbatim copy (in file order).

        Returns False when the batch rules out a verbatim publish: another kind or schema,
        another session, or out of the store's sort order (within the batch or against the
        previous batch's last row); the caller then calls :meth:`abandon_verbatim` and takes
        the normal path."""
        st = self._verbatim
        if st is None or kind != st.kind or table.num_rows == 0:
            return False
        if not table.schema.equals(schema.SCHEMAS[kind], check_metadata=False):
            return False
        if kind in DATED_KINDS:
            mm = pc.min_max(table.column("trade_date")).as_py()
            if mm["min"] != st.trade_date or mm["max"] != st.trade_date:
                return False
        keys = SORT_KEYS[kind]
        names = [k for k, _ in keys]
        head = table.select(names)
        if self._verbatim_last is not None:
            head = pa.concat_tables([self._verbatim_last, head])
        if not is_sorted(head, keys):
            return False
        self._verbatim_last = table.select(names).slice(table.num_rows - 1, 1)
        st.rows += table.num_rows
        if kind == "chain":
            self._count_snapshots(st, table)
        return True

    @property
    def verbatim_kind(self) -> str | None:
        """Kind of the verbatim copy being staged (None when there is none)."""
        return None if self._verbatim is None else self._verbatim.kind

    @property
    def verbatim_day(self) -> dt.date | None:
        """Session of the verbatim copy being staged (None for undated kinds or none)."""
        return None if self._verbatim is None else self._verbatim.trade_date

    def add_verbatim_checked(
        self, kind: str, rows: int, snapshots: list[tuple[str, int, int, int]]
    ) -> None:
        """Account for a block of the verbatim copy that :class:`chainlens.io._verify.ChainVerifier`
        (or ``TradesVerifier``) proved clean and in order: ``rows`` rows and its (underlying,
        snapshot_ts ns, contracts, quoted) runs (a run continued from the previous block is
        summed; none for trades)."""
        st = self._verbatim
        if st is None or kind != st.kind:
            raise ValueError("no verbatim copy of this kind is being staged")
        st.rows += rows
        for u, k, c, q in snapshots:
            s = st.snapshots.setdefault((u, k), SnapshotStat())
            s.contracts += c
            s.quoted += q

    def abandon_verbatim(self) -> None:
        """Drop the verbatim copy (the file is then staged by re-encoding, with :meth:`add`)."""
        self._wait_synced()
        if self._verbatim is not None:
            self._verbatim.staged.unlink(missing_ok=True)
        self._verbatim = None
        self._verbatim_last = None

    # -- rejects -------------------------------------------------------------------------
    def add_rejects(self, rejects: pa.Table) -> int:
        """Append rejected rows (``schema.REJECTS``) to the staged rejects CSV."""
        if rejects.num_rows == 0:
            return 0
        rejects = _formula_safe(schema.conform(rejects, schema.REJECTS))
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
        synced = self._verbatim_synced is not None
        self._wait_synced(raise_errors=True)  # the verbatim copy, synced since it was made
        self.close()
        out = list(self.files.values())
        if self._verbatim is not None:
            out.append(self._verbatim)
        for st in out:
            n = pq.ParquetFile(st.staged).metadata.num_rows
            if n != st.rows:
                raise RuntimeError(f"staged {st.rel}: wrote {st.rows} rows, file holds {n}")
            if not (st is self._verbatim and synced):
                _fsync(st.staged)
            st.checksum = file_checksum(st.staged)  # the bytes published, as the catalog records
        if self.rejects_staged is not None:
            _fsync(self.rejects_staged)
        return out

    def _wait_synced(self, *, raise_errors: bool = False) -> None:
        """Wait for the background fsync of the verbatim copy (its error re-raised on request)."""
        fut, self._verbatim_synced = self._verbatim_synced, None
        if fut is None:
            return
        try:
            fut.result()
        except OSError:
            if raise_errors:
                raise

    def close(self) -> None:
        """Wait for the background write, close open writers (idempotent).

        This is also the abort path, so a background write error is not raised here:
        :meth:`finish` raises it before closing."""
        try:
            self._wait()
        except Exception:  # aborting: the staged files are discarded anyway
            pass
        self._wait_synced()
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


def file_checksum(path: Path) -> str:
    """``xxh3_128:<hex>`` of a file's bytes (xxHash3, about 4 GB/s: the check costs little
    beside decoding the Parquet it guards)."""
    import xxhash

    h = xxhash.xxh3_128()
    buf = bytearray(1 << 22)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return f"xxh3_128:{h.hexdigest()}"


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A results file a writer staged for :meth:`chainlens.store.Store.write_results`
    (``files=``): its path (in a :meth:`~chainlens.store.Store.stage_dir`), its rows and its
    :func:`file_checksum`."""

    path: str
    rows: int
    checksum: str


def stage_results_file(table: pa.Table, stage: Path, stem: str) -> StagedFile:
    """Write ``table`` (one results part of a block, conformed) as ``stage / <stem>.parquet``
    the way :meth:`~chainlens.store.Store.write_results` writes a part (sorted by
    ``underlying`` when it has one and is not in order already) and return what the store
    needs to take it. The order is checked on the combined column (one comparison instead
    of one per chunk: a block's part has a chunk per underlying)."""
    combined = table.combine_chunks()
    if "underlying" in table.column_names and not _ascending(combined.column("underlying")):
        table = table.take(pc.sort_indices(table, sort_keys=[("underlying", "ascending")]))
        combined = table.combine_chunks()
    path = stage / f"{stem}.parquet"
    write_parquet(table, path, combined)
    return StagedFile(str(path), table.num_rows, file_checksum(path))


def _ascending(col: pa.ChunkedArray | pa.Array) -> bool:
    """``col`` is already in ascending order without nulls: its stable sort is the identity
    (the runners' parts come in run order, the session's underlyings sorted), so sorting it
    again would only copy every column (one vectorised comparison of neighbours instead)."""
    n = len(col)
    if n <= 1:
        return col.null_count == 0
    if col.null_count:
        return False
    return bool(pc.all(pc.less_equal(col.slice(0, n - 1), col.slice(1))).as_py())
