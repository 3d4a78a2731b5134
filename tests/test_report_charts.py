"""Charts: tick formats against hand-worked values, the strike axis holds spot and every strike
the text names, heatmap colour scales centred at zero with a legend, no ``1e7`` offset text and
no overlapping tick or marker labels (inspected on the matplotlib Axes and in the SVG)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chainlens.report import LENSES, build_daily, build_lens
from chainlens.report._charts import (
    chart_figure,
    chart_svg,
    count_tick,
    fit_charts_to_text,
    gex_chart,
    heatmap_charts,
    iv_tick,
    max_pain_chart,
    money_tick,
    named_strikes,
    net_premium_chart,
    nice_ticks,
    oi_change_chart,
    oi_chart,
    price_tick,
    profile_chart,
    skew_chart,
    smile_chart,
    strike_axis_range,
    strike_in_axis,
)
from chainlens.report._model import Chart
from chainlens.runners.local import read_docs, read_market, run_local
from chainlens.store import Store
from test_pipeline_fixtures import D2, build_tiny_store

SPOT = 419.36


def _doc() -> dict[str, Any]:
    """A hand-made pipeline document: QQQ-like, strikes 300..560 every 5, GEX in the 1e7..1e9
    range (the magnitudes that used to print a ``1e9`` offset), a $330 and a $520 cluster far
    outside the ±12% window."""
    strikes = [300.0 + 5 * i for i in range(53)]
    by_strike = [
        {
            "strike": k,
            "gex_usd_per_1pct": (k - SPOT) * 3.1e7,
            "call_oi": 120_000.0 if k == 520 else 2_000.0 + 10 * i,
            "put_oi": 150_000.0 if k == 330 else 1_500.0 + 7 * i,
        }
        for i, k in enumerate(strikes)
    ]
    levels = [SPOT * (0.85 + 0.003 * i) for i in range(101)]
    return {
        "underlying": "QQQ",
        "analysis": {
            "spot": SPOT,
            "by_strike": by_strike,
            "levels": {"zero_gamma": 417.0, "call_wall": 420.0, "put_wall": 415.0},
            "profile": {
                "levels": levels,
                "gex_usd_per_1pct": {
                    "all": [(x - SPOT) * 4e7 for x in levels],
                    "ex_0dte": [(x - SPOT) * 3e7 for x in levels],
                },
            },
            "by_expiry": [
                {"expiry": f"2024-04-{d:02d}", "max_pain": 400.0 + d} for d in (5, 12, 19, 26)
            ],
            "vol": {
                "smile": [
                    {"expiry": "2024-04-05", "strike": k, "call_iv": 0.2 + abs(k - SPOT) / 2000}
                    for k in strikes[15:40]
                ],
                "atm_term_structure": [["2024-04-05", 0.18], ["2024-04-12", 0.185]],
                "skew_term_structure": [["2024-04-05", -0.04], ["2024-04-12", -0.035]],
            },
            "surfaces": {
                "spot_levels": [SPOT * (0.95 + 0.01 * i) for i in range(11)],
                "times": ["2024-03-15T14:00", "2024-03-15T16:00", "2024-03-15T20:00"],
                "dx_shares": [[2.0e7 + 1e6 * i + 4e6 * j for i in range(11)] for j in range(3)],
                "gx_shares_per_usd": [[(i - 6) * 3.0e4 + j for i in range(11)] for j in range(3)],
            },
        },
        "flow": {"net_by_strike": [{"strike": k, "net_usd": (k - SPOT) * 1e5} for k in strikes]},
        "oi": {
            "change_session": "2024-03-14",
            "change_by_strike": [
                {"strike": k, "call_oi_change": 50.0 * i, "put_oi_change": -40.0 * i}
                for i, k in enumerate(strikes)
            ],
        },
    }


STRIKE_BUILDERS = (
    gex_chart,
    oi_chart,
    oi_change_chart,
    net_premium_chart,
    profile_chart,
    max_pain_chart,
    smile_chart,
)


# --------------------------------------------------------------------------- formats


def test_money_tick_hand_worked() -> None:
    assert money_tick(0) == "$0"
    assert money_tick(750) == "$750"
    assert money_tick(2_500_000) == "$2.5M"
    assert money_tick(-1_234_000_000) == "-$1.23B"
    assert money_tick(12_500) == "$12.5K"
    assert money_tick(999_950) == "$1M"  # rounds up a unit, never "$1000K"
    assert money_tick(999_400) == "$999K"
    assert money_tick(3e12) == "$3T"
    assert money_tick(1e7) == "$10M" and money_tick(1e9) == "$1B"


def test_count_price_iv_ticks_hand_worked() -> None:
    assert [count_tick(v) for v in (0, 5, 750, 1_500, 12_500, -3e6, 2.5e9)] == [
        "0",
        "5",
        "750",
        "1.5K",
        "12.5K",
        "-3M",
        "2.5B",
    ]
    assert price_tick(5100.0) == "$5,100" and price_tick(417.5) == "$417.5"
    assert price_tick(12.25) == "$12.25" and price_tick(420) == "$420"
    assert iv_tick(0.155) == "15.5%" and iv_tick(0.2) == "20%" and iv_tick(-0.035) == "-3.5%"
    assert iv_tick(0.0) == "0%"


def test_nice_ticks_hand_worked() -> None:
    assert nice_ticks(380.0, 470.0, 6) == [380.0, 400.0, 420.0, 440.0, 460.0]
    assert nice_ticks(0.0, 1.0, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(-1.6e6, 3.2e6, 7) == [-1e6, 0.0, 1e6, 2e6, 3e6]


def test_strike_axis_range_margin() -> None:
    # span 100, 4% margin = 4; a strike step of 10 asks for 7.5, which wins
    assert strike_axis_range([400, 500, None, "x"], step=10) == (392.5, 507.5)
    assert strike_axis_range([400, 500]) == (396.0, 504.0)
    assert strike_axis_range([420.0]) == (415.8, 424.2)  # one value: 1% either side
    assert strike_axis_range([]) is None


# --------------------------------------------------------------------------- strike axis


@pytest.mark.parametrize("builder", STRIKE_BUILDERS, ids=lambda b: b.__name__)
def test_strike_axis_holds_spot_and_named_strikes(builder: Any) -> None:
    doc = _doc()
    old = builder(doc)  # the old call still works
    assert old is not None and strike_in_axis(old, SPOT)
    assert not strike_in_axis(old, 250.0)
    c = builder(doc, must_show_strikes=[330.0, 520.0, 250.0])
    assert c.must_show_strikes == [330.0, 520.0, 250.0]
    lo, hi = c.strike_range
    for k in (330.0, 520.0, 250.0, SPOT):
        assert strike_in_axis(c, k) and lo < k < hi  # inside, with a margin
    # the drawn axis is exactly the recorded range
    fig = chart_figure(c)
    ax = fig.axes[0]
    drawn = ax.get_xlim() if c.strike_axis == "x" else ax.get_ylim()
    assert drawn == pytest.approx(c.strike_range)


def test_window_widens_to_named_strikes() -> None:
    doc = _doc()
    assert 330.0 not in gex_chart(doc).x  # ±12% of 419.36 starts at 369
    c = gex_chart(doc, must_show_strikes=[330.0, 520.0])
    assert 330.0 in c.x and 520.0 in c.x
    oc = oi_chart(doc, must_show_strikes=[330.0])
    i = oc.x.index(330.0)
    assert oc.series[1]["values"][i] == -150_000.0  # the $330 put cluster is drawn


def test_gex_window_holds_the_marked_walls() -> None:
    doc = _doc()
    doc["analysis"]["levels"]["put_wall"] = 330.0  # a wall far outside ±12% of spot
    c = gex_chart(doc)
    assert 330.0 in c.x and strike_in_axis(c, 330.0)


def test_marker_label_near_the_right_edge_turns_left() -> None:
    doc = _doc()
    doc["analysis"]["levels"]["call_wall"] = 560.0  # the last strike: the label would run out
    c = gex_chart(doc)
    fig = chart_figure(c)
    assert _all_text_problems(fig) == []
    assert any(
        t.get_ha() == "right" and "call wall $560" in t.get_text() for t in fig.axes[0].texts
    )
    assert 'text-anchor="end" class="mkl">call wall $560' in str(chart_svg(c))


def test_max_pain_leaves_out_expired_expiries() -> None:
    doc = _doc()
    doc["session"] = "2024-04-12"  # the 04-05 and 04-12 expiries are gone on the report day
    c = max_pain_chart(doc)
    assert c.x == ["2024-04-19", "2024-04-26"]
    doc["session"] = "2024-04-26"
    assert max_pain_chart(doc) is None


def test_no_strike_axis_builders_accept_keyword() -> None:
    c = skew_chart(_doc(), must_show_strikes=[330.0])
    assert c is not None and c.strike_axis == "" and c.strike_range is None


def test_axis_json_fields() -> None:
    from chainlens.report._model import Report, Section

    c = gex_chart(_doc(), must_show_strikes=[520.0])
    r = Report(kind="ticker", title="t", session="2024-03-15", sections=[Section("s", "S")])
    r.sections[0].charts.append(c)
    j = r.to_json()["sections"][0]["charts"][0]
    assert j["strike_axis"] == "x" and j["strike_range"][0] < SPOT < j["strike_range"][1]
    assert j["must_show_strikes"] == [520.0] and j["y_unit"] == "USD"


# --------------------------------------------------------------------------- heatmaps


def test_heatmap_colour_norm_symmetric_with_legend() -> None:
    from matplotlib.collections import QuadMesh

    for c in heatmap_charts(_doc(), must_show_strikes=[470.0]):
        assert strike_in_axis(c, 470.0) and strike_in_axis(c, SPOT)
        fig = chart_figure(c)
        ax = fig.axes[0]
        meshes = [m for m in ax.collections if isinstance(m, QuadMesh)]
        assert len(meshes) == 1
        norm = meshes[0].norm
        assert norm.vmin == pytest.approx(-norm.vmax) and norm.vmax > 0
        assert norm(0.0) == pytest.approx(0.5)  # zero is the middle of the diverging scale
        big = max(abs(v) for row in c.z for v in row)
        assert norm.vmax == pytest.approx(big)
        cbar = fig.axes[1]  # the colour bar, labelled with unit and sign meaning
        label = cbar.get_ylabel()
        assert c.z_unit.split()[0] in label and "+" in label and "−" in label
        svg = str(chart_svg(c))
        assert "shares" in svg and "0</text>" in svg


def test_heatmap_all_one_sign_still_centred_at_zero() -> None:
    (dx, _gx) = heatmap_charts(_doc())  # every DX value is positive
    mesh = next(m for m in chart_figure(dx).axes[0].collections if hasattr(m, "norm"))
    assert mesh.norm.vmin == pytest.approx(-mesh.norm.vmax)


# --------------------------------------------------------------------------- text on axes


def _all_text_problems(fig: Any) -> list[str]:
    """Offset text, scientific tick labels and overlapping tick labels on every Axes."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            off = axis.get_offset_text().get_text()
            if off:
                bad.append(f"offset text {off!r}")
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            for t in labels:
                if re.search(r"\de[+-]?\d|1e", t.get_text()):
                    bad.append(f"scientific tick {t.get_text()!r}")
            boxes = sorted(
                (t.get_window_extent(r) for t in labels),
                key=lambda b: b.x0 if axis is ax.xaxis else b.y0,
            )
            for a, b in zip(boxes, boxes[1:], strict=False):
                if axis is ax.xaxis and a.x1 > b.x0 + 0.5:
                    bad.append(f"x tick labels overlap at {a.x1:.0f}>{b.x0:.0f}")
                if axis is ax.yaxis and a.y1 > b.y0 + 0.5:
                    bad.append(f"y tick labels overlap at {a.y1:.0f}>{b.y0:.0f}")
        for t in [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]:
            if t.get_text().count("$") >= 2 and t.get_parse_math():
                bad.append(f"mathtext would eat the dollars of {t.get_text()!r}")
        # marker labels (spot, walls, zero gamma) stay inside the axes and never overlap
        ann = [t.get_window_extent(r) for t in ax.texts if t.get_visible()]
        frame = ax.get_window_extent(r)
        for a in ann:
            if a.x0 < frame.x0 - 1 or a.x1 > frame.x1 + 1:
                bad.append("marker label runs out of the axes")
        leg = ax.get_legend()
        if leg is not None and ax.get_title():
            if leg.get_window_extent(r).overlaps(ax.title.get_window_extent(r)):
                bad.append("legend overlaps the title")
        for i, a in enumerate(ann):
            for b in ann[i + 1 :]:
                if a.overlaps(b):
                    bad.append("marker labels overlap")
    return bad


