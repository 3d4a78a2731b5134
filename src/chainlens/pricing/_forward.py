r"""Implied forward per expiry from put–call parity, and the carry it implies."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from chainlens import conventions
from chainlens.errors import InputError

__all__ = ["FORWARD_PAIRS", "FORWARD_SCHEMA", "implied_forwards"]

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
    # per expiry t for fallbacks: median of the finite t of its contracts
    t_exp = np.full(n_exp, np.nan)
    ok_t = np.isfinite(t)
    order_t = np.lexsort((t, inv))
    order_t = order_t[ok_t[order_t]]
    g_t = inv[order_t]
    starts = np.searchsorted(g_t, np.arange(n_exp), side="left")
    ends = np.searchsorted(g_t, np.arange(n_exp), side="right")
    has = ends > starts
    lo_mid = order_t[np.where(has, (starts + ends - 1) // 2, 0)]
    hi_mid = order_t[np.where(has, (starts + ends) // 2, 0)]
    t_exp[has] = 0.5 * (t[lo_mid[has]] + t[hi_mid[has]])

    # valid two-sided quotes
    valid = np.isfinite(b) & np.isfinite(a) & np.isfinite(K) & ok_t & (b > 0) & (a >= b) & (t > 0)
    idx = np.flatnonzero(valid)
    # pair a put and a call with equal (expiry, t, strike): sort puts before calls
    o = idx[np.lexsort((c[idx], K[idx], t[idx], days[idx]))]
    same = (days[o[:-1]] == days[o[1:]]) & (t[o[:-1]] == t[o[1:]]) & (K[o[:-1]] == K[o[1:]])
    pair = same & ~c[o[:-1]] & c[o[1:]]
    put_i = o[:-1][pair]
    call_i = o[1:][pair]
    mid_c = 0.5 * (b[call_i] + a[call_i])
    mid_p = 0.5 * (b[put_i] + a[put_i])
    tp = t[call_i]
    disc = np.exp(-rate * tp)
    f_k = K[call_i] + (mid_c - mid_p) / disc
    dist = np.abs(mid_c - mid_p)
    g = inv[call_i]
    # nearest n pairs per expiry
    op = np.lexsort((dist, g))
    g_sorted = g[op]
    first = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(op.shape[0]) - first
    keep = op[rank < n_nearest]
    gk = g[keep]
    fk = f_k[keep]
    tk = tp[keep]
    bounds = np.searchsorted(gk, np.arange(n_exp + 1), side="left")  # keep is grouped by g

    forward = np.full(n_exp, np.nan)
    t_out = t_exp.copy()
    n_pairs = np.zeros(n_exp, dtype=np.int32)
    for e in range(n_exp):  # one iteration per expiry (tens), not per contract
        lo, hi = bounds[e], bounds[e + 1]
        if hi <= lo:
            continue
        vals = fk[lo:hi]
        m = np.median(vals)
        mad = 1.4826 * np.median(np.abs(vals - m))
        sel = np.abs(vals - m) <= max(_TRIM_MADS * mad, 1e-12 * abs(m))
        forward[e] = np.median(vals[sel])
        t_out[e] = np.median(tk[lo:hi][sel])
        n_pairs[e] = int(sel.sum())
    parity = n_pairs > 0
    fb = ~parity
    forward[fb] = spot * np.exp((rate - dividend_yield) * t_out[fb])
    with np.errstate(divide="ignore", invalid="ignore"):
        carry = np.where(
            t_out > 0, rate - np.log(forward / spot) / np.where(t_out > 0, t_out, 1.0), np.nan
        )
    carry = np.where(fb & np.isfinite(t_out), dividend_yield, carry)
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
