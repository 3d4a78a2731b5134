"""Option pricing kernels: Black–Scholes–Merton price and greeks (vectorized).

Every kernel has the fixed signature ``(S, K, t, r, q, sigma, is_call)``; see
:mod:`chainlens.pricing._bsm` for units and conventions.
"""

from chainlens.pricing._bsm import (
    GREEK_NAMES,
    VOL_POINT,
    charm,
    delta,
    gamma,
    greeks,
    price,
    theta,
    vanna,
    vega,
    vomma,
)

__all__ = [
    "GREEK_NAMES",
    "VOL_POINT",
    "charm",
    "delta",
    "gamma",
    "greeks",
    "price",
    "theta",
    "vanna",
    "vega",
    "vomma",
]
