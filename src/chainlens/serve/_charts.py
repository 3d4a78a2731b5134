"""Plotly figure specs (``{"data": [...], "layout": {...}}``) for the dashboard views.

Built in Python from the view data and embedded in the page as JSON
(the ``data-figure`` attribute of each chart ``div``: data, never executed); ``static/app.js``
draws them with the vendored ``plotly.min.js``. The theme colours (paper, font, grid) are set
by app.js from the page's CSS, so the specs only carry trace colours.
"""

from __future__ import annotations

from typing import Any

__all__ = ["levels_charts", "report_charts", "ticker_charts"]

CALL = "#2e9d5b"
PUT = "#d0473b"
LINE = "#3b7dd8"
ACCENT = "#c98a1b"
#: OI change heatmap: unwinding (negative) red, building (positive) green.
BUILD_UNWIND = [[0.0, "#c0392b"], [0.5, "#f4f4f4"], [1.0, "#1e8449"]]


#: A category axis (expiries, sessions: no weekend gaps, no clock ticks).
_CAT: dict[str, Any] = {"type": "category", "title": {"text": "expiry"}}


def _layout(title: str, xt: str, yt: str, **extra: Any) -> dict[str, Any]:
    out = {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 60, "r": 15, "t": 40, "b": 45},
        "xaxis": {"title": {"text": xt}},
        "yaxis": {"title": {"text": yt}},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.25},
        "bargap": 0.1,
    }
    out.update(extra)
    return out


