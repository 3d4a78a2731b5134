"""Dark-pool prints per ticker: net notional at the ask minus at the bid, accumulation /
distribution labels, TWAP-like programs (seed 003 "DARKPOOL FLOW", "TWAP PROGRAMS")."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

__all__ = ["CONFIDENCE_BANDS", "darkpool_summary", "detect_twap"]

#: Confidence label by the share of notional that could not be placed at the bid or the ask
#: (seed 003 rates 9% unknown "HIGH", 15.7% "MODERATE", 37-49% "LOW"): (upper bound, label).
CONFIDENCE_BANDS: tuple[tuple[float, str], ...] = (
    (0.10, "high"),
    (0.30, "moderate"),
    (1.01, "low"),
)


def _band(share: pl.Expr) -> pl.Expr:
    expr: Any = pl.when(share.is_null()).then(pl.lit(None, dtype=pl.String))
    for upper, name in CONFIDENCE_BANDS:
        expr = expr.when(share < upper).then(pl.lit(name))
    return expr.otherwise(pl.lit("low"))


def darkpool_summary(prints: pa.Table, *, label_threshold: float = 0.10) -> pa.Table:
    """Per-ticker dark-pool summary.

    Parameters
    ----------
    prints
        Canonical ``prints`` (:data:`chainlens.schema.PRINTS`).
    label_threshold
        Minimum ``|net| / notional`` for a non-neutral label.

    Returns
    -------
    pyarrow.Table
        ``ticker, prints, notional_usd, at_ask_usd, at_bid_usd, net_usd, pct_at_ask,
        pct_at_bid, unplaced_share, imbalance, label, confidence, confidence_band``.

    Notes
    -----
    Notional :math:`= p \\cdot q` (USD). A print is *at the ask* when :math:`p \\ge a`, *at the
    bid* when :math:`p \\le b` (valid, uncrossed NBBO), else unplaced.
    :math:`\\text{net} = N_{ask} - N_{bid}`; ``pct_at_ask`` :math:`= N_{ask}/N` (seed 003 "86%
    at-ask"); imbalance :math:`= \\text{net}/N`. Label: ``accumulation`` if imbalance
    :math:`\\ge \\theta`, ``distribution`` if :math:`\\le -\\theta`, else ``neutral``.
    Confidence :math:`= (N_{ask} + N_{bid}) / N` (one minus the unplaced share), banded by
    :data:`CONFIDENCE_BANDS`.
    """
    df = pl.from_arrow(prints.select(["ticker", "price", "size", "bid", "ask"]))
    assert isinstance(df, pl.DataFrame)
    b, a, p = pl.col("bid"), pl.col("ask"), pl.col("price")
    valid = b.is_not_null() & a.is_not_null() & (a > 0) & (b >= 0) & (b <= a)
    notional = (p * pl.col("size").cast(pl.Float64)).alias("_n")
    df = df.with_columns(
        notional,
        (valid & (p >= a) & (b < a)).fill_null(False).alias("_ask"),
        (valid & (p <= b) & (b < a)).fill_null(False).alias("_bid"),
    )
    out = df.group_by("ticker").agg(
        pl.len().cast(pl.Int64).alias("prints"),
        pl.col("_n").sum().alias("notional_usd"),
        pl.when(pl.col("_ask")).then(pl.col("_n")).otherwise(0.0).sum().alias("at_ask_usd"),
        pl.when(pl.col("_bid")).then(pl.col("_n")).otherwise(0.0).sum().alias("at_bid_usd"),
    )
    n = pl.col("notional_usd")
    out = (
        out.with_columns(
            (pl.col("at_ask_usd") - pl.col("at_bid_usd")).alias("net_usd"),
            pl.when(n > 0).then(pl.col("at_ask_usd") / n).alias("pct_at_ask"),
            pl.when(n > 0).then(pl.col("at_bid_usd") / n).alias("pct_at_bid"),
        )
        .with_columns(
            pl.when(n > 0).then(pl.col("net_usd") / n).alias("imbalance"),
            pl.when(n > 0)
            .then(1.0 - (pl.col("at_ask_usd") + pl.col("at_bid_usd")) / n)
            .alias("unplaced_share"),
        )
        .with_columns(
            pl.when(pl.col("imbalance") >= label_threshold)
            .then(pl.lit("accumulation"))
            .when(pl.col("imbalance") <= -label_threshold)
            .then(pl.lit("distribution"))
            .otherwise(pl.lit("neutral"))
            .alias("label"),
            (1.0 - pl.col("unplaced_share")).alias("confidence"),
            _band(pl.col("unplaced_share")).alias("confidence_band"),
        )
        .sort("ticker")
    )
    return out.to_arrow()


def detect_twap(
    prints: pa.Table,
    *,
    min_slices: int = 10,
    max_interval_cv: float = 0.25,
    size_tolerance: float = 0.05,
) -> pa.Table:
    """TWAP-like programs: regular slices of similar size in one ticker.

    Prints of a ticker are bucketed by size on a log grid of relative width
    ``size_tolerance`` (so slices within the tolerance share a bucket); a bucket with at least
    ``min_slices`` prints whose inter-arrival times have a coefficient of variation
    :math:`\\sigma_{\\Delta t}/\\mu_{\\Delta t} \\le` ``max_interval_cv`` is a program.

    Returns
    -------
    pyarrow.Table
        ``ticker, slice_size, slices, interval_s, interval_cv, notional_usd, start, end,
        net_usd`` (at-ask minus at-bid notional of the slices).
    """
    df = pl.from_arrow(prints.select(["ts", "ticker", "price", "size", "bid", "ask"]))
    assert isinstance(df, pl.DataFrame)
    width = max(float(size_tolerance), 1e-6)
    df = df.filter(pl.col("size") > 0).with_columns(
        (pl.col("size").cast(pl.Float64).log() / pl.lit(width).log1p())
        .round(0)
        .cast(pl.Int64)
        .alias("_bucket"),
        (pl.col("price") * pl.col("size").cast(pl.Float64)).alias("_n"),
        pl.col("ts").cast(pl.Int64).alias("_t"),
    )
    sign = (
        pl.when(pl.col("price") >= pl.col("ask"))
        .then(1.0)
        .when(pl.col("price") <= pl.col("bid"))
        .then(-1.0)
        .otherwise(0.0)
        .fill_null(0.0)
    )
    df = df.sort(["ticker", "_bucket", "_t"]).with_columns(
        (pl.col("_t").diff().over(["ticker", "_bucket"]) / 1e9).alias("_dt"),
        (sign * pl.col("_n")).alias("_signed"),
    )
    g = df.group_by(["ticker", "_bucket"]).agg(
        pl.col("size").median().alias("slice_size"),
        pl.len().cast(pl.Int64).alias("slices"),
        pl.col("_dt").mean().alias("interval_s"),
        (pl.col("_dt").std() / pl.col("_dt").mean()).alias("interval_cv"),
        pl.col("_n").sum().alias("notional_usd"),
        pl.col("ts").min().alias("start"),
        pl.col("ts").max().alias("end"),
        pl.col("_signed").sum().alias("net_usd"),
    )
    g = g.filter(
        (pl.col("slices") >= min_slices)
        & (pl.col("interval_s") > 0)
        & (pl.col("interval_cv") <= max_interval_cv)
    )
    return g.drop("_bucket").sort(["ticker", "start"]).to_arrow()
