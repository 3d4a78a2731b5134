"""Reading stored Parquet files: the row filter by name, and decode failures as store errors.

A module of its own (no store import) so that the store's catalog class and its results
mixin both use it without importing each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainlens.errors import ChainlensError, StoreError

__all__ = ["NameRows", "names_filter", "read_name_rows", "read_names"]


def names_filter(column: str, names: Sequence[str] | pa.Array) -> pc.Expression:
    """A Parquet read filter keeping the rows whose ``column`` is one of ``names``.

    ``isin`` alone does not prune row groups (pyarrow checks it row by row after decoding
    every group: measured 2.47 s of CPU to read 300 of 5,000 underlyings' trades from one
    15M-row file); the ``[min, max]`` range in front lets the row-group statistics of a file
    sorted by ``column`` skip the groups outside it (0.31 s, the same rows).
    """
    arr = pa.array(sorted(str(u) for u in names), pa.string()) if not isinstance(
        names, pa.Array) else names  # fmt: skip
    if len(arr) == 0:
        return pc.field(column).isin(arr)
    lo, hi = pc.min(arr).as_py(), pc.max(arr).as_py()
    return (pc.field(column) >= lo) & (pc.field(column) <= hi) & pc.field(column).isin(arr)


def _sorted_names(names: Sequence[str] | pa.Array) -> np.ndarray:
    """``names`` as a sorted object array without repeats (the searchsorted keys)."""
    vals = names.to_pylist() if isinstance(names, pa.Array) else [str(u) for u in names]
    return np.unique(np.asarray(vals, dtype=object)) if vals else np.empty(0, dtype=object)


class _FileInfo:
    """A stored file's footer, and what the reads ask of it per column (each worked out
    once): the ``[min, max]`` statistics of every row group, and whether every group stores
    the column dictionary-encoded. A footer of a 15M-row file (947 row groups) takes ~15 ms
    to decode and its statistics a Python loop over the groups: a worker reads the same
    files for each of its blocks."""

    def __init__(self, md: pq.FileMetaData) -> None:
        self.md = md
        self.schema = md.schema.to_arrow_schema()
        self.rows = np.array([md.row_group(i).num_rows for i in range(md.num_row_groups)])
        self._stats: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._dict: dict[int, np.ndarray] = {}

    def stats(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(min, max, has)`` of column ``j`` per row group (``has``: min and max known)."""
        if j not in self._stats:
            n = self.md.num_row_groups
            lo, hi = np.empty(n, dtype=object), np.empty(n, dtype=object)
            has = np.zeros(n, dtype=bool)
            for i in range(n):  # a loop over row groups (metadata only), once per file
                st = self.md.row_group(i).column(j).statistics
                if st is not None and st.has_min_max:
                    lo[i], hi[i], has[i] = st.min, st.max, True
            self._stats[j] = (lo, hi, has)
        return self._stats[j]

    def dictionary_pages(self, j: int) -> np.ndarray:
        """Per row group: column ``j`` is stored with a dictionary page."""
        if j not in self._dict:
            n = self.md.num_row_groups
            self._dict[j] = np.array(
                [self.md.row_group(i).column(j).has_dictionary_page for i in range(n)], dtype=bool
            )
        return self._dict[j]


#: Footers of the files read in this process: (path, size, mtime_ns) -> info (a few dozen at
#: most: the oldest goes first).
_INFO: dict[tuple[str, int, int], _FileInfo] = {}
_INFO_MAX = 64


