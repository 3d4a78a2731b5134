"""Premium decomposition by aggressor side (seed 003 "Side decomposition"; SPEC "Aggressor side").

Premium of a trade is ``price * size * multiplier`` (USD). Directional buckets count only
single-leg trades with a classified side; multi-leg legs, mid and unknown trades are kept in
their own buckets so that the buckets always add up to the total premium.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.flow._side import BUY, MID, SELL, UNKNOWN

#: Rows from which :func:`moneyness_columns` runs its compiled row passes in auto mode
#: (:mod:`chainlens.flow._premium_numba`; below it the NumPy expressions are as fast).
COMPILED_MIN_ROWS = 20_000

__all__ = [
    "BUCKETS",
    "CONTRACT_COLUMNS",
    "DIRECTIONAL_COLUMNS",
    "decompose_premium",
    "flip_summary",
    "premium_usd",
    "same_instant_packages",
    "tag_moneyness",
    "tag_multileg",
    "tag_synthetic",
]

#: Columns :func:`decompose_premium` adds beside the raw buckets: the same decomposition over
#: the *directional* trades only (single-leg, not deep in the money, not in a box/conversion-like
#: package), and the delta-adjusted notional |Δ|·S·size·multiplier (USD) of those trades.
DIRECTIONAL_COLUMNS: tuple[str, ...] = (
    "deep_itm_usd", "synthetic_usd", "excluded_usd", "excluded_share",
    "dir_calls_bought_usd", "dir_calls_sold_usd", "dir_puts_bought_usd", "dir_puts_sold_usd",
    "dir_call_premium_usd", "dir_put_premium_usd", "dir_bullish_usd", "dir_bearish_usd",
    "dir_net_usd", "dir_naive_cp_ratio", "dir_naive_label", "dir_side_label", "dir_flip",
    "delta_bullish_usd", "delta_bearish_usd", "delta_net_usd", "delta_notional_usd",
)  # fmt: skip

#: Contracts per side bucket (issue 11, seed 004 "Buy/Sell Netted Volume Table"): the trade
#: sizes of the single-leg calls/puts bought and sold (the same trades as the USD buckets), and
#: ``net_contracts`` = bought - sold over calls and puts; ``net_call_contracts`` and
#: ``net_put_contracts`` per right. Null when the trades carry no ``size`` column.
CONTRACT_COLUMNS: tuple[str, ...] = (
    "calls_bought_contracts", "calls_sold_contracts", "puts_bought_contracts",
    "puts_sold_contracts", "net_call_contracts", "net_put_contracts", "net_contracts",
)  # fmt: skip

#: The seven disjoint buckets; their sum is ``total_usd``.
BUCKETS: tuple[str, ...] = (
    "calls_bought_usd",
    "calls_sold_usd",
    "puts_bought_usd",
    "puts_sold_usd",
    "mid_usd",
    "unknown_usd",
    "multileg_usd",
)


def premium_usd(trades: pa.Table) -> np.ndarray:
    """Premium per trade in USD.

    Notes
    -----
    :math:`\\text{premium} = p \\cdot \\text{size} \\cdot \\text{multiplier}` (SPEC "Aggressor side").
    """
    p = trades.column("price").to_numpy().astype(np.float64)
    q = trades.column("size").to_numpy().astype(np.float64)
    m = trades.column("multiplier").to_numpy().astype(np.float64)
    return p * q * m


def tag_multileg(
    trades: pa.Table,
    *,
    conditions: Iterable[str],
    same_ts: bool = True,
    instants: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Flag trades that are legs of a multi-leg (spread / complex / stock-tied) order.

    Two independent detectors, OR-ed:

    1. **Condition codes**: the trade's ``condition`` (upper-cased, stripped) is in
       ``conditions`` (e.g. OPRA ``MLET``/``MLAT``/``TLET``...; see
       :data:`~chainlens.flow.DEFAULT_MULTILEG_CONDITIONS`).
    2. **Same-instant packages** (``same_ts``): trades of one underlying sharing the exact same
       ``ts`` across two or more *different* contracts. A single contract hit on several
       exchanges at one instant (a sweep) is not tagged.

    Returns
    -------
    numpy.ndarray
        Boolean mask aligned with ``trades``.

    Notes
    -----
    The condition rule runs on the column's dictionary (a handful of distinct codes); the
    same-instant rule is :func:`same_instant_packages` (one stable sort by instant, no string
    hashed per row). ``tests/test_flow_sorted_kernels.py`` checks both against the Polars
    expressions ``condition.str.strip_chars().str.to_uppercase().is_in(...)`` and
    ``symbol.n_unique().over([underlying, ts]) >= 2``.
    """
    n = trades.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool)
    if "condition" in trades.column_names:
        by_cond = _condition_in(trades.column("condition"), conditions)
    else:
        by_cond = np.zeros(n, dtype=bool)
    if not same_ts:
        return by_cond
    cols = (trades.column(c) for c in ("underlying", "ts", "symbol"))
    return by_cond | same_instant_packages(*cols, instants=instants)


