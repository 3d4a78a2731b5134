"""Thresholds of the seed-004 scanners as settings (``chainlens scan --min-multiple ...``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScanSettings"]


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """Scanner thresholds.

    Parameters
    ----------
    unusual_min_multiple
        Premium/volume multiple scanner: report a ticker when today's premium or volume is at
        least this multiple of its rolling average (seed 004 examples: 3-5x, 11x, 13x).
    unusual_min_sessions
        Sessions needed in the rolling average.
    unusual_min_premium_usd
        Ignore tickers with less premium today (USD).
    netdelta_min_increase
        Net-delta scanner: report ticker/expiry combinations whose cumulative delta grew by at
        least this fraction today (0.5 = +50%, seed 004's "increase" column).
    """

    unusual_min_multiple: float = 3.0
    unusual_min_sessions: int = 3
    unusual_min_premium_usd: float = 0.0
    netdelta_min_increase: float = 0.5

    def __post_init__(self) -> None:
        from chainlens.errors import ConfigError

        if not self.unusual_min_multiple > 0:
            raise ConfigError(f"unusual_min_multiple must be > 0, got {self.unusual_min_multiple}")
        if self.unusual_min_sessions < 1:
            raise ConfigError(f"unusual_min_sessions must be >= 1, got {self.unusual_min_sessions}")
        if self.unusual_min_premium_usd < 0:
            raise ConfigError(
                f"unusual_min_premium_usd must be >= 0, got {self.unusual_min_premium_usd}"
            )
        if not self.netdelta_min_increase > 0:
            raise ConfigError(
                f"netdelta_min_increase must be > 0, got {self.netdelta_min_increase}"
            )
