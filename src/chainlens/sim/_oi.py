"""Open interest: the starting positions and their session-by-session evolution.

OI timing follows SPEC "Open-interest timing": the chain of session ``D`` carries the OI at the
end of ``D-1``; ``OI(D+1) = OI(D) + opened(D) - closed(D)`` where every trade of ``D`` is either
opening or closing (its true flag, in the truth files). Hence ``|OI(D+1) - OI(D)| <= volume(D)``
for every contract and session, exactly.

Starting OI (before the first session) is a density in strike, ``OI ~ A_u w_T w_k tilt``
(:func:`initial_oi`): ``w_T`` favours standard monthlies and grows slowly with time to expiry;
``w_k`` an asymmetric Gaussian in standardised moneyness, calls just out of the money and
index puts further out (so dealer gamma is positive at spot with zero gamma a few percent
below, as in the real SPX files); round strikes weigh more; ``tilt`` the put/call OI of the
name (SPX ~1.9, NDX ~1.1, large caps ~1.1: :mod:`chainlens.sim._targets`); times a
log-normal factor per contract. Weights are multiplied by each strike's spacing so the
distribution does not depend on the listing grid.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["assign_open_close", "initial_oi", "stable_argsort", "strike_spacing"]

#: Centre and sd (log-moneyness) of the dip of the put weight of :func:`initial_oi`
#: (``deep_thin``): the real SPX files hold ~0.07 of OI per 5 points of moneyness 10-20% below
#: spot, and ~0.10 0-5% below; the z-Gaussian put tail alone puts 0.17 at 10-15% below, so the
#: roundest deep strike (SPX 4000, QQQ 340) collected the largest OI 13-15% below spot.
DEEP_THIN_CENTRE = -0.16
DEEP_THIN_SD = 0.07


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
    iv: np.ndarray | None = None,
    round_mult: np.ndarray | None = None,
    width: np.ndarray | float = 1.0,
    leaps_w: np.ndarray | float = 0.12,
    put_mu: np.ndarray | float | None = None,
    near_share: np.ndarray | float = 0.0,
    round_bin: np.ndarray | None = None,
    round_w: np.ndarray | None = None,
    tail_sd: np.ndarray | float = 1.0,
    call_sd: np.ndarray | float = 0.8,
    deep_thin: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Starting OI per contract (contracts).

    ``total_oi`` (per contract, the underlying's total), ``group`` the underlying position of
    each contract (to normalise weights per underlying), ``u_noise`` one uniform per contract,
    ``iv`` the contract's ATM vol level (decimal), ``round_mult`` a weight >= 1 for round
    strikes (1 elsewhere), ``width`` a multiplier of the moneyness spread (single names hold
    their OI further from spot than index products), ``leaps_w`` the weight of expiries
    beyond 9 months, ``put_mu`` the centre of the put OI in ``z`` (default -1.3 for index
    products, -0.9 otherwise), ``near_share`` the share of the put weight held in a second,
    near-the-money component (protective puts rolled close to spot, centred ``z = -0.35``,
    sd 0.55 OTM / 0.4 ITM); ``tail_sd`` the sd of the put OI on its out-of-the-money side
    (1.0 by default; index products 1.6-2.0: their real put OI runs 30-40% below spot),
    ``call_sd`` that of the call OI (0.8 by default; the real SPX files hold twice as much
    call OI more than 5% above spot as within 5%); ``deep_thin`` the depth of a dip of the
    put weight between 10 and 20% below spot (:data:`DEEP_THIN_CENTRE`, module notes).
    ``round_bin``/``round_w`` (with ``round_mult``): the strikes of one bin (one expiry and
    right, a window of strikes around a round level) share the bin's mass in proportion to
    ``round_w`` (so the mass of a window does not depend on how densely its strikes are
    listed, and goes mostly to its roundest strike); ``round_mult`` then multiplies.

    Shape (calibrated to the real Cboe files, :mod:`chainlens.sim._targets`): in standardised
    moneyness ``z = ln(K/S) / (iv sqrt(max(T, 1 month)))`` call OI is a Gaussian centred just
    out of the money (``z = +0.15``, sd ``call_sd`` on the OTM side, 0.5 on the ITM side); put
    OI is centred further out (``put_mu``; the simulator's values per product are in
    ``chainlens.sim._market._OI_SHAPE``: SPX -1.15, other index products -0.6, single names
    -0.5; sd ``tail_sd`` OTM, 0.5 ITM), so classic dealer gamma is positive at spot and turns
    negative a few percent below it. Put weights are then scaled so the name's put/call OI
    equals ``pc_tilt``. By expiry: ``w_T = (12 T)^0.25``, x4 for standard monthlies, x0.3 for
    expiries under 2 days, ``leaps_w`` beyond 9 months (LEAPS hold 7-20% of the real OI).
    Per contract: a log-normal factor (sd 0.5, mean 1).
    """
    t = np.maximum(t_years, 1.0 / 12.0)
    w_t = (np.maximum(t_years, 1.0 / 365.0) * 12.0) ** 0.25 * np.where(is_monthly, 4.0, 1.0)
    w_t = np.where(t_years < 2.0 / 365.0, 0.3 * w_t, w_t)
    w_t = np.where(t_years > 0.75, leaps_w * w_t, np.where(t_years > 0.3, 0.7 * w_t, w_t))
    vol = np.full_like(log_m, 0.2) if iv is None else np.maximum(iv, 0.05)
    z = log_m / (vol * np.sqrt(t))
    if put_mu is None:
        put_mu = np.where(is_index_like, -1.3, -0.9)
    mu = np.where(is_put, put_mu, 0.15)
    f_near = np.where(is_put, near_share, 0.0)
    otm = np.where(is_put, z <= mu, z >= mu)
    sd_tail = np.asarray(tail_sd, dtype=np.float64)
    sd = np.where(otm, np.where(is_put, sd_tail, call_sd), 0.5) * width
    # per unit of z (dK/K = vol sqrt(t) dz): each expiry's mass is then set by w_T alone;
    # the near component is scaled to the tail's mass so near_share is a share of put mass
    g_tail = np.exp(-0.5 * ((z - mu) / sd) ** 2)
    mu_n = -0.35
    sd_n = np.where(z <= mu_n, 0.55, 0.4) * width
    g_near = (
        np.exp(-0.5 * ((z - mu_n) / sd_n) ** 2)
        * (np.where(is_put, sd_tail, call_sd) * width + 0.5 * width)
        / (0.95 * width)
    )
    w_k = ((1.0 - f_near) * g_tail + f_near * g_near) / (vol * np.sqrt(t) * width)
    w_k = w_k + 0.01 * np.exp(-np.abs(log_m) / 0.3)
    # thin the put weight 10-20% below spot: the z-Gaussian tail of every expiry piles up
    # there (SPX 0.17 of OI 10-15% below against 0.07 in the real files)
    g_thin = np.exp(-0.5 * ((log_m - DEEP_THIN_CENTRE) / DEEP_THIN_SD) ** 2)
    w_k = w_k * np.where(is_put, 1.0 - np.asarray(deep_thin, dtype=np.float64) * g_thin, 1.0)
    w = w_t * w_k * spacing_rel
    if round_bin is not None and round_w is not None:
        nb = int(round_bin.max()) + 1 if len(round_bin) else 0
        mass = np.bincount(round_bin, weights=w, minlength=nb)
        rsum = np.bincount(round_bin, weights=round_w, minlength=nb)
        w = mass[round_bin] * round_w / np.maximum(rsum[round_bin], 1e-300)
    if round_mult is not None:
        w = w * round_mult
    noise = np.exp(0.5 * ndtri(np.clip(u_noise, 1e-9, 1 - 1e-9)) - 0.125)
    w = w * noise
    ng = int(group.max()) + 1 if len(group) else 0
    wc = np.bincount(group, weights=np.where(is_put, 0.0, w), minlength=ng)
    wp = np.bincount(group, weights=np.where(is_put, w, 0.0), minlength=ng)
    put_scale = pc_tilt * wc[group] / np.maximum(wp[group], 1e-300)
    w = np.where(is_put, w * put_scale, w)
    norm = np.bincount(group, weights=w, minlength=ng)
    oi = total_oi * w / np.maximum(norm[group], 1e-300)
    return np.floor(oi).astype(np.int64)


def stable_argsort(x: np.ndarray) -> np.ndarray:
    """``np.argsort(x, kind="stable")`` of an integer array, by 16-bit radix passes.

    NumPy's stable sort is a radix sort for 16-bit keys and a merge sort (timsort) otherwise;
    trade times (int64 ns) and contract indices sort 2-8x faster as one to three stable
    passes over 16-bit digits of ``x - min(x)`` (least significant first). The permutation is
    the same: a stable sort's is unique.
    """
    x = np.asarray(x)
    if x.size < 4096 or x.dtype.kind not in "iu":
        return np.argsort(x, kind="stable")
    lo = int(x.min())
    span = int(x.max()) - lo
    if span >= 1 << 62:
        return np.argsort(x, kind="stable")
    r = (x - lo).astype(np.uint64) if lo else x.astype(np.uint64, copy=False)
    perm = np.argsort((r & 0xFFFF).astype(np.uint16), kind="stable")
    shift = 16
    while span >> shift:
        digit = ((r[perm] >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.uint16)
        perm = perm[np.argsort(digit, kind="stable")]
        shift += 16
    return perm


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
    order = stable_argsort(cidx)
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
