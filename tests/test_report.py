"""Report model, narrative and renderers: golden figures on the hand-built store, the
"every number in the Markdown is in the model" property, escaping, strict JSON, charts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chainlens.report import (
    LENSES,
    FigureBook,
    build_daily,
    build_lens,
    chain_links,
    fmt_value,
    render,
    write_report,
)
from chainlens.report._narrative import MISSING, pcr_words, read_through
from chainlens.runners.local import read_docs, read_market, run_local
from chainlens.store import Store
from test_pipeline_fixtures import D1, D2, build_tiny_store


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = build_tiny_store(tmp_path_factory.mktemp("tinyr") / "store")
    with Store(root) as st:
        run_local(st, D2)
        docs = {d["underlying"]: d for d in read_docs(st, D2)}
        market = read_market(st, D2)
    return docs, market


def _texts(r) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(s.text for sec in r.sections for s in sec.sentences)


def test_fmt_value_cases() -> None:
    assert fmt_value(178.2e6, "money_signed") == "+$178.2M"
    assert fmt_value(-126.5e6, "money_signed") == "-$126.5M"
    assert fmt_value(1.53e9, "money") == "$1.5B"
    assert fmt_value(4500.0, "money_signed") == "+$4.5K"
    assert fmt_value(600.0, "price") == "$600" and fmt_value(714.51, "price") == "$714.51"
    assert fmt_value(0.375, "pct") == "37.5%" and fmt_value(-0.0598, "pct_signed") == "-6.0%"
    assert fmt_value(199.5e6, "shares") == "+199.5M"
    assert fmt_value(None, "ratio") == "n/a" and fmt_value(float("nan"), "money") == "n/a"


def test_sentence_keys_reference_figures() -> None:
    fb = FigureBook()
    k = fb.add("x", 1.2873, "ratio", "ratio", "P/C")
    s = fb.say("P/C {0}", k)
    assert s.text == "P/C 1.29" and s.keys == ["x"]


def test_flow_lens_golden(tiny) -> None:  # type: ignore[no-untyped-def]
    r = build_lens(tiny[0]["TST"], "flow")
    assert [s.id for s in r.sections] == [
        "flow_verdict", "flow_summary", "notable_prints", "institutional_positioning",
        "oi_signals", "signal_vs_noise", "key_conclusions",
    ]  # fmt: skip
    fs = _texts(r)
    # hand-worked: calls bought $2.2K + puts sold $3.8K - calls sold $1.5K = +$4.5K of $8.1K;
    # no contract is deep in the money (spot 102, strikes 95-105, |delta| < 0.85)
    assert "Directional net premium +$4.5K (bullish) of $8.1K traded" in fs
    assert "deep in the money and box/conversion-like premium is 0.0% of the total" in fs
    assert "P/C volume ratio: 0.75 — balanced call/put volume today" in fs
    assert "P/C OI ratio: 1.67 — put-heavy positioning (bearish) (single-name directional" in fs
    assert "naive call/put premium read says bearish, the side-adjusted read says bullish" in fs
    assert r.figures["totals.gex"].value == pytest.approx(-16 * 10404.0)
    assert r.figures["totals.gex"].unit == "USD per 1% move"
    assert r.figures["max_pain.0"].value == 100.0
    assert "Max pain over the next expiries: $100 (flat); spot is +2.0% from the nearest." in fs
    assert "(session 2024-03-04): $100 (2024-03-08) +50, $105 (2024-03-08) +50 contracts." in fs
    assert "Put additions" in [s.label for s in r.section("institutional_positioning").sentences]
    # the largest print (sold P100, $3,800) is under the $25K minimum notable premium
    rt = [s.text for s in r.section("notable_prints").sentences]
    assert rt == [
        "No print met the notable-print rules this session (minimum premium $25.0K, contract "
        "alive after the next session, not deep in the money)."
    ]
    # every sentence names its rule
    assert all(s.rule for sec in r.sections for s in sec.sentences)


def test_missing_data_said_plainly(tiny) -> None:  # type: ignore[no-untyped-def]
    r = build_lens(tiny[0]["NOTR"], "flow")
    np_ = r.section("notable_prints")
    assert np_.status == "no_data" and np_.sentences[0].text == MISSING["trades"]
    sn = r.section("signal_vs_noise")  # the chain alone gives Vol/OI and volume vs OI
    assert sn.status == "ok" and sn.tables[0].id == "vol_oi_by_strike"
    assert "Session volume 70 contracts against open interest 1,600 (4.4% of OI)." in _texts(r)
    pos = _texts(r)
    assert MISSING["history"] in pos
    assert "Missing inputs: " in pos
    e = build_lens(tiny[0]["NOTR"], "earnings")
    assert e.section("earnings_setup").status == "no_data"


@pytest.mark.parametrize("lens", LENSES)
def test_every_lens_builds_and_renders(tiny, lens: str) -> None:  # type: ignore[no-untyped-def]
    for doc in tiny[0].values():
        r = build_lens(doc, lens)
        j = json.loads(render(r, "json"))
        assert j["schema_version"] == "1" and j["lens"] == lens
        assert "<svg" in render(r, "html") or not r.charts()


def test_premium_and_earnings_lens_figures(tiny) -> None:  # type: ignore[no-untyped-def]
    p = build_lens(tiny[0]["TST"], "premium")
    assert p.figures["premium.atm_iv"].value == pytest.approx(0.2)
    assert p.figures["em.0"].value == pytest.approx((3.3 + 1.4) / 102)
    e = build_lens(tiny[0]["TST"], "earnings")
    assert e.figures["earn.oi_build"].value == 150
    assert e.figures["earn.implied"].value == pytest.approx((3.3 + 1.4) / 102)
    assert e.figures["earn.hist"].value == pytest.approx(0.015)
    # issue 19: the straddle is named (first expiry after the report) with its days
    assert re.search(
        r"Implied move 4\.6% from the 2024-03-08 straddle \(first expiry after the report, \d+ days, "
        r"ordinary volatility included\) vs historical mean earnings-day move 1\.5%\.",
        _texts(e),
    )


def test_daily_golden(tiny) -> None:  # type: ignore[no-untyped-def]
    r = build_daily(tiny[1])
    assert r.figures["side.net"].value == pytest.approx(4500.0)
    assert r.figures["side.naive_cp"].value == pytest.approx(3700 / 4400)
    assert r.figures["top.flip_rate"].value == pytest.approx(1.0)
    top = r.section("top_flow").tables[0]
    assert top.rows[0][:3] == ["TST", "bearish", "bullish"]
    z = r.section("zones").tables[0]
    assert [
        "TST",
        "$95.90",
        "$100",
        "$104.10",
        "$102",
        "+2.06%",
        "-5.98%",
        "+2.0%",
        "upper half",
    ] in z.rows
    assert "TST +2.0% to $102 (upper half of its expected-move zone)." in [s.text for s in r.header]
    assert r.section("darkpool").tables[0].rows[0][0] == "TST"  # accumulating
    assert "macro" not in [s.id for s in r.sections]
    assert any(s.label == "Disclaimer" for s in r.section("trade_structures").sentences)


_NUM = re.compile(r"[-+]?\$?\d(?:[\d,]*\d)?(?:\.\d+)?[KMBT%]?")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _allowed(r) -> str:  # type: ignore[no-untyped-def]
    parts = [f.display for f in r.figures.values()]
    parts += [c for sec in r.sections for t in sec.tables for row in t.rows for c in row]
    return "\n".join(parts)


def test_every_number_in_markdown_is_in_the_model(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reports = [build_lens(d, lens) for d in tiny[0].values() for lens in LENSES]
    reports.append(build_daily(tiny[1]))
    for r in reports:
        md = render(r, "md")
        model = json.dumps(r.to_json())
        allowed = _allowed(r)
        body = re.sub(
            r"seed 00\d|schema \d|\(rule: [a-z_0-9]+\)|band [a-z_0-9.]+|\]\([^)]*\)|25Δ|15Δ|_\d|per 1% move",
            " ",
            md,
        )
        dates = set(_ISO.findall(body))
        assert all(d in model for d in dates), r.title
        body = _ISO.sub(" ", body)
        for tok in _NUM.findall(body):
            assert tok in allowed, f"{r.title}: {tok!r} is not a model figure"


def test_html_is_escaped_and_offline(tiny) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(tiny[0]["TST"]))
    doc["underlying"] = "<script>alert(1)</script>"
    html = render(build_lens(doc, "flow"), "html")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html


def test_markdown_png_charts_written(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = build_lens(tiny[0]["TST"], "flow")
    out = write_report(r, tmp_path / "TST-flow.md", "md")
    pngs = sorted((tmp_path / "TST-flow_charts").glob("*.png"))
    assert len(pngs) == len(r.charts()) >= 4
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "](TST-flow_charts/gex_by_strike.png)" in out.read_text()


def test_chain_links() -> None:
    links = chain_links(D2, [D1, D2], "SPY-flow")
    assert links["older"] == "../2024-03-04/SPY-flow.html" and "newer" not in links
    assert chain_links(D1, [D1, D2], "daily", "md")["newer"] == "../2024-03-05/daily.md"


def test_narrative_rules() -> None:
    assert pcr_words(2.98, "volume").startswith("heavy put-dominant")
    assert pcr_words(None, "oi") == "not available"
    p = {
        "right": "P",
        "side": "buy",
        "otm_pct": 3.0,
        "dte_days": 6,
        "expiry_class": "weekly",
        "premium_usd": 2e6,
    }
    rt = read_through(p)
    assert rt[0].startswith("customers bought short-dated") and "not an expiration-day pin" in rt[1]
    assert read_through({**p, "premium_usd": 5e4}) == [
        "too small to move positioning; treat as noise unless follow-up blocks appear"
    ]


def test_public_api_guard() -> None:
    import chainlens.report as rep

    assert sorted(rep.__all__) == sorted(
        [
            "FORMATS", "LENSES", "REPORT_SCHEMA_VERSION", "Chart", "Figure", "FigureBook", "Report",
            "Section", "Sentence", "Table", "build_daily", "build_lens", "chain_links", "chart_png",
            "chart_svg", "fmt_value", "render", "report_name", "write_index", "write_report",
            "write_session_reports",
        ]
    )  # fmt: skip
    assert all(hasattr(rep, n) for n in rep.__all__)


def test_sentence_keys_exist_in_figures(tiny) -> None:  # type: ignore[no-untyped-def]
    for r in [build_lens(d, lens) for d in tiny[0].values() for lens in LENSES] + [
        build_daily(tiny[1])
    ]:
        for sec in r.sections:
            for s in sec.sentences:
                for k in s.keys:
                    assert k in r.figures, (r.title, k)
                    assert r.figures[k].display in s.text or r.figures[k].display == "n/a"


def test_markdown_numbers_property_random_figures(tiny) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis: with random flow totals, ratios and GEX, every Markdown number is a figure."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base = tiny[0]["TST"]
    fin = st.floats(min_value=-5e9, max_value=5e9, allow_nan=False, allow_infinity=False)
    pos = st.floats(min_value=0.0, max_value=5e9, allow_nan=False, allow_infinity=False)
    ratio = st.one_of(st.none(), st.floats(min_value=0.0, max_value=50.0, allow_nan=False))

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(net=fin, total=pos, pcv=ratio, pco=ratio, gex=fin, lens=st.sampled_from(LENSES))
    def check(net: float, total: float, pcv, pco, gex: float, lens: str) -> None:  # type: ignore[no-untyped-def]
        doc = json.loads(json.dumps(base))
        doc["flow"]["totals"].update(net_usd=net, total_usd=total)
        doc["analysis"]["totals"].update(pc_volume_ratio=pcv, pc_oi_ratio=pco, gex_usd_per_1pct=gex)
        r = build_lens(doc, lens)
        allowed = _allowed(r)
        body = re.sub(
            r"seed 00\d|schema \d|band [a-z_0-9.]+|\]\([^)]*\)|25Δ|15Δ|_\d|per 1% move",
            " ",
            render(r, "md"),
        )
        for tok in _NUM.findall(_ISO.sub(" ", body)):
            assert tok in allowed, tok

    check()
