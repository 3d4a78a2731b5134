"""Compatibility module: the lenses live in :mod:`chainlens.report.lenses` (one module per
lens) and the daily report in :mod:`chainlens.report.daily` (issue 10)."""

from __future__ import annotations

from chainlens.report.daily import build_daily
from chainlens.report.lenses import LENSES, build_lens
from chainlens.report.lenses.common import (
    gex_chart,
    heatmap_charts,
    max_pain_chart,
    net_premium_chart,
    oi_change_chart,
    oi_chart,
    profile_chart,
    side_chart,
    skew_chart,
    smile_chart,
    zones_chart,
)

__all__ = [
    "LENSES",
    "build_daily",
    "build_lens",
    "gex_chart",
    "heatmap_charts",
    "max_pain_chart",
    "net_premium_chart",
    "oi_change_chart",
    "oi_chart",
    "profile_chart",
    "side_chart",
    "skew_chart",
    "smile_chart",
    "zones_chart",
]
