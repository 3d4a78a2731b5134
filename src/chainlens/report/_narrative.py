"""Deterministic narrative rules: thresholds as data, every sentence from model figures.

Nothing here invents a fact: each function receives the figures (already registered in a
:class:`~chainlens.report._model.FigureBook`) and chooses words by the tables below. Where an
input is missing the text says so plainly (:data:`MISSING`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.oi import PCR_BANDS

__all__ = [
    "GEX_REGIMES",
    "MISSING",
    "NOISE_PREMIUM_USD",
    "PCR_WORDS",
    "PRINT_SIZE",
    "READ_THROUGH_RULES",
    "band_text",
    "pcr_words",
    "print_descriptor",
    "read_through",
]

#: What a section says when its input is absent.
MISSING: Mapping[str, str] = {
    "trades": "No option trades are stored for this session, so aggressor sides, net premium and notable prints cannot be computed.",
    "prints": "No off-exchange (dark-pool) prints are stored for this session.",
    "history": "Only one session is stored for this ticker, so overnight OI changes, streaks and rolls are not available.",
    "iv": "The chain carries no implied volatility and none could be solved, so smiles, skew and expected-move ranges are not available.",
    "bars": "No daily bars are stored; realized volatility uses the chain's spot per stored session.",
    "earnings": "No earnings event is stored for this ticker.",
}

#: P/C ratio words by band (seed 002 "Put/call OI ratio" bands; volume reuses them).
PCR_WORDS: Mapping[str, Mapping[str, str]] = {
    "volume": {
        "below_0.3": "extreme call-dominant flow today",
        "0.3_0.7": "call-volume dominant today",
        "0.7_1.2": "balanced call/put volume today",
        "1.2_2.0": "put-volume dominant today",
        "above_2.0": "heavy put-dominant flow today (unusually high)",
    },
    "oi": {
        "below_0.3": "extreme call dominance in open interest; minimal hedging",
        "0.3_0.7": "call-heavy open interest (normal bullish positioning)",
        "0.7_1.2": "balanced open interest (speculation and hedging mixed)",
        "1.2_2.0": "put-heavy open interest (structural protection/positioning)",
        "above_2.0": "extreme put-heavy open interest (maximum protection or bearish positioning)",
    },
}

#: Premium below which a print is noise (USD); the read-through "noise" rule uses it too.
NOISE_PREMIUM_USD = 1e5

#: Premium size classes of a print (USD lower bounds, descending).
PRINT_SIZE: tuple[tuple[float, str], ...] = (
    (5e6, "Institutional-sized"),
    (1e6, "Large"),
    (2.5e5, "Significant"),
    (0.0, "Small"),
)

#: Dealer gamma regime by the sign of total GEX (USD per 1%).
GEX_REGIMES: Mapping[str, str] = {
    "negative": "dealers are short gamma and must hedge with the move, which amplifies intraday swings",
    "positive": "dealers are long gamma and hedge against the move, which dampens intraday swings",
    "zero": "dealer gamma is flat",
}

#: Read-through implication rules, first match wins within each group. ``when`` keys:
#: ``right``, ``side`` (customer side), ``max_dte``/``min_dte`` (days), ``moneyness``
#: (``itm``/``atm``/``otm``), ``min_size_to_oi``, ``max_premium_usd``, ``expiry_class``,
#: ``not_expiry_class``.
READ_THROUGH_RULES: tuple[dict[str, Any], ...] = (
    {
        "group": "noise",
        "when": {"max_premium_usd": 1e5},
        "text": "too small to move positioning; treat as noise unless follow-up blocks appear",
    },
    {
        "group": "gamma",
        "when": {"side": "buy", "max_dte": 7},
        "text": "customers bought short-dated options: dealers took the short-gamma side of this print into that expiry",
    },
    {
        "group": "gamma",
        "when": {"side": "sell", "max_dte": 7},
        "text": "customers sold short-dated options: dealers took the long-gamma side of this print into that expiry",
    },
    {
        "group": "pin",
        "when": {"right": "P", "side": "buy", "moneyness": "otm", "not_expiry_class": "0dte"},
        "text": "downside insurance below spot, not an expiration-day pin",
    },
    {
        "group": "pin",
        "when": {"right": "C", "side": "buy", "moneyness": "itm"},
        "text": "ITM call buying is delta-heavy stock replacement or a bullish bet with little premium at risk",
    },
    {
        "group": "pin",
        "when": {"right": "P", "side": "buy", "moneyness": "itm"},
        "text": "ITM put buying is delta-heavy bearish exposure or a hedge replacing a short stock position",
    },
    {
        "group": "pin",
        "when": {"right": "C", "side": "sell", "moneyness": "otm"},
        "text": "OTM call selling above spot caps upside (overwriting); dealers took the long-gamma side at that strike",
    },
    {
        "group": "pin",
        "when": {"expiry_class": "0dte"},
        "text": "same-day expiry: watch intraday gamma-induced flows around this strike",
    },
    {
        "group": "new",
        "when": {"min_size_to_oi": 1.0},
        "text": "size exceeds the existing open interest, so this is mostly new positioning",
    },
)


def band_text(
    value: float | None, bands: tuple[tuple[float, str, str, str], ...] = PCR_BANDS
) -> str | None:
    """The band name of ``value`` (``None`` if missing)."""
    if value is None:
        return None
    name = None
    for lo, n, _, _ in bands:
        if value >= lo:
            name = n
    return name


def pcr_words(value: float | None, kind: str) -> str:
    """Interpretation of a put/call ratio (``kind``: ``volume`` or ``oi``)."""
    b = band_text(value)
    return PCR_WORDS[kind].get(b or "", "not available")


def _moneyness(p: Mapping[str, Any]) -> str:
    otm = p.get("otm_pct")
    if otm is None:
        return "unknown"
    if abs(otm) < 0.5:
        return "atm"
    return "otm" if otm > 0 else "itm"


def _match(when: Mapping[str, Any], p: Mapping[str, Any]) -> bool:
    dte = p.get("dte_days")
    for k, v in when.items():
        if k == "right" and p.get("right") != v:
            return False
        if k == "side" and p.get("side") != v:
            return False
        if k == "max_dte" and (dte is None or dte > v):
            return False
        if k == "min_dte" and (dte is None or dte < v):
            return False
        if k == "moneyness" and _moneyness(p) != v:
            return False
        if k == "min_size_to_oi" and not (p.get("size_to_oi") is not None and p["size_to_oi"] >= v):
            return False
        if k == "max_premium_usd" and not ((p.get("premium_usd") or 0.0) < v):
            return False
        if k == "expiry_class" and p.get("expiry_class") != v:
            return False
        if k == "not_expiry_class" and p.get("expiry_class") == v:
            return False
    return True


def print_descriptor(p: Mapping[str, Any]) -> tuple[str, str]:
    """Size class and flow kind of a print, from its premium, right and customer side."""
    prem = p.get("premium_usd") or 0.0
    size = next(name for lo, name in PRINT_SIZE if prem >= lo)
    right = "call" if p.get("right") == "C" else "put"
    kind = {
        ("call", "buy"): "call buying (bullish)",
        ("call", "sell"): "call selling (bearish or overwriting)",
        ("put", "buy"): "put buying (downside protection or bearish)",
        ("put", "sell"): "put selling (bullish or income)",
    }.get((right, p.get("side") or ""), f"{right} flow with no clear aggressor side")
    return size, kind


def read_through(p: Mapping[str, Any]) -> list[str]:
    """Implication clauses of a print (first match per rule group), from its facts only."""
    out: list[str] = []
    seen: set[str] = set()
    for rule in READ_THROUGH_RULES:
        if rule["group"] in seen:
            continue
        if _match(rule["when"], p):
            out.append(rule["text"])
            seen.add(rule["group"])
            if rule["group"] == "noise":
                break
    return out
