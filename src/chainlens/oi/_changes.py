"""Overnight OI change, Vol/OI and volume against the trailing average (seed 002).

Timing (SPEC "Open-interest timing"): ``open_interest`` in the snapshot of session D is the OCC
figure published before D opens (positions at the end of D-1). The change attributed to
session D is ``OI(D+1) - OI(D)``, set beside D's volume.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from chainlens.errors import InputError
from chainlens.oi._bands import VOL_OI_BANDS, band_of

__all__ = ["CONTRACT_KEYS", "oi_changes", "session_frame"]

#: Columns that identify a contract across snapshots (``symbol`` is the key; the others ride
#: along).
CONTRACT_KEYS: tuple[str, ...] = ("underlying", "root", "symbol", "expiry", "strike", "right")

_NEEDED = ("trade_date", *CONTRACT_KEYS, "open_interest")


def session_frame(history: pa.Table, *, as_of: dt.date | None = None) -> pl.DataFrame:
    """History as a Polars frame, one row per (symbol, session), with ``si`` the session index
    within its underlying (0 = oldest), restricted to snapshots on or before ``as_of``."""
    missing = [c for c in _NEEDED if c not in history.column_names]
    if missing:
        raise InputError(
            f"OI history lacks column(s) {missing}", hint="pass canonical chain snapshots"
        )
    cols = [
        *_NEEDED,
        *(
            c
            for c in ("volume", "spot", "delta", "gamma", "bid", "ask", "last", "multiplier")
            if c in history.column_names
        ),
    ]
    df = pl.from_arrow(history.select(cols))
    assert isinstance(df, pl.DataFrame)
    if as_of is not None:
        df = df.filter(pl.col("trade_date") <= as_of)
    if "volume" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias("volume"))
    # one row per contract and session (a later snapshot of the same session wins)
    df = df.unique(["symbol", "trade_date"], keep="last", maintain_order=True)
    sessions = (
        df.select("underlying", "trade_date").unique().sort(["underlying", "trade_date"])
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("underlying").alias("si"))
    )  # fmt: skip
    return df.join(sessions, on=["underlying", "trade_date"], how="left")


def oi_changes(history: pa.Table, *, as_of: dt.date | None = None, avg_window: int = 5) -> pa.Table:
    """Per contract and session: OI, overnight OI change, Vol/OI with its band, and volume vs
    the trailing average.

    Parameters
    ----------
    history
        Canonical chain snapshots over several sessions (volume may be null: OCC OI-only).
    as_of
        Ignore snapshots after this date.
    avg_window
        Sessions in the trailing average volume (seed 002: 5).

    Returns
    -------
    pyarrow.Table
        ``underlying, root, symbol, expiry, strike, right, trade_date, si, open_interest,
        volume, oi_next, oi_change, vol_oi, vol_oi_band, avg_volume_5d, volume_multiple``.

    Notes
    -----
    :math:`\\Delta OI_D = OI(D_{+1}) - OI(D)` where :math:`D_{+1}` is the next session of the
    underlying in the history; null when the contract is absent from that snapshot (expired or
    not listed) or D is the last session. :math:`\\text{Vol/OI}_D = V_D / OI(D)` (today's
    volume over yesterday's OI, seed 002), null when OI is 0. ``avg_volume_5d`` is the mean
    volume of the contract's previous ``avg_window`` snapshots (sessions it was listed in),
    ``volume_multiple`` :math:`= V_D / \\overline{V}`.
    """
    df = session_frame(history, as_of=as_of)
    nxt = df.select(
        "symbol",
        (pl.col("si") - 1).alias("si"),
        pl.col("open_interest").alias("oi_next"),
    )
    df = df.join(nxt, on=["symbol", "si"], how="left").sort(["symbol", "si"])
    vol = pl.col("volume").cast(pl.Float64)
    oi = pl.col("open_interest").cast(pl.Float64)
    df = df.with_columns(
        (pl.col("oi_next") - pl.col("open_interest")).alias("oi_change"),
        pl.when(oi > 0).then(vol / oi).otherwise(None).alias("vol_oi"),
        vol.shift(1).rolling_mean(avg_window, min_samples=1).over("symbol").alias("avg_volume_5d"),
    ).with_columns(
        pl.when(pl.col("avg_volume_5d") > 0)
        .then(vol / pl.col("avg_volume_5d"))
        .otherwise(None)
        .alias("volume_multiple")
    )
    out = df.select(
        *CONTRACT_KEYS, "trade_date", "si", "open_interest", "volume", "oi_next", "oi_change",
        "vol_oi", "avg_volume_5d", "volume_multiple",
    ).to_arrow()  # fmt: skip
    return out.append_column("vol_oi_band", band_of(out.column("vol_oi"), VOL_OI_BANDS))
