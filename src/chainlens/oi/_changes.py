"""Overnight OI change, Vol/OI and volume against the trailing average (seed 002).

Timing (SPEC "Open-interest timing"): ``open_interest`` in the snapshot of session D is the OCC
figure published before D opens (positions at the end of D-1). The change attributed to
session D is ``OI(D+1) - OI(D)``, set beside D's volume.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from chainlens.errors import InputError
from chainlens.oi import _kernels
from chainlens.oi._bands import VOL_OI_BANDS, band_strings_from_index
from chainlens.oi._panel import cached_panel, take_rows

__all__ = ["CONTRACT_KEYS", "oi_changes", "session_frame"]

#: Columns that identify a contract across snapshots (``symbol`` is the key; the others ride
#: along).
CONTRACT_KEYS: tuple[str, ...] = ("underlying", "root", "symbol", "expiry", "strike", "right")

_NEEDED = ("trade_date", *CONTRACT_KEYS, "open_interest")
_VOL_OI_LOWS = np.array([b[0] for b in VOL_OI_BANDS], np.float64)


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


def oi_changes(
    history: pa.Table, *, as_of: dt.date | None = None, avg_window: int = 5, drop_stale: bool = True
) -> pa.Table:
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
    drop_stale
        Skip stale repeat sessions (see :mod:`chainlens.oi._panel`); their rows are left out.

    Returns
    -------
    pyarrow.Table
        ``underlying, root, symbol, expiry, strike, right, trade_date, si, open_interest,
        volume, oi_next, oi_change, vol_oi, avg_volume_5d, volume_multiple, vol_oi_band``, one
        row per contract and session in input order (a later snapshot of the same contract and
        session replaces an earlier one).

    Notes
    -----
    :math:`\\Delta OI_D = OI(D_{+1}) - OI(D)` where :math:`D_{+1}` is the next session of the
    underlying in the history; null when the contract is absent from that snapshot (expired or
    not listed) or D is the last session. :math:`\\text{Vol/OI}_D = V_D / OI(D)` (today's
    volume over yesterday's OI, seed 002), null when OI is 0. ``avg_volume_5d`` is the mean
    non-null volume of the contract's previous ``avg_window`` snapshots (sessions it was listed
    in), ``volume_multiple`` :math:`= V_D / \\overline{V}`. Computed on the dense integer-key
    panel (:mod:`chainlens.oi._panel`) by one compiled pass over its cells
    (:func:`chainlens.oi._kernels.cell_columns`).
    """
    p = cached_panel(history, as_of=as_of, drop_stale=drop_stale)
    all_kept = bool(p.keep.all())
    # one compiled pass over the panel's cells, contract by contract, writing each retained
    # row's next OI, change, trailing mean, ratios and band (in row order)
    nx, nx_miss, chg, chg_miss, avg, vol_oi, mult, band_i, band_miss, avg_m, vo_m, mult_m = (
        _kernels.cell_columns(p.cid, p.si, p.keep, p.row_at, p.oi, p.vol, p.listed,
                              int(avg_window), _VOL_OI_LOWS)
    )  # fmt: skip
    if all_kept:
        t, j = p.table, p.si
    else:
        rows = np.flatnonzero(p.keep)
        t, j = take_rows(p.table, rows), p.si[rows]
    n = t.num_rows
    cols = {k: t.column(k) for k in (*CONTRACT_KEYS, "trade_date")}
    cols["si"] = pa.array(j.astype(np.int64, copy=False))
    cols["open_interest"] = t.column("open_interest")
    cols["volume"] = t.column("volume") if "volume" in t.column_names else pa.nulls(n, pa.int64())
    cols["oi_next"] = pa.array(nx, mask=nx_miss)
    cols["oi_change"] = pa.array(chg, mask=chg_miss)
    cols["vol_oi"] = pa.array(vol_oi, mask=vo_m)
    cols["avg_volume_5d"] = pa.array(avg, mask=avg_m)
    cols["volume_multiple"] = pa.array(mult, mask=mult_m)
    out = pa.table(cols)
    return out.append_column(
        "vol_oi_band", band_strings_from_index(band_i, band_miss, VOL_OI_BANDS, field=1)
    )