def _vline(x: Any, color: str, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = {
        "type": "line", "x0": x, "x1": x, "yref": "paper", "y0": 0, "y1": 1,
        "line": {"color": color, "dash": "dash", "width": 1.5},
    }  # fmt: skip
    ann = {
        "x": x, "yref": "paper", "y": 1.02, "text": label, "showarrow": False,
        "font": {"color": color, "size": 11},
    }  # fmt: skip
    return shape, ann


def _markers(s: dict[str, Any]) -> dict[str, Any]:
    shapes, anns = [], []
    for key, color, label in (
        ("spot", LINE, "spot"),
        ("zero_gamma", ACCENT, "zero γ"),
        ("call_wall", CALL, "call wall"),
        ("put_wall", PUT, "put wall"),
    ):
        if s.get(key) is not None:
            a, b = _vline(s[key], color, label)
            shapes.append(a)
            anns.append(b)
    return {"shapes": shapes, "annotations": anns}


def ticker_charts(v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every chart of a ticker page (keys are the panel ids)."""
    s = v["summary"]
    spot = s.get("spot") or 0.0
    rows = [
        r for r in v["tables"]["by_strike"].rows
        if not spot or 0.85 * spot <= (r.get("strike") or 0) <= 1.15 * spot
    ]  # fmt: skip
    k = [r["strike"] for r in rows]
    out: dict[str, dict[str, Any]] = {}
    mk = _markers(s)

    def bar(key: str, title: str, unit: str, color: str) -> dict[str, Any]:
        vals = [r.get(key) for r in rows]
        cols = [CALL if (x or 0) >= 0 else PUT for x in vals] if color == "sign" else color
        return {
            "data": [{"type": "bar", "x": k, "y": vals, "name": title, "marker": {"color": cols}}],
            "layout": _layout(title, "strike", unit, **mk),
        }

    out["gex"] = bar("gex_usd_per_1pct", "Dealer GEX by strike", "USD per 1% move", "sign")
    out["dex"] = bar("dex_shares", "Dealer DEX by strike", "shares", "sign")
    out["vanna"] = bar("vanna_usd_per_vol_pt", "Dealer vanna by strike", "USD per vol pt", "sign")
    out["charm"] = bar("charm_shares_per_day", "Dealer charm by strike", "shares per day", "sign")
    for key, title, unit in (("oi", "Open interest by strike", "contracts"),
                             ("volume", "Volume by strike", "contracts")):  # fmt: skip
        c, p = ("call_oi", "put_oi") if key == "oi" else ("call_volume", "put_volume")
        out[key] = {
            "data": [
                {"type": "bar", "x": k, "y": [r.get(c) for r in rows], "name": "calls",
                 "marker": {"color": CALL}},
                {"type": "bar", "x": k, "y": [-(r.get(p) or 0) for r in rows], "name": "puts (−)",
                 "marker": {"color": PUT}},
            ],
            "layout": _layout(title, "strike", unit, barmode="relative", **mk),
        }  # fmt: skip
    prof = v.get("profile") or {}
    lv = prof.get("levels") or []
    g = (prof.get("gex_usd_per_1pct") or {}).get("all") or []
    out["profile"] = {
        "data": [{"type": "scatter", "mode": "lines", "x": lv, "y": g, "name": "GEX (all)",
                  "line": {"color": LINE}}]
        + [{"type": "scatter", "mode": "lines", "x": lv,
            "y": (prof.get("gex_usd_per_1pct") or {}).get(n) or [], "name": n,
            "line": {"dash": "dot", "width": 1}} for n in ("ex_0dte", "ex_next_expiry")],
        "layout": _layout("Gamma profile", "spot level", "dealer GEX, USD per 1%",
                          **_markers({"spot": s.get("spot"), "zero_gamma": s.get("zero_gamma")})),
    }  # fmt: skip
    be = v["tables"]["by_expiry"].rows
    out["maxpain"] = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "x": [r["expiry"] for r in be],
             "y": [r.get("max_pain") for r in be], "name": "max pain", "line": {"color": ACCENT}},
        ],
        "layout": _layout("Max pain by expiry", "expiry", "strike", xaxis=_CAT, shapes=[
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": spot, "y1": spot,
             "line": {"color": LINE, "dash": "dash"}}]),
    }  # fmt: skip
    em = v["tables"]["expected_moves"].rows
    out["em"] = {
        "data": [
            {"type": "scatter", "x": [r["expiry"] for r in em],
             "y": [r.get("high") for r in em], "name": "zone high", "line": {"color": CALL},
             "mode": "lines+markers"},
            {"type": "scatter", "x": [r["expiry"] for r in em],
             "y": [r.get("low") for r in em], "name": "zone low", "line": {"color": PUT},
             "fill": "tonexty", "mode": "lines+markers"},
            {"type": "scatter", "mode": "lines", "x": [r["expiry"] for r in em],
             "y": [spot for _ in em], "name": "spot", "line": {"color": LINE, "dash": "dash"}},
        ],
        "layout": _layout("Expected-move range by expiry (ATM straddle)", "expiry", "price",
                          xaxis=_CAT),
    }  # fmt: skip
    smile = v.get("smile") or []
    exps = sorted({r["expiry"] for r in smile})
    traces: list[dict[str, Any]] = []
    for e in exps:
        rs = [r for r in smile if r["expiry"] == e]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{e} calls",
                "x": [r["strike"] for r in rs],
                "y": [r.get("call_iv") for r in rs],
            }
        )
        traces.append({"type": "scatter", "mode": "lines", "name": f"{e} puts",
                       "x": [r["strike"] for r in rs], "y": [r.get("put_iv") for r in rs],
                       "line": {"dash": "dot"}})  # fmt: skip
    out["smile"] = {"data": traces, "layout": _layout("Volatility curves", "strike", "IV", **mk)}
    skew = v.get("skew") or []
    atm = v.get("atm_term") or []
    out["skew"] = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "x": [p[0] for p in atm],
             "y": [p[1] for p in atm], "name": "ATM IV"},
            {"type": "scatter", "mode": "lines+markers", "x": [p[0] for p in skew],
             "y": [p[1] for p in skew], "name": "25Δ risk reversal", "yaxis": "y2"},
        ],
        "layout": _layout("ATM IV and skew by expiry", "expiry", "ATM IV", xaxis=_CAT,
                          yaxis2={"overlaying": "y", "side": "right", "title": {"text": "RR 25Δ"}}),
    }  # fmt: skip
    oc = v["tables"]["oi_change"].rows
    oc = [r for r in oc if not spot or 0.85 * spot <= r["strike"] <= 1.15 * spot]
    out["oi_change"] = {
        "data": [
            {"type": "bar", "x": [r["strike"] for r in oc], "y": [r.get("call_oi_change") for r in oc],
             "name": "calls", "marker": {"color": CALL}},
            {"type": "bar", "x": [r["strike"] for r in oc], "y": [r.get("put_oi_change") for r in oc],
             "name": "puts", "marker": {"color": PUT}},
        ],
        "layout": _layout(v["tables"]["oi_change"].title, "strike", "contracts", barmode="group",
                          **mk),
    }  # fmt: skip
    h = v.get("heatmap") or {}
    out["heatmap"] = {
        "data": [{"type": "heatmap", "x": h.get("strikes", []), "y": h.get("sessions", []),
                  "z": h.get("z", []), "colorscale": BUILD_UNWIND, "zmid": 0,
                  "colorbar": {"title": {"text": "OI chg"}}}],
        "layout": _layout("OI change by strike and session (green build, red unwind)",
                          "strike", "session", yaxis={"type": "category"}),
    }  # fmt: skip
    sf = v.get("surfaces") or {}
    for key, title in (("dx_shares", "Dealer delta surface (DX), shares"),
                       ("gx_shares_per_usd", "Dealer gamma surface (GX), shares per USD")):  # fmt: skip
        out[key] = {
            "data": [{"type": "heatmap", "x": sf.get("spot_levels", []),
                      "y": [str(t)[5:16].replace("T", " ") for t in sf.get("times", [])],
                      "z": sf.get(key, []),
                      "colorscale": "RdBu", "zmid": 0}],
            "layout": _layout(
                title, "spot level", "time (UTC)", yaxis={"type": "category"},
                margin={"l": 95, "r": 15, "t": 40, "b": 45},
            ),
        }  # fmt: skip
    return out


def levels_charts(v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The level-history chart."""
    rows = v["table"].rows
    x = [r["session"] for r in rows]
    data = []
    for key, name, color, dash in (
        ("spot", "spot", LINE, "solid"),
        ("zero_gamma", "zero gamma", ACCENT, "dash"),
        ("call_wall", "call wall", CALL, "dot"),
        ("put_wall", "put wall", PUT, "dot"),
        ("max_pain", "max pain (front)", "#8e44ad", "dashdot"),
    ):
        data.append({"type": "scatter", "mode": "lines+markers", "x": x,
                     "y": [r.get(key) for r in rows], "name": name,
                     "line": {"color": color, "dash": dash}})  # fmt: skip
    return {
        "levels": {
            "data": data,
            "layout": _layout(
                f"Levels — {v['ticker']}",
                "session",
                "price",
                height=380,
                xaxis={**_CAT, "title": {"text": "session"}},
            ),
        }
    }


def report_charts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Plotly specs for the charts of a report JSON document (``chainlens.report``), keyed
    ``<section id>-<chart id>``: ``bar``/``hbar``/``line`` from ``x`` and ``series``, ``zones``
    from ``rows`` (low / mid / high vs close), ``heatmap`` from ``x``, ``y``, ``z``."""
    out: dict[str, dict[str, Any]] = {}
    for sec in report.get("sections", []):
        for c in sec.get("charts", []):
            key = f"{sec['id']}-{c['id']}"
            kind = c.get("kind")
            lay = _layout(c.get("title", ""), c.get("x_label", ""), c.get("y_label", ""))
            data: list[dict[str, Any]] = []
            if kind in ("bar", "hbar", "line"):
                for s in c.get("series", []):
                    tr: dict[str, Any] = {"name": s.get("name"), "x": c.get("x", []),
                                          "y": s.get("values", [])}  # fmt: skip
                    if kind == "line":
                        tr.update(type="scatter", mode="lines+markers")
                    elif kind == "hbar":
                        tr.update(type="bar", orientation="h", x=s.get("values", []),
                                  y=c.get("x", []))  # fmt: skip
                        lay["margin"] = {**lay["margin"], "l": 100}
                    else:
                        tr["type"] = "bar"
                    data.append(tr)
                shapes, anns = [], []
                for m in c.get("markers", []):
                    a, b = _vline(m.get("x"), ACCENT, str(m.get("label", "")))
                    shapes.append(a)
                    anns.append(b)
                lay.update(shapes=shapes, annotations=anns)
            elif kind == "zones":
                rows = [r for r in c.get("rows", []) if r.get("mid")]
                names = [r.get("ticker") for r in rows]

                def pct(r: dict[str, Any], k: str) -> float | None:
                    v = r.get(k)
                    return None if v is None else (v / r["mid"] - 1.0) * 100.0

                data = [
                    {"type": "bar", "orientation": "h", "y": names, "name": "zone (low to high)",
                     "base": [pct(r, "low") for r in rows],
                     "x": [(pct(r, "high") or 0) - (pct(r, "low") or 0) for r in rows],
                     "marker": {"color": "rgba(59,125,216,0.35)"}},
                    {"type": "scatter", "mode": "markers", "y": names, "name": "close",
                     "x": [pct(r, "close") for r in rows], "marker": {"color": ACCENT}},
                ]  # fmt: skip
                lay.update(height=max(320, 22 * len(rows) + 80))
                lay["xaxis"] = {"title": {"text": "% from the zone mid"}}
                lay["margin"] = {**lay["margin"], "l": 70}
            elif kind == "heatmap":
                data = [{"type": "heatmap", "x": c.get("x", []), "y": c.get("y", []),
                         "z": c.get("z", []), "colorscale": "RdBu", "zmid": 0}]  # fmt: skip
            else:
                continue
            out[key] = {"data": data, "layout": lay}
    return out
