"""Expected moves: ATM straddle per expiry, zones, and the 25/15-delta ranges.

* Straddle (seed 004 "Straddle Pricing", SPEC "Expected move"): per expiry, the ATM strike is
  the listed strike nearest spot (ties to the lower); ``straddle_mid = call mid + put mid`` at
  that strike and ``expected_move_pct = straddle_mid / spot · 100``.
* Zones (seed 003 "Expected moves — zone analysis"): ``low = ref - move``, ``mid = ref``,
  ``high = ref + move``; for a price ``P``, ``upside_room_pct = (high - P)/P·100`` and
  ``downside_room_pct = (low - P)/P·100``; status ``at_or_above_ceiling`` (``P >= high``),
  ``upper_half`` (``mid <= P < high``), ``lower_half`` (``low < P < mid``),
  ``at_or_below_floor`` (``P <= low``).
* Delta ranges (seed 004 "Inner/Outer ranges"): the 50% range spans the 25-delta put strike
  to the 25-delta call strike, the 70% range the 15-delta strikes. The X-delta strike of an
  expiry is the listed strike whose delta is nearest ``+X`` (calls) or ``-X`` (puts); ties go
  to the strike nearer spot.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainlens._typing import BoolArray, Float64Array, Int64Array

__all__ = [
    "DeltaStrikes",
    "Straddles",
    "argmin_per_group",
    "atm_straddles",
    "delta_strikes",
    "expected_move_zones",
    "quote_mid",
]


def quote_mid(bid: Float64Array, ask: Float64Array) -> Float64Array:
    """Quote mid ``(bid + ask)/2`` where ``ask > 0`` and ``0 <= bid <= ask``, else NaN.

    A no-bid quote (``0 / ask``) has mid ``ask/2``. A quote with no offer (``ask = 0``), a
    crossed quote or a missing side has no mid (after-hours Cboe files show ``0 / 0``).

    Examples
    --------
    >>> quote_mid(np.array([1.0, 0.0, 0.0, 2.0]), np.array([1.2, 0.1, 0.0, 1.0])).round(3).tolist()
    [1.1, 0.05, nan, nan]
    """
    bid = np.asarray(bid, dtype=np.float64)
    ask = np.asarray(ask, dtype=np.float64)
    ok = np.isfinite(bid) & np.isfinite(ask) & (ask > 0) & (bid >= 0) & (bid <= ask)
    return np.where(ok, 0.5 * (np.where(ok, bid, 0.0) + np.where(ok, ask, 0.0)), np.nan)


def argmin_per_group(
    codes: Int64Array, n_groups: int, *keys: Float64Array, where: BoolArray | None = None
) -> Int64Array:
    """Row index minimising ``keys`` lexicographically (first key most significant) in every
    group, ``-1`` for a group with no eligible row. Vectorized (one lexsort).

    Examples
    --------
    >>> argmin_per_group(np.array([0, 0, 1]), 3, np.array([2.0, 1.0, 5.0])).tolist()
    [1, 2, -1]
    """
    codes = np.asarray(codes, dtype=np.int64)
    rows = np.arange(codes.size) if where is None else np.flatnonzero(where)
    out = np.full(n_groups, -1, dtype=np.int64)
    if rows.size == 0:
        return out
    ks = [np.asarray(k, dtype=np.float64)[rows] for k in keys]
    if all(not np.isnan(k).any() for k in ks):
        return _argmin_no_nan(codes[rows], rows, ks, out)
    sort_keys = tuple(np.asarray(k)[rows] for k in reversed(keys)) + (codes[rows],)
    order = rows[np.lexsort(sort_keys)]
    g = codes[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    out[g[first]] = order[first]
    return out


def _argmin_no_nan(
    g: Int64Array, rows: Int64Array, keys: list[Float64Array], out: Int64Array
) -> Int64Array:
    """:func:`argmin_per_group` of eligible ``rows`` (groups ``g``) whose ``keys`` hold no NaN,
    without a sort: per group the least first key (``np.minimum.at``), then among the rows
    reaching it the least second key, and so on, then the first such row. The lexicographic
    order of ``np.lexsort`` (stable, so equal keys keep the row order) exactly, since without
    NaN the float keys are totally ordered (``-0.0 == 0.0`` ties in both)."""
    cand = np.ones(rows.size, dtype=bool)
    for k in keys:  # a handful of keys
        best = np.full(out.size, np.inf)
        np.minimum.at(best, g[cand], k[cand])
        cand &= k == best[g]
    first = np.full(out.size, np.iinfo(np.int64).max)
    np.minimum.at(first, g[cand], rows[cand])
    hit = first != np.iinfo(np.int64).max
    out[hit] = first[hit]
    return out


class Straddles(NamedTuple):
    """Per expiry group: ATM strike, call mid, put mid, straddle mid (USD) and move in %."""

    atm_strike: Float64Array
    call_mid: Float64Array
    put_mid: Float64Array
    straddle_mid: Float64Array
    expected_move_pct: Float64Array


def atm_straddles(
    codes: Int64Array,
    n_groups: int,
    strike: Float64Array,
    is_call: BoolArray,
    price: Float64Array,
    spot: float | Float64Array,
) -> Straddles:
    """ATM straddle per expiry group (module notes).

    Parameters
    ----------
    codes, n_groups
        Expiry group of every contract (expiration date across roots).
    strike, is_call
        Contract strike (USD) and right.
    price
        Per-contract option price used for the straddle, USD/share (the quote mid from
        :func:`quote_mid`; NaN where none).
    spot
        Underlying price, USD; or one per group (the groups of several snapshots, each
        group's figures those of its snapshot alone).

    Notes
    -----
    Where several roots list the expiry date and the ATM strike (SPX AM and SPXW PM on a
    monthly Friday), each side's price is the mean over the roots that have one.

    Examples
    --------
    >>> s = atm_straddles(np.zeros(4, dtype=np.int64), 1, np.array([95.0, 95, 105, 105]),
    ...                   np.array([True, False, True, False]), np.array([6.0, 1, 1, 6]), 100.0)
    >>> float(s.atm_strike[0]), float(s.straddle_mid[0])
    (95.0, 7.0)
    """
    strike = np.asarray(strike, dtype=np.float64)
    s_g = np.asarray(spot, dtype=np.float64)
    s_row = s_g[codes] if s_g.ndim else s_g
    idx = argmin_per_group(codes, n_groups, np.abs(strike - s_row), strike)
    atm = np.where(idx >= 0, strike[np.maximum(idx, 0)], np.nan)
    at = strike == atm[codes]
    ok = np.isfinite(price)
    sides = []
    for side in (is_call, ~is_call):
        m = at & side & ok
        s = np.bincount(codes, weights=np.where(m, price, 0.0), minlength=n_groups)
        c = np.bincount(codes, weights=m.astype(np.float64), minlength=n_groups)
        sides.append(np.where(c > 0, s / np.where(c > 0, c, 1.0), np.nan))
    straddle = sides[0] + sides[1]
    return Straddles(atm, sides[0], sides[1], straddle, straddle / s_g * 100.0)


def expected_move_zones(
    reference: float, move: float, price: float | None = None
) -> dict[str, Any]:
    """Expected-move zone and where ``price`` sits in it (seed 003; module notes).

    Parameters
    ----------
    reference
        The zone's mid (the spot the move was priced from), USD.
    move
        Expected move in USD (the ATM straddle mid).
    price
        The price to place in the zone (default: ``reference``), USD.

    Examples
    --------
    >>> z = expected_move_zones(6573.0, 209.0, 6783.0)
    >>> z["status"], round(z["upside_room_pct"], 2), round(z["downside_room_pct"], 2)
    ('at_or_above_ceiling', -0.01, -6.18)
    """
    p = reference if price is None else price
    low, high = reference - move, reference + move
    if not (np.isfinite(move) and np.isfinite(p) and p > 0):
        return {
            "low": low,
            "mid": reference,
            "high": high,
            "price": p,
            "upside_room_pct": float("nan"),
            "downside_room_pct": float("nan"),
            "status": None,
        }
    if p >= high:
        status = "at_or_above_ceiling"
    elif p <= low:
        status = "at_or_below_floor"
    elif p >= reference:
        status = "upper_half"
    else:
        status = "lower_half"
    return {
        "low": low,
        "mid": reference,
        "high": high,
        "price": p,
        "upside_room_pct": (high - p) / p * 100.0,
        "downside_room_pct": (low - p) / p * 100.0,
        "status": status,
    }


class DeltaStrikes(NamedTuple):
    """Per expiry group: the 25/15-delta call and put strikes (NaN where none)."""

    call25: Float64Array
    put25: Float64Array
    call15: Float64Array
    put15: Float64Array


def delta_strikes(
    codes: Int64Array,
    n_groups: int,
    strike: Float64Array,
    is_call: BoolArray,
    delta: Float64Array,
    spot: float | Float64Array,
) -> DeltaStrikes:
    """The 25- and 15-delta strikes of every expiry (seed 004; module notes). ``spot``: USD,
    or one per group (the groups of several snapshots, each as alone).

    Examples
    --------
    >>> d = delta_strikes(np.zeros(4, dtype=np.int64), 1, np.array([90.0, 95, 105, 110]),
    ...                   np.array([False, False, True, True]),
    ...                   np.array([-0.14, -0.26, 0.24, 0.16]), 100.0)
    >>> d.put25[0], d.call25[0], d.put15[0], d.call15[0]
    (np.float64(95.0), np.float64(105.0), np.float64(90.0), np.float64(110.0))
    """
    strike = np.asarray(strike, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    ok = np.isfinite(delta)
    s_g = np.asarray(spot, dtype=np.float64)
    dist = np.abs(strike - (s_g[np.asarray(codes, dtype=np.int64)] if s_g.ndim else s_g))
    out = []
    for target in (0.25, 0.15):
        for side, sgn in ((is_call, 1.0), (~is_call, -1.0)):
            score = np.abs(np.where(ok, delta, 0.0) - sgn * target)
            idx = argmin_per_group(codes, n_groups, score, dist, where=side & ok)
            out.append(np.where(idx >= 0, strike[np.maximum(idx, 0)], np.nan))
    return DeltaStrikes(call25=out[0], put25=out[1], call15=out[2], put15=out[3])
