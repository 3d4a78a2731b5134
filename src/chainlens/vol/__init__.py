"""Volatility views: ATM straddle expected moves, zones, delta ranges, smiles and skew."""

from chainlens.vol._expected_move import (
    DeltaStrikes,
    Straddles,
    argmin_per_group,
    atm_straddles,
    delta_strikes,
    expected_move_zones,
    quote_mid,
)
from chainlens.vol._smile import iv_at_strike, smile_table, term_structure

__all__ = [
    "DeltaStrikes",
    "Straddles",
    "argmin_per_group",
    "atm_straddles",
    "delta_strikes",
    "expected_move_zones",
    "iv_at_strike",
    "quote_mid",
    "smile_table",
    "term_structure",
]
