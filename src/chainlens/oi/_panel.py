"""The OI history as a dense (contract x session) panel on integer keys: the fast core of the OI
history operations (changes, streaks, rolls).

Contracts get an integer key (dictionary index of ``symbol``), sessions an index within their
underlying (0 = oldest); OI and volume are scattered once into ``float64`` matrices of shape
``(contracts, sessions)`` (NaN where the contract is not listed or the value is null). Changes are
column differences, streaks a run-length recurrence along the session axis (a loop over
sessions, vectorised over contracts), and the roll legs are column reads. Cost O(rows), no sort.

Stale repeats
-------------
A session of an underlying is a *stale repeat* when every contract listed in it and in the
previous session has exactly the same OI, the overlap is not empty, and the previous session
traded (positive total volume) or has no volume at all (OI-only OCC history). Real OI never
repeats exactly across a traded session; a repeated vendor file does (the OCC adapter keeps
the last pull of a history file, which repeats the previous session). Stale sessions are dropped
(``OIConfig.drop_stale``) and listed in :attr:`Panel.stale`; an underlying whose volume was zero
everywhere keeps its sessions (an unchanged OI is then genuine).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import InputError
from chainlens.oi import _kernels
from chainlens.oi._encode import arrow_codes, encode_strings

__all__ = ["Panel", "build_panel", "cached_panel", "take_rows"]

_NEEDED = (
    "trade_date",
    "underlying",
    "root",
    "symbol",
    "expiry",
    "strike",
    "right",
    "open_interest",
)
_EPOCH = dt.date(1970, 1, 1)


def _symbol_codes(sym: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    """Contract keys (first-appearance codes of ``symbol``) and each key's first row (None
    when the Arrow fallback ran)."""
    enc = encode_strings(sym)
    if enc is None:
        return arrow_codes(sym)[0], None
    return enc[0], enc[1]


def _underlying_codes(
    und: pa.ChunkedArray,
    cid: np.ndarray,
    first: np.ndarray | None,
    sym: pa.ChunkedArray,
    enc: tuple[np.ndarray, np.ndarray, pa.Array] | None = None,
) -> tuple[np.ndarray, pa.Array, np.ndarray | None]:
    """Row codes of ``underlying`` (first-appearance order, as :func:`arrow_codes`), its
    dictionary and the code per contract key: the code of the contract's first row, checked
    against every row (one compiled pass). Null symbols or underlyings, or a symbol whose rows
    disagree on the underlying, give no per-contract code (None). ``enc``: the result of
    :func:`encode_strings` on ``und`` when already computed."""
    if enc is None:
        enc = encode_strings(und)
    uid, unders = arrow_codes(und) if enc is None else (enc[0], enc[2])
    if sym.null_count or und.null_count:
        return uid, unders, None
    if first is None:
        first = _kernels.first_rows(cid, int(cid.max()) + 1)
    con = uid[first]
    if not _kernels.same_key(uid, cid, con):
        return uid, unders, None
    return uid, unders, con


#: One-entry cache: the last panel built, with the table it was built from (compared by
#: identity, and held, so an id is never reused) and its settings. ``analyze_oi`` and the
#: scanners call changes, streaks and rolls on the same history; they share one panel.
_CACHE: list[tuple[pa.Table, object, bool, Panel]] = []


def take_rows(data: pa.Table | pa.ChunkedArray, rows: np.ndarray) -> pa.Table | pa.ChunkedArray:
    """``data.take(rows)`` chunk by chunk (``rows``: int row numbers, any order, repeats allowed).

    Arrow's ``take`` on a many-chunk column first concatenates the chunks (15M strings for a
    10-session history) to gather a few thousand rows; here the rows are grouped by chunk
    (a stable sort of the few requested rows), gathered from each chunk, and put back in the
    requested order. Same result as ``take``."""
    rows = np.asarray(rows, dtype=np.int64)
    chunks = data.to_batches() if isinstance(data, pa.Table) else data.chunks
    if len(chunks) <= 1 or len(rows) == 0:
        return data.take(pa.array(rows, pa.int64()))
    bounds = np.cumsum([0] + [len(c) for c in chunks])
    ascending = bool((rows[1:] >= rows[:-1]).all())  # e.g. from flatnonzero: no reordering
    order = np.arange(len(rows)) if ascending else np.argsort(rows, kind="stable")
    sr = rows if ascending else rows[order]
    if sr[0] < 0 or sr[-1] >= bounds[-1]:
        raise IndexError("row out of range")
    which = np.searchsorted(bounds, sr, side="right") - 1
    cut = np.searchsorted(which, np.arange(len(chunks) + 1))
    parts = [
        chunks[k].take(pa.array(sr[cut[k] : cut[k + 1]] - bounds[k], pa.int64()))
        for k in range(len(chunks))  # a loop over chunks (sessions), not rows
        if cut[k + 1] > cut[k]
    ]
    if isinstance(data, pa.Table):
        gathered: pa.Table | pa.ChunkedArray = pa.Table.from_batches(parts, schema=data.schema)
    else:
        gathered = pa.chunked_array(parts, type=data.type)
    if ascending:
        return gathered
    inverse = np.empty(len(rows), dtype=np.int64)
    inverse[order] = np.arange(len(rows))
    return gathered.take(pa.array(inverse))


#: :func:`chainlens.oi._encode.encode_strings` of a column: codes, first rows, dictionary.
Encoded = tuple[np.ndarray, np.ndarray, pa.Array]


def cached_panel(
    history: pa.Table,
    *,
    as_of: dt.date | None,
    drop_stale: bool,
    codes: tuple[Encoded | None, Encoded | None] | None = None,
) -> Panel:
    """:func:`build_panel`, reusing the previous result for the same table and settings
    (``codes``: as in :func:`build_panel`, used when it builds)."""
    if as_of is not None and history.num_rows:
        last = pc.max(history.column("trade_date")).as_py()
        if last is not None and as_of >= last:
            as_of = None
    for h, a, d, p in _CACHE:
        if h is history and a == as_of and d == drop_stale:
            return p
    p = build_panel(history, as_of=as_of, drop_stale=drop_stale, codes=codes)
    _CACHE[:] = [(history, as_of, drop_stale, p)]
    return p


_FIXED = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32,
    pa.float32(): np.float32, pa.float64(): np.float64, pa.date32(): np.int32,
}  # fmt: skip


def _read_fixed(col: pa.ChunkedArray | pa.Array, out_t: type) -> np.ndarray | None:
    """Fixed-width numeric column converted chunk by chunk from its value buffers into one
    ``out_t`` array (nulls become NaN; None for other types): one pass, no Arrow casts."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    if not chunks or any(c.type not in _FIXED for c in chunks):
        return None
    out: np.ndarray = np.empty(sum(len(c) for c in chunks), out_t)
    at = 0
    for ch in chunks:  # a loop over Arrow chunks
        m = len(ch)
        if m:
            vals = np.frombuffer(ch.buffers()[1], _FIXED[ch.type])[ch.offset : ch.offset + m]
            out[at : at + m] = vals
            if ch.null_count:
                out[at : at + m][ch.is_null().to_numpy(zero_copy_only=False)] = np.nan
        at += m
    return out


