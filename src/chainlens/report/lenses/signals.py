"""The OI signals section (seed 002, issue 11): rolls and naked closes, accumulation and
deep-OTM put builds, OI flushes, event builds, opposite-direction builds, PCR vs call-flow
divergence, call selling into strength, max-pain pin, the term-structure reading and the
follow-up of yesterday's watch items.

Signals are computed by :mod:`chainlens.report._signals` (pure, documented formulas); every
sentence comes from a ``sig.*`` rule of :mod:`chainlens.report.rules`; the records are in the
JSON model as the ``oi_signals`` and ``term_structure`` tables and the ``term_structure`` chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chainlens.report._model import Chart, FigureBook, Section, Sentence
from chainlens.report._signals import KIND_WORDS, all_signals, direction_words
from chainlens.report.rules import say

__all__ = ["daily_signals_section", "market_signals", "signals_section", "term_chart"]


def _over(n: Any) -> str:
    return f" over {n} sessions" if n else ""


def _sentence(fb: FigureBook, i: int, s: Mapping[str, Any], spot: Any) -> Sentence | None:
    p, k = f"sig{i}", s["kind"]
    right = s.get("right") or ""
    if k in ("bullish_roll", "bearish_roll"):
        keys = [fb.add(f"{p}.contracts", s["contracts"], "contracts", "int", "contracts rolled"),
                fb.add(f"{p}.expiry", s["expiry"], "date", "date", "from expiry"),
                fb.add(f"{p}.strike", s["strike"], "USD", "price", "from strike"),
                fb.add(f"{p}.to_expiry", s["to_expiry"], "date", "date", "to expiry"),
                fb.add(f"{p}.to_strike", s["to_strike"], "USD", "price", "to strike")]  # fmt: skip
        return say(fb, "sig.roll", *keys, label="Roll", kind=KIND_WORDS[k].capitalize(), direction=direction_words(s["direction"]),
                   right=right, over=_over(s.get("sessions")), watch=s["watch"])  # fmt: skip
    if k == "naked_close":
        keys = [fb.add(f"{p}.contracts", s["contracts"], "contracts", "int", "contracts closed"),
                fb.add(f"{p}.expiry", s["expiry"], "date", "date", "expiry"),
                fb.add(f"{p}.strike", s["strike"], "USD", "price", "strike")]  # fmt: skip
        return say(fb, "sig.close", *keys, label="Close", direction=direction_words(s["direction"]), right=right,
                   over=_over(s.get("sessions")), watch=s["watch"])  # fmt: skip
    if k == "accumulation":
        keys = [fb.add(f"{p}.contracts", s["contracts"], "contracts", "int", "contracts built"),
                fb.add(f"{p}.expiry", s["expiry"], "date", "date", "expiry"),
                fb.add(f"{p}.strike", s["strike"], "USD", "price", "strike"),
                fb.add(f"{p}.sessions", s["sessions"], "sessions", "int", "streak length"),
                fb.add(f"{p}.oi_start", s.get("oi_start"), "contracts", "int", "OI before the streak"),
                fb.add(f"{p}.oi_end", s.get("oi_end"), "contracts", "int", "OI now")]  # fmt: skip
        return say(fb, "sig.acc", *keys, label="Accumulation", direction=direction_words(s["direction"]), right=right, watch=s["watch"])  # fmt: skip
    if k == "deep_otm_put_build":
        s0 = s.get("spot_at_start") or spot
        dist = (s0 - s["strike"]) / s0 if s0 else None
        keys = [fb.add(f"{p}.contracts", s["contracts"], "contracts", "int", "contracts built"),
                fb.add(f"{p}.expiry", s["expiry"], "date", "date", "expiry"),
                fb.add(f"{p}.strike", s["strike"], "USD", "price", "strike"),
                fb.add(f"{p}.below_spot", dist, "fraction of spot", "pct", "strike below spot when the build began"),
                fb.add(f"{p}.sessions", s["sessions"], "sessions", "int", "streak length"),
                fb.add(f"{p}.nearer", s.get("nearer_build"), "contracts", "int", "nearer put strikes' build")]  # fmt: skip
        return say(fb, "sig.deep_put", *keys, label="Deep-OTM puts")
    if k == "flush":
        keys = [fb.add(f"{p}.contracts", s["contracts"], "contracts", "int", "contracts flushed"),
                fb.add(f"{p}.expiry", s["expiry"], "date", "date", "expiry"),
                fb.add(f"{p}.strike", s["strike"], "USD", "price", "strike"),
                fb.add(f"{p}.fraction", s.get("fraction"), "fraction of prior OI", "pct", "share of OI closed")]  # fmt: skip
        return say(fb, "sig.flush", *keys, label="Flush", direction=direction_words(s["direction"]), right=right, watch=s["watch"])  # fmt: skip
    if k == "event_build":
        keys = [fb.add(f"{p}.contracts", s["contracts"], "contracts", "int", "contracts built"),
                fb.add(f"{p}.expiry", s["expiry"], "date", "date", "target expiry"),
                fb.add(f"{p}.event_date", s.get("event_date"), "date", "date", "event date"),
                fb.add(f"{p}.ratio", s.get("build_ratio"), "ratio", "ratio", "build / baseline"),
                fb.add(f"{p}.calls", s.get("call_build"), "contracts", "int_signed", "call build"),
                fb.add(f"{p}.puts", s.get("put_build"), "contracts", "int_signed", "put build")]  # fmt: skip
        ev = str(s.get("event") or "event")
        ev = ev.upper() if ev.lower() in ("fomc", "cpi", "ppi", "nfp", "pdufa") else ev.capitalize()
        return say(
            fb,
            "sig.event",
            *keys,
            label="Event build",
            event=ev,
            direction=direction_words(s["direction"]),
        )
    if k == "opposite_build":
        keys = [fb.add(f"{p}.calls", s.get("call_build"), "contracts", "int", "call build"),
                fb.add(f"{p}.puts", s.get("put_build"), "contracts", "int", "put build")]  # fmt: skip
        return say(fb, "sig.opposite", *keys, label="Opposite build", watch=s["watch"])
    if k == "pcr_divergence":
        keys = [fb.add(f"{p}.pcr", s.get("pcr_oi"), "ratio", "ratio", "P/C OI"),
                fb.add(f"{p}.share", s.get("call_bought_share"), "fraction", "pct", "calls' share of directional premium bought")]  # fmt: skip
        return say(
            fb,
            "sig.pcr_div",
            *keys,
            label="PCR divergence",
            direction=direction_words(s["direction"]),
        )
    if k == "call_selling_rally":
        keys = [fb.add(f"{p}.sold", s.get("calls_sold_usd"), "USD", "money", "directional calls sold"),
                fb.add(f"{p}.bought", s.get("calls_bought_usd"), "USD", "money", "directional calls bought")]  # fmt: skip
        return say(fb, "sig.call_selling", *keys, label="Call selling")
    if k == "max_pain_pin":
        keys = [fb.add(f"{p}.max_pain", s.get("strike"), "USD", "price", "max pain"),
                fb.add(f"{p}.distance", (s.get("distance_pct") or 0.0) / 100.0, "fraction of spot", "pct_signed", "spot vs max pain"),
                fb.add(f"{p}.expiry", s.get("expiry"), "date", "date", "expiry")]  # fmt: skip
        return say(fb, "sig.pin", *keys, label="Pin")
    return None


def term_chart(term: Mapping[str, Any] | None) -> Chart | None:
    """OI by live expiry (contracts; calls and puts stacked as two series), the seed-002 term
    structure table as a chart."""
    if not term or not term.get("table"):
        return None
    rows = term["table"][:20]
    return Chart(
        id="term_structure", kind="bar", title=f"OI term structure by expiry (contracts) — {term['pattern'].replace('_', ' ')}",
        x_label="expiry", y_label="contracts", y_unit="contracts", x=[str(r["expiry"])[:10] for r in rows],
        series=[{"name": "calls", "values": [r.get("call_oi") for r in rows]},
                {"name": "puts", "values": [r.get("put_oi") for r in rows]}],
    )  # fmt: skip


#: Event kinds as prose (the events input's ``kind``).
EVENT_WORDS = {
    "fomc": "FOMC",
    "cpi": "CPI",
    "ppi": "PPI",
    "nfp": "NFP",
    "pdufa": "PDUFA",
    "earnings": "Earnings",
}


def prepost(
    fb: FigureBook, rows: Sequence[Mapping[str, Any]] | None
) -> tuple[list[Sentence], Any, Chart | None]:
    """Seed-002 pre/post event comparison (``doc["event_prepost"]``): one sentence per event
    (OI and ATM IV of its expiry before and after; a decline of at least ``flush_min_fraction``
    reads as the event's flush), the table and a before/after OI chart."""
    from chainlens.report.rules import th

    if not rows:
        return [], None, None
    sents = []
    for i, r in enumerate(rows):
        ch = r.get("oi_change_pct")
        reading = ("OI not comparable (the expiry settled)" if ch is None
                   else "the event's OI flushed (profit-taking: the move is done)" if ch <= -th("flush_min_fraction")
                   else "OI kept after the event (positions held or extended)")  # fmt: skip
        keys = [fb.add(f"ev{i}.before_oi", r.get("before_oi"), "contracts", "int", "OI before"),
                fb.add(f"ev{i}.after_oi", r.get("after_oi"), "contracts", "int", "OI after"),
                fb.add(f"ev{i}.oi_change", ch, "fraction", "pct_signed", "OI change"),
                fb.add(f"ev{i}.before_iv", r.get("before_atm_iv"), "1/yr (decimal)", "iv", "ATM IV before"),
                fb.add(f"ev{i}.after_iv", r.get("after_atm_iv"), "1/yr (decimal)", "iv", "ATM IV after")]  # fmt: skip
        sents.append(say(fb, "sig.event_prepost", *keys, label="Before/after event", event=EVENT_WORDS.get(str(r["kind"]).lower(), str(r["kind"]).capitalize()),
                         d=r["date"], e=r.get("target_expiry") or "n/a", b=r["before_session"], a=r["after_session"], reading=reading))  # fmt: skip
    tb = fb.table("event_prepost", "Events: the event expiry's OI, volume and ATM IV before vs after", [
        ("kind", "event", "", "text"), ("date", "date", "date", "date"), ("target_expiry", "expiry", "date", "date"),
        ("before_session", "before", "date", "date"), ("after_session", "after", "date", "date"),
        ("before_oi", "OI before", "contracts", "int"), ("after_oi", "OI after", "contracts", "int"),
        ("oi_change_pct", "OI change", "fraction", "pct_signed"), ("before_volume", "vol before", "contracts", "int"),
        ("after_volume", "vol after", "contracts", "int"), ("before_atm_iv", "ATM IV before", "IV", "iv"),
        ("after_atm_iv", "ATM IV after", "IV", "iv"), ("iv_change", "IV change", "IV", "pct_signed")], [dict(r) for r in rows])  # fmt: skip
    ch = Chart(
        id="event_prepost", kind="bar", title="Event expiry OI before vs after each event (contracts)",
        x_label="event", y_label="contracts", y_unit="contracts",
        x=[f"{r['kind']} {r['date']}" for r in rows],
        series=[{"name": "OI before", "values": [r.get("before_oi") for r in rows]},
                {"name": "OI after", "values": [r.get("after_oi") for r in rows]}],
    )  # fmt: skip
    return sents, tb, ch


_COLS = [
    ("kind", "signal", "", "text"), ("direction", "direction", "", "text"), ("right", "C/P", "", "text"),
    ("expiry", "expiry", "date", "date"), ("strike", "strike", "USD", "price"),
    ("to_expiry", "to expiry", "date", "date"), ("to_strike", "to strike", "USD", "price"),
    ("contracts", "contracts", "contracts", "int"), ("sessions", "sessions", "sessions", "int"),
    ("watch", "watch list", "", "text"),
]  # fmt: skip


def signals_section(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Every seed-002 signal of the document, one sentence each (rules ``sig.*``), the signal
    and term-structure tables, the term-structure chart and yesterday's watch-item follow-up
    (``doc["watch_followup"]`` when the report writer attached it)."""
    got = all_signals(doc)
    spot = (doc.get("analysis") or {}).get("spot")
    sents: list[Sentence] = []
    for i, s in enumerate(got["signals"]):
        x = _sentence(fb, i, s, spot)
        if x is not None:
            sents.append(x)
    term = got["term"]
    if term:
        share = term["table"][0].get("oi_share") if term["table"] else None
        kt = fb.add(
            "term.near_share", share, "fraction of OI", "pct", "nearest live expiry's OI share"
        )
        exp = f" ({', '.join(term['expiries'])})" if term["expiries"] else ""
        sents.append(say(fb, "sig.term", kt, label="Term structure", pattern=term["pattern"].replace("_", " "),
                         reading=term["reading"], exp=exp))  # fmt: skip
    if not got["signals"]:
        sents.insert(0, say(fb, "sig.none"))
    from chainlens.report.lenses.watch import followup_sentences

    sents += followup_sentences(fb, doc.get("watch_followup"))
    tables = []
    recs = [{**s, "kind": KIND_WORDS.get(s["kind"], s["kind"]), "direction": direction_words(s["direction"])}
            for s in got["signals"]]  # fmt: skip
    if recs:
        tables.append(
            fb.table(
                "oi_signals",
                "OI signals (kind, direction, contracts, watch-list meaning)",
                _COLS,
                recs,
            )
        )
    if term:
        tables.append(fb.table("term_structure", "OI term structure (live expiries; contracts and share of OI)", [
            ("expiry", "expiry", "date", "date"), ("expiry_class", "class", "", "text"), ("dte_days", "days", "days", "int"),
            ("call_oi", "call OI", "contracts", "int"), ("put_oi", "put OI", "contracts", "int"),
            ("oi_share", "share of OI", "fraction", "pct")], term["table"]))  # fmt: skip
    fu = doc.get("watch_followup")
    if fu and fu.get("items"):
        tables.append(fb.table("watch_followup", f"Watch items of {fu.get('from_session')} checked on {doc['session']}", [
            ("right", "C/P", "", "text"), ("strike", "strike", "USD", "price"), ("expiry", "expiry", "date", "date"),
            ("source", "watched for", "", "text"), ("oi_then", "OI then", "contracts", "int"),
            ("oi_now", "OI now", "contracts", "int"), ("status", "status", "", "text")], fu["items"]))  # fmt: skip
    ps, ptb, pch = prepost(fb, doc.get("event_prepost"))  # issue 11: before/after events
    sents += ps
    if ptb is not None:
        tables.append(ptb)
    charts = [c for c in (term_chart(term), pch) if c is not None]
    return Section(id="oi_signals", title="OI Signals (rolls, builds, flushes, term structure)",
                   sentences=sents, tables=tables, charts=charts)  # fmt: skip


def _with_keys(s: Sentence, keys: list[str]) -> Sentence:
    s.keys = [*s.keys, *keys]
    return s


def market_signals(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every ticker's OI signals of a session (for the daily report): ``ticker`` plus the
    signal record keys (term readings left to the ticker reports)."""
    out = []
    for d in docs:
        for s in all_signals(d)["signals"]:
            out.append({"ticker": d["underlying"], **s})
    return out


def daily_signals_section(fb: FigureBook, m: Mapping[str, Any]) -> Section | None:
    """The daily report's digest of the tickers' OI signals (``m["oi_signals"]``, attached by
    the report writer): how many of each kind and the table, rolls and builds first."""
    rows = m.get("oi_signals")
    if rows is None:
        return None
    if not rows:
        return Section(id="oi_signals", title="OI Signals", sentences=[say(fb, "sig.none")])
    counts: dict[str, int] = {}
    for r in rows:
        k = f"{KIND_WORDS.get(r['kind'], r['kind'])} ({direction_words(r['direction'])})"
        counts[k] = counts.get(k, 0) + 1
    kn = fb.add("daily.signals", len(rows), "signals", "int", "OI signals")
    kt = fb.add(
        "daily.signal_tickers",
        len({r["ticker"] for r in rows}),
        "tickers",
        "int",
        "tickers with OI signals",
    )
    ck = [fb.add(f"daily.signals.{j}", v, "signals", "int", f"{k} signals")
          for j, (k, v) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1]))]  # fmt: skip
    parts = ", ".join(f"{fb.figures[k].label.removesuffix(' signals')} ×{fb.d(k)}" for k in ck)
    recs = [{**r, "kind": KIND_WORDS.get(r["kind"], r["kind"]), "direction": direction_words(r["direction"])}
            for r in rows]  # fmt: skip
    cols = [("ticker", "ticker", "", "text"), *_COLS]
    return Section(id="oi_signals", title="OI Signals (rolls, builds, flushes)",
                   sentences=[_with_keys(say(fb, "daily.signals", kn, kt, parts=parts), ck)],
                   tables=[fb.table("oi_signals", "OI signals by ticker", cols, recs)])  # fmt: skip
