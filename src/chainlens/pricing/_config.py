"""Settings of the pricing layer, as one frozen value object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chainlens import conventions
from chainlens.errors import ConfigError

__all__ = ["PricingConfig"]


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """How model greeks are priced.

    Parameters
    ----------
    rate
        Flat continuously-compounded risk-free rate per year (``conventions.DEFAULT_RATE``).
        It discounts; the carry of each expiry comes from its implied forward.
    dividend_yield
        Continuous dividend yield used only where no forward can be implied (method
        ``"fallback"``), ``conventions.DEFAULT_DIVIDEND_YIELD`` by default.
    t_floor_years
        Floor on time to expiry in years, or ``None`` (default: 0DTE keeps its true remaining
        time). ``conventions.T_FLOOR_YEARS`` (one minute) is the documented choice if wanted.
    iv_source
        ``"vendor"`` uses the file's IV where present and solves the rest from the mid;
        ``"solve"`` always solves from the mid.
    forward_pairs
        Number of put–call pairs nearest the money whose parity forwards are combined per
        expiry (median after trimming), see :func:`chainlens.pricing.implied_forwards`.
    iv_tol
        Absolute tolerance of the implied-vol solver, in annualised vol.

    Examples
    --------
    >>> PricingConfig().rate == conventions.DEFAULT_RATE
    True
    >>> PricingConfig(iv_source="guess")
    Traceback (most recent call last):
    ...
    chainlens.errors.ConfigError: iv_source must be 'vendor' or 'solve', got 'guess'
    """

    rate: float = conventions.DEFAULT_RATE
    dividend_yield: float = conventions.DEFAULT_DIVIDEND_YIELD
    t_floor_years: float | None = None
    iv_source: Literal["vendor", "solve"] = "vendor"
    forward_pairs: int = 5
    iv_tol: float = 1e-12

    def __post_init__(self) -> None:
        if self.iv_source not in ("vendor", "solve"):
            raise ConfigError(f"iv_source must be 'vendor' or 'solve', got {self.iv_source!r}")
        for name in ("rate", "dividend_yield"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not -1.0 < float(v) < 1.0:
                raise ConfigError(f"{name} must be a number in (-1, 1) per year, got {v!r}")
        if self.t_floor_years is not None and not (0.0 <= self.t_floor_years < 1.0):
            raise ConfigError(
                f"t_floor_years must be in [0, 1) or None, got {self.t_floor_years!r}"
            )
        if not isinstance(self.forward_pairs, int) or self.forward_pairs < 1:
            raise ConfigError(f"forward_pairs must be an integer >= 1, got {self.forward_pairs!r}")
        if not 0.0 < self.iv_tol < 1e-3:
            raise ConfigError(f"iv_tol must be in (0, 1e-3), got {self.iv_tol!r}")