def _condition_in(col: pa.ChunkedArray, conditions: Iterable[str]) -> np.ndarray:
    """``condition`` (upper-cased, stripped) in ``conditions``, per row (null: False). The
    string work runs on the column's dictionary (a handful of distinct codes), not per row."""
    codes = pa.array(sorted({c.strip().upper() for c in conditions}), type=pa.string())
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    enc = pc.dictionary_encode(col.cast(pa.string()))
    chunks = enc.chunks if isinstance(enc, pa.ChunkedArray) else [enc]
    out = np.zeros(len(col), dtype=bool)
    pos, seen = 0, None
    for c in chunks:  # a loop over Arrow chunks (one shared dictionary: looked up once)
        d = c.dictionary
        if seen is None or seen[0] is not d and not seen[0].equals(d):
            hit = pc.is_in(pc.utf8_upper(pc.utf8_trim_whitespace(d)), value_set=codes)
            hit_np = pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
            seen = (d, np.append(np.asarray(hit_np, dtype=bool), False))
        idx = pc.fill_null(c.indices, len(d)).to_numpy(zero_copy_only=False)
        out[pos : pos + len(c)] = seen[1][idx]
        pos += len(c)
    return out


def same_instant_packages(
    underlying: pa.ChunkedArray | pa.Array,
    ts: pa.ChunkedArray | pa.Array,
    symbol: pa.ChunkedArray | pa.Array,
    *,
    instants: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Rows whose (``underlying``, ``ts``) instant holds two or more distinct ``symbol`` values
    (null is a value of its own): the same-instant package rule of :func:`tag_multileg`.
    ``instants``: :func:`chainlens.flow._keys.instant_order` of ``underlying`` and ``ts`` when
    the caller has it (computed here otherwise).

    Notes
    -----
    Rows are sorted by the instant (one stable ``argsort`` of the combined key
    ``underlying code * span + (ts - min ts)`` when it fits 62 bits, else ``lexsort``); an
    instant holds two distinct symbols exactly when two neighbours of that sorted instant
    differ, so only rows that share their instant with the row before them compare symbols
    (no symbol is hashed). Cost: O(N) on input already in (underlying, ts) order, else one sort.
    """
    from chainlens.flow._keys import instant_order

    n = len(ts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    order, new = instant_order(underlying, ts) if instants is None else instants
    pos = np.flatnonzero(~new)  # sorted positions sharing the instant of the one before
    out = np.zeros(n, dtype=bool)
    if pos.size == 0:
        return out
    differ = _differs(symbol, order[pos], order[pos - 1])
    # the rows of instants with two rows or more (sorted positions), numbered by instant
    shared = np.zeros(n, dtype=bool)
    shared[pos] = True
    shared[pos - 1] = True
    m = np.flatnonzero(shared)
    g = np.cumsum(new[m]) - 1
    multi = np.zeros(int(g[-1]) + 1, dtype=bool)
    multi[g[np.searchsorted(m, pos[differ])]] = True
    out[order[m]] = multi[g]
    return out


def _np(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return a.to_numpy(zero_copy_only=False) if isinstance(a, pa.Array) else a.to_numpy()


def _differs(col: pa.ChunkedArray | pa.Array, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows ``a[i]`` and ``b[i]`` of ``col`` hold different values (null equals only null)."""
    if pa.types.is_integer(col.type) and col.null_count == 0:
        x = np.asarray(col.to_numpy(), dtype=np.int64)
        return x[a] != x[b]
    xa, xb = col.take(pa.array(a)), col.take(pa.array(b))
    ne = np.asarray(_np(pc.fill_null(pc.not_equal(xa, xb), False)), dtype=bool)
    if xa.null_count or xb.null_count:
        ne |= np.asarray(_np(pc.is_null(xa)), bool) != np.asarray(_np(pc.is_null(xb)), bool)
    return ne


def tag_moneyness(
    trades: pa.Table,
    chain: pa.Table | None,
    *,
    deep_itm_delta: float = 0.85,
    deep_itm_pct: float = 10.0,
) -> pa.Table:
    r"""Add ``abs_delta``, ``itm_pct``, ``deep_itm`` and ``delta_notional_usd`` to trades.

    Notes
    -----
    ``abs_delta``: the chain's vendor delta of the contract (absolute), else Black-Scholes delta
    from the chain's IV with ``r = q = 0`` and ``t = max(days to expiry, 1) / 365``; NaN where
    neither exists (a vendor delta of exactly 0 with IV 0, e.g. an expiring contract after the
    close, counts as missing). ``itm_pct`` = :math:`(S-K)/S \cdot 100` for calls,
    :math:`(K-S)/S \cdot 100` for puts (trade spot, else the chain's). ``deep_itm`` =
    ``abs_delta >= deep_itm_delta`` or ``itm_pct > deep_itm_pct``. ``delta_notional_usd`` =
    :math:`|\Delta| \cdot S \cdot \text{size} \cdot m` (USD; NaN without a delta).
    """
    n = trades.num_rows
    df = pl.from_arrow(
        trades.select(["symbol", "strike", "right", "expiry", "trade_date", "size", "multiplier"])
    )
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(
        pl.Series("t_spot", _f64col(trades, "spot", n)),
    )
    cols = [
        c
        for c in ("symbol", "delta", "iv", "spot")
        if chain is not None and c in chain.column_names
    ]
    if chain is not None and "symbol" in cols:
        ch = pl.from_arrow(chain.select(cols))
        assert isinstance(ch, pl.DataFrame)
        for c in ("delta", "iv", "spot"):
            if c not in ch.columns:
                ch = ch.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
        ch = ch.group_by("symbol").agg(
            pl.col("delta").cast(pl.Float64).last().alias("c_delta"),
            pl.col("iv").cast(pl.Float64).last().alias("c_iv"),
            pl.col("spot").cast(pl.Float64).last().alias("c_spot"),
        )
        df = df.join(ch, on="symbol", how="left", maintain_order="left")
    else:
        df = df.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c) for c in ("c_delta", "c_iv", "c_spot")
        )
    spot = (
        df.select(pl.coalesce(pl.col("t_spot").fill_nan(None), pl.col("c_spot")).cast(pl.Float64))
        .to_series()
        .to_numpy()
    )
    spot = np.asarray(spot, dtype=np.float64)
    k = df["strike"].cast(pl.Float64).to_numpy()
    is_call = (df["right"] == "C").to_numpy()
    vd = np.abs(np.asarray(df["c_delta"].fill_null(np.nan).to_numpy(), dtype=np.float64))
    iv = np.asarray(df["c_iv"].fill_null(np.nan).to_numpy(), dtype=np.float64)
    days = (df["expiry"] - df["trade_date"]).dt.total_days().to_numpy().astype(np.float64)
    size = df["size"].cast(pl.Float64).to_numpy()
    mult = df["multiplier"].cast(pl.Float64).to_numpy()
    return moneyness_columns(
        trades, spot, k, is_call, vd, iv, days, size, mult,
        deep_itm_delta=deep_itm_delta, deep_itm_pct=deep_itm_pct,
    )  # fmt: skip


