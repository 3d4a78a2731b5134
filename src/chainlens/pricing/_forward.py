r"""Implied forward per expiry from put–call parity, and the carry it implies."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from chainlens import conventions
from chainlens.errors import InputError

__all__ = ["FORWARD_PAIRS", "FORWARD_SCHEMA", "forwards_by_group", "implied_forwards"]

#: Pairs nearest the money combined per expiry (median after trimming).
FORWARD_PAIRS = 5
#: A parity forward further than this many scaled MADs from the median is dropped.
_TRIM_MADS = 3.0

FORWARD_SCHEMA = pa.schema(
    [
        pa.field("expiry", pa.date32(), nullable=False),
        pa.field("t_years", pa.float64(), metadata={"unit": "years ACT/365"}),
        pa.field("forward", pa.float64(), metadata={"unit": "USD"}),
        pa.field("carry_q", pa.float64(), metadata={"unit": "1/year, continuous"}),
        pa.field("n_pairs", pa.int32(), nullable=False, metadata={"unit": "count"}),
        pa.field("method", pa.string(), nullable=False, metadata={"unit": "parity|fallback"}),
    ]
)


def _as_days(expiry: Any) -> np.ndarray:
    if isinstance(expiry, pa.ChunkedArray | pa.Array):
        expiry = expiry.cast(pa.date32()).to_numpy(zero_copy_only=False)
    try:
        return np.asarray(expiry).astype("datetime64[D]").astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"expiry is not a date ({exc})", column="expiry") from None


def _f64(x: Any, n: int, name: str) -> np.ndarray:
    if isinstance(x, pa.ChunkedArray | pa.Array):
        x = x.to_numpy(zero_copy_only=False)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise InputError(f"{name} has {a.shape[0]} rows, expiry has {n}", column=name)
    return a


def implied_forwards(
    expiry: Any,
    strike: Any,
    is_call: Any,
    bid: Any,
    ask: Any,
    spot: float,
    t_years: Any,
    rate: float = conventions.DEFAULT_RATE,
    *,
    n_nearest: int = FORWARD_PAIRS,
    dividend_yield: float = conventions.DEFAULT_DIVIDEND_YIELD,
) -> pa.Table:
    r"""Forward price per expiry implied by put–call parity, with its carry.

    Parameters
    ----------
    expiry, strike, is_call, bid, ask, t_years
        One row per contract of ONE underlying snapshot (equal-length arrays or Arrow
        columns; ``t_years`` may be a scalar). Strikes and quotes in USD per share; ``t_years``
        from :func:`chainlens.pricing.time_to_expiry`.
    spot
        Underlying price at the snapshot, USD.
    rate
        Flat continuous risk-free rate per year (the discount :math:`D = e^{-rt}`).
    n_nearest
        Number of pairs nearest the money combined per expiry (default 5).
    dividend_yield
        Carry assumed where no pair exists (method ``"fallback"``).

    Returns
    -------
    pyarrow.Table
        ``expiry`` (date32), ``t_years``, ``forward`` (USD), ``carry_q`` (continuous per
        year), ``n_pairs`` (pairs used), ``method`` (``"parity"`` or ``"fallback"``), one row
        per expiry, sorted by expiry.

    Notes
    -----
    Put–call parity for European options (Hull 9e eq. 11.6/17.3): :math:`C - P = D(F - K)`,
    so each strike with a valid two-sided quote on both the call and the put (bid > 0,
    ask >= bid; mids used) gives :math:`F_K = K + (C - P)/D`. Per expiry, the ``n_nearest``
    pairs with the smallest :math:`|C - P|` (nearest the money, as in the Cboe VIX white
    paper's forward selection) are kept; their median :math:`m` is taken, forwards further
    than :math:`3 \times 1.4826\,\mathrm{MAD}` from it are dropped, and the median of the rest
    is the forward. With no valid pair the forward is :math:`S e^{(r-q)t}` with the default
    ``dividend_yield`` (method ``"fallback"``). The carry is
    :math:`q = r - \ln(F/S)/t` (for indices the dividend yield; for stocks dividends plus
    borrow). ``t_years`` of an expiry is the median over its pairs (SPX AM and SPXW PM
    contracts of one date are a single expiry), or over all its contracts for a fallback.

    Examples
    --------
    >>> import numpy as np
    >>> from chainlens.pricing import price
    >>> K = np.array([90.0, 100.0, 110.0] * 2); c = np.repeat([True, False], 3)
    >>> mid = price(100.0, K, 0.5, 0.05, 0.02, 0.2, c)
    >>> tab = implied_forwards(np.full(6, "2024-06-21"), K, c, mid - 0.01, mid + 0.01,
    ...                        100.0, 0.5, 0.05)
    >>> round(tab["forward"][0].as_py(), 6), round(tab["carry_q"][0].as_py(), 9)
    (101.511306, 0.02)
    """
    days = _as_days(expiry)
    n = days.shape[0]
    K = _f64(strike, n, "strike")
    b = _f64(bid, n, "bid")
    a = _f64(ask, n, "ask")
    t = _f64(t_years, n, "t_years")
    if isinstance(is_call, pa.ChunkedArray | pa.Array):
        is_call = is_call.to_numpy(zero_copy_only=False)
    c = np.broadcast_to(np.asarray(is_call, dtype=bool), (n,))
    if not (np.isfinite(spot) and spot > 0):
        raise InputError("spot must be a positive number", column="spot", value=spot)
    if n_nearest < 1:
        raise InputError("n_nearest must be >= 1", value=n_nearest)

    uniq_days, inv = np.unique(days, return_inverse=True)
    n_exp = uniq_days.shape[0]
    t_out, forward, carry, n_pairs = forwards_by_group(
        inv.reshape(-1), n_exp, K, c, b, a, np.full(n_exp, float(spot)), t, rate,
        n_nearest=n_nearest, dividend_yield=dividend_yield,
    )  # fmt: skip
    parity = n_pairs > 0
    return pa.table(
        {
            "expiry": pa.array(uniq_days.astype("datetime64[D]"), pa.date32()),
            "t_years": pa.array(t_out, pa.float64(), from_pandas=True),
            "forward": pa.array(forward, pa.float64(), from_pandas=True),
            "carry_q": pa.array(carry, pa.float64(), from_pandas=True),
            "n_pairs": pa.array(n_pairs, pa.int32()),
            "method": pa.array(np.where(parity, "parity", "fallback"), pa.string()),
        },
        schema=FORWARD_SCHEMA,
    )


def _lexsort(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` (the last key most significant; stable), without the sort where
    the rows are in key order already (then the stable sort is ``arange``), or in order but
    for a boolean least significant key within runs of at most two rows of equal other keys
    (then the stable sort swaps the (True, False) runs). Comparisons with NaN are False: a
    NaN the more significant keys do not decide leaves the order to ``np.lexsort``."""
    n = len(keys[0])
    if n < 2 or any(np.ndim(k) != 1 or len(k) != n for k in keys):
        return np.lexsort(keys)
    lt = np.zeros(n - 1, dtype=bool)  # pairs decided by a strictly smaller more significant key
    for key in keys[:0:-1]:
        a, b = key[:-1], key[1:]
        if not (lt | (a <= b)).all():
            return np.lexsort(keys)
        lt |= a < b
    minor = keys[0]
    a, b = minor[:-1], minor[1:]
    if (lt | (a <= b)).all():
        return np.arange(n, dtype=np.intp)
    # the rows in order but for a boolean least significant key, in runs of at most two rows
    # of equal other keys (a call and a put at one strike): the stable sort swaps the runs
    # listed (True, False)
    same = ~lt
    if minor.dtype != np.bool_ or bool((same[1:] & same[:-1]).any()):
        return np.lexsort(keys)
    swap = np.flatnonzero(same & a & ~b)
    order = np.arange(n, dtype=np.intp)
    order[swap] = swap + 1
    order[swap + 1] = swap
    return order


def _segment_median(g: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Median of ``v`` per group code ``g`` in ``[0, n)`` (NaN for an empty group).

    The middle value of each sorted group, or the mean of the two middle values
    (``(a + b) / 2``, as :func:`numpy.median`), without a Python loop over groups."""
    out = np.full(n, np.nan)
    if g.size == 0:
        return out
    o = _lexsort((v, g))
    vs = v[o]
    cnt = np.bincount(g, minlength=n)
    start = np.cumsum(cnt) - cnt
    has = cnt > 0
    lo = (start + (cnt - 1) // 2)[has]
    hi = (start + cnt // 2)[has]
    out[has] = (vs[lo] + vs[hi]) / 2
    return out


def forwards_by_group(
    group: np.ndarray,
    n_groups: int,
    K: np.ndarray,
    is_call: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    spot: np.ndarray,
    t: np.ndarray,
    rate: float,
    *,
    n_nearest: int = FORWARD_PAIRS,
    dividend_yield: float = conventions.DEFAULT_DIVIDEND_YIELD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The parity forward of every group of contracts at once (:func:`implied_forwards`).

    Parameters
    ----------
    group
        Group code per contract in ``[0, n_groups)``: the expiry of one underlying snapshot
        (:func:`implied_forwards`), or (underlying, expiry) over a chunk of snapshots.
    n_groups
        Number of groups.
    K, is_call, bid, ask, t
        Per contract, as in :func:`implied_forwards` (USD per share; years ACT/365).
    spot
        Underlying price (USD) per group.
    rate, n_nearest, dividend_yield
        As in :func:`implied_forwards`.

    Returns
    -------
    tuple of ndarray
        Per group: ``t_years`` (years), ``forward`` (USD), ``carry_q`` (continuous per
        year), ``n_pairs`` (int32); the formulas of :func:`implied_forwards` (Notes), each
        group on its own contracts only, pairs ranked in row order on ties.
    """
    n_exp = n_groups
    inv = np.asarray(group, dtype=np.int64)
    c = is_call
    # per group t for fallbacks: median of the finite t of its contracts
    ok_t = np.isfinite(t)
    t_exp = _segment_median(inv[ok_t], t[ok_t], n_exp)

    # valid two-sided quotes
    valid = (
        np.isfinite(bid) & np.isfinite(ask) & np.isfinite(K) & ok_t & (bid > 0) & (ask >= bid)
        & (t > 0)
    )  # fmt: skip
    idx = np.flatnonzero(valid)
    # pair a put and a call with equal (group, t, strike): sort puts before calls
    o = idx[_lexsort((c[idx], K[idx], t[idx], inv[idx]))]
    same = (inv[o[:-1]] == inv[o[1:]]) & (t[o[:-1]] == t[o[1:]]) & (K[o[:-1]] == K[o[1:]])
    pair = same & ~c[o[:-1]] & c[o[1:]]
    put_i = o[:-1][pair]
    call_i = o[1:][pair]
    mid_c = 0.5 * (bid[call_i] + ask[call_i])
    mid_p = 0.5 * (bid[put_i] + ask[put_i])
    tp = t[call_i]
    disc = np.exp(-rate * tp)
    f_k = K[call_i] + (mid_c - mid_p) / disc
    dist = np.abs(mid_c - mid_p)
    g = inv[call_i]
    # nearest n pairs per group
    op = np.lexsort((dist, g))
    g_sorted = g[op]
    first = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(op.shape[0]) - first
    keep = op[rank < n_nearest]
    gk, fk, tk = g[keep], f_k[keep], tp[keep]
    # median, then drop the forwards further than 3 scaled MADs, then the median of the rest
    m = _segment_median(gk, fk, n_exp)
    dev = np.abs(fk - m[gk])
    mad = 1.4826 * _segment_median(gk, dev, n_exp)
    sel = dev <= np.maximum(_TRIM_MADS * mad, 1e-12 * np.abs(m))[gk]
    forward = _segment_median(gk[sel], fk[sel], n_exp)
    t_par = _segment_median(gk[sel], tk[sel], n_exp)
    n_pairs = np.bincount(gk[sel], minlength=n_exp).astype(np.int32)
    parity = n_pairs > 0
    t_out = np.where(parity, t_par, t_exp)
    fb = ~parity
    spot = np.asarray(spot, dtype=np.float64)
    forward[fb] = spot[fb] * np.exp((rate - dividend_yield) * t_out[fb])
    with np.errstate(divide="ignore", invalid="ignore"):
        carry = np.where(
            t_out > 0, rate - np.log(forward / spot) / np.where(t_out > 0, t_out, 1.0), np.nan
        )
    carry = np.where(fb & np.isfinite(t_out), dividend_yield, carry)
    return t_out, forward, carry, n_pairs
