"""Aggressor side of option trades: the quote rule with a mid band, tick test, Lee-Ready, EMO.

Side codes (``int8``): ``+1`` buy, ``-1`` sell, ``0`` mid, ``2`` unknown. The side is the
*customer's* side, i.e. the side of the order that crossed the spread (SPEC "Aggressor side").
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._engine import use_numba
from chainlens._typing import ArrayLike, Float64Array, Int64Array
from chainlens.conventions import SIDE_BUY_THRESHOLD, SIDE_SELL_THRESHOLD

__all__ = [
    "BUY",
    "MID",
    "SELL",
    "SIDE_NAMES",
    "UNKNOWN",
    "classify_side",
    "emo_rule",
    "lee_ready",
    "quote_rule",
    "side_names",
    "tick_test",
]

BUY: int = 1
SELL: int = -1
MID: int = 0
UNKNOWN: int = 2
#: Side names indexed by ``code + 1`` (sell, mid, buy, unknown).
SIDE_NAMES = np.array(["sell", "mid", "buy", "unknown"], dtype=object)

_I8 = np.int8


def side_names(codes: ArrayLike) -> pa.Array:
    """Side codes to their names (``buy``/``sell``/``mid``/``unknown``) as an Arrow string array."""
    c = np.asarray(codes, dtype=np.int64)
    return _SIDE_NAMES_ARROW.take(pa.array(c + 1))


_SIDE_NAMES_ARROW = pa.array(SIDE_NAMES.tolist(), type=pa.string())


def _valid_quote(bid: Float64Array, ask: Float64Array) -> np.ndarray:
    """A usable NBBO: both sides present, ask > 0, bid >= 0 and not crossed (bid <= ask)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(bid) & np.isfinite(ask) & (ask > 0) & (bid >= 0) & (bid <= ask)


def quote_rule(
    price: ArrayLike,
    bid: ArrayLike,
    ask: ArrayLike,
    *,
    buy_threshold: float = SIDE_BUY_THRESHOLD,
    sell_threshold: float = SIDE_SELL_THRESHOLD,
) -> np.ndarray:
    """Quote rule with a mid band (SPEC "Aggressor side", the default classifier).

    Parameters
    ----------
    price, bid, ask
        Trade price and the NBBO just before it, USD per share (NaN = missing).
    buy_threshold, sell_threshold
        Band edges on the position in the spread (conventions: 0.6 and 0.4).

    Returns
    -------
    numpy.ndarray
        ``int8`` side codes.

    Notes
    -----
    With :math:`x = (p - b)/(a - b)`:

    .. math::
        \\text{side} = \\begin{cases}
        \\text{unknown} & \\text{quote missing, } a \\le 0 \\text{ or } b > a \\\\
        \\text{buy} & p \\ge a \\text{ or } x \\ge 0.6 \\\\
        \\text{sell} & p \\le b \\text{ or } x \\le 0.4 \\\\
        \\text{mid} & \\text{otherwise}
        \\end{cases}

    A zero *ask* is a missing market; a zero bid with a positive ask is a one-sided market and
    is classified. A trade at a locked quote (``b == a == p``) is ``mid``.

    Examples
    --------
    >>> quote_rule([1.10, 1.00, 1.05, 1.07, 1.0], [1.0, 1.0, 1.0, 1.0, 1.2], [1.1, 1.1, 1.1, 1.1, 1.1])
    array([ 1, -1,  0,  1,  2], dtype=int8)
    """
    p = np.asarray(price, dtype=np.float64)
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    same = p.ndim == 1 and p.shape == b.shape == a.shape
    if same and use_numba(p.shape[0], COMPILED_MIN_TRADES):  # one engine policy
        from chainlens.flow._side_numba import quote_rule_nb

        return quote_rule_nb(
            np.ascontiguousarray(p),
            np.ascontiguousarray(b),
            np.ascontiguousarray(a),
            buy_threshold,
            sell_threshold,
        )
    return _quote_rule_numpy(p, b, a, buy_threshold, sell_threshold)


#: Auto-mode threshold of the compiled kernel (:mod:`chainlens.flow._side_numba`): inputs at
#: least this long use it (:func:`chainlens._engine.use_numba`), shorter ones use NumPy.
COMPILED_MIN_TRADES = 200_000


def _quote_rule_numpy(
    p: np.ndarray, b: np.ndarray, a: np.ndarray, buy_threshold: float, sell_threshold: float
) -> np.ndarray:
    """The NumPy implementation of :func:`quote_rule` (the reference for the compiled one)."""
    valid = _valid_quote(b, a)
    spread = a - b
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x = np.where(spread > 0, (p - b) / np.where(spread > 0, spread, 1.0), 0.5)
        at_ask = p >= a
        at_bid = p <= b
    # 1e-9 guards the band edges against binary representation of (p - b)/(a - b).
    buy = (at_ask & ~at_bid) | (~at_bid & (x >= buy_threshold - 1e-9))
    sell = (at_bid & ~at_ask) | (~at_ask & (x <= sell_threshold + 1e-9))
    out = np.full(p.shape, MID, dtype=_I8)
    out[buy & ~sell] = BUY
    out[sell & ~buy] = SELL
    out[~valid] = UNKNOWN
    return out


def _order(ts: Int64Array, group: Int64Array) -> np.ndarray:
    """Stable order by contract, then time (input order breaks ties)."""
    return np.lexsort((np.arange(ts.size), ts, group))


