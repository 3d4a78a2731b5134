"""Candidate (decline, rise) pairs of the roll pairing, found and prefiltered in one pass.

For every decline, the rises of the same group (underlying and right) whose strike lies in the
widest pairing band :math:`[K(1 - t) - 10^{-6}, K(1 + t) + 10^{-6}]`, :math:`t = \\max(up,
down)`, are visited in (strike, rise index) order and kept when they can matter for the exact
Polars rules of :func:`chainlens.oi.detect_rolls` (a superset, with margins):

* expiry rule :math:`e_n < e_f`, :math:`E_{min} \\le e_f - e_n \\le E_{max}`; strike rule
  :math:`K(1 - lo) - 10^{-9} \\le K_f \\le K(1 + hi) + 10^{-9}` (``lo = down, hi = up`` for
  calls, mirrored for puts);
* synchrony :math:`m = \\sum_j \\min(\\max(-d^n_j, 0), \\max(d^f_j, 0)) \\ge (\\min(s_{roll},
  s_{veto}) - 10^{-9})\\,|\\Delta_n|`.

A decline with a pair meeting the strike rule exactly and :math:`m \\ge (s_{veto} +
10^{-9})|\\Delta_n|` is vetoed for certain (``sure``); of its pairs only those that may still be a
roll (size, ratio and :math:`s_{roll}` rules, each with a relative margin of 1e-9) are kept.
Output order: declines ascending, then rises by (strike, index). The NumPy twin gives the same
pairs in the same order.
"""

from __future__ import annotations

import numpy as np

from chainlens.oi import _kernels

try:  # pragma: no cover - exercised through _kernels.use_nb()
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

__all__ = ["roll_pairs"]


def _params(
    up: float, down: float, min_days: int, max_days: int, min_sync: float, veto_sync: float,
    min_contracts: float, min_ratio: float, max_ratio: float,
) -> np.ndarray:  # fmt: skip
    return np.array([up, down, min_days, max_days, min_sync, veto_sync, min_contracts,
                     min_ratio, max_ratio], np.float64)  # fmt: skip