def _hand_charts() -> list[Chart]:
    doc = _doc()
    out = [b(doc, must_show_strikes=[330.0, 520.0]) for b in STRIKE_BUILDERS]
    out += [skew_chart(doc), *heatmap_charts(doc)]
    return [c for c in out if c is not None]


@pytest.mark.parametrize("c", _hand_charts(), ids=lambda c: c.id)
def test_no_offset_text_no_overlaps(c: Chart) -> None:
    assert _all_text_problems(chart_figure(c)) == []


def test_spot_is_marked() -> None:
    for c in _hand_charts():
        if c.strike_axis != "x":
            continue
        ax = chart_figure(c).axes[0]
        assert any(t.get_text().startswith("spot $419.36") for t in ax.texts), c.id
        assert "spot $419.36" in str(chart_svg(c)), c.id


def test_close_markers_share_a_label() -> None:
    """Zero gamma $417, put wall $415, call wall $420 and spot sit within 2% of the axis:
    they share labels instead of printing on top of each other."""
    c = gex_chart(_doc())
    texts = [t.get_text() for t in chart_figure(c).axes[0].texts]
    assert len(texts) < 4 and all(s in " ".join(texts) for s in ("spot", "zero gamma", "wall"))


def test_risk_reversal_on_its_own_axis() -> None:
    c = skew_chart(_doc())
    fig = chart_figure(c)
    left, right = fig.axes[0], fig.axes[1]
    assert [ln.get_label() for ln in left.get_lines()] == ["ATM IV"]
    assert [ln.get_label() for ln in right.get_lines()] == ["RR 25Δ (right)"]
    lo, hi = right.get_ylim()
    assert lo < -0.04 and hi > -0.035 and hi < 0.0  # scaled to the RR, not to the ATM IV
    assert right.get_ylabel().startswith("25Δ risk reversal")


