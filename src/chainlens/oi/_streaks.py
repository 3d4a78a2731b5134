"""Multi-session OI accumulation streaks (seed 002 "OI changes across multiple sessions" and the
first case study: "flag strikes where OI increases for three or more consecutive sessions at a
meaningfully above-baseline pace")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from chainlens.oi._config import OIConfig
from chainlens.oi._panel import cached_panel, changes_matrix, streak_matrices, take_rows

__all__ = ["accumulation", "accumulation_of", "streaks"]


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


def accumulation_of(history: pa.Table, as_of: dt.date | None, config: OIConfig) -> pa.Table:
    """:func:`accumulation` under an :class:`~chainlens.oi.OIConfig`: its streak thresholds
    (``streak_min_sessions``, ``streak_min_contracts``, ``streak_min_fraction``,
    ``streak_min_dte``) and ``drop_stale``. The pipeline's OI step, the accumulation scanner and
    the outcome tracker call this one function, so that they read a configuration alike
    (seed 002, "OI accumulation": the same streak rule wherever it is reported)."""
    return accumulation(
        history,
        as_of=as_of,
        min_sessions=config.streak_min_sessions,
        min_contracts=config.streak_min_contracts,
        min_fraction=config.streak_min_fraction,
        min_dte=config.streak_min_dte,
        drop_stale=config.drop_stale,
    )


def accumulation(
    history: pa.Table,
    *,
    as_of: dt.date | None = None,
    min_sessions: int = 3,
    min_contracts: float = 50.0,
    min_fraction: float = 0.05,
    changes: pa.Table | None = None,
    min_dte: int = 10,
    drop_stale: bool = True,
) -> pa.Table:
    """Contracts whose OI has grown above baseline for ``min_sessions`` or more consecutive
    sessions, up to the latest known change.

    With snapshots up to ``as_of`` = D, the latest known change is the one attributed to the
    previous session (``OI(D) - OI(D-1)``); a streak must end there to be reported.
    Contracts expiring within ``min_dte`` calendar days of that session are left out (OI built
    into expiration week is not a held position; :class:`chainlens.oi.OIConfig`). Stale
    repeat sessions are skipped (``drop_stale``). ``changes`` is accepted for compatibility and
    not used: the streaks run on the dense integer-key panel (:mod:`chainlens.oi._panel`).

    Returns
    -------
    pyarrow.Table
        ``underlying, expiry, strike, right, sessions, oi_change`` (the SPEC's stable scan keys)
        plus ``root, symbol, oi_start, oi_end, first_session, last_session``; sorted by
        ``oi_change`` descending.
    """
    del changes  # kept for API compatibility: the panel recomputes the changes cheaply
    p = cached_panel(history, as_of=as_of, drop_stale=drop_stale)
    ch = changes_matrix(p)
    _, streak, total = streak_matrices(p, ch, float(min_contracts), float(min_fraction))
    j = p.n_sessions[p.con_uid] - 2  # the latest known change of each contract's underlying
    c = np.arange(len(j))
    jj = np.maximum(j, 0)
    run = np.where(j >= 0, streak[c, jj], 0)
    last_day = np.where(j >= 0, p.sess_day[p.con_uid, jj], 0)
    hit = np.flatnonzero((run >= min_sessions) & (p.expiry_day - last_day >= min_dte))
    c, j, run = c[hit], j[hit], run[hit]
    u = p.con_uid[c]
    start = j - run + 1
    rows = p.row_at[c, j]
    t = take_rows(
        p.table.select(["underlying", "expiry", "strike", "right", "root", "symbol"]), rows
    )
    out = pa.table(
        {
            "underlying": t.column("underlying"),
            "expiry": t.column("expiry"),
            "strike": t.column("strike"),
            "right": t.column("right"),
            "sessions": pa.array(run.astype(np.int64)),
            "oi_change": pa.array(np.round(total[c, j]).astype(np.int64)),
            "root": t.column("root"),
            "symbol": t.column("symbol"),
            "oi_start": pa.array(p.oi[c, start].astype(np.int64)),
            "oi_end": pa.array(p.oi[c, j + 1].astype(np.int64)),
            "first_session": pa.array(p.date(u, start)).cast(pa.date32()),
            "last_session": pa.array(p.date(u, j)).cast(pa.date32()),
        }
    )
    df = pl.from_arrow(out)
    assert isinstance(df, pl.DataFrame)
    return df.sort(
        ["oi_change", "underlying", "symbol"], descending=[True, False, False]
    ).to_arrow()