def moneyness_columns(
    trades: pa.Table,
    spot: np.ndarray,
    k: np.ndarray,
    is_call: np.ndarray,
    vd: np.ndarray,
    iv: np.ndarray,
    days: np.ndarray,
    size: np.ndarray,
    mult: np.ndarray,
    *,
    deep_itm_delta: float,
    deep_itm_pct: float,
) -> pa.Table:
    """The columns of :func:`tag_moneyness` added to ``trades`` from each trade's inputs, one
    entry per row: spot (USD; the trade's, else the chain's; NaN if neither), strike (USD),
    call or not, the chain's absolute vendor delta and IV (NaN if missing), days to expiry,
    size (contracts) and multiplier (shares per contract). Row-wise (formulas: see
    :func:`tag_moneyness`). Compiled row passes (:mod:`chainlens.flow._premium_numba`, the
    same operations per row) under the engine policy from :data:`COMPILED_MIN_ROWS` rows."""
    from chainlens._engine import use_numba

    compiled = use_numba(len(spot), COMPILED_MIN_ROWS)
    if compiled:
        from chainlens.flow._premium_numba import moneyness_rows, vendor_delta
        from chainlens.flow._prints_numba import ro

        vd, iv, spot, k, size, mult = (ro(a, np.float64) for a in (vd, iv, spot, k, size, mult))
        d, need = vendor_delta(vd, iv, spot, k)
    else:
        vendor_ok = np.isfinite(vd) & ~((vd == 0.0) & ~(iv > 0))
        need = ~vendor_ok & (iv > 0) & (spot > 0) & (k > 0)
        d = np.where(vendor_ok, vd, np.nan)
    if need.any():
        from chainlens.pricing import delta as bsm_delta

        t = np.maximum(days[need], 1.0) / 365.0
        d[need] = np.abs(bsm_delta(spot[need], k[need], t, 0.0, 0.0, iv[need], is_call[need]))
    if compiled:
        itm, deep, dn = moneyness_rows(
            ro(d), spot, k, ro(is_call, bool), size, mult,
            float(deep_itm_delta), float(deep_itm_pct),
        )  # fmt: skip
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            itm = np.where(is_call, (spot - k) / spot, (k - spot) / spot) * 100.0
        deep = (np.nan_to_num(d, nan=0.0) >= deep_itm_delta) | (
            np.nan_to_num(itm, nan=-1.0) > deep_itm_pct
        )
        dn = d * spot * size * mult
    out = trades
    for name, arr in (
        ("abs_delta", pa.array(d)),
        ("itm_pct", pa.array(itm)),
        ("deep_itm", pa.array(deep)),
        ("delta_notional_usd", pa.array(dn)),
    ):
        out = (
            out.append_column(name, arr)
            if name not in out.column_names
            else out.set_column(out.column_names.index(name), name, arr)
        )
    return out


