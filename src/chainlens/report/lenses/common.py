"""Helpers shared by the lenses: document access, live expiries, missing-data sections and the
chart specs (rendered by :mod:`chainlens.report._charts`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from chainlens.report._model import Chart, FigureBook, Section
from chainlens.report._narrative import MISSING
from chainlens.report.rules import say

__all__ = [
    "g",
    "gex_chart",
    "has_greeks",
    "heatmap_charts",
    "live",
    "live_after_next",
    "max_pain_chart",
    "net_premium_chart",
    "no_data",
    "oi_change_chart",
    "oi_chart",
    "profile_chart",
    "side_chart",
    "skew_chart",
    "smile_chart",
    "zones_chart",
]


def g(d: Mapping[str, Any] | None, *path: str) -> Any:
    """``d[path[0]][path[1]]...`` or ``None`` where a level is missing."""
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def live(doc: Mapping[str, Any], expiry: Any) -> bool:
    """The expiry is after the report's session (on its expiry day a contract has expired at
    the close, so it leaves every chart and table of that report)."""
    return expiry is not None and str(expiry)[:10] > str(doc["session"])[:10]


def next_session_iso(session: str) -> str:
    """The session after ``session`` (ISO)."""
    from chainlens.calendar import next_session

    return str(next_session(dt.date.fromisoformat(str(session)[:10])).isoformat())


def live_after_next(doc: Mapping[str, Any], expiry: Any) -> bool:
    """The contract still trades after the next session (a watch item must)."""
    return expiry is not None and str(expiry)[:10] > next_session_iso(doc["session"])


def has_greeks(doc: Mapping[str, Any]) -> bool:
    """The snapshot had contracts with usable greeks (an OI-only store has none)."""
    a = doc["analysis"]
    used = g(a, "profile", "contracts_used")
    if used is not None:
        return bool(used)
    return a.get("greeks") not in (None, "none")


def no_data(fb: FigureBook, sid: str, title: str, *reasons: str) -> Section:
    """A section whose inputs are missing, saying what is missing."""
    return Section(
        id=sid,
        title=title,
        sentences=[say(fb, "missing", text=MISSING[r]) for r in reasons],
        status="no_data",
    )


def gex_chart(doc: Mapping[str, Any]) -> Chart | None:
    """GEX by strike near spot with spot, zero gamma and walls marked (none without greeks)."""
    a = doc["analysis"]
    if not has_greeks(doc):
        return None
    spot = a.get("spot")
    rows = [r for r in a.get("by_strike") or [] if spot and abs(r["strike"] / spot - 1) <= 0.12]
    if not rows:
        return None
    lv = a.get("levels") or {}
    marks = [{"x": spot, "label": "spot"}]
    for k, lab in (
        ("zero_gamma", "zero gamma"),
        ("call_wall", "call wall"),
        ("put_wall", "put wall"),
    ):
        if lv.get(k) is not None:
            marks.append({"x": lv[k], "label": lab})
    return Chart(
        id="gex_by_strike", kind="bar", title="Dealer GEX by strike (USD per 1% move)",
        x_label="strike (USD)", y_label="GEX (USD per 1%)",
        x=[r["strike"] for r in rows],
        series=[{"name": "GEX", "values": [r.get("gex_usd_per_1pct") for r in rows]}],
        markers=marks,
    )  # fmt: skip


def profile_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Dealer gamma profile: GEX at hypothetical spot levels (all, ex-0DTE, ex-next expiry)."""
    a = doc["analysis"]
    if not has_greeks(doc):
        return None
    prof = a.get("profile") or {}
    lv = prof.get("levels") or []
    g = prof.get("gex_usd_per_1pct") or {}
    if not lv or not g.get("all"):
        return None
    series = [
        {"name": name, "values": g[k]}
        for k, name in (
            ("all", "all expiries"),
            ("ex_0dte", "ex 0DTE"),
            ("ex_next_expiry", "ex next expiry"),
        )
        if g.get(k) and len(g[k]) == len(lv)
    ]
    marks = [{"x": a.get("spot"), "label": "spot"}]
    zg = (a.get("levels") or {}).get("zero_gamma")
    if zg is not None:
        marks.append({"x": zg, "label": "zero gamma"})
    return Chart(
        id="gamma_profile", kind="line", title="Dealer gamma profile (GEX per 1% at each spot, USD)",
        x_label="spot (USD)", y_label="GEX (USD per 1%)", x=lv, series=series, markers=marks,
    )  # fmt: skip


