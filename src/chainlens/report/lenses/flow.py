"""The flow lens (seeds 000/001): verdict, flow summary, notable prints, institutional
positioning, signal vs noise, key conclusions. Shared sections (header, rail, flow summary,
positioning, conclusions) are used by the other lenses too.

Every sentence comes from a rule of :mod:`chainlens.report.rules`; every number it states is a
registered figure; directional figures leave deep in the money and box/conversion-like premium
out (issue 10) and say how much that was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.market import gex_at_spot
from chainlens.report._model import FigureBook, Section, Sentence
from chainlens.report._narrative import GEX_REGIMES, MISSING, print_descriptor, read_through
from chainlens.report.lenses.common import (
    expired_note,
    g,
    gex_chart,
    has_greeks,
    live,
    live_after_next,
    live_strikes,
    max_pain_chart,
    named_prices,
    net_premium_chart,
    no_data,
    oi_change_chart,
    oi_chart,
    side_chart,
)
from chainlens.report.lenses.signals import signals_section
from chainlens.report.rules import (
    pcr_oi_words,
    pcr_volume_words,
    say,
    th,
    vol_oi_words,
)

__all__ = [
    "conclusions",
    "flow_lens",
    "flow_summary",
    "header",
    "positioning",
    "rail",
]

#: Short names of missing inputs (no enum keys in prose).
MISSING_WORDS: Mapping[str, str] = {
    "trades": "option trades",
    "prints": "dark-pool prints",
    "history": "earlier sessions",
    "iv": "implied volatility",
    "bars": "daily bars",
    "earnings": "earnings dates",
}


def _t(doc: Mapping[str, Any], key: str) -> Any:
    """A flow-totals value, directional (``dir_<key>``) when the document has it."""
    t = g(doc, "flow", "totals") or {}
    return t.get("dir_" + key, t.get(key))


def gex_spot(doc: Mapping[str, Any]) -> float | None:
    """Profile GEX at spot (None without greeks)."""
    return gex_at_spot(doc["analysis"]) if has_greeks(doc) else None


def header(fb: FigureBook, doc: Mapping[str, Any], lens: str) -> list[Sentence]:
    """Title line, EOD note, dealer model (and the OI-only note)."""
    a, t = doc["analysis"], doc["underlying"]
    close = doc.get("close") if doc.get("close") is not None else a.get("spot")
    lab = "close" if doc.get("close") is not None else "spot at snapshot"
    k = fb.add("header.close", close, "USD", "price", lab)
    fb.add("header.session", doc["session"], "date", "date", "report date")
    out = [
        say(fb, "header.title", "header.session", k, t=t, lens=lens),
        say(fb, "header.eod", t=t, d=doc["session"]),
        say(fb, "header.model", model=a.get("dealer_model"), greeks=a.get("greeks")),
    ]
    if not has_greeks(doc):
        out.append(say(fb, "header.greeks_missing"))
    return out


def rail(fb: FigureBook, doc: Mapping[str, Any]) -> list[str]:
    """The metric rail (seeds 000/001): key figures of the snapshot, registered once."""
    a = doc["analysis"]
    tot, lv, gk = a.get("totals") or {}, a.get("levels") or {}, has_greeks(doc)
    mpt = [m for m in a.get("max_pain_trend") or [] if live(doc, m.get("expiry"))] or [{}]
    e0: dict[str, Any] = next((e for e in g(a, "vol", "expiries") or []
               if e.get("expected_move_pct") is not None and live(doc, e.get("expiry"))), {})  # fmt: skip
    em = e0.get("expected_move_pct")
    spec = [
        ("rail.net", _t(doc, "net_usd"), "USD", "money_signed", "directional net premium"),
        ("rail.pcv", tot.get("pc_volume_ratio"), "ratio", "ratio", "P/C volume"),
        ("rail.pco", tot.get("pc_oi_ratio"), "ratio", "ratio", "P/C OI"),
        ("rail.gex", tot.get("gex_usd_per_1pct") if gk else None, "USD per 1% move", "money_signed", "GEX"),
        ("rail.dex", tot.get("dex_shares") if gk else None, "shares", "shares", "DEX"),
        ("rail.zero_gamma", lv.get("zero_gamma"), "USD", "price", "zero gamma"),
        ("rail.call_wall", lv.get("call_wall"), "USD", "price", "call wall"),
        ("rail.put_wall", lv.get("put_wall"), "USD", "price", "put wall"),
        ("rail.max_pain", mpt[0].get("max_pain"), "USD", "price", "max pain (next live expiry)"),
        ("rail.em", None if em is None else em / 100.0, "fraction of spot", "pct", "expected move (next live expiry)"),
    ]  # fmt: skip
    return [fb.add(*x) for x in spec]


def _pcr_sentences(fb: FigureBook, doc: Mapping[str, Any]) -> list[Sentence]:
    pcr = g(doc, "oi", "pcr") or {}
    tot = doc["analysis"].get("totals") or {}
    kv = fb.add("totals.pc_volume_ratio", tot.get("pc_volume_ratio"), "ratio", "ratio", "P/C volume ratio")  # fmt: skip
    ko = fb.add("totals.pc_oi_ratio", tot.get("pc_oi_ratio"), "ratio", "ratio", "P/C OI ratio")
    words, kind = pcr_oi_words(doc["underlying"], pcr.get("pcr_oi_band"))
    return [
        say(fb, "pcr.volume", kv, words=pcr_volume_words(pcr.get("pcr_volume_band"))),
        say(fb, "pcr.oi", ko, words=words, kind=kind),
    ]


def _chain_flow(fb: FigureBook, doc: Mapping[str, Any]) -> list[Sentence]:
    """What the chain says about the session's activity when no trades are stored."""
    pcr = g(doc, "oi", "pcr") or {}
    out = []
    if pcr.get("call_volume") is not None:
        keys = [
            fb.add("chain.call_volume", pcr.get("call_volume"), "contracts", "int", "call volume"),
            fb.add("chain.put_volume", pcr.get("put_volume"), "contracts", "int", "put volume"),
            fb.add("chain.call_premium", pcr.get("call_premium_usd"), "USD", "money", "chain-estimated call premium"),
            fb.add("chain.put_premium", pcr.get("put_premium_usd"), "USD", "money", "chain-estimated put premium"),
        ]  # fmt: skip
        out.append(say(fb, "flow.chain_volume", *keys))
    out.append(say(fb, "flow.needs_trades"))
    return out


