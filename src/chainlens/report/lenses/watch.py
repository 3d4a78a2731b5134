"""Sentences of yesterday's watch-item follow-up (:func:`chainlens.report._watch.watch_followup`;
rules ``sig.followup`` and ``sig.followup_item``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._model import FigureBook, Sentence
from chainlens.report.rules import say

__all__ = ["followup_sentences"]

_ORDER = ("confirmed", "rolled", "closed", "unwound")


def followup_sentences(fb: FigureBook, fu: Mapping[str, Any] | None) -> list[Sentence]:
    """ "Yesterday's watch items: 3 confirmed, 1 rolled, 1 unwound" and one line per item
    (at most five)."""
    if not fu or not fu.get("items"):
        return []
    counts = fu.get("counts") or {}
    summary = ", ".join(f"{counts[k]} {k}" for k in _ORDER if counts.get(k))
    out = [say(fb, "sig.followup", label="Watch follow-up", summary=summary)]
    for j, i in enumerate(fu["items"][:5]):
        keys = [fb.add(f"fu{j}.strike", i.get("strike"), "USD", "price", "strike"),
                fb.add(f"fu{j}.expiry", i.get("expiry"), "date", "date", "expiry"),
                fb.add(f"fu{j}.from", fu.get("from_session"), "date", "date", "session watched"),
                fb.add(f"fu{j}.oi_then", i.get("oi_then"), "contracts", "int", "OI when watched"),
                fb.add(f"fu{j}.oi_now", i.get("oi_now"), "contracts", "int", "OI now")]  # fmt: skip
        out.append(say(fb, "sig.followup_item", *keys, label=str(i.get("source") or "watch").capitalize(),
                       right=i.get("right") or "", status=i.get("status")))  # fmt: skip
    return out
