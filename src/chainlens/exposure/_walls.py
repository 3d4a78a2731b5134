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

__all__ = ["wall_above", "wall_below", "walls_many"]


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


def walls_many(
    seg: np.ndarray, strikes: Float64Array, values: Float64Array, spots: Float64Array, above: bool
) -> Float64Array:
    """:func:`wall_above` (``above``) or :func:`wall_below` of several snapshots at once.

    Parameters
    ----------
    seg
        The snapshot of every strike node, non-decreasing; each snapshot's ``strikes``
        distinct and ascending (the by-strike groups of a chunk of snapshots).
    strikes, values
        Strike (USD) and the non-negative quantity of every node.
    spots
        Spot of every snapshot (USD); its length is the number of snapshots.

    Returns
    -------
    numpy.ndarray
        Per snapshot the wall strike (NaN where none): among the nodes on the side of spot
        with a positive value, the largest value, ties to the strike nearest spot. The same
        comparisons as the one-snapshot functions (no arithmetic), so the same strike.
    """
    seg = np.asarray(seg, dtype=np.int64)
    k = np.asarray(strikes, dtype=np.float64)
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    s_row = np.asarray(spots, dtype=np.float64)[seg]
    m = ((k >= s_row) if above else (k <= s_row)) & (v > 0)
    n = int(np.asarray(spots).size)
    best = np.full(n, -np.inf)
    np.maximum.at(best, seg[m], v[m])
    hit = m & (v == best[seg])
    pos = np.flatnonzero(hit)
    if above:  # the lowest strike reaching the largest value
        idx = np.full(n, k.size, dtype=np.int64)
        np.minimum.at(idx, seg[pos], pos)
    else:  # the highest one
        idx = np.full(n, -1, dtype=np.int64)
        np.maximum.at(idx, seg[pos], pos)
    ok = (idx >= 0) & (idx < k.size)
    return np.where(ok, k[np.clip(idx, 0, max(k.size - 1, 0))] if k.size else np.nan, np.nan)
