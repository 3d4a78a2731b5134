"""Issue 19 sections of the daily report: price action and regime, the dealer gamma bands,
dark-pool programs, the sector deep-dive, the thesis checklist, and the editorial headline and
bottom line (seed 003 "Price action summary", "Regime dashboard", "Range regime", "Dealer
mechanics", "TWAP programs", "Energy sector — did they buy the dip?", "Is the bear market
canceled? The evidence", "Bottom line").

Every sentence comes from a rule of :mod:`chainlens.report.rules` and states its figures; a
section whose input is absent says which input and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.market import CONTEXT_RULES, RULES
from chainlens.report._model import FigureBook, Section, Sentence
from chainlens.report.rules import say

__all__ = [
    "bottom_line",
    "dealer_band_sentences",
    "deep_dive_section",
    "editorial",
    "price_section",
    "program_sentences",
    "thesis_section",
]


def _pct(x: Any) -> float | None:
    return None if x is None else float(x) / 100.0


def price_section(fb: FigureBook, ctx: Mapping[str, Any]) -> Section:
    """Price action, distance to the 20/50/200-session averages, regime and realized vol."""
    s = Section(id="price_context", title="Price Action & Regime (from closes)")
    rows = []
    full = [p for p in ctx.get("prices") or [] if "sma" in p]
    for j, p in enumerate(full):
        t = p["ticker"]
        lead = j == 0  # sentences for the lead index; the table carries every index
        mark = len(s.sentences)
        kc = fb.add(f"px.{t}.close", p["close"], "USD", "price", f"{t} close")
        kd = fb.add(
            f"px.{t}.chg",
            _pct(p.get("change_pct")),
            "fraction",
            "pct_signed",
            f"{t} change on the day",
        )
        src = "daily bars" if p["source"] == "bars" else "the chain's spot per stored session"
        s.sentences.append(say(fb, "ctx.price", kc, kd, t=t, source=src, n=p["sessions"]))
        row: dict[str, Any] = {
            "ticker": t,
            "close": p["close"],
            "change": _pct(p.get("change_pct")),
        }
        na = [b for b in p["sma"] if b["sma"] is None]
        for b in p["sma"]:
            w = b["window"]
            if b["sma"] is None:
                row[f"d{w}"] = None
                continue
            ka = fb.add(f"px.{t}.sma{w}", b["sma"], "USD", "price", f"{t} {w}-session average")
            kx = fb.add(
                f"px.{t}.d{w}", _pct(b["distance_pct"]), "fraction", "pct_signed", "distance to it"
            )
            kn = fb.add(
                f"px.{t}.n{w}", b["sessions_on_side"], "sessions", "int", "sessions on that side"
            )
            every = b["sessions_on_side"] >= b.get("sessions_counted", b["sessions_on_side"] + 1)
            s.sentences.append(say(fb, "ctx.sma", ka, kx, kn, t=t, w=w, side=b["side"],
                                   every=f" (every session with {w} closes behind it)" if every else ""))  # fmt: skip
            row[f"d{w}"] = _pct(b["distance_pct"])
            row[f"n{w}"] = f"{b['sessions_on_side']} {b['side']}"
        if na:
            ws = "/".join(str(b["window"]) for b in na)
            why = f"{p['sessions']} closes stored; needs " + ", ".join(str(b["window"]) for b in na)
            s.sentences.append(
                say(fb, "ctx.sma_na", t=t, w=ws, plural="s" if len(na) > 1 else "", reason=why)
            )
        rg = p["regime"]
        if rg["score"] is None:
            s.sentences.append(say(fb, "ctx.regime_na", t=t, w=rg["window"], reason=rg["reason"]))
        else:
            ks = fb.add(f"px.{t}.trend", rg["score"], "score 0-100", "ratio", f"{t} trend score")
            k1 = fb.add(
                "px.th.dominant",
                CONTEXT_RULES["regime_dominant"],
                "score",
                "ratio",
                "dominant threshold",
            )
            k2 = fb.add(
                "px.th.trend", CONTEXT_RULES["regime_trend"], "score", "ratio", "trend threshold"
            )
            s.sentences.append(
                say(
                    fb,
                    "ctx.regime",
                    ks,
                    k1,
                    k2,
                    t=t,
                    w=rg["window"],
                    regime=rg["regime"],
                    direction=rg["direction"],
                )
            )
            row["regime"] = f"{rg['regime']} ({rg['direction']})"
        parts, keys = [], []
        for v in p["realized_vol"]:
            if v["value"] is None:
                parts.append(f"{v['window']}-session n/a ({v['reason']})")
            else:
                k = fb.add(
                    f"px.{t}.rv{v['window']}",
                    v["value"],
                    "1/yr (decimal)",
                    "iv",
                    f"{v['window']}-session realized vol",
                )
                keys.append(k)
                parts.append(f"{v['window']}-session {fb.d(k)}")
                row[f"rv{v['window']}"] = v["value"]
        sen = say(fb, "ctx.rv", t=t, parts="; ".join(parts))
        sen.keys = keys
        s.sentences.append(sen)
        rows.append(row)
        if not lead:
            del s.sentences[mark:]
    for t in ctx.get("price_missing") or []:
        s.sentences.append(say(fb, "ctx.price_missing", t=t))
    if rows:
        w1, w2, w3 = CONTEXT_RULES["sma_windows"]
        r1, r2, r3 = CONTEXT_RULES["rv_windows"]
        s.tables.append(fb.table("price_context", "Price context (distance to the n-session average; sessions on that side)", [
            ("ticker", "Symbol", "", "text"), ("close", "Close", "USD", "price"), ("change", "Change", "%", "pct_signed"),
            (f"d{w1}", f"vs {w1}", "%", "pct_signed"), (f"n{w1}", "run", "", "text"),
            (f"d{w2}", f"vs {w2}", "%", "pct_signed"), (f"n{w2}", "run", "", "text"),
            (f"d{w3}", f"vs {w3}", "%", "pct_signed"), (f"n{w3}", "run", "", "text"),
            ("regime", "Regime", "", "text"), (f"rv{r1}", f"RV {r1}", "%", "iv"), (f"rv{r2}", f"RV {r2}", "%", "iv"),
            (f"rv{r3}", f"RV {r3}", "%", "iv")], rows))  # fmt: skip
    if not s.sentences:
        s.sentences.append(say(fb, "ctx.no_prices"))
        s.status = "no_data"
    return s


def dealer_band_sentences(fb: FigureBook, ctx: Mapping[str, Any]) -> list[Sentence]:
    """Per index: the 0DTE GEX zone and the nearest positive-gamma band with its distance."""
    out = []
    hw = RULES["gamma_zone_half_width_pct"]
    for g in ctx.get("gamma") or []:
        t = g["ticker"]
        z = g.get("zero_dte")
        if z is None:
            out.append(say(fb, "dealer.0dte_na", t=t, reason=g.get("zero_dte_reason") or "n/a"))
        else:
            keys = [fb.add(f"g.{t}.z0", z["gex_min"], "USD per 1% move", "money_signed", f"{t} 0DTE GEX (min)"),
                    fb.add(f"g.{t}.z1", z["gex_max"], "USD per 1% move", "money_signed", f"{t} 0DTE GEX (max)"),
                    fb.add(f"g.{t}.zl", z["low"], "USD", "price", "zone low"),
                    fb.add(f"g.{t}.zh", z["high"], "USD", "price", "zone high"),
                    fb.add(f"g.{t}.zs", z["gex_at_spot"], "USD per 1% move", "money_signed", "0DTE GEX at spot")]  # fmt: skip
            out.append(say(fb, "dealer.0dte", *keys, t=t, hw=f"{hw:g}%", e=z["expiry"]))
        b = g.get("positive_band")
        at = g.get("gex_at_spot_usd_per_1pct")
        if b is None:
            kl = fb.add(f"g.{t}.gl", g["grid_low"], "USD", "price", "profile grid low")
            kh = fb.add(f"g.{t}.gh", g["grid_high"], "USD", "price", "profile grid high")
            out.append(say(fb, "dealer.npg_none", kl, kh, t=t))
            continue
        kl = fb.add(f"g.{t}.bl", b["low"], "USD", "price", "positive-gamma band low")
        kh = fb.add(f"g.{t}.bh", b["high"], "USD", "price", "positive-gamma band high")
        kd = fb.add(
            f"g.{t}.bd", b["distance_pct"] / 100.0, "fraction", "pct_signed", "distance from spot"
        )
        edge = ""
        if b["low"] <= g["grid_low"] or b["high"] >= g["grid_high"]:
            edge = " (to the edge of the profile grid)"
        if b["distance_pct"] == 0.0:
            out.append(say(fb, "dealer.npg_in", kl, kh, t=t, edge=edge))
            continue
        way = "below" if b["distance_pct"] < 0 else "above"
        if at is not None and at < 0:
            meaning = f"dealers are short gamma at spot, so hedging adds to moves in either direction until price reaches the band {way}"
        else:
            meaning = f"the profile at spot is not negative; the band {way} is where dealer hedging next leans against moves"
        out.append(say(fb, "dealer.npg", kl, kh, kd, t=t, meaning=meaning, edge=edge))
    return out


def program_sentences(
    fb: FigureBook, ctx: Mapping[str, Any]
) -> tuple[list[Sentence], list[dict[str, Any]]]:
    """The dark-pool programs of the session (sentences and table records)."""
    from chainlens.flow._darkpool import PROGRAM_RULES

    progs = ctx.get("programs") or []
    if not ctx.get("prints_stored"):
        return [], []
    if not progs:
        k = fb.add("prog.min", PROGRAM_RULES["min_slices"], "prints", "int", "minimum slices")
        return [say(fb, "dp.programs_none", k)], []
    out, recs = [], []
    for j, p in enumerate(progs):
        keys = [fb.add(f"prog.{j}.slices", p["slices"], "prints", "int", f"{p['ticker']} program slices"),
                fb.add(f"prog.{j}.size", p["slice_size"], "shares", "int", "median slice"),
                fb.add(f"prog.{j}.interval", p["interval_min"], "minutes", "ratio", "mean interval"),
                fb.add(f"prog.{j}.notional", p["notional_usd"], "USD", "money", "program notional"),
                fb.add(f"prog.{j}.vwap", p["vwap"], "USD", "price", "program VWAP"),
                fb.add(f"prog.{j}.cv", p["interval_cv"], "ratio", "ratio", "interval CV")]  # fmt: skip
        word = "buy (at or near the ask)" if p["side"] == "buy" else "sell (at or near the bid)"
        out.append(say(fb, "dp.program", *keys, t=p["ticker"], side=word))
        recs.append({**p, "start": p["start_hm"], "end": p["end_hm"]})
    return out, recs


def deep_dive_section(fb: FigureBook, ctx: Mapping[str, Any]) -> Section | None:
    """Seed 003 "Energy sector — did they buy the dip?" for the most unusual sector."""
    dd = ctx.get("deep_dive")
    if "deep_dive" not in ctx:
        return None
    s = Section(id="sector_deep_dive", title="Sector Deep-Dive")
    if not dd and ctx.get("deep_dive_missing"):
        from chainlens.report._narrative import MISSING

        s.sentences.append(say(fb, "missing", text=MISSING[ctx["deep_dive_missing"]]))
        s.status = "no_data"
        return s
    if not dd:
        s.sentences.append(say(fb, "deep.none"))
        s.status = "no_data"
        return s
    sec = dd["sector"]
    kn = fb.add("deep.net", dd["net_usd"], "USD", "money_signed", f"{sec} options directional net")
    kp = fb.add("deep.prem", dd["premium_usd"], "USD", "money", f"{sec} option premium")
    kd = fb.add(
        "deep.dp", dd.get("darkpool_net_usd"), "USD", "money_signed", f"{sec} dark-pool net"
    )
    if dd["basis"] == "share":
        ks = fb.add("deep.share", dd["share"], "fraction", "pct", "share of market premium")
        ka = fb.add("deep.avg", dd["share_avg"], "fraction", "pct", "its average share")
        s.sentences.append(
            say(fb, "deep.pick_share", ks, ka, kn, kd, kp, sector=sec, n=dd["history_sessions"])
        )
    else:
        s.sentences.append(say(fb, "deep.pick_net", kn, kp, kd, sector=sec))
    s.tables.append(fb.table("deep_dive", f"{sec}: options vs dark pool by name", [
        ("ticker", "Ticker", "", "text"), ("change", "Change", "%", "pct_signed"), ("premium_usd", "Option premium", "USD", "money"),
        ("options_net_usd", "Options net", "USD", "money_signed"), ("darkpool_notional_usd", "Dark-pool volume", "USD", "money"),
        ("darkpool_net_usd", "Dark-pool net", "USD", "money_signed")],
        [{**r, "change": _pct(r.get("change_pct"))} for r in dd["names"]]))  # fmt: skip
    names = dd["names"]
    if dd["reading"] == "single" and names:
        top = names[0]
        kt = fb.add(
            "deep.top_share",
            dd["top_share"],
            "fraction",
            "pct",
            "top name's share of |dark-pool net|",
        )
        ktn = fb.add(
            "deep.top_net",
            top["darkpool_net_usd"],
            "USD",
            "money_signed",
            f"{top['ticker']} dark-pool net",
        )
        acc = (top["darkpool_net_usd"] or 0) > 0
        ch = top.get("change_pct")
        if acc and ch is not None and ch < 0:
            what = "dip buy"
        elif acc:
            what = "accumulation"
        else:
            what = "exit"
        s.sentences.append(say(fb, "deep.single", kt, ktn, t=top["ticker"], sector=sec, what=what))
    elif dd["reading"] == "split":
        s.sentences.append(say(fb, "deep.split", kd, kn, sector=sec,
                               direction="accumulating" if (dd["darkpool_net_usd"] or 0) > 0 else "distributing"))  # fmt: skip
    elif dd["reading"] == "conviction":
        s.sentences.append(say(fb, "deep.conviction", kd, kn, sector=sec,
                               direction="accumulating" if (dd["darkpool_net_usd"] or 0) > 0 else "distributing"))  # fmt: skip
    else:
        s.sentences.append(say(fb, "deep.mixed", kd, kn, sector=sec))
    return s


def thesis_section(fb: FigureBook, ctx: Mapping[str, Any]) -> Section | None:
    """The user's checklist with ✅ / ❌ and the values (seed 003 "Bull thesis confirmation
    checklist"); n/a conditions say why."""
    th = ctx.get("thesis")
    if not th:
        return None
    s = Section(id="thesis_checklist", title=f"Thesis Checklist — {th['title']}")
    kc = fb.add("thesis.confirmed", th["confirmed"], "conditions", "int", "conditions confirmed")
    kt = fb.add("thesis.total", th["total"], "conditions", "int", "conditions")
    ke = fb.add("thesis.evaluated", th["evaluated"], "conditions", "int", "conditions with data")
    s.sentences.append(say(fb, "thesis.result", kc, kt, ke, title=th["title"]))
    for i, it in enumerate(th["items"], 1):
        if it["ok"] is None:
            s.sentences.append(say(fb, "thesis.na", i=i, name=it["name"], reason=it["reason"]))
            continue
        mark = "✅ met" if it["ok"] else "❌ not met"
        unit = it.get("unit") or ""
        fmt = {"price_vs_sma": "price", "darkpool_volume": "money", "change": "ratio"}.get(
            it["kind"], "money_signed" if unit.startswith("USD") else "ratio"
        )
        kv = fb.add(f"thesis.{i}.value", it["value"], unit, fmt, f"{it['name']}: value")
        kg = fb.add(f"thesis.{i}.target", it.get("target"), unit, fmt, f"{it['name']}: level")
        if it["kind"] == "price_vs_sma":
            kr = fb.add(
                f"thesis.{i}.run",
                it.get("sessions_on_side"),
                "sessions",
                "int",
                "sessions on that side",
            )
            s.sentences.append(say(fb, "thesis.sma", kv, kg, kr, mark=mark, i=i, name=it["name"], t=it["ticker"],
                                   w=it["window"], side=it.get("side"), need=it["sessions"], want=it["test"]))  # fmt: skip
        else:
            s.sentences.append(
                say(fb, "thesis.cmp", kv, kg, mark=mark, i=i, name=it["name"], test=it["test"])
            )
    return s


