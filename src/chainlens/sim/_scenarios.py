"""Planted scenarios (placeholder: none yet)."""

from __future__ import annotations

import datetime as dt

import numpy as np

__all__ = ["ScenarioPlan", "plan_scenarios"]


class ScenarioPlan:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def earn_offset(self, eo: np.ndarray) -> np.ndarray:
        return eo

    def earn_jump(self, jump: np.ndarray) -> np.ndarray:
        return jump

    def apply_paths(self, paths, uni) -> None:
        pass

    def on_listing(self, ctx) -> None:
        pass

    def orders(self, ctx, bg):
        return None

    def prints(self, ctx, bg):
        return None

    def after_session(self, ctx, oi_end) -> None:
        pass

    def events(self, sessions) -> list:
        return []

    def to_json(self, sessions: list[dt.date]) -> list[dict]:
        return []


def plan_scenarios(uni, sessions, seed, *, enabled=True) -> ScenarioPlan:
    return ScenarioPlan()


SCENARIO_KINDS = (
    "accumulation",
    "deep_otm_put_build",
    "bullish_roll",
    "bearish_roll",
    "naked_close",
    "call_selling_rally",
    "earnings_ramp",
    "max_pain_pin",
    "darkpool_distribution",
)
