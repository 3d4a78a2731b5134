"""Open interest: the starting positions and their session-by-session evolution.

OI timing follows SPEC "Open-interest timing": the chain of session ``D`` carries the OI at the
end of ``D-1``; ``OI(D+1) = OI(D) + opened(D) - closed(D)`` where every trade of ``D`` is either
opening or closing (its true flag, in the truth files). Hence ``|OI(D+1) - OI(D)| <= volume(D)``
for every contract and session, exactly.

Starting OI (before the first session) is a density in strike, ``OI ~ A_u w_T w_k tilt``:
``w_T`` favours standard monthlies and quarterlies and grows slowly with time to expiry;
``w_k = exp(-|ln(K/S)|/lambda)`` (wider for puts of index products); ``tilt`` the put/call
tilt of the name (SPX ~1.9, the ratio in the real Cboe SPX files; single stocks ~0.8);
times a log-normal factor per contract. Weights are multiplied by each strike's spacing so the
distribution does not depend on the listing grid.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["assign_open_close", "initial_oi", "strike_spacing"]


def strike_spacing(block: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Half the distance between a strike's neighbours in its (expiry, root, right) block.

    Contracts must be sorted by block then strike; the edges use their one neighbour.
    """
    n = len(strike)
    if n == 0:
        return strike.copy()
    same_prev = np.r_[False, block[1:] == block[:-1]]
    same_next = np.r_[block[:-1] == block[1:], False]
    d_prev = np.r_[0.0, np.diff(strike)]
    d_next = np.r_[np.diff(strike), 0.0]
    sp = np.where(same_prev, d_prev, 0.0) + np.where(same_next, d_next, 0.0)
    cnt = same_prev.astype(float) + same_next.astype(float)
    return np.where(cnt > 0, sp / np.maximum(cnt, 1.0), 1.0)


def initial_oi(
    total_oi: np.ndarray,
    t_years: np.ndarray,
    is_monthly: np.ndarray,
    log_m: np.ndarray,
    is_put: np.ndarray,
    is_index_like: np.ndarray,
    pc_tilt: np.ndarray,
    spacing_rel: np.ndarray,
    group: np.ndarray,
    u_noise: np.ndarray,
) -> np.ndarray:
    """Starting OI per contract (contracts).

    ``total_oi`` (per contract, the underlying's total), ``group`` the underlying position of
    each contract (to normalise weights per underlying), ``u_noise`` one uniform per contract.
    """
    w_t = (np.maximum(t_years, 1.0 / 365.0) * 12.0) ** 0.25 * np.where(is_monthly, 5.0, 1.0)
    w_t = np.where(t_years < 2.0 / 365.0, 0.3 * w_t, w_t)
    lam = np.where(is_put, np.where(is_index_like, 0.17, 0.16), np.where(is_index_like, 0.07, 0.13))
    lam = lam * np.clip(np.sqrt(np.maximum(t_years, 0.02) / 0.25), 0.5, 2.0)
    w_k = np.exp(-np.abs(log_m) / lam)
    # the tilt is the target put/call OI ratio: undo the wider put profile's extra mass
    lam_c = np.where(is_index_like, 0.07, 0.13)
    lam_p = np.where(is_index_like, 0.17, 0.16)
    tilt = np.where(is_put, pc_tilt * lam_c / lam_p, 1.0)
    w = w_t * w_k * tilt * spacing_rel
    noise = np.exp(1.0 * ndtri(np.clip(u_noise, 1e-9, 1 - 1e-9)) - 0.5)
    w = w * noise
    norm = np.bincount(group, weights=w)
    oi = total_oi * w / np.maximum(norm[group], 1e-300)
    return np.floor(oi).astype(np.int64)


def assign_open_close(
    cidx: np.ndarray,
    size: np.ndarray,
    want_open: np.ndarray,
    forced: np.ndarray,
    oi_start: np.ndarray,
    reserved: np.ndarray,
) -> np.ndarray:
    """True open/close flag per trade, with closes never exceeding what is open.

    A background trade that wants to close becomes an opening trade once the closes at its
    contract (in trade order) would exceed ``oi_start - reserved`` (``reserved``: contracts of
    planted positions that only their scenario may close). ``forced`` trades (the planted ones)
    keep their flag. Returns ``is_open`` (bool per trade).
    """
    is_open = want_open.copy()
    bg_close = (~is_open) & (~forced)
    order = np.argsort(cidx, kind="stable")
    c_sorted = cidx[order]
    cs = np.where(bg_close[order], size[order], 0)
    cum = np.cumsum(cs)
    first = np.r_[True, c_sorted[1:] != c_sorted[:-1]]
    start_idx = np.flatnonzero(first)
    base = np.repeat(cum[start_idx] - cs[start_idx], np.diff(np.r_[start_idx, len(cidx)]))
    within = cum - base
    cap = np.maximum(oi_start - reserved, 0)[c_sorted]
    flip = bg_close[order] & (within > cap)
    is_open[order[flip]] = True
    return is_open


def oi_after(
    n_contracts: int, cidx: np.ndarray, size: np.ndarray, is_open: np.ndarray, oi_start: np.ndarray
) -> np.ndarray:
    """``OI(D+1) = OI(D) + opened - closed`` per contract."""
    signed = np.where(is_open, size, -size).astype(np.float64)
    d = np.bincount(cidx, weights=signed, minlength=n_contracts)
    return oi_start + np.round(d).astype(np.int64)