def _idx_dp(m: Mapping[str, Any], ctx: Mapping[str, Any]) -> float | None:
    dp = m.get("darkpool")
    if not dp:
        return None
    idx = {g["ticker"] for g in ctx.get("gamma") or []} | {"SPY", "QQQ", "IWM"}
    rows = [*dp.get("accumulation", []), *dp.get("distribution", [])]
    vals = [
        float(r["net_usd"]) for r in rows if r["ticker"] in idx and r.get("net_usd") is not None
    ]
    return sum(vals) if vals else None


def editorial(fb: FigureBook, m: Mapping[str, Any], ctx: Mapping[str, Any]) -> list[Sentence]:
    """The headline: the lead index's move against the flow underneath it."""
    prices = {p["ticker"]: p for p in ctx.get("prices") or [] if "sma" in p}
    lead = next(
        (prices[t] for t in ("SPX", "SPY", "QQQ", "IWM", "NDX", "RUT") if t in prices), None
    )
    side = m.get("side")
    if lead is None or lead.get("change_pct") is None or not side:
        return [say(fb, "edit.none")]
    ch = float(lead["change_pct"])
    net = side.get("dir_net_usd", side.get("net_usd"))
    dpn = _idx_dp(m, ctx)
    kc = fb.add("edit.change", ch / 100.0, "fraction", "pct_signed", f"{lead['ticker']} change")
    kn = fb.add("edit.net", net, "USD", "money_signed", "market directional net premium")
    kd = fb.add("edit.dp", dpn, "USD", "money_signed", "index dark-pool net (labelled, placed)")
    signs = [x for x in (net, dpn) if x]
    if ch == 0 or not signs:
        verdict = "neither confirms nor contradicts a flat tape"
    elif all((x > 0) == (ch > 0) for x in signs):
        verdict = "confirms the tape"
    elif all((x > 0) != (ch > 0) for x in signs):
        verdict = "contradicts the tape"
    else:
        verdict = "is split against the tape"
    return [say(fb, "edit.head", kc, kn, kd, t=lead["ticker"], verdict=verdict, label="Editorial")]


