"""Put/call ratios on volume, OI and premium, with seed 002's bands."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from chainlens.oi._bands import PCR_BANDS, band_of

__all__ = ["put_call_ratios"]


def quote_frame(table: pa.Table, cols: list[str]) -> tuple[pl.DataFrame, pl.Expr]:
    """``cols`` of ``table`` as a Polars frame, with the quote columns (volume, bid, ask, last)
    present (null where the input has none, e.g. OCC OI-only history), and the per-contract
    price used for premium estimates: the mid where ``bid > 0`` and ``ask >= bid``, else the
    last sale (USD per share)."""
    df = pl.from_arrow(table.select(cols))
    assert isinstance(df, pl.DataFrame)
    for c in ("volume", "bid", "ask", "last"):
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    mid = (
        pl.when((pl.col("bid") > 0) & (pl.col("ask") >= pl.col("bid")))
        .then((pl.col("bid") + pl.col("ask")) / 2)
        .otherwise(pl.col("last"))
    )
    return df, mid


def put_call_ratios(chain: pa.Table, *, premium: pa.Table | None = None) -> pa.Table:
    """Put/call ratios per underlying and session.

    Parameters
    ----------
    chain
        Canonical chain rows (one or more sessions).
    premium
        Optional per-underlying ``call_premium_usd`` / ``put_premium_usd`` (e.g.
        :func:`chainlens.flow.decompose_premium` by underlying). Without it the premium ratio is
        estimated from the chain as :math:`\\sum V \\cdot \\text{mid} \\cdot m` (mid, else last).

    Returns
    -------
    pyarrow.Table
        ``underlying, trade_date, call_volume, put_volume, call_oi, put_oi, call_premium_usd,
        put_premium_usd, pcr_volume, pcr_oi, pcr_premium`` and ``pcr_*_band`` (seed 002 bands).

    Notes
    -----
    :math:`PCR_V = \\sum_{puts} V / \\sum_{calls} V`, :math:`PCR_{OI} = \\sum_{puts} OI /
    \\sum_{calls} OI` (SPEC "Put/call ratios"), :math:`PCR_\\$ = P_\\$ / C_\\$`; null where the
    call side is zero.
    """
    cols = [
        c
        for c in (
            "underlying",
            "trade_date",
            "right",
            "volume",
            "open_interest",
            "bid",
            "ask",
            "last",
            "multiplier",
        )
        if c in chain.column_names
    ]
    df, mid = quote_frame(chain, cols)
    df = df.with_columns(
        (pl.col("volume").cast(pl.Float64) * mid * pl.col("multiplier").cast(pl.Float64)).alias(
            "_p"
        )
    )
    call, put = pl.col("right") == "C", pl.col("right") == "P"

    def s(col: str, mask: pl.Expr, name: str) -> pl.Expr:
        x = pl.when(mask).then(pl.col(col)).otherwise(None)
        return (
            pl.when(x.is_not_null().any())
            .then(x.sum())
            .otherwise(None)
            .cast(pl.Float64)
            .alias(name)
        )

    out = df.group_by(["underlying", "trade_date"]).agg(
        s("volume", call, "call_volume"), s("volume", put, "put_volume"),
        s("open_interest", call, "call_oi"), s("open_interest", put, "put_oi"),
        s("_p", call, "call_premium_usd"), s("_p", put, "put_premium_usd"),
        pl.col("volume").is_not_null().any().alias("_has_volume"),
    )  # fmt: skip
    if premium is not None and premium.num_rows:
        pr = pl.from_arrow(premium.select(["underlying", "call_premium_usd", "put_premium_usd"]))
        assert isinstance(pr, pl.DataFrame)
        out = out.drop(["call_premium_usd", "put_premium_usd"]).join(
            pr, on="underlying", how="left"
        )

    def ratio(p: str, c: str) -> pl.Expr:
        return pl.when(pl.col(c) > 0).then(pl.col(p) / pl.col(c)).otherwise(None)

    out = (
        out.with_columns(
            pl.when(pl.col("_has_volume"))
            .then(ratio("put_volume", "call_volume"))
            .alias("pcr_volume"),
            ratio("put_oi", "call_oi").alias("pcr_oi"),
            ratio("put_premium_usd", "call_premium_usd").alias("pcr_premium"),
        )
        .drop("_has_volume")
        .sort(["underlying", "trade_date"])
    )
    t = out.to_arrow()
    for c in ("pcr_volume", "pcr_oi", "pcr_premium"):
        t = t.append_column(f"{c}_band", band_of(t.column(c), PCR_BANDS))
    return t
