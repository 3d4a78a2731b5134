"""Settings of the flow analytics, in one frozen value object.

Every threshold that changes a result is a field here (keyword-only, documented), so a report
can state the settings it used and a test can vary one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chainlens.conventions import SIDE_BUY_THRESHOLD, SIDE_SELL_THRESHOLD
from chainlens.errors import ConfigError

__all__ = ["DEFAULT_MULTILEG_CONDITIONS", "FlowConfig", "SideMethod"]

SideMethod = Literal["quote", "tick", "lee_ready", "emo"]

#: Condition codes that mark a leg of a spread / complex order (OPRA "multi-leg" and
#: "stock-option tied" families, and common vendor spellings). Compared case-insensitively
#: after stripping. Numeric vendor ids are not included by default: their meaning differs by
#: vendor, so pass them explicitly (``FlowConfig(multileg_conditions=...)``).
DEFAULT_MULTILEG_CONDITIONS: frozenset[str] = frozenset(
    {
        # OPRA multi-leg
        "MLET", "MLAT", "MLCT", "MLFT", "MESL", "MASL", "MFSL", "CBMO", "MCTP",
        # OPRA stock-option (tied) legs
        "TLET", "TLAT", "TLCT", "TLFT", "TESL", "TASL", "TFSL",
        # vendor words
        "SPREAD", "SPRD", "COMBO", "CMBO", "COMPLEX", "MULTILEG", "MULTI-LEG", "STDL",
        "STRADDLE", "STRANGLE", "BWRT", "BUYWRITE", "TIED",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowConfig:
    """Settings of :func:`chainlens.flow.analyze_flow` and its kernels.

    Parameters
    ----------
    side_method
        Aggressor rule: ``quote`` (SPEC quote rule with the mid band, default), ``tick``,
        ``lee_ready`` or ``emo``.
    buy_threshold, sell_threshold
        Mid band of the quote rule on ``x = (price - bid)/(ask - bid)`` (conventions).
    multileg_conditions
        Condition codes that tag a trade as a leg of a multi-leg order.
    multileg_same_ts
        Also tag as multi-leg every trade that shares its exact timestamp with a trade in
        *another* contract of the same underlying (a same-instant package print).
    sweep_window_ms
        Trades of one contract, same side, each within this many milliseconds of the previous
        one, form a burst; a burst on at least ``sweep_min_exchanges`` exchanges is a sweep.
    sweep_min_exchanges
        Distinct exchanges needed for a sweep.
    block_min_contracts, block_min_premium_usd
        A trade (or sweep) at or above either is a block.
    notable_top_n
        How many notable prints to keep (ranked by flow score, then premium).
    label_epsilon
        Relative dead band for labels: ``|net| <= eps * total`` is ``neutral``.
    darkpool_label_threshold
        Dark pool: ``|net| / notional`` at or above this gives accumulation/distribution.
    twap_min_slices, twap_max_interval_cv, twap_size_tolerance
        TWAP detection: at least this many prints of one ticker with the same size (within the
        relative tolerance) whose inter-arrival times have a coefficient of variation at most
        ``twap_max_interval_cv``.
    deep_itm_delta, deep_itm_pct
        A trade is *deep in the money* when ``|delta| >= deep_itm_delta`` or its strike is more
        than ``deep_itm_pct`` percent of spot in the money; such trades (and box/conversion-like
        packages) are left out of every directional figure (issue 10).
    notable_min_premium_usd, notable_min_premium_share
        A notable print needs premium of at least ``max(notable_min_premium_usd,
        notable_min_premium_share * the name's total premium)``.
    """

    side_method: SideMethod = "quote"
    buy_threshold: float = SIDE_BUY_THRESHOLD
    sell_threshold: float = SIDE_SELL_THRESHOLD
    multileg_conditions: frozenset[str] = field(default=DEFAULT_MULTILEG_CONDITIONS)
    multileg_same_ts: bool = True
    sweep_window_ms: float = 50.0
    sweep_min_exchanges: int = 2
    block_min_contracts: int = 1_000
    block_min_premium_usd: float = 1_000_000.0
    notable_top_n: int = 25
    label_epsilon: float = 0.0
    darkpool_label_threshold: float = 0.10
    twap_min_slices: int = 10
    twap_max_interval_cv: float = 0.25
    twap_size_tolerance: float = 0.05
    deep_itm_delta: float = 0.85
    deep_itm_pct: float = 10.0
    notable_min_premium_usd: float = 25_000.0
    notable_min_premium_share: float = 0.005

    def __post_init__(self) -> None:
        if self.side_method not in ("quote", "tick", "lee_ready", "emo"):
            raise ConfigError(
                f"side_method must be quote|tick|lee_ready|emo, not {self.side_method!r}"
            )
        if not 0.0 <= self.sell_threshold <= self.buy_threshold <= 1.0:
            raise ConfigError("need 0 <= sell_threshold <= buy_threshold <= 1")
        if self.sweep_window_ms < 0 or self.sweep_min_exchanges < 2:
            raise ConfigError("sweep_window_ms must be >= 0 and sweep_min_exchanges >= 2")
        if self.twap_min_slices < 3:
            raise ConfigError("twap_min_slices must be >= 3")
