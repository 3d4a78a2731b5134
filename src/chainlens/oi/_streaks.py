"""Multi-session OI accumulation streaks (seed 002 "OI changes across multiple sessions" and the
first case study: "flag strikes where OI increases for three or more consecutive sessions at a
meaningfully above-baseline pace")."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from chainlens.oi._changes import oi_changes

__all__ = ["accumulation", "streaks"]


def streaks(
    changes: pa.Table,
    *,
    min_contracts: float = 50.0,
    min_fraction: float = 0.05,
) -> pa.Table:
    """Current run of above-baseline OI growth per contract, at every session.

    Parameters
    ----------
    changes
        Output of :func:`chainlens.oi.oi_changes`.
    min_contracts, min_fraction
        Baseline: growth counts if :math:`\\Delta OI_D > \\max(a, f \\cdot OI(D))`.

    Returns
    -------
    pyarrow.Table
        ``changes`` plus ``growing`` (bool), ``streak`` (length of the run ending at this
        session, 0 if not growing) and ``streak_change`` (sum of :math:`\\Delta OI` over it).

    Notes
    -----
    Sessions are consecutive in the underlying's session index; a null change (contract not in
    the next snapshot, or last session) ends a run.
    """
    df = pl.from_arrow(changes)
    assert isinstance(df, pl.DataFrame)
    oi = pl.col("open_interest").cast(pl.Float64)
    base = pl.max_horizontal(pl.lit(float(min_contracts)), oi * float(min_fraction))
    df = df.sort(["symbol", "si"]).with_columns(
        (pl.col("oi_change").cast(pl.Float64) > base).fill_null(False).alias("growing")
    )
    # a new run starts at a non-growing row or after a gap in the session index
    gap = (pl.col("si") - pl.col("si").shift(1).over("symbol")).fill_null(1) != 1
    df = df.with_columns(
        ((~pl.col("growing")) | gap).cast(pl.Int64).cum_sum().over("symbol").alias("_run")
    )
    df = df.with_columns(
        pl.col("growing").cast(pl.Int64).cum_sum().over(["symbol", "_run"]).alias("streak"),
        pl.when(pl.col("growing")).then(pl.col("oi_change")).otherwise(0)
        .cum_sum().over(["symbol", "_run"]).alias("streak_change"),
    )  # fmt: skip
    return df.drop("_run").to_arrow()


def accumulation(
    history: pa.Table,
    *,
    as_of: dt.date | None = None,
    min_sessions: int = 3,
    min_contracts: float = 50.0,
    min_fraction: float = 0.05,
    changes: pa.Table | None = None,
    min_dte: int = 10,
) -> pa.Table:
    """Contracts whose OI has grown above baseline for ``min_sessions`` or more consecutive
    sessions, up to the latest known change.

    With snapshots up to ``as_of`` = D, the latest known change is the one attributed to the
    previous session (``OI(D) - OI(D-1)``); a streak must end there to be reported.
    Contracts expiring within ``min_dte`` calendar days of that session are left out (OI built
    into expiration week is not a held position; :class:`chainlens.oi.OIConfig`).

    Returns
    -------
    pyarrow.Table
        ``underlying, expiry, strike, right, sessions, oi_change`` (the SPEC's stable scan keys)
        plus ``root, symbol, oi_start, oi_end, first_session, last_session``; sorted by
        ``oi_change`` descending.
    """
    ch = changes if changes is not None else oi_changes(history, as_of=as_of)
    st = pl.from_arrow(streaks(ch, min_contracts=min_contracts, min_fraction=min_fraction))
    assert isinstance(st, pl.DataFrame)
    known = st.filter(pl.col("oi_change").is_not_null())
    last = known.group_by("underlying").agg(pl.col("si").max().alias("_last"))
    cur = known.join(last, on="underlying").filter(
        (pl.col("si") == pl.col("_last"))
        & (pl.col("streak") >= min_sessions)
        & ((pl.col("expiry") - pl.col("trade_date")).dt.total_days() >= min_dte)
    )
    start_si = (pl.col("si") - pl.col("streak") + 1).alias("_start")
    cur = cur.with_columns(start_si)
    firsts = st.select(
        "symbol", pl.col("si").alias("_start"), pl.col("open_interest").alias("oi_start"),
        pl.col("trade_date").alias("first_session"),
    )  # fmt: skip
    cur = cur.join(firsts, on=["symbol", "_start"], how="left")
    out = cur.select(
        "underlying", "expiry", "strike", "right",
        pl.col("streak").cast(pl.Int64).alias("sessions"),
        pl.col("streak_change").cast(pl.Int64).alias("oi_change"),
        "root", "symbol", "oi_start", pl.col("oi_next").alias("oi_end"),
        "first_session", pl.col("trade_date").alias("last_session"),
    ).sort(["oi_change", "underlying", "symbol"], descending=[True, False, False])  # fmt: skip
    return out.to_arrow()
