"""Outcome tracking in the reports (issue 16): measured reliability in "Signal vs Noise", the
level history chart of a ticker, and the daily "What Worked Yesterday" section.

The measurements come from :func:`chainlens.report._outcomes.session_outcomes` (handed in as
``doc["outcomes"]`` and ``market["what_worked"]``); every sentence is a rule of
:mod:`chainlens.report.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._model import Chart, FigureBook, Section, Sentence
from chainlens.report.rules import say, th

__all__ = ["OUTCOME_WORDS", "add_reliability", "level_history_chart", "what_worked_section"]

#: Reader's name of each outcome rule (``chainlens.outcomes.RULES``) in report prose.
OUTCOME_WORDS: Mapping[str, str] = {
    "max_pain_pin": "max-pain pin (expiry close within {tol} of max pain)",
    "walls": "walls (next close between the put wall and the call wall)",
    "gamma_regime": "gamma regime (larger next move below zero gamma)",
    "flow_label": "side-adjusted flow label (calls the next session's direction)",
    "flow_divergence": "side-adjusted label on divergence days (vs the naive label)",
    "accumulation_held": "OI accumulation held (over the next sessions)",
    "rolls_direction": "roll direction (price follows the roll)",
    "rolls_held": "roll held (new leg's OI kept)",
    "expected_move_zone": "expected-move zone (close inside the zone; baseline = nominal probability)",
}


def reliability_sentences(fb: FigureBook, doc: Mapping[str, Any], lens: str) -> list[Sentence]:
    """One sentence per outcome rule ``lens`` fires, measured on this ticker's stored history
    (hits, n, hit rate and baseline; "too small" below the minimum number of events)."""
    from chainlens.outcomes import LENS_RULES

    oc = doc.get("outcomes") or {}
    by = {r["rule"]: r for r in oc.get("results") or []}
    t = doc["underlying"]
    km = fb.add("outcomes.min_events", th("outcomes_min_events"), "events", "int", "minimum events")
    out: list[Sentence] = []
    for rule in LENS_RULES.get(lens, ()):
        r = by.get(rule)
        if r is None:
            continue
        p = f"outcomes.{rule}"
        tol = ""
        if r.get("tol") is not None:
            tol = fb.d(fb.add(f"{p}.tol", r["tol"], "fraction of max pain", "pct", "pin tolerance"))
        what = OUTCOME_WORDS.get(rule, rule.replace("_", " ")).format(tol=tol)
        noun = _noun(rule)
        if not r["n"]:
            out.append(say(fb, "sn.reliability_none", what=what, noun=noun, t=t))
            continue
        bh = r["baseline_hits"]
        keys = [
            fb.add(f"{p}.hits", r["hits"], "events", "int", f"{rule} hits"),
            fb.add(f"{p}.n", r["n"], "events", "int", f"{rule} events"),
            fb.add(f"{p}.hit_rate", r["hit_rate"], "fraction", "pct", f"{rule} hit rate"),
            fb.add(f"{p}.baseline_hits", bh, "events", "int" if float(bh).is_integer() else "ratio", f"{rule} baseline hits"),
            fb.add(f"{p}.baseline_n", r["baseline_n"], "events", "int", f"{rule} baseline events"),
            km,
        ]  # fmt: skip
        w = {"what": what, "noun": noun, "t": t, "frm": r.get("from"), "to": r.get("to")}
        if r["n"] >= th("outcomes_min_events"):
            out.append(say(fb, "sn.reliability", *keys, **w))
        else:
            out.append(say(fb, "sn.reliability_small", *keys, **w))
    return out


def _noun(rule: str) -> str:
    from chainlens.outcomes import rule_by_name

    return rule_by_name(rule).noun


def level_history_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Zero gamma, call wall, put wall, max pain (next expiry) and spot per stored session
    (USD), from :func:`chainlens.outcomes.level_history` up to the report session."""
    rows = (doc.get("outcomes") or {}).get("levels") or []
    if not rows:
        return None
    names = [("spot", "spot"), ("zero_gamma", "zero gamma"), ("call_wall", "call wall"),
             ("put_wall", "put wall"), ("max_pain", "max pain")]  # fmt: skip
    return Chart(
        id="level_history", kind="line", title="Level history per session (USD; max pain of the next expiry)",
        x_label="session", y_label="USD", y_unit="price", x_unit="date",
        x=[r["session"] for r in rows],
        series=[{"name": lab, "values": [r.get(k) for r in rows]} for k, lab in names],
    )  # fmt: skip


def add_reliability(
    fb: FigureBook, doc: Mapping[str, Any], lens: str, sections: list[Section]
) -> list[Section]:
    """``sections`` with the reliability sentences in "Signal vs Noise" (a new section before
    Key Conclusions for a lens without one) and the level history chart beside them; unchanged
    when the document carries no outcomes."""
    if not doc.get("outcomes"):
        return sections
    sents = reliability_sentences(fb, doc, lens)
    chart = level_history_chart(doc)
    sn = next((s for s in sections if s.id == "signal_vs_noise"), None)
    if sn is None:
        sn = Section(id="signal_vs_noise", title="Signal vs Noise")
        at = next((i for i, s in enumerate(sections) if s.id == "key_conclusions"), len(sections))
        sections = [*sections[:at], sn, *sections[at:]]
    sn.sentences += sents
    if chart is not None:
        sn.charts.append(chart)
    return sections


def what_worked_section(fb: FigureBook, m: Mapping[str, Any]) -> Section | None:
    """ "What Worked Yesterday": the previous session's pins, walls, zone, flow label and OI holds
    checked against this close (None when the market document carries no check list)."""
    checks = m.get("what_worked")
    if checks is None:
        return None
    s = Section(id="what_worked_yesterday", title="What Worked Yesterday")
    if not checks:
        s.sentences.append(say(fb, "daily.yesterday_none"))
        return s
    right = sum(bool(c["hit"]) for c in checks)
    kr = fb.add("what_worked.right", right, "checks", "int", "reads that held")
    kn = fb.add("what_worked.n", len(checks), "checks", "int", "reads checked")
    s.sentences.append(say(fb, "daily.yesterday_count", kr, kn))
    from chainlens.outcomes import YESTERDAY_RULES

    rank = {r: i for i, r in enumerate(YESTERDAY_RULES)}
    first = sorted(checks, key=lambda c: (rank.get(c["rule"], len(rank)), c["underlying"]))
    for c in first[:12]:  # pins, walls, zones, flow labels first; the table lists every check
        s.sentences.append(say(fb, "daily.yesterday", t=c["underlying"], text=c["text"]))
    rows = [{"underlying": c["underlying"], "session": str(c["session"]),
             "held": "held" if c["hit"] else "missed", "text": c["text"]} for c in checks]  # fmt: skip
    cols = [("underlying", "Ticker", "", "text"), ("session", "Read of", "date", "text"),
            ("held", "Outcome", "", "text"), ("text", "Check", "", "text")]  # fmt: skip
    s.tables.append(fb.table("what_worked", "Yesterday's reads checked at this close", cols, rows))
    return s
