"""Compiled row passes of the OI panel (Numba, ``cache=True``) with NumPy twins.

Kernels over independent rows or contracts are written with ``prange`` and compiled
serially (:data:`PARALLEL`; the results do not depend on it). Every kernel has a NumPy fallback with the same signature and bit-identical results (tested
in ``tests/test_oi_fastpath.py``); :func:`use_nb` asks the one engine policy
(:func:`chainlens._engine.use_numba`, no size threshold: the panel passes are compiled whenever
Numba is installed, unless ``CHAINLENS_NO_NUMBA=1`` or :func:`chainlens._engine.force`).
The kernels are single passes over rows or contracts: a loop in compiled code, never in Python.
"""

from __future__ import annotations

import numpy as np

from chainlens import _engine

try:  # pragma: no cover - exercised through use_nb()
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


#: Compile the ``prange`` kernels of the OI panel (here and in :mod:`chainlens.oi._pairs`) with
#: ``parallel=True``. Off: the run's pool already puts one process on each core (its workers
#: run one Numba thread), and in a single process the second thread cost more than it gave:
#: ``analyze_oi_many`` over 500 names of the bench market, 1.5-1.8 ms CPU per name with one
#: thread against 2.4-3.0 with two (and a longer wall on a loaded machine), the OpenMP
#: workers spinning at each region's end. The results do not depend on it.
PARALLEL = False


def use_nb() -> bool:
    """The compiled kernels run (:func:`chainlens._engine.use_numba`; tests force either)."""
    return HAVE_NUMBA and _engine.use_numba()


__all__ = [
    "HAVE_NUMBA",
    "use_nb",
    "band_index",
    "band_strings",
    "abs_grouped",
    "first_rows",
    "mark_rows",
    "stale_stats",
    "window_legs",
    "row_columns",
    "cell_columns",
    "same_key",
    "scatter",
    "listed_cells",
    "streak_pass",
]


# ----------------------------------------------------------------------------------------------
# first row of each contract key (codes are assigned in order of first appearance)
# ----------------------------------------------------------------------------------------------
def _first_rows_np(cid: np.ndarray, n_c: int) -> np.ndarray:
    prev_max = np.maximum.accumulate(np.concatenate([[-1], cid[:-1]]).astype(np.int64))
    return np.flatnonzero(cid > prev_max).astype(np.int64)


def first_rows(cid: np.ndarray, n_c: int) -> np.ndarray:
    """Row of each key's first occurrence, for first-appearance codes ``0..n_c-1``."""
    if len(cid) == 0:
        return np.zeros(0, np.int64)
    if use_nb():
        return _first_rows_nb(cid, n_c)
    return _first_rows_np(cid, n_c)


