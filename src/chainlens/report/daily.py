"""The market daily report (seed 003) from :func:`chainlens.market.market_rollup`.

One function per section; every sentence from a rule of :mod:`chainlens.report.rules`. The side
decomposition keeps the raw totals with the directional ones (deep in the money and
box/conversion-like premium left out) beside them; trade structures agree with the
convergence tilt (the rollup withholds the others and the report says how many).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._model import FigureBook, Report, Section, Sentence
from chainlens.report.lenses.common import no_data, side_chart, zones_chart
from chainlens.report.rules import say

__all__ = ["ZONE_WORDS", "build_daily"]

#: Zone status as prose (no enum values in sentences or tables).
ZONE_WORDS: Mapping[str, str] = {
    "at_or_above_ceiling": "at or above the ceiling",
    "at_or_below_floor": "at or below the floor",
    "upper_half": "upper half",
    "lower_half": "lower half",
}


def _d(x: Mapping[str, Any], key: str) -> Any:
    return x.get("dir_" + key, x.get(key))


def _side(fb: FigureBook, m: Mapping[str, Any], head: list[Sentence]) -> Section:
    side = m["side"]
    kn = fb.add(
        "side.net", _d(side, "net_usd"), "USD", "money_signed", "market directional net premium"
    )
    kt = fb.add("side.total", side["total_usd"], "USD", "money", "total premium")
    kc = fb.add(
        "side.naive_cp",
        side.get("naive_cp_ratio"),
        "ratio",
        "ratio",
        "naive C/P premium ratio (raw)",
    )
    ku = fb.add("side.unknown", side.get("unknown_share"), "fraction", "pct", "unknown side share")
    ktr = fb.add("side.trades", side.get("trades"), "trades", "int", "trades")
    for k in ("calls_bought_usd", "calls_sold_usd", "puts_bought_usd", "puts_sold_usd", "bullish_usd", "bearish_usd",
              "call_premium_usd", "put_premium_usd", "net_usd", "dir_bullish_usd", "dir_bearish_usd", "delta_net_usd"):  # fmt: skip
        fb.add(
            f"side.{k}",
            side.get(k),
            "USD",
            "money_signed" if "net" in k else "money",
            k.replace("_usd", "").replace("_", " "),
        )
    tot = side["total_usd"] or 0.0
    kdi = fb.add(
        "side.deep_share",
        (side.get("deep_itm_usd") or 0.0) / tot if tot else None,
        "fraction",
        "pct",
        "deep ITM share of premium",
    )
    ksy = fb.add(
        "side.synthetic_share",
        (side.get("synthetic_usd") or 0.0) / tot if tot else None,
        "fraction",
        "pct",
        "box/conversion-like share",
    )
    kdc = fb.add(
        "side.dir_naive_cp",
        _d(side, "naive_cp_ratio"),
        "ratio",
        "ratio",
        "naive C/P premium ratio (directional)",
    )
    s = Section(
        id="side_decomposition",
        title="Options Flow — Side Decomposition",
        charts=[side_chart(side, "market_side")],
    )
    s.sentences += [
        say(fb, "side.raw", ktr, kt, "side.call_premium_usd", "side.put_premium_usd", kc, ku),
        say(fb, "side.buckets", "side.calls_bought_usd", "side.calls_sold_usd", "side.puts_bought_usd",
            "side.puts_sold_usd", "side.bullish_usd", "side.bearish_usd", "side.net_usd"),
        say(fb, "side.dir", kdi, ksy, "side.dir_bullish_usd", "side.dir_bearish_usd", kn, kdc, "side.delta_net_usd",
            side=str(_d(side, "side_label"))),
    ]  # fmt: skip
    if _d(side, "flip"):
        s.sentences.append(
            say(
                fb, "side.flip", kdc, kn, naive=_d(side, "naive_label"), side=_d(side, "side_label")
            )
        )
    tf, cv = m.get("top_flow") or {}, m.get("convergence") or {}
    keys = [fb.add("top.flips", tf.get("flips"), "names", "int", "flips"),
            fb.add("top.names", tf.get("names"), "names", "int", "top-flow names"),
            fb.add("top.flip_rate", tf.get("flip_rate"), "fraction", "pct", "flip rate of the top-flow names (directional)"),
            fb.add("conv.bearish", cv.get("bearish_count"), "inputs", "int", "bearish inputs"),
            fb.add("conv.bullish", cv.get("bullish_count"), "inputs", "int", "bullish inputs")]  # fmt: skip
    head.append(say(fb, "daily.head", "daily.session", kt, *keys, side=str(_d(side, "side_label"))))
    return s


def _top_flow(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    tf = m.get("top_flow") or {}
    t = Section(id="top_flow", title="Top Flow Decomposition")
    t.tables.append(fb.table("top_flow", "Top flow: naive vs side-adjusted (directional; raw beside)", [
        ("ticker", "Ticker", "", "text"), ("naive_label", "Naive", "", "text"), ("side_label", "Side-adj", "", "text"),
        ("premium_usd", "Premium", "USD", "money"), ("net_usd", "Net (dir.)", "USD", "money_signed"),
        ("raw_net_usd", "Net (raw)", "USD", "money_signed"), ("excluded_share", "Deep ITM/box", "%", "pct"),
        ("unknown_share", "Unknown", "%", "pct"), ("signal", "Signal", "", "text")], tf.get("rows") or []))  # fmt: skip
    kr = fb.add(
        "top.raw_flip_rate",
        tf.get("raw_flip_rate"),
        "fraction",
        "pct",
        "raw flip rate (deep ITM included)",
    )
    t.sentences.append(say(fb, "top.flips", "top.flips", "top.names", "top.flip_rate", kr))
    return t


def _chain_top(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    """Top names by chain-estimated premium when no trades are stored (sides need trades)."""
    rows = m.get("chain_activity") or []
    if not rows:
        return no_data(fb, "top_flow", "Top Flow Decomposition", "trades")
    t = Section(id="top_flow", title="Top Flow Decomposition")
    t.tables.append(fb.table("chain_activity", "Top names by chain premium (volume × mid; no sides without trades)", [
        ("ticker", "Ticker", "", "text"), ("premium_usd", "Premium", "USD", "money"), ("call_premium_usd", "Calls", "USD", "money"),
        ("put_premium_usd", "Puts", "USD", "money"), ("naive_cp_ratio", "C/P", "ratio", "ratio"), ("naive_label", "Naive", "", "text"),
        ("pcr_volume", "P/C volume", "ratio", "ratio")], rows))  # fmt: skip
    t.sentences.append(say(fb, "top.chain_only"))
    return t


def _darkpool(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    dp = m.get("darkpool")
    if not dp:
        return no_data(fb, "darkpool", "Dark-pool Flow — Accumulation vs Distribution", "prints")
    kdt = fb.add("dp.total", dp["total_notional_usd"], "USD", "money", "dark-pool notional")
    d = Section(id="darkpool", title="Dark-pool Flow — Accumulation vs Distribution")
    d.sentences.append(say(fb, "dp.total", kdt, n=dp["tickers"]))
    cols = [("ticker", "Ticker", "", "text"), ("notional_usd", "Volume", "USD", "money"), ("net_usd", "Net", "USD", "money_signed"),
            ("pct_at_ask", "At ask", "%", "pct"), ("pct_at_bid", "At bid", "%", "pct")]  # fmt: skip
    d.tables += [fb.table("dp_acc", "Accumulating", cols, dp["accumulation"]),
                 fb.table("dp_dist", "Distributing", cols, dp["distribution"])]  # fmt: skip
    if not dp["accumulation"] and not dp["distribution"]:
        d.sentences.append(say(fb, "dp.none"))
    if dp.get("low_confidence"):
        d.sentences.append(say(fb, "dp.low", names=", ".join(dp["low_confidence"][:20])))
    return d


def _pct_text(x: Any) -> str | None:
    return None if x is None else f"{x:+.2f}%"


def _zones(fb: FigureBook, m: Mapping[str, Any], head: list[Sentence]) -> Section:
    zones = m.get("zones") or []
    lead = next((r for r in zones if r.get("change_pct") is not None), None)
    if lead is not None and head:
        kc = fb.add(
            "head.change",
            lead["change_pct"] / 100.0,
            "fraction",
            "pct_signed",
            f"{lead['ticker']} change vs previous close",
        )
        kp = fb.add("head.close", lead["close"], "USD", "price", f"{lead['ticker']} close")
        head.append(
            say(
                fb,
                "daily.lead",
                kc,
                kp,
                t=lead["ticker"],
                status=ZONE_WORDS.get(str(lead["status"]), "n/a"),
            )
        )
    if not zones:
        return no_data(fb, "zones", "Expected Moves — Zone Table", "iv")
    z = Section(id="zones", title="Expected Moves — Zone Table")
    recs = [{**r, "change": None if r.get("change_pct") is None else r["change_pct"] / 100.0,
             "upside_room_pct": _pct_text(r.get("upside_room_pct")), "downside_room_pct": _pct_text(r.get("downside_room_pct")),
             "status": ZONE_WORDS.get(str(r.get("status")))} for r in zones]  # fmt: skip
    z.tables.append(fb.table("zones", "Zone analysis (nearest-expiry straddle set at the previous close)", [
        ("ticker", "Symbol", "", "text"), ("low", "Low", "USD", "price"), ("mid", "Mid", "USD", "price"), ("high", "High", "USD", "price"),
        ("close", "Close", "USD", "price"), ("upside_room_pct", "Upside", "%", "text"), ("downside_room_pct", "Downside", "%", "text"),
        ("change", "Change", "%", "pct_signed"), ("status", "Status", "", "text")], recs))  # fmt: skip
    zc = zones_chart(zones)
    if zc:
        z.charts.append(zc)
    ceil = [r["ticker"] for r in zones if r.get("status") == "at_or_above_ceiling"]
    z.sentences.append(
        say(
            fb,
            "zones.ceiling",
            n=len(ceil),
            m=len(zones),
            names=f": {', '.join(ceil[:12])}" if ceil else "",
        )
    )
    return z


def _dealers(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    dm = Section(id="dealer_mechanics", title="Dealer Mechanics")
    for j, gg in enumerate(m.get("dealers") or []):
        at = gg.get("gex_at_spot_usd_per_1pct")
        keys = [fb.add(f"dealer.{j}.lo", gg["zone_low"], "USD", "price", "zone low"),
                fb.add(f"dealer.{j}.hi", gg["zone_high"], "USD", "price", "zone high"),
                fb.add(f"dealer.{j}.zone", gg["zone_gex_usd_per_1pct"], "USD per 1% move", "money_signed", f"{gg['ticker']} GEX within ±1% of spot"),
                fb.add(f"dealer.{j}.at_spot", at, "USD per 1% move", "money_signed", "gamma profile at spot")]  # fmt: skip
        npg, tail = gg.get("nearest_positive_gamma"), ""
        if at is not None and at < 0:
            if npg:
                kl = fb.add(
                    f"dealer.{j}.npg", npg["level"], "USD", "price", "nearest positive gamma level"
                )
                kd = fb.add(
                    f"dealer.{j}.npgd",
                    npg["distance_pct"] / 100.0,
                    "fraction",
                    "pct_signed",
                    "distance to it",
                )
                keys += [kl, kd]
                tail = f": dealers short gamma at spot, nearest positive gamma {fb.d(kl)} ({fb.d(kd)} from spot)"
            else:
                tail = (
                    ": dealers short gamma at spot and no positive gamma within the profile range"
                )
        elif at is not None and at > 0:
            tail = ": dealers long gamma at spot"
        dm.sentences.append(say(fb, "dealer.zone", *keys[:4], t=gg["ticker"], tail=tail))
        dm.sentences[-1].keys = keys
    if not dm.sentences:
        dm.sentences.append(say(fb, "dealer.none"))
        dm.status = "no_data"
    return dm


def _notes(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    tn = Section(id="ticker_notes", title="Top Individual Tickers — Divergences and Campaigns")
    for j, x in enumerate(m.get("ticker_notes") or []):
        ch = None if x.get("change_pct") is None else x["change_pct"] / 100.0
        keys = [fb.add(f"note.{j}.close", x.get("close"), "USD", "price", f"{x['ticker']} close"),
                fb.add(f"note.{j}.change", ch, "fraction", "pct_signed", "change vs previous close"),
                fb.add(f"note.{j}.options", x.get("options_net_usd"), "USD", "money_signed", "options directional net premium"),
                fb.add(f"note.{j}.unknown", x.get("unknown_share"), "fraction", "pct", "unknown side share"),
                fb.add(f"note.{j}.gex", x.get("gex_usd_per_1pct"), "USD per 1% move", "money_signed", "dealer GEX")]  # fmt: skip
        dp = "no placeable dark-pool flow."
        if x.get("darkpool_label"):
            kdp = fb.add(
                f"note.{j}.dp", x.get("darkpool_net_usd"), "USD", "money_signed", "dark-pool net"
            )
            keys.append(kdp)
            dp = f"dark pool {fb.d(kdp)} ({x['darkpool_label']})."
        tn.sentences.append(say(fb, "note.ticker", *keys[:5], label=x["ticker"], verdict=x["verdict_text"],
                                conf="" if x.get("options_confident") else " (low confidence)", dp=dp))  # fmt: skip
        tn.sentences[-1].keys = keys
    if not tn.sentences:
        tn.status = "no_data"
        if m.get("side") is None:
            tn.sentences.append(say(fb, "missing", text=_missing_trades()))
        else:
            tn.sentences.append(say(fb, "notes.no_single"))
    return tn


def _missing_trades() -> str:
    from chainlens.report._narrative import MISSING

    return MISSING["trades"]


def _sectors(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    secs = m.get("sectors") or []
    sf = Section(id="sector_flow", title="Sector Flow")
    if secs and m.get("side") is None:
        sf.tables.append(fb.table("sectors", "Sector premium from the chain (volume × mid; net needs trades)", [
            ("sector", "Sector", "", "text"), ("premium_usd", "Total premium", "USD", "money"),
            ("net_usd", "Net", "USD", "money_signed"), ("share_of_market", "Share", "%", "pct")], secs))  # fmt: skip
        sf.sentences.append(say(fb, "top.chain_only"))
    elif secs:
        sf.tables.append(fb.table("sectors", "Sector flow (directional, side-adjusted)", [
            ("sector", "Sector", "", "text"), ("premium_usd", "Total premium", "USD", "money"), ("net_usd", "Net", "USD", "money_signed"),
            ("direction", "Direction", "", "text"), ("share_of_market", "Share", "%", "pct")], secs))  # fmt: skip
    else:
        sf.sentences.append(say(fb, "sectors.none"))
        sf.status = "no_data"
    return sf


def _convergence(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    cv = m.get("convergence") or {}
    c = Section(id="convergence", title="Convergence Count")
    if cv:
        kb = fb.add("conv.bearish", cv.get("bearish_count"), "inputs", "int", "bearish inputs")
        ku = fb.add("conv.bullish", cv.get("bullish_count"), "inputs", "int", "bullish inputs")
        c.sentences.append(say(fb, "conv.tilt", kb, ku, tilt=cv["tilt"]))
        for name in ("bearish", "bullish"):
            for i, x in enumerate(cv[name], 1):
                s = say(fb, "conv.input", label=name, side=name.capitalize(), i=i, text=x["text"])
                c.sentences.append(s)
    return c


def _structures(fb: FigureBook, m: Mapping[str, Any]) -> Section:
    from chainlens.market import DISCLAIMER

    st = Section(id="trade_structures", title="Trade Structures — Conviction-Weighted")
    for j, x in enumerate(m.get("structures") or []):
        r = "C" if x["direction"] == "bullish" else "P"
        keys = [fb.add(f"struct.{j}.expiry", x["expiry"], "date", "date", "expiry"),
                fb.add(f"struct.{j}.long", x["long_strike"], "USD", "price", "long strike"),
                fb.add(f"struct.{j}.short", x["short_strike"], "USD", "price", "short strike"),
                fb.add(f"struct.{j}.conviction", x["conviction"], "signals", "int", "aligned signals"),
                fb.add(f"struct.{j}.of", x["conviction_of"], "signals", "int", "signals checked")]  # fmt: skip
        st.sentences.append(say(fb, "struct.one", *keys, t=x["ticker"], r=r, kind="call spread" if r == "C" else "put spread",
                                direction=x["direction"], why=x.get("expiry_reason") or "the nearest live expiry",
                                signals="; ".join(x["signals"])))  # fmt: skip
    if m.get("structures_withheld"):
        st.sentences.append(
            say(
                fb,
                "struct.withheld",
                n=m["structures_withheld"],
                tilt=(m.get("convergence") or {}).get("tilt"),
            )
        )
    if not m.get("structures"):
        st.sentences.append(say(fb, "struct.none"))
    st.sentences.append(say(fb, "struct.disclaimer", label="Disclaimer", text=DISCLAIMER))
    return st


def _macro(fb: FigureBook, m: Mapping[str, Any]) -> Section | None:
    if not m.get("macro"):
        return None
    mp = Section(id="macro", title="Macro Regime Panel (user-supplied series)")
    mp.tables.append(fb.table("macro", "Macro series", [("series", "Series", "", "text"), ("date", "Date", "date", "date"),
                                                         ("value", "Value", "", "ratio"), ("change", "Change", "", "ratio")], m["macro"]))  # fmt: skip
    return mp


def build_daily(m: Mapping[str, Any], *, links: Mapping[str, str | None] | None = None) -> Report:
    """The market-wide daily report (seed 003 structure) from :func:`market_rollup`."""
    fb = FigureBook()
    fb.add("daily.session", m["session"], "date", "date", "session")
    head: list[Sentence] = []
    if m.get("side"):
        sections = [_side(fb, m, head), _top_flow(fb, m)]
    else:
        head.append(say(fb, "daily.head_no_trades", "daily.session"))
        sections = [no_data(fb, "side_decomposition", "Options Flow — Side Decomposition", "trades"),
                    _chain_top(fb, m)]  # fmt: skip
    from chainlens.report.lenses.unusual import daily_unusual_section  # issue 11: seed 004

    un = daily_unusual_section(fb, m)
    if un is not None:  # the multiples scanner's hits, with the top flow
        sections.append(un)
    ctx = m.get("context")
    if ctx is not None:  # issue 19: market context from stored bars, chains and prints
        from chainlens.report.lenses import context as lc

        sections.insert(0, lc.price_section(fb, ctx))
    dp, dm = _darkpool(fb, m), _dealers(fb, m)
    if ctx is not None:
        dm.sentences += lc.dealer_band_sentences(fb, ctx)
        order = {g["ticker"]: i for i, g in enumerate(m.get("dealers") or [])}
        dm.sentences.sort(key=lambda x: order.get(x.text.split(":", 1)[0], len(order)))
        if dm.sentences and dm.status == "no_data" and ctx.get("gamma"):
            dm.status = "ok"
        ps, recs = lc.program_sentences(fb, ctx)
        dp.sentences += ps
        if recs:
            dp.tables.append(fb.table("dp_programs", "TWAP/VWAP-like programs", [
                ("ticker", "Ticker", "", "text"), ("side", "Side", "", "text"), ("slices", "Slices", "prints", "int"),
                ("slice_size", "Slice", "shares", "int"), ("interval_min", "Every", "minutes", "ratio"),
                ("notional_usd", "Notional", "USD", "money"), ("vwap", "VWAP", "USD", "price"),
                ("start", "From (UTC)", "", "text"), ("end", "To (UTC)", "", "text")], recs))  # fmt: skip
    sections += [dp, _zones(fb, m, head), dm, _notes(fb, m), _sectors(fb, m)]
    if ctx is not None and (dd := lc.deep_dive_section(fb, ctx)) is not None:
        sections.append(dd)
    sections += [_convergence(fb, m), _structures(fb, m)]
    from chainlens.report.lenses.signals import daily_signals_section  # issue 11

    sig = daily_signals_section(fb, m)
    if sig is not None:
        sections.append(sig)
    from chainlens.report.lenses.outcomes import what_worked_section  # issue 16

    ww = what_worked_section(fb, m)
    if ww is not None:
        sections.append(ww)
    mp = _macro(fb, m)
    if mp is not None:
        sections.append(mp)
    if ctx is not None:
        head += lc.editorial(fb, m, ctx)
        th = lc.thesis_section(fb, ctx)
        if th is not None:
            sections.append(th)
        sections.append(lc.bottom_line(fb, m, ctx))
    return Report(kind="daily", title=f"Daily Report — {m['session']}", session=m["session"], header=head,
                  sections=sections, figures=fb.figures, links=dict(links or {}),
                  meta={"missing": m.get("missing", []), "tickers": m.get("tickers", [])})  # fmt: skip
