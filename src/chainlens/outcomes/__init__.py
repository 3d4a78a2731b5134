"""Outcome tracking: how often each rule chainlens states was right on the stored history.

Every rule that makes a claim about the future (max-pain pin, walls, gamma regime, flow labels,
OI accumulation / deep-OTM builds / rolls, expected-move zones) is declared as data in
:data:`RULES` with what counts as a hit and a naive baseline measured the same way
(``docs/outcomes.md``). :func:`measure_outcomes` measures them from the store's chains and
trades only, and states every rate with its n and a Wilson 95% interval.
:func:`level_history` gives zero gamma, walls, max pain and spot per session.

Examples
--------
>>> from chainlens.outcomes import rule_by_name
>>> rule_by_name("max_pain_pin").params
{'tol': 0.003}
"""

from __future__ import annotations

from chainlens.outcomes._levels import LEVEL_COLUMNS, LevelHistory, level_history
from chainlens.outcomes._measure import (
    MIN_EVENTS,
    OutcomeResult,
    measure_outcomes,
    measure_underlying,
)
from chainlens.outcomes._reliability import (
    LENS_RULES,
    YESTERDAY_RULES,
    reliability_by_ticker,
    reliability_for,
    what_worked,
)
from chainlens.outcomes._rules import RULE_NAMES, RULES, OutcomeRule, rule_by_name
from chainlens.outcomes._stats import wilson_interval

__all__ = [
    "LENS_RULES",
    "LEVEL_COLUMNS",
    "MIN_EVENTS",
    "RULES",
    "RULE_NAMES",
    "YESTERDAY_RULES",
    "LevelHistory",
    "OutcomeResult",
    "OutcomeRule",
    "level_history",
    "measure_outcomes",
    "measure_underlying",
    "reliability_by_ticker",
    "reliability_for",
    "rule_by_name",
    "wilson_interval",
    "what_worked",
]
