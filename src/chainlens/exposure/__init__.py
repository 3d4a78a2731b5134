"""Dealer exposures: GEX/DEX/vanna/charm, gamma profile and zero gamma, walls, max pain.

Conventions and units: :mod:`chainlens.conventions` and each module's notes.
"""

from chainlens.exposure._config import AnalysisConfig
from chainlens.exposure._exposure import (
    ContractExposures,
    Groups,
    contract_exposures,
    dealer_contracts,
    group_by,
    group_sum,
)
from chainlens.exposure._maxpain import MaxPain, max_pain, max_pain_trend
from chainlens.exposure._profile import (
    ProfileTerms,
    ZeroGamma,
    gamma_profile,
    profile_terms,
    spot_grid,
    zero_gamma,
)
from chainlens.exposure._surface import Surfaces, dealer_surfaces
from chainlens.exposure._walls import wall_above, wall_below

__all__ = [
    "AnalysisConfig",
    "ContractExposures",
    "Groups",
    "MaxPain",
    "ProfileTerms",
    "Surfaces",
    "ZeroGamma",
    "contract_exposures",
    "dealer_contracts",
    "dealer_surfaces",
    "gamma_profile",
    "group_by",
    "group_sum",
    "max_pain",
    "max_pain_trend",
    "profile_terms",
    "spot_grid",
    "wall_above",
    "wall_below",
    "zero_gamma",
]
