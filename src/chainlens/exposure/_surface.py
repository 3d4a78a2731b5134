"""Dealer delta (DX) and dealer gamma (GX) surfaces over spot × time.

Seed 004 ("DX and GX Surfaces", "Charm Profile", "Gamma Profile"): the dealers' aggregate
delta and gamma at hypothetical spots ``S_j`` and future instants ``τ_h`` (hours to today's
close, then the next sessions' closes). Each contract keeps its IV (sticky strike) and carry;
its remaining time is ``t_i - τ_h`` and it drops out once expired. Re-evaluating the greeks at
later ``τ`` is what carries charm (delta decay) and gamma decay into the surface:

.. math::

    DX(S, τ) = \\sum_i w_i m_i\\,\\Delta(S, K_i, t_i - τ, r, q_i, σ_i), \\qquad
    GX(S, τ) = \\sum_i w_i m_i\\,\\Gamma(S, K_i, t_i - τ, r, q_i, σ_i)

``DX`` is in shares, ``GX`` in shares per 1 USD of underlying (BSM greeks from
:mod:`chainlens.pricing`). Futures-equivalent units divide both by
``futures_usd_per_point / 1 USD`` (ES: 50 USD per SPX point, so ES contracts = shares / 50;
``conventions.ES_USD_PER_POINT``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from chainlens._typing import BoolArray, Float64Array

_INV_SQRT_2PI = 0.3989422804014327

__all__ = ["Surfaces", "dealer_surfaces"]


class Surfaces(NamedTuple):
    """``dx_shares[h, j]`` and ``gx_shares_per_usd[h, j]`` at time ``h`` and spot ``j``."""

    spot_levels: Float64Array
    tau_years: Float64Array
    dx_shares: Float64Array
    gx_shares_per_usd: Float64Array


def dealer_surfaces(
    levels: Float64Array,
    tau_years: Float64Array,
    K: Float64Array,
    t: Float64Array,
    r: float,
    q: Float64Array,
    sigma: Float64Array,
    is_call: BoolArray,
    wm: Float64Array,
    *,
    chunk: int = 1_000_000,
) -> Surfaces:
    """DX and GX over ``levels × tau_years`` (module notes).

    Parameters
    ----------
    levels
        Spot levels, USD.
    tau_years
        Time offsets from the snapshot, years (ACT/365), ascending, ``>= 0``.
    K, t, q, sigma, is_call
        Per contract: strike (USD), time to expiry at the snapshot (years), carry (1/yr),
        IV (decimal), right. Contracts without a positive ``t`` or ``sigma`` are left out.
    r
        Rate, 1/yr.
    wm
        Dealer position × multiplier per contract (shares per unit of underlying).
    chunk
        Work size (contracts × levels) per vectorized call.

    Returns
    -------
    Surfaces
    """
    from chainlens.pricing._bsm import ncdf

    levels = np.asarray(levels, dtype=np.float64)
    tau = np.asarray(tau_years, dtype=np.float64)
    ok = surface_rows(K, t, q, sigma, wm)
    K, t, q, sigma, is_call, wm = (np.asarray(a)[ok] for a in (K, t, q, sigma, is_call, wm))
    x = np.log(levels)
    dx = np.zeros((tau.size, levels.size))
    gx = np.zeros((tau.size, levels.size))
    step = max(1, chunk // max(1, levels.size))
    for h, th in enumerate(tau.tolist()):  # a handful of time points
        live = t > th
        if not live.any():
            continue
        a, b, wq, wg = live_terms(K, t, q, sigma, wm, r, th, live)
        # Δ_put = e^{-qτ}(N(d1) - 1): the puts' -w e^{-qτ} is a constant over spot
        put_const = -float(wq[~is_call[live]].sum())
        for s in range(0, a.size, step):  # chunks of contracts, vectorized within
            e = slice(s, s + step)
            d1 = (x[:, None] - a[None, e]) * b[None, e]  # (levels, contracts)
            e1 = np.exp(-0.5 * d1 * d1)
            dx[h] += ncdf(d1, e1) @ wq[e]
            gx[h] += e1 @ wg[e]
        dx[h] += put_const
        gx[h] /= levels
    return Surfaces(levels, tau, dx, gx)


def surface_rows(
    K: np.ndarray, t: np.ndarray, q: np.ndarray, sigma: np.ndarray, wm: np.ndarray
) -> np.ndarray:
    """The contracts :func:`dealer_surfaces` keeps: finite positive time to expiry, IV and
    strike, finite carry, and a finite non-zero dealer position × multiplier."""
    ok = np.isfinite(t) & (t > 0) & np.isfinite(sigma) & (sigma > 0) & np.isfinite(wm) & (wm != 0)
    ok &= np.isfinite(K) & (np.asarray(K) > 0) & np.isfinite(q)
    return np.asarray(ok)


def live_terms(
    K: np.ndarray,
    t: np.ndarray,
    q: np.ndarray,
    sigma: np.ndarray,
    wm: np.ndarray,
    r: float,
    th: float,
    live: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The per-contract terms of the ``live`` contracts ``th`` years after the snapshot
    (sticky strike): :math:`d_1 = (\\ln S - a) b` with :math:`a = \\ln K - (r - q + \\sigma^2/2)\\tau`,
    :math:`b = 1/(\\sigma\\sqrt{\\tau})`, :math:`\\tau = t - t_h`; the delta weight
    :math:`w e^{-q\\tau}` and the gamma weight :math:`w e^{-q\\tau} b / \\sqrt{2\\pi}`
    (:math:`\\Gamma = e^{-q\\tau} n(d_1) b / S`). Returns ``(a, b, wq, wg)``."""
    tl, sl, ql = t[live] - th, sigma[live], q[live]
    b = 1.0 / (sl * np.sqrt(tl))
    a = np.log(K[live]) - (r - ql + 0.5 * sl * sl) * tl
    wq = wm[live] * np.exp(-ql * tl)  # w e^{-qτ}
    wg = wq * b * _INV_SQRT_2PI
    return a, b, wq, wg
