"""Cumulative net delta per ticker and expiry (seed 004 "Net Delta Scanner")."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from chainlens.flow._side import BUY, SELL

__all__ = ["netdelta_from_td", "oi_delta", "scan_netdelta", "transactional_delta"]


def oi_delta(chains: pa.Table) -> pl.DataFrame:
    """Delta of the overnight OI change per contract and session, for stores without trades.

    :math:`\\Delta_{shares} = (OI_D - OI_{D^-}) \\cdot \\delta_D \\cdot m` where :math:`D^-` is
    the contract's previous stored session (a contract first listed in the window starts from
    0) and :math:`\\delta_D` the vendor delta of session D (shares; ``net_contracts`` is the OI
    change, ``gross_contracts`` its absolute value). It assumes the side that opened (or
    closed) the OI is the customer buyer: positive when calls are added or puts are closed.
    SPEC "Open-interest timing": the OI of a row dated D is the OCC figure before D opens, so
    the change is dated by the snapshot that first shows it. Seed 004 "Net Delta Scanner"
    (chain-only reading; :func:`transactional_delta` is the trade-based one).
    """
    cols = ["underlying", "trade_date", "symbol", "expiry", "open_interest", "delta", "multiplier"]
    c = pl.from_arrow(chains.select(cols))
    assert isinstance(c, pl.DataFrame)
    c = c.unique(["symbol", "trade_date"], keep="last").sort(["symbol", "trade_date"])
    oi = pl.col("open_interest").cast(pl.Float64).fill_null(0.0)
    # each underlying's first session in the window has no previous snapshot (many underlyings
    # listed on different first sessions give the same rows as one call per underlying)
    first = pl.col("trade_date") == pl.col("trade_date").min().over("underlying")
    c = c.with_columns(
        pl.when(first).then(None).otherwise(oi - oi.shift(1).over("symbol").fill_null(0.0)).alias("net_contracts")
    ).filter(pl.col("net_contracts").is_not_null())  # fmt: skip
    return c.select(
        "underlying", "expiry", "trade_date", "symbol", "net_contracts",
        pl.col("net_contracts").abs().alias("gross_contracts"),
        (pl.col("net_contracts") * pl.col("delta").fill_null(0.0) * pl.col("multiplier").cast(pl.Float64)).alias("delta_shares"),
    )  # fmt: skip


def transactional_delta(trades: pa.Table, chains: pa.Table) -> pl.DataFrame:
    """Signed delta of classified trades per contract and session.

    ``trades`` need ``side_code`` (see :func:`chainlens.flow.enrich_trades`); ``chains`` give
    the contract's vendor ``delta`` for the session (joined on ``symbol`` and ``trade_date``).

    Notes
    -----
    :math:`\\Delta_{shares} = s \\cdot q \\cdot \\delta \\cdot m`, :math:`s = +1` customer buy,
    :math:`-1` sell, 0 mid/unknown; multi-leg legs excluded.
    """
    t = pl.from_arrow(
        trades.select(
            [
                "underlying",
                "trade_date",
                "symbol",
                "expiry",
                "size",
                "multiplier",
                "side_code",
                "multileg",
            ]
        )
    )
    c = pl.from_arrow(chains.select(["trade_date", "symbol", "delta"]))
    assert isinstance(t, pl.DataFrame) and isinstance(c, pl.DataFrame)
    c = c.unique(["symbol", "trade_date"], keep="last")
    s = (
        pl.when(pl.col("side_code") == BUY)
        .then(1.0)
        .when(pl.col("side_code") == SELL)
        .then(-1.0)
        .otherwise(0.0)
    )
    t = t.filter(~pl.col("multileg")).join(c, on=["symbol", "trade_date"], how="left")
    return t.group_by(["underlying", "expiry", "trade_date", "symbol"]).agg(
        (s * pl.col("size")).sum().alias("net_contracts"),
        pl.col("size").sum().cast(pl.Float64).alias("gross_contracts"),
        (s * pl.col("size") * pl.col("delta") * pl.col("multiplier")).sum().alias("delta_shares"),
    )  # fmt: skip


def scan_netdelta(
    trades: pa.Table | None,
    chains: pa.Table,
    session: dt.date,
    *,
    start: dt.date,
    min_increase: float = 0.5,
) -> pa.Table:
    """Ticker/expiry combinations whose cumulative net delta since ``start`` jumped on ``session``.

    Parameters
    ----------
    trades
        Classified trades of the sessions ``start .. session``; None on a store without
        trades: the chain's OI changes are used instead (:func:`oi_delta`).
    chains
        Chain snapshots of the same sessions (vendor ``delta``).
    start
        The fixed starting date of the cumulation (seed 004: "from a fixed starting point").
    min_increase
        Report combinations with ``increase >= min_increase`` (0.5 = +50%), or whose cumulative
        delta turned from zero.

    Returns
    -------
    pyarrow.Table
        ``underlying, asof, expiry, delta_shares`` (today's), ``cum_delta_shares``,
        ``cum_delta_prev_shares``, ``increase`` (:math:`C_t / C_{t-1} - 1`), ``top_symbols``,
        ``top_net_contracts``, ``top_gross_contracts`` (the three largest delta-increase
        positions of the day), and ``n`` (combinations of the ticker that triggered).
    """
    td = transactional_delta(trades, chains) if trades is not None else oi_delta(chains)
    return netdelta_from_td(td, session, start=start, min_increase=min_increase)


def netdelta_from_td(
    td: pl.DataFrame, session: dt.date, *, start: dt.date, min_increase: float = 0.5
) -> pa.Table:
    """:func:`scan_netdelta` from the per-contract session deltas ``td`` (rows of
    :func:`transactional_delta` or :func:`oi_delta`, of one or many underlyings)."""
    td = td.filter((pl.col("trade_date") >= start) & (pl.col("trade_date") <= session))
    # a fixed row order (group_by returns rows in any order): the same input sums the same way
    td = td.sort(["underlying", "expiry", "trade_date", "symbol"])
    daily = td.group_by(["underlying", "expiry", "trade_date"], maintain_order=True).agg(
        pl.col("delta_shares").sum()
    )
    return _netdelta_rows(daily, td.filter(pl.col("trade_date") == session), session,
                          min_increase=min_increase)  # fmt: skip


def _netdelta_rows(
    daily: pl.DataFrame, today_td: pl.DataFrame, session: dt.date, *, min_increase: float
) -> pa.Table:
    """The scanner's rows from the daily ``(underlying, expiry, trade_date) -> delta_shares``
    sums of the window and the session's per-contract rows (for the top positions)."""
    daily = daily.sort(["underlying", "expiry", "trade_date"]).with_columns(
        pl.col("delta_shares").cum_sum().over(["underlying", "expiry"]).alias("cum_delta_shares")
    )
    daily = daily.with_columns(
        (pl.col("cum_delta_shares") - pl.col("delta_shares")).alias("cum_delta_prev_shares")
    )
    today = daily.filter(pl.col("trade_date") == session).with_columns(
        pl.when(pl.col("cum_delta_prev_shares") != 0)
        .then(pl.col("cum_delta_shares") / pl.col("cum_delta_prev_shares") - 1.0)
        .alias("increase")
    )
    today = today.filter(
        (pl.col("increase") >= min_increase)
        | (pl.col("increase").is_null() & (pl.col("cum_delta_shares") > 0))
    )
    # the top positions of the combinations reported only (a combination's own rows)
    today_td = today_td.join(today.select("underlying", "expiry"), on=["underlying", "expiry"],
                             how="semi")  # fmt: skip
    top = (
        today_td.sort(["delta_shares", "symbol"], descending=[True, False])  # ties: by symbol
        .group_by(["underlying", "expiry"], maintain_order=True)
        .agg(
            pl.col("symbol").head(3).alias("top_symbols"),
            pl.col("net_contracts").head(3).alias("top_net_contracts"),
            pl.col("gross_contracts").head(3).alias("top_gross_contracts"),
        )
    )
    out = today.join(top, on=["underlying", "expiry"], how="left").with_columns(
        pl.len().over("underlying").cast(pl.Int64).alias("n")
    )
    return out.rename({"trade_date": "asof"}).select(
        "underlying", "n", "asof", "expiry", "delta_shares", "cum_delta_shares",
        "cum_delta_prev_shares", "increase", "top_symbols", "top_net_contracts", "top_gross_contracts",
    ).sort(["underlying", "expiry"]).to_arrow()  # fmt: skip