def _trade_flow(fb: FigureBook, doc: Mapping[str, Any]) -> list[Sentence]:
    t = doc["flow"]["totals"]
    kn = fb.add("flow.net_usd", _t(doc, "net_usd"), "USD", "money_signed", "directional net premium (bullish − bearish)")  # fmt: skip
    kt = fb.add("flow.total_usd", t.get("total_usd"), "USD", "money", "total premium")
    kx = fb.add("flow.excluded_share", t.get("excluded_share"), "fraction", "pct", "deep ITM and box/conversion-like share of premium")  # fmt: skip
    out = [say(fb, "flow.net", kn, kt, kx, direction=_t(doc, "side_label") or "neutral")]
    rows = [
        r for r in doc["flow"].get("net_by_strike") or [] if r.get("dir_net_usd", r.get("net_usd"))
    ]
    if rows and _t(doc, "net_usd"):
        top = max(rows, key=lambda r: abs(r.get("dir_net_usd", r.get("net_usd")) or 0.0))
        ks = fb.add("flow.top_strike", top["strike"], "USD", "price", "strike with the largest |directional net premium|")  # fmt: skip
        kv = fb.add("flow.top_strike_net", top.get("dir_net_usd", top.get("net_usd")), "USD", "money_signed", "directional net premium at that strike")  # fmt: skip
        out.append(say(fb, "flow.top_strike", ks, kv))
    if t.get("delta_notional_usd") is not None and "delta_net_usd" in t:
        kd = [fb.add(f"flow.delta_{k}", t.get(f"delta_{k}_usd"), "USD", "money_signed" if k == "net" else "money", f"delta-adjusted {k} notional")
              for k in ("bullish", "bearish", "net")]  # fmt: skip
        out.append(say(fb, "flow.delta", *kd))
    kr = fb.add("flow.raw_net", t.get("net_usd"), "USD", "money_signed", "raw side-adjusted net premium (all trades)")  # fmt: skip
    kc = fb.add("flow.naive_cp", t.get("naive_cp_ratio"), "ratio", "ratio", "naive call/put premium ratio (all trades)")  # fmt: skip
    kdc = fb.add("flow.dir_naive_cp", _t(doc, "naive_cp_ratio"), "ratio", "ratio", "naive call/put premium ratio (directional)")  # fmt: skip
    out.append(say(fb, "flow.raw", kr, kc, kdc))
    if _t(doc, "flip"):
        out.append(say(fb, "flow.flip", label="Side check", naive=_t(doc, "naive_label"), side=_t(doc, "side_label")))  # fmt: skip
    return out


