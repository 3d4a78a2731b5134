"""Constants shared by the NumPy and the compiled pricing kernels (:mod:`chainlens.pricing._bsm`,
:mod:`chainlens.pricing._bsm_numba`), so neither imports the other's module."""

from __future__ import annotations

__all__ = ["GREEK_NAMES", "SIGMA_SQRT_T_MIN", "T_MIN_YEARS"]

#: Every quantity :func:`chainlens.pricing.greeks` can return.
GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "vanna", "charm", "vomma")

#: Below these, the option is priced at its intrinsic-value limit (no division by ~0).
T_MIN_YEARS = 1e-15
SIGMA_SQRT_T_MIN = 1e-100