def _f64col(t: pa.Table, name: str, n: int) -> np.ndarray:
    if name not in t.column_names:
        return np.full(n, np.nan)
    return np.asarray(
        pc.fill_null(t.column(name).cast(pa.float64()), np.nan).to_numpy(), dtype=np.float64
    )


def tag_synthetic(
    trades: pa.Table, *, instants: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Flag legs of box/conversion-like packages: multi-leg trades of one underlying at one
    instant that hold a call and a put at the same strike (conversion, reversal, box,
    synthetic). Such packages carry no directional view (their delta nets out).

    Needs ``underlying``, ``ts``, ``strike``, ``right``, ``multileg``. ``instants``:
    :func:`chainlens.flow._keys.instant_order` of ``underlying`` and ``ts`` when the caller
    has it (:func:`chainlens.flow.enrich_trades` shares it with :func:`tag_multileg`).
    """
    n = trades.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool)
    # Sorted segments instead of hash windows (Polars' ``over`` with one group per instant
    # costs ~10x more): rows sorted by instant (underlying, ts); only instants of two rows or
    # more can hold a call and a put at one strike, so only their rows are sorted further by
    # strike; a (underlying, ts, strike) group holds both rights when its smallest and largest
    # right codes differ (null is a value of its own, as in ``n_unique``); NaN strikes form
    # one group.
    from chainlens.flow._keys import instant_order, key_codes

    ml = np.asarray(pc.fill_null(trades.column("multileg"), False).to_numpy(zero_copy_only=False))
    out = np.zeros(n, dtype=bool)
    if not ml.any():
        return out
    order, new = (
        instant_order(trades.column("underlying"), trades.column("ts"))
        if instants is None
        else instants
    )
    pos = np.flatnonzero(~new)  # sorted positions sharing the instant of the one before
    if pos.size == 0:
        return out
    shared = np.zeros(n, dtype=bool)
    shared[pos] = True
    shared[pos - 1] = True
    m = np.flatnonzero(shared)
    rows = order[m]
    inst = np.cumsum(new[m]) - 1  # instant number of each of those rows
    strike = trades.column("strike").take(pa.array(rows))
    k0 = np.asarray(pc.fill_null(strike.cast(pa.float64()), np.nan).to_numpy(), dtype=np.float64)
    k = np.where(np.isnan(k0), np.inf, k0) + 0.0  # NaN (and null) strikes: one group
    kn = np.isnan(k0) & ~np.asarray(pc.is_null(strike).to_numpy(zero_copy_only=False), bool)
    rc = key_codes(trades.column("right"))[rows]
    so = np.lexsort((kn, k, inst))
    ins, ks, kns = inst[so], k[so], kn[so]
    new_k = np.ones(so.size, dtype=bool)
    new_k[1:] = (ins[1:] != ins[:-1]) | (ks[1:] != ks[:-1]) | (kns[1:] != kns[:-1])
    starts = np.flatnonzero(new_k)
    rs = rc[so]
    lo = np.minimum.reduceat(rs, starts)
    hi = np.maximum.reduceat(rs, starts)
    both = (lo != hi)[np.cumsum(new_k) - 1] & ml[rows[so]]
    anyb = np.bincount(ins, weights=both, minlength=int(inst[-1]) + 1) > 0
    out[rows] = anyb[inst]
    return out & ml


def decompose_premium(
    trades: pa.Table,
    *,
    by: Sequence[str] = ("underlying", "expiry", "strike"),
    label_epsilon: float = 0.0,
) -> pa.Table:
    """Side decomposition of premium per group.

    Parameters
    ----------
    trades
        Trades with ``right``, ``side_code`` (int8), ``premium_usd`` and ``multileg`` columns
        (as produced by :func:`chainlens.flow.enrich_trades`) plus the ``by`` columns.
    by
        Grouping keys: ``("underlying",)`` per ticker, ``("underlying", "expiry", "strike")``
        per strike (default), or ``()`` for the whole table.
    label_epsilon
        Dead band: a label is ``neutral`` when ``|difference| <= label_epsilon * total``.

    Returns
    -------
    pyarrow.Table
        One row per group with the :data:`BUCKETS`, ``total_usd``, ``call_premium_usd``,
        ``put_premium_usd``, ``bullish_usd``, ``bearish_usd``, ``net_usd``, ``unknown_share``,
        ``directional_share``, ``naive_cp_ratio``, ``naive_label``, ``side_label``, ``flip``,
        ``trades``, the :data:`DIRECTIONAL_COLUMNS` and, last, the :data:`CONTRACT_COLUMNS`.

    Notes
    -----
    (seed 003 "Side decomposition", SPEC "Aggressor side"), over single-leg trades:

    .. math::
        \\text{bullish} = C_{bought} + P_{sold},\\quad
        \\text{bearish} = C_{sold} + P_{bought},\\quad
        \\text{net} = \\text{bullish} - \\text{bearish}

    :math:`\\text{unknown share} = (\\text{mid} + \\text{unknown}) / \\text{total}`, total over all
    trades (multi-leg legs included, in ``multileg_usd``). The naive label compares *all* call
    premium to *all* put premium (ratio :math:`C/P`); the side-adjusted label is the sign of net;
    ``flip`` is true where the two labels differ.

    Contracts (issue 11, seed 004 "Buy/Sell Netted Volume Table"), over the same single-leg
    trades: :math:`C^{n}_{bought} = \\sum \\text{size}` of the calls bought (contracts), and
    likewise sold and for puts;
    :math:`\\text{net} = (C^{n}_{bought} - C^{n}_{sold}) + (P^{n}_{bought} - P^{n}_{sold})`
    (contracts bought minus sold; ``net_call_contracts`` and ``net_put_contracts`` per right).
    """
    keys = list(by)
    opt = [c for c in ("deep_itm", "synthetic", "delta_notional_usd", "size")
           if c in trades.column_names]  # fmt: skip
    df = pl.from_arrow(
        trades.select([*keys, "right", "side_code", "premium_usd", "multileg", *opt])
    )
    assert isinstance(df, pl.DataFrame)
    for c, dtype in (("deep_itm", pl.Boolean), ("synthetic", pl.Boolean)):
        if c not in df.columns:
            df = df.with_columns(pl.lit(False, dtype=dtype).alias(c))
    if "delta_notional_usd" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("delta_notional_usd"))
    has_size = "size" in df.columns
    if not has_size:
        df = df.with_columns(pl.lit(0.0, dtype=pl.Float64).alias("size"))
    prem = pl.col("premium_usd")
    single = ~pl.col("multileg")
    call = pl.col("right") == "C"
    put = pl.col("right") == "P"
    code = pl.col("side_code")

    def bucket(mask: pl.Expr, name: str) -> pl.Expr:
        return pl.when(mask).then(prem).otherwise(0.0).sum().alias(name)

    aggs = [
        bucket(single & call & (code == BUY), "calls_bought_usd"),
        bucket(single & call & (code == SELL), "calls_sold_usd"),
        bucket(single & put & (code == BUY), "puts_bought_usd"),
        bucket(single & put & (code == SELL), "puts_sold_usd"),
        bucket(single & (code == MID), "mid_usd"),
        bucket(single & (code == UNKNOWN), "unknown_usd"),
        bucket(pl.col("multileg"), "multileg_usd"),
        prem.sum().alias("total_usd"),
        bucket(call, "call_premium_usd"),
        bucket(put, "put_premium_usd"),
        pl.len().cast(pl.Int64).alias("trades"),
    ]
    deep = pl.col("deep_itm").fill_null(False)
    syn = pl.col("synthetic").fill_null(False)
    keep = ~deep & ~syn
    dsingle = single & keep
    dn = pl.col("delta_notional_usd").fill_nan(None)

    def dbucket(mask: pl.Expr, name: str) -> pl.Expr:
        return pl.when(mask).then(dn).otherwise(None).sum().alias(name)

    aggs += [
        bucket(deep, "deep_itm_usd"),
        bucket(syn & ~deep, "synthetic_usd"),
        bucket(~keep, "excluded_usd"),
        bucket(dsingle & call & (code == BUY), "dir_calls_bought_usd"),
        bucket(dsingle & call & (code == SELL), "dir_calls_sold_usd"),
        bucket(dsingle & put & (code == BUY), "dir_puts_bought_usd"),
        bucket(dsingle & put & (code == SELL), "dir_puts_sold_usd"),
        bucket(keep & call, "dir_call_premium_usd"),
        bucket(keep & put, "dir_put_premium_usd"),
        dbucket(dsingle & ((call & (code == BUY)) | (put & (code == SELL))), "delta_bullish_usd"),
        dbucket(dsingle & ((call & (code == SELL)) | (put & (code == BUY))), "delta_bearish_usd"),
        dbucket(keep, "delta_notional_usd"),
    ]
    size = pl.col("size").cast(pl.Float64)

    def cbucket(mask: pl.Expr, name: str) -> pl.Expr:
        return pl.when(mask).then(size).otherwise(0.0).sum().alias(name)

    aggs += [
        cbucket(single & call & (code == BUY), "calls_bought_contracts"),
        cbucket(single & call & (code == SELL), "calls_sold_contracts"),
        cbucket(single & put & (code == BUY), "puts_bought_contracts"),
        cbucket(single & put & (code == SELL), "puts_sold_contracts"),
    ]
    if keys:
        out = df.group_by(keys, maintain_order=True).agg(aggs).sort(keys)
    else:
        out = df.select(aggs)
    eps = float(label_epsilon)

    def label(diff: pl.Expr, total: pl.Expr) -> pl.Expr:
        return (
            pl.when(diff > eps * total)
            .then(pl.lit("bullish"))
            .when(diff < -eps * total)
            .then(pl.lit("bearish"))
            .otherwise(pl.lit("neutral"))
        )

    total = pl.col("total_usd")
    out = out.with_columns(
        (pl.col("calls_bought_usd") + pl.col("puts_sold_usd")).alias("bullish_usd"),
        (pl.col("calls_sold_usd") + pl.col("puts_bought_usd")).alias("bearish_usd"),
    ).with_columns(
        (pl.col("bullish_usd") - pl.col("bearish_usd")).alias("net_usd"),
        pl.when(total > 0)
        .then((pl.col("mid_usd") + pl.col("unknown_usd")) / total)
        .otherwise(None)
        .alias("unknown_share"),
        pl.when(total > 0)
        .then((pl.col("bullish_usd") + pl.col("bearish_usd")) / total)
        .otherwise(None)
        .alias("directional_share"),
        pl.when(pl.col("put_premium_usd") > 0)
        .then(pl.col("call_premium_usd") / pl.col("put_premium_usd"))
        .otherwise(None)
        .alias("naive_cp_ratio"),
        label(pl.col("call_premium_usd") - pl.col("put_premium_usd"), total).alias("naive_label"),
    )
    out = out.with_columns(
        label(pl.col("net_usd"), pl.col("bullish_usd") + pl.col("bearish_usd")).alias("side_label")
    ).with_columns((pl.col("naive_label") != pl.col("side_label")).alias("flip"))
    out = (
        out.with_columns(
            (pl.col("dir_calls_bought_usd") + pl.col("dir_puts_sold_usd")).alias("dir_bullish_usd"),
            (pl.col("dir_calls_sold_usd") + pl.col("dir_puts_bought_usd")).alias("dir_bearish_usd"),
            pl.when(total > 0)
            .then(pl.col("excluded_usd") / total)
            .otherwise(None)
            .alias("excluded_share"),
            pl.when(pl.col("dir_put_premium_usd") > 0)
            .then(pl.col("dir_call_premium_usd") / pl.col("dir_put_premium_usd"))
            .otherwise(None)
            .alias("dir_naive_cp_ratio"),
            label(
                pl.col("dir_call_premium_usd") - pl.col("dir_put_premium_usd"),
                pl.col("dir_call_premium_usd") + pl.col("dir_put_premium_usd"),
            ).alias("dir_naive_label"),
            (pl.col("delta_bullish_usd") - pl.col("delta_bearish_usd")).alias("delta_net_usd"),
        )
        .with_columns(
            (pl.col("dir_bullish_usd") - pl.col("dir_bearish_usd")).alias("dir_net_usd"),
        )
        .with_columns(
            label(
                pl.col("dir_net_usd"), pl.col("dir_bullish_usd") + pl.col("dir_bearish_usd")
            ).alias("dir_side_label"),
        )
        .with_columns((pl.col("dir_naive_label") != pl.col("dir_side_label")).alias("dir_flip"))
    )
    cb, cs = pl.col("calls_bought_contracts"), pl.col("calls_sold_contracts")
    pb, ps = pl.col("puts_bought_contracts"), pl.col("puts_sold_contracts")
    out = out.with_columns(
        (cb - cs).alias("net_call_contracts"), (pb - ps).alias("net_put_contracts")
    )
    out = out.with_columns((cb - cs + pb - ps).alias("net_contracts"))
    if not has_size:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in CONTRACT_COLUMNS)
    # contracts last, in CONTRACT_COLUMNS order (the batched kernel's order)
    return out.select(
        [*(c for c in out.columns if c not in CONTRACT_COLUMNS), *CONTRACT_COLUMNS]
    ).to_arrow()


def flip_summary(per_ticker: pa.Table) -> dict[str, float | int | None]:
    """Flip rate across tickers (seed 003 "Top Flow Decomposition": 6/16 names flip = 37.5%).

    Notes
    -----
    :math:`\\text{flip rate} = \\#\\{\\text{tickers with naive label} \\ne \\text{side label}\\} /
    \\#\\{\\text{tickers with premium}\\}`, on the directional labels (``dir_flip``: deep in
    the money and box/conversion-like premium left out) when the table has them.
    """
    total = per_ticker.column("total_usd").to_numpy()
    col = "dir_flip" if "dir_flip" in per_ticker.column_names else "flip"
    flips = per_ticker.column(col).to_numpy(zero_copy_only=False).astype(bool)
    have = total > 0
    n = int(have.sum())
    k = int((flips & have).sum())
    return {"tickers": n, "flips": k, "flip_rate": (k / n) if n else None}


def flip_summary_many(
    per_ticker: pa.Table, offsets: np.ndarray
) -> list[dict[str, float | int | None]]:
    """:func:`flip_summary` of each slice ``offsets[i]:offsets[i+1]`` of ``per_ticker`` (the
    rows of segment ``i``), counted with one ``np.bincount`` each (same counts and rate)."""
    total = per_ticker.column("total_usd").to_numpy()
    col = "dir_flip" if "dir_flip" in per_ticker.column_names else "flip"
    flips = per_ticker.column(col).to_numpy(zero_copy_only=False).astype(bool)
    have = total > 0
    ns = len(offsets) - 1
    g = np.repeat(np.arange(ns, dtype=np.int64), np.diff(offsets))
    n = np.bincount(g[have], minlength=ns).tolist()
    k = np.bincount(g[flips & have], minlength=ns).tolist()
    return [
        {"tickers": a, "flips": b, "flip_rate": (b / a) if a else None}
        for a, b in zip(n, k, strict=True)
    ]  # a loop over underlyings