def flow_summary(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Directional net premium with the excluded share, delta-adjusted notional, raw totals, P/C
    ratios by name type; on a chain-only store the chain's volume and premium estimate."""
    f = doc.get("flow")
    sents = _trade_flow(fb, doc) if f else _chain_flow(fb, doc)
    charts = []
    if f:
        t = f["totals"]
        raw = side_chart(t)
        raw.title = "Side decomposition of premium (USD, all trades)"
        charts.append(raw)
        if "dir_calls_bought_usd" in t:  # the same buckets over the directional trades only
            keys = ("calls_bought_usd", "calls_sold_usd", "puts_bought_usd", "puts_sold_usd")
            dc = side_chart({k: t.get("dir_" + k) for k in keys}, "side_directional")
            dc.title = (
                "Directional side decomposition (USD; deep ITM and box/conversion-like left out)"
            )
            dc.x, dc.series[0]["values"] = dc.x[: len(keys)], dc.series[0]["values"][: len(keys)]
            charts.append(dc)
        nc = net_premium_chart(doc, must_show_strikes=named_prices(fb, sents))
        if nc:
            charts.append(nc)
    return Section(id="flow_summary", title="Flow Summary", sentences=sents + _pcr_sentences(fb, doc), charts=charts)  # fmt: skip


def notable_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Notable prints a report may name: live after the next session, at least the scaled
    minimum premium, and not deep in the money at the trade's spot nor at the close (the flow
    step applies the same rules at the trade; this guards the close and older documents)."""
    f = doc.get("flow") or {}
    lo = (f.get("totals") or {}).get("notable_min_premium_usd") or th("notable_min_premium_usd")
    spot, deep = doc["analysis"].get("spot"), th("deep_itm_pct")
    out = []
    for p in f.get("notable") or []:
        at_close = (
            itm_pct(p["strike"], spot, p.get("right") or "C") if spot and p.get("strike") else None
        )
        if (not live_after_next(doc, p.get("expiry")) or (p.get("premium_usd") or 0.0) < lo
                or (p.get("otm_pct") is not None and p["otm_pct"] < -deep)
                or (at_close is not None and at_close > deep)):  # fmt: skip
            continue
        out.append(p)
    return out


def notable(fb: FigureBook, doc: Mapping[str, Any], n: int = 5) -> Section:
    """The top prints by flow score with size class, flow kind and read-through clauses."""
    if not doc.get("flow"):
        return no_data(fb, "notable_prints", "Notable Prints", "trades")
    prints = notable_rows(doc)[:n]
    if not prints:
        lo = (doc["flow"].get("totals") or {}).get("notable_min_premium_usd")
        k = fb.add("notable.min_premium", lo, "USD", "money", "minimum notable premium")
        return Section(id="notable_prints", title="Notable Prints", sentences=[say(fb, "print.none", k)])  # fmt: skip
    sents, recs = [], []
    for i, p in enumerate(prints, 1):
        pre = f"print{i}"
        dist = p.get("distance_pct")
        keys = [
            fb.add(f"{pre}.expiry", p.get("expiry"), "date", "date", "expiry"),
            fb.add(f"{pre}.strike", p.get("strike"), "USD", "price", "strike"),
            fb.add(f"{pre}.size", p.get("size"), "contracts", "int", "size"),
            fb.add(f"{pre}.premium", p.get("premium_usd"), "USD", "money", "print premium"),
            fb.add(f"{pre}.distance", None if dist is None else dist / 100.0, "fraction of spot", "pct_signed", "strike vs spot"),
            fb.add(f"{pre}.score", p.get("score"), "points (0-100)", "int", "flow score"),
        ]  # fmt: skip
        size_word, kind = print_descriptor(p)
        clauses = read_through(p)
        sents.append(say(fb, "print.read", *keys, label="Read-through", right="C" if p.get("right") == "C" else "P",
                         size=size_word.lower(), kind=kind, clauses="; " + "; ".join(clauses) if clauses else ""))  # fmt: skip
        size_oi = vol_oi_words_ratio(
            p.get("size"), p.get("open_interest") or 0, th("vol_oi_oi_floor")
        )
        recs.append(
            {**p, "distance_frac": None if dist is None else dist / 100.0, "size_oi": size_oi}
        )
    table = fb.table("notable", "Notable prints (ranked by flow score)", [
        ("expiry", "expiry", "date", "date"), ("strike", "strike", "USD", "price"), ("right", "C/P", "", "text"),
        ("side", "side", "", "text"), ("size", "size", "contracts", "int"), ("premium_usd", "premium", "USD", "money"),
        ("distance_frac", "vs spot", "%", "pct_signed"), ("size_oi", "size/OI", "", "text"),
        ("score", "score", "points", "int"),
    ], recs)  # fmt: skip
    return Section(id="notable_prints", title="Notable Prints", sentences=sents, tables=[table])


def _oi_adds(fb: FigureBook, doc: Mapping[str, Any], right: str, word: str) -> Sentence:
    oi = doc.get("oi") or {}
    adds = sorted([c for c in oi.get("changes") or [] if c["right"] == right and (c.get("oi_change") or 0) > 0
                   and live(doc, c.get("expiry"))], key=lambda c: -c["oi_change"])[:3]  # fmt: skip
    if not adds:
        if (oi.get("sessions") or 0) < 2:
            return say(fb, "missing", label=word, text=MISSING["history"])
        return say(fb, "oi.no_adds", label=word)
    keys, parts = [], []
    for j, c in enumerate(adds):
        keys += [fb.add(f"adds.{right}{j}.strike", c["strike"], "USD", "price", "strike"),
                 fb.add(f"adds.{right}{j}.expiry", c["expiry"], "date", "date", "expiry"),
                 fb.add(f"adds.{right}{j}.oi_change", c["oi_change"], "contracts", "int_signed", "overnight OI change")]  # fmt: skip
        parts.append(f"{{{3 * j}}} ({{{3 * j + 1}}}) {{{3 * j + 2}}}")
    keys.append(fb.add("oi.change_session", oi.get("change_session"), "date", "date", "session of the OI change"))  # fmt: skip
    s = say(fb, "oi.adds", label=word, last="{" + str(len(keys) - 1) + "}", parts=", ".join(parts))
    s.text = s.text.format(*(fb.d(k) for k in keys))
    s.keys = keys
    return s


def itm_pct(strike: float, spot: float, right: str) -> float:
    """% of spot in the money of a strike (negative out of the money)."""
    return ((spot - strike) if right == "C" else (strike - spot)) / spot * 100.0


def _concentration(
    fb: FigureBook, doc: Mapping[str, Any], right: str, word: str
) -> Sentence | None:
    col = "call_premium_usd" if right == "C" else "put_premium_usd"
    spot = doc["analysis"].get("spot")
    rows = [r for r in g(doc, "flow", "net_by_strike") or []
            if (r.get("dir_" + col, r.get(col)) or 0) > 0 and spot
            and itm_pct(r["strike"], spot, right) <= th("deep_itm_pct")]  # fmt: skip
    prem = sorted(rows, key=lambda r: -(r.get("dir_" + col, r.get(col)) or 0))[
        : th("concentration_strikes")
    ]
    if not prem:
        return None
    pk = []
    for j, r in enumerate(prem):
        pk += [fb.add(f"prem.{right}{j}.strike", r["strike"], "USD", "price", "strike"),
               fb.add(f"prem.{right}{j}.usd", r.get("dir_" + col, r.get(col)), "USD", "money", f"directional {word.split()[0].lower()} premium")]  # fmt: skip
    parts = ", ".join(f"{{{2 * j}}} ({{{2 * j + 1}}})" for j in range(len(prem)))
    kind = "call" if right == "C" else "put"
    s = say(fb, "prem.concentration", label=f"{kind.capitalize()} premium", kind=kind, parts=parts)
    s.text, s.keys = s.text.format(*(fb.d(k) for k in pk)), pk
    return s


def _gex(fb: FigureBook, doc: Mapping[str, Any]) -> Sentence:
    if not has_greeks(doc):
        fb.add("totals.gex", None, "USD per 1% move", "money_signed", "total dealer GEX")
        return say(fb, "gex.na", label="GEX/DEX consistency")
    tot = doc["analysis"].get("totals") or {}
    kg = fb.add("totals.gex", tot.get("gex_usd_per_1pct"), "USD per 1% move", "money_signed", "total dealer GEX")  # fmt: skip
    kd = fb.add("totals.dex", tot.get("dex_shares"), "shares", "shares", "total dealer DEX")
    at = gex_spot(doc)
    ks = fb.add("gex.at_spot", at, "USD per 1% move", "money_signed", "profile GEX at spot")
    regime = "negative" if (at or 0) < 0 else "positive" if (at or 0) > 0 else "zero"
    words = GEX_REGIMES[regime] if at is not None else "the profile does not cover spot"
    cons = ""
    if doc.get("flow") and at is not None:
        net = _t(doc, "net_usd") or 0.0
        cons = ("Yes — short gamma at spot is consistent with the bearish directional premium. " if regime == "negative" and net < 0
                else "Yes — long gamma at spot is consistent with the bullish directional premium. " if regime == "positive" and net > 0
                else "Mixed — the dealer gamma at spot and the directional premium disagree. ")  # fmt: skip
    return say(
        fb, "gex.regime", kg, kd, ks, label="GEX/DEX consistency", consistency=cons, regime=words
    )


def _clusters(fb: FigureBook, doc: Mapping[str, Any]) -> Sentence | None:
    cl = (g(doc, "oi", "clusters") or [])[:5]
    if not cl:
        return None
    keys, parts = [], []
    for j, c in enumerate(cl):
        keys += [fb.add(f"cluster{j}.strike", c["strike"], "USD", "price", "strike"),
                 fb.add(f"cluster{j}.oi", c["oi"], "contracts", "int", "OI (calls+puts)")]  # fmt: skip
        dom = "PUT" if (c.get("put_oi") or 0) > (c.get("call_oi") or 0) else "CALL"
        parts.append(f"{{{2 * j}}} {dom}-heavy ({{{2 * j + 1}}})")
    spot = doc["analysis"].get("spot") or 0.0
    below_put = sum(
        1 for c in cl if c["strike"] < spot and (c.get("put_oi") or 0) > (c.get("call_oi") or 0)
    )
    above_call = sum(
        1 for c in cl if c["strike"] > spot and (c.get("call_oi") or 0) > (c.get("put_oi") or 0)
    )
    n = th("cluster_band_count")
    read = (" Put-heavy clusters below spot form a defensive floor (downside insurance demand)." if below_put >= n
            else " Call-heavy clusters above spot form a resistance band." if above_call >= n
            else " The largest clusters are mixed around spot.")  # fmt: skip
    s = say(fb, "oi.clusters", label="OI clusters", parts=", ".join(parts), read=read)
    s.text, s.keys = s.text.format(*(fb.d(k) for k in keys)), keys
    return s


def _walls(fb: FigureBook, doc: Mapping[str, Any]) -> Sentence:
    lv = doc["analysis"].get("levels") or {}
    if lv.get("call_wall") is None and lv.get("oi_call_wall") is not None:  # no greeks: OI walls
        keys = [fb.add("levels.oi_call_wall", lv.get("oi_call_wall"), "USD", "price", "call wall by open interest"),
                fb.add("levels.oi_put_wall", lv.get("oi_put_wall"), "USD", "price", "put wall by open interest")]  # fmt: skip
        return say(fb, "walls.oi", *keys, label="Walls")
    keys = [fb.add("levels.call_wall", lv.get("call_wall"), "USD", "price", "call wall"),
            fb.add("levels.put_wall", lv.get("put_wall"), "USD", "price", "put wall"),
            fb.add("levels.zero_gamma", lv.get("zero_gamma"), "USD", "price", "zero gamma")]  # fmt: skip
    why = lv.get("zero_gamma_reason") if lv.get("zero_gamma") is None else None
    return say(fb, "walls", *keys, label="Walls", reason=f" ({why})" if why else "")


def _hedging(fb: FigureBook, doc: Mapping[str, Any]) -> Sentence:
    if not doc.get("flow"):
        return say(fb, "missing", label="Hedging evidence", text=MISSING["trades"])
    t = doc["flow"]["totals"]
    pb, ps = _t(doc, "puts_bought_usd") or 0.0, _t(doc, "puts_sold_usd") or 0.0
    keys = [fb.add("flow.puts_bought", pb, "USD", "money", "directional puts bought"),
            fb.add("flow.puts_sold", ps, "USD", "money", "directional puts sold"),
            fb.add("flow.calls_sold", _t(doc, "calls_sold_usd"), "USD", "money", "directional calls sold"),
            fb.add("flow.multileg", t.get("multileg_usd"), "USD", "money", "multi-leg premium")]  # fmt: skip
    word = "Protective put buying dominates put flow" if pb > ps else "Put selling exceeds put buying (little fresh protection)"  # fmt: skip
    return say(fb, "hedging", *keys, label="Hedging evidence", word=word)


def _max_pain(fb: FigureBook, doc: Mapping[str, Any]) -> Sentence | None:
    mpt = [m for m in doc["analysis"].get("max_pain_trend") or [] if live(doc, m.get("expiry")) and m.get("max_pain") is not None][:4]  # fmt: skip
    if not mpt:
        return None
    keys = [fb.add(f"max_pain.{j}", m["max_pain"], "USD", "price", f"max pain {m.get('expiry')}") for j, m in enumerate(mpt)]  # fmt: skip
    dist = mpt[0].get("spot_distance_pct")
    keys.append(fb.add("max_pain.spot_distance", None if dist is None else dist / 100.0, "fraction", "pct_signed", "spot vs nearest max pain"))  # fmt: skip
    vals = [m["max_pain"] for m in mpt]
    trend = "rising" if vals[-1] > vals[0] else "falling" if vals[-1] < vals[0] else "flat"
    pin = ""
    if dist is not None:
        side = "above" if dist > 0 else "below"
        pin = (f" Spot sits {side} the nearest max pain; a pin pull toward it is plausible into {mpt[0]['expiry']} while dealer hedging dominates."
               if abs(dist) <= th("pin_near_pct") else f" Spot sits well {side} the nearest max pain: not an expiration pin setup.")  # fmt: skip
    parts = " → ".join(f"{{{j}}}" for j in range(len(mpt)))
    s = say(
        fb,
        "max_pain",
        label="Max pain context",
        parts=parts,
        trend=trend,
        last="{" + str(len(mpt)) + "}",
        pin=pin,
    )
    s.text, s.keys = s.text.format(*(fb.d(k) for k in keys)), keys
    return s


def positioning(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """OI additions, directional premium concentration, GEX at spot, clusters, walls, hedging,
    max pain (live expiries only)."""
    sents: list[Sentence | None] = []
    for right, word in (("C", "Call additions"), ("P", "Put additions")):
        sents += [_oi_adds(fb, doc, right, word), _concentration(fb, doc, right, word)]
    sents += [
        _gex(fb, doc),
        _clusters(fb, doc),
        _walls(fb, doc),
        _hedging(fb, doc),
        _max_pain(fb, doc),
    ]
    must = named_prices(fb, sents)
    builders = (gex_chart, oi_chart, oi_change_chart, max_pain_chart)
    charts = [c for b in builders if (c := b(doc, must_show_strikes=must))]
    return Section(id="institutional_positioning", title="Institutional Positioning",
                   sentences=[s for s in sents if s is not None], charts=charts)  # fmt: skip


def _vol_oi(fb: FigureBook, doc: Mapping[str, Any]) -> list[Sentence]:
    floor = th("vol_oi_oi_floor")
    hot = [h for h in g(doc, "oi", "vol_oi_top") or [] if live(doc, h.get("expiry"))]
    ok = [h for h in hot if (h.get("open_interest") or 0) >= floor and h.get("vol_oi") is not None]
    out = []
    kf = fb.add("sn.oi_floor", floor, "contracts", "int", "OI floor of the Vol/OI ratio")
    ho = doc.get("high_oi")
    if ho and ho.get("high_oi_name") and ho.get("sessions"):
        out += _high_oi(fb, doc, ho)  # seed 002: instead of Vol/OI in a high-OI name
    elif ok:
        h = max(ok, key=lambda h: h["vol_oi"])
        band, words = vol_oi_words(h.get("vol_oi_band"))
        ks = fb.add("sn.hot.strike", h["strike"], "USD", "price", "strike")
        ke = fb.add("sn.hot.expiry", h["expiry"], "date", "date", "expiry")
        kb = fb.add("sn.hot.band", band, "volume / OI", "text", "seed-002 Vol/OI band")
        out.append(say(fb, "sn.vol_oi", kf, ks, ke, kb, right=h["right"], words=words))
    new = [h for h in hot if (h.get("open_interest") or 0) < floor and (h.get("volume") or 0) > 0]
    if new:
        out.append(say(fb, "sn.new_series", fb.add("sn.new_series", len(new), "contracts", "int", "new-series contracts among the top Vol/OI"), kf))  # fmt: skip
    tot = doc["analysis"].get("totals") or {}
    vol = (tot.get("call_volume") or 0) + (tot.get("put_volume") or 0)
    oi = (tot.get("call_oi") or 0) + (tot.get("put_oi") or 0)
    if vol and oi:
        keys = [fb.add("sn.volume", vol, "contracts", "int", "session volume"),
                fb.add("sn.oi", oi, "contracts", "int", "open interest"),
                fb.add("sn.volume_oi", vol / oi, "fraction", "pct", "volume / OI")]  # fmt: skip
        out.append(say(fb, "sn.volume_oi", *keys))
    return out


def _high_oi(fb: FigureBook, doc: Mapping[str, Any], ho: Mapping[str, Any]) -> list[Sentence]:
    """Seed 002 "High-OI names": the largest volume spike against the trailing average at its
    strike, and the largest overnight OI build near spot (``doc["high_oi"]``)."""
    t, n = doc["underlying"], len(ho.get("sessions") or [])
    out = []
    sp = ho.get("spike")
    if sp:
        keys = [fb.add("sn.high_oi.multiple", sp["multiple"], "× trailing average", "ratio", "volume / trailing average"),
                fb.add("sn.high_oi.strike", sp["strike"], "USD", "price", "strike of the spike"),
                fb.add("sn.high_oi.volume", sp["volume"], "contracts", "int", "volume today"),
                fb.add("sn.high_oi.avg", sp["avg"], "contracts per session", "int", "trailing average volume")]  # fmt: skip
        hit = bool((doc.get("unusual") or {}).get("hit"))  # the name-level multiples scanner
        if ho.get("spike_is_large"):
            large = " — a spike worth reading even with a compressed Vol/OI"
        elif hit:  # never "no spike" beside the name's premium/volume spike (issue 11)
            large = (" — below the strike-level spike bar: the day's spike is name-wide, "
                     "read in the multiples-scanner section")  # fmt: skip
        else:
            large = " — no spike beyond the usual"
        out.append(say(fb, "sn.high_oi", *keys, t=t, n=n, right=sp["right"], large=large))
    else:
        km = fb.add(
            "sn.high_oi.min_volume", th("high_oi_min_volume"), "contracts", "int", "minimum volume"
        )
        ka = fb.add("sn.high_oi.min_avg", th("high_oi_min_avg"), "contracts per session", "int",
                    "minimum trailing average")  # fmt: skip
        out.append(say(fb, "sn.high_oi_quiet", km, ka, t=t, n=n))
    ob = ho.get("oi_build")
    if ob:
        keys = [fb.add("sn.high_oi.build", ob["oi_change"], "contracts", "int_signed", "overnight OI build"),
                fb.add("sn.high_oi.build_strike", ob["strike"], "USD", "price", "strike of the build")]  # fmt: skip
        out.append(say(fb, "sn.high_oi_build", *keys, right=ob["right"]))
    return out


def _high_oi_views(fb: FigureBook, doc: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """The volume-vs-average table and chart by strike (``doc["high_oi"]``, every name)."""
    ho = doc.get("high_oi")
    if not ho or not ho.get("rows") or not ho.get("sessions"):
        return [], []
    rows, spot = ho["rows"], doc["analysis"].get("spot")
    n = len(ho["sessions"])
    tb = fb.table("volume_vs_average", f"Volume vs the {n}-session average and the overnight OI change by strike near spot", [
        ("strike", "strike", "USD", "price"), ("call_volume", "call vol", "contracts", "int"),
        ("call_avg", f"call {n}-session avg", "contracts", "int"), ("call_multiple", "call ×avg", "ratio", "ratio"),
        ("call_oi_change", "call OI chg", "contracts", "int_signed"), ("put_volume", "put vol", "contracts", "int"),
        ("put_avg", f"put {n}-session avg", "contracts", "int"), ("put_multiple", "put ×avg", "ratio", "ratio"),
        ("put_oi_change", "put OI chg", "contracts", "int_signed")], rows)  # fmt: skip
    from chainlens.report._charts import _finish_strike_axis
    from chainlens.report._model import Chart

    ch = Chart(
        id="volume_vs_average", kind="bar", title=f"Volume / {n}-session average by strike (calls and puts, live expiries)",
        x_label="strike (USD)", y_label="× trailing average", y_unit="ratio", x=[r["strike"] for r in rows],
        series=[{"name": "calls", "values": [r.get("call_multiple") for r in rows]},
                {"name": "puts", "values": [r.get("put_multiple") for r in rows]}],
        markers=[{"x": spot, "label": "spot"}] if spot else [],
    )  # fmt: skip
    return [tb], [_finish_strike_axis(ch, spot, [])]


def _vol_oi_table(fb: FigureBook, doc: Mapping[str, Any]) -> list[Any]:
    """Vol/OI by strike near spot (calls and puts over all live expiries; OI under the floor
    reads "new series")."""
    spot, floor = doc["analysis"].get("spot"), th("vol_oi_oi_floor")
    rows = []
    for r in live_strikes(doc):
        if (
            not spot
            or abs(r["strike"] / spot - 1) * 100.0 > th("vol_oi_table_half_width_pct")
            or not ((r.get("call_volume") or 0) + (r.get("put_volume") or 0))
        ):
            continue
        rec: dict[str, Any] = {"strike": r["strike"]}
        for side in ("call", "put"):
            v, o = r.get(f"{side}_volume"), r.get(f"{side}_oi") or 0
            rec[f"{side}_volume"], rec[f"{side}_oi"] = v, o
            rec[f"{side}_ratio"] = vol_oi_words_ratio(v, o, floor)
        rows.append(rec)
    if not rows:
        return []
    return [fb.table("vol_oi_by_strike", "Volume and Vol/OI by strike near spot (live expiries of the snapshot"
        + expired_note(doc) + ")", [
        ("strike", "strike", "USD", "price"), ("call_volume", "call vol", "contracts", "int"), ("call_oi", "call OI", "contracts", "int"),
        ("call_ratio", "call Vol/OI", "", "text"), ("put_volume", "put vol", "contracts", "int"), ("put_oi", "put OI", "contracts", "int"),
        ("put_ratio", "put Vol/OI", "", "text")], rows)]  # fmt: skip


def vol_oi_words_ratio(volume: Any, oi: float, floor: float) -> str | None:
    """Vol/OI as a seed-002 band for display: "new series" under the OI floor, the ratio
    (two decimals) inside the bands, the band name above the top band."""
    from chainlens.oi import VOL_OI_BANDS
    from chainlens.report.rules import band_words

    if volume is None:
        return None
    if oi < floor:
        return "new series" if volume else None
    x = volume / oi
    top = VOL_OI_BANDS[-1]
    return band_words(top[1], VOL_OI_BANDS) if x >= top[0] else f"{x:.2f}×"


def signal_noise(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Side confidence, Vol/OI with the OI floor and seed-002 bands, volume vs OI, small prints."""
    f = doc.get("flow")
    sents: list[Sentence] = []
    if f:
        t, mix = f["totals"], f.get("side_mix") or {}
        u = t.get("unknown_share")
        keys = [fb.add("sn.unknown_share", u, "fraction", "pct", "mid + unknown share of premium"),
                fb.add("sn.directional_share", t.get("directional_share"), "fraction", "pct", "directional share of premium"),
                fb.add("sn.trades", mix.get("trades"), "trades", "int", "trades"),
                fb.add("sn.multileg_share", (t.get("multileg_usd") or 0) / t["total_usd"] if t.get("total_usd") else None, "fraction", "pct", "multi-leg share of premium")]  # fmt: skip
        conf = ("n/a" if u is None else "high" if u < th("side_confidence_high")
                else "moderate" if u < th("side_confidence_low") else "low")  # fmt: skip
        sents.append(say(fb, "sn.side", *keys, conf=conf))
    sents += _vol_oi(fb, doc)
    small = [
        p for p in notable_rows(doc)[:5] if (p.get("premium_usd") or 0) < th("noise_premium_usd")
    ]
    if small:
        kn = fb.add(
            "sn.small_prints", len(small), "prints", "int", "notable prints under the threshold"
        )
        kt = fb.add(
            "sn.noise_threshold",
            th("noise_premium_usd"),
            "USD",
            "money",
            "noise threshold (premium)",
        )
        sents.append(say(fb, "sn.small", kn, kt))
    if not f:
        sents.append(say(fb, "flow.needs_trades"))
    ht, hc = _high_oi_views(fb, doc)  # issue 11: seed-002 high-OI names
    return Section(
        id="signal_vs_noise",
        title="Signal vs Noise",
        sentences=sents,
        tables=_vol_oi_table(fb, doc) + ht,
        charts=hc,
    )


