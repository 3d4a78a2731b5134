"""The premium lens (seed 004): IV vs realized (realized needs enough returns), expected move
by live expiry, walls and pin risk, smile and skew, dealer surfaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._model import FigureBook, Section, Sentence
from chainlens.report.lenses.common import (
    g,
    gex_chart,
    heatmap_charts,
    live,
    max_pain_chart,
    named_prices,
    no_data,
    profile_chart,
    skew_chart,
    smile_chart,
    zones_chart,
)
from chainlens.report.lenses.flow import conclusions
from chainlens.report.rules import say, th

#: Realized-volatility sources as prose.
RV_SOURCES = {"bars": "daily bars", "chain_spot": "chain spot per stored session"}

__all__ = ["premium_lens"]


def _live_exps(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e for e in g(doc, "analysis", "vol", "expiries") or [] if live(doc, e.get("expiry"))]


def iv_vs_realized(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """ATM IV of the nearest live expiry against realized volatility (n/a under the minimum
    number of returns)."""
    e0 = next((e for e in _live_exps(doc) if e.get("atm_iv") is not None), None)
    rv = doc.get("realized_vol") or {}
    n = rv.get("returns") or 0
    enough = n >= th("realized_vol_min_returns")
    kr = fb.add(
        "premium.rv",
        rv.get("value") if enough else None,
        "1/yr (decimal)",
        "iv",
        "realized volatility",
    )
    if e0 is None:
        s = no_data(fb, "iv_vs_realized", "IV vs Realized", "iv")
        s.sentences.append(
            say(fb, "rv.only", kr, source=RV_SOURCES.get(str(rv.get("source")), "n/a"), n=n)
        )
        return s
    ki = fb.add("premium.atm_iv", e0["atm_iv"], "1/yr (decimal)", "iv", f"ATM IV {e0['expiry']}")
    if not enough or rv.get("value") is None:
        km = fb.add(
            "premium.rv_min", th("realized_vol_min_returns"), "returns", "int", "minimum returns"
        )
        return Section(
            id="iv_vs_realized",
            title="IV vs Realized",
            sentences=[say(fb, "iv.rv_short", ki, km, n=n)],
        )
    spread = e0["atm_iv"] - rv["value"]
    kd = fb.add("premium.iv_rv", spread, "1/yr (decimal)", "iv", "IV minus realized")
    posture = ("favours premium selling (IV above realized)" if spread > 0
               else "does not favour premium selling (IV at or below realized)")  # fmt: skip
    return Section(id="iv_vs_realized", title="IV vs Realized",
                   sentences=[say(fb, "iv.rv", ki, kr, kd, source=RV_SOURCES.get(str(rv.get("source")), "n/a"), n=n, posture=posture)])  # fmt: skip


def expected_move(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Straddle-implied move of the next four live expiries, with zones and 25Δ ranges."""
    em: list[Sentence] = []
    rows = []
    for j, e in enumerate(
        [e for e in _live_exps(doc) if e.get("expected_move_pct") is not None][:4]
    ):
        k = fb.add(
            f"em.{j}",
            e["expected_move_pct"] / 100.0,
            "fraction of spot",
            "pct",
            f"expected move {e['expiry']}",
        )
        em.append(say(fb, "em.expiry", k, e=e["expiry"]))
        z = e.get("zone") or {}
        rows.append({"expiry": e["expiry"], "straddle_mid": e.get("straddle_mid"), "em": e["expected_move_pct"] / 100.0,
                     "low": z.get("low"), "high": z.get("high"),
                     "r50": "–".join(f"{x:g}" for x in e.get("range_50") or []) or None})  # fmt: skip
    if not em:
        return no_data(fb, "expected_move", "Expected Move", "iv")
    s = Section(id="expected_move", title="Expected Move", sentences=em)
    s.tables.append(fb.table("expected_moves", "Expected move by expiry", [
        ("expiry", "expiry", "date", "date"), ("straddle_mid", "straddle", "USD", "price"), ("em", "move", "%", "pct"),
        ("low", "zone low", "USD", "price"), ("high", "zone high", "USD", "price"), ("r50", "25Δ range", "USD", "text")], rows))  # fmt: skip
    spot = doc["analysis"].get("spot")
    zc = zones_chart([{"ticker": r["expiry"], "low": r["low"], "high": r["high"], "mid": spot, "close": spot} for r in rows], "em_zones")  # fmt: skip
    if zc:
        s.charts.append(zc)
    return s


def walls_pin(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Walls and the pin risk of the nearest live expiry (thresholds: pin_high_pct, pin_near_pct)."""
    a = doc["analysis"]
    lv = a.get("levels") or {}
    s = Section(id="walls_pin", title="Walls and Pin Risk")
    kw = [fb.add("levels.call_wall", lv.get("call_wall"), "USD", "price", "call wall"),
          fb.add("levels.put_wall", lv.get("put_wall"), "USD", "price", "put wall")]  # fmt: skip
    s.sentences.append(say(fb, "walls.short", *kw))
    mpt = [
        m
        for m in a.get("max_pain_trend") or []
        if live(doc, m.get("expiry")) and m.get("max_pain") is not None
    ]
    if mpt:
        m, d = mpt[0], mpt[0].get("spot_distance_pct")
        km = fb.add("pin.max_pain", m["max_pain"], "USD", "price", f"max pain {m['expiry']}")
        kd = fb.add(
            "pin.distance",
            None if d is None else d / 100.0,
            "fraction",
            "pct_signed",
            "spot vs max pain",
        )
        risk = ("n/a" if d is None else "high" if abs(d) < th("pin_high_pct")
                else "moderate" if abs(d) < th("pin_near_pct") else "low")  # fmt: skip
        s.sentences.append(say(fb, "pin.risk", km, kd, e=m["expiry"], risk=risk))
    must = named_prices(fb, s.sentences)
    builders = (gex_chart, profile_chart, max_pain_chart)
    s.charts = [c for b in builders if (c := b(doc, must_show_strikes=must))]
    return s


def smile_skew(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """Smile and 25Δ risk reversal of the nearest live expiry."""
    s = Section(
        id="smile_skew",
        title="Smile and Skew",
        charts=[c for c in (smile_chart(doc), skew_chart(doc)) if c],
    )
    e0 = next((e for e in _live_exps(doc) if e.get("rr_25d") is not None), None)
    if e0 is None:
        return no_data(fb, "smile_skew", "Smile and Skew", "iv")
    krr = fb.add("premium.rr", e0["rr_25d"], "1/yr (decimal)", "iv", "25Δ risk reversal")
    words = (
        "puts richer than calls (downside skew)"
        if e0["rr_25d"] < 0
        else "calls richer than puts (upside skew)"
    )
    s.sentences.append(say(fb, "skew.rr", krr, words=words))
    return s


def premium_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    """The premium lens's sections."""
    hm = Section(id="dealer_surfaces", title="Dealer DX/GX surfaces", charts=heatmap_charts(doc))
    if not hm.charts:
        hm.sentences.append(say(fb, "surfaces.none"))
        hm.status = "no_data"
    from chainlens.report.lenses.unusual import unusual_section  # issue 11: seed-004 scanner
    from chainlens.report.lenses.views import views_section  # issue 11: seed-004 views

    un = unusual_section(fb, doc)
    return [*([un] if un is not None else []), iv_vs_realized(fb, doc), expected_move(fb, doc), walls_pin(fb, doc), smile_skew(fb, doc), hm,
            views_section(fb, doc), conclusions(fb, doc, "premium")]  # fmt: skip
