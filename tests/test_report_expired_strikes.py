"""A report dated on an expiry day leaves that expiry's contracts out of every by-strike chart
and table (issue 10, deliverable 2), worked by hand on the tiny chain of
``test_pipeline_fixtures`` plus one series expiring on the report's own date.

Added series (expiry 2024-03-05 = the session D2, strike 100, gamma 0.05 as the live C/P 100):
OI(D1) C 900 / P 1,800, OI(D2) C 1,000 / P 2,000, volume C 7 / P 9 on D2.

* Live OI by strike (expiry 2024-03-08 only): 95: C 100 / P 400; 100: C 300 / P 500;
  105: C 200 / P 100. With the expired series strike 100 would read C 1,300 / P 2,500.
* Expired share of OI: 3,000 / (1,600 + 3,000) = 65.2 %.
* Live GEX at 100 (classic model, S = 102): (0.05·300 − 0.05·500)·100·102²·0.01 = −10·10,404.
* Live OI change (D2 − D1) at 100: C +50, P +50 (the expired series would add +100 / +200).
* Vol/OI table at 100 (within 5 % of 102): call vol 10 / OI 300, put vol 20 / OI 500.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from chainlens.pipeline import PipelineConfig, UnderlyingWindow, analyze_underlying
from chainlens.report import build_lens
from report_invariants import by_strike_checks, live_reference
from test_pipeline_fixtures import D1, D2, _chain


def _window() -> tuple[UnderlyingWindow, pa.Table]:
    h = _chain("TST", [D1, D2])
    rows = h.to_pylist()
    extra = []
    for r in rows:
        if r["strike"] == 100.0:
            oi = {(D1, "C"): 900, (D1, "P"): 1800, (D2, "C"): 1000, (D2, "P"): 2000}
            extra.append({**r, "expiry": D2, "symbol": f"TST240305{r['right']}00100000",
                          "open_interest": oi[(r["trade_date"], r["right"])],
                          "volume": (7 if r["right"] == "C" else 9) if r["trade_date"] == D2 else 0})  # fmt: skip
    hist = pa.Table.from_pylist(rows + extra, schema=h.schema)
    w = UnderlyingWindow(underlying="TST", session=D2, history=hist, trades=hist.slice(0, 0))
    today = hist.filter(pa.compute.equal(hist.column("trade_date"), pa.scalar(D2)))
    return w, today


@pytest.fixture(scope="module")
def doc_chain() -> tuple[dict, pa.Table]:  # type: ignore[type-arg]
    w, today = _window()
    return analyze_underlying(w, PipelineConfig()).doc, today


def _chart(r, cid):  # type: ignore[no-untyped-def]
    return next(c for s in r.sections for c in s.charts if c.id == cid)


def test_by_strike_charts_and_tables_leave_the_expiring_series_out(doc_chain) -> None:  # type: ignore[no-untyped-def]
    doc, _ = doc_chain
    assert doc["session"] == "2024-03-05"
    # the definitional totals keep every contract
    assert (
        doc["analysis"]["totals"]["call_oi"] == 1600 and doc["analysis"]["totals"]["put_oi"] == 3000
    )
    r = build_lens(doc, "flow")
    oi = _chart(r, "oi_by_strike")
    got = dict(
        zip(oi.x, zip(oi.series[0]["values"], oi.series[1]["values"], strict=True), strict=True)
    )
    assert got == {95.0: (100, -400), 100.0: (300, -500), 105.0: (200, -100)}
    assert "contracts expiring 2024-03-05 left out: 65.2% of OI" in oi.title
    gex = _chart(r, "gex_by_strike")
    assert dict(zip(gex.x, gex.series[0]["values"], strict=True))[100.0] == pytest.approx(
        -10 * 10404.0
    )
    assert "contracts expiring 2024-03-05 left out: GEX" in gex.title
    ch = _chart(r, "oi_change")
    got = dict(
        zip(ch.x, zip(ch.series[0]["values"], ch.series[1]["values"], strict=True), strict=True)
    )
    assert got[100.0] == (50, 50)
    t = next(t for s in r.sections for t in s.tables if t.id == "vol_oi_by_strike")
    cols = [c[0] for c in t.columns]
    rec = {row[0]: dict(zip(cols, row, strict=True)) for row in t.values}
    assert (rec[100.0]["call_volume"], rec[100.0]["call_oi"]) == (10, 300)
    assert (rec[100.0]["put_volume"], rec[100.0]["put_oi"]) == (20, 500)
    assert "left out" in t.title


def test_invariant_holds_and_catches_the_all_expiry_sums(doc_chain) -> None:  # type: ignore[no-untyped-def]
    doc, chain = doc_chain
    ref = live_reference(doc, chain)
    for lens in ("flow", "bias", "premium", "earnings"):
        assert by_strike_checks(build_lens(doc, lens), doc, ref) == []
    # the same report built from the all-expiry sums (as before issue 10) breaks the invariant
    a = {k: v for k, v in doc["analysis"].items() if k != "by_strike_live"}
    o = {k: v for k, v in doc["oi"].items() if k != "change_by_strike_live"}
    old = {**doc, "analysis": a, "oi": o}
    bad = by_strike_checks(build_lens(old, "flow"), old, ref)
    assert any("oi_by_strike call_oi at 100.0 is 1300" in b for b in bad), bad
    assert any("gex_by_strike at 100.0" in b for b in bad), bad
    assert any("oi_change" in b for b in bad), bad
    assert any("vol_oi_by_strike" in b for b in bad), bad


def test_no_live_version_when_nothing_expires() -> None:
    h = _chain("TST", [D1, D2])
    w = UnderlyingWindow(underlying="TST", session=D2, history=h, trades=h.slice(0, 0))
    doc = analyze_underlying(w, PipelineConfig()).doc
    assert "by_strike_live" not in doc["analysis"] and "change_by_strike_live" not in doc["oi"]
    r = build_lens(doc, "flow")
    assert "left out" not in _chart(r, "oi_by_strike").title
    assert dt.date.fromisoformat(doc["session"]) == D2
