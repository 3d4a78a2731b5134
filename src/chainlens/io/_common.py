"""Shared machinery of the adapters: line reading, field splitting, parsing, validation.

Every adapter applies the same rules through :func:`finalize`, so a row is accepted or
rejected for the same reasons whatever its source format.

Row accounting
--------------
``rows_read == table.num_rows + rejects.num_rows`` for every batch. A reject cites the
1-based physical line of the file (header = line 1 for CSVs; for Parquet, the 1-based row
index), the offending column and value, and the rule that was broken. A row is rejected
once, for the first rule it breaks (rules are checked in a fixed order).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens import calendar, conventions
from chainlens import symbols as _sym
from chainlens.errors import InputError
from chainlens.io import _rules
from chainlens.schema import REJECTS, SCHEMAS

__all__ = [
    "AdapterResult",
    "CsvBlock",
    "DuplicateTracker",
    "Problem",
    "finalize",
    "iter_csv_blocks",
    "parse_float",
    "parse_int",
    "read_head_lines",
    "session_of_snapshot",
    "settlement_of_roots",
    "strptime_strict",
    "underlying_of_roots",
]

#: Maximum number of undecodable bytes tolerated before a file is declared "not UTF-8 text".
MAX_BAD_BYTES = 1000
#: Bytes read per block by the streaming CSV readers (a block ends on a line boundary).
DEFAULT_BLOCK_BYTES = 64 << 20


@dataclass(frozen=True)
class AdapterResult:
    """One batch of canonical rows read from a file.

    Attributes
    ----------
    kind
        ``"chain" | "trades" | "prints" | "bars" | "events" | "sectors"``.
    table
        Conforms exactly to ``chainlens.schema.SCHEMAS[kind]``.
    rejects
        ``chainlens.schema.REJECTS``: path, row, column, value, reason.
    rows_read
        Rows of data this batch consumed; always ``table.num_rows + rejects.num_rows``.
        For the Cboe quote table, a file line holds a call and a put, so it counts as 2 rows.
    format
        The adapter's format name (see ``KNOWN_FORMATS``).
    source
        The file read.
    """

    kind: str
    table: pa.Table
    rejects: pa.Table
    rows_read: int
    format: str
    source: Path
    #: True when ``table`` holds exactly the file's rows and values, column for column (no
    #: rejects, no cast, no column added or dropped, the stored ``crossed`` flag equal to the
    #: computed one): the store may then publish the file's bytes instead of re-encoding.
    verbatim: bool = False


# --------------------------------------------------------------------------------------
# Rejects


@dataclass
class Problem:
    """A rule broken by some rows of a batch (``mask`` over the batch's rows)."""

    mask: np.ndarray
    column: str | None
    values: pa.Array | None
    reason: str | pa.Array


class RejectSink:
    """Accumulates reject rows (vectorized appends) and builds a ``REJECTS`` table."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._parts: list[pa.Table] = []

    def add(
        self,
        rows: np.ndarray | Sequence[int],
        *,
        column: str | None | pa.Array,
        values: pa.Array | Sequence[str | None] | None,
        reason: str | pa.Array,
    ) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        if n == 0:
            return
        if isinstance(column, pa.Array):
            col = column.cast(pa.string())
        else:
            col = pa.array([column] * n, pa.string())
        if values is None:
            val = pa.nulls(n, pa.string())
        elif isinstance(values, pa.Array | pa.ChunkedArray):
            val = values.cast(pa.string())
        else:
            val = pa.array(list(values), pa.string())
        rsn = (
            reason.cast(pa.string())
            if isinstance(reason, pa.Array)
            else pa.array([reason] * n, pa.string())
        )
        self._parts.append(
            pa.Table.from_arrays(
                [pa.array([self.path] * n, pa.string()), pa.array(rows), col, val, rsn],
                schema=REJECTS,
            )
        )

    @property
    def num_rows(self) -> int:
        return sum(p.num_rows for p in self._parts)

    def take(self) -> pa.Table:
        """The rejects gathered so far (and reset)."""
        t = pa.concat_tables(self._parts) if self._parts else REJECTS.empty_table()
        self._parts = []
        return t.combine_chunks()


# --------------------------------------------------------------------------------------
# Reading lines and CSV fields, vectorized


def read_head_lines(path: Path, n: int = 12, max_bytes: int = 1 << 16) -> list[str]:
    """The first ``n`` physical lines of a file, decoded leniently (for sniffing/preambles)."""
    with open(path, "rb") as fh:
        head = fh.read(max_bytes)
    text = head.decode("utf-8-sig", errors="replace")
    return [ln.rstrip("\r") for ln in text.split("\n")[:n]]


def _bad_utf8_offsets(data: bytes, path: Path, first_line: int) -> list[tuple[int, int]]:
    """(start, end) byte spans that are not valid UTF-8. Raises if there are too many."""
    spans: list[tuple[int, int]] = []
    pos = 0
    mv = memoryview(data)
    while pos < len(data):
        try:
            bytes(mv[pos:]).decode("utf-8")
            break
        except UnicodeDecodeError as e:
            spans.append((pos + e.start, pos + e.end))
            pos += e.end
            if len(spans) > MAX_BAD_BYTES:
                line = first_line + data.count(b"\n", 0, spans[0][0])
                raise InputError(
                    "not UTF-8 text (too many undecodable bytes)",
                    path=path,
                    row=line,
                    hint="convert the file to UTF-8, or check that it is the CSV you meant",
                ) from None
    return spans


@dataclass
class CsvBlock:
    """The well-formed lines of a block, split into fields, plus the malformed ones.

    ``fields[j]`` is the string column j for the good lines; ``line`` their 1-based line
    numbers; ``n_fields`` how many fields each good line had; ``bad_lines``/``bad_reasons``/
    ``bad_text`` the lines that could not be split as the header says.
    """

    fields: list[pa.Array]
    line: np.ndarray
    n_fields: np.ndarray
    list_array: pa.ListArray
    bad_lines: np.ndarray
    bad_reasons: list[str]
    bad_text: list[str]
    blank: int = 0


def _split_lines(
    buf: bytes, first_line: int, path: Path
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Split a byte block into lines (arrow strings, no terminator), their line numbers, and a
    mask of lines that held undecodable bytes (those bytes are replaced by ``?``)."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    spans = _bad_utf8_offsets(buf, path, first_line)
    if spans:
        arr = arr.copy()
        for a, b in spans:
            arr[a:b] = ord("?")
    nl = np.flatnonzero(arr == 10)
    ends = nl
    if len(arr) and (len(nl) == 0 or nl[-1] != len(arr) - 1):
        ends = np.append(nl, len(arr))  # last line without a newline
    starts = np.concatenate([[0], nl + 1])[: len(ends)]
    n = len(ends)
    # Offsets include the terminator in each line; strip "\r\n" afterwards (vectorized).
    offsets = np.concatenate([starts, [len(arr)]]).astype(
        np.int32 if len(arr) < 2**31 else np.int64
    )
    typ = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    lines = pa.Array.from_buffers(
        typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(arr.tobytes())]
    )
    lines = pc.utf8_rtrim(lines, characters="\r\n")
    bad = np.zeros(n, dtype=bool)
    if spans:
        idx = np.searchsorted(nl, np.array([a for a, _ in spans]), side="left")
        bad[idx[idx < n]] = True
    return lines, np.arange(first_line, first_line + n, dtype=np.int64), bad


def _split_fields(lines: pa.Array, delimiter: str) -> pa.ListArray:
    """Split lines into fields; lines with double quotes go through the csv module."""
    has_q = pc.match_substring(lines, '"').to_numpy(zero_copy_only=False)
    plain = pc.split_pattern(lines, delimiter)
    if not has_q.any():
        return plain
    qi = np.flatnonzero(has_q)
    # Rare (quoted fields): parse only those lines with the csv module.
    quoted = [
        next(csv.reader([s], delimiter=delimiter), []) for s in lines.take(pa.array(qi)).to_pylist()
    ]
    qarr = pa.array(quoted, type=pa.list_(pa.string()))
    pi = np.flatnonzero(~has_q)
    both = pa.concat_arrays([plain.take(pa.array(pi)).cast(qarr.type), qarr])
    order = np.empty(len(lines), dtype=np.int64)
    order[np.concatenate([pi, qi])] = np.arange(len(lines))
    return both.take(pa.array(order))


def iter_csv_blocks(
    path: Path,
    *,
    header_line: int,
    n_fields: int,
    ragged: bool = False,
    delimiter: str = ",",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[CsvBlock]:
    """Stream the data lines after ``header_line`` (1-based) as split fields.

    A line is well formed when it has exactly ``n_fields`` fields, or more fields that are
    all empty (trailing commas from spreadsheet re-saves). With ``ragged=True`` a line needs at
    least ``n_fields`` fields and the caller checks the rest. Blank lines are skipped and not
    counted as data. Lines with undecodable bytes or too few fields are returned as bad lines
    (a truncated last line is one of them).
    """
    with open(path, "rb") as fh:
        line_no = 1
        carry = b""
        while True:
            chunk = fh.read(block_bytes)
            eof = not chunk
            buf = carry + chunk
            if not buf:
                return
            if not eof:
                cut = buf.rfind(b"\n")
                if cut < 0:
                    carry = buf
                    continue
                buf, carry = buf[: cut + 1], buf[cut + 1 :]
            else:
                carry = b""
            if line_no == 1 and buf.startswith(b"\xef\xbb\xbf"):
                buf = b"   " + buf[3:]  # keep byte offsets; BOM only matters before the header
            lines, nums, bad_utf8 = _split_lines(buf, line_no, path)
            line_no += int(buf.count(b"\n"))
            keep = nums > header_line
            if not keep.all():
                sel = np.flatnonzero(keep)
                lines, nums, bad_utf8 = lines.take(pa.array(sel)), nums[sel], bad_utf8[sel]
            yield _block_from_lines(lines, nums, bad_utf8, n_fields, ragged, delimiter)
            if eof:
                return


def _block_from_lines(
    lines: pa.Array,
    nums: np.ndarray,
    bad_utf8: np.ndarray,
    n_fields: int,
    ragged: bool,
    delimiter: str,
) -> CsvBlock:
    blank_mask = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0).to_numpy(
        zero_copy_only=False
    )
    blank = int(blank_mask.sum())
    if blank:
        sel = np.flatnonzero(~blank_mask)
        lines, nums, bad_utf8 = lines.take(pa.array(sel)), nums[sel], bad_utf8[sel]
    lists = _split_fields(lines, delimiter)
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    ok = counts >= n_fields
    if not ragged:
        extra = counts > n_fields
        if extra.any():
            # Extra fields are fine only when they are all empty (trailing commas).
            ei = np.flatnonzero(extra)
            sub = lists.take(pa.array(ei))
            flat = pc.list_flatten(sub)
            offs = sub.offsets.to_numpy()[:-1] - sub.offsets[0].as_py()
            pos_in = np.arange(len(flat)) - np.repeat(offs, counts[ei])
            nonempty = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(flat)), 0).to_numpy(
                zero_copy_only=False
            )
            bad_extra = np.zeros(len(ei), dtype=bool)
            hit = nonempty & (pos_in >= n_fields)
            row_of = np.repeat(np.arange(len(ei)), counts[ei])
            bad_extra[np.unique(row_of[hit])] = True
            ok[ei[bad_extra]] = False
    ok &= ~bad_utf8
    reasons: list[str] = []
    bad_idx = np.flatnonzero(~ok)
    for i in bad_idx:  # only malformed lines (rare) are described one by one
        if bad_utf8[i]:
            reasons.append("non-UTF-8 bytes in line")
        elif counts[i] < n_fields:
            reasons.append(f"truncated or short line: {counts[i]} fields, expected {n_fields}")
        else:
            reasons.append(f"too many fields: {counts[i]}, expected {n_fields}")
    bad_text = lines.take(pa.array(bad_idx)).to_pylist() if len(bad_idx) else []
    good = np.flatnonzero(ok)
    glists = lists.take(pa.array(good)) if len(good) != len(lists) else lists
    flat = pc.list_flatten(glists)
    starts = glists.offsets.to_numpy()[:-1] - (glists.offsets[0].as_py() if len(glists) else 0)
    fields = (
        [flat.take(pa.array(starts + j)) for j in range(n_fields)]
        if len(good)
        else [pa.array([], pa.string())] * n_fields
    )
    fields = [pc.utf8_trim_whitespace(f) for f in fields]
    return CsvBlock(
        fields=fields,
        line=nums[good],
        n_fields=counts[good],
        list_array=glists,
        bad_lines=nums[bad_idx],
        bad_reasons=reasons,
        bad_text=[(t or "")[:200] for t in bad_text],
        blank=blank,
    )


# --------------------------------------------------------------------------------------
# Parsing text columns


_FLOAT_RE = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_NANINF_RE = r"(?i)^[-+]?(nan|inf|infinity)$"


def _as_np_bool(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False)


def parse_float(
    s: pa.Array,
    column: str,
    problems: list[Problem],
    *,
    required: bool = False,
    allow_negative: bool = True,
) -> pa.Array:
    """Parse a text column to float64, recording problems (vectorized).

    Empty text is null (a problem only if ``required``); "nan"/"inf" and non-numbers are
    problems; values that fail are null in the output.
    """
    s = pc.utf8_trim_whitespace(s.cast(pa.string()))
    empty = _as_np_bool(pc.equal(pc.utf8_length(s), 0)) | s.is_null().to_numpy(zero_copy_only=False)
    isnum = _as_np_bool(pc.match_substring_regex(s, _FLOAT_RE))
    naninf = _as_np_bool(pc.match_substring_regex(s, _NANINF_RE))
    if naninf.any():
        problems.append(Problem(naninf, column, s, "NaN or inf"))
    other = ~isnum & ~empty & ~naninf
    if other.any():
        problems.append(Problem(other, column, s, "not a number"))
    if required and empty.any():
        problems.append(Problem(empty, column, s, "missing value"))
    out = pc.cast(pc.if_else(pa.array(isnum), s, pa.scalar(None, pa.string())), pa.float64())
    if not allow_negative:
        neg = _as_np_bool(pc.less(out, 0))
        if neg.any():
            problems.append(Problem(neg, column, s, "negative value"))
    return out


_LEADING_ZEROS = r"(^|[^0-9])0+([0-9])"


def _norm_date_text(s: pa.Array) -> pa.Array:
    return pc.utf8_lower(
        pc.replace_substring_regex(pc.utf8_trim_whitespace(s), _LEADING_ZEROS, r"\1\2")
    )


def strptime_strict(s: pa.Array | pa.ChunkedArray, fmt: str, unit: str = "s") -> pa.Array:
    """``pc.strptime`` that refuses impossible dates and times (null instead).

    Arrow's strptime rolls an impossible day over (``04/31/2019`` -> 2019-05-01, ``02/30`` ->
    03-02, ``23:59:60`` -> the next day); here each distinct text is parsed, written back in
    ``fmt`` and compared with itself (case and leading zeros aside), so only dates that exist
    survive. Work is per distinct value (dates repeat), then mapped back to the rows."""
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    s = s.cast(pa.string())
    uniq = pc.unique(s)
    parsed = pc.strptime(uniq, format=fmt, unit=unit, error_is_null=True)
    # directives whose round trip is not textual (zones, 12-hour clocks, day-of-year) keep
    # Arrow's parse: the date fields then are not re-checked
    exact = not any(d in fmt for d in ("%z", "%Z", "%p", "%I", "%j", "%s", "%U", "%W"))
    if exact and parsed.null_count < len(parsed):
        back = pc.strftime(parsed, format=fmt)
        same = pc.fill_null(pc.equal(_norm_date_text(back), _norm_date_text(uniq)), False)
        parsed = pc.if_else(same, parsed, pa.scalar(None, parsed.type))
    return pc.take(parsed, pc.index_in(s, value_set=uniq))


def parse_int(
    s: pa.Array, column: str, problems: list[Problem], *, required: bool = False
) -> pa.Array:
    """Parse a non-negative count (volume, OI, size) to int64; fractional or negative is a problem."""
    f = parse_float(s, column, problems, required=required, allow_negative=False)
    frac = _as_np_bool(pc.not_equal(pc.floor(f), f))
    if frac.any():
        problems.append(Problem(frac, column, s, "not a whole number"))
    big = _as_np_bool(pc.greater(pc.abs(f), 2.0**53))
    if big.any():
        problems.append(Problem(big, column, s, "count too large"))
    ok = pa.array(~(frac | big | _as_np_bool(pc.less(f, 0))))
    return pc.cast(pc.if_else(ok, f, pa.scalar(None, pa.float64())), pa.int64())


# --------------------------------------------------------------------------------------
# Roots, settlement, sessions, OSI symbols (through the shared modules when present)


def underlying_of_roots(roots: pa.Array) -> pa.Array:
    """Vectorized ``conventions.underlying_of_root`` (the mapping runs once per distinct root)."""
    uniq = pc.unique(roots)
    mapped = pa.array([conventions.underlying_of_root(r) for r in uniq.to_pylist()], pa.string())
    return pc.take(mapped, pc.index_in(roots, value_set=uniq))


def settlement_of_roots(roots: pa.Array) -> pa.Array:
    """``AM``/``PM`` per root: AM-settled roots (SPX, NDX, VIX...) settle at the open
    (:func:`chainlens.calendar.settlement_of_root`, once per distinct root)."""
    uniq = pc.unique(roots)
    mapped = pa.array([str(calendar.settlement_of_root(r)) for r in uniq.to_pylist()], pa.string())
    return pc.take(mapped, pc.index_in(roots, value_set=uniq))


def session_of_snapshot(ts_utc: dt.datetime) -> tuple[dt.date, str]:
    """(session, phase) of a snapshot instant (:func:`chainlens.calendar.session_of_snapshot`):
    after the close -> that session; before the open, a weekend or a holiday -> the previous
    session; during it -> that session ('pre_open' | 'intraday' | 'after_close')."""
    s = calendar.session_of_snapshot(ts_utc)
    return s.session, str(s.phase)


def session_close_utc(session: dt.date) -> dt.datetime:
    """The close of a session (early closes included), as an aware UTC datetime
    (:func:`chainlens.calendar.session_close`)."""
    out: dt.datetime = calendar.session_close(session)
    return out


def parse_osi(symbols: pa.Array) -> pa.Table:
    """Parse OSI symbols (compact or space-padded) into root, expiry, right, strike, valid
    (:func:`chainlens.symbols.parse_osi_array`)."""
    return _sym.parse_osi_array(symbols)


def format_osi(root: pa.Array, expiry: pa.Array, right: pa.Array, strike: pa.Array) -> pa.Array:
    """Compact OSI symbols ``ROOT`` + ``YYMMDD`` + ``C|P`` + ``strike*1000`` on 8 digits
    (:func:`chainlens.symbols.format_osi_array` with ``strict=False``: it never raises; a row
    that cannot be written fails the OSI validation later, naming the column)."""
    return _sym.format_osi_array(root, expiry, right, strike, strict=False)


# --------------------------------------------------------------------------------------
# Validation common to every adapter


class DuplicateTracker:
    """Remembers contract keys already accepted in a file, across streamed batches.

    A key (``snapshot_ts``, ``symbol``) is hashed to 64 bits (polars string hash mixed with
    the timestamp); a collision between two different keys has a probability of about
    n^2 / 2^65 (1e-7 for 2M rows). Each distinct key is kept once, as a sorted 64-bit hash
    beside the line of its first occurrence (12 bytes per distinct key while lines fit in 32
    bits), in a few sorted runs merged like a binary counter (at most ~log2(batches) runs), so
    memory grows with the distinct keys of the file and lookups stay cheap.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def nbytes(self) -> int:
        """Memory held by the remembered keys."""
        return sum(h.nbytes + ln.nbytes for h, ln in self.runs)

    @staticmethod
    def hash_keys(snapshot_ts: pa.Array, symbol: pa.Array) -> np.ndarray:
        import polars as pl

        sym = pl.Series(pc.cast(symbol, pa.string()))
        hs = sym.hash(seed=7).to_numpy().astype(np.uint64)
        ts = (
            pc.fill_null(pc.cast(snapshot_ts, pa.int64()), 0)  # null ts: rejected, never hashed
            .to_numpy(zero_copy_only=False)
            .astype(np.uint64)
        )
        with np.errstate(over="ignore"):
            return hs ^ (ts * np.uint64(0x9E3779B97F4A7C15))

    def check(self, h: np.ndarray, lines: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """For rows flagged in ``candidates``, the line of the first earlier identical key
        (or -1). Keys not seen before are remembered. ``lines`` increase within a batch and
        from one batch to the next."""
        first_line = np.full(len(lines), -1, dtype=np.int64)
        idx = np.flatnonzero(candidates)
        if len(idx) == 0:
            return first_line
        hc, lc = h[idx], lines[idx]
        order = np.argsort(hc)  # SIMD quicksort (a stable sort costs 5x more)
        ho, lo = hc[order], lc[order]
        same = np.zeros(len(ho), dtype=bool)
        same[1:] = ho[1:] == ho[:-1]
        first = lo  # the first line of each row's key within this batch
        if same.any():  # equal keys may be in any order: take each group's smallest line
            starts = np.flatnonzero(~same)
            sizes = np.diff(np.append(starts, len(ho)))
            first = np.repeat(np.minimum.reduceat(lo, starts), sizes)
        # Earlier batches: the first run holding a key has its earliest line.
        prior = np.full(len(ho), -1, dtype=np.int64)
        for run_h, run_l in self.runs:
            pos = np.minimum(np.searchsorted(run_h, ho), len(run_h) - 1)
            hit = (run_h[pos] == ho) & (prior < 0)
            if hit.any():
                prior[hit] = run_l[pos[hit]]
        fl = np.where(prior >= 0, prior, np.where(lo != first, first, -1))
        if (fl >= 0).any():
            first_line[idx[order]] = fl
        new = ~same & (prior < 0)
        keep = first[new]
        ldt = np.int32 if len(keep) == 0 or int(keep.max()) < 2**31 else np.int64
        self._push(ho[new], keep.astype(ldt))
        return first_line

    def _push(self, h: np.ndarray, ln: np.ndarray) -> None:
        if len(h) == 0:
            return
        self.runs.append((h, ln))
        while len(self.runs) >= 2 and 2 * len(self.runs[-1][0]) >= len(self.runs[-2][0]):
            (h1, l1), (h2, l2) = self.runs[-2], self.runs.pop()
            # Merge of two sorted runs (keys are distinct across runs): NumPy's stable sort
            # is a timsort, which finds the two runs and merges them in linear time.
            hh = np.concatenate([h1, h2])
            order = np.argsort(hh, kind="stable")
            ll = np.concatenate([l1, l2.astype(np.result_type(l1.dtype, l2.dtype))])
            self.runs[-1] = (hh[order], ll[order])


def _str_parts(a: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, bytes) of a string array, zero-copy where possible."""
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)):
        a = a.cast(pa.string())
    odt = np.int64 if pa.types.is_large_string(a.type) else np.int32
    bufs = a.buffers()
    off = np.frombuffer(bufs[1], dtype=odt)[a.offset : a.offset + len(a) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    return off[:-1], off[1:], data


_ZEROS8 = np.uint64(0x3030303030303030)
_LO4 = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIX8 = np.uint64(0x0606060606060606)


def _swar_digits(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse little-endian uint64 words holding 8 ASCII digits each (first byte = most
    significant digit). Returns (values, not_all_digits)."""
    # A byte is a digit iff its high nibble is 3 and adding 6 keeps it there (<= '9').
    bad = ((v & _LO4) != _ZEROS8) | (((v + _SIX8) & _LO4) != _ZEROS8)
    # Unsigned products wrap modulo 2**64, which is what the method relies on.
    x = ((v & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(10 * 256 + 1)) >> np.uint64(8)
    x = ((x & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(100 * 65536 + 1)) >> np.uint64(16)
    x = ((x & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(10000 * 2**32 + 1)) >> np.uint64(32)
    return x.astype(np.int64), bad


@functools.lru_cache(maxsize=64)
def _ymd_table(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """``YYMMDD`` (int) and a 2000..2099 flag for every day number in ``[lo, hi]``."""
    d64 = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")
    y = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d64 - d64.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return (y % 100) * 10000 + m * 100 + dd, (y >= 2000) & (y <= 2099)


def _fast_osi_mismatch(cols: dict[str, pa.Array]) -> dict[str, np.ndarray] | None:
    """Compare compact OSI symbols with root/expiry/right/strike by fixed-width byte gathers.

    ``ROOT`` + ``YYMMDD`` + ``C|P`` + strike*1000 on 8 digits (OCC OSI). The 14 digits of
    the 15-byte tail are gathered into two little-endian 64-bit words per symbol and parsed
    with SWAR arithmetic (8 digits per multiply-shift step); the expected ``YYMMDD`` of the
    expiry column comes from a table over the day range. Returns a mask per column, or None
    when some symbol is not plainly formed (the caller then runs the full parser, which also
    says why)."""
    sym, root, right = cols["symbol"], cols["root"], cols["right"]
    if sym.null_count or root.null_count or right.null_count or len(sym) == 0:
        return None
    n = len(sym)
    s0, s1, sd = _str_parts(sym)
    slen = s1 - s0
    lmin, lmax = int(slen.min()), int(slen.max())
    if lmin < 16 or lmax > 21:
        return None
    buf = np.empty((n, 16), dtype=np.uint8)
    buf[:, :2] = 48
    mat = None
    if lmin == lmax:  # Arrow strings are contiguous: equal lengths make a 2-D view
        mat = sd[int(s0[0]) : int(s0[0]) + n * lmin].reshape(n, lmin)
        tail = mat[:, lmin - 15 :]
        buf[:, 2:8] = tail[:, :6]
        rbyte = tail[:, 6]
        buf[:, 8:] = tail[:, 7:]
    else:
        base = s1 - 15
        for j in range(6):
            buf[:, 2 + j] = sd[base + j]
        rbyte = sd[base + 6]
        for j in range(8):
            buf[:, 8 + j] = sd[base + 7 + j]
    # Little-endian words: the first digit is the lowest byte (the SWAR layout).
    words = buf.view("<u8")
    vals, bad = _swar_digits(words)
    if bad.any():
        return None
    ymd, units = vals[:, 0], vals[:, 1]
    days = pc.fill_null(pc.cast(cols["expiry"], pa.int32()), 0).to_numpy(zero_copy_only=False)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo <= 400_000:
        table, century = _ymd_table(lo, hi)
        want, cent_ok = table[days - lo], century[days - lo]
    else:  # absurd date spans: compute per row
        d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
        y = d64.astype("datetime64[Y]").astype(np.int64) + 1970
        m = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
        dd = (d64 - d64.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
        want, cent_ok = (y % 100) * 10000 + m * 100 + dd, (y >= 2000) & (y <= 2099)
    k = np.asarray(
        pc.fill_null(cols["strike"], 0.0).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    r0, r1, rd = _str_parts(right)
    rb = np.where(r1 - r0 == 1, rd[np.minimum(r0, len(rd) - 1)], 0)
    o0, o1, od = _str_parts(root)
    olen = o1 - o0
    root_bad = olen != slen - 15
    wmin, wmax = int(olen.min()), int(olen.max())
    if mat is not None and wmin == wmax and not root_bad.any():
        omat = od[int(o0[0]) : int(o0[0]) + n * wmin].reshape(n, wmin)
        if wmin <= 8:  # compare as one 64-bit word per row
            a8 = np.zeros((n, 8), dtype=np.uint8)
            b8 = np.zeros((n, 8), dtype=np.uint8)
            a8[:, :wmin] = mat[:, :wmin]
            b8[:, :wmin] = omat
            root_bad = a8.view("<u8")[:, 0] != b8.view("<u8")[:, 0]
        else:
            root_bad = (mat[:, :wmin] != omat).any(axis=1)
    else:
        for j in range(wmax):
            has = (olen > j) & ~root_bad
            a_ = sd[np.minimum(s0 + j, len(sd) - 1)]
            b_ = od[np.minimum(o0 + j, len(od) - 1)]
            root_bad |= has & (a_ != b_)
    return {
        "root": root_bad,
        "expiry": (ymd != want) | ~cent_ok,
        "right": rb != rbyte,
        "strike": np.abs(units / 1000.0 - k) > 5e-4,
    }


@dataclass
class Candidate:
    """Typed canonical columns of a batch before validation."""

    kind: str
    columns: dict[str, pa.Array]
    line: np.ndarray
    problems: list[Problem] = field(default_factory=list)
    #: name of the source column for each canonical one (for reject messages)
    source_names: dict[str, str] = field(default_factory=dict)


def _num_bad(a: pa.Array) -> np.ndarray | None:
    """NaN/inf mask of a float column; None when there is none (or the column is not float)."""
    if not pa.types.is_floating(a.type):
        return None
    if a.null_count == 0:
        v = a.to_numpy(zero_copy_only=False) if isinstance(a, pa.ChunkedArray) else a.to_numpy()
        fin = np.isfinite(v)
        return None if fin.all() else ~fin
    return _mask_if_any(pc.or_(pc.is_nan(a), pc.is_inf(a)))


def _mask_if_any(a: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """``a`` (boolean, null = False) as a NumPy mask, or None when no value is True.

    The common case (a rule that no row breaks) then costs one Arrow reduction instead of a
    fresh NumPy array per rule and batch."""
    if not pc.any(a).as_py():
        return None
    return _as_np_bool(a)


#: Batches of at least this many rows run their independent rule groups (basic checks, the
#: OSI symbol check, the duplicate-key hash) on a small thread pool: pyarrow compute, NumPy
#: and the polars hash release the GIL, so a 2-core machine validates about twice as fast.
PARALLEL_MIN_ROWS = 32_768
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chainlens-validate")
    return _POOL


def _forget_pool() -> None:  # a forked child has none of the parent's threads
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def _out_of_range(
    a: pa.Array, rule: _rules.RangeRule
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(below, above) masks of ``rule`` over ``a`` (None where no value breaks that side)."""
    lo = None
    if rule.lo is not None:
        cmp = pc.less_equal if rule.lo_open else pc.less
        lo = _mask_if_any(
            cmp(
                a,
                pa.scalar(rule.lo).cast(pa.float64())
                if pa.types.is_floating(a.type)
                else pa.scalar(int(rule.lo)),
            )
        )
    hi = None
    if rule.hi is not None:
        big = pa.scalar(float(rule.hi)) if pa.types.is_floating(a.type) else pa.scalar(int(rule.hi))
        hi = _mask_if_any(pc.greater(a, big))
    return lo, hi


def _bad_names(a: pa.Array, pattern: str) -> np.ndarray | None:
    """Mask of the values of a text column that do not match ``pattern`` (checked once per
    distinct value); None when all match."""
    if len(a) == 0:
        return None
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if pa.types.is_dictionary(a.type):
        uniq = a.dictionary
        ok = _as_np_bool(pc.match_substring_regex(uniq, pattern))
        if ok.all():
            return None
        idx = pc.fill_null(a.indices, 0).to_numpy(zero_copy_only=False)
        return ~ok[idx] & a.is_valid().to_numpy(zero_copy_only=False)
    uniq = pc.unique(a)
    ok = _as_np_bool(pc.match_substring_regex(uniq, pattern))
    if ok[uniq.is_valid().to_numpy(zero_copy_only=False)].all():
        return None
    bad_vals = uniq.filter(pa.array(~ok))
    return _as_np_bool(pc.is_in(a, value_set=bad_vals)) & a.is_valid().to_numpy(
        zero_copy_only=False
    )


def not_a_session(days: np.ndarray) -> np.ndarray:
    """Mask of day numbers (days since 1970-01-01) that are not XNYS sessions inside the
    trading calendar (weekends, holidays, 1900, 2300...)."""
    from chainlens import calendar as _cal

    sess = _cal._cal().days
    lo_cal = (np.datetime64(_cal.CALENDAR_START, "D") - np.datetime64(0, "D")).astype(np.int64)
    hi_cal = (np.datetime64(_cal.CALENDAR_END, "D") - np.datetime64(0, "D")).astype(np.int64)
    d = np.asarray(days, dtype=np.int64)
    if len(d) == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = int(d.min()), int(d.max())
    if lo == hi:  # the usual case: one session per batch
        k = min(int(np.searchsorted(sess, lo)), len(sess) - 1)
        ok = lo_cal <= lo <= hi_cal and bool(sess[k] == lo)
        return np.full(len(d), not ok)
    inside = (d >= lo_cal) & (d <= hi_cal)
    i = np.minimum(np.searchsorted(sess, d), len(sess) - 1)
    return ~(inside & (sess[i] == d))


def _date_days(a: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.cast(a, pa.int32()), 0).to_numpy(zero_copy_only=False)


_EXPIRY_MAX_DAYS = (_rules.EXPIRY_MAX - dt.date(1970, 1, 1)).days


def _basic_problems(kind: str, cols: dict[str, pa.Array], names: dict[str, str]) -> list[Problem]:
    """Rules on single columns, in their fixed order (missing, NaN/inf, the range rules of
    :data:`chainlens.io._rules.RANGE_RULES`, right, settlement, the name rules, the session
    calendar, expiry bounds)."""
    schema = SCHEMAS[kind]
    probs: list[Problem] = []

    def add(mask: np.ndarray | None, col: str, reason: str) -> None:
        if mask is not None and mask.any():
            probs.append(Problem(mask, names.get(col, col), cols.get(col), reason))

    for f in schema:
        if f.name in cols:
            a = cols[f.name]
            if not f.nullable and a.null_count:
                add(a.is_null().to_numpy(zero_copy_only=False), f.name, "missing value")
            add(_num_bad(a), f.name, "NaN or inf")
    for rule in _rules.range_rules_for(kind, cols):
        below, above = _out_of_range(cols[rule.column], rule)
        add(below, rule.column, rule.below)
        add(above, rule.column, rule.above)
    if "right" in cols:
        add(
            _mask_if_any(pc.invert(pc.is_in(cols["right"], value_set=pa.array(["C", "P"])))),
            "right",
            "right must be C or P",
        )
    if "settlement" in cols:
        add(
            _mask_if_any(pc.invert(pc.is_in(cols["settlement"], value_set=pa.array(["AM", "PM"])))),
            "settlement",
            "settlement must be AM or PM",
        )
    for nrule in _rules.NAME_RULES:
        if kind in nrule.kinds and nrule.column in cols:
            add(_bad_names(cols[nrule.column], nrule.pattern), nrule.column, nrule.reason)
    if kind in _rules.SESSION_KINDS and "trade_date" in cols and len(cols["trade_date"]):
        td = cols["trade_date"]
        bad = not_a_session(_date_days(td)) & td.is_valid().to_numpy(zero_copy_only=False)
        add(
            bad if bad.any() else None,
            "trade_date",
            "trade date is not an exchange session (weekend, holiday, or outside 2000-2035)",
        )
    if "expiry" in cols and "trade_date" in cols:
        add(
            _mask_if_any(pc.less(cols["expiry"], cols["trade_date"])),
            "expiry",
            "expiry before the session",
        )
    if "expiry" in cols and len(cols["expiry"]):
        ex = _date_days(cols["expiry"])
        late = ex > _EXPIRY_MAX_DAYS
        add(
            late if late.any() else None,
            "expiry",
            f"expiry after {_rules.EXPIRY_MAX} (beyond the trading calendar)",
        )
    return probs


def _osi_problems(cols: dict[str, pa.Array], names: dict[str, str], n: int) -> list[Problem]:
    """The symbol must match the root, expiry, right and strike columns (OCC OSI)."""
    probs: list[Problem] = []
    if "symbol" not in cols or not {"root", "expiry", "right", "strike"} <= cols.keys():
        return probs
    sym_name = names.get("symbol", "symbol")

    def add(mask: np.ndarray, reason: str) -> None:
        if mask.any():
            probs.append(Problem(mask, sym_name, cols["symbol"], reason))

    fast = _fast_osi_mismatch(cols)
    if fast is not None:
        for c in ("root", "expiry", "right", "strike"):
            add(fast[c], f"symbol does not match the {c} column")
        return probs
    osi = parse_osi(cols["symbol"])
    bad_sym = ~osi["valid"].to_numpy(zero_copy_only=False)
    if bad_sym.any():
        why = (
            osi["reason"].combine_chunks()
            if "reason" in osi.column_names
            else pa.nulls(n, pa.string())
        )
        why = pc.binary_join_element_wise(
            "not an OSI option symbol: ", pc.fill_null(why, "bad shape"), ""
        )
        probs.append(Problem(bad_sym, sym_name, cols["symbol"], why))
    ok = osi["valid"].to_numpy(zero_copy_only=False)
    for c in ("root", "expiry", "right"):
        add(
            _as_np_bool(pc.not_equal(osi[c], cols[c])) & ok, f"symbol does not match the {c} column"
        )
    dk = _as_np_bool(pc.greater(pc.abs(pc.subtract(osi["strike"], cols["strike"])), 5e-4)) & ok
    add(dk, "symbol does not match the strike column")
    return probs


def finalize(
    cand: Candidate,
    sink: RejectSink,
    dups: DuplicateTracker | None,
) -> pa.Table:
    """Apply the shared rules, send rejects to ``sink`` and return the accepted rows.

    Rules, in order (the first broken one is the reason): parse problems of the adapter;
    a required column missing; NaN/inf in a numeric column; negative volume/OI/size; strike
    <= 0; price < 0; right not C/P; settlement not AM/PM; expiry before the session; the
    symbol not matching root/expiry/right/strike; a duplicate contract within one snapshot
    (chain: same snapshot_ts and symbol; the later row is rejected, naming the first row).
    ``crossed`` is computed for chains (bid > ask > 0): such rows are kept and flagged.

    The rule groups are independent, so for batches of ``PARALLEL_MIN_ROWS`` rows or more
    they are computed concurrently on a 2-thread pool; the problems are then applied in the
    fixed rule order above, so rejects (rows, reasons, order) do not depend on the threads.
    """
    schema = SCHEMAS[cand.kind]
    n = len(cand.line)
    cols = cand.columns
    names = cand.source_names
    _rules.check_required_columns(cand.kind, cols, sink.path)
    want_dups = dups is not None and cand.kind == "chain" and n > 0
    if n >= PARALLEL_MIN_ROWS:
        pool = _pool()
        f_osi = pool.submit(_osi_problems, cols, names, n)
        f_hash = (
            pool.submit(DuplicateTracker.hash_keys, cols["snapshot_ts"], cols["symbol"])
            if want_dups
            else None
        )
        basic = _basic_problems(cand.kind, cols, names)
        osi_probs = f_osi.result()
        h = f_hash.result() if f_hash is not None else None
    else:
        basic = _basic_problems(cand.kind, cols, names)
        osi_probs = _osi_problems(cols, names, n)
        h = None
    probs = [*cand.problems, *basic, *osi_probs]

    rejected = np.zeros(n, dtype=bool)
    for p in probs:
        new = p.mask & ~rejected
        if not new.any():
            continue
        idx = np.flatnonzero(new)
        vals = None if p.values is None else pc.take(p.values, pa.array(idx))
        reason = p.reason if isinstance(p.reason, str) else pc.take(p.reason, pa.array(idx))
        sink.add(cand.line[idx], column=p.column, values=vals, reason=reason)
        rejected |= new

    if want_dups:
        assert dups is not None
        if h is None:
            h = dups.hash_keys(cols["snapshot_ts"], cols["symbol"])
        first = dups.check(h, cand.line, ~rejected)
        dup = first >= 0
        if dup.any():
            idx = np.flatnonzero(dup)
            reasons = pc.binary_join_element_wise(
                "duplicate contract in snapshot (first at row ",
                pc.cast(pa.array(first[idx]), pa.string()),
                ")",
                "",
            )
            sink.add(
                cand.line[idx],
                column=names.get("symbol", "symbol"),
                values=pc.take(cols["symbol"], pa.array(idx)),
                reason=reasons,
            )
            rejected |= dup

    any_rejected = bool(rejected.any())
    out_cols = (
        {k: pc.filter(v, pa.array(~rejected)) for k, v in cols.items()}
        if any_rejected
        else dict(cols)
    )
    m = n - int(rejected.sum()) if any_rejected else n
    if cand.kind == "chain":
        bid, ask = out_cols.get("bid"), out_cols.get("ask")
        if bid is not None and ask is not None:
            out_cols["crossed"] = pc.fill_null(
                pc.and_(pc.greater(bid, ask), pc.greater(ask, 0)), False
            )
        else:
            out_cols["crossed"] = pa.array(np.zeros(m, dtype=bool))
    arrays = []
    for f in schema:
        if f.name in out_cols:
            arrays.append(pc.cast(out_cols[f.name], f.type))
        else:
            arrays.append(pa.nulls(m, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def reject_bad_lines(block: CsvBlock, sink: RejectSink, per_line: int = 1) -> int:
    """Send a block's malformed lines to the rejects (``per_line`` rows each); returns rows."""
    if len(block.bad_lines) == 0:
        return 0
    rows = np.repeat(block.bad_lines, per_line)
    reasons = pa.array(
        np.repeat(np.array(block.bad_reasons, dtype=object), per_line).tolist(), pa.string()
    )
    vals = pa.array(
        np.repeat(np.array(block.bad_text, dtype=object), per_line).tolist(), pa.string()
    )
    sink.add(rows, column=None, values=vals, reason=reasons)
    return len(rows)
