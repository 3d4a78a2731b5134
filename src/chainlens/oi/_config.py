"""Settings of the OI analytics (streak baseline, roll pairing rule), one frozen value object."""

from __future__ import annotations

from dataclasses import dataclass

from chainlens.errors import ConfigError

__all__ = ["OIConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OIConfig:
    """Settings of :func:`chainlens.oi.analyze_oi` and its kernels.

    Parameters
    ----------
    streak_min_sessions
        Consecutive sessions of above-baseline OI growth that make an accumulation (seed 002:
        "three or more consecutive sessions").
    streak_min_contracts, streak_min_fraction
        The **baseline**: the change attributed to a session counts as growth only if
        ``oi_change > max(streak_min_contracts, streak_min_fraction * OI(D))`` (a meaningful
        absolute size and a meaningful pace relative to the position already there).
    streak_min_dte
        Accumulation excludes contracts expiring within this many calendar days of the
        streak's last session: OI built into expiration week is gamma/pin churn of contracts
        turning at the money, not the held multi-week position of seed 002 ("a multi-day or
        multi-week thesis"; case 1 is a three-month expiry).
    roll_window
        Sessions over which a roll's two legs are measured (``OI(end) - OI(end - window)``).
    roll_min_contracts, roll_min_fraction
        A near-month leg *declines* when its OI falls by at least
        ``max(roll_min_contracts, roll_min_fraction * OI(start))``; a far leg *rises* by at least
        ``roll_min_contracts``.
    roll_strike_up_pct, roll_strike_down_pct
        Pairing: the far leg's strike is within ``[K(1 - down), K(1 + up)]`` of the near leg's
        strike ``K`` for calls (seed 002: "same or one strike higher") and, mirrored, within
        ``[K(1 - up), K(1 + down)]`` for puts (a bearish roll keeps or extends its distance
        below spot: the same or a lower strike).
    roll_min_ratio, roll_max_ratio
        Pairing: far-leg rise / near-leg decline must lie in this range (seed 002 case study:
        15,000 opened for 18,000 closed = 0.83).
    roll_max_expiry_days, roll_min_expiry_days
        Pairing: the far leg expires at least ``roll_min_expiry_days`` and at most
        ``roll_max_expiry_days`` days after the near leg (seed 002: the roll goes to "the next
        month (or quarter)", so next week's weekly is not a roll target).
    close_min_fraction
        A naked close needs the near leg's OI to fall by at least this fraction of
        ``OI(start)`` (seed 002: "falls significantly"; a roll's near leg needs
        ``roll_min_fraction``).
    roll_min_sync
        Pairing: the share of the near leg's decline matched session by session by the far
        leg's rise (see :func:`chainlens.oi.detect_rolls`); seed 002: "simultaneous".
    close_veto_sync, close_veto_min_rise
        A decline is not a naked close when a compatible later contract rose by at least
        ``close_veto_min_rise * roll_min_contracts`` with at least this synchrony.
    roll_confirm_step
        Confirmation of a pairing: a session *moves* a leg when its matched step (the smaller of
        the near leg's fall and the far leg's rise in that session) is at least this fraction
        of the near leg's decline. A pair is reported only when it moved together in at least
        two sessions of the window, or the near leg's decline is complete (its last step in the
        window is below this fraction of the decline): a single coincident session while the
        decline is still running cannot tell the real far leg from a background contract that
        rose the same day. An unconfirmed pairing still vetoes the naked close.
    close_turnover_quantile, close_min_turnover_multiple
        Significance of a naked close: the decline must be at least
        ``close_min_turnover_multiple`` times the ``close_turnover_quantile`` quantile of the
        underlying's non-zero per-contract session OI changes (absolute) over the
        history (its ordinary daily OI turnover: one ordinary block), ... The test is
        skipped for an underlying with fewer than ``close_turnover_min_obs`` such changes (too
        few to estimate an ordinary move; e.g. a hand-built chain of a few contracts).
    close_min_build_sessions
        ... or the decline must unwind a position *built over prior sessions*: a run of at
        least this many consecutive above-baseline growth sessions (the streak baseline)
        ending before the window's last session.
    roll_near_max_days
        Only *near-term* declines are rolls or closes (seed 002: "near-month OI falls"): the
        declining leg expires at most this many calendar days after the window's last session.
        A far-dated decline is neither (it is reported by the OI changes, not as a close).
    drop_stale
        Skip a *stale repeat* session: an underlying's snapshot whose OI equals the previous
        session's for every contract listed in both, while that previous session traded (or its
        volume is unknown, as in OCC OI-only history). Real OI never repeats exactly across a
        traded session; a repeated file (a data-vendor artefact, e.g. the last pull of an OCC
        history) would otherwise read as a session with no change at all and break streaks.
    avg_window
        Sessions of the trailing average volume (seed 002: 5).
    clusters_top_n
        OI clusters (top strikes) kept per underlying.
    leaps_min_days
        Days to expiry from which an expiry counts as LEAPS (seed 002: 12-24 months).
    """

    streak_min_sessions: int = 3
    streak_min_contracts: float = 50.0
    streak_min_fraction: float = 0.05
    streak_min_dte: int = 10
    roll_window: int = 3
    roll_min_contracts: float = 250.0
    roll_min_fraction: float = 0.20
    roll_strike_up_pct: float = 0.05
    roll_strike_down_pct: float = 0.0
    roll_min_ratio: float = 0.5
    roll_max_ratio: float = 2.0
    roll_max_expiry_days: int = 400
    roll_min_expiry_days: int = 28
    roll_near_max_days: int = 60
    roll_min_sync: float = 0.5
    close_min_fraction: float = 0.35
    close_veto_sync: float = 0.25
    close_veto_min_rise: float = 0.25
    roll_confirm_step: float = 0.15
    close_turnover_quantile: float = 0.95
    close_min_turnover_multiple: float = 15.0
    close_min_build_sessions: int = 2
    close_turnover_min_obs: int = 200
    drop_stale: bool = True
    avg_window: int = 5
    clusters_top_n: int = 5
    leaps_min_days: int = 365

    def __post_init__(self) -> None:
        if self.streak_min_sessions < 1 or self.roll_window < 1 or self.avg_window < 1:
            raise ConfigError("streak_min_sessions, roll_window and avg_window must be >= 1")
        if not 0 < self.roll_min_ratio <= self.roll_max_ratio:
            raise ConfigError("need 0 < roll_min_ratio <= roll_max_ratio")
        if not 0 <= self.roll_min_expiry_days <= self.roll_max_expiry_days:
            raise ConfigError("need 0 <= roll_min_expiry_days <= roll_max_expiry_days")
        if self.roll_strike_up_pct < 0 or self.roll_strike_down_pct < 0:
            raise ConfigError("roll strike tolerances must be >= 0")
