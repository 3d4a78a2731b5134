"""The bias lens (seed 004): votes of independent directional inputs, then the flow summary
and positioning. A vote whose sign a dealer model fixes by construction (DEX under the classic
or short-all model) is not a vote; index put/call OI is hedging, not direction (seed 002)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.market import PCR_READING, name_type
from chainlens.report._model import FigureBook, Section, Sentence
from chainlens.report.lenses.common import g, has_greeks, live, profile_chart
from chainlens.report.lenses.flow import _t, conclusions, flow_summary, positioning
from chainlens.report.rules import say

__all__ = ["bias_lens", "votes"]

#: Dealer models under which the DEX sign carries information (positions from trade sides).
DEX_VOTING_MODELS: frozenset[str] = frozenset({"flow"})


def votes(doc: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The bias votes ``(+1/-1/0, why)`` of a document."""
    a, out = doc["analysis"], []
    net = _t(doc, "net_usd") if doc.get("flow") else None
    if net:
        out.append((1 if net > 0 else -1, "directional net premium (deep ITM excluded)"))
    dex = g(a, "totals", "dex_shares")
    if dex and has_greeks(doc) and a.get("dealer_model") in DEX_VOTING_MODELS:
        out.append((1 if dex > 0 else -1, "dealer DEX sign (flow dealer model)"))
    e0 = next((e for e in g(a, "vol", "expiries") or []
               if e.get("rr_25d") is not None and live(doc, e.get("expiry"))), None)  # fmt: skip
    if e0 and doc["underlying"] != "VIX":
        out.append((1 if e0["rr_25d"] > 0 else -1, "25Δ risk reversal of the nearest live expiry"))
    band = g(doc, "oi", "pcr", "pcr_oi_band")
    if band is not None:
        v, words = PCR_READING[(name_type(doc["underlying"]), band)]
        if v:
            out.append((v, f"put/call OI ({words})"))
    return out


def bias_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    """Bias votes, then flow summary, positioning and conclusions."""
    vs = votes(doc)
    score = sum(v for v, _ in vs)
    ks = fb.add("bias.score", score, "votes", "int", "bias score (sum of ±1 votes)")
    kn = fb.add("bias.n", len(vs), "votes", "int", "signals")
    bias = "bullish" if score > 0 else "bearish" if score < 0 else "neutral"
    sents: list[Sentence] = [say(fb, "bias.score", ks, kn, bias=bias)]
    for v, why in vs:
        sents.append(
            say(
                fb,
                "bias.vote",
                why=why[0].upper() + why[1:],
                vote="bullish" if v > 0 else "bearish",
            )
        )
    model = doc["analysis"].get("dealer_model")
    if model not in DEX_VOTING_MODELS and has_greeks(doc):
        sents.append(say(fb, "bias.no_dex_vote", model=model))
    s1 = Section(id="bias", title="Directional Bias", sentences=sents,
                 charts=[c for c in (profile_chart(doc),) if c])  # fmt: skip
    from chainlens.report.lenses.views import views_section  # issue 11: seed-004 views

    return [
        s1,
        flow_summary(fb, doc),
        positioning(fb, doc),
        views_section(fb, doc),
        conclusions(fb, doc, "bias"),
    ]
