"""Settings of the per-snapshot analysis (exposures, profile, max pain, vol views, surfaces).

Every number that changes a result is a field here, with its unit in the name, so that a
report can state exactly what it used. Conventions proper (day count, settlement times,
dealer signs, the ES multiplier) live in :mod:`chainlens.conventions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from chainlens.conventions import DEALER_MODELS, DEFAULT_RATE, ES_USD_PER_POINT
from chainlens.errors import ConfigError

__all__ = ["AnalysisConfig", "GreeksChoice", "VendorFallback"]

GreeksChoice = Literal["auto", "vendor", "model"]
VendorFallback = Literal["exclude", "model"]

#: Futures-equivalent unit per underlying: USD per index point of one futures contract.
_DEFAULT_FUTURES = MappingProxyType({"SPX": ES_USD_PER_POINT})


@dataclass(frozen=True, kw_only=True, slots=True)
class AnalysisConfig:
    """What :func:`chainlens.analysis.analyze_chain` computes, and how.

    Parameters
    ----------
    greeks
        ``"vendor"``: the file's own gamma and delta (SPEC "Greeks"); ``"model"``:
        Black-Scholes-Merton with the file's IV (or IV solved from the mid), a forward implied
        per expiry and time to the settlement instant; ``"auto"`` (default): vendor where the
        file carries vendor gamma for at least one contract, else model.
    dealer_model
        ``"classic"`` (calls +1, puts -1; seed 002), ``"short_all"`` (-1 on every contract) or
        ``"flow"`` (the chain's ``dealer_position_contracts`` column replaces ``sign * OI``).
    rate
        Flat continuously compounded risk-free rate (1/yr) used for discounting and the
        forward fit.
    vendor_fallback
        Vendor path only: what to do with a contract whose vendor gamma and delta are both
        missing or zero. ``"exclude"`` (default) leaves it out, counted under
        ``excluded["no_vendor_greeks"]``; ``"model"`` prices it with the model instead.
    t_floor_years
        Optional floor on time to expiry (years) for the model greeks. ``None`` (default)
        keeps 0DTE contracts at their true remaining time; contracts at or past settlement are
        excluded as ``expired``.
    profile_half_width, profile_step
        Spot grid of the gamma profile, as fractions of spot: ``±15%`` in ``0.25%`` steps by
        default (issue 3, deliverable 3).
    max_pain_trend_n
        Number of next expiries in the max-pain trend.
    surface_spot_half_width, surface_spot_step
        Spot axis of the DX/GX surfaces, fractions of spot.
    surface_intraday_step_hours, surface_sessions
        Time axis of the surfaces: every ``surface_intraday_step_hours`` until today's close
        (when the snapshot is before it), then the close of the next ``surface_sessions``
        sessions.
    futures_usd_per_point
        Futures-equivalent unit per underlying (USD per point of one futures contract), used to
        express dealer delta and gamma in futures contracts. Default: ES for SPX
        (``conventions.ES_USD_PER_POINT``).
    profile, vol, surfaces
        Switch the heavier views off (for speed or when a caller does not need them).
    """

    greeks: GreeksChoice = "auto"
    dealer_model: str = "classic"
    rate: float = DEFAULT_RATE
    vendor_fallback: VendorFallback = "exclude"
    t_floor_years: float | None = None
    profile_half_width: float = 0.15
    profile_step: float = 0.0025
    max_pain_trend_n: int = 5
    surface_spot_half_width: float = 0.05
    surface_spot_step: float = 0.005
    surface_intraday_step_hours: float = 1.0
    surface_sessions: int = 3
    futures_usd_per_point: Mapping[str, float] = field(default_factory=lambda: _DEFAULT_FUTURES)
    profile: bool = True
    vol: bool = True
    surfaces: bool = True

    def __post_init__(self) -> None:
        if self.greeks not in ("auto", "vendor", "model"):
            raise ConfigError(f"greeks must be vendor, model or auto, not {self.greeks!r}")
        if self.dealer_model not in DEALER_MODELS:
            raise ConfigError(
                f"dealer model must be one of {', '.join(DEALER_MODELS)}, not {self.dealer_model!r}"
            )
        if self.vendor_fallback not in ("exclude", "model"):
            raise ConfigError(
                f"vendor_fallback must be exclude or model, not {self.vendor_fallback!r}"
            )
        if not (0 < self.profile_step <= self.profile_half_width < 1):
            raise ConfigError("profile grid needs 0 < profile_step <= profile_half_width < 1")
        if not (0 < self.surface_spot_step <= self.surface_spot_half_width < 1):
            raise ConfigError(
                "surface grid needs 0 < surface_spot_step <= surface_spot_half_width < 1"
            )
        if self.max_pain_trend_n < 1 or self.surface_sessions < 0:
            raise ConfigError("max_pain_trend_n must be >= 1 and surface_sessions >= 0")
        if self.t_floor_years is not None and self.t_floor_years < 0:
            raise ConfigError("t_floor_years must be >= 0")
