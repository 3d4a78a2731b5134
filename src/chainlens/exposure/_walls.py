"""Call and put walls: by dollar gamma and by open interest.

SPEC "Call wall / put wall" and "oi_call_wall / oi_put_wall"; seed 002 ("High call OI strikes
tend to act as resistance ... high put OI strikes tend to act as support").

* ``call_wall``: the strike at or above spot with the largest call dollar gamma
  ``Σ_calls |Γ|·OI·m·S²·0.01`` (summed over expiries and roots at that strike);
  ``put_wall``: the strike at or below spot with the largest put dollar gamma. Dollar gamma is
  taken without the dealer sign, so the walls do not depend on the dealer model.
* ``oi_call_wall``: the strike at or above spot with the largest call OI; ``oi_put_wall``: the
  strike at or below spot with the largest put OI.

Ties go to the strike nearest spot. A side with no positive value in range has no wall (NaN).
"""

from __future__ import annotations

import numpy as np

from chainlens._typing import Float64Array

__all__ = ["wall_above", "wall_below"]


def wall_above(strikes: Float64Array, values: Float64Array, spot: float) -> float:
    """The strike ``>= spot`` with the largest positive ``value`` (ties: nearest spot).

    Parameters
    ----------
    strikes
        Distinct strikes, ascending (USD).
    values
        A non-negative quantity per strike (call OI, call dollar gamma...).
    spot
        Underlying price (USD).

    Returns
    -------
    float
        The wall strike, or NaN when no strike at or above spot has a positive value.

    Examples
    --------
    >>> wall_above(np.array([90.0, 100.0, 110.0, 120.0]), np.array([9.0, 1.0, 5.0, 5.0]), 95.0)
    110.0
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    m = (np.asarray(strikes) >= spot) & (v > 0)
    if not m.any():
        return float("nan")
    idx = np.flatnonzero(m)
    return float(strikes[idx[np.argmax(v[idx])]])  # argmax: first max = lowest = nearest


def wall_below(strikes: Float64Array, values: Float64Array, spot: float) -> float:
    """The strike ``<= spot`` with the largest positive ``value`` (ties: nearest spot).

    Examples
    --------
    >>> wall_below(np.array([80.0, 90.0, 100.0]), np.array([5.0, 5.0, 1.0]), 95.0)
    90.0
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    m = (np.asarray(strikes) <= spot) & (v > 0)
    if not m.any():
        return float("nan")
    idx = np.flatnonzero(m)[::-1]  # descending strikes: first max = nearest spot
    return float(strikes[idx[np.argmax(v[idx])]])
