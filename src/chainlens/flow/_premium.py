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

__all__ = [
    "BUCKETS",
    "decompose_premium",
    "flip_summary",
    "premium_usd",
    "tag_multileg",
]

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
    trades: pa.Table, *, conditions: Iterable[str], same_ts: bool = True
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
    """
    n = trades.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool)
    codes = pa.array(sorted({c.strip().upper() for c in conditions}), type=pa.string())
    if "condition" in trades.column_names:
        cond = pc.utf8_upper(pc.utf8_trim_whitespace(trades.column("condition").cast(pa.string())))
        by_cond = pc.fill_null(pc.is_in(cond, value_set=codes), False).to_numpy(
            zero_copy_only=False
        )
    else:
        by_cond = np.zeros(n, dtype=bool)
    if not same_ts:
        return np.asarray(by_cond, dtype=bool)
    df = pl.from_arrow(trades.select(["underlying", "ts", "symbol"]))
    assert isinstance(df, pl.DataFrame)
    n_contracts = df.select(pl.col("symbol").n_unique().over(["underlying", "ts"])).to_series()
    return np.asarray(by_cond, dtype=bool) | (n_contracts.to_numpy() >= 2)


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
        ``trades``.

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
    """
    keys = list(by)
    df = pl.from_arrow(trades.select([*keys, "right", "side_code", "premium_usd", "multileg"]))
    assert isinstance(df, pl.DataFrame)
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
    return out.to_arrow()


def flip_summary(per_ticker: pa.Table) -> dict[str, float | int | None]:
    """Flip rate across tickers (seed 003 "Top Flow Decomposition": 6/16 names flip = 37.5%).

    Notes
    -----
    :math:`\\text{flip rate} = \\#\\{\\text{tickers with naive label} \\ne \\text{side label}\\} /
    \\#\\{\\text{tickers with premium}\\}`.
    """
    total = per_ticker.column("total_usd").to_numpy()
    flips = per_ticker.column("flip").to_numpy(zero_copy_only=False).astype(bool)
    have = total > 0
    n = int(have.sum())
    k = int((flips & have).sum())
    return {"tickers": n, "flips": k, "flip_rate": (k / n) if n else None}