def _file_info(path: str | Path) -> _FileInfo:
    """The :class:`_FileInfo` of ``path`` (read once per file version in this process)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    info = _INFO.get(key)
    if info is None:
        info = _FileInfo(pq.read_metadata(path))
        if len(_INFO) >= _INFO_MAX:
            _INFO.pop(next(iter(_INFO)))
        _INFO[key] = info
    return info


def _groups(info: _FileInfo, j: int, want: np.ndarray) -> list[int]:
    """The row groups whose ``[min, max]`` statistics of column ``j`` hold one of ``want``
    (a group without statistics is kept)."""
    lo, hi, has = info.stats(j)
    if not has.all():
        lo, hi = lo.copy(), hi.copy()
        lo[~has], hi[~has] = "", ""
    a = np.searchsorted(want, lo, side="left")
    b = np.searchsorted(want, hi, side="right")
    return np.flatnonzero(~has | (b > a)).tolist()


def _dictionary_columns(
    info: _FileInfo, groups: Sequence[int], cols: Sequence[str], key: str
) -> list[str]:
    """The string columns of ``cols`` to read as dictionaries: the key (its codes find the
    rows) and every one stored dictionary-encoded in each group read (decoding the codes and
    then one ``take`` of the small dictionary costs about 40% of decoding the strings; a
    plain-encoded column, such as the OSI symbol, would be hashed instead: slower)."""
    sch = info.schema
    out = []
    for c in cols:
        j = sch.get_field_index(c)
        if j < 0 or not pa.types.is_string(sch.field(j).type):
            continue
        if c == key or bool(info.dictionary_pages(j)[groups].all()):
            out.append(c)
    return out


def _row_codes(col: pa.ChunkedArray, want: np.ndarray) -> np.ndarray:
    """Per row of the dictionary column ``col``: the position of its value in ``want``, or
    -1 (not wanted, or null). One lookup per chunk's dictionary, then one gather per row."""
    parts = []
    for ch in col.chunks:  # a loop over chunks (row groups)
        d = np.asarray(ch.dictionary.to_pylist(), dtype=object)
        lut = np.full(d.size + 1, -1, dtype=np.int64)
        if d.size and want.size:
            pos = np.searchsorted(want, d)
            hit = pos < want.size
            hit[hit] = want[pos[hit]] == d[hit]
            lut[:-1] = np.where(hit, pos, -1)
        ix = ch.indices
        if ch.null_count:  # a null row: the lookup's last slot (-1)
            ix = pc.fill_null(ix, pa.scalar(d.size, ix.type))
        idx = ix.to_numpy(zero_copy_only=False)
        parts.append(lut[idx])
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class NameRows:
    """The rows of a Parquet file whose key column holds one of some names, in file order,
    with where each name's rows are (:func:`read_name_rows`).

    ``table`` holds exactly those rows; its rows come in *runs* of one name each: run ``r``
    is ``table[starts[r] : starts[r] + lengths[r]]`` and holds the name ``names[codes[r]]``
    (``names`` sorted, without repeats). A name absent from the file has no run.
    """

    table: pa.Table
    starts: np.ndarray
    lengths: np.ndarray
    codes: np.ndarray
    names: np.ndarray

    def with_table(self, table: pa.Table) -> NameRows:
        """The same runs over ``table`` (the same rows, another form: columns cast, selected)."""
        return NameRows(table, self.starts, self.lengths, self.codes, self.names)

    def by_name(self) -> dict[str, pa.Table]:
        """The rows of each name present, in file order: zero-copy slices of ``table`` (a
        name of several runs: its slices concatenated, or, when the runs are many short ones,
        one stable ``take`` grouping the rows by name first)."""
        return {
            u: sl[0] if len(sl) == 1 else pa.concat_tables(sl)
            for u, sl in self.pieces_by_name().items()
        }

    def pieces_by_name(self) -> dict[str, list[pa.Table]]:
        """The rows of each name present as pieces in file order, whose concatenation is
        :meth:`by_name`'s table: zero-copy slices of ``table`` (one per run), or, when the runs
        are many short ones, one slice of a stable ``take`` grouping the rows by name first.
        A caller joining a name's rows of several files concatenates once."""
        t, starts, lengths, codes = self.table, self.starts, self.lengths, self.codes
        if not codes.size:
            return {}
        if codes.size == 1 or bool((codes[1:] > codes[:-1]).all()):  # one run per name
            keys = self.names[codes].tolist()
            return {
                str(u): [t.slice(a, n)]
                for u, a, n in zip(keys, starts.tolist(), lengths.tolist(), strict=True)
            }
        by = np.argsort(codes, kind="stable")  # the runs of each name together, in row order
        cuts = np.flatnonzero(np.diff(codes[by])) + 1
        if codes.size > 2 * (cuts.size + 1):  # many short runs: group the rows once
            order = np.concatenate(
                [np.arange(starts[r], starts[r] + lengths[r], dtype=np.int64) for r in by]
            )
            t = t.take(pa.array(order))
            grp_len = np.add.reduceat(lengths[by], np.r_[0, cuts])
            grp_start = np.r_[0, np.cumsum(grp_len)[:-1]]
            return {
                str(self.names[codes[by[c]]]): [t.slice(int(s), int(n))]
                for c, s, n in zip(np.r_[0, cuts], grp_start, grp_len, strict=True)
            }
        bl, st, ln = by.tolist(), starts.tolist(), lengths.tolist()
        keys = self.names[codes[by]].tolist()
        edges = [0, *cuts.tolist(), len(bl)]
        out: dict[str, list[pa.Table]] = {}
        for a, b in zip(edges[:-1], edges[1:], strict=True):  # a loop over names, not rows
            out[str(keys[a])] = [t.slice(st[r], ln[r]) for r in bl[a:b]]
        return out


