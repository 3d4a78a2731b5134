"""Dealer exposures and the gamma profile at the (expiry, strike) and (expiry, spot level)
grain, under the run's dealer model and under ``short_all``, in one segmented pass.

These are the stored results parts ``by_strike_expiry`` and ``profile_by_expiry``
(:data:`chainlens.results.PART_SCHEMAS`, docs/results.md): a view filtered to some expiries
(the dashboard's expiry / DTE filter) sums their rows instead of re-running the analysis.

Formulas: :mod:`chainlens.exposure._exposure` (per contract, ``w`` the dealer's signed
position in contracts, ``m`` the multiplier, ``S`` spot in USD):

.. math::

    \\mathrm{GEX} = w\\,\\Gamma\\,m\\,S^2\\,0.01, \\quad \\mathrm{DEX} = w\\,\\Delta\\,m, \\quad
    \\mathrm{VEX} = w\\,\\mathrm{vanna}\\,m\\,S\\,0.01, \\quad \\mathrm{CEX} = w\\,\\mathrm{charm}\\,m/365

summed per (expiry, strike) group; ``w = +OI`` (calls) / ``-OI`` (puts) under ``classic``,
``w = -OI`` under ``short_all`` (SPEC "Conventions", seed 002). Every exposure is linear in
``w``, so the ``short_all`` columns reuse the classic per-contract greeks.

The gamma profile (:mod:`chainlens.exposure._profile`) is additive over contracts, so per
expiry ``e``: :math:`\\mathrm{GEX}_e(S) = 0.01\\,S\\sum_{i\\in e} c_i\\varphi((\\ln S-a_i)b_i)`;
the sum over every expiry is the stored ``all`` profile.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainlens._typing import BoolArray, Float64Array
from chainlens.conventions import GEX_MOVE_FRACTION
from chainlens.exposure._exposure import (
    ContractExposures,
    Groups,
    group_by,
    group_sum,
    lex_groups,
)

__all__ = ["by_strike_expiry", "by_strike_expiry_many", "profile_by_expiry"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _node_sums(
    g: Groups,
    is_call: BoolArray,
    oi: Float64Array,
    volume: Float64Array,
    ex: ContractExposures,
    ex_short_all: ContractExposures,
) -> dict[str, np.ndarray]:
    """The summed columns of :func:`by_strike_expiry` over the nodes of ``g`` (OI and volume
    per side as int64 contracts; exposures under the run's model and under ``short_all``)."""
    put = ~is_call
    return {
        "call_oi": group_sum(g, oi, is_call).astype(np.int64),
        "put_oi": group_sum(g, oi, put).astype(np.int64),
        "call_volume": group_sum(g, volume, is_call).astype(np.int64),
        "put_volume": group_sum(g, volume, put).astype(np.int64),
        "gex_usd_per_1pct": group_sum(g, ex.gex_usd_per_1pct),
        "call_gex_usd_per_1pct": group_sum(g, ex.gex_usd_per_1pct, is_call),
        "put_gex_usd_per_1pct": group_sum(g, ex.gex_usd_per_1pct, put),
        "dex_shares": group_sum(g, ex.dex_shares),
        "vanna_usd_per_vol_pt": group_sum(g, ex.vanna_usd_per_vol_pt),
        "charm_shares_per_day": group_sum(g, ex.charm_shares_per_day),
        "gex_short_all_usd_per_1pct": group_sum(g, ex_short_all.gex_usd_per_1pct),
        "dex_short_all_shares": group_sum(g, ex_short_all.dex_shares),
        "vanna_short_all_usd_per_vol_pt": group_sum(g, ex_short_all.vanna_usd_per_vol_pt),
        "charm_short_all_shares_per_day": group_sum(g, ex_short_all.charm_shares_per_day),
    }


def by_strike_expiry(
    expiry: np.ndarray,
    K: Float64Array,
    is_call: BoolArray,
    oi: Float64Array,
    volume: Float64Array,
    ex: ContractExposures,
    ex_short_all: ContractExposures,
) -> dict[str, np.ndarray]:
    """Per (expiry, strike): OI, volume and the exposures of both dealer models.

    Parameters
    ----------
    expiry
        Expiry per contract (``datetime64[D]``).
    K
        Strike, USD.
    is_call
        True for calls.
    oi, volume
        Open interest and volume, contracts (NaN already 0).
    ex
        Per-contract exposures under the run's dealer model (``classic`` by default):
        :func:`~chainlens.exposure.contract_exposures`.
    ex_short_all
        The same under ``short_all`` (``w = -OI``).

    Returns
    -------
    dict
        Columns ``expiry`` (datetime64[D]), ``strike``, ``call_oi``, ``put_oi``,
        ``call_volume``, ``put_volume`` (int64 contracts), ``gex_usd_per_1pct``,
        ``call_gex_usd_per_1pct``, ``put_gex_usd_per_1pct``, ``dex_shares``,
        ``vanna_usd_per_vol_pt``, ``charm_shares_per_day`` and ``gex_short_all_usd_per_1pct``,
        ``dex_short_all_shares``, ``vanna_short_all_usd_per_vol_pt``,
        ``charm_short_all_shares_per_day``; rows sorted by expiry, then strike. NaN
        exposures count as 0 (as in ``by_strike``).

    Examples
    --------
    >>> from chainlens.exposure import contract_exposures
    >>> e = np.array(["2024-03-15", "2024-03-15", "2024-03-22"], dtype="datetime64[D]")
    >>> K, c = np.array([100.0, 100.0, 100.0]), np.array([True, False, True])
    >>> oi = np.array([10.0, 4.0, 1.0])
    >>> g = np.array([0.02, 0.02, 0.01])
    >>> ex = contract_exposures(np.where(c, oi, -oi), 100.0, 100.0, g, np.array([.5, -.5, .5]))
    >>> sa = contract_exposures(-oi, 100.0, 100.0, g, np.array([.5, -.5, .5]))
    >>> t = by_strike_expiry(e, K, c, oi, np.zeros(3), ex, sa)
    >>> t["gex_usd_per_1pct"].tolist(), t["gex_short_all_usd_per_1pct"].tolist()
    ([1200.0, 100.0], [-2800.0, -100.0])
    """
    e_days = np.asarray(expiry).astype("datetime64[D]").astype(np.int64)
    ge, gk = group_by(e_days), group_by(np.asarray(K, dtype=np.float64))
    # one integer key per (expiry, strike): dense factorisation, no per-row loop
    g = group_by(ge.codes * np.int64(gk.n) + gk.codes)
    e_code, k_code = np.divmod(g.keys, np.int64(gk.n))
    out: dict[str, np.ndarray] = {
        "expiry": ge.keys[e_code].astype("datetime64[D]"),
        "strike": gk.keys[k_code].astype(np.float64),
        **_node_sums(g, is_call, oi, volume, ex, ex_short_all),
    }
    return out


def profile_by_expiry(
    expiry: np.ndarray,
    a: Float64Array,
    b: Float64Array,
    c: Float64Array,
    levels: Float64Array,
) -> dict[str, Any]:
    """The gamma profile of each expiry: ``GEX_e(S)`` (USD per 1% move) per weight column.

    Parameters
    ----------
    expiry
        Expiry per contract (``datetime64[D]``).
    a, b, c
        The per-contract terms of :func:`~chainlens.exposure.profile_terms`; ``c`` of shape
        ``(n, k)``: one column per dealer model (zero for contracts left out).
    levels
        Spot levels, USD (:func:`~chainlens.exposure.spot_grid`).

    Returns
    -------
    dict
        ``expiries`` (sorted distinct, datetime64[D]) and ``gex`` of shape
        ``(n_expiries, len(levels), k)``; ``gex.sum(axis=0)`` is :func:`gamma_profile`.

    Notes
    -----
    Segmented: contracts sorted by expiry, ``φ`` evaluated for a chunk of contracts at every
    level, weighted, and summed per expiry segment with ``np.add.reduceat``.
    """
    lv = np.asarray(levels, dtype=np.float64)
    x = np.log(lv)
    ge = group_by(np.asarray(expiry).astype("datetime64[D]").astype(np.int64))
    c2 = np.asarray(c, dtype=np.float64).reshape(len(a), -1)
    k = c2.shape[1]
    out = np.zeros((ge.n, lv.size, k))
    order = np.argsort(ge.codes, kind="stable")
    codes, a_s, b_s, c_s = ge.codes[order], a[order], b[order], c2[order]
    chunk = max(1, 2_000_000 // max(1, lv.size))
    for s in range(0, a_s.size, chunk):  # chunks of contracts, vectorized within
        sl = slice(s, s + chunk)
        d = (x[:, None] - a_s[None, sl]) * b_s[None, sl]
        phi = np.exp(-0.5 * d * d)  # (levels, chunk)
        cc = codes[sl]
        starts = np.flatnonzero(np.r_[True, cc[1:] != cc[:-1]])
        for v in range(k):  # one iteration per dealer model
            seg = np.add.reduceat(phi * c_s[sl, v][None, :], starts, axis=1)  # (levels, segs)
            out[cc[starts], :, v] += seg.T
    out *= _INV_SQRT_2PI * (GEX_MOVE_FRACTION * lv)[None, :, None]
    return {"expiries": ge.keys.astype("datetime64[D]"), "gex": out}


def by_strike_expiry_many(
    seg: np.ndarray,
    n_seg: int,
    expiry: np.ndarray,
    K: Float64Array,
    is_call: BoolArray,
    oi: Float64Array,
    volume: Float64Array,
    ex: ContractExposures,
    ex_short_all: ContractExposures,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """:func:`by_strike_expiry` of several snapshots' rows in one pass (``seg``: the snapshot
    of each row, ``0 .. n_seg-1``; strikes must be numbers, no NaN or -0.0).

    Returns the columns over the (snapshot, expiry, strike) nodes in that order and ``at``:
    snapshot ``j``'s rows are ``at[j]:at[j+1]``. Same formulas and units; each node summed
    over its rows in row order (``np.bincount``), so each snapshot's rows equal
    :func:`by_strike_expiry` of its contracts alone.
    """
    s = np.asarray(seg, dtype=np.int64)
    e_days = np.asarray(expiry).astype("datetime64[D]").astype(np.int64)
    k = np.asarray(K, dtype=np.float64)
    order, new, codes = lex_groups(s, e_days, k)
    ss, es, ks = s[order], e_days[order], k[order]
    g = Groups(ks[new], codes)
    out: dict[str, np.ndarray] = {
        "expiry": es[new].astype("datetime64[D]"),
        "strike": ks[new],
        **_node_sums(g, is_call, oi, volume, ex, ex_short_all),
    }
    return out, np.searchsorted(ss[new], np.arange(n_seg + 1))
