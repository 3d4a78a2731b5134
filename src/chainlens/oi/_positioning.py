"""OI clusters (top strikes) and opposite-direction buildup (seed 002 "OI as a map of existing
institutional positions", "Watching for OI buildup in the opposite direction")."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

__all__ = ["OPPOSITE_MIN_SHARE", "oi_clusters", "opposite_buildup"]

#: Default ``min_share`` of :func:`opposite_buildup` (a fraction).
OPPOSITE_MIN_SHARE = 0.25


def oi_clusters(chain: pa.Table, *, top_n: int = 5) -> pa.Table:
    """The ``top_n`` strikes by total OI (calls + puts, all expiries) per underlying, last session.

    Returns
    -------
    pyarrow.Table
        ``underlying, strike, call_oi, put_oi, oi, oi_share, rank`` (share of the underlying's
        total OI).
    """
    df = pl.from_arrow(
        chain.select(["underlying", "trade_date", "strike", "right", "open_interest"])
    )
    assert isinstance(df, pl.DataFrame)
    df = df.filter(pl.col("trade_date") == pl.col("trade_date").max().over("underlying"))
    oi = pl.col("open_interest").cast(pl.Float64)
    g = (
        df.group_by(["underlying", "strike"])
        .agg(
            pl.when(pl.col("right") == "C").then(oi).otherwise(0.0).sum().alias("call_oi"),
            pl.when(pl.col("right") == "P").then(oi).otherwise(0.0).sum().alias("put_oi"),
        )
        .with_columns((pl.col("call_oi") + pl.col("put_oi")).alias("oi"))
        .sort(["underlying", "strike"])  # ties in OI rank by strike, not by hash order
    )
    g = g.with_columns(
        (pl.col("oi") / pl.col("oi").sum().over("underlying")).alias("oi_share"),
        pl.col("oi")
        .rank("ordinal", descending=True)
        .over("underlying")
        .cast(pl.Int64)
        .alias("rank"),
    )
    return g.filter(pl.col("rank") <= top_n).sort(["underlying", "rank"]).to_arrow()


def opposite_buildup(
    accum: pa.Table, spot: pa.Table | None = None, *, min_share: float = OPPOSITE_MIN_SHARE
) -> pa.Table:
    """Underlyings where calls and puts are both accumulating (seed 002: straddle construction,
    a second party hedging, or a partial hedge; "reduce conviction").

    Parameters
    ----------
    accum
        Output of :func:`chainlens.oi.accumulation` (streaks).
    spot
        Optional ``underlying, spot``: puts are then counted only at strikes below spot
        ("put OI at lower strikes").
    min_share
        The smaller side's built contracts must be at least this share of the larger side's.

    Returns
    -------
    pyarrow.Table
        ``underlying, call_build, put_build, put_call_build_ratio, mixed``.
    """
    df = pl.from_arrow(accum.select(["underlying", "strike", "right", "oi_change"]))
    assert isinstance(df, pl.DataFrame)
    if spot is not None and spot.num_rows:
        sp = pl.from_arrow(spot.select(["underlying", "spot"]))
        assert isinstance(sp, pl.DataFrame)
        df = df.join(sp, on="underlying", how="left").filter(
            (pl.col("right") == "C")
            | pl.col("spot").is_null()
            | (pl.col("strike") < pl.col("spot"))
        )
    g = df.group_by("underlying").agg(
        pl.when(pl.col("right") == "C").then(pl.col("oi_change")).otherwise(0).sum().cast(pl.Float64).alias("call_build"),
        pl.when(pl.col("right") == "P").then(pl.col("oi_change")).otherwise(0).sum().cast(pl.Float64).alias("put_build"),
    )  # fmt: skip
    g = g.with_columns(
        pl.when(pl.col("call_build") > 0).then(pl.col("put_build") / pl.col("call_build")).alias("put_call_build_ratio"),
        (
            (pl.col("call_build") > 0) & (pl.col("put_build") > 0)
            & (pl.min_horizontal("call_build", "put_build") >= min_share * pl.max_horizontal("call_build", "put_build"))
        ).alias("mixed"),
    )  # fmt: skip
    return g.sort("underlying").to_arrow()