_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32)


@dataclass(frozen=True, slots=True)
class _Batch:
    """Numeric columns of one record batch (rows ``base ..``), as the compiled passes read
    them: the Arrow value buffers in place when fixed-width without nulls, else converted."""

    base: int
    day: np.ndarray  # trade_date, days since epoch (integer)
    exp: np.ndarray  # expiry, days since epoch (integer)
    oi: np.ndarray  # open_interest (numeric; NaN for null once converted)
    vol: np.ndarray  # volume (NaN when null or absent)


def _view(arr: pa.Array) -> np.ndarray | None:
    """The values of a fixed-width array without nulls, read in place (None otherwise)."""
    if arr.type not in _FIXED or arr.null_count:
        return None
    return np.frombuffer(arr.buffers()[1], _FIXED[arr.type])[arr.offset : arr.offset + len(arr)]


def _days(arr: pa.Array) -> np.ndarray:
    """Integer or date32 values (days since epoch for dates)."""
    v = _view(arr)
    if v is not None and v.dtype.type in _INTS:
        return v
    got = _read_fixed(arr, np.int64) if not arr.null_count else None
    if got is not None:
        return got
    return np.asarray(arr.cast(pa.int32()).to_numpy(zero_copy_only=False), np.int64)


def _numbers(arr: pa.Array) -> np.ndarray:
    """Numeric values, NaN for nulls (float64 once converted)."""
    v = _view(arr)
    if v is not None:
        return v
    got = _read_fixed(arr, np.float64)
    if got is not None:
        return got
    return np.asarray(
        pc.fill_null(arr.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False), np.float64
    )


def _batches(t: pa.Table) -> list[_Batch]:
    """The table's numeric columns as aligned record batches (zero-copy slices)."""
    has_vol = "volume" in t.column_names
    cols = ["trade_date", "expiry", "open_interest", *(["volume"] if has_vol else [])]
    out = []
    base = 0
    for rb in t.select(cols).to_batches():  # a loop over record batches
        m = rb.num_rows
        if m:
            vol = _numbers(rb.column(3)) if has_vol else np.full(m, np.nan)
            out.append(_Batch(base, _days(rb.column(0)), _days(rb.column(1)),
                              _numbers(rb.column(2)), vol))  # fmt: skip
        base += m
    return out


