"""Seed-004 positioning views as a report section (issue 11), used by the premium and bias
lenses: expected-move ranges, volatility curves (call and put IV, next six expiries), skew
term structure (25Δ RR and butterfly on their own axis), vanna / volume by strike, dealer
delta profile with the sign-combination reading, charm by strike with its end-of-day effect
(SPX: E-mini futures equivalents) and the path of least resistance (or why there is none).

Numbers come from :mod:`chainlens.report._views`; sentences from the ``view.*`` rules of
:mod:`chainlens.report.rules`; charts use the strike-axis helpers of
:mod:`chainlens.report._charts`; every chart's data is in the JSON model with its table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._charts import _finish_strike_axis
from chainlens.report._model import Chart, FigureBook, Section, Sentence
from chainlens.report._views import (
    STRIKE_WINDOW,
    charm_view,
    dealer_reading,
    delta_profile,
    expected_moves,
    least_resistance,
    skew_term,
    vol_curves,
)
from chainlens.report.lenses.common import live_strikes, named_prices
from chainlens.report.rules import say

__all__ = ["views_section"]


def em_chart(em: list[dict[str, Any]], spot: Any) -> Chart | None:
    """25Δ and 15Δ range bounds (USD) by expiry around spot."""
    if not em:
        return None
    x = [r["expiry"] for r in em]
    return Chart(
        id="expected_move_ranges", kind="line", title="Expected-move ranges by expiry (USD): 25Δ and 15Δ",
        x_label="expiry", x_unit="date", y_label="price (USD)", y_unit="price", x=x,
        series=[{"name": "15Δ high", "values": [r["high_70"] for r in em]},
                {"name": "25Δ high", "values": [r["high_50"] for r in em]},
                {"name": "spot", "values": [spot] * len(em)},
                {"name": "25Δ low", "values": [r["low_50"] for r in em]},
                {"name": "15Δ low", "values": [r["low_70"] for r in em]}],
    )  # fmt: skip


def curves_chart(
    curves: list[dict[str, Any]], spot: Any, must: list[float] | None = None
) -> Chart | None:
    """Call IV and put IV (decimal) by strike, one pair of lines per expiry."""
    if not curves:
        return None
    strikes = sorted({k for c in curves for k in c["strikes"]})
    series = []
    for j, c in enumerate(curves):  # one colour per expiry: calls solid, puts dashed
        for side in ("call", "put"):
            m = dict(zip(c["strikes"], c[f"{side}_iv"], strict=True))
            series.append({"name": f"{c['expiry'][5:]} {side[0].upper()}", "values": [m.get(k) for k in strikes],
                           "group": j, "dash": side == "put"})  # fmt: skip
    ch = Chart(
        id="vol_curves", kind="line", title=f"Volatility curves: call and put IV by strike, next {len(curves)} expiries",
        x_label="strike (USD)", y_label="implied volatility", y_unit="IV", x=strikes, series=series,
        markers=[{"x": spot, "label": "spot"}] if spot else [],
    )  # fmt: skip
    return _finish_strike_axis(ch, spot, must or [])


def skew_term_chart(sk: list[dict[str, Any]]) -> Chart | None:
    """25Δ risk reversal and butterfly (IV points as decimals) by expiry, on their own axis."""
    if not sk:
        return None
    return Chart(
        id="skew_term", kind="line", title="Skew term structure: 25Δ risk reversal and butterfly by expiry",
        x_label="expiry", x_unit="date", y_label="IV difference", y_unit="IV", x=[r["expiry"] for r in sk],
        series=[{"name": "25Δ RR (call − put IV)", "values": [r["rr_25d"] for r in sk]},
                {"name": "25Δ butterfly", "values": [r["bf_25d"] for r in sk]}],
    )  # fmt: skip


def vanna_chart(
    doc: Mapping[str, Any], half_width: float = STRIKE_WINDOW
) -> tuple[Chart | None, list[dict[str, Any]]]:
    """Dealer vanna by strike (USD per vol point, all expiries) near spot, and the rows of the
    positioning table (vanna, call and put volume, OI)."""
    a = doc["analysis"]
    spot = a.get("spot")
    rows = [r for r in live_strikes(doc) if spot and abs(r["strike"] / spot - 1) <= half_width]
    if not rows:
        return None, []
    ch = Chart(
        id="vanna_by_strike", kind="bar", title="Dealer vanna by strike (USD per vol point, all live expiries)",
        x_label="strike (USD)", y_label="USD per vol point", y_unit="USD", x=[r["strike"] for r in rows],
        series=[{"name": "vanna", "values": [r.get("vanna_usd_per_vol_pt") for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip
    return _finish_strike_axis(ch, spot, []), rows


def delta_chart(prof: Mapping[str, Any] | None, spot: Any) -> Chart | None:
    """Dealer delta (shares) against spot."""
    if not prof:
        return None
    # dealer gamma at the same levels is in the table and the 0DTE-vs-all gamma chart
    series: list[dict[str, Any]] = [{"name": "dealer delta", "values": prof["dx_shares"]}]
    ch = Chart(
        id="dealer_delta_profile", kind="line", title="Dealer delta profile against spot (shares, all expiries)",
        x_label="spot (USD)", y_label="shares", y_unit="shares",
        x=prof["levels"], series=series, markers=[{"x": spot, "label": "spot"}] if spot else [],
    )  # fmt: skip
    return _finish_strike_axis(ch, spot, [])


def gamma_0dte_chart(doc: Mapping[str, Any]) -> Chart | None:
    """Dealer gamma profile (USD per 1% move) against spot: all expiries and the 0DTE part
    (``all − ex_0dte`` of ``analysis.profile``)."""
    p = doc["analysis"].get("profile") or {}
    g = p.get("gex_usd_per_1pct") or {}
    lv, al, ex = p.get("levels"), g.get("all"), g.get("ex_0dte")
    if not lv or not al:
        return None
    series: list[dict[str, Any]] = [{"name": "all expiries", "values": al}]
    if ex and len(ex) == len(al):
        series.append(
            {
                "name": "0DTE only",
                "values": [
                    None if a is None or b is None else a - b for a, b in zip(al, ex, strict=True)
                ],
            }
        )
    spot = doc["analysis"].get("spot")
    ch = Chart(
        id="gamma_0dte_vs_all", kind="line", title="Dealer gamma profile: 0DTE vs all expiries (USD per 1% move)",
        x_label="spot (USD)", y_label="USD per 1% move", y_unit="USD", x=list(lv), series=series,
        markers=[{"x": spot, "label": "spot"}] if spot else [],
    )  # fmt: skip
    return _finish_strike_axis(ch, spot, [])


def charm_chart(cv: Mapping[str, Any] | None, spot: Any) -> Chart | None:
    """Dealer charm by strike (shares of delta per day)."""
    if not cv:
        return None
    ch = Chart(
        id="charm_by_strike", kind="bar", title="Dealer charm by strike (shares of delta per day)",
        x_label="strike (USD)", y_label="shares per day", y_unit="shares", x=[r["strike"] for r in cv["rows"]],
        series=[{"name": "charm", "values": [r["charm_shares_per_day"] for r in cv["rows"]]}],
        markers=[{"x": spot, "label": "spot"}] if spot else [],
    )  # fmt: skip
    return _finish_strike_axis(ch, spot, [])


#: Dealer models as prose.
MODEL_WORDS = {
    "classic": "classic (dealers long calls, short puts)",
    "short_all": "short-all (dealers short every option)",
}


def model_profile_charts(dp: Mapping[str, Any] | None) -> list[Chart]:
    """Seed 004's two graphics: the dealers' 0DTE delta and gamma profile, and their
    all-expiries one, against spot; delta (shares, left axis, solid) and gamma (shares per
    USD, right axis, dashed), one colour per dealer model (``doc["dealer_profiles"]``)."""
    if not dp or not dp.get("levels"):
        return []
    spot, lv = dp.get("spot"), list(dp["levels"])
    models = list(dp.get("models") or {})
    out = []
    for scope, cid, what in (
        ("zero_dte", "dealer_profile_0dte", f"{dp.get('zero_dte_label')} {dp.get('zero_dte_expiry')}"),
        ("all", "dealer_profile_all", "all expiries"),
    ):  # fmt: skip
        series: list[dict[str, Any]] = []
        for j, m in enumerate(models):
            p = (dp["models"].get(m) or {}).get(scope)
            if p:
                series.append({"name": f"{m} delta", "values": p["dx_shares"], "group": j})
                series.append(
                    {
                        "name": f"{m} gamma",
                        "values": p["gx_shares_per_usd"],
                        "group": j,
                        "axis": "right",
                    }
                )
        if not series:
            continue
        ch = Chart(id=cid, kind="line", title=f"Dealer delta and gamma against spot by dealer model: {what}",
                   x_label="spot (USD)", y_label="dealer delta (shares)", y_unit="shares", x=lv, series=series,
                   y2_label="dealer gamma (shares per USD)", y2_unit="shares per USD",
                   markers=[{"x": spot, "label": "spot"}] if spot else [])  # fmt: skip
        out.append(_finish_strike_axis(ch, spot, []))
    return out


def model_sentences(
    fb: FigureBook, dp: Mapping[str, Any] | None
) -> tuple[list[Sentence], list[dict[str, Any]]]:
    """The seed-004 sign-combination reading per dealer model and scope, and its table rows."""
    if not dp:
        return [], []
    sents, rows = [], []
    for m, prof in (dp.get("models") or {}).items():
        for scope in ("all", "zero_dte"):
            p = (prof or {}).get(scope)
            if not p:
                continue
            what = (
                "all expiries"
                if scope == "all"
                else f"{dp.get('zero_dte_label')} {dp.get('zero_dte_expiry')}"
            )
            rows.append({"model": m, "scope": what, "dx": p.get("dx_at_spot"), "gx": p.get("gx_at_spot"),
                         "reading": p.get("reading") or "n/a (a zero sign)"})  # fmt: skip
            keys = [fb.add(f"view.m.{m}.{scope}.dx", p.get("dx_at_spot"), "shares", "shares", f"dealer delta at spot ({m}, {what})"),
                    fb.add(f"view.m.{m}.{scope}.gx", p.get("gx_at_spot"), "shares per USD", "int_signed", f"dealer gamma at spot ({m}, {what})")]  # fmt: skip
            sents.append(say(fb, "view.signs_model", *keys, label="Dealer signs by model", model=MODEL_WORDS.get(m, m),
                             scope=what, reading=p.get("reading") or "no reading (a sign is zero)"))  # fmt: skip
    if not dp.get("zero_dte_expiry"):
        sents.append(
            say(fb, "view.zero_dte_none", label="0DTE profile", reason=dp.get("zero_dte_label"))
        )
    return sents, rows


def net_volume_chart(nv: Mapping[str, Any] | None, spot: Any) -> Chart | None:
    """Contracts bought minus sold by strike (calls and puts) of the chosen expiry."""
    if not nv or not nv.get("rows"):
        return None
    rows = nv["rows"]
    ch = Chart(
        id="net_volume_by_strike", kind="bar", title=f"Net volume by strike, {nv['expiry']}: contracts bought minus sold",
        x_label="strike (USD)", y_label="contracts", y_unit="contracts", x=[r["strike"] for r in rows],
        series=[{"name": "calls net", "values": [r.get("net_call_contracts") for r in rows]},
                {"name": "puts net", "values": [r.get("net_put_contracts") for r in rows]}],
        markers=[{"x": spot, "label": "spot"}] if spot else [],
    )  # fmt: skip
    return _finish_strike_axis(ch, spot, [])


def views_section(fb: FigureBook, doc: Mapping[str, Any]) -> Section:
    """The seed-004 positioning views (module notes)."""
    spot = doc["analysis"].get("spot")
    sents: list[Sentence] = []
    tables = []
    em = expected_moves(doc)
    for j, r in enumerate(em[:3]):
        keys = [fb.add(f"view.em{j}.pct", r["em_pct"], "fraction of spot", "pct", "straddle expected move"),
                fb.add(f"view.em{j}.low50", r["low_50"], "USD", "price", "25Δ range low"),
                fb.add(f"view.em{j}.high50", r["high_50"], "USD", "price", "25Δ range high"),
                fb.add(f"view.em{j}.low70", r["low_70"], "USD", "price", "15Δ range low"),
                fb.add(f"view.em{j}.high70", r["high_70"], "USD", "price", "15Δ range high"),
                fb.add(f"view.em{j}.asym", r["asymmetry"], "ratio", "ratio", "call distance / put distance")]  # fmt: skip
        sents.append(say(fb, "view.em", *keys, label="Expected move", e=r["expiry"]))
    if em:
        tables.append(fb.table("expected_move_ranges", "Expected move and 25Δ/15Δ ranges (next expiries)", [
            ("expiry", "expiry", "date", "date"), ("em_pct", "straddle EM", "%", "pct"),
            ("low_50", "25Δ low", "USD", "price"), ("high_50", "25Δ high", "USD", "price"),
            ("low_70", "15Δ low", "USD", "price"), ("high_70", "15Δ high", "USD", "price"),
            ("call_distance", "call distance", "USD", "price"), ("put_distance", "put distance", "USD", "price"),
            ("asymmetry", "call/put distance", "ratio", "ratio")], em))  # fmt: skip
    # issue 11: the next six live expiries computed by the report step from the chain when it
    # ran (doc["vol_curves"]), else the smiles the stored document holds
    curves = doc.get("vol_curves") or vol_curves(doc)
    if curves:
        tables.append(fb.table("vol_curves", "Call and put IV by strike (next six expiries)", [
            ("expiry", "expiry", "date", "date"), ("strike", "strike", "USD", "price"),
            ("call_iv", "call IV", "IV", "pct"), ("put_iv", "put IV", "IV", "pct")],
            [{"expiry": c["expiry"], "strike": k, "call_iv": ci, "put_iv": pi} for c in curves
             for k, ci, pi in zip(c["strikes"], c["call_iv"], c["put_iv"], strict=True)]))  # fmt: skip
    sk = skew_term(doc)
    if sk:
        keys = [fb.add("view.rr0", sk[0]["rr_25d"], "IV", "pct_signed", "25Δ risk reversal (nearest)"),
                fb.add("view.bf0", sk[0]["bf_25d"], "IV", "pct_signed", "25Δ butterfly (nearest)"),
                fb.add("view.rr_last", sk[-1]["rr_25d"], "IV", "pct_signed", "25Δ risk reversal (farthest shown)")]  # fmt: skip
        sents.append(
            say(
                fb,
                "view.skew",
                *keys,
                label="Skew term structure",
                e0=sk[0]["expiry"],
                e1=sk[-1]["expiry"],
            )
        )
        tables.append(fb.table("skew_term", "25Δ risk reversal and butterfly by expiry", [
            ("expiry", "expiry", "date", "date"), ("rr_25d", "25Δ RR", "IV", "pct_signed"),
            ("bf_25d", "25Δ butterfly", "IV", "pct_signed"), ("atm_iv", "ATM IV", "IV", "pct")], sk))  # fmt: skip
    vc, vrows = vanna_chart(doc)
    if vrows:
        tables.append(fb.table("positioning_by_strike", "Positioning by strike near spot (all live expiries)", [
            ("strike", "strike", "USD", "price"), ("vanna_usd_per_vol_pt", "dealer vanna", "USD per vol pt", "money_signed"),
            ("call_volume", "call vol", "contracts", "int"), ("put_volume", "put vol", "contracts", "int"),
            ("call_oi", "call OI", "contracts", "int"), ("put_oi", "put OI", "contracts", "int"),
            ("charm_shares_per_day", "dealer charm", "shares/day", "int_signed")], vrows))  # fmt: skip
    rd = dealer_reading(doc)
    if rd:
        keys = [fb.add("view.gex_spot", rd["gex_at_spot"], "USD per 1% move", "money_signed", "dealer GEX at spot"),
                fb.add("view.dex", rd["dex_shares"], "shares", "shares", "dealer DEX")]  # fmt: skip
        sents.append(
            say(
                fb,
                "view.signs",
                *keys,
                label="Dealer signs",
                reading=rd["reading"],
                model=rd["model"],
            )
        )
    else:
        sents.append(say(fb, "view.signs_na", label="Dealer signs"))
    cv = charm_view(doc)
    if cv:
        keys = [fb.add("view.charm", cv["total_shares_per_day"], "shares per day", "int_signed", "dealer charm (all strikes)"),
                fb.add("view.charm_es", cv["es_contracts_per_day"], "ES contracts per day", "int_signed", "charm in E-mini equivalents")]  # fmt: skip
        if cv["es_contracts_per_day"] is not None:
            sents.append(say(fb, "view.charm_es", *keys, label="Charm"))
        else:
            sents.append(say(fb, "view.charm", *keys, label="Charm"))
    lr = least_resistance(doc)
    if lr["drift_usd_per_day"] is not None:
        keys = [fb.add("view.path", lr["drift_usd_per_day"], "USD per day", "money_signed", "spot drift that keeps dealer delta unchanged"),
                fb.add("view.path_pct", lr["drift_pct"], "fraction of spot", "pct_signed", "as % of spot")]  # fmt: skip
        sents.append(say(fb, "view.path", *keys, label="Path of least resistance",
                         way="up" if lr["drift_usd_per_day"] > 0 else "down"))  # fmt: skip
    else:
        sents.append(
            say(fb, "view.path_none", label="Path of least resistance", reason=lr["reason"])
        )
    prof = delta_profile(doc)
    if prof:
        tables.append(fb.table("dealer_delta_profile", "Dealer delta and gamma against spot (all expiries)", [
            ("level", "spot", "USD", "price"), ("dx", "dealer delta", "shares", "shares"),
            ("gx", "dealer gamma", "shares per USD", "int_signed")],
            [{"level": lv, "dx": dx, "gx": (prof["gx_shares_per_usd"] or [None] * len(prof["levels"]))[i]}
             for i, (lv, dx) in enumerate(zip(prof["levels"], prof["dx_shares"], strict=True))]))  # fmt: skip
    dp = doc.get("dealer_profiles")
    ms, mrows = model_sentences(fb, dp)
    sents += ms
    if mrows:
        tables.append(fb.table("dealer_signs_by_model", "Dealer delta and gamma at spot by dealer model (seed-004 sign reading)", [
            ("model", "model", "", "text"), ("scope", "expiries", "", "text"), ("dx", "dealer delta", "shares", "shares"),
            ("gx", "dealer gamma", "shares per USD", "int_signed"), ("reading", "reading", "", "text")], mrows))  # fmt: skip
    nv = doc.get("net_volume")
    if nv and nv.get("rows"):
        tot = sum(r.get("net_contracts") or 0 for r in nv["rows"])
        big = max(nv["rows"], key=lambda r: abs(r.get("net_contracts") or 0))
        keys = [fb.add("view.netvol", tot, "contracts", "int_signed", f"net contracts bought minus sold ({nv['expiry']})"),
                fb.add("view.netvol.strike", big["strike"], "USD", "price", "strike of the largest net"),
                fb.add("view.netvol.max", big.get("net_contracts"), "contracts", "int_signed", "largest net at a strike")]  # fmt: skip
        sents.append(say(fb, "view.netvol", *keys, label="Net volume", e=nv["expiry"]))
        tables.append(fb.table("net_volume_by_strike", f"Net volume by strike, {nv['expiry']} (contracts bought minus sold, classified single-leg trades)", [
            ("strike", "strike", "USD", "price"), ("calls_bought_contracts", "calls bought", "contracts", "int"),
            ("calls_sold_contracts", "calls sold", "contracts", "int"), ("net_call_contracts", "calls net", "contracts", "int_signed"),
            ("puts_bought_contracts", "puts bought", "contracts", "int"), ("puts_sold_contracts", "puts sold", "contracts", "int"),
            ("net_put_contracts", "puts net", "contracts", "int_signed"), ("net_contracts", "net", "contracts", "int_signed")], nv["rows"]))  # fmt: skip
    charts = [c for c in (em_chart(em, spot), curves_chart(curves, spot), skew_term_chart(sk), vc,
                          gamma_0dte_chart(doc), delta_chart(prof, spot), charm_chart(cv, spot),
                          *model_profile_charts(dp), net_volume_chart(nv, spot)) if c is not None]  # fmt: skip
    must = named_prices(fb, sents)  # every price the text names lies inside each strike axis
    for c in charts:
        if getattr(c, "strike_axis", "") == "x":
            _finish_strike_axis(c, spot, must)
    return Section(
        id="positioning_views",
        title="Positioning Views",
        sentences=sents,
        tables=tables,
        charts=charts,
    )
