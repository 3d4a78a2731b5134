"""Implied volatility surfaces (SSVI / raw SVI), Black-76 prices and greeks, and quotes.

Surface
-------
Total implied variance ``w(k, T) = sigma_imp(k, T)^2 T`` in log-forward-moneyness
``k = ln(K/F)`` follows the SSVI family of Gatheral & Jacquier (2014), "Arbitrage-free SVI
volatility surfaces", Quantitative Finance 14(1), eq. (4.1):

.. math::  w(k, \\theta_T) = \\tfrac{\\theta_T}{2}\\left(1 + \\rho\\varphi k
           + \\sqrt{(\\varphi k + \\rho)^2 + 1 - \\rho^2}\\right),\\qquad
           \\varphi(\\theta) = \\frac{\\eta}{\\theta^{\\gamma}(1+\\theta)^{1-\\gamma}}

with ``gamma = 1/2`` and ``eta (1 + |rho|) <= 2`` (their Remark 4.4: no butterfly arbitrage),
and the ATM total variance ``theta_T`` non-decreasing in ``T`` (their Theorem 4.1: no calendar
arbitrage). Each slice is a raw SVI smile ``w = a + b(rho (k - m) + sqrt((k - m)^2 + s^2))``
with ``a = theta (1 - rho^2)/2``, ``b = theta phi / 2``, ``m = -rho/phi``,
``s = sqrt(1 - rho^2)/phi`` (:func:`ssvi_to_raw`).

``theta_T = sigma_atm(T)^2 T + E 1[T > t_event]``: a power-law term structure around the
30-day ATM vol, steeper when the regime is stressed (inverted), plus the variance ``E`` of an
earnings move for expiries that settle after the report; the bump vanishes once the report
is past (the IV crush).

Prices
------
Black-76 on the forward ``F`` (Hull, *Options, Futures and Other Derivatives*, ch. 18):
``C = D (F N(d1) - K N(d2))``, ``P = D (K N(-d2) - F N(-d1))``, ``d1 = (-k + w/2)/sqrt(w)``,
``d2 = d1 - sqrt(w)``, ``D = exp(-r T)``. Delta is per unit of spot (``dC/dS``),
gamma per USD of spot.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

__all__ = [
    "ETA_SAFETY",
    "atm_theta",
    "black76",
    "quote",
    "ssvi_to_raw",
    "ssvi_w",
]

SSVI_GAMMA = 0.5
#: eta = ETA_SAFETY * 2 / (1 + |rho|): strictly inside the no-butterfly bound.
ETA_SAFETY = 0.9
_T30 = 30.0 / 365.0


def eta_for(rho: np.ndarray) -> np.ndarray:
    """The SSVI curvature ``eta`` used for skew ``rho`` (inside ``eta (1+|rho|) <= 2``)."""
    return ETA_SAFETY * 2.0 / (1.0 + np.abs(rho))


def atm_theta(
    iv30: np.ndarray, t_years: np.ndarray, term_beta: np.ndarray, event_var: np.ndarray
) -> np.ndarray:
    """ATM total variance ``theta_T = (iv30 (T/T30)^beta)^2 T + event_var``.

    ``T/T30`` is clipped to ``[0.02, 30]`` so the power law stays finite for 0DTE, and
    ``beta > -0.5`` keeps ``theta`` increasing in ``T``. ``event_var`` must already be zero for
    expiries before the event. ``T <= 0`` gives 0.
    """
    t = np.maximum(t_years, 0.0)
    x = np.clip(t / _T30, 0.02, 30.0)
    beta = np.maximum(term_beta, -0.45)
    sig = iv30 * x**beta
    return sig * sig * t + np.where(t > 0, event_var, 0.0)


def ssvi_w(k: np.ndarray, theta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Total implied variance of SSVI at log-moneyness ``k`` (see module notes)."""
    th = np.maximum(theta, 1e-12)
    phi = eta_for(rho) / (th**SSVI_GAMMA * (1.0 + th) ** (1.0 - SSVI_GAMMA))
    pk = phi * k
    return 0.5 * th * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho))


