"""chainlens.oi: open-interest analytics (seed 002).

Pure kernels over canonical chain snapshots (:data:`chainlens.schema.CHAIN`) across sessions;
OI-only histories (OCC: no volume or prices) are enough for changes, streaks, rolls, clusters,
term structure and OI put/call ratios.

Stale repeats: a session whose OI equals the previous session's for every contract (after a
traded session, or with unknown volume as in OCC files) is a repeated vendor file, not a
session; it is skipped (``OIConfig.drop_stale``) and listed in ``summary["stale_sessions"]``
(see :mod:`chainlens.oi._panel`). The OCC adapter's last pull of each history file is one.

Timing (SPEC): the OI in the snapshot of session D is the end of D-1; the change attributed to
D is ``OI(D+1) - OI(D)``, beside D's volume.

Composed entry for the pipeline
-------------------------------
``analyze_oi(history, session, *, events=None, config=None) -> OIResult``

:class:`OIResult` fields (Arrow tables unless said): ``changes`` (per contract and session:
``oi_change``, ``vol_oi`` and ``vol_oi_band``, ``avg_volume_5d``, ``volume_multiple``),
``accumulation`` (streaks of >= 3 above-baseline sessions, SPEC scan keys), ``rolls`` (rolls
and naked closes, SPEC scan keys), ``clusters`` (top strikes), ``opposite`` (opposite-direction
buildup), ``term`` (OI by expiry with class and share), ``term_signals``, ``pcr`` (volume, OI,
premium ratios with seed bands), ``events`` (event-driven OI build, None without events),
``summary`` (dict), ``settings`` (dict).

Kernels: :func:`oi_changes`, :func:`streaks`, :func:`accumulation`, :func:`detect_rolls`,
:func:`window_changes`, :func:`oi_clusters`, :func:`opposite_buildup`,
:func:`term_structure`, :func:`term_signals`, :func:`put_call_ratios`,
:func:`event_oi_build`, :func:`band_of` with :data:`VOL_OI_BANDS` and :data:`PCR_BANDS`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chainlens.oi._bands import PCR_BANDS, VOL_OI_BANDS, band_of
from chainlens.oi._changes import CONTRACT_KEYS, oi_changes
from chainlens.oi._config import OIConfig
from chainlens.oi._pcr import put_call_ratios
from chainlens.oi._positioning import oi_clusters, opposite_buildup
from chainlens.oi._rolls import detect_rolls, window_changes
from chainlens.oi._streaks import accumulation, streaks
from chainlens.oi._term import event_oi_build, term_signals, term_structure

__all__ = [
    "CONTRACT_KEYS",
    "PCR_BANDS",
    "VOL_OI_BANDS",
    "OIConfig",
    "OIResult",
    "accumulation",
    "analyze_oi",
    "band_of",
    "detect_rolls",
    "event_oi_build",
    "oi_changes",
    "oi_clusters",
    "opposite_buildup",
    "put_call_ratios",
    "streaks",
    "term_signals",
    "term_structure",
    "window_changes",
]


@dataclass(frozen=True, slots=True)
class OIResult:
    """Everything :func:`analyze_oi` computes as of one session (see the package docstring)."""

    session: dt.date
    changes: pa.Table
    accumulation: pa.Table
    rolls: pa.Table
    clusters: pa.Table
    opposite: pa.Table
    term: pa.Table
    term_signals: pa.Table
    pcr: pa.Table
    events: pa.Table | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def analyze_oi(
    history: pa.Table,
    session: dt.date,
    *,
    events: pa.Table | None = None,
    premium: pa.Table | None = None,
    config: OIConfig | None = None,
) -> OIResult:
    """OI analytics as of ``session`` over the snapshots on or before it.

    Parameters
    ----------
    history
        Canonical chain snapshots of one or many underlyings over several sessions.
    session
        As-of session; later snapshots are ignored.
    events
        Optional events calendar (:data:`chainlens.schema.EVENTS`).
    premium
        Optional per-underlying ``call_premium_usd``/``put_premium_usd`` for the premium PCR
        (e.g. ``FlowResult.by_ticker``).
    config
        :class:`OIConfig`.

    Returns
    -------
    OIResult
    """
    cfg = config or OIConfig()
    hist = history.filter(
        pc.less_equal(history.column("trade_date"), pa.scalar(session, pa.date32()))
    )
    ch = oi_changes(hist, avg_window=cfg.avg_window, drop_stale=cfg.drop_stale)
    acc = accumulation(
        hist,
        min_sessions=cfg.streak_min_sessions,
        min_contracts=cfg.streak_min_contracts,
        min_fraction=cfg.streak_min_fraction,
        min_dte=cfg.streak_min_dte,
        changes=ch,
        drop_stale=cfg.drop_stale,
    )
    rolls = detect_rolls(hist, config=cfg)
    last = hist.filter(pc.equal(hist.column("trade_date"), pa.scalar(session, pa.date32())))
    spot = None
    if "spot" in last.column_names and last.num_rows:
        import polars as pl

        sp = pl.from_arrow(last.select(["underlying", "spot"]))
        assert isinstance(sp, pl.DataFrame)
        spot = sp.group_by("underlying").agg(pl.col("spot").drop_nulls().last()).to_arrow()
    term = term_structure(hist)
    wc = window_changes(hist, window=cfg.roll_window, drop_stale=cfg.drop_stale).to_arrow()
    from chainlens.oi._panel import cached_panel

    stale = cached_panel(hist, as_of=None, drop_stale=cfg.drop_stale).stale
    sig = term_signals(term, oi_growth=wc, leaps_min_days=cfg.leaps_min_days)
    ev = event_oi_build(ch, events) if events is not None and events.num_rows else None
    kinds = pc.value_counts(rolls.column("kind")).to_pylist() if rolls.num_rows else []
    summary = {
        "session": session,
        "underlyings": len(pc.unique(hist.column("underlying"))) if hist.num_rows else 0,
        "contracts": last.num_rows,
        "accumulating_contracts": acc.num_rows,
        "rolls": {str(k["values"]): int(k["counts"]) for k in kinds},
        "stale_sessions": [{"underlying": u, "session": d} for u, d in stale],
    }
    return OIResult(
        session=session,
        changes=ch,
        accumulation=acc,
        rolls=rolls,
        clusters=oi_clusters(hist, top_n=cfg.clusters_top_n),
        opposite=opposite_buildup(acc, spot),
        term=term,
        term_signals=sig,
        pcr=put_call_ratios(last if last.num_rows else hist, premium=premium),
        events=ev,
        summary=summary,
        settings=asdict(cfg),
    )
