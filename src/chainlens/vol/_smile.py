"""Smiles, ATM IV, 25-delta risk reversal and butterfly, skew and ATM term structures.

Seed 004 ("Volatility Curves & Skew"): the call IV and put IV by strike per expiry; skew
compares the IV of equal-delta calls and puts. Per expiry:

.. math::

    \\mathrm{ATM\\,IV} = \\tfrac12(\\sigma_{C}(K_{ATM}) + \\sigma_{P}(K_{ATM})), \\quad
    \\mathrm{RR}_{25} = \\sigma_{25\\Delta C} - \\sigma_{25\\Delta P}, \\quad
    \\mathrm{BF}_{25} = \\tfrac12(\\sigma_{25\\Delta C} + \\sigma_{25\\Delta P}) - \\mathrm{ATM\\,IV}

with the ATM strike and the 25-delta strikes of :mod:`chainlens.vol._expected_move`. IVs are
decimals per sqrt(year) (0.20 = 20 vol points). Where a side has no IV at the strike (or several
roots list it), the available IVs are averaged; a missing side leaves the figure NaN.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from chainlens._typing import BoolArray, Float64Array, Int64Array
from chainlens.exposure._exposure import lex_groups

__all__ = ["iv_at_strike", "smile_table", "smile_table_many", "term_structure"]


def iv_at_strike(
    codes: Int64Array,
    n_groups: int,
    strike: Float64Array,
    side: BoolArray,
    sigma: Float64Array,
    target: Float64Array,
) -> Float64Array:
    """Mean IV of the ``side`` contracts at strike ``target[g]`` in each group (NaN if none).

    Examples
    --------
    >>> iv_at_strike(np.array([0, 0]), 1, np.array([100.0, 100.0]), np.array([True, False]),
    ...              np.array([0.2, 0.3]), np.array([100.0])).tolist()
    [0.2]
    """
    m = side & (strike == np.asarray(target)[codes]) & np.isfinite(sigma) & (sigma > 0)
    s = np.bincount(codes, weights=np.where(m, sigma, 0.0), minlength=n_groups)
    c = np.bincount(codes, weights=m.astype(np.float64), minlength=n_groups)
    return np.where(c > 0, s / np.where(c > 0, c, 1.0), np.nan)


def term_structure(
    codes: Int64Array,
    n_groups: int,
    strike: Float64Array,
    is_call: BoolArray,
    sigma: Float64Array,
    atm_strike: Float64Array,
    call25: Float64Array,
    put25: Float64Array,
) -> dict[str, Float64Array]:
    """ATM IV, 25-delta call/put IV, risk reversal and butterfly per expiry (module notes)."""
    put = ~is_call
    atm_c = iv_at_strike(codes, n_groups, strike, is_call, sigma, atm_strike)
    atm_p = iv_at_strike(codes, n_groups, strike, put, sigma, atm_strike)
    atm_iv = 0.5 * (atm_c + atm_p)
    iv25c = iv_at_strike(codes, n_groups, strike, is_call, sigma, call25)
    iv25p = iv_at_strike(codes, n_groups, strike, put, sigma, put25)
    return {
        "atm_iv": atm_iv,
        "iv_25d_call": iv25c,
        "iv_25d_put": iv25p,
        "rr_25d": iv25c - iv25p,
        "bf_25d": 0.5 * (iv25c + iv25p) - atm_iv,
    }


def _side_ivs(
    inv: np.ndarray, n: int, ok: BoolArray, is_call: BoolArray, sigma: Float64Array
) -> dict[str, pa.Array]:
    """``call_iv`` and ``put_iv`` of the ``n`` nodes (``inv``: each row's node): the mean of
    the side's usable IVs (``ok``) summed in row order (``np.bincount``), null where none."""
    cols = {}
    for name, side in (("call_iv", is_call), ("put_iv", ~is_call)):
        m = ok & side
        sm = np.bincount(inv, weights=np.where(m, sigma, 0.0), minlength=n)
        c = np.bincount(inv, weights=m.astype(np.float64), minlength=n)
        cols[name] = pa.array(
            np.where(c > 0, sm / np.where(c > 0, c, 1.0), np.nan), from_pandas=True
        )
    return cols


def smile_table(
    expiry: np.ndarray, strike: Float64Array, is_call: BoolArray, sigma: Float64Array
) -> pa.Table:
    """The smile of every expiry: one row per (expiry, strike) with ``call_iv`` and ``put_iv``.

    Several roots at one (expiry date, strike) are averaged; a side without a positive IV is
    null. Sorted by expiry then strike.
    """
    ok = np.isfinite(sigma) & (sigma > 0)
    e = np.asarray(expiry).astype("datetime64[D]").astype(np.int64)
    k = np.asarray(strike, dtype=np.float64)
    order, new, inv = lex_groups(e, k)
    es, ks = e[order], k[order]
    nodes = (es[new], ks[new])
    cols = _side_ivs(inv, nodes[0].size, ok, is_call, sigma)
    return pa.table(
        {
            "expiry": pa.array(nodes[0].astype("datetime64[D]"), pa.date32()),
            "strike": nodes[1],
            **cols,
        }
    )


def smile_table_many(
    seg: np.ndarray,
    n_seg: int,
    expiry: np.ndarray,
    strike: Float64Array,
    is_call: BoolArray,
    sigma: Float64Array,
) -> list[pa.Table]:
    """:func:`smile_table` of several snapshots' rows in one pass (``seg``: the snapshot of
    each row, ``0 .. n_seg-1``): the (snapshot, expiry, strike) nodes sorted in that order,
    each node's IVs averaged over its rows in row order (``np.bincount``), so each snapshot's
    slice of the table equals :func:`smile_table` of its rows alone (same formulas, units and
    nulls). Strikes must be numbers (no NaN)."""
    ok = np.isfinite(sigma) & (sigma > 0)
    s = np.asarray(seg, dtype=np.int64)
    e = np.asarray(expiry).astype("datetime64[D]").astype(np.int64)
    k = np.asarray(strike, dtype=np.float64)
    order, new, inv = lex_groups(s, e, k)
    ss, es, ks = s[order], e[order], k[order]
    n = int(new.sum())
    cols = _side_ivs(inv, n, ok, is_call, sigma)
    t = pa.table(
        {
            "expiry": pa.array(es[new].astype("datetime64[D]"), pa.date32()),
            "strike": ks[new],
            **cols,
        }
    )
    at = np.searchsorted(ss[new], np.arange(n_seg + 1))
    return [t.slice(int(at[j]), int(at[j + 1] - at[j])) for j in range(n_seg)]