def test_svg_has_no_scientific_text() -> None:
    for c in _hand_charts():
        svg = str(chart_svg(c))
        texts = re.findall(r">([^<>]+)</text>", svg)
        assert texts and not [t for t in texts if re.search(r"\de[+-]?\d", t)], c.id


# --------------------------------------------------------------------------- real pipeline


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = build_tiny_store(tmp_path_factory.mktemp("charts") / "store")
    with Store(root) as st:
        run_local(st, D2)
        docs = {d["underlying"]: d for d in read_docs(st, D2)}
        market = read_market(st, D2)
    return docs, market


def test_every_report_chart_is_clean(tiny) -> None:  # type: ignore[no-untyped-def]
    docs, market = tiny
    n = 0
    for c in build_daily(market).charts():
        assert _all_text_problems(chart_figure(c)) == [], c.id
        n += 1
    for d in docs.values():
        spot = d["analysis"]["spot"]
        for lens in LENSES:
            for c in build_lens(d, lens).charts():
                assert _all_text_problems(chart_figure(c)) == [], c.id
                if c.strike_axis:
                    assert strike_in_axis(c, spot), c.id
                n += 1
    assert n >= 8


def test_named_strikes_from_the_model(tiny) -> None:  # type: ignore[no-untyped-def]
    """The strikes a lens's sentences quote, read from the figures they reference; passing
    them to the builders puts every one of them inside the chart's strike axis."""
    docs, _ = tiny
    d = docs["TST"]
    r = build_lens(d, "flow")
    ks = named_strikes(r)
    quoted = {k for sec in r.sections for s in sec.sentences for k in s.keys} | {
        k for s in r.header for k in s.keys
    }
    expect = sorted(
        {
            float(f.value)
            for k, f in r.figures.items()
            if k in quoted
            and f.fmt == "price"
            and ("strike" in f.label or "wall" in f.label)
            and f.value is not None
        }
        | {
            float(r.figures[k].value)
            for k in quoted
            if "zero_gamma" in k and r.figures[k].value is not None
        }
    )
    assert ks and set(expect) <= set(ks)
    for b in STRIKE_BUILDERS:
        c = b(d, must_show_strikes=ks)
        if c is not None and c.strike_axis:
            assert all(strike_in_axis(c, k) for k in ks), c.id


def test_fit_charts_to_text_draws_every_named_strike(tiny) -> None:  # type: ignore[no-untyped-def]
    docs, _ = tiny
    d = json.loads(json.dumps(docs["TST"]))
    spot = d["analysis"]["spot"]
    d["analysis"]["levels"]["put_wall"] = far = round(spot * 0.6)  # named, far outside
    outside_before = 0
    for lens in LENSES:
        r = build_lens(d, lens)
        ids = [c.id for c in r.charts()]
        if far in named_strikes(r):
            outside_before += sum(
                not strike_in_axis(c, far) for c in r.charts() if c.id in ("oi_by_strike", "smile")
            )
        fit_charts_to_text(r, d)
        assert [c.id for c in r.charts()] == ids  # same charts, same order
        ks = named_strikes(r)
        for c in r.charts():
            if c.strike_axis == "x":
                assert all(strike_in_axis(c, k) for k in ks), (lens, c.id)
    assert outside_before > 0  # the case the fit exists for
