"""Charts: the chart specs of the reports, drawn as matplotlib PNG files and as inline SVG.

Two halves, one spec (:class:`~chainlens.report._model.Chart`):

* **Builders** (``gex_chart``, ``oi_chart``, ``oi_change_chart``, ``net_premium_chart``,
  ``profile_chart``, ``max_pain_chart``, ``smile_chart``, ``skew_chart``, ``side_chart``,
  ``zones_chart``, ``heatmap_charts``) turn a pipeline document into chart specs. Every builder
  takes the keyword ``must_show_strikes``: the strikes (USD) the report's text names. The
  strike axis always holds spot and those strikes with a margin, and the builder records that
  axis on the spec (``strike_axis`` ``"x"``/``"y"``, ``strike_range``) so a test can check
  that every strike the text names is drawn (:func:`strike_in_axis`).
* **Renderers**: :func:`chart_png` (matplotlib, Agg canvas, no pyplot state; imported only
  when called, so no import side effects) and :func:`chart_svg` (inline SVG with ``<title>``
  tooltips and ``data-tip`` attributes read by a few lines of JavaScript in the template: no
  CDN, works offline). Both use the same tick formats (:func:`money_tick` ``$2.5M``,
  :func:`count_tick` ``12K``, :func:`price_tick` ``$5,100``, :func:`iv_tick` ``15.5%``), so no
  axis ever shows a ``1e7`` offset; strike labels are thinned to a few "nice" values; heatmaps
  use a diverging scale centred at zero with a colour-bar legend that states units and sign.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from chainlens.report._model import Chart

__all__ = [
    "chart_figure",
    "chart_png",
    "chart_svg",
    "count_tick",
    "fit_charts_to_text",
    "gex_chart",
    "heatmap_charts",
    "iv_tick",
    "max_pain_chart",
    "money_tick",
    "named_strikes",
    "net_premium_chart",
    "nice_ticks",
    "oi_change_chart",
    "oi_chart",
    "price_tick",
    "profile_chart",
    "side_chart",
    "skew_chart",
    "smile_chart",
    "strike_axis_range",
    "strike_in_axis",
    "tick_format",
    "zones_chart",
]

_W, _H = 720, 300
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 70, 20, 28, 40
_COLORS = ("#2b6cb0", "#c53030", "#2f855a", "#b7791f", "#6b46c1", "#4a5568")
_SPOT_COLOR = "#1a202c"
_MARK_COLOR = "#718096"


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --------------------------------------------------------------------------- tick formats


def _sig(x: float) -> str:
    """``x`` >= 0 with about three significant digits, trailing zeros dropped."""
    if x >= 99.95:
        s = f"{x:.0f}"
    elif x >= 9.995:
        s = f"{x:.1f}"
    elif x >= 0.01 or x == 0:
        s = f"{x:.2f}"
    else:
        return f"{x:.2g}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _short(v: float, prefix: str) -> str:
    if v == 0:
        return f"{prefix}0"
    a = abs(v)
    sign = "-" if v < 0 else ""
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div * 0.9995:  # 999,950 rounds to 1M, not "1000K"
            return f"{sign}{prefix}{_sig(a / div)}{suf}"
    return f"{sign}{prefix}{_sig(a)}"


def money_tick(v: float) -> str:
    """A USD amount on an axis: ``$0``, ``$750``, ``$2.5M``, ``-$1.2B`` (3 significant digits).

    Examples
    --------
    >>> [money_tick(x) for x in (0, 750, 2_500_000, -1.234e9, 999_950)]
    ['$0', '$750', '$2.5M', '-$1.23B', '$1M']
    """
    return _short(float(v), "$")


def count_tick(v: float) -> str:
    """A count (contracts, shares) on an axis: ``0``, ``750``, ``12.5K``, ``-3M``.

    Examples
    --------
    >>> [count_tick(x) for x in (0, 750, 12_500, -3e6)]
    ['0', '750', '12.5K', '-3M']
    """
    return _short(float(v), "")


def price_tick(v: float) -> str:
    """A price level (strike, spot) in USD: ``$5,100``, ``$417.5``.

    Examples
    --------
    >>> price_tick(5100.0), price_tick(417.5), price_tick(12.25)
    ('$5,100', '$417.5', '$12.25')
    """
    v = float(v)
    if abs(v - round(v)) < 1e-9:
        return f"{'-' if v < 0 else ''}${abs(v):,.0f}"
    s = f"{abs(v):,.2f}".rstrip("0").rstrip(".")
    return f"{'-' if v < 0 else ''}${s}"


def iv_tick(v: float) -> str:
    """A decimal volatility (or volatility spread) as percent: ``0.155`` → ``15.5%``.

    Examples
    --------
    >>> iv_tick(0.155), iv_tick(0.2), iv_tick(-0.035)
    ('15.5%', '20%', '-3.5%')
    """
    s = f"{float(v) * 100:.1f}".rstrip("0").rstrip(".")
    return "0%" if s in ("0", "-0") else f"{s}%"


def tick_format(unit: str, label: str = "") -> Callable[[float], str]:
    """The tick formatter of an axis unit (inferred from ``label`` when ``unit`` is empty)."""
    u = (unit or "").lower()
    lab = (label or "").lower()
    if not u:
        if "usd" in lab and ("strike" in lab or "spot" in lab):
            u = "price"
        elif "usd" in lab:
            u = "usd"
        elif "contracts" in lab:
            u = "contracts"
        elif "iv" in lab:
            u = "iv"
        elif "share" in lab:
            u = "shares"
    if u == "price":
        return price_tick
    if u == "usd":
        return money_tick
    if u == "iv":
        return iv_tick
    return count_tick  # contracts, shares, shares per USD and any other count


def nice_ticks(lo: float, hi: float, n: int = 7) -> list[float]:
    """At most about ``n`` round tick values (1, 2, 2.5, 5 × 10^k steps) inside ``[lo, hi]``.

    Examples
    --------
    >>> nice_ticks(380.0, 470.0, 6)
    [380.0, 400.0, 420.0, 440.0, 460.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    k = 0
    while first + k * step <= hi + 1e-9 * step:
        out.append(float(round(first + k * step, 10)))
        k += 1
    return out


# --------------------------------------------------------------------------- strike axis


def strike_axis_range(
    values: Iterable[Any], *, step: float | None = None, margin: float = 0.04
) -> tuple[float, float] | None:
    """The drawn range of a strike axis: every finite value of ``values`` with a margin.

    The margin is ``margin`` of the span, at least three quarters of one strike ``step`` (so a
    bar at the edge is whole), and 1% of the level when all values are equal.
    """
    fin = [f for v in values if (f := _num(v)) is not None]
    if not fin:
        return None
    lo, hi = min(fin), max(fin)
    pad = max((hi - lo) * margin, 0.75 * (step or 0.0))
    if pad == 0:
        pad = max(abs(lo) * 0.01, 1.0)
    return (lo - pad, hi + pad)


def strike_in_axis(c: Chart, strike: float) -> bool:
    """Whether ``strike`` (USD) lies inside the chart's drawn strike axis."""
    if c.strike_range is None:
        return False
    lo, hi = c.strike_range
    return lo <= float(strike) <= hi


_STRIKE_WORDS = ("strike", "wall", "zero gamma", "max pain", "pin")


def named_strikes(report: Any) -> list[float]:
    """The strikes a report's text names: the values of the figures that its sentences
    (header and sections) quote, in USD with the ``price`` format and a strike-like label
    (``strike``, ``call wall``, ``put wall``, ``zero gamma``, ``max pain``, ``pin``).

    Pass them as ``must_show_strikes`` to the chart builders, or check a built chart with
    :func:`strike_in_axis`. Sorted, without duplicates.
    """
    keys = {k for s in report.header for k in s.keys}
    keys |= {k for sec in report.sections for s in sec.sentences for k in s.keys}
    out = set()
    for k in keys:
        f = report.figures.get(k)
        if f is None or f.fmt != "price" or f.unit != "USD":
            continue
        if any(w in (f.label or "").lower() for w in _STRIKE_WORDS) and _num(f.value) is not None:
            out.add(float(f.value))
    return sorted(out)


def _step(xs: Sequence[float]) -> float | None:
    u = sorted(set(xs))
    d = [b - a for a, b in zip(u, u[1:], strict=False) if b > a]
    return min(d) if d else None


def _window(
    rows: Sequence[Mapping[str, Any]], spot: float | None, frac: float, must: Sequence[float]
) -> list[Mapping[str, Any]]:
    """Rows within ``frac`` of spot, widened so that every strike in ``must`` is included."""
    if not spot:
        return []
    lo, hi = spot * (1 - frac), spot * (1 + frac)
    if must:
        lo, hi = min(lo, *must), max(hi, *must)
    return [r for r in rows if _num(r.get("strike")) is not None and lo <= r["strike"] <= hi]


def _must(must_show_strikes: Sequence[Any]) -> list[float]:
    return [f for v in must_show_strikes if (f := _num(v)) is not None]


def _finish_strike_axis(c: Chart, spot: Any, must: list[float], axis: str = "x") -> Chart:
    """Record the strike axis: data (``x`` or the values of ``axis="y"``), spot and ``must``."""
    if axis == "x":
        data = [x for x in c.x]
    else:
        data = [v for s in c.series for v in s["values"]]
    data += [m.get("x") for m in c.markers]
    c.strike_axis = axis
    c.must_show_strikes = list(must)
    c.strike_range = strike_axis_range(
        [*data, spot, *must],
        step=_step([f for x in c.x if (f := _num(x)) is not None]) if axis == "x" else None,
    )
    if axis == "x":
        c.x_unit = c.x_unit or "price"
    return c


# --------------------------------------------------------------------------- builders


def _g(d: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def gex_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """GEX by strike near spot (±12%, widened to ``must_show_strikes``) with spot, zero gamma
    and walls marked. Values: ``gex_usd_per_1pct`` (USD per 1% move), from the analysis."""
    a = doc["analysis"]
    spot = a.get("spot")
    must = _must(must_show_strikes)
    lv = a.get("levels") or {}
    # the marked levels (walls, zero gamma) are drawn with their bars, however far from spot
    levels = _must([lv.get(k) for k in ("zero_gamma", "call_wall", "put_wall")])
    rows = _window(a.get("by_strike") or [], spot, 0.12, [*must, *levels])
    if not rows:
        return None
    marks = [{"x": spot, "label": "spot"}]
    for k, lab in (
        ("zero_gamma", "zero gamma"),
        ("call_wall", "call wall"),
        ("put_wall", "put wall"),
    ):
        if lv.get(k) is not None:
            marks.append({"x": lv[k], "label": lab})
    c = Chart(
        id="gex_by_strike", kind="bar", title="Dealer GEX by strike (USD per 1% move)",
        x_label="strike (USD)", y_label="GEX (USD per 1% move)", y_unit="USD",
        x=[r["strike"] for r in rows],
        series=[{"name": "GEX", "values": [r.get("gex_usd_per_1pct") for r in rows]}],
        markers=marks,
    )  # fmt: skip
    return _finish_strike_axis(c, spot, must)


def profile_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Dealer gamma profile: GEX (USD per 1%) at hypothetical spot levels (all expiries,
    ex-0DTE, ex-next expiry), with spot and zero gamma; the axis holds ``must_show_strikes``."""
    a = doc["analysis"]
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
    c = Chart(
        id="gamma_profile", kind="line", title="Dealer gamma profile (GEX per 1% at each spot, USD)",
        x_label="spot (USD)", y_label="GEX (USD per 1% move)", y_unit="USD", x=lv,
        series=series, markers=marks,
    )  # fmt: skip
    return _finish_strike_axis(c, a.get("spot"), _must(must_show_strikes))


def oi_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """Call OI (up) and put OI (down) by strike near spot (±15%, widened to
    ``must_show_strikes``), contracts."""
    a = doc["analysis"]
    spot = a.get("spot")
    must = _must(must_show_strikes)
    rows = _window(a.get("by_strike") or [], spot, 0.15, must)
    if not rows:
        return None
    c = Chart(
        id="oi_by_strike", kind="bar", title="Open interest by strike (contracts; puts drawn below zero)",
        x_label="strike (USD)", y_label="contracts", y_unit="contracts", x=[r["strike"] for r in rows],
        series=[{"name": "calls", "values": [r.get("call_oi") for r in rows]},
                {"name": "puts", "values": [-(r.get("put_oi") or 0) for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip
    return _finish_strike_axis(c, spot, must)


def oi_change_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Overnight OI change by strike (calls, puts; contracts) near spot (±15%, widened to
    ``must_show_strikes``)."""
    spot = doc["analysis"].get("spot")
    must = _must(must_show_strikes)
    rows = _window(_g(doc, "oi", "change_by_strike") or [], spot, 0.15, must)
    if not rows:
        return None
    c = Chart(
        id="oi_change", kind="bar", title=f"OI change by strike (contracts, session {doc['oi'].get('change_session')})",
        x_label="strike (USD)", y_label="contracts", y_unit="contracts", x=[r["strike"] for r in rows],
        series=[{"name": "calls", "values": [r.get("call_oi_change") for r in rows]},
                {"name": "puts", "values": [r.get("put_oi_change") for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip
    return _finish_strike_axis(c, spot, must)


def max_pain_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Max pain (USD strike) by expiry against spot; the strike axis is ``y``.

    Live expiries only: an expiry on or before the document's session (expired on the report
    day) is left out; the first 12 live expiries are drawn."""
    session = str(doc.get("session") or "")
    rows = [
        r
        for r in doc["analysis"].get("by_expiry") or []
        if r.get("max_pain") is not None and str(r.get("expiry")) > session
    ][:12]
    if not rows:
        return None
    spot = doc["analysis"].get("spot")
    c = Chart(
        id="max_pain", kind="line", title="Max pain by expiry (USD)", x_label="expiry",
        y_label="strike (USD)", y_unit="price", x_unit="date", x=[r["expiry"] for r in rows],
        series=[{"name": "max pain", "values": [r["max_pain"] for r in rows]},
                {"name": "spot", "values": [spot] * len(rows)}],
    )  # fmt: skip
    return _finish_strike_axis(c, spot, _must(must_show_strikes), axis="y")


def net_premium_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Side-adjusted net premium by strike (USD, bullish minus bearish) near spot (±12%,
    widened to ``must_show_strikes``)."""
    spot = doc["analysis"].get("spot")
    must = _must(must_show_strikes)
    rows = _window(_g(doc, "flow", "net_by_strike") or [], spot, 0.12, must)
    if not rows:
        return None
    c = Chart(
        id="net_premium", kind="bar", title="Net premium by strike (USD, bullish minus bearish)",
        x_label="strike (USD)", y_label="USD", y_unit="USD", x=[r["strike"] for r in rows],
        series=[{"name": "net", "values": [r.get("net_usd") for r in rows]}],
        markers=[{"x": spot, "label": "spot"}],
    )  # fmt: skip
    return _finish_strike_axis(c, spot, must)


def side_chart(
    t: Mapping[str, Any],
    id_: str = "side_decomposition",
    *,
    must_show_strikes: Sequence[float] = (),
) -> Chart:
    """Side-decomposition bar: calls bought/sold, puts bought/sold, mid/unknown (USD).

    No strike axis (``must_show_strikes`` is accepted for a uniform call and ignored)."""
    keys = [("calls_bought_usd", "calls bought"), ("calls_sold_usd", "calls sold"),
            ("puts_bought_usd", "puts bought"), ("puts_sold_usd", "puts sold"),
            ("mid_usd", "mid"), ("unknown_usd", "unknown")]  # fmt: skip
    return Chart(
        id=id_,
        kind="hbar",
        title="Side decomposition of premium (USD)",
        x_label="premium (USD)",
        x_unit="USD",
        x=[lab for _, lab in keys],
        series=[{"name": "premium", "values": [t.get(k) for k, _ in keys]}],
    )


def smile_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """Smile (call IV, else put IV, decimal) by strike of the two nearest expiries, spot marked;
    strikes within ±25% of spot (widened to ``must_show_strikes``): far wings of 300% IV would
    flatten the part a trader reads."""
    sm = _g(doc, "analysis", "vol", "smile") or []
    if not sm:
        return None
    spot = _g(doc, "analysis", "spot")
    must = _must(must_show_strikes)
    exps = sorted({r["expiry"] for r in sm})[:2]
    near = {id(r) for r in _window(sm, _num(spot), 0.25, must)} if _num(spot) else None
    sm = [r for r in sm if near is None or id(r) in near]
    strikes = sorted({r["strike"] for r in sm if r["expiry"] in exps})
    if not strikes:
        return None
    series = []
    for e in exps:
        m = {
            r["strike"]: (r.get("call_iv") if r.get("call_iv") is not None else r.get("put_iv"))
            for r in sm
            if r["expiry"] == e
        }
        series.append({"name": f"IV {e}", "values": [m.get(k) for k in strikes]})
    c = Chart(
        id="smile",
        kind="line",
        title="Volatility smile (implied volatility by strike)",
        x_label="strike (USD)",
        y_label="implied volatility",
        y_unit="IV",
        x=strikes,
        series=series,
        markers=[{"x": spot, "label": "spot"}] if _num(spot) is not None else [],
    )
    return _finish_strike_axis(c, spot, must)


def skew_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """ATM IV (left axis) and the 25-delta risk reversal (call IV − put IV, right axis) by
    expiry. No strike axis (``must_show_strikes`` accepted and ignored)."""
    v = _g(doc, "analysis", "vol") or {}
    atm = v.get("atm_term_structure") or []
    sk = dict((e, x) for e, x in (v.get("skew_term_structure") or []))
    if not atm:
        return None
    series: list[dict[str, Any]] = [{"name": "ATM IV", "values": [x for _, x in atm]}]
    if any(_num(sk.get(e)) is not None for e, _ in atm):
        series.append(
            {"name": "RR 25Δ (right)", "values": [sk.get(e) for e, _ in atm], "axis": "right"}
        )
    return Chart(
        id="skew_term",
        kind="line",
        title="ATM IV and 25Δ risk reversal by expiry",
        x_label="expiry",
        x_unit="date",
        y_label="ATM implied volatility",
        y_unit="IV",
        y2_label="25Δ risk reversal (call IV − put IV)",
        y2_unit="IV",
        x=[e for e, _ in atm],
        series=series,
    )


def zones_chart(
    rows: list[dict[str, Any]], id_: str = "zones", *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Expected-move zones (low, mid, high) with the close, each row on its own 0..1 scale.

    No strike axis (``must_show_strikes`` accepted and ignored)."""
    rows = [r for r in rows if r.get("low") is not None and r.get("high") is not None]
    if not rows:
        return None
    return Chart(
        id=id_,
        kind="zones",
        title="Expected-move zones (low / mid / high vs close)",
        rows=[{k: r.get(k) for k in ("ticker", "low", "mid", "high", "close")} for r in rows],
    )


_SURFACES = (
    (
        "dx_shares",
        "DX: dealer delta over spot × time",
        "shares",
        "dealer delta (shares): blue + dealers net long (hedge by selling), red − net short (hedge by buying)",
    ),
    (
        "gx_shares_per_usd",
        "GX: dealer gamma over spot × time",
        "shares per USD",
        "dealer gamma (shares per USD): blue + long gamma (damps moves), red − short gamma",
    ),
)


def heatmap_charts(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> list[Chart]:
    """Dealer DX and GX surfaces over spot × time, with spot marked; the spot axis holds
    ``must_show_strikes``. Colour: diverging, centred at zero."""
    s = _g(doc, "analysis", "surfaces") or {}
    spot = _g(doc, "analysis", "spot")
    out = []
    for key, title, unit, legend in _SURFACES:
        z = s.get(key)
        if z and s.get("spot_levels"):
            c = Chart(
                id=key.split("_")[0] + "_heatmap",
                kind="heatmap",
                title=title,
                x_label="spot (USD)",
                y_label="time (UTC)",
                x=s["spot_levels"],
                y=[str(t)[:16] for t in s.get("times", [])],
                z=z,
                z_unit=unit,
                z_label=legend,
                markers=[{"x": spot, "label": "spot"}] if _num(spot) is not None else [],
            )
            out.append(_finish_strike_axis(c, spot, _must(must_show_strikes)))
    return out


_REBUILD: dict[str, Callable[..., Chart | None]] = {
    "gex_by_strike": gex_chart,
    "oi_by_strike": oi_chart,
    "oi_change": oi_change_chart,
    "net_premium": net_premium_chart,
    "gamma_profile": profile_chart,
    "smile": smile_chart,
}


def fit_charts_to_text(report: Any, doc: Mapping[str, Any]) -> Any:
    """Rebuild the report's strike charts so that every strike its text names is drawn.

    For each chart whose strike axis is ``x`` (GEX, OI, OI change, net premium, gamma
    profile, smile, DX/GX heatmaps), the builder runs again on ``doc`` with
    ``must_show_strikes=named_strikes(report)``; the max-pain chart (strike axis ``y``, one
    strike per expiry) is left as built. Returns ``report`` (changed in place). One call at
    the end of a lens builder.
    """
    ks = named_strikes(report)
    if not ks:
        return report
    heat = {c.id: c for c in heatmap_charts(doc, must_show_strikes=ks)}
    for sec in report.sections:
        new: list[Chart] = []
        for c in sec.charts:
            b = _REBUILD.get(c.id)
            nc = (
                heat.get(c.id)
                if c.kind == "heatmap"
                else (b(doc, must_show_strikes=ks) if b else None)
            )
            if nc is not None:
                nc.title = c.title  # a lens may have retitled the chart
            elif c.strike_axis == "x" and c.kind != "heatmap":  # no rebuilder: widen the axis
                _finish_strike_axis(
                    c, _num(_g(doc, "analysis", "spot")), [*c.must_show_strikes, *ks]
                )
            new.append(nc if nc is not None else c)
        sec.charts = new
    return report


# --------------------------------------------------------------------------- shared layout


def _x_range(c: Chart) -> tuple[float, float] | None:
    """Numeric x range: the recorded strike range, else the data and markers with a margin."""
    if c.strike_axis == "x" and c.strike_range is not None:
        return c.strike_range
    xs = [f for x in c.x if (f := _num(x)) is not None]
    if not xs or len(xs) != len(c.x):
        return None
    return strike_axis_range([*xs, *(m.get("x") for m in c.markers)], step=_step(xs))


def _marker_labels(c: Chart, lo: float, hi: float) -> list[tuple[float, str, bool, int, bool]]:
    """Marker lines ``(x, label, is_spot, row, left)``: markers closer than 2% of the axis
    share one label (spot first); a label that would run past the right edge is drawn to the
    left of its line (``left``); labels are stacked in up to four rows so that none overlaps
    another (widths estimated at 0.85% of the axis per character)."""
    ms = sorted(
        ((x, str(m.get("label", ""))) for m in c.markers if (x := _num(m.get("x"))) is not None),
        key=lambda t: t[0],
    )
    span = (hi - lo) or 1.0
    groups: list[list[tuple[float, str]]] = []
    for x, lab in ms:
        if groups and (x - groups[-1][-1][0]) / span < 0.02:
            groups[-1].append((x, lab))
        else:
            groups.append([(x, lab)])
    out: list[tuple[float, str, bool, int, bool]] = []
    rows: list[list[tuple[float, float]]] = [[], [], [], []]  # occupied intervals per row
    for g in groups:
        x = g[0][0]
        g.sort(key=lambda t: t[1] != "spot")  # spot first in a shared label
        text = " / ".join(f"{lab} {price_tick(v)}" for v, lab in g)
        f = (x - lo) / span
        width = 0.0085 * len(text) + 0.01
        left = f + width > 0.99
        iv = (f - width, f) if left else (f, f + width)
        row = next(
            (i for i, occ in enumerate(rows) if all(iv[1] < a or iv[0] > b for a, b in occ)), 0
        )
        rows[row].append(iv)
        out.append((x, text, any(lab == "spot" for _, lab in g), row, left))
    return out


def _is_dates(xs: Sequence[Any]) -> bool:
    return bool(xs) and isinstance(xs[0], str) and len(xs[0]) == 10 and xs[0][4] == "-"


# --------------------------------------------------------------------------- SVG


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    if hi == lo:
        hi = lo + 1.0
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)


def _title(c: Chart) -> str:
    # baseline 14: the 13px title sits above the axis labels (baseline _PAD_T - 3)
    return f'<text x="{_W / 2}" y="14" text-anchor="middle" class="ct">{escape(c.title)}</text>'


#: Estimated advance of one character of the 10px axis/legend font (px); errs wide.
_CHAR_W = 6.0
_LEGEND_ROW = 14


def _legend_layout(c: Chart, pad_r: float) -> tuple[list[tuple[float, float]], int]:
    """Position ``(x, y)`` of each series' legend swatch, wrapping into rows of
    ``_LEGEND_ROW`` px below the plot when the labels do not fit, and the row count. The first
    row stops short of the x-axis label, which shares its line."""
    x0 = _PAD_L + 10.0
    end0 = _W - pad_r - (len(c.x_label) * _CHAR_W + 12 if c.x_label else 0.0)
    out: list[tuple[float, float]] = []
    x, row = x0, 0
    for s in c.series:
        w = 14 + len(str(s["name"])) * _CHAR_W + 12
        end = end0 if row == 0 else _W - 10.0
        if x > x0 and x + w > end:
            x, row = x0, row + 1
        out.append((x, float(_H - 9 + row * _LEGEND_ROW)))
        x += w
    return out, (row + 1 if c.series else 1)


def _xy_height(c: Chart) -> int:
    """SVG height of a bar/line chart: ``_H`` plus one ``_LEGEND_ROW`` per extra legend row."""
    pad_r = 70 if any(s.get("axis") == "right" for s in c.series) else _PAD_R
    return _H + (_legend_layout(c, pad_r)[1] - 1) * _LEGEND_ROW


def _y_axis(
    parts: list[str],
    lo: float,
    hi: float,
    sy: Any,
    fmt: Callable[[float], str],
    x: float,
    anchor: str,
) -> None:
    for v in nice_ticks(lo, hi, 7):
        y = sy(v)
        if anchor == "end":
            parts.append(
                f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            )
        parts.append(
            f'<text x="{x}" y="{y + 4:.1f}" text-anchor="{anchor}" class="ax">{escape(fmt(v))}</text>'
        )


def _yrange(vals: Sequence[float | None], bar: bool) -> tuple[float, float]:
    fin = [v for v in vals if v is not None] or [0.0]
    lo, hi = min(fin), max(fin)
    if bar:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if lo == hi:
        lo, hi = lo - (abs(lo) * 0.05 or 1.0), hi + (abs(hi) * 0.05 or 1.0)
    pad = (hi - lo) * 0.05
    return (lo if bar and lo == 0 else lo - pad), (hi if bar and hi == 0 else hi + pad)


def _xy_svg(c: Chart) -> list[str]:
    n = len(c.x)
    left = [s for s in c.series if s.get("axis") != "right"]
    right = [s for s in c.series if s.get("axis") == "right"]
    pad_r = 70 if right else _PAD_R
    bar = c.kind == "bar"
    if c.strike_axis == "y" and c.strike_range is not None:
        ylo, yhi = c.strike_range
    else:
        ylo, yhi = _yrange([_num(v) for s in left for v in s["values"]], bar)
    sy = _scale(ylo, yhi, _H - _PAD_B, _PAD_T)
    xr = _x_range(c)
    if xr is not None:
        sx = _scale(xr[0], xr[1], _PAD_L, _W - pad_r)
        pos = [sx(_num(x)) for x in c.x]
        xs_f = [float(_num(x) or 0.0) for x in c.x]
        step = _step(xs_f) or ((xr[1] - xr[0]) / max(n, 1))
        slot = abs(sx(xr[0] + step) - sx(xr[0]))
    else:
        sx = None
        slot = (_W - _PAD_L - pad_r) / max(n, 1)
        pos = [_PAD_L + (i + 0.5) * slot for i in range(n)]
    yfmt = tick_format(c.y_unit, c.y_label)
    parts: list[str] = [_title(c)]
    legend = _legend_layout(c, pad_r)[0]
    _y_axis(parts, ylo, yhi, sy, yfmt, _PAD_L - 4, "end")
    if bar and ylo < 0 < yhi:
        parts.append(
            f'<line x1="{_PAD_L}" x2="{_W - pad_r}" y1="{sy(0.0):.1f}" y2="{sy(0.0):.1f}" class="zero"/>'
        )
    sy2 = None
    if right:
        y2lo, y2hi = _yrange([_num(v) for s in right for v in s["values"]], False)
        sy2 = _scale(y2lo, y2hi, _H - _PAD_B, _PAD_T)
        _y_axis(parts, y2lo, y2hi, sy2, tick_format(c.y2_unit, c.y2_label), _W - pad_r + 4, "start")
    k = max(len(c.series), 1)
    bw = max(1.0, slot * 0.8 / k)
    for si, s in enumerate(c.series):
        col = _COLORS[int(s.get("group", si)) % len(_COLORS)]  # "group": series sharing a colour
        fmt = tick_format(c.y2_unit, c.y2_label) if s.get("axis") == "right" else yfmt
        ys = sy2 if s.get("axis") == "right" and sy2 is not None else sy
        for i, raw in enumerate(s["values"]):
            v = _num(raw)
            if v is None or pos[i] is None:
                continue
            tip = f"{escape(s['name'])} {escape(_xlabel(c, c.x[i]))}: {escape(fmt(v))}"
            if bar:
                x = pos[i] - bw * k / 2 + si * bw
                y0, y1 = ys(0.0), ys(v)
                parts.append(
                    f'<rect class="pt" x="{x:.1f}" y="{min(y0, y1):.1f}" width="{bw:.1f}" height="{max(abs(y1 - y0), 0.5):.1f}" '
                    f'fill="{col}" data-tip="{tip}"><title>{tip}</title></rect>'
                )
            else:
                parts.append(
                    f'<circle class="pt" cx="{pos[i]:.1f}" cy="{ys(v):.1f}" r="{3 if n <= 40 else 1.5}" fill="{col}" data-tip="{tip}"><title>{tip}</title></circle>'
                )
        if not bar:
            pts = [
                (pos[i], ys(v))
                for i, v in enumerate(map(_num, s["values"]))
                if v is not None and pos[i] is not None
            ]
            if pts:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                parts.append(
                    f'<polyline points="{d}" fill="none" stroke="{col}" stroke-width="2"'
                    + (
                        ' stroke-dasharray="5 3"'
                        if s.get("dash") or s.get("axis") == "right"
                        else ""
                    )
                    + "/>"
                )
        lx, ly = legend[si]
        dashed = not bar and (s.get("dash") or s.get("axis") == "right")
        swatch = (
            f'<line x1="{lx:.1f}" x2="{lx + 10:.1f}" y1="{ly}" y2="{ly}" stroke="{col}" stroke-width="2" stroke-dasharray="3 2"/>'
            if dashed
            else f'<rect x="{lx:.1f}" y="{ly - 5}" width="10" height="10" fill="{col}"/>'
        )
        parts.append(
            f'{swatch}<text x="{lx + 14:.1f}" y="{ly + 4}" class="ax">{escape(s["name"])}</text>'
        )
    if sx is not None and xr is not None:
        for mx, text, is_spot, lrow, to_left in _marker_labels(c, *xr):
            x = sx(mx)
            cls = "mk spot" if is_spot else "mk"
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_T}" y2="{_H - _PAD_B}" class="{cls}"><title>{escape(text)}</title></line>'
            )
            anchor = ' text-anchor="end"' if to_left else ""
            parts.append(
                f'<text x="{x - 2 if to_left else x + 2:.1f}" y="{_PAD_T + 10 + 11 * lrow}"{anchor} class="mkl">{escape(text)}</text>'
            )
        xfmt = tick_format(c.x_unit or "price", c.x_label)
        for v in nice_ticks(xr[0], xr[1], 8):
            parts.append(
                f'<text x="{sx(v):.1f}" y="{_H - _PAD_B + 14}" text-anchor="middle" class="ax">{escape(xfmt(v))}</text>'
            )
    else:
        dates = _is_dates(c.x)
        stepi = max(1, math.ceil(n / (7 if dates else 10)))
        for i in range(0, n, stepi):
            lab = _xlabel(c, c.x[i])
            parts.append(
                f'<text x="{pos[i]:.1f}" y="{_H - _PAD_B + 14}" text-anchor="middle" class="ax">{escape(lab)}</text>'
            )
    if c.x_label:
        parts.append(
            f'<text x="{_W - pad_r}" y="{_H - _PAD_B + 27}" text-anchor="end" class="ax">{escape(c.x_label)}</text>'
        )
    if c.y_label:
        parts.append(f'<text x="12" y="{_PAD_T - 3}" class="ax">{escape(c.y_label)}</text>')
    if right and c.y2_label:  # along the right edge: at the top it would run into the title
        yc = (_PAD_T + _H - _PAD_B) / 2
        parts.append(
            f'<text x="{_W - 6}" y="{yc:.1f}" transform="rotate(90 {_W - 6} {yc:.1f})" text-anchor="middle" class="ax">{escape(c.y2_label)}</text>'
        )
    return parts


def _xlabel(c: Chart, x: Any) -> str:
    if isinstance(x, str):
        return x[2:] if _is_dates([x]) else x  # YY-MM-DD keeps date ticks apart
    f = _num(x)
    return price_tick(f) if f is not None else str(x)


def _hbar_svg(c: Chart) -> list[str]:
    vals = [_num(v) or 0.0 for v in c.series[0]["values"]] if c.series else []
    fmt = tick_format(c.x_unit or "USD", c.x_label)
    hi = max([abs(v) for v in vals] + [1.0])
    parts = [_title(c)]
    rowh = (_H - _PAD_T - 10) / max(len(vals), 1)
    for i, (lab, v) in enumerate(zip(c.x, vals, strict=True)):
        y = _PAD_T + i * rowh
        w = (abs(v) / hi) * (_W - 230)
        tip = f"{escape(str(lab))}: {escape(fmt(v))}"
        parts.append(
            f'<text x="130" y="{y + rowh * 0.6:.1f}" text-anchor="end" class="ax">{escape(str(lab))}</text>'
        )
        parts.append(
            f'<rect class="pt" x="136" y="{y + 2:.1f}" width="{max(w, 0.5):.1f}" height="{rowh * 0.7:.1f}" fill="{_COLORS[i % len(_COLORS)]}" data-tip="{tip}"><title>{tip}</title></rect>'
        )
        parts.append(
            f'<text x="{140 + w:.1f}" y="{y + rowh * 0.6:.1f}" class="ax">{escape(fmt(v))}</text>'
        )
    return parts


def _div_rgb(t: float) -> str:
    """Diverging colour of ``t`` in [-1, 1]: red (−) through white (0) to blue (+)."""
    t = max(-1.0, min(1.0, t))
    if t >= 0:
        return f"rgb({int(255 - 222 * t)},{int(255 - 153 * t)},{int(255 - 83 * t)})"
    a = -t
    return f"rgb({int(255 - 77 * a)},{int(255 - 231 * a)},{int(255 - 212 * a)})"


def _heat_scale(z: Sequence[Sequence[Any]]) -> float:
    """Half-width of the symmetric colour scale: the largest |value| (1 when all are zero)."""
    fin = [abs(f) for row in z for v in row if (f := _num(v)) is not None]
    return max(fin, default=0.0) or 1.0


def _heat_svg(c: Chart) -> list[str]:
    z = [[_num(v) for v in row] for row in c.z]
    m = _heat_scale(c.z)
    ny, nx = len(z), max((len(r) for r in z), default=0)
    x0, x1 = 130.0, _W - 150.0
    parts = [_title(c)]
    ch = (_H - _PAD_T - 30) / max(ny, 1)
    xs = [float(_num(x) or 0.0) for x in c.x[:nx]]
    xr = _x_range(c) or (0.0, float(max(nx, 1)))
    sx = _scale(xr[0], xr[1], x0, x1)
    edges = _edges(xs) if len(xs) == nx and nx else [float(i) for i in range(nx + 1)]
    fmt = tick_format(c.z_unit or "shares", c.z_label)
    ystep = max(1, math.ceil(ny / 10))
    for j, row in enumerate(z):
        ylab = str(c.y[j]) if j < len(c.y) else ""
        yy = _PAD_T + (ny - 1 - j) * ch  # row 0 at the bottom, as in the PNG
        if j % ystep == 0:
            parts.append(
                f'<text x="{x0 - 4}" y="{yy + ch * 0.7:.1f}" text-anchor="end" class="ax">{escape(ylab)}</text>'
            )
        for i, v in enumerate(row):
            if v is None or i >= len(xs):
                continue
            xa, xb = sx(max(edges[i], xr[0])), sx(min(edges[i + 1], xr[1]))
            tip = f"spot {escape(price_tick(xs[i]))}, {escape(ylab)}: {escape(fmt(v))}"
            parts.append(  # +0.6 px overlap: no anti-aliasing seams between cells
                f'<rect class="pt" x="{xa:.1f}" y="{yy:.1f}" width="{max(xb - xa, 0.5) + 0.6:.1f}" height="{ch + 0.6:.1f}" fill="{_div_rgb(v / m)}" data-tip="{tip}"><title>{tip}</title></rect>'
            )
    for v in nice_ticks(xr[0], xr[1], 7):
        parts.append(
            f'<text x="{sx(v):.1f}" y="{_H - 16}" text-anchor="middle" class="ax">{escape(price_tick(v))}</text>'
        )
    parts.append(
        f'<text x="{x1}" y="{_H - 3}" text-anchor="end" class="ax">{escape(c.x_label)}</text>'
    )
    for mx, text, is_spot, lrow, left in _marker_labels(c, *xr):
        x = sx(mx)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_T}" y2="{_PAD_T + ny * ch:.1f}" class="mk{" spot" if is_spot else ""}"/>'
        )
        anchor = ' text-anchor="end"' if left else ""
        parts.append(
            f'<text x="{x - 2 if left else x + 2:.1f}" y="{_PAD_T + 10 + 11 * lrow}"{anchor} class="mkl">{escape(text)}</text>'
        )
    # colour-bar legend: -m (red) .. 0 (white) .. +m (blue), with units and sign meaning
    lx, ly0, ly1, steps = x1 + 20, _PAD_T, _H - 100, 24
    hh = (ly1 - ly0) / steps
    for k in range(steps):
        t = 1 - 2 * (k + 0.5) / steps
        parts.append(
            f'<rect x="{lx}" y="{ly0 + k * hh:.1f}" width="12" height="{hh + 0.3:.1f}" fill="{_div_rgb(t)}"/>'
        )
    for v, yy in ((m, ly0), (0.0, (ly0 + ly1) / 2), (-m, ly1)):
        parts.append(f'<text x="{lx + 16}" y="{yy + 4:.1f}" class="ax">{escape(fmt(v))}</text>')
    words = c.z_label or c.z_unit
    for k, line in enumerate(_wrap(words, 26)[:7]):
        parts.append(f'<text x="{lx - 6}" y="{ly1 + 24 + 10 * k}" class="lg">{escape(line)}</text>')
    return parts


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for w in text.split():
        if out and len(out[-1]) + 1 + len(w) <= width:
            out[-1] += " " + w
        else:
            out.append(w)
    return out


def _edges(xs: Sequence[float]) -> list[float]:
    """Cell edges of sorted cell centres (midpoints; the outer cells as wide as their neighbour)."""
    if len(xs) == 1:
        return [xs[0] - 0.5, xs[0] + 0.5]
    mids = [(a + b) / 2 for a, b in zip(xs, xs[1:], strict=False)]
    return [xs[0] - (mids[0] - xs[0]), *mids, xs[-1] + (xs[-1] - mids[-1])]


_ZROW = 22  # px per zone row


def _zones_height(c: Chart) -> int:
    return max(_H, _PAD_T + 30 + _ZROW * len(c.rows))


def _zones_svg(c: Chart) -> list[str]:
    """Each row on a common axis: position in its zone, 0 = low, 1 = high (closes outside the
    shown range of -0.5..1.5 are drawn at the edge as a triangle)."""
    parts = [_title(c)]
    sx = _scale(-0.5, 1.5, 140, _W - 30)
    h = _zones_height(c)
    for v, lab in ((0.0, "low"), (0.5, "mid"), (1.0, "high")):
        x = sx(v)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_T}" y2="{h - 24}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{h - 10}" text-anchor="middle" class="ax">{lab}</text>')
    for i, r in enumerate(c.rows):
        lo, hi, cl = _num(r.get("low")), _num(r.get("high")), _num(r.get("close"))
        if lo is None or hi is None or hi <= lo:
            continue
        y = _PAD_T + i * _ZROW
        tip = f"{r.get('ticker')}: zone {price_tick(lo)} to {price_tick(hi)}" + (
            f", close {price_tick(cl)}" if cl is not None else ""
        )
        parts.append(
            f'<text x="130" y="{y + 14}" text-anchor="end" class="ax">{escape(str(r.get("ticker")))}</text>'
        )
        parts.append(
            f'<rect class="pt" x="{sx(0.0):.1f}" y="{y + 4}" width="{sx(1.0) - sx(0.0):.1f}" height="{_ZROW - 8}" '
            f'fill="#bee3f8" data-tip="{escape(tip)}"><title>{escape(tip)}</title></rect>'
        )
        if cl is not None:
            pos = (cl - lo) / (hi - lo)
            x = sx(min(max(pos, -0.5), 1.5))
            cy = y + _ZROW / 2
            if -0.5 <= pos <= 1.5:
                mark = f'<circle class="pt" cx="{x:.1f}" cy="{cy:.1f}" r="4" fill="#c53030"'
            else:
                d = 6 if pos > 1.5 else -6
                mark = f'<polygon class="pt" points="{x - d:.1f},{cy - 5:.1f} {x:.1f},{cy:.1f} {x - d:.1f},{cy + 5:.1f}" fill="#c53030"'
            parts.append(
                mark
                + f' data-tip="{escape(tip)}"><title>{escape(tip)}</title></'
                + mark.split()[0][1:]
                + ">"
            )
    return parts


def chart_svg(c: Chart) -> Markup:
    """Inline SVG markup of a chart (escaped text, tooltips in ``<title>`` and ``data-tip``)."""
    if c.kind in ("bar", "line"):
        parts = _xy_svg(c)
    elif c.kind == "hbar":
        parts = _hbar_svg(c)
    elif c.kind == "heatmap":
        parts = _heat_svg(c)
    elif c.kind == "zones":
        parts = _zones_svg(c)
    else:
        raise ValueError(f"unknown chart kind {c.kind!r}")
    body = "".join(parts)
    h = (
        _zones_height(c)
        if c.kind == "zones"
        else _xy_height(c)
        if c.kind in ("bar", "line")
        else _H
    )
    return Markup(
        f'<svg class="chart" id="svg-{escape(c.id)}" role="img" aria-label="{escape(c.title)}" '
        f'viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


# --------------------------------------------------------------------------- PNG (matplotlib)


def _formatter(f: Callable[[float], str]) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f(v))


def _png_markers(ax: Any, c: Chart, lo: float, hi: float) -> None:
    for mx, text, is_spot, row, left in _marker_labels(c, lo, hi):
        ax.axvline(
            mx,
            ls="-" if is_spot else "--",
            lw=1.3 if is_spot else 0.9,
            color=_SPOT_COLOR if is_spot else _MARK_COLOR,
            zorder=3,
        )
        ax.annotate(
            text,
            (mx, 0.97 - 0.075 * row),
            xycoords=("data", "axes fraction"),
            xytext=(-2 if left else 2, 0),
            textcoords="offset points",
            fontsize=7,
            va="top",
            ha="right" if left else "left",
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
            zorder=4,
            parse_math=False,  # "$4,205 / call wall $4,300" is text, not mathtext
        )


def _png_xy(fig: Any, ax: Any, c: Chart) -> None:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    xr = _x_range(c)
    n = len(c.x)
    pos = (
        np.array([_num(x) for x in c.x], dtype=float)
        if xr is not None
        else np.arange(n, dtype=float)
    )
    left = [s for s in c.series if s.get("axis") != "right"]
    right = [s for s in c.series if s.get("axis") == "right"]
    k = max(len(left), 1)
    step = (_step([float(p) for p in pos]) or 1.0) if xr is not None else 1.0
    width = step * 0.8 / k
    ax2 = ax.twinx() if right else None
    handles = []
    for si, s in enumerate(c.series):
        vals = np.array(
            [v if (v := _num(x)) is not None else math.nan for x in s["values"]], dtype=float
        )
        col = _COLORS[int(s.get("group", si)) % len(_COLORS)]
        tgt = ax2 if s.get("axis") == "right" and ax2 is not None else ax
        if c.kind == "bar":
            off = (si - (k - 1) / 2) * width
            h = tgt.bar(pos + off, vals, width=width, label=s["name"], color=col, zorder=2)
        else:
            (h,) = tgt.plot(
                pos,
                vals,
                marker="o" if n <= 40 else None,
                ms=3,
                label=s["name"],
                color=col,
                ls="--" if tgt is ax2 or s.get("dash") else "-",
                lw=1.6 if "group" in s else max(3.2 - 1.1 * si, 1.0) if len(c.series) >= 3 else 1.8,
            )  # a wider first series: identical series stay visible
        handles.append(h)
    if c.kind == "bar":
        ax.axhline(0.0, color="#4a5568", lw=0.6, zorder=2)
    ax.yaxis.set_major_formatter(_formatter(tick_format(c.y_unit, c.y_label)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    if c.strike_axis == "y" and c.strike_range is not None:
        ax.set_ylim(*c.strike_range)
    if ax2 is not None:
        ax2.yaxis.set_major_formatter(_formatter(tick_format(c.y2_unit, c.y2_label)))
        ax2.yaxis.set_major_locator(MaxNLocator(nbins=6))
        if c.y2_label:
            ax2.set_ylabel(c.y2_label, fontsize=8, parse_math=False)
        ax2.tick_params(labelsize=7)
    if xr is not None:
        ax.set_xlim(*xr)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(_formatter(tick_format(c.x_unit or "price", c.x_label)))
        _png_markers(ax, c, *xr)
    else:
        stepi = max(1, math.ceil(n / 8))
        labs = [_xlabel(c, x) for x in c.x]
        ax.set_xticks(pos[::stepi], labs[::stepi], fontsize=7, parse_math=False)
        ax.set_xlim(-0.5, n - 0.5)
    ax.tick_params(labelsize=7)
    if handles:
        if ax2 is not None:  # "best" cannot see the twin axis: the legend sits above the plot
            leg = ax.legend(
                handles=handles,
                fontsize=7,
                loc="lower left",
                bbox_to_anchor=(0.0, 1.0),
                ncol=len(handles),
                frameon=False,
                borderaxespad=0.1,
            )
        else:
            leg = ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
        for t in leg.get_texts():
            t.set_parse_math(False)


def _png_heat(fig: Any, ax: Any, c: Chart) -> Any:
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.ticker import MaxNLocator

    z = np.array([[(f if (f := _num(v)) is not None else np.nan) for v in row] for row in c.z])
    ny, nx = z.shape if z.ndim == 2 else (0, 0)
    xs = [float(_num(x) or 0.0) for x in c.x[:nx]]
    m = _heat_scale(c.z)
    norm = TwoSlopeNorm(vmin=-m, vcenter=0.0, vmax=m)
    xe = np.array(_edges(xs)) if len(xs) == nx and nx else np.arange(nx + 1, dtype=float)
    mesh = ax.pcolormesh(xe, np.arange(ny + 1), np.ma.masked_invalid(z), cmap="RdBu", norm=norm)
    if ny > 1 and nx > 1 and np.isfinite(z).sum() > 3 and np.nanmax(z) > np.nanmin(z):
        # contours show the variation that a zero-centred scale hides when one sign dominates
        xc = np.array(xs) if len(xs) == nx else np.arange(nx) + 0.5
        lv = [v for v in nice_ticks(float(np.nanmin(z)), float(np.nanmax(z)), 6)]
        lv = [v for v in lv if np.nanmin(z) < v < np.nanmax(z)]
        if lv:  # white lines on the dark end of the scale, dark lines on the light end
            cols = ["white" if abs(v) / m > 0.55 else "#1a202c" for v in lv]
            cs = ax.contour(xc, np.arange(ny) + 0.5, z, levels=lv, colors=cols, linewidths=0.7)
            ax.clabel(cs, fontsize=6, fmt=lambda v: tick_format(c.z_unit or "shares")(v))
    cb = fig.colorbar(mesh, ax=ax, pad=0.02)
    fmt = tick_format(c.z_unit or "shares", c.z_label)
    cb.ax.yaxis.set_major_formatter(_formatter(fmt))
    cb.ax.tick_params(labelsize=7)
    cb.set_label("\n".join(_wrap(c.z_label or c.z_unit, 34)), fontsize=7, parse_math=False)
    ystep = max(1, math.ceil(ny / 10))
    ax.set_yticks(
        np.arange(0, ny, ystep) + 0.5,
        [str(c.y[j]) if j < len(c.y) else "" for j in range(0, ny, ystep)],
        fontsize=6,
        parse_math=False,
    )
    xr = _x_range(c) or (float(xe[0]), float(xe[-1]))
    ax.set_xlim(*xr)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(_formatter(price_tick))
    ax.tick_params(axis="x", labelsize=7)
    _png_markers(ax, c, *xr)
    return mesh


def chart_figure(c: Chart) -> Any:
    """The chart as a matplotlib :class:`~matplotlib.figure.Figure` (Agg canvas, no pyplot
    state): the object tests inspect (tick labels, limits, colour norm)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h = 3.6 if c.kind != "zones" else max(3.6, 0.9 + 0.25 * len(c.rows))
    fig = Figure(figsize=(9, h), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    above = any(s.get("axis") == "right" for s in c.series)  # the legend sits above the plot
    ax.set_title(c.title, fontsize=10, parse_math=False, pad=16 if above else 6)
    if c.kind in ("bar", "line"):
        _png_xy(fig, ax, c)
    elif c.kind == "hbar":
        hv = [float(_num(v) or 0.0) for v in c.series[0]["values"]] if c.series else []
        labs = [str(x) for x in c.x]
        ax.barh(labs, hv, color=list(_COLORS)[: len(hv)] or None)
        ax.invert_yaxis()
        fmt = tick_format(c.x_unit or "USD", c.x_label)
        ax.xaxis.set_major_formatter(_formatter(fmt))
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
        for i, v in enumerate(hv):
            ax.annotate(
                fmt(v),
                (v, i),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                parse_math=False,
            )
        ax.tick_params(labelsize=7)
        if hv:
            ax.set_xlim(min(0.0, min(hv)), max(hv + [0.0]) * 1.15 or 1.0)
    elif c.kind == "heatmap":
        _png_heat(fig, ax, c)
    elif c.kind == "zones":
        for i, r in enumerate(c.rows):
            lo, hi, cl = _num(r.get("low")), _num(r.get("high")), _num(r.get("close"))
            if lo is None or hi is None or hi <= lo:
                continue
            ax.plot([0, 1], [i, i], color="#bee3f8", lw=8, solid_capstyle="butt")
            if cl is not None:
                p = (cl - lo) / (hi - lo)
                ax.plot(
                    [min(max(p, -0.5), 1.5)],
                    [i],
                    ">" if p > 1.5 else "<" if p < -0.5 else "o",
                    color="#c53030",
                )
        ax.set_yticks(
            range(len(c.rows)), [str(r.get("ticker")) for r in c.rows], fontsize=7, parse_math=False
        )
        ax.set_xlim(-0.55, 1.55)
        ax.set_xticks([0, 0.5, 1], ["low", "mid", "high"], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("position of the close in its expected-move zone", fontsize=8)
    else:
        raise ValueError(f"unknown chart kind {c.kind!r}")
    if c.x_label and c.kind in ("bar", "line", "heatmap", "hbar"):
        ax.set_xlabel(c.x_label, fontsize=8, parse_math=False)
    if c.y_label and c.kind != "zones":
        ax.set_ylabel(c.y_label, fontsize=8, parse_math=False)
    fig.tight_layout()
    return fig


def chart_png(c: Chart, path: Path) -> Path:
    """Write the chart as a PNG with matplotlib (Agg canvas, no global pyplot state)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # matplotlib warns when placing a loc="best" legend takes long on a loaded machine: a
        # timing message, not a fault of the chart.
        warnings.filterwarnings("ignore", message="Creating legend with loc=", category=UserWarning)
        fig = chart_figure(c)
        fig.savefig(path)
    return path
