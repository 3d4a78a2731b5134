"""Premium / volume multiples scanner (seed 004 "Screener Explanation: Premium/Volume Multiples":
"comparing daily flows against a rolling average")."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.oi._pcr import quote_frame

__all__ = ["daily_flow", "scan_unusual", "unusual_rows"]


def daily_flow(history: pa.Table, *, trades: pa.Table | None = None) -> pl.DataFrame:
    """Per underlying and session: total option volume (contracts) and premium (USD).

    Premium is :math:`\\sum V \\cdot \\text{mid} \\cdot m` from the chain (mid, else last): the
    same estimate every session, so multiples compare like with like. Where ``trades`` are
    given, sessions they cover use :math:`\\sum p \\cdot q \\cdot m` of the trades instead.
    """
    cols = [
        c
        for c in ("underlying", "trade_date", "volume", "bid", "ask", "last", "multiplier")
        if c in history.column_names
    ]
    df, mid = quote_frame(history, cols)
    v = pl.col("volume").cast(pl.Float64)
    out = df.group_by(["underlying", "trade_date"]).agg(
        pl.when(v.is_not_null().any()).then(v.sum()).alias("volume"),
        pl.when(v.is_not_null().any())
        .then((v * mid.fill_null(0.0) * pl.col("multiplier").cast(pl.Float64)).sum())
        .alias("premium_usd"),
    )
    if trades is not None and trades.num_rows:
        t = pl.from_arrow(
            trades.select(["underlying", "trade_date", "price", "size", "multiplier"])
        )
        assert isinstance(t, pl.DataFrame)
        tp = t.group_by(["underlying", "trade_date"]).agg(
            (pl.col("price") * pl.col("size") * pl.col("multiplier"))
            .sum()
            .cast(pl.Float64)
            .alias("_tp")
        )
        out = (
            out.join(tp, on=["underlying", "trade_date"], how="left")
            .with_columns(pl.coalesce("_tp", "premium_usd").alias("premium_usd"))
            .drop("_tp")
        )
    return out.sort(["underlying", "trade_date"])


def scan_unusual(
    history: pa.Table,
    session: dt.date,
    *,
    trades: pa.Table | None = None,
    window: int = 20,
    min_multiple: float = 3.0,
    min_sessions: int = 3,
    min_premium_usd: float = 0.0,
) -> pa.Table:
    """Underlyings whose premium or volume on ``session`` is a multiple of their rolling average.

    Parameters
    ----------
    history
        Chain snapshots of one or many underlyings over the sessions up to ``session``.
    window
        Sessions in the rolling average (the sessions *before* ``session``).
    min_multiple
        Report when the premium or the volume multiple reaches it (seed 004 examples: 3-5x,
        11x, 13x).
    min_sessions
        Sessions needed in the average.
    min_premium_usd
        Ignore underlyings with less premium on the session.

    Returns
    -------
    pyarrow.Table
        ``underlying, session, volume, premium_usd, avg_volume, avg_premium_usd,
        volume_multiple, premium_multiple, sessions_in_average``, by premium multiple.

    Notes
    -----
    :math:`M_\\$ = P_D / \\overline{P}_{D-w..D-1}`, :math:`M_V = V_D / \\overline{V}_{D-w..D-1}`.
    """
    h = history.filter(pc.less_equal(history.column("trade_date"), pa.scalar(session, pa.date32())))
    return unusual_rows(daily_flow(h, trades=trades), session, window=window,
                        min_multiple=min_multiple, min_sessions=min_sessions,
                        min_premium_usd=min_premium_usd)  # fmt: skip


def unusual_rows(
    daily: pl.DataFrame,
    session: dt.date,
    *,
    window: int = 20,
    min_multiple: float = 3.0,
    min_sessions: int = 3,
    min_premium_usd: float = 0.0,
) -> pa.Table:
    """:func:`scan_unusual` from the daily flows ``daily`` (rows of :func:`daily_flow`: per
    underlying and session, ``volume`` in contracts and ``premium_usd`` in USD, sorted by
    underlying and session; each underlying's sessions those of its rolling window and
    ``session``); parameters and returned rows as there."""
    d = daily.with_columns(
        pl.col("volume").shift(1).rolling_mean(window, min_samples=1).over("underlying").alias("avg_volume"),
        pl.col("premium_usd").shift(1).rolling_mean(window, min_samples=1).over("underlying").alias("avg_premium_usd"),
        pl.col("volume").is_not_null().cast(pl.Int64).shift(1).rolling_sum(window, min_samples=1)
        .over("underlying").alias("sessions_in_average"),
    )  # fmt: skip
    d = d.filter(pl.col("trade_date") == session).with_columns(
        pl.when(pl.col("avg_volume") > 0).then(pl.col("volume") / pl.col("avg_volume")).alias("volume_multiple"),
        pl.when(pl.col("avg_premium_usd") > 0).then(pl.col("premium_usd") / pl.col("avg_premium_usd")).alias("premium_multiple"),
    )  # fmt: skip
    d = d.filter(
        (pl.col("sessions_in_average") >= min_sessions)
        & (pl.col("premium_usd").fill_null(0.0) >= min_premium_usd)
        & (
            (pl.col("premium_multiple") >= min_multiple)
            | (pl.col("volume_multiple") >= min_multiple)
        )
    )
    return (
        d.rename({"trade_date": "session"})
        .select("underlying", "session", "volume", "premium_usd", "avg_volume", "avg_premium_usd",
                "volume_multiple", "premium_multiple", pl.col("sessions_in_average").cast(pl.Int64))
        .sort("premium_multiple", descending=True, nulls_last=True)
        .to_arrow()
    )  # fmt: skip