def verdict(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Watch next session: walls, the live accumulation, the top notable print (live only)."""
    items: list[Sentence] = []
    lv = doc["analysis"].get("levels") or {}
    w = "Watch next session"
    if lv.get("call_wall") is not None and lv.get("put_wall") is not None:
        kc = fb.add("levels.call_wall", lv["call_wall"], "USD", "price", "call wall")
        kp = fb.add("levels.put_wall", lv["put_wall"], "USD", "price", "put wall")
        items.append(say(fb, "watch.walls", kc, kp, label=w))
    acc = [c for c in g(doc, "oi", "accumulation") or [] if live_after_next(doc, c.get("expiry"))]
    if acc:
        c = acc[0]
        keys = [fb.add("verdict.acc.strike", c["strike"], "USD", "price", "strike"),
                fb.add("verdict.acc.oi_change", c.get("oi_change"), "contracts", "int_signed", "streak OI change"),
                fb.add("verdict.acc.sessions", c["sessions"], "sessions", "int", "streak length"),
                fb.add("verdict.acc.expiry", c["expiry"], "date", "date", "expiry")]  # fmt: skip
        items.append(say(fb, "watch.acc", *keys, label=w, right=c["right"]))
    top = notable_rows(doc)[:1]
    if top:
        p = top[0]
        keys = [fb.add("watch.print.strike", p.get("strike"), "USD", "price", "strike"),
                fb.add("watch.print.expiry", p.get("expiry"), "date", "date", "expiry"),
                fb.add("watch.print.premium", p.get("premium_usd"), "USD", "money", "print premium")]  # fmt: skip
        items.append(say(fb, "watch.print", *keys, label=w, right=p.get("right")))
    if not items:
        items.append(say(fb, "watch.none"))
    return Section(id="flow_verdict", title="Flow Verdict", sentences=items)


def conclusions(fb: FigureBook, doc: Mapping[str, Any], lens: str) -> Section:
    """Directional flow, dealer gamma at spot, missing inputs, disclaimer."""
    sents = []
    if doc.get("flow"):
        k = fb.add(
            "concl.net", _t(doc, "net_usd"), "USD", "money_signed", "directional net premium"
        )
        sents.append(say(fb, "concl.flow", k, side=str(_t(doc, "side_label"))))
    gk = has_greeks(doc)
    ka = fb.add(
        "concl.gex_spot", gex_spot(doc), "USD per 1% move", "money_signed", "profile GEX at spot"
    )
    kt = fb.add("concl.gex", g(doc, "analysis", "totals", "gex_usd_per_1pct") if gk else None, "USD per 1% move", "money_signed", "total dealer GEX")  # fmt: skip
    sents.append(say(fb, "concl.gamma", ka, kt))
    missing = [MISSING_WORDS[m] for m in doc.get("missing", []) if m in MISSING_WORDS]
    if missing:
        sents.append(say(fb, "concl.missing", what=", ".join(missing)))
    sents.append(say(fb, "concl.disclaimer", lens=lens))
    return Section(id="key_conclusions", title="Key Conclusions", sentences=sents)


def flow_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    """The flow lens's sections in seed-000 order."""
    from chainlens.report.lenses.unusual import unusual_section, unusual_summary  # issue 11

    summary, prints, pos = flow_summary(fb, doc), notable(fb, doc), positioning(fb, doc)
    below = unusual_summary(fb, doc.get("unusual"))  # seed 004 multiples, when not a hit
    if below is not None:
        summary.sentences.append(below)
    un = unusual_section(fb, doc)  # seed 004 multiples scanner hit: right after the verdict
    return [
        verdict(fb, doc),
        *([un] if un is not None else []),
        summary,
        prints,
        pos,
        signals_section(fb, doc),
        signal_noise(fb, doc),
        conclusions(fb, doc, "flow"),
    ]
