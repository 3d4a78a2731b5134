"""Reliability sentences for the reports ("Signal vs Noise", "what worked yesterday")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainlens.store import Store

__all__ = ["reliability_for"]


def reliability_for(
    ticker: str,
    rules: Sequence[str],
    store: Store,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[str]:
    """One sentence per rule: its measured hits, n and baseline for ``ticker`` up to ``end``.

    A rule with fewer than :data:`chainlens.outcomes.MIN_EVENTS` events says that n is too small
    to say anything; a rule with none says so.

    Examples
    --------
    The sentence for a measured rule reads
    ``"max_pain_pin: 9 of 31 expiries hit (29%), baseline 5 of 31."``
    """
    from chainlens.outcomes._measure import measure_underlying

    if not rules:
        return []
    res = measure_underlying(store, ticker, start=start, end=end, rules=list(rules))
    return [r.sentence() for r in res]
