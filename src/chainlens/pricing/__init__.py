"""Option pricing: Black–Scholes–Merton price and greeks, implied vol, forwards, time to expiry.

Every kernel has the fixed signature ``(S, K, t, r, q, sigma, is_call)``, broadcasts like a
ufunc and returns raw derivatives (units in each docstring; :data:`VOL_POINT` converts per-1.00
vol figures to per vol point). Importing this package loads neither Numba nor SciPy.
``CHAINLENS_NO_NUMBA``: ``1`` forces the NumPy implementation, ``0`` the compiled Numba path;
unset ("auto"), the compiled path runs for at least ``_bsm.COMPILED_MIN_SIZE`` contracts (its
start-up would cost more than it saves below that); the choice depends on the size only.
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
    use_numba,
    vanna,
    vega,
    vomma,
)
from chainlens.pricing._config import PricingConfig
from chainlens.pricing._forward import FORWARD_PAIRS, FORWARD_SCHEMA, implied_forwards
from chainlens.pricing._iv import (
    IV_ABOVE_MAX,
    IV_BAD_INPUT,
    IV_EXPIRED,
    IV_NO_TIME_VALUE,
    IV_NOT_CONVERGED,
    IV_OK,
    IV_REASONS,
    implied_vol,
)
from chainlens.pricing._time import time_to_expiry

__all__ = [
    "FORWARD_PAIRS",
    "FORWARD_SCHEMA",
    "GREEK_NAMES",
    "IV_ABOVE_MAX",
    "IV_BAD_INPUT",
    "IV_EXPIRED",
    "IV_NOT_CONVERGED",
    "IV_NO_TIME_VALUE",
    "IV_OK",
    "IV_REASONS",
    "VOL_POINT",
    "PricingConfig",
    "charm",
    "delta",
    "gamma",
    "greeks",
    "implied_forwards",
    "implied_vol",
    "price",
    "theta",
    "time_to_expiry",
    "use_numba",
    "vanna",
    "vega",
    "vomma",
]