def read_name_rows(
    path: str | Path, column: str, names: Sequence[str] | pa.Array, columns: Sequence[str] | None
) -> NameRows:
    """The rows of the Parquet file ``path`` whose ``column`` is one of ``names`` (those of
    ``pq.read_table(path, filters=names_filter(column, names))``, in file order, with the
    file's schema; only ``columns`` if given), and the runs of each name.

    Reads only the row groups whose ``[min, max]`` statistics of ``column`` hold one of the
    names (a group without statistics is read), and no filter expression: ``column`` is read
    as its dictionary codes, one lookup per group's dictionary gives each row's name, and the
    rows kept are the runs of wanted names (the files are sorted by ``column``, or written as
    a few sorted runs: a block of names is a few zero-copy slices; many runs are one
    ``filter``). The key is read first, alone: a group whose range holds a name but none of
    whose rows does (the boundary of two sorted runs spans nearly every name) is not decoded
    further. The string columns stored dictionary-encoded are read as dictionaries too
    and decoded after the cut (a ``take`` of the dictionary per kept row instead of decoding
    each group's strings). Measured, the runner's read of the windows of 1,000 names (with
    :meth:`NameRows.by_name`): 1.89 -> 1.22 ms CPU per underlying on the 1,000-underlying
    bench store, 2.65 -> 1.21 on the 5,000 one (its files are ~60 sorted runs: the boundary
    groups were most of the rows decoded).
    """
    want = _sorted_names(names)
    info = _file_info(path)
    md, sch = info.md, info.schema
    j = sch.get_field_index(column)
    groups = _groups(info, j, want)
    cols = list(columns) if columns else list(sch.names)
    read_cols = cols if column in cols else [*cols, column]
    dict_cols = _dictionary_columns(info, groups, read_cols, column)
    codes = np.empty(0, dtype=np.int64)
    key: pa.ChunkedArray | None = None
    if groups:  # the key first: a group with none of the names is not decoded further
        pf = pq.ParquetFile(path, metadata=md, read_dictionary=dict_cols)
        key = pf.read_row_groups(groups, columns=[column], use_threads=False).column(0)
        codes = _row_codes(key, want)
        size = info.rows[groups]
        bounds = np.r_[0, np.cumsum(size)]
        hit = np.zeros(len(groups), dtype=bool)
        nz = size > 0
        if codes.size:
            hit[nz] = np.logical_or.reduceat(codes >= 0, bounds[:-1][nz])
        if not hit.all():  # groups whose range holds a name but no row (a run's boundary)
            codes = np.concatenate([codes[bounds[i] : bounds[i + 1]] for i in np.flatnonzero(hit)]
                                   or [codes[:0]])  # fmt: skip
            key = pa.chunked_array(
                [c for i in np.flatnonzero(hit) for c in key.slice(int(bounds[i]), int(size[i])).chunks],
                key.type,
            )  # fmt: skip
            groups = [g for g, h in zip(groups, hit, strict=True) if h]
    others = [c for c in read_cols if c != column]
    if groups and key is not None:
        rest = pf.read_row_groups(groups, columns=others, use_threads=False)
        fields = [rest.schema.field(c) if c != column else sch.field(c).with_type(key.type)
                  for c in read_cols]  # fmt: skip
        arrays = [rest.column(c) if c != column else key for c in read_cols]
        t = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=sch.metadata))
    else:
        t = sch.empty_table().select(read_cols)
        codes = np.empty(0, dtype=np.int64)
    m = codes >= 0
    edge = np.flatnonzero(np.diff(m.view(np.int8))) + 1  # where kept / dropped alternate
    seg = np.r_[0, edge, m.size].astype(np.int64) if m.size else np.zeros(1, np.int64)
    seg_start, seg_len = seg[:-1], np.diff(seg)
    kept = m[seg_start]
    seg_start, seg_len = seg_start[kept], seg_len[kept]  # the kept segments
    if seg_start.size == 0:
        t = t.slice(0, 0)
    elif seg_start.size <= max(8, len(groups)):  # a few segments: zero-copy slices
        if seg_start.size > 1 or seg_len[0] != t.num_rows:
            t = pa.concat_tables(
                [t.slice(int(a), int(n)) for a, n in zip(seg_start, seg_len, strict=True)]
            )
    else:
        t = t.filter(pa.array(m))
    kc = codes[m]  # the kept rows' names: their runs
    starts = np.r_[0, np.flatnonzero(np.diff(kc)) + 1] if kc.size else kc
    lengths = np.diff(np.r_[starts, kc.size])
    rc = kc[starts]
    t = t.select(cols)
    for c in dict_cols:  # decoded after the cut, to the file's type (field metadata kept)
        if c in cols:
            i = t.schema.get_field_index(c)
            f = sch.field(c)
            t = t.set_column(i, f, t.column(i).cast(f.type))
    return NameRows(t, starts.astype(np.int64), lengths.astype(np.int64), rc, want)


def read_names(
    path: str | Path, column: str, names: Sequence[str] | pa.Array, columns: Sequence[str] | None
) -> pa.Table:
    """The rows of the Parquet file ``path`` whose ``column`` is one of ``names`` (the rows of
    ``pq.read_table(path, filters=names_filter(column, names))``, in file order; only
    ``columns`` if given): :func:`read_name_rows`' table."""
    return read_name_rows(path, column, names, columns).table


class _read_errors:
    """Turn a decode failure of a stored file (one without a recorded checksum, or damaged
    after the check) into a StoreError naming it."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, FileNotFoundError | ChainlensError):
            return
        if isinstance(exc, pa.ArrowException | OSError | ValueError):
            raise StoreError(
                f"damaged store file {self.what}: it cannot be decoded ({exc})".replace("\n", " "),
                hint="run `chainlens verify` to list damaged files and what to do",
            ) from None
