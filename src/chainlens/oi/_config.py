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
    roll_window
        Sessions over which a roll's two legs are measured (``OI(end) - OI(end - window)``).
    roll_min_contracts, roll_min_fraction
        A near-month leg *declines* when its OI falls by at least
        ``max(roll_min_contracts, roll_min_fraction * OI(start))``; a far leg *rises* by at least
        ``roll_min_contracts``.
    roll_strike_up_pct, roll_strike_down_pct
        Pairing: the far leg's strike is within ``[K(1 - down), K(1 + up)]`` of the near leg's
        strike ``K`` (seed 002: "same or one strike higher").
    roll_min_ratio, roll_max_ratio
        Pairing: far-leg rise / near-leg decline must lie in this range (seed 002 case study:
        15,000 opened for 18,000 closed = 0.83).
    roll_max_expiry_days
        Pairing: the far leg expires at most this many days after the near leg.
    avg_window
        Sessions of the trailing average volume (seed 002: 5).
    clusters_top_n
        OI clusters (top strikes) kept per underlying.
    leaps_min_days
        Days to expiry from which an expiry counts as LEAPS (seed 002: 12-24 months).
    """

    streak_min_sessions: int = 3
    streak_min_contracts: float = 100.0
    streak_min_fraction: float = 0.05
    roll_window: int = 3
    roll_min_contracts: float = 500.0
    roll_min_fraction: float = 0.20
    roll_strike_up_pct: float = 0.05
    roll_strike_down_pct: float = 0.0
    roll_min_ratio: float = 0.5
    roll_max_ratio: float = 2.0
    roll_max_expiry_days: int = 400
    avg_window: int = 5
    clusters_top_n: int = 5
    leaps_min_days: int = 365

    def __post_init__(self) -> None:
        if self.streak_min_sessions < 1 or self.roll_window < 1 or self.avg_window < 1:
            raise ConfigError("streak_min_sessions, roll_window and avg_window must be >= 1")
        if not 0 < self.roll_min_ratio <= self.roll_max_ratio:
            raise ConfigError("need 0 < roll_min_ratio <= roll_max_ratio")
        if self.roll_strike_up_pct < 0 or self.roll_strike_down_pct < 0:
            raise ConfigError("roll strike tolerances must be >= 0")
