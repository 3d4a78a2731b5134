"""Per-ticker lenses (flow, bias, premium, earnings) and the daily market report.

Each builder turns a pipeline document (:func:`chainlens.pipeline.analyze_underlying`) or the
market rollup (:func:`chainlens.market.market_rollup`) into a :class:`Report`. Figures are
registered first; sentences only quote registered figures; missing inputs produce a section
with ``status="no_data"`` and a plain statement of what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._model import Chart, FigureBook, Report, Section, Sentence
from chainlens.report._narrative import (
    GEX_REGIMES,
    MISSING,
    NOISE_PREMIUM_USD,
    pcr_words,
    print_descriptor,
    read_through,
)

__all__ = ["LENSES", "build_daily", "build_lens"]

LENSES = ("flow", "bias", "premium", "earnings")

_EOD = "EOD only. This page reflects {t} options positioning from the market-close snapshot of {d}; intraday price and contract changes are not displayed."


def _g(d: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _no_data(sid: str, title: str, *reasons: str) -> Section:
    return Section(
        id=sid, title=title, sentences=[Sentence(MISSING[r]) for r in reasons], status="no_data"
    )


# --------------------------------------------------------------------------- charts
# The chart builders live in report/_charts.py (each takes ``must_show_strikes``).
from chainlens.report._charts import (  # noqa: E402
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

# --------------------------------------------------------------------------- per-ticker


def _rail(fb: FigureBook, doc: Mapping[str, Any]) -> list[str]:
    """The metric rail (seeds 000/001): key figures of the snapshot, registered once."""
    a = doc["analysis"]
    tot, lv = a.get("totals") or {}, a.get("levels") or {}
    f = doc.get("flow")
    mpt = a.get("max_pain_trend") or [{}]
    e0: dict[str, Any] = next(
        (e for e in _g(a, "vol", "expiries") or [] if e.get("expected_move_pct") is not None), {}
    )
    spec = [
        ("rail.net", f["totals"].get("net_usd") if f else None, "USD", "money_signed", "net premium"),
        ("rail.pcv", tot.get("pc_volume_ratio"), "ratio", "ratio", "P/C volume"),
        ("rail.pco", tot.get("pc_oi_ratio"), "ratio", "ratio", "P/C OI"),
        ("rail.gex", tot.get("gex_usd_per_1pct"), "USD per 1% move", "money_signed", "GEX"),
        ("rail.dex", tot.get("dex_shares"), "shares", "shares", "DEX"),
        ("rail.zero_gamma", lv.get("zero_gamma"), "USD", "price", "zero gamma"),
        ("rail.call_wall", lv.get("call_wall"), "USD", "price", "call wall"),
        ("rail.put_wall", lv.get("put_wall"), "USD", "price", "put wall"),
        ("rail.max_pain", mpt[0].get("max_pain"), "USD", "price", "max pain (next expiry)"),
        ("rail.em", (e0.get("expected_move_pct") or 0) / 100.0 if e0 else None, "fraction of spot", "pct", "expected move (next expiry)"),
    ]  # fmt: skip
    return [fb.add(*x) for x in spec]


def _header(fb: FigureBook, doc: Mapping[str, Any], lens: str) -> list[Sentence]:
    a = doc["analysis"]
    t = doc["underlying"]
    close = doc.get("close") if doc.get("close") is not None else a.get("spot")
    k = fb.add(
        "header.close",
        close,
        "USD",
        "price",
        "close" if doc.get("close") is not None else "spot at snapshot",
    )
    fb.add("header.session", doc["session"], "date", "date", "report date")
    return [
        fb.say(
            "{t} — {lens} lens, report date {0}. Close {1}.", "header.session", k, t=t, lens=lens
        ),
        Sentence(_EOD.format(t=t, d=doc["session"])),
        Sentence(f"Dealer model: {a.get('dealer_model')}; greeks: {a.get('greeks')}."),
    ]


def _flow_summary(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    a, f = doc["analysis"], doc.get("flow")
    sents: list[Sentence] = []
    charts: list[Chart] = []
    tot = a.get("totals") or {}
    fb.add(
        "totals.pc_volume_ratio", tot.get("pc_volume_ratio"), "ratio", "ratio", "P/C volume ratio"
    )
    fb.add("totals.pc_oi_ratio", tot.get("pc_oi_ratio"), "ratio", "ratio", "P/C OI ratio")
    if f:
        t = f["totals"]
        fb.add(
            "flow.net_usd",
            t.get("net_usd"),
            "USD",
            "money_signed",
            "net premium (bullish − bearish)",
        )
        fb.add("flow.total_usd", t.get("total_usd"), "USD", "money", "total premium")
        fb.add(
            "flow.unknown_share", t.get("unknown_share"), "fraction", "pct", "unknown-side share"
        )
        direction = t.get("side_label") or "neutral"
        top = sorted(f.get("net_by_strike") or [], key=lambda r: -abs(r.get("net_usd") or 0))
        conc = ""
        keys = ["flow.net_usd", "flow.total_usd"]
        net = t.get("net_usd") or 0.0
        if top and net:
            fb.add(
                "flow.top_strike",
                top[0]["strike"],
                "USD",
                "price",
                "strike with the largest |net premium|",
            )
            fb.add(
                "flow.top_strike_net",
                top[0]["net_usd"],
                "USD",
                "money_signed",
                "net premium at that strike",
            )
            conc = " (largest at {2}: {3})"
            keys += ["flow.top_strike", "flow.top_strike_net"]
        sents.append(fb.say("Net premium: {0} " + direction + " of {1} traded" + conc + ".", *keys))
        if t.get("flip"):
            sents.append(
                Sentence(
                    f"The naive call/put premium read says {t.get('naive_label')}, the side-adjusted read says {t.get('side_label')}: a flip (seed 003, side before signal).",
                    [],
                    label="Side check",
                )
            )
        charts += [side_chart(t)]
        nc = net_premium_chart(doc)
        if nc:
            charts.append(nc)
    else:
        sents.append(Sentence("Net premium: " + MISSING["trades"]))
    sents.append(
        fb.say(
            "P/C volume ratio: {0} — " + pcr_words(tot.get("pc_volume_ratio"), "volume"),
            "totals.pc_volume_ratio",
        )
    )
    sents.append(
        fb.say(
            "P/C OI ratio: {0} — " + pcr_words(tot.get("pc_oi_ratio"), "oi"), "totals.pc_oi_ratio"
        )
    )
    return Section(id="flow_summary", title="Flow Summary", sentences=sents, charts=charts)


def _notable(fb: FigureBook, doc: Mapping[str, Any], n: int = 5) -> Section:
    f = doc.get("flow")
    if not f:
        return _no_data("notable_prints", "Notable Prints", "trades")
    prints = f.get("notable") or []
    if not prints:
        return Section(
            id="notable_prints",
            title="Notable Prints",
            sentences=[Sentence("No print met the notable-print rules this session.")],
        )
    sents = []
    recs = []
    for i, p in enumerate(prints[:n], 1):
        pre = f"print{i}"
        fb.add(f"{pre}.premium", p.get("premium_usd"), "USD", "money", "print premium")
        fb.add(f"{pre}.strike", p.get("strike"), "USD", "price", "strike")
        fb.add(f"{pre}.expiry", p.get("expiry"), "date", "date", "expiry")
        fb.add(f"{pre}.size", p.get("size"), "contracts", "int", "size")
        fb.add(
            f"{pre}.distance",
            (p.get("distance_pct") or 0.0) / 100.0 if p.get("distance_pct") is not None else None,
            "fraction of spot",
            "pct_signed",
            "strike vs spot",
        )
        fb.add(f"{pre}.score", p.get("score"), "points (0-100)", "int", "flow score")
        size_word, kind = print_descriptor(p)
        clauses = read_through(p)
        right = "C" if p.get("right") == "C" else "P"
        text = (
            "{0} "
            + right
            + " {1} ({2} contracts, {3}, strike {4} vs spot, score {5}): "
            + size_word.lower()
            + " "
            + kind
            + ("; " + "; ".join(clauses) if clauses else "")
            + "."
        )
        sents.append(
            fb.say(
                text,
                f"{pre}.expiry",
                f"{pre}.strike",
                f"{pre}.size",
                f"{pre}.premium",
                f"{pre}.distance",
                f"{pre}.score",
                label="Read-through",
            )
        )
        recs.append({**p, "distance_frac": (p.get("distance_pct") or 0) / 100.0})
    table = fb.table("notable", "Notable prints (ranked by flow score)", [
        ("expiry", "expiry", "date", "date"), ("strike", "strike", "USD", "price"), ("right", "C/P", "", "text"),
        ("side", "side", "", "text"), ("size", "size", "contracts", "int"), ("premium_usd", "premium", "USD", "money"),
        ("distance_frac", "vs spot", "%", "pct_signed"), ("size_to_oi", "size/OI", "ratio", "ratio"),
        ("score", "score", "points", "int"),
    ], recs)  # fmt: skip
    return Section(id="notable_prints", title="Notable Prints", sentences=sents, tables=[table])


def _positioning(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    a, oi, f = doc["analysis"], doc.get("oi") or {}, doc.get("flow")
    sents: list[Sentence] = []
    charts = [
        c for c in (gex_chart(doc), oi_chart(doc), oi_change_chart(doc), max_pain_chart(doc)) if c
    ]
    changes = oi.get("changes") or []
    for right, word in (("C", "Call additions"), ("P", "Put additions")):
        adds = sorted(
            [c for c in changes if c["right"] == right and (c.get("oi_change") or 0) > 0],
            key=lambda c: -c["oi_change"],
        )[:3]
        if adds:
            keys = []
            parts = []
            for j, c in enumerate(adds):
                ks = fb.add(f"adds.{right}{j}.strike", c["strike"], "USD", "price", "strike")
                ke = fb.add(f"adds.{right}{j}.expiry", c["expiry"], "date", "date", "expiry")
                kc = fb.add(
                    f"adds.{right}{j}.oi_change",
                    c["oi_change"],
                    "contracts",
                    "int_signed",
                    "overnight OI change",
                )
                keys += [ks, ke, kc]
                parts.append(f"{{{3 * j}}} ({{{3 * j + 1}}}) {{{3 * j + 2}}}")
            keys.append(
                fb.add(
                    "oi.change_session",
                    oi.get("change_session"),
                    "date",
                    "date",
                    "session of the OI change",
                )
            )
            tmpl = (
                f"Largest overnight OI additions (session {{{len(keys) - 1}}}): "
                + ", ".join(parts)
                + " contracts."
            )
            sents.append(fb.say(tmpl, *keys, label=word))
        elif oi.get("sessions", 0) < 2:
            sents.append(Sentence(MISSING["history"], label=word))
        else:
            sents.append(Sentence("No strike added open interest overnight.", label=word))
        col = "call_premium_usd" if right == "C" else "put_premium_usd"
        prem = sorted(
            [r for r in (f or {}).get("net_by_strike") or [] if (r.get(col) or 0) > 0],
            key=lambda r: -r[col],
        )[:3]
        if prem:
            pk = []
            for j, r in enumerate(prem):
                pk += [
                    fb.add(f"prem.{right}{j}.strike", r["strike"], "USD", "price", "strike"),
                    fb.add(
                        f"prem.{right}{j}.usd",
                        r[col],
                        "USD",
                        "money",
                        f"{word.split()[0].lower()} premium",
                    ),
                ]
            kind_ = "call" if right == "C" else "put"
            sents.append(
                fb.say(
                    f"Today's {kind_} premium is concentrated at "
                    + ", ".join(f"{{{2 * j}}} ({{{2 * j + 1}}})" for j in range(len(prem)))
                    + ".",
                    *pk,
                    label=word,
                )
            )
    tot = a.get("totals") or {}
    g = tot.get("gex_usd_per_1pct")
    kg = fb.add("totals.gex", g, "USD per 1% move", "money_signed", "total dealer GEX")
    kd = fb.add("totals.dex", tot.get("dex_shares"), "shares", "shares", "total dealer DEX")
    regime = "negative" if (g or 0) < 0 else "positive" if (g or 0) > 0 else "zero"
    consistent = ""
    if f:
        net = f["totals"].get("net_usd") or 0.0
        consistent = (
            "Yes — negative GEX is consistent with the bearish net premium. "
            if regime == "negative" and net < 0
            else "Yes — positive GEX is consistent with the bullish net premium. "
            if regime == "positive" and net > 0
            else "Mixed — the dealer gamma sign and the net premium direction disagree. "
        )
    sents.append(
        fb.say(
            consistent + "Total GEX {0}, DEX {1} shares: " + GEX_REGIMES[regime] + ".",
            kg,
            kd,
            label="GEX/DEX consistency",
        )
    )
    cl = oi.get("clusters") or []
    if cl:
        keys, parts = [], []
        for j, c in enumerate(cl[:5]):
            keys += [
                fb.add(f"cluster{j}.strike", c["strike"], "USD", "price", "strike"),
                fb.add(f"cluster{j}.oi", c["oi"], "contracts", "int", "OI (calls+puts)"),
            ]
            dom = "PUT" if (c.get("put_oi") or 0) > (c.get("call_oi") or 0) else "CALL"
            parts.append(f"{{{2 * j}}} {dom}-heavy ({{{2 * j + 1}}})")
        spot = a.get("spot") or 0.0
        below_put = sum(
            1
            for c in cl[:5]
            if c["strike"] < spot and (c.get("put_oi") or 0) > (c.get("call_oi") or 0)
        )
        above_call = sum(
            1
            for c in cl[:5]
            if c["strike"] > spot and (c.get("call_oi") or 0) > (c.get("put_oi") or 0)
        )
        read = (
            " Put-heavy clusters below spot form a defensive floor (downside insurance demand)."
            if below_put >= 3
            else " Call-heavy clusters above spot form a resistance band."
            if above_call >= 3
            else " The largest clusters are mixed around spot."
        )
        sents.append(
            fb.say(
                "Largest OI clusters: " + ", ".join(parts) + "." + read, *keys, label="OI clusters"
            )
        )
    lv = a.get("levels") or {}
    lkeys = [
        fb.add("levels.call_wall", lv.get("call_wall"), "USD", "price", "call wall"),
        fb.add("levels.put_wall", lv.get("put_wall"), "USD", "price", "put wall"),
        fb.add("levels.zero_gamma", lv.get("zero_gamma"), "USD", "price", "zero gamma"),
    ]
    sents.append(
        fb.say(
            "Call wall {0}, put wall {1}, zero gamma {2}"
            + (
                f" ({lv.get('zero_gamma_reason')})"
                if lv.get("zero_gamma") is None and lv.get("zero_gamma_reason")
                else ""
            )
            + ".",
            *lkeys,
            label="Walls",
        )
    )
    if f:
        t = f["totals"]
        kpb = fb.add("flow.puts_bought", t.get("puts_bought_usd"), "USD", "money", "puts bought")
        kps = fb.add("flow.puts_sold", t.get("puts_sold_usd"), "USD", "money", "puts sold")
        kcs = fb.add("flow.calls_sold", t.get("calls_sold_usd"), "USD", "money", "calls sold")
        pb, ps = t.get("puts_bought_usd") or 0.0, t.get("puts_sold_usd") or 0.0
        word = (
            "Protective put buying dominates put flow"
            if pb > ps
            else "Put selling exceeds put buying (little fresh protection)"
        )
        ml = t.get("multileg_usd") or 0.0
        kml = fb.add("flow.multileg", ml, "USD", "money", "multi-leg premium")
        sents.append(
            fb.say(
                word
                + ": puts bought {0} vs sold {1}; calls sold {2}; multi-leg (spreads, possible collars) {3}.",
                kpb,
                kps,
                kcs,
                kml,
                label="Hedging evidence",
            )
        )
    else:
        sents.append(Sentence(MISSING["trades"], label="Hedging evidence"))
    mpt = a.get("max_pain_trend") or []
    if mpt:
        keys = []
        for j, m in enumerate(mpt[:4]):
            keys.append(
                fb.add(
                    f"max_pain.{j}",
                    m.get("max_pain"),
                    "USD",
                    "price",
                    f"max pain {m.get('expiry')}",
                )
            )
        ks = fb.add(
            "max_pain.spot_distance",
            (mpt[0].get("spot_distance_pct") or 0) / 100.0
            if mpt[0].get("spot_distance_pct") is not None
            else None,
            "fraction",
            "pct_signed",
            "spot vs nearest max pain",
        )
        vals = [m.get("max_pain") for m in mpt[:4] if m.get("max_pain") is not None]
        trend = (
            "rising"
            if len(vals) > 1 and vals[-1] > vals[0]
            else "falling"
            if len(vals) > 1 and vals[-1] < vals[0]
            else "flat"
        )
        tmpl = (
            "Max pain over the next expiries: "
            + " → ".join(f"{{{j}}}" for j in range(len(keys)))
            + f" ({trend}); spot is {{{len(keys)}}} from the nearest."
        )
        dist = mpt[0].get("spot_distance_pct")
        if dist is not None:
            side_ = "above" if dist > 0 else "below"
            tmpl += (
                f" Spot sits {side_} the nearest max pain; a pin pull toward it is plausible into"
                f" {mpt[0]['expiry']} while dealer hedging dominates."
                if abs(dist) <= 3.0
                else f" Spot sits well {side_} the nearest max pain: not an expiration pin setup."
            )
        sents.append(fb.say(tmpl, *keys, ks, label="Max pain context"))
    return Section(
        id="institutional_positioning",
        title="Institutional Positioning",
        sentences=sents,
        charts=charts,
    )


def _signal_noise(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    f = doc.get("flow")
    if not f:
        return _no_data("signal_vs_noise", "Signal vs Noise", "trades")
    t, mix = f["totals"], f.get("side_mix") or {}
    ku = fb.add(
        "sn.unknown_share",
        t.get("unknown_share"),
        "fraction",
        "pct",
        "mid + unknown share of premium",
    )
    kd = fb.add(
        "sn.directional_share",
        t.get("directional_share"),
        "fraction",
        "pct",
        "directional share of premium",
    )
    kt = fb.add("sn.trades", mix.get("trades"), "trades", "int", "trades")
    kml = fb.add(
        "sn.multileg_share",
        (t.get("multileg_usd") or 0) / t["total_usd"] if t.get("total_usd") else None,
        "fraction",
        "pct",
        "multi-leg share of premium",
    )
    conf = (
        "high"
        if (t.get("unknown_share") or 1) < 0.15
        else "moderate"
        if (t.get("unknown_share") or 1) < 0.35
        else "low"
    )
    sents = [
        fb.say(
            "{2} trades; {0} of premium traded at mid or with no usable quote, {3} in multi-leg orders; {1} is directional. Side confidence: "
            + conf
            + ".",
            ku,
            kd,
            kt,
            kml,
        )
    ]
    hot = (doc.get("oi") or {}).get("vol_oi_top") or []
    if hot:
        h = hot[0]
        ks = fb.add("sn.hot.strike", h["strike"], "USD", "price", "strike")
        kv = fb.add("sn.hot.vol_oi", h.get("vol_oi"), "ratio", "ratio", "volume / OI")
        sents.append(
            fb.say(
                "Highest Vol/OI: {0} "
                + h["right"]
                + " "
                + str(h["expiry"])
                + " at {1}× (band "
                + str(h.get("vol_oi_band"))
                + ", seed 002).",
                ks,
                kv,
            )
        )
    small = [p for p in f.get("notable") or [] if (p.get("premium_usd") or 0) < NOISE_PREMIUM_USD]
    if small:
        kn = fb.add(
            "sn.small_prints", len(small), "prints", "int", "notable prints under the threshold"
        )
        kt = fb.add("sn.noise_threshold", 1e5, "USD", "money", "noise threshold (premium)")
        sents.append(
            fb.say(
                "{0} of the listed prints are under {1} of premium: noise unless repeated.", kn, kt
            )
        )
    return Section(id="signal_vs_noise", title="Signal vs Noise", sentences=sents)


def _verdict(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    a, oi, f = doc["analysis"], doc.get("oi") or {}, doc.get("flow")
    items: list[Sentence] = []
    lv = a.get("levels") or {}
    if lv.get("call_wall") is not None and lv.get("put_wall") is not None:
        items.append(
            fb.say(
                "Activity and OI change at the {0} call wall / {1} put wall (GEX concentrations).",
                "levels.call_wall",
                "levels.put_wall",
                label="Watch next session",
            )
        )
    acc = oi.get("accumulation") or []
    if acc:
        c = acc[0]
        k = fb.add("verdict.acc.strike", c["strike"], "USD", "price", "strike")
        kc = fb.add(
            "verdict.acc.oi_change",
            c.get("oi_change"),
            "contracts",
            "int_signed",
            "streak OI change",
        )
        kn = fb.add("verdict.acc.sessions", c["sessions"], "sessions", "int", "streak length")
        ke = fb.add("verdict.acc.expiry", c["expiry"], "date", "date", "expiry")
        items.append(
            fb.say(
                "Follow-through at the {0} "
                + c["right"]
                + " {3} ({2}-session accumulation, {1} contracts).",
                k,
                kc,
                kn,
                ke,
                label="Watch next session",
            )
        )
    if f and f.get("notable"):
        items.append(
            fb.say(
                "Executions in the {0} "
                + f["notable"][0]["right"]
                + " {1} (top notable print, {2}) for follow-through or unwind.",
                "print1.strike",
                "print1.expiry",
                "print1.premium",
                label="Watch next session",
            )
        )
    if not items:
        items.append(
            Sentence("Nothing stands out: no walls, streaks or notable prints in the data.")
        )
    return Section(id="flow_verdict", title="Flow Verdict", sentences=items)


def _conclusions(fb: FigureBook, doc: Mapping[str, Any], lens: str) -> Section:
    f = doc.get("flow")
    sents = []
    if f:
        if "flow.net_usd" not in fb.figures:
            fb.add(
                "flow.net_usd",
                f["totals"].get("net_usd"),
                "USD",
                "money_signed",
                "net premium (bullish − bearish)",
            )
        sents.append(
            fb.say(
                "Flow is "
                + str(f["totals"].get("side_label"))
                + " on a side-adjusted basis ({0}).",
                "flow.net_usd",
            )
        )
    if "totals.gex" not in fb.figures:
        fb.add(
            "totals.gex",
            _g(doc, "analysis", "totals", "gex_usd_per_1pct"),
            "USD per 1% move",
            "money_signed",
            "total dealer GEX",
        )
    if True:
        sents.append(fb.say("Dealer gamma is {0} per 1% move.", "totals.gex"))
    missing = [m for m in doc.get("missing", []) if m in MISSING]
    if missing:
        sents.append(
            Sentence(
                "Missing inputs: " + ", ".join(missing) + "; the sections that need them say so."
            )
        )
    sents.append(
        Sentence(
            f"This {lens} lens is an interpretation layer over the market-close snapshot, not an execution guarantee. Validate against chain liquidity, expected move and exposure before sizing risk."
        )
    )
    return Section(id="key_conclusions", title="Key Conclusions", sentences=sents)


def _flow_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    summary = _flow_summary(fb, doc)
    notable = _notable(fb, doc)
    pos = _positioning(fb, doc)
    return [
        _verdict(fb, doc),
        summary,
        notable,
        pos,
        _signal_noise(fb, doc),
        _conclusions(fb, doc, "flow"),
    ]


def _bias_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    a, f = doc["analysis"], doc.get("flow")
    votes: list[tuple[int, str]] = []
    if f and f["totals"].get("net_usd"):
        votes.append((1 if f["totals"]["net_usd"] > 0 else -1, "side-adjusted net premium"))
    dex = _g(a, "totals", "dex_shares")
    if dex:
        votes.append((1 if dex > 0 else -1, "dealer DEX sign (classic model)"))
    e0 = next((e for e in _g(a, "vol", "expiries") or [] if e.get("rr_25d") is not None), None)
    if e0:
        votes.append((1 if e0["rr_25d"] > 0 else -1, "25Δ risk reversal of the nearest expiry"))
    pcr = _g(a, "totals", "pc_oi_ratio")
    if pcr is not None:
        votes.append((-1 if pcr >= 1.2 else 1 if pcr < 0.7 else 0, "put/call OI band"))
    score = sum(v for v, _ in votes)
    ks = fb.add("bias.score", score, "votes", "int", "bias score (sum of ±1 votes)")
    kn = fb.add("bias.n", len(votes), "votes", "int", "signals")
    bias = "bullish" if score > 0 else "bearish" if score < 0 else "neutral"
    sents = [fb.say("Directional bias: " + bias + " (score {0} of {1} signals).", ks, kn)]
    for v, why in votes:
        sents.append(
            Sentence(f"{why}: {'bullish' if v > 0 else 'bearish' if v < 0 else 'neutral'}.")
        )
    s1 = Section(
        id="bias",
        title="Directional Bias",
        sentences=sents,
        charts=[c for c in (profile_chart(doc),) if c],
    )
    fs = _flow_summary(fb, doc)
    pos = _positioning(fb, doc)
    return [s1, fs, pos, _conclusions(fb, doc, "bias")]


def _premium_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    a = doc["analysis"]
    exps = _g(a, "vol", "expiries") or []
    e0 = next((e for e in exps if e.get("atm_iv") is not None), None)
    rv = doc.get("realized_vol") or {}
    sents = []
    kr = fb.add("premium.rv", rv.get("value"), "1/yr (decimal)", "iv", "realized volatility")
    if e0 is None:
        iv_sec = _no_data("iv_vs_realized", "IV vs Realized", "iv")
        iv_sec.sentences.append(
            fb.say(
                f"Realized volatility ({rv.get('source')}, {rv.get('returns')} returns): {{0}}.", kr
            )
        )
    else:
        ki = fb.add(
            "premium.atm_iv", e0["atm_iv"], "1/yr (decimal)", "iv", f"ATM IV {e0['expiry']}"
        )
        spread = (e0["atm_iv"] - rv["value"]) if rv.get("value") is not None else None
        kd = fb.add("premium.iv_rv", spread, "1/yr (decimal)", "iv", "IV minus realized")
        posture = (
            "favours premium selling (IV above realized)"
            if (spread or 0) > 0
            else "does not favour premium selling (IV at or below realized)"
        )
        sents.append(
            fb.say(
                "ATM IV {0} vs realized {1} ("
                + str(rv.get("source"))
                + f", {rv.get('returns')} returns): spread {{2}}, which "
                + posture
                + ".",
                ki,
                kr,
                kd,
            )
        )
        iv_sec = Section(id="iv_vs_realized", title="IV vs Realized", sentences=sents)
    em = []
    rows = []
    for j, e in enumerate(exps[:4]):
        if e.get("expected_move_pct") is None:
            continue
        k = fb.add(
            f"em.{j}",
            e["expected_move_pct"] / 100.0,
            "fraction of spot",
            "pct",
            f"expected move {e['expiry']}",
        )
        em.append(fb.say("Expiry " + str(e["expiry"]) + ": straddle implies ±{0}.", k))
        z = e.get("zone") or {}
        rows.append(
            {
                "expiry": e["expiry"],
                "straddle_mid": e.get("straddle_mid"),
                "em": e["expected_move_pct"] / 100.0,
                "low": z.get("low"),
                "high": z.get("high"),
                "r50": "–".join(f"{x:g}" for x in e.get("range_50") or []) or None,
            }
        )
    em_sec = Section(
        id="expected_move",
        title="Expected Move",
        sentences=em or [Sentence(MISSING["iv"])],
        status="ok" if em else "no_data",
    )
    if rows:
        em_sec.tables.append(fb.table("expected_moves", "Expected move by expiry", [
            ("expiry", "expiry", "date", "date"), ("straddle_mid", "straddle", "USD", "price"), ("em", "move", "%", "pct"),
            ("low", "zone low", "USD", "price"), ("high", "zone high", "USD", "price"), ("r50", "25Δ range", "USD", "text")], rows))  # fmt: skip
        zc = zones_chart(
            [
                {
                    "ticker": r["expiry"],
                    "low": r["low"],
                    "high": r["high"],
                    "mid": a.get("spot"),
                    "close": a.get("spot"),
                }
                for r in rows
            ],
            "em_zones",
        )
        if zc:
            em_sec.charts.append(zc)
    walls = Section(
        id="walls_pin",
        title="Walls and Pin Risk",
        sentences=[],
        charts=[c for c in (gex_chart(doc), profile_chart(doc), max_pain_chart(doc)) if c],
    )
    lv = a.get("levels") or {}
    kw = [
        fb.add("levels.call_wall", lv.get("call_wall"), "USD", "price", "call wall"),
        fb.add("levels.put_wall", lv.get("put_wall"), "USD", "price", "put wall"),
    ]
    walls.sentences.append(
        fb.say(
            "Call wall {0}, put wall {1}: short strikes outside them sit behind dealer hedging flows.",
            *kw,
        )
    )
    mpt = a.get("max_pain_trend") or []
    if mpt and mpt[0].get("max_pain") is not None:
        km = fb.add(
            "pin.max_pain", mpt[0]["max_pain"], "USD", "price", f"max pain {mpt[0]['expiry']}"
        )
        kd2 = fb.add(
            "pin.distance",
            (mpt[0].get("spot_distance_pct") or 0) / 100.0,
            "fraction",
            "pct_signed",
            "spot vs max pain",
        )
        risk = (
            "high"
            if abs(mpt[0].get("spot_distance_pct") or 99) < 1.0
            else "moderate"
            if abs(mpt[0].get("spot_distance_pct") or 99) < 3.0
            else "low"
        )
        walls.sentences.append(
            fb.say(
                "Pin risk into "
                + str(mpt[0]["expiry"])
                + ": "
                + risk
                + " (max pain {0}, spot {1} from it).",
                km,
                kd2,
            )
        )
    vol_sec = Section(
        id="smile_skew",
        title="Smile and Skew",
        charts=[c for c in (smile_chart(doc), skew_chart(doc)) if c],
    )
    if e0 and e0.get("rr_25d") is not None:
        krr = fb.add("premium.rr", e0["rr_25d"], "1/yr (decimal)", "iv", "25Δ risk reversal")
        vol_sec.sentences.append(
            fb.say(
                "25Δ risk reversal {0}: "
                + (
                    "puts richer than calls (downside skew)"
                    if e0["rr_25d"] < 0
                    else "calls richer than puts (upside skew)"
                )
                + ".",
                krr,
            )
        )
    else:
        vol_sec.sentences.append(Sentence(MISSING["iv"]))
        vol_sec.status = "no_data"
    hm = Section(id="dealer_surfaces", title="Dealer DX/GX surfaces", charts=heatmap_charts(doc))
    if not hm.charts:
        hm.sentences.append(Sentence("No surface data (no usable greeks)."))
        hm.status = "no_data"
    return [iv_sec, em_sec, walls, vol_sec, hm, _conclusions(fb, doc, "premium")]


def _earnings_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    e = doc.get("earnings")
    if not e or not e.get("next_date"):
        s = _no_data("earnings_setup", "Earnings Setup", "earnings")
        return [s, _conclusions(fb, doc, "earnings")]
    kd = fb.add("earn.date", e["next_date"], "date", "date", "next earnings date")
    sents = [fb.say("Next earnings: {0}.", kd)]
    if e.get("post_expiry"):
        kx = fb.add("earn.expiry", e["post_expiry"], "date", "date", "first expiry after earnings")
        kb = fb.add(
            "earn.oi_build",
            e.get("post_expiry_oi_build"),
            "contracts",
            "int_signed",
            "OI build in that expiry over the window",
        )
        sents.append(
            fb.say(
                "Post-earnings expiry {0}: OI change over the stored window {1} contracts.", kx, kb
            )
        )
        ki = fb.add(
            "earn.implied",
            (e["implied_move_pct"] / 100.0) if e.get("implied_move_pct") is not None else None,
            "fraction",
            "pct",
            "implied move (straddle)",
        )
        kh = fb.add(
            "earn.hist",
            (e["historical_mean_move_pct"] / 100.0)
            if e.get("historical_mean_move_pct") is not None
            else None,
            "fraction",
            "pct",
            "mean historical earnings move",
        )
        sents.append(
            fb.say(
                "Implied move {0} vs historical mean earnings-day move {1}"
                + (
                    ""
                    if e.get("historical_mean_move_pct") is not None
                    else " (no past earnings in the stored bars)"
                )
                + ".",
                ki,
                kh,
            )
        )
        krr = fb.add(
            "earn.rr", e.get("rr_25d"), "1/yr (decimal)", "iv", "25Δ risk reversal of that expiry"
        )
        sents.append(fb.say("Skew of that expiry (25Δ RR): {0}.", krr))
    else:
        sents.append(Sentence("No listed expiry after the earnings date in the snapshot."))
    s = Section(
        id="earnings_setup",
        title="Earnings Setup",
        sentences=sents,
        charts=[c for c in (oi_chart(doc), skew_chart(doc)) if c],
    )
    return [s, _flow_summary(fb, doc), _conclusions(fb, doc, "earnings")]


_BUILDERS = {
    "flow": _flow_lens,
    "bias": _bias_lens,
    "premium": _premium_lens,
    "earnings": _earnings_lens,
}


def build_lens(
    doc: Mapping[str, Any], lens: str = "flow", *, links: Mapping[str, str | None] | None = None
) -> Report:
    """A per-ticker report from a pipeline document.

    Parameters
    ----------
    doc
        ``UnderlyingResult.doc``.
    lens
        ``flow``, ``bias``, ``premium`` or ``earnings``.
    links
        ``{"older": href, "newer": href}`` for the report chain.
    """
    from chainlens.errors import InputError

    if lens not in _BUILDERS:
        raise InputError(f"lens must be one of {', '.join(LENSES)}", column="--lens", value=lens)
    fb = FigureBook()
    header = _header(fb, doc, lens)
    rail = _rail(fb, doc)
    sections = _BUILDERS[lens](fb, doc)
    lk = dict(links or {})
    if lk.get("newer"):
        header.append(
            Sentence(
                f"You are viewing an older report from {doc['session']}. A newer {lens} report "
                f"is available for {lk.get('newer_date')}."
            )
        )
    elif lk.get("older"):
        header.append(
            Sentence(
                f"This is the latest {lens} report; the previous one is from {lk.get('older_date')}."
            )
        )
    return Report(
        kind="ticker", title=f"{doc['underlying']} — {lens.capitalize()} report {doc['session']}",
        session=doc["session"], lens=lens, ticker=doc["underlying"], header=header,
        sections=sections, figures=fb.figures, links=lk,
        meta={"missing": doc.get("missing", []), "rail": rail},
    )  # fmt: skip


# --------------------------------------------------------------------------- daily


def build_daily(m: Mapping[str, Any], *, links: Mapping[str, str | None] | None = None) -> Report:
    """The market-wide daily report (seed 003 structure) from :func:`market_rollup`."""
    fb = FigureBook()
    sections: list[Section] = []
    side = m.get("side")
    head: list[Sentence] = []
    fb.add("daily.session", m["session"], "date", "date", "session")
    if side:
        kn = fb.add("side.net", side["net_usd"], "USD", "money_signed", "market net premium")
        kt = fb.add("side.total", side["total_usd"], "USD", "money", "total premium")
        kc = fb.add(
            "side.naive_cp", side.get("naive_cp_ratio"), "ratio", "ratio", "naive C/P premium ratio"
        )
        ku = fb.add(
            "side.unknown", side.get("unknown_share"), "fraction", "pct", "unknown side share"
        )
        ktr = fb.add("side.trades", side.get("trades"), "trades", "int", "trades")
        for k in (
            "calls_bought_usd",
            "calls_sold_usd",
            "puts_bought_usd",
            "puts_sold_usd",
            "bullish_usd",
            "bearish_usd",
            "call_premium_usd",
            "put_premium_usd",
        ):
            fb.add(
                f"side.{k}", side.get(k), "USD", "money", k.replace("_usd", "").replace("_", " ")
            )
        tf = m.get("top_flow") or {}
        kf = fb.add(
            "top.flip_rate",
            tf.get("flip_rate"),
            "fraction",
            "pct",
            "flip rate of the top-flow names",
        )
        kff = fb.add("top.flips", tf.get("flips"), "names", "int", "flips")
        kfn = fb.add("top.names", tf.get("names"), "names", "int", "top-flow names")
        cv = m.get("convergence") or {}
        kbe = fb.add("conv.bearish", cv.get("bearish_count"), "inputs", "int", "bearish inputs")
        kbu = fb.add("conv.bullish", cv.get("bullish_count"), "inputs", "int", "bullish inputs")
        head.append(
            fb.say(
                "Daily report {0}. Options {1} "
                + side["side_label"]
                + " (side-adjusted) on {2} of premium. Top flow: {3}/{4} names flip direction ({5}). Convergence: {6} bearish vs {7} bullish.",
                "daily.session",
                kn,
                kt,
                kff,
                kfn,
                kf,
                kbe,
                kbu,
            )
        )
        s = Section(
            id="side_decomposition",
            title="Options Flow — Side Decomposition",
            charts=[side_chart(side, "market_side")],
        )
        s.sentences += [
            fb.say(
                "Total trades {0}; total premium {1}; calls {2} | puts {3}; naive C/P ratio {4}; unknown side {5}.",
                ktr,
                kt,
                "side.call_premium_usd",
                "side.put_premium_usd",
                kc,
                ku,
            ),
            fb.say(
                "Calls bought (ask) {0}; calls sold (bid) {1}; puts bought {2}; puts sold {3}.",
                "side.calls_bought_usd",
                "side.calls_sold_usd",
                "side.puts_bought_usd",
                "side.puts_sold_usd",
            ),
            fb.say(
                "Bullish total {0}, bearish total {1}: net {2} " + side["side_label"] + ".",
                "side.bullish_usd",
                "side.bearish_usd",
                kn,
            ),
        ]
        if side.get("flip"):
            s.sentences.append(
                Sentence(
                    f"The naive print says {side['naive_label']} (C/P {fb.d(kc)}); side decomposition says {side['side_label']} ({fb.d(kn)}): side before signal.",
                    [kc, kn],
                )
            )
        sections.append(s)
        t = Section(id="top_flow", title="Top Flow Decomposition")
        t.tables.append(fb.table("top_flow", "Top flow: naive vs side-adjusted", [
            ("ticker", "Ticker", "", "text"), ("naive_label", "Naive", "", "text"), ("side_label", "Side-adj", "", "text"),
            ("premium_usd", "Premium", "USD", "money"), ("net_usd", "Net", "USD", "money_signed"),
            ("unknown_share", "Unknown", "%", "pct"), ("signal", "Signal", "", "text")], tf.get("rows") or []))  # fmt: skip
        t.sentences.append(
            fb.say("{0} of {1} top-flow names flip after side assessment ({2}).", kff, kfn, kf)
        )
        sections.append(t)
    else:
        head.append(fb.say("Daily report {0}. " + MISSING["trades"], "daily.session"))
        sections.append(
            _no_data("side_decomposition", "Options Flow — Side Decomposition", "trades")
        )
        sections.append(_no_data("top_flow", "Top Flow Decomposition", "trades"))
    dp = m.get("darkpool")
    if dp:
        kdt = fb.add("dp.total", dp["total_notional_usd"], "USD", "money", "dark-pool notional")
        d = Section(id="darkpool", title="Dark-pool Flow — Accumulation vs Distribution")
        d.sentences.append(
            fb.say("Total dark-pool notional {0} across " + str(dp["tickers"]) + " tickers.", kdt)
        )
        cols = [("ticker", "Ticker", "", "text"), ("notional_usd", "Volume", "USD", "money"), ("net_usd", "Net", "USD", "money_signed"),
                ("pct_at_ask", "At ask", "%", "pct"), ("pct_at_bid", "At bid", "%", "pct")]  # fmt: skip
        d.tables.append(fb.table("dp_acc", "Accumulating", cols, dp["accumulation"]))
        d.tables.append(fb.table("dp_dist", "Distributing", cols, dp["distribution"]))
        if not dp["accumulation"] and not dp["distribution"]:
            d.sentences.append(
                Sentence("No ticker's placed dark-pool flow cleared the labelling threshold.")
            )
        if dp.get("low_confidence"):
            d.sentences.append(
                Sentence(
                    "Low confidence (most notional not placeable at bid or ask): "
                    + ", ".join(dp["low_confidence"][:20])
                    + "."
                )
            )
        sections.append(d)
    else:
        sections.append(
            _no_data("darkpool", "Dark-pool Flow — Accumulation vs Distribution", "prints")
        )
    zones = m.get("zones") or []
    lead = next((r for r in zones if r.get("change_pct") is not None), None)
    if lead is not None and head:  # seed 003 headline: "SPX +2.5% to 6,783 (AT zone ceiling)"
        kc_ = fb.add(
            "head.change",
            lead["change_pct"] / 100.0,
            "fraction",
            "pct_signed",
            f"{lead['ticker']} change vs previous close",
        )
        kp_ = fb.add("head.close", lead["close"], "USD", "price", f"{lead['ticker']} close")
        head.append(
            fb.say(
                lead["ticker"]
                + " {0} to {1} ("
                + str(lead["status"]).replace("_", " ")
                + " of its expected-move zone).",
                kc_,
                kp_,
            )
        )
    z = Section(id="zones", title="Expected Moves — Zone Table")
    if zones:
        z.tables.append(fb.table("zones", "Zone analysis (nearest expiry straddle)", [
            ("ticker", "Symbol", "", "text"), ("low", "Low", "USD", "price"), ("mid", "Mid", "USD", "price"), ("high", "High", "USD", "price"),
            ("close", "Close", "USD", "price"), ("upside_room_pct", "Upside", "%", "text"), ("downside_room_pct", "Downside", "%", "text"),
            ("change", "Change", "%", "pct_signed"), ("status", "Status", "", "text")], [{**r, "change": None if r.get("change_pct") is None else r["change_pct"] / 100.0, "upside_room_pct": None if r.get("upside_room_pct") is None else f"{r['upside_room_pct']:+.2f}%", "downside_room_pct": None if r.get("downside_room_pct") is None else f"{r['downside_room_pct']:+.2f}%"} for r in zones]))  # fmt: skip
        zc = zones_chart(zones)
        if zc:
            z.charts.append(zc)
        ceil = [r["ticker"] for r in zones if r.get("status") == "at_or_above_ceiling"]
        z.sentences.append(
            Sentence(
                f"{len(ceil)} of {len(zones)} tickers are at or above their expected-move ceiling"
                + (f": {', '.join(ceil[:12])}." if ceil else ".")
            )
        )
    else:
        z.sentences.append(Sentence(MISSING["iv"]))
        z.status = "no_data"
    sections.append(z)
    dm = Section(id="dealer_mechanics", title="Dealer Mechanics")
    for j, g in enumerate(m.get("dealers") or []):
        kz = fb.add(
            f"dealer.{j}.zone",
            g["zone_gex_usd_per_1pct"],
            "USD per 1% move",
            "money_signed",
            f"{g['ticker']} GEX within ±1% of spot",
        )
        kl, kh = (
            fb.add(f"dealer.{j}.lo", g["zone_low"], "USD", "price", "zone low"),
            fb.add(f"dealer.{j}.hi", g["zone_high"], "USD", "price", "zone high"),
        )
        keys = [kl, kh, kz]
        txt = g["ticker"] + ": {0}–{1} zone GEX {2}"
        npg = g.get("nearest_positive_gamma")
        if g.get("gex_at_spot_usd_per_1pct") is not None and g["gex_at_spot_usd_per_1pct"] < 0:
            if npg:
                keys.append(
                    fb.add(
                        f"dealer.{j}.npg",
                        npg["level"],
                        "USD",
                        "price",
                        "nearest positive gamma level",
                    )
                )
                keys.append(
                    fb.add(
                        f"dealer.{j}.npgd",
                        npg["distance_pct"] / 100.0,
                        "fraction",
                        "pct_signed",
                        "distance to it",
                    )
                )
                txt += "; short gamma at spot, nearest positive gamma {3} ({4} from spot)"
            else:
                txt += "; short gamma at spot and no positive gamma within the profile range"
        elif g.get("gex_at_spot_usd_per_1pct") is not None:
            txt += "; dealers long gamma at spot"
        dm.sentences.append(fb.say(txt + ".", *keys))
    if not dm.sentences:
        dm.sentences.append(Sentence("No index product in the session."))
        dm.status = "no_data"
    sections.append(dm)
    tn = Section(id="ticker_notes", title="Top Individual Tickers — Divergences and Campaigns")
    for j, x in enumerate(m.get("ticker_notes") or []):
        ch = None if x.get("change_pct") is None else x["change_pct"] / 100.0
        keys = [
            fb.add(f"note.{j}.close", x.get("close"), "USD", "price", f"{x['ticker']} close"),
            fb.add(f"note.{j}.change", ch, "fraction", "pct_signed", "change vs previous close"),
            fb.add(
                f"note.{j}.options",
                x.get("options_net_usd"),
                "USD",
                "money_signed",
                "options net premium",
            ),
            fb.add(
                f"note.{j}.unknown", x.get("unknown_share"), "fraction", "pct", "unknown side share"
            ),
            fb.add(
                f"note.{j}.gex",
                x.get("gex_usd_per_1pct"),
                "USD per 1% move",
                "money_signed",
                "dealer GEX",
            ),
        ]
        conf = "" if x.get("options_confident") else " (low confidence)"
        text = (
            "{0} ({1}) — " + x["verdict_text"] + ". Options {2}" + conf + " with {3} unknown; "
            "GEX {4} per 1% move; "
        )
        if x.get("darkpool_label"):
            keys.append(
                fb.add(
                    f"note.{j}.dp",
                    x.get("darkpool_net_usd"),
                    "USD",
                    "money_signed",
                    "dark-pool net",
                )
            )
            text += "dark pool {5} (" + x["darkpool_label"] + ")."
        else:
            text += "no placeable dark-pool flow."
        tn.sentences.append(fb.say(text, *keys, label=x["ticker"]))
    if not tn.sentences:
        tn.sentences.append(Sentence(MISSING["trades"]))
        tn.status = "no_data"
    sections.append(tn)
    secs = m.get("sectors") or []
    sf = Section(id="sector_flow", title="Sector Flow")
    if secs:
        sf.tables.append(fb.table("sectors", "Sector flow (side-adjusted)", [
            ("sector", "Sector", "", "text"), ("premium_usd", "Total premium", "USD", "money"), ("net_usd", "Net", "USD", "money_signed"),
            ("direction", "Direction", "", "text"), ("share_of_market", "Share", "%", "pct")], secs))  # fmt: skip
    else:
        sf.sentences.append(Sentence(MISSING["trades"]))
        sf.status = "no_data"
    sections.append(sf)
    cv = m.get("convergence") or {}
    c = Section(id="convergence", title="Convergence Count")
    if cv:
        c.sentences.append(
            Sentence(
                f"{cv['bearish_count']} bearish vs {cv['bullish_count']} bullish inputs: tilt {cv['tilt']}.",
                ["conv.bearish", "conv.bullish"] if "conv.bearish" in fb.figures else [],
            )
        )
        for side_name in ("bearish", "bullish"):
            for i, x in enumerate(cv[side_name], 1):
                c.sentences.append(
                    Sentence(
                        f"{side_name.capitalize()} {i}: {x['text']} (rule: {x['rule']}).",
                        label=side_name,
                    )
                )
    sections.append(c)
    st = Section(id="trade_structures", title="Trade Structures — Conviction-Weighted")
    for j, x in enumerate(m.get("structures") or []):
        r_ = "C" if x["direction"] == "bullish" else "P"
        kind = "call spread" if r_ == "C" else "put spread"
        keys = [
            fb.add(f"struct.{j}.expiry", x["expiry"], "date", "date", "expiry"),
            fb.add(f"struct.{j}.long", x["long_strike"], "USD", "price", "long strike"),
            fb.add(f"struct.{j}.short", x["short_strike"], "USD", "price", "short strike"),
            fb.add(f"struct.{j}.conviction", x["conviction"], "signals", "int", "aligned signals"),
            fb.add(f"struct.{j}.of", x["conviction_of"], "signals", "int", "signals checked"),
        ]
        st.sentences.append(
            fb.say(
                x["ticker"]
                + " {0}: buy {1} "
                + r_
                + " / sell {2} "
                + r_
                + " "
                + kind
                + " ("
                + x["direction"]
                + "). Conviction {3}/{4}: "
                + "; ".join(x["signals"])
                + ".",
                *keys,
            )
        )
    if not st.sentences:
        st.sentences.append(Sentence("No ticker had enough aligned signals for a structure."))
    from chainlens.market import DISCLAIMER

    st.sentences.append(Sentence(DISCLAIMER, label="Disclaimer"))
    sections.append(st)
    if m.get("macro"):
        mp = Section(id="macro", title="Macro Regime Panel (user-supplied series)")
        mp.tables.append(
            fb.table(
                "macro",
                "Macro series",
                [
                    ("series", "Series", "", "text"),
                    ("date", "Date", "date", "date"),
                    ("value", "Value", "", "ratio"),
                    ("change", "Change", "", "ratio"),
                ],
                m["macro"],
            )
        )
        sections.append(mp)
    return Report(
        kind="daily",
        title=f"Daily Report — {m['session']}",
        session=m["session"],
        header=head,
        sections=sections,
        figures=fb.figures,
        links=dict(links or {}),
        meta={"missing": m.get("missing", []), "tickers": m.get("tickers", [])},
    )
