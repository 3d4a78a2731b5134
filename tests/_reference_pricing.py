"""Slow scalar BSM reference for tests only: the textbook formulas with the ``math`` module.

Hull 9e ch. 15 and 19 (Table 19.6, dividend yield q); Haug 2007 sec. 2.2 for vanna, charm and
vomma. Written independently of ``chainlens.pricing`` (no shared code or constants); valid for
t > 0, sigma > 0, S > 0, K > 0.
"""

from __future__ import annotations

import math


def N(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def n(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def ref_all(S: float, K: float, t: float, r: float, q: float, sigma: float, call: bool) -> dict:
    """Price and greeks of one European option (units as chainlens.pricing documents)."""
    sq = math.sqrt(t)
    d1 = (math.log(S / K) + (r - q + sigma * sigma / 2.0) * t) / (sigma * sq)
    d2 = d1 - sigma * sq
    eq, er = math.exp(-q * t), math.exp(-r * t)
    if call:
        price = S * eq * N(d1) - K * er * N(d2)
        delta = eq * N(d1)
        theta = -S * eq * n(d1) * sigma / (2 * sq) - r * K * er * N(d2) + q * S * eq * N(d1)
        charm = q * eq * N(d1) - eq * n(d1) * (2 * (r - q) * t - d2 * sigma * sq) / (
            2 * t * sigma * sq
        )
    else:
        price = K * er * N(-d2) - S * eq * N(-d1)
        delta = -eq * N(-d1)
        theta = -S * eq * n(d1) * sigma / (2 * sq) + r * K * er * N(-d2) - q * S * eq * N(-d1)
        charm = -q * eq * N(-d1) - eq * n(d1) * (2 * (r - q) * t - d2 * sigma * sq) / (
            2 * t * sigma * sq
        )
    vega = S * eq * n(d1) * sq
    return {
        "price": price,
        "delta": delta,
        "gamma": eq * n(d1) / (S * sigma * sq),
        "vega": vega,
        "theta": theta,
        "vanna": -eq * n(d1) * d2 / sigma,
        "charm": charm,
        "vomma": vega * d1 * d2 / sigma,
    }