def _int_or_null_np(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    miss = np.isnan(x)
    return np.where(miss, 0.0, x).astype(np.int64), miss


def _band_index_np(x: np.ndarray, lows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i = np.searchsorted(lows, np.nan_to_num(x, nan=-1.0), side="right") - 1
    miss = np.isnan(x) | (i < 0)
    return np.where(miss, 0, i).astype(np.int64), miss


def band_index(x: np.ndarray, lows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the last band whose lower bound (``lows``, ascending) ``x`` reaches, and a
    miss mask (NaN or below the first bound)."""
    if use_nb() and len(x):
        return _band_index_nb(x, lows)
    return _band_index_np(x, lows)


# ----------------------------------------------------------------------------------------------
# every row's key agrees with its contract's key
# ----------------------------------------------------------------------------------------------
def same_key(uid: np.ndarray, cid: np.ndarray, con: np.ndarray) -> bool:
    """True when ``uid[r] == con[cid[r]]`` for every row ``r``."""
    if use_nb() and len(uid):
        return bool(_same_key_nb(uid, cid, con))
    return bool(np.array_equal(uid, con[cid]))


# ----------------------------------------------------------------------------------------------
# per-row marks: sessions present per underlying, expiry per contract (the last row wins)
# ----------------------------------------------------------------------------------------------
def _mark_rows_np(
    uid: np.ndarray, day: np.ndarray, dmin: int, cid: np.ndarray, exp_row: np.ndarray, base: int,
    ud_present: np.ndarray, exp: np.ndarray,
) -> None:  # fmt: skip
    m = len(day)
    ud_present[uid[base : base + m], day.astype(np.int64) - dmin] = True
    exp[cid[base : base + m]] = exp_row


def mark_rows(
    uid: np.ndarray, day: np.ndarray, dmin: int, cid: np.ndarray, exp_row: np.ndarray, base: int,
    ud_present: np.ndarray, exp: np.ndarray,
) -> None:  # fmt: skip
    """For the batch of rows ``base .. base + len(day)`` (``day``, ``exp_row``: the batch's
    values; ``uid``, ``cid``: all rows), in place: ``ud_present[u, day - dmin] = True``
    (underlying x day offset) and ``exp[c]`` = the expiry day of the contract's last row."""
    if use_nb() and len(day):
        _mark_rows_nb(uid, day, dmin, cid, exp_row, base, ud_present, exp)
    else:
        _mark_rows_np(uid, day, dmin, cid, exp_row, base, ud_present, exp)


# ----------------------------------------------------------------------------------------------
# stale-repeat statistics per (session, underlying)
# ----------------------------------------------------------------------------------------------
def _stale_stats_np(
    listed: np.ndarray, oi: np.ndarray, vol: np.ndarray, con_uid: np.ndarray, n_u: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = listed.shape[1]
    diff = np.zeros((w, n_u), np.int64)
    both_n = np.zeros((w, n_u), np.int64)
    vol_s = np.zeros((w, n_u))
    known = np.zeros((w, n_u))
    for j in range(1, w):  # a loop over sessions
        both = listed[:, j] & listed[:, j - 1]
        same = ~(oi[:, j] != oi[:, j - 1])  # NaN == NaN counts as same
        diff[j] = np.bincount(con_uid[both & ~same], minlength=n_u)
        both_n[j] = np.bincount(con_uid[both], minlength=n_u)
        v_prev = np.where(listed[:, j - 1], vol[:, j - 1], np.nan)
        vol_s[j] = np.bincount(con_uid, weights=np.nan_to_num(v_prev), minlength=n_u)
        known[j] = np.bincount(con_uid, weights=np.isfinite(v_prev), minlength=n_u)
    return diff, both_n, vol_s, known


def stale_stats(
    listed: np.ndarray, oi: np.ndarray, vol: np.ndarray, con_uid: np.ndarray, n_u: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per session ``j >= 1`` and underlying: contracts listed in ``j`` and ``j-1`` whose OI
    differs, contracts listed in both, total volume of ``j-1`` and its count of known
    volumes (see :mod:`chainlens.oi._panel`, stale repeats)."""
    if use_nb() and listed.size:
        return _stale_stats_nb(listed, oi, vol, con_uid, n_u)
    return _stale_stats_np(listed, oi, vol, con_uid, n_u)


# ----------------------------------------------------------------------------------------------
# roll window legs
# ----------------------------------------------------------------------------------------------
def _window_legs_np(
    oi: np.ndarray, listed: np.ndarray, c: np.ndarray, e: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s0 = np.maximum(e - window, 0)

    def oi_at(j: np.ndarray) -> np.ndarray:
        jj = np.maximum(j, s0)
        v = oi[c, jj]
        return np.where(listed[c, jj], np.nan_to_num(v), 0.0)

    oi_start = oi_at(s0)
    oi_end = np.nan_to_num(oi[c, e])
    steps = np.empty((window, len(c)))
    for k in range(1, window + 1):  # a loop over the window's sessions, not over contracts
        col_k = e - window + k
        steps[k - 1] = oi_at(col_k) - oi_at(col_k - 1)
    return oi_start, oi_end, steps


def window_legs(
    oi: np.ndarray, listed: np.ndarray, c: np.ndarray, e: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For contracts ``c`` ending at session ``e``: OI at the window's start (0 if not listed),
    OI at its end (0 if null) and the ``window`` session steps (a session before the window's
    start reads as the start; an unlisted one as 0)."""
    if use_nb() and len(c):
        return _window_legs_nb(oi, listed, c, e, window)
    return _window_legs_np(oi, listed, c, e, window)


# ----------------------------------------------------------------------------------------------
# |change| values grouped by underlying (for the per-underlying quantile)
# ----------------------------------------------------------------------------------------------
def _abs_by_group_np(ch: np.ndarray, order: np.ndarray) -> np.ndarray:
    a = np.abs(ch)[order]
    ok = np.isfinite(a) & (a > 0)
    return a[ok]


def abs_grouped(ch: np.ndarray, con_uid: np.ndarray, n_u: int) -> tuple[np.ndarray, np.ndarray]:
    """The finite non-zero :math:`|ch|` grouped by underlying (``con_uid`` per row of ``ch``;
    contracts ascending within a group, sessions ascending within a contract) and the count
    per underlying."""
    if use_nb() and ch.size:
        return _abs_grouped_nb(ch, con_uid, n_u)
    by_u = np.argsort(con_uid, kind="stable")
    with np.errstate(invalid="ignore"):
        per_con = (np.isfinite(ch) & (ch != 0)).sum(axis=1)
    counts = np.bincount(con_uid, weights=per_con, minlength=n_u).astype(np.int64)
    return _abs_by_group_np(ch, by_u), counts


# ----------------------------------------------------------------------------------------------
# panel scatter: session index per row, row of each (contract, session), OI and volume matrices
# ----------------------------------------------------------------------------------------------
def _scatter_np(
    cid: np.ndarray, uid: np.ndarray, day: np.ndarray, dmin: int, ud_si: np.ndarray, base: int,
    oi_v: np.ndarray, vol_v: np.ndarray, si: np.ndarray, row_at: np.ndarray, oi: np.ndarray,
    vol: np.ndarray,
) -> None:  # fmt: skip
    m = len(day)
    s = ud_si[uid[base : base + m], day.astype(np.int64) - dmin]
    si[base : base + m] = s
    r = np.flatnonzero(s >= 0)
    c, j = cid[base + r], s[r]
    # a later row of the same (contract, session) wins: the last write of a fancy assignment
    row_at[c, j] = base + r
    oi[c, j] = oi_v[r]
    vol[c, j] = vol_v[r]


def scatter(
    cid: np.ndarray, uid: np.ndarray, day: np.ndarray, dmin: int, ud_si: np.ndarray, base: int,
    oi_v: np.ndarray, vol_v: np.ndarray, si: np.ndarray, row_at: np.ndarray, oi: np.ndarray,
    vol: np.ndarray,
) -> None:  # fmt: skip
    """For the batch of rows ``base .. base + len(day)``, in place: ``si`` (session index,
    ``ud_si[u, day - dmin]``, -1 for a dropped session), ``row_at`` (row of each contract and
    session; a later row wins), and the OI and volume matrices (``oi_v``, ``vol_v``: the batch's
    values, cast to float64). Cells never written keep their fill (-1, NaN)."""
    if use_nb() and len(day):
        _scatter_nb(cid, uid, day, dmin, ud_si, base, oi_v, vol_v, si, row_at, oi, vol)
    else:
        _scatter_np(cid, uid, day, dmin, ud_si, base, oi_v, vol_v, si, row_at, oi, vol)


#: dtypes the compiled allocators serve (one specialisation each)
_COMPILED_DTYPES = frozenset(
    np.dtype(t) for t in (np.float64, np.int64, np.int32, np.uint64, np.uint8, np.bool_)
)


def filled(shape: tuple[int, ...], value: float, dtype: type) -> np.ndarray:
    """``np.full(shape, value, dtype)``; large ones allocated and written by the compiled code
    (by several threads with :data:`PARALLEL`). The first touch of fresh pages (kernel page
    faults) is a large share of the panel's cost: this skips NumPy's transparent-huge-page
    advice for the allocation, whose synchronous compaction measured several times slower
    than plain pages on the reference VM (0.84 s against 0.07 s for the panel's matrices)."""
    n = int(np.prod(shape))
    dt_ = np.dtype(dtype)
    if not (use_nb() and n >= 1 << 20 and dt_ in _COMPILED_DTYPES):
        return np.full(shape, value, dtype)
    out: np.ndarray = _filled_nb(n, dt_.type(value), np.zeros(1, dt_))
    return out.reshape(shape)


def empty(n: int, dtype: type) -> np.ndarray:
    """``np.empty(n, dtype)``, allocated by the compiled code for large sizes (plain pages, no
    transparent-huge-page advice: see :func:`filled`)."""
    dt_ = np.dtype(dtype)
    if not (use_nb() and n >= 1 << 20 and dt_ in _COMPILED_DTYPES):
        return np.empty(n, dtype)
    out: np.ndarray = _empty_nb(n, np.zeros(1, dt_))
    return out


def listed_cells(row_at: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``listed = row_at >= 0``, and ``keep[r] = True`` for every row held in ``row_at``."""
    if use_nb() and row_at.size:
        return _listed_nb(row_at, keep)
    listed = row_at >= 0
    keep[row_at[listed]] = True
    return listed


# ----------------------------------------------------------------------------------------------
# per-row outputs of oi_changes
# ----------------------------------------------------------------------------------------------
def _trailing_np(vol: np.ndarray, listed: np.ndarray, window: int) -> np.ndarray:
    n_c, w = vol.shape
    out = np.full((n_c, w), np.nan)
    for j in range(1, w):  # a loop over sessions (and back over the window), not contracts
        seen = np.zeros(n_c, np.int64)
        tot = np.zeros(n_c)
        cnt = np.zeros(n_c)
        for k in range(j - 1, -1, -1):
            take = listed[:, k] & (seen < window)
            v = vol[:, k]
            ok = take & np.isfinite(v)
            tot += np.where(ok, v, 0.0)
            cnt += ok
            seen += take
            if not (seen < window).any():
                break
        out[:, j] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    return out


def _row_outputs_np(
    c: np.ndarray, j: np.ndarray, oi: np.ndarray, vol: np.ndarray, listed: np.ndarray, window: int
) -> tuple[np.ndarray, ...]:
    w = oi.shape[1]
    oi_next = np.where(j + 1 < w, oi[c, np.minimum(j + 1, w - 1)], np.nan)
    oi_d = oi[c, j]
    change = oi_next - oi_d
    avg = _trailing_np(vol, listed, window)[c, j]
    v = vol[c, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        vol_oi = np.where(oi_d > 0, v / np.where(oi_d > 0, oi_d, 1.0), np.nan)
        mult = np.where(avg > 0, v / np.where(avg > 0, avg, 1.0), np.nan)
    return oi_next, change, avg, vol_oi, mult


def row_columns(
    c: np.ndarray,
    j: np.ndarray,
    oi: np.ndarray,
    vol: np.ndarray,
    listed: np.ndarray,
    window: int,
    lows: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Per row (contract ``c``, session ``j``), NumPy (the reference of the compiled
    :func:`cell_columns`): ``oi_next`` :math:`OI_{j+1}` and ``change`` :math:`OI_{j+1} - OI_j`
    as int64 with null masks, ``avg`` (mean non-null volume over the contract's previous
    ``window`` listed sessions), ``vol_oi`` :math:`V_j/OI_j` (NaN unless OI > 0), ``mult``
    :math:`V_j/\\overline{V}` (NaN unless the average > 0), and the Vol/OI band index with its
    miss mask (:func:`band_index` over ``lows``)."""
    oi_next, change, avg, vol_oi, mult = _row_outputs_np(c, j, oi, vol, listed, window)
    nx, nx_miss = _int_or_null_np(oi_next)
    chg, chg_miss = _int_or_null_np(change)
    b, b_miss = _band_index_np(vol_oi, lows)
    return nx, nx_miss, chg, chg_miss, avg, vol_oi, mult, b, b_miss


def cell_columns(
    cid: np.ndarray, si: np.ndarray, keep: np.ndarray, row_at: np.ndarray, oi: np.ndarray,
    vol: np.ndarray, listed: np.ndarray, window: int, lows: np.ndarray,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """:func:`row_columns` for every retained row (``keep``), in row order, computed contract by
    contract from the panel's cells (``row_at``) instead of row by row; with null masks of
    ``avg``, ``vol_oi`` and ``mult`` (NaN) appended."""
    if use_nb() and row_at.size and len(keep):
        all_kept = bool(keep.all())
        pos = np.zeros(0, np.int64) if all_kept else np.cumsum(keep) - 1
        return _cell_columns_nb(row_at, oi, vol, listed, window, lows, pos, all_kept,
                                int(keep.sum()))  # fmt: skip
    rows = np.flatnonzero(keep)
    out = row_columns(cid[rows], si[rows], oi, vol, listed, window, lows)
    return (*out, np.isnan(out[4]), np.isnan(out[5]), np.isnan(out[6]))


# ----------------------------------------------------------------------------------------------
# streak recurrence
# ----------------------------------------------------------------------------------------------
def _streak_np(
    ch: np.ndarray, oi: np.ndarray, min_contracts: float, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        grow = ch > np.maximum(min_contracts, min_fraction * oi)
    streak = np.zeros(ch.shape, np.int32)
    total = np.zeros(ch.shape, np.float64)
    prev_s = np.zeros(ch.shape[0], np.int64)
    prev_t = np.zeros(ch.shape[0], np.float64)
    for j in range(ch.shape[1]):  # a loop over sessions, vectorised over contracts
        g = grow[:, j]
        prev_s = np.where(g, prev_s + 1, 0)
        prev_t = np.where(g, prev_t + np.nan_to_num(ch[:, j]), 0.0)
        streak[:, j] = prev_s
        total[:, j] = prev_t
    return grow, streak, total


def streak_pass(
    ch: np.ndarray, oi: np.ndarray, min_contracts: float, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``grow`` :math:`= \\Delta OI > \\max(a, f\\,OI)`, ``streak`` (run length ending at each
    session) and ``total`` (sum of :math:`\\Delta OI` over the run)."""
    if use_nb() and ch.size:
        return _streak_nb(ch, oi, float(min_contracts), float(min_fraction))
    return _streak_np(ch, oi, min_contracts, min_fraction)


# ----------------------------------------------------------------------------------------------
# band keys as an Arrow string array built from buffers
# ----------------------------------------------------------------------------------------------
def _band_bytes_np(
    idx: np.ndarray, miss: np.ndarray, pad: np.ndarray, lens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ln = np.where(miss, 0, lens[idx])
    offsets = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(ln, out=offsets[1:])
    rows = pad[idx]
    keep = np.arange(pad.shape[1])[None, :] < ln[:, None]
    return offsets, rows[keep]


def band_strings(
    idx: np.ndarray, miss: np.ndarray, pad: np.ndarray, lens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64; int32 from the compiled path, whose caller keeps the total below
    2**31) and UTF-8 bytes of ``names[idx]`` (empty where ``miss``); ``pad`` holds
    the names as zero-padded byte rows, ``lens`` their lengths."""
    if use_nb() and len(idx):
        return _band_bytes_nb(idx, miss, pad, lens)
    return _band_bytes_np(idx, miss, pad, lens)


if HAVE_NUMBA:

    @njit(cache=True, nogil=True, parallel=PARALLEL)
    def _filled_nb(n, value, like):  # dtype of the 1-element array ``like``
        out = np.empty(n, like.dtype)
        for i in prange(n):
            out[i] = value
        return out

    @njit(cache=True, nogil=True)
    def _empty_nb(n, like):
        return np.empty(n, like.dtype)

    @njit(cache=True, nogil=True)
    def _mark_rows_nb(uid, day, dmin, cid, exp_row, base, ud_present, exp):
        for r in range(len(day)):
            ud_present[uid[base + r], day[r] - dmin] = True
            exp[cid[base + r]] = exp_row[r]

    @njit(cache=True, nogil=True)
    def _stale_stats_nb(listed, oi, vol, con_uid, n_u):
        n_c, w = listed.shape
        diff = np.zeros((w, n_u), np.int64)
        both_n = np.zeros((w, n_u), np.int64)
        vol_s = np.zeros((w, n_u))
        known = np.zeros((w, n_u))
        big = np.finfo(np.float64).max
        for c in range(n_c):
            u = con_uid[c]
            for j in range(1, w):
                if listed[c, j] and listed[c, j - 1]:
                    both_n[j, u] += 1
                    if oi[c, j] != oi[c, j - 1]:
                        diff[j, u] += 1
                v = vol[c, j - 1] if listed[c, j - 1] else np.nan
                if np.isfinite(v):
                    known[j, u] += 1.0
                    vol_s[j, u] += v
                elif v > 0:
                    vol_s[j, u] += big
                elif v < 0:
                    vol_s[j, u] -= big
        return diff, both_n, vol_s, known

    @njit(cache=True, nogil=True)
    def _oi_or_zero(oi, listed, c, j):
        if not listed[c, j]:
            return 0.0
        v = oi[c, j]
        return 0.0 if np.isnan(v) else v

    @njit(cache=True, nogil=True)
    def _window_legs_nb(oi, listed, c, e, window):
        n = len(c)
        oi_start = np.empty(n)
        oi_end = np.empty(n)
        steps = np.empty((window, n))
        for i in range(n):
            cc, ee = c[i], e[i]
            s0 = max(ee - window, 0)
            oi_start[i] = _oi_or_zero(oi, listed, cc, s0)
            v = oi[cc, ee]
            oi_end[i] = 0.0 if np.isnan(v) else v
            for k in range(1, window + 1):
                col_k = ee - window + k
                a = _oi_or_zero(oi, listed, cc, max(col_k, s0))
                b = _oi_or_zero(oi, listed, cc, max(col_k - 1, s0))
                steps[k - 1, i] = a - b
        return oi_start, oi_end, steps

    @njit(cache=True, nogil=True)
    def _abs_grouped_nb(ch, con_uid, n_u):
        n_c, w = ch.shape
        counts = np.zeros(n_u, np.int64)
        for c in range(n_c):
            for j in range(w):
                a = abs(ch[c, j])
                if np.isfinite(a) and a > 0:
                    counts[con_uid[c]] += 1
        at = np.zeros(n_u, np.int64)
        for u in range(1, n_u):
            at[u] = at[u - 1] + counts[u - 1]
        out = np.empty(at[n_u - 1] + counts[n_u - 1] if n_u else 0)
        for c in range(n_c):
            u = con_uid[c]
            for j in range(w):
                a = abs(ch[c, j])
                if np.isfinite(a) and a > 0:
                    out[at[u]] = a
                    at[u] += 1
        return out, counts

    @njit(cache=True, nogil=True)
    def _first_rows_nb(cid, n_c):
        out = np.empty(n_c, np.int64)
        nxt = 0
        for r in range(len(cid)):
            if cid[r] >= nxt:
                out[nxt] = r
                nxt += 1
        return out

    @njit(cache=True, nogil=True)
    def _band_index_nb(x, lows):
        n = len(x)
        idx = np.zeros(n, np.int64)
        miss = np.empty(n, np.bool_)
        nb = len(lows)
        for r in range(n):
            v = x[r]
            if np.isnan(v):
                miss[r] = True
                continue
            k = -1
            while k + 1 < nb and lows[k + 1] <= v:
                k += 1
            miss[r] = k < 0
            idx[r] = max(k, 0)
        return idx, miss

    @njit(cache=True, nogil=True)
    def _same_key_nb(uid, cid, con):
        bad = 0
        for r in range(len(uid)):
            bad += con[cid[r]] != uid[r]
        return bad == 0

    @njit(cache=True, nogil=True)
    def _scatter_nb(cid, uid, day, dmin, ud_si, base, oi_v, vol_v, si, row_at, oi, vol):
        for r in range(len(day)):
            g = base + r
            s = ud_si[uid[g], day[r] - dmin]
            si[g] = s
            if s >= 0:
                c = cid[g]
                row_at[c, s] = g
                oi[c, s] = oi_v[r]
                vol[c, s] = vol_v[r]

    @njit(cache=True, nogil=True, parallel=PARALLEL)
    def _listed_nb(row_at, keep):
        n_c, w = row_at.shape
        listed = np.empty((n_c, w), np.bool_)
        for c in prange(n_c):  # cells are independent (each row sits in one cell)
            for j in range(w):
                r = row_at[c, j]
                listed[c, j] = r >= 0
                if r >= 0:
                    keep[r] = True
        return listed

    @njit(cache=True, nogil=True, parallel=PARALLEL)
    def _cell_columns_nb(row_at, oi, vol, listed, window, lows, pos, all_kept, n):
        n_c, w = oi.shape
        nx = np.empty(n, np.int64)
        nx_miss = np.empty(n, np.bool_)
        chg = np.empty(n, np.int64)
        chg_miss = np.empty(n, np.bool_)
        avg = np.empty(n)
        vol_oi = np.empty(n)
        mult = np.empty(n)
        b = np.zeros(n, np.int8)  # band index (a handful of bands)
        b_miss = np.empty(n, np.bool_)
        avg_miss = np.empty(n, np.bool_)
        vo_miss = np.empty(n, np.bool_)
        mult_miss = np.empty(n, np.bool_)
        nb = len(lows)
        for c in prange(n_c):  # contracts are independent; each row sits in one cell
            for jj in range(w):
                r = row_at[c, jj]
                if r < 0:
                    continue
                if not all_kept:
                    r = pos[r]
                o = oi[c, jj]
                x = oi[c, jj + 1] if jj + 1 < w else np.nan
                nx_miss[r] = np.isnan(x)
                nx[r] = 0 if np.isnan(x) else np.int64(x)
                d = x - o
                chg_miss[r] = np.isnan(d)
                chg[r] = 0 if np.isnan(d) else np.int64(d)
                seen = 0
                tot = 0.0
                cnt = 0.0
                k = jj - 1
                while k >= 0 and seen < window:
                    if listed[c, k]:
                        v = vol[c, k]
                        if np.isfinite(v):
                            tot += v
                            cnt += 1.0
                        seen += 1
                    k -= 1
                a = tot / max(cnt, 1.0) if cnt > 0 else np.nan
                avg[r] = a
                avg_miss[r] = np.isnan(a)
                v = vol[c, jj]
                vo = v / o if o > 0 else np.nan
                vol_oi[r] = vo
                vo_miss[r] = np.isnan(vo)
                m = v / a if a > 0 else np.nan
                mult[r] = m
                mult_miss[r] = np.isnan(m)
                if np.isnan(vo):
                    b_miss[r] = True
                else:
                    q = -1
                    while q + 1 < nb and lows[q + 1] <= vo:
                        q += 1
                    b_miss[r] = q < 0
                    b[r] = max(q, 0)
        return (nx, nx_miss, chg, chg_miss, avg, vol_oi, mult, b, b_miss, avg_miss, vo_miss,
                mult_miss)  # fmt: skip

    @njit(cache=True, nogil=True, parallel=PARALLEL)
    def _streak_nb(ch, oi, a, f):
        n_c, w = ch.shape
        grow = np.empty((n_c, w), np.bool_)
        streak = np.empty((n_c, w), np.int32)  # run lengths <= sessions
        total = np.empty((n_c, w), np.float64)
        for c in prange(n_c):  # contracts are independent
            s = 0
            t = 0.0
            for j in range(w):
                x = ch[c, j]
                b = f * oi[c, j]
                thr = b if (b > a or b != b) else a  # np.maximum: NaN propagates
                g = x > thr
                grow[c, j] = g
                if g:
                    s += 1
                    t += x
                else:
                    s = 0
                    t = 0.0
                streak[c, j] = s
                total[c, j] = t
        return grow, streak, total

    @njit(cache=True, nogil=True, parallel=PARALLEL)
    def _band_bytes_nb(idx, miss, pad, lens):
        n = len(idx)
        offsets = np.empty(n + 1, np.int32)  # the caller keeps the total below 2**31
        offsets[0] = 0
        for r in range(n):
            offsets[r + 1] = offsets[r] + (0 if miss[r] else lens[idx[r]])
        data = np.empty(offsets[n], np.uint8)
        for r in prange(n):  # disjoint byte ranges
            if not miss[r]:
                b = idx[r]
                o = offsets[r]
                for k in range(lens[b]):
                    data[o + k] = pad[b, k]
        return offsets, data