def bottom_line(fb: FigureBook, m: Mapping[str, Any], ctx: Mapping[str, Any]) -> Section:
    """Closing paragraph: averages, gamma regime, dark pool, convergence and the checklist,
    each sentence with its figures."""
    s = Section(id="bottom_line", title="Bottom Line")
    prices = {p["ticker"]: p for p in ctx.get("prices") or [] if "sma" in p}
    lead = next(
        (prices[t] for t in ("SPX", "SPY", "QQQ", "IWM", "NDX", "RUT") if t in prices), None
    )
    if lead is not None:
        long_w = CONTEXT_RULES["sma_windows"][-1]
        b = next((x for x in lead["sma"] if x["sma"] is not None and x["window"] == long_w), None)
        avail = [x for x in lead["sma"] if x["sma"] is not None]
        if b is not None:
            k = fb.add(
                "bl.d",
                b["distance_pct"] / 100.0,
                "fraction",
                "pct_signed",
                "distance to the long average",
            )
            kn = fb.add("bl.n", b["sessions_on_side"], "sessions", "int", "sessions on that side")
            s.sentences.append(
                say(fb, "bl.trend", k, kn, t=lead["ticker"], w=long_w, side=b["side"])
            )
        else:
            lb = next(x for x in lead["sma"] if x["window"] == long_w)
            s.sentences.append(
                say(fb, "bl.trend_na", t=lead["ticker"], w=long_w, reason=lb["reason"])
            )
            if avail:
                x = avail[-1]
                k = fb.add(
                    "bl.d",
                    x["distance_pct"] / 100.0,
                    "fraction",
                    "pct_signed",
                    "distance to the longest computed average",
                )
                kn = fb.add(
                    "bl.n", x["sessions_on_side"], "sessions", "int", "sessions on that side"
                )
                s.sentences.append(
                    say(fb, "bl.trend", k, kn, t=lead["ticker"], w=x["window"], side=x["side"])
                )
    short = [
        g["ticker"] for g in ctx.get("gamma") or [] if (g.get("gex_at_spot_usd_per_1pct") or 0) < 0
    ]
    longg = [
        g["ticker"] for g in ctx.get("gamma") or [] if (g.get("gex_at_spot_usd_per_1pct") or 0) > 0
    ]
    if short or longg:
        s.sentences.append(
            say(fb, "bl.gamma", short=", ".join(short) or "none", long=", ".join(longg) or "none")
        )
    dpn = _idx_dp(m, ctx)
    if dpn is not None:
        kd = fb.add("bl.dp", dpn, "USD", "money_signed", "index dark-pool net")
        s.sentences.append(say(fb, "bl.dp", kd, word="accumulation" if dpn > 0 else "distribution"))
    progs = ctx.get("programs") or []
    if progs:
        kp = fb.add(
            "bl.prog",
            sum(float(p["notional_usd"]) for p in progs),
            "USD",
            "money",
            "programs' notional",
        )
        sells = sum(1 for p in progs if p["side"] == "sell")
        s.sentences.append(
            say(fb, "bl.programs", kp, n=len(progs), sells=sells, buys=len(progs) - sells)
        )
    cv = m.get("convergence") or {}
    if cv:
        kb = fb.add("bl.bear", cv.get("bearish_count"), "inputs", "int", "bearish inputs")
        ku = fb.add("bl.bull", cv.get("bullish_count"), "inputs", "int", "bullish inputs")
        s.sentences.append(say(fb, "bl.conv", kb, ku, tilt=cv.get("tilt")))
    th = ctx.get("thesis")
    if th:
        kc = fb.add("bl.th", th["confirmed"], "conditions", "int", "confirmed")
        kt = fb.add("bl.tt", th["total"], "conditions", "int", "conditions")
        s.sentences.append(say(fb, "bl.thesis", kc, kt, title=th["title"]))
    bears, bulls = _leans(m, ctx, lead, dpn)
    if bears or bulls:
        kb = fb.add("bl.n_bear", len(bears), "readings", "int", "readings leaning bearish")
        ku = fb.add("bl.n_bull", len(bulls), "readings", "int", "readings leaning bullish")
        if len(bears) > len(bulls):
            closing = "the evidence leans bearish"
        elif len(bulls) > len(bears):
            closing = "the evidence leans bullish"
        else:
            closing = "the evidence is balanced and favours neither side"
        s.sentences.append(say(fb, "bl.verdict", kb, ku, bears=", ".join(bears) or "none",
                               bulls=", ".join(bulls) or "none", closing=closing))  # fmt: skip
    if not s.sentences:
        s.sentences.append(say(fb, "edit.none"))
        s.status = "no_data"
    return s


def _leans(
    m: Mapping[str, Any], ctx: Mapping[str, Any], lead: Mapping[str, Any] | None, dpn: float | None
) -> tuple[list[str], list[str]]:
    """The signed readings of the bottom line: the lead index vs its longest computed
    average, the market options net, the index dark-pool net, the convergence tilt and the
    thesis checklist (more confirmed than not: bullish for a bull thesis is the user's call,
    so the checklist is not counted)."""
    bears: list[str] = []
    bulls: list[str] = []

    def put(name: str, x: float | None) -> None:
        if x is None or x == 0:
            return
        (bulls if x > 0 else bears).append(name)

    if lead is not None:
        avail = [b for b in lead["sma"] if b["sma"] is not None]
        if avail:
            b = avail[-1]
            put(f"{lead['ticker']} vs its {b['window']}-session average", b["distance_pct"])
    side = m.get("side")
    if side:
        put("options net", side.get("dir_net_usd", side.get("net_usd")))
    put("index dark-pool net", dpn)
    tilt = (m.get("convergence") or {}).get("tilt")
    put("convergence tilt", {"bearish": -1.0, "bullish": 1.0}.get(str(tilt)))
    return bears, bulls