@dataclass(slots=True)
class Panel:
    """Dense OI history (see the module notes). Row arrays are aligned with :attr:`table`."""

    table: pa.Table  # input rows on or before as_of (all of them, duplicates included)
    cid: np.ndarray  # contract key per row
    uid: np.ndarray  # underlying key per row
    si: np.ndarray  # int32 session index per row, -1 for rows of a dropped (stale) session
    keep: np.ndarray  # row is the retained snapshot of its (contract, session)
    oi: np.ndarray  # (contracts, sessions) float64, NaN = not listed / null
    vol: np.ndarray  # same for volume
    listed: np.ndarray  # (contracts, sessions) bool
    row_at: np.ndarray  # (contracts, sessions) row index (int32 below 2**31 rows), -1 = not listed
    con_uid: np.ndarray  # underlying key per contract
    expiry_day: np.ndarray  # days since epoch per contract
    sess_day: np.ndarray  # (underlyings, sessions) days since epoch, -1 = none
    n_sessions: np.ndarray  # sessions per underlying (after dropping stale ones)
    underlyings: pa.Array
    stale: list[tuple[str, dt.date]] = field(default_factory=list)
    #: matrices derived once and shared by changes, streaks and rolls (see
    #: :func:`changes_matrix`, :func:`streak_matrices`)
    memo: dict[object, object] = field(default_factory=dict)

    def last_row(self) -> np.ndarray:
        """Row index of each contract's latest retained snapshot (-1 if none)."""
        out = np.full(self.row_at.shape[0], -1, np.int64)
        for j in range(self.row_at.shape[1]):  # a loop over sessions
            r = self.row_at[:, j]
            out = np.where(r >= 0, r, out)
        return out

    def date(self, u: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Session dates (``datetime64[D]``) of underlying keys ``u`` at session indices ``j``."""
        return self.sess_day[u, np.clip(j, 0, self.sess_day.shape[1] - 1)].astype("datetime64[D]")


def build_panel(
    history: pa.Table,
    *,
    as_of: dt.date | None = None,
    drop_stale: bool = True,
    codes: tuple[Encoded | None, Encoded | None] | None = None,
) -> Panel:
    """Build the :class:`Panel` of canonical chain snapshots (rows up to ``as_of``).

    ``codes``: :func:`~chainlens.oi._encode.encode_strings` of the ``symbol`` and
    ``underlying`` columns of ``history`` when the caller computed them already (ignored with
    ``as_of``, or where an entry is None: encoded here)."""
    missing = [c for c in _NEEDED if c not in history.column_names]
    if missing:
        raise InputError(
            f"OI history lacks column(s) {missing}", hint="pass canonical chain snapshots"
        )
    t = history
    if as_of is not None:
        t = t.filter(pc.less_equal(t.column("trade_date"), pa.scalar(as_of, pa.date32())))
    n = t.num_rows
    sym_enc, und_enc = codes if codes is not None and t is history else (None, None)
    if sym_enc is not None and len(sym_enc[0]) != n or und_enc is not None and len(und_enc[0]) != n:
        sym_enc = und_enc = None
    cid = np.zeros(0, np.int64)
    first: np.ndarray | None = None
    if sym_enc is not None:
        cid, first = sym_enc[0], sym_enc[1]
    # the symbol encoding (compiled, GIL released) runs on a second thread while this one
    # reads the numeric columns and encodes the underlying
    pool = ThreadPoolExecutor(1) if n and sym_enc is None else None
    fut = pool.submit(_symbol_codes, t.column("symbol")) if pool is not None else None
    try:
        batches = _batches(t) if n else []
        if n and und_enc is None:
            und_enc = encode_strings(t.column("underlying"))
        if fut is not None:
            cid, first = fut.result()
    finally:
        if pool is not None:
            pool.shutdown()
    if n:
        uid, unders, con_uid0 = _underlying_codes(
            t.column("underlying"), cid, first, t.column("symbol"), und_enc
        )
    else:
        cid = uid = np.zeros(0, np.int64)
        con_uid0 = np.zeros(0, np.int64)
        unders = pa.array([], pa.string())
    n_u = len(unders)
    n_c = int(cid.max()) + 1 if n else 0
    dmin = min(int(b.day.min()) for b in batches) if n else 0
    span = max(int(b.day.max()) for b in batches) - dmin + 1 if n else 1
    ud_present = np.zeros((n_u, span), bool)
    exp = np.zeros(n_c, np.int64)
    for b in batches:  # a loop over record batches
        _kernels.mark_rows(uid, b.day, dmin, cid, b.exp, b.base, ud_present, exp)
    if con_uid0 is None:  # rows of one symbol disagree on the underlying: the last row wins
        con_uid = np.zeros(n_c, np.int64)
        con_uid[cid] = uid
    else:
        con_uid = con_uid0.astype(np.int64)
    stale: list[tuple[str, dt.date]] = []
    for _ in range(2):  # build, then rebuild once without the stale sessions
        si_tab = np.cumsum(ud_present, axis=1) - 1
        n_sess = ud_present.sum(axis=1)
        width = int(n_sess.max()) if n_u else 0
        ud_si = np.where(ud_present, si_tab, -1)
        # one compiled pass over the rows of each batch (scatter), one over the cells
        # row numbers as int32 while they fit: half the memory traffic of the column-wise
        # scatter, and half the fresh pages
        row_t = np.int32 if n < 2**31 else np.int64
        si = _kernels.empty(n, np.int32)
        row_at = _kernels.filled((n_c, max(width, 1)), -1, row_t)
        oi = _kernels.filled((n_c, max(width, 1)), np.nan, np.float64)
        vol = _kernels.filled((n_c, max(width, 1)), np.nan, np.float64)
        for b in batches:  # a loop over record batches
            _kernels.scatter(cid, uid, b.day, dmin, ud_si, b.base, b.oi, b.vol, si, row_at, oi,
                             vol)  # fmt: skip
        keep = np.zeros(n, bool)
        listed = _kernels.listed_cells(row_at, keep)
        sess_day = np.full((n_u, max(width, 1)), -1, np.int64)
        uu, dk = np.nonzero(ud_present)
        sess_day[uu, si_tab[uu, dk]] = dk + dmin
        # The stale-session check needs one underlying per contract: where a symbol's rows
        # disagree on it (hand-built input; the adapters derive it from the root) it is skipped
        # rather than indexing sessions of the wrong underlying.
        if not drop_stale or width < 2 or stale or con_uid0 is None:
            break
        found = False
        diff_s, both_s, vol_s, known_s = _kernels.stale_stats(listed, oi, vol, con_uid, n_u)
        for j in range(1, width):  # a loop over sessions
            diff_u, both_u, vol_u, known_u = diff_s[j], both_s[j], vol_s[j], known_s[j]
            rep = (both_u > 0) & (diff_u == 0) & ((vol_u > 0) | (known_u == 0))
            for u in np.flatnonzero(rep).tolist():  # a loop over stale (underlying, session)s
                d = int(sess_day[u, j])
                ud_present[u, d - dmin] = False
                stale.append((str(unders[u].as_py()), _EPOCH + dt.timedelta(days=d)))
                found = True
        if not found:
            break
    return Panel(
        table=t,
        cid=cid,
        uid=uid,
        si=si,
        keep=keep,
        oi=oi,
        vol=vol,
        listed=listed,
        row_at=row_at,
        con_uid=con_uid,
        expiry_day=exp,
        sess_day=sess_day,
        n_sessions=n_sess,
        underlyings=unders,
        stale=sorted(stale),
    )


def changes_matrix(p: Panel) -> np.ndarray:
    """``OI(j+1) - OI(j)`` per contract and session (NaN where either is missing); computed
    once per panel (read-only)."""
    got = p.memo.get("changes")
    if isinstance(got, np.ndarray):
        return got
    ch = _kernels.filled(p.oi.shape, np.nan, np.float64)
    if p.oi.shape[1] > 1:
        np.subtract(p.oi[:, 1:], p.oi[:, :-1], out=ch[:, :-1])
    ch.flags.writeable = False
    p.memo["changes"] = ch
    return ch


def streak_matrices(
    p: Panel, ch: np.ndarray, min_contracts: float, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``growing`` (:math:`\\Delta OI > \\max(a, f \\cdot OI)`), ``streak`` (run length ending
    at each session) and ``streak_change`` (sum of :math:`\\Delta OI` over the run); one compiled
    pass over contracts, shared between accumulation and rolls for the panel's own changes."""
    key = ("streaks", float(min_contracts), float(min_fraction))
    own = ch is p.memo.get("changes")
    got = p.memo.get(key) if own else None
    if isinstance(got, tuple):
        return got
    res = _kernels.streak_pass(ch, p.oi, float(min_contracts), float(min_fraction))
    for m in res:
        m.flags.writeable = False
    if own:
        p.memo[key] = res
    return res
