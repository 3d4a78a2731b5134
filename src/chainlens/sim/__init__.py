"""The market simulator: a realistic multi-session options market with ground truth.

Writes the canonical tables (:mod:`chainlens.schema`) as Parquet that ``chainlens ingest``
reads, plus ground truth (true aggressor side, open/close, spread groups, programs) and the
planted scenarios in ``scenarios.json``, kept apart from the analytics' inputs.
"""

from chainlens.sim._config import ProgressFn, SimConfig, SimManifest
from chainlens.sim._market import build_demo_market, simulate_market
from chainlens.sim._scenarios import SCENARIO_KINDS
from chainlens.sim._tape import CONDITIONS, EXCHANGES

__all__ = [
    "CONDITIONS",
    "EXCHANGES",
    "SCENARIO_KINDS",
    "ProgressFn",
    "SimConfig",
    "SimManifest",
    "build_demo_market",
    "simulate_market",
]