def roll_pairs(
    d_grp: np.ndarray, d_strike: np.ndarray, d_exp: np.ndarray, d_call: np.ndarray,
    d_decl: np.ndarray, d_steps: np.ndarray, r_grp: np.ndarray, r_strike: np.ndarray,
    r_exp: np.ndarray, r_change: np.ndarray, r_steps: np.ndarray, *, up: float, down: float,
    min_days: int, max_days: int, min_sync: float, veto_sync: float, min_contracts: float,
    min_ratio: float, max_ratio: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Kept pairs ``(di, ri)`` (int64 row indices of declines and rises) and the declines
    vetoed for certain (bool per decline); see the module notes.

    ``d_*`` per decline: group key, strike, expiry (days), call flag, decline
    :math:`|\\Delta_n|` and the window steps ``(window, n_dec)``; ``r_*`` per rise: group key,
    strike, expiry (days), change :math:`\\Delta_f` and steps ``(window, n_rise)``.
    """
    prm = _params(up, down, min_days, max_days, min_sync, veto_sync, min_contracts, min_ratio,
                  max_ratio)  # fmt: skip
    n_d, n_r = len(d_grp), len(r_grp)
    if n_d == 0 or n_r == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(n_d, bool)
    order = np.lexsort((np.arange(n_r), r_strike, r_grp)).astype(np.int64)
    g_sorted = r_grp[order]
    g0 = np.searchsorted(g_sorted, d_grp, side="left").astype(np.int64)
    g1 = np.searchsorted(g_sorted, d_grp, side="right").astype(np.int64)
    k_sorted = np.ascontiguousarray(r_strike[order], dtype=np.float64)
    args = (
        g0, g1, np.ascontiguousarray(d_strike, np.float64), d_exp.astype(np.int64),
        d_call.astype(np.bool_), np.ascontiguousarray(d_decl, np.float64),
        np.ascontiguousarray(d_steps, np.float64), order, k_sorted, r_exp.astype(np.int64),
        np.ascontiguousarray(r_change, np.float64), np.ascontiguousarray(r_steps, np.float64),
        prm,
    )  # fmt: skip
    if _kernels.use_nb() and HAVE_NUMBA:
        return _roll_pairs_nb(*args)
    return _roll_pairs_np(*args)


def _roll_pairs_np(
    g0: np.ndarray, g1: np.ndarray, d_strike: np.ndarray, d_exp: np.ndarray, d_call: np.ndarray,
    d_decl: np.ndarray, d_steps: np.ndarray, order: np.ndarray, k_sorted: np.ndarray,
    r_exp: np.ndarray, r_change: np.ndarray, r_steps: np.ndarray, prm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    up, down, min_days, max_days, min_sync, veto_sync, a, min_ratio, max_ratio = prm.tolist()
    tol = max(up, down)
    b_lo = np.minimum(d_strike * (1.0 - tol), d_strike * (1.0 + tol)) - 1e-6
    b_hi = np.maximum(d_strike * (1.0 - tol), d_strike * (1.0 + tol)) + 1e-6
    # the band inside each decline's group: searchsorted on the group's sorted strikes
    lo_at = np.empty(len(g0), np.int64)
    hi_at = np.empty(len(g0), np.int64)
    for s in np.unique(g0).tolist():  # a loop over groups (underlying, right), not rows
        m = g0 == s
        seg = k_sorted[s : int(g1[m][0])]
        lo_at[m] = s + np.searchsorted(seg, b_lo[m], side="left")
        hi_at[m] = s + np.searchsorted(seg, b_hi[m], side="right")
    cnt = np.maximum(hi_at - lo_at, 0)
    di = np.repeat(np.arange(len(g0)), cnt)
    pos = np.repeat(lo_at, cnt) + np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ri = order[pos]
    de = r_exp[ri] - d_exp[di]
    k_n, k_f = d_strike[di], k_sorted[pos]
    call = d_call[di]
    lo = np.where(call, down, up)
    hi = np.where(call, up, down)
    k_lo, k_hi = k_n * (1.0 - lo), k_n * (1.0 + hi)
    e_ok = (de > 0) & (de <= max_days) & (de >= min_days)
    m = e_ok & (k_f >= k_lo - 1e-9) & (k_f <= k_hi + 1e-9)
    di, ri = di[m], ri[m]
    k_ok = ((k_f >= k_lo) & (k_f <= k_hi))[m]
    matched = np.zeros(len(di))
    for j in range(d_steps.shape[0]):  # a loop over the window's sessions
        fall = np.maximum(-d_steps[j][di], 0.0)
        gain = np.maximum(r_steps[j][ri], 0.0)
        matched += np.minimum(fall, gain)
    decl = d_decl[di]
    keep = matched >= (min(min_sync, veto_sync) - 1e-9) * decl
    sure_pair = keep & k_ok & (decl > 0) & (matched >= (veto_sync + 1e-9) * decl)
    sure = np.zeros(len(g0), bool)
    sure[di[sure_pair]] = True
    tc = r_change[ri]
    r_lo, r_hi = min_ratio * decl, max_ratio * decl
    s_lo = min_sync * decl
    fail = (
        (tc < a - 1e-9 * (abs(a) + 1.0))
        | (tc < r_lo - 1e-9 * (np.abs(r_lo) + 1.0))
        | (tc > r_hi + 1e-9 * (np.abs(r_hi) + 1.0))
        | (matched < s_lo - 1e-9 * (np.abs(s_lo) + 1.0))
    )
    keep &= ~(fail & sure[di])
    return di[keep].astype(np.int64), ri[keep].astype(np.int64), sure


if HAVE_NUMBA:

    @njit(cache=True, nogil=True, inline="always")
    def _pair_nb(i, q, d_strike, d_exp, d_call, d_decl, d_steps, order, k_sorted, r_exp, r_change,
                 r_steps, prm):  # fmt: skip  # pragma: no cover - compiled
        """(kept by the prefilter, certain veto, certainly not a roll) for decline ``i`` and
        sorted rise ``q``: the rules of :func:`_roll_pairs_np`, element by element."""
        up, down, min_days, max_days = prm[0], prm[1], prm[2], prm[3]
        min_sync, veto_sync, a, min_ratio, max_ratio = prm[4], prm[5], prm[6], prm[7], prm[8]
        r = order[q]
        de = r_exp[r] - d_exp[i]
        k_n, k_f = d_strike[i], k_sorted[q]
        lo = down if d_call[i] else up
        hi = up if d_call[i] else down
        k_lo, k_hi = k_n * (1.0 - lo), k_n * (1.0 + hi)
        if not (de > 0 and de <= max_days and de >= min_days):
            return False, False, False
        if not (k_f >= k_lo - 1e-9 and k_f <= k_hi + 1e-9):
            return False, False, False
        matched = 0.0
        for j in range(d_steps.shape[0]):
            matched += min(max(-d_steps[j, i], 0.0), max(r_steps[j, r], 0.0))
        decl = d_decl[i]
        if not (matched >= (min(min_sync, veto_sync) - 1e-9) * decl):
            return False, False, False
        sure = k_f >= k_lo and k_f <= k_hi and decl > 0 and matched >= (veto_sync + 1e-9) * decl
        tc = r_change[r]
        r_lo, r_hi, s_lo = min_ratio * decl, max_ratio * decl, min_sync * decl
        fail = (
            tc < a - 1e-9 * (abs(a) + 1.0)
            or tc < r_lo - 1e-9 * (abs(r_lo) + 1.0)
            or tc > r_hi + 1e-9 * (abs(r_hi) + 1.0)
            or matched < s_lo - 1e-9 * (abs(s_lo) + 1.0)
        )
        return True, sure, fail

    @njit(cache=True, nogil=True, parallel=_kernels.PARALLEL)
    def _roll_pairs_nb(g0, g1, d_strike, d_exp, d_call, d_decl, d_steps, order, k_sorted, r_exp,
                       r_change, r_steps, prm):  # fmt: skip  # pragma: no cover - compiled
        # Declines are independent (prange; parallel with _kernels.PARALLEL): one pass finds
        # each decline's band (binary search in its group), its certain veto and how many
        # pairs it keeps; a prefix sum places each decline's pairs, and a second pass
        # writes them, in the same order
        # (decline, then sorted rise) as a sequential loop would.
        tol = max(prm[0], prm[1])
        n_d = len(g0)
        lo_at = np.empty(n_d, np.int64)
        hi_at = np.empty(n_d, np.int64)
        sure = np.zeros(n_d, np.bool_)
        count = np.zeros(n_d, np.int64)
        for i in prange(n_d):
            x, y = d_strike[i] * (1.0 - tol), d_strike[i] * (1.0 + tol)
            b_lo, b_hi = min(x, y) - 1e-6, max(x, y) + 1e-6
            s, e = g0[i], g1[i]
            while s < e:  # first strike >= b_lo (NaN strikes sort last)
                mid = (s + e) // 2
                if k_sorted[mid] < b_lo:
                    s = mid + 1
                else:
                    e = mid
            lo = s
            e = g1[i]
            while s < e:  # first strike > b_hi
                mid = (s + e) // 2
                if k_sorted[mid] <= b_hi:
                    s = mid + 1
                else:
                    e = mid
            hi = s
            lo_at[i] = lo
            hi_at[i] = hi
            certain = False
            for q in range(lo, hi):
                if _pair_nb(i, q, d_strike, d_exp, d_call, d_decl, d_steps, order, k_sorted,
                            r_exp, r_change, r_steps, prm)[1]:  # fmt: skip
                    certain = True
                    break
            sure[i] = certain
            c = 0
            for q in range(lo, hi):
                ok, _, fail = _pair_nb(i, q, d_strike, d_exp, d_call, d_decl, d_steps, order,
                                       k_sorted, r_exp, r_change, r_steps, prm)  # fmt: skip
                if ok and not (certain and fail):
                    c += 1
            count[i] = c
        start = np.zeros(n_d + 1, np.int64)
        for i in range(n_d):
            start[i + 1] = start[i] + count[i]
        di = np.empty(start[n_d], np.int64)
        ri = np.empty(start[n_d], np.int64)
        for i in prange(n_d):
            at = start[i]
            for q in range(lo_at[i], hi_at[i]):
                ok, _, fail = _pair_nb(i, q, d_strike, d_exp, d_call, d_decl, d_steps, order,
                                       k_sorted, r_exp, r_change, r_steps, prm)  # fmt: skip
                if ok and not (sure[i] and fail):
                    di[at] = i
                    ri[at] = order[q]
                    at += 1
        return di, ri, sure