def ssvi_to_raw(theta: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, ...]:
    """Raw SVI ``(a, b, rho, m, s)`` of the SSVI slice ``theta`` (Gatheral & Jacquier, Lemma 3.3)."""
    th = np.maximum(theta, 1e-12)
    phi = eta_for(rho) / (th**SSVI_GAMMA * (1.0 + th) ** (1.0 - SSVI_GAMMA))
    a = 0.5 * th * (1.0 - rho * rho)
    b = 0.5 * th * phi
    m = -rho / phi
    s = np.sqrt(1.0 - rho * rho) / phi
    return a, b, rho, m, s


def black76(
    f: np.ndarray,
    k_strike: np.ndarray,
    t: np.ndarray,
    r: float,
    w: np.ndarray,
    is_call: np.ndarray,
    spot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Price (USD/share), delta (per unit spot) and gamma (1/USD) by Black-76.

    ``w`` is total variance ``sigma^2 T``. Where ``T <= 0`` or ``w <= 0`` the price is the
    undiscounted intrinsic value on the forward, delta the exercise indicator and gamma 0.
    """
    live = (t > 0) & (w > 1e-14)
    sw = np.sqrt(np.where(live, w, 1.0))
    lk = np.log(k_strike / f)
    d1 = (-lk + 0.5 * w) / sw
    d2 = d1 - sw
    disc = np.exp(-r * np.maximum(t, 0.0))
    nd1 = ndtr(d1)
    call = disc * (f * nd1 - k_strike * ndtr(d2))
    put = call - disc * (f - k_strike)  # put-call parity on the forward
    px = np.where(is_call, call, put)
    dfds = f / spot  # dF/dS for a cost-of-carry forward
    dlt = disc * dfds * np.where(is_call, nd1, nd1 - 1.0)
    pdf = np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi)
    gam = disc * dfds * dfds * pdf / (f * sw)
    intrinsic = np.where(is_call, np.maximum(f - k_strike, 0.0), np.maximum(k_strike - f, 0.0))
    itm = np.where(is_call, f > k_strike, f < k_strike)
    px = np.where(live, np.maximum(px, 0.0), intrinsic)
    dlt = np.where(live, dlt, np.where(itm, np.where(is_call, 1.0, -1.0), 0.0))
    gam = np.where(live, gam, 0.0)
    return px, dlt, gam


def black76_price(
    f: np.ndarray, k_strike: np.ndarray, t: np.ndarray, r: float, w: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """Black-76 price only (USD/share); same conventions as :func:`black76`."""
    live = (t > 0) & (w > 1e-14)
    sw = np.sqrt(np.where(live, w, 1.0))
    d1 = (np.log(f / k_strike) + 0.5 * w) / sw
    disc = np.exp(-r * np.maximum(t, 0.0))
    call = disc * (f * ndtr(d1) - k_strike * ndtr(d1 - sw))
    px = np.where(is_call, call, call - disc * (f - k_strike))
    intrinsic = np.maximum(np.where(is_call, f - k_strike, k_strike - f), 0.0)
    return np.where(live, np.maximum(px, 0.0), intrinsic)


def quote(
    theo: np.ndarray, z: np.ndarray, spread_frac: np.ndarray, penny: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NBBO ``(bid, ask, tick)`` around ``theo`` (USD/share).

    Ticks: 0.05 below 3 USD and 0.10 above (0.01 / 0.05 for penny-program names). Half-spread
    ``max(tick, spread_frac * theo * (1 + 0.5 |z| + 0.25 z^2))`` (|z| capped at 6: away from
    the money spreads widen in relative terms, as in the real Cboe files: SPX ~1.9% near the
    money, ~6% over all quoted contracts) with ``z`` the standardised moneyness
    ``k / sqrt(w)``; the bid is rounded down, the ask up, ``bid >= 0``, ``ask >= bid + tick``.
    So ``bid <= theo <= ask`` always.
    """
    tick = np.where(theo < 3.0, np.where(penny, 0.01, 0.05), np.where(penny, 0.05, 0.10))
    az = np.minimum(np.abs(z), 6.0)
    half = np.maximum(tick, spread_frac * theo * (1.0 + 0.5 * az + 0.25 * az * az))
    bid = np.floor((theo - half) / tick + 1e-9) * tick
    bid = np.maximum(bid, 0.0)
    ask = np.ceil((theo + half) / tick - 1e-9) * tick
    ask = np.maximum(ask, bid + tick)
    return np.round(bid, 2), np.round(ask, 2), tick