def oi_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Call and put OI by strike near spot."""
    a = doc["analysis"]
    spot = a.get("spot")
    rows = [r for r in a.get("by_strike") or [] if spot and abs(r["strike"] / spot - 1) <= 0.15]
    if not rows:
        return None
    return Chart(
        id="oi_by_strike", kind="bar", title="Open interest by strike (contracts)",
        x_label="strike (USD)", y_label="contracts", x=[r["strike"] for r in rows],
        series=[{"name": "calls", "values": [r.get("call_oi") for r in rows]},
                {"name": "puts", "values": [-(r.get("put_oi") or 0) for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip


def oi_change_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Overnight OI change by strike (calls, puts)."""
    rows = g(doc, "oi", "change_by_strike") or []
    spot = doc["analysis"].get("spot")
    rows = [r for r in rows if spot and abs(r["strike"] / spot - 1) <= 0.15]
    if not rows:
        return None
    return Chart(
        id="oi_change", kind="bar", title=f"OI change by strike (contracts, session {doc['oi'].get('change_session')})",
        x_label="strike (USD)", y_label="contracts", x=[r["strike"] for r in rows],
        series=[{"name": "calls", "values": [r.get("call_oi_change") for r in rows]},
                {"name": "puts", "values": [r.get("put_oi_change") for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip


def max_pain_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Max pain by expiry against spot."""
    rows = [
        r
        for r in doc["analysis"].get("by_expiry") or []
        if r.get("max_pain") is not None and live(doc, r.get("expiry"))
    ][:12]
    if not rows:
        return None
    spot = doc["analysis"].get("spot")
    return Chart(
        id="max_pain", kind="line", title="Max pain by expiry (USD)", x_label="expiry",
        y_label="USD", x=[r["expiry"] for r in rows],
        series=[{"name": "max pain", "values": [r["max_pain"] for r in rows]},
                {"name": "spot", "values": [spot] * len(rows)}],
    )  # fmt: skip


def net_premium_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Directional net premium by strike (USD; deep in the money and box/conversion-like
    trades left out)."""
    rows = g(doc, "flow", "net_by_strike") or []
    spot = doc["analysis"].get("spot")
    rows = [r for r in rows if spot and abs(r["strike"] / spot - 1) <= 0.12]
    if not rows:
        return None
    return Chart(
        id="net_premium", kind="bar", title="Directional net premium by strike (USD, bullish minus bearish, deep ITM excluded)",
        x_label="strike (USD)", y_label="USD", x=[r["strike"] for r in rows],
        series=[{"name": "net", "values": [r.get("dir_net_usd", r.get("net_usd")) for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip


def side_chart(t: Mapping[str, Any], id_: str = "side_decomposition") -> Chart:
    """Side-decomposition bar: calls bought/sold, puts bought/sold, mid/unknown (USD)."""
    keys = [("calls_bought_usd", "calls bought"), ("calls_sold_usd", "calls sold"),
            ("puts_bought_usd", "puts bought"), ("puts_sold_usd", "puts sold"),
            ("mid_usd", "mid"), ("unknown_usd", "unknown")]  # fmt: skip
    return Chart(
        id=id_,
        kind="hbar",
        title="Side decomposition of premium (USD)",
        x_label="USD",
        x=[lab for _, lab in keys],
        series=[{"name": "premium", "values": [t.get(k) for k, _ in keys]}],
    )


def smile_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Smile (call/put IV by strike) of the nearest expiries."""
    sm = g(doc, "analysis", "vol", "smile") or []
    if not sm:
        return None
    exps = sorted({r["expiry"] for r in sm if live(doc, r["expiry"])})[:2]
    strikes = sorted({r["strike"] for r in sm if r["expiry"] in exps})
    series = []
    for e in exps:
        m = {
            r["strike"]: (r.get("call_iv") if r.get("call_iv") is not None else r.get("put_iv"))
            for r in sm
            if r["expiry"] == e
        }
        series.append({"name": f"IV {e}", "values": [m.get(k) for k in strikes]})
    return Chart(
        id="smile",
        kind="line",
        title="Volatility smile (IV, decimal)",
        x_label="strike (USD)",
        y_label="IV",
        x=strikes,
        series=series,
    )


def skew_chart(doc: Mapping[str, Any]) -> Chart | None:
    """ATM IV and 25-delta risk reversal term structure."""
    v = g(doc, "analysis", "vol") or {}
    atm = [(e, x) for e, x in v.get("atm_term_structure") or [] if live(doc, e)]
    sk = dict((e, x) for e, x in (v.get("skew_term_structure") or []))
    if not atm:
        return None
    return Chart(
        id="skew_term",
        kind="line",
        title="ATM IV and 25Δ risk reversal by expiry (decimal)",
        x_label="expiry",
        y_label="IV",
        x=[e for e, _ in atm],
        series=[
            {"name": "ATM IV", "values": [x for _, x in atm]},
            {"name": "RR 25Δ", "values": [sk.get(e) for e, _ in atm]},
        ],
    )


def zones_chart(rows: list[dict[str, Any]], id_: str = "zones") -> Chart | None:
    """Expected-move zones (low, mid, high) with the close."""
    rows = [r for r in rows if r.get("low") is not None and r.get("high") is not None]
    if not rows:
        return None
    return Chart(
        id=id_,
        kind="zones",
        title="Expected-move zones (low / mid / high vs close)",
        rows=[{k: r.get(k) for k in ("ticker", "low", "mid", "high", "close")} for r in rows],
    )


def heatmap_charts(doc: Mapping[str, Any]) -> list[Chart]:
    """Dealer DX and GX surfaces over spot × time."""
    s = g(doc, "analysis", "surfaces") or {}
    out: list[Chart] = []
    if not has_greeks(doc):
        return out
    for key, title in (
        ("dx_shares", "DX: dealer delta (shares) over spot × time"),
        ("gx_shares_per_usd", "GX: dealer gamma (shares per USD) over spot × time"),
    ):
        z = s.get(key)
        if z and s.get("spot_levels"):
            out.append(
                Chart(
                    id=key.split("_")[0] + "_heatmap",
                    kind="heatmap",
                    title=title,
                    x_label="spot (USD)",
                    y_label="time (UTC)",
                    x=s["spot_levels"],
                    y=[str(t)[:16] for t in s.get("times", [])],
                    z=z,
                )
            )
    return out