def tick_test(price: ArrayLike, ts: ArrayLike, group: ArrayLike) -> np.ndarray:
    """Tick test per contract, in time order.

    Notes
    -----
    Within each contract (``group``) ordered by ``ts``: an uptick (:math:`p_i > p_{i-1}`) is a buy,
    a downtick a sell, a zero tick takes the side of the last non-zero tick; the first trade of a
    contract, and zero ticks with no earlier non-zero tick, are ``unknown``
    (Lee & Ready 1991, J. Finance 46(2), section II).

    Examples
    --------
    >>> tick_test([1.0, 1.1, 1.1, 1.0, 2.0], [1, 2, 3, 4, 1], [0, 0, 0, 0, 1])
    array([ 2,  1,  1, -1,  2], dtype=int8)
    """
    p = np.asarray(price, dtype=np.float64)
    t = np.asarray(ts, dtype=np.int64)
    g = np.asarray(group, dtype=np.int64)
    n = p.size
    out = np.full(n, UNKNOWN, dtype=_I8)
    if n == 0:
        return out
    order = _order(t, g)
    ps, gs = p[order], g[order]
    first = np.ones(n, dtype=bool)
    first[1:] = gs[1:] != gs[:-1]
    dp = np.zeros(n)
    dp[1:] = ps[1:] - ps[:-1]
    tick = np.sign(dp).astype(_I8)
    tick[first] = 0
    idx = np.where(tick != 0, np.arange(n), -1)
    last = np.maximum.accumulate(idx)
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    ok = last >= start
    sorted_codes = np.where(ok, tick[np.where(ok, last, 0)], UNKNOWN).astype(_I8)
    out[order] = sorted_codes
    return out


def lee_ready(
    price: ArrayLike, bid: ArrayLike, ask: ArrayLike, ts: ArrayLike, group: ArrayLike
) -> np.ndarray:
    """Lee-Ready: above the quote midpoint buy, below sell, at the midpoint (or no quote) tick test.

    Notes
    -----
    :math:`m = (b + a)/2`; buy if :math:`p > m`, sell if :math:`p < m`, else the tick test
    (Lee & Ready 1991). The quote here is already the NBBO just before the trade, so no
    5-second lag is applied.

    Examples
    --------
    >>> lee_ready([1.08, 1.02, 1.05], [1.0] * 3, [1.1] * 3, [1, 2, 3], [0, 0, 0])
    array([ 1, -1,  1], dtype=int8)
    """
    p = np.asarray(price, dtype=np.float64)
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    valid = _valid_quote(b, a)
    m = 0.5 * (a + b)
    tick = tick_test(p, ts, group)
    with np.errstate(invalid="ignore"):
        out = np.where(valid & (p > m), BUY, np.where(valid & (p < m), SELL, tick))
    return out.astype(_I8)


def emo_rule(
    price: ArrayLike, bid: ArrayLike, ask: ArrayLike, ts: ArrayLike, group: ArrayLike
) -> np.ndarray:
    """Ellis-Michaely-O'Hara: at the ask buy, at the bid sell, otherwise the tick test.

    Notes
    -----
    Buy if :math:`p = a` (or above), sell if :math:`p = b` (or below), else tick test
    (Ellis, Michaely & O'Hara 2000, JFQA 35(4)).

    Examples
    --------
    >>> emo_rule([1.1, 1.0, 1.05], [1.0] * 3, [1.1] * 3, [1, 2, 3], [0, 0, 0])
    array([ 1, -1,  1], dtype=int8)
    """
    p = np.asarray(price, dtype=np.float64)
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    valid = _valid_quote(b, a)
    tick = tick_test(p, ts, group)
    with np.errstate(invalid="ignore"):
        at_ask = valid & (p >= a) & (b < a)
        at_bid = valid & (p <= b) & (b < a)
    return np.where(at_ask, BUY, np.where(at_bid, SELL, tick)).astype(_I8)


def _f64(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    return pc.fill_null(col.cast(pa.float64()), np.nan).to_numpy()


def classify_side(
    trades: pa.Table,
    *,
    method: str = "quote",
    buy_threshold: float = SIDE_BUY_THRESHOLD,
    sell_threshold: float = SIDE_SELL_THRESHOLD,
) -> np.ndarray:
    """Side codes for a canonical ``trades`` table (see :data:`chainlens.schema.TRADES`).

    Parameters
    ----------
    trades
        Canonical trades (needs ``price``, ``bid``, ``ask``; ``ts`` and ``symbol`` for the
        tick-based methods).
    method
        ``quote`` (default), ``tick``, ``lee_ready`` or ``emo``.

    Returns
    -------
    numpy.ndarray
        ``int8`` codes aligned with the rows of ``trades``.
    """
    price = _f64(trades, "price")
    if method == "quote":
        return quote_rule(
            price,
            _f64(trades, "bid"),
            _f64(trades, "ask"),
            buy_threshold=buy_threshold,
            sell_threshold=sell_threshold,
        )
    ts = trades.column("ts").cast(pa.int64()).to_numpy()
    group = pc.dictionary_encode(trades.column("symbol")).combine_chunks().indices.to_numpy()
    group = group.astype(np.int64)
    if method == "tick":
        return tick_test(price, ts, group)
    if method == "lee_ready":
        return lee_ready(price, _f64(trades, "bid"), _f64(trades, "ask"), ts, group)
    if method == "emo":
        return emo_rule(price, _f64(trades, "bid"), _f64(trades, "ask"), ts, group)
    from chainlens.errors import ConfigError

    raise ConfigError(f"unknown side method {method!r} (quote|tick|lee_ready|emo)")
