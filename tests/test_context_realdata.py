"""Issue 19 price context on the real SPX history (``spx_daily_barchart``: 71 files, 69
sessions; the closes are each file's ``spot``). Hand references are computed here from the raw
JSON with plain Python (no chainlens code): the 20- and 50-session averages, the run of
sessions on one side, the 20-session efficiency-ratio trend score and realized vols; the
200-session figure must be n/a with its reason."""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from pathlib import Path

import pytest

import chainlens.market as market
from chainlens.report._context import closes_of
from chainlens.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

HOLIDAYS = {dt.date(2026, 4, 3), dt.date(2026, 5, 25)}


@pytest.fixture(scope="module")
def spx(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    d = shared_data / "spx_daily_barchart"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    raw = {}
    for p in sorted(d.glob("SPX_*.json")):
        j = json.loads(p.read_text())
        day = dt.date.fromisoformat(j["date"])
        if day not in HOLIDAYS:
            raw[day] = float(j["spot"])
    root = tmp_path_factory.mktemp("spxctx") / "store"
    with Store(root) as st:
        st.ingest_many(sorted(d.glob("SPX_*.json")))
    return root, raw


def test_spx_price_context_against_hand_reference(spx) -> None:
    root, raw = spx
    days = sorted(raw)
    last = days[-1]
    with Store(root, create=False, read_only=True) as st:
        ds, cs, src = closes_of(st, "SPX", last, st.table("bars"))
    assert src == "chain_spot" and ds == days
    assert cs == pytest.approx([raw[x] for x in days])
    pcx = market.price_context(ds, cs, ticker="SPX", source=src)
    c = [raw[x] for x in days]
    assert pcx["sessions"] == len(c) == 69
    sma = {b["window"]: b for b in pcx["sma"]}
    # 200: n/a with the reason
    assert (
        sma[200]["sma"] is None and sma[200]["reason"] == "needs 200 sessions of closes, 69 stored"
    )
    for n in (20, 50):
        ref = sum(c[-n:]) / n
        assert sma[n]["sma"] == pytest.approx(ref)
        assert sma[n]["distance_pct"] == pytest.approx((c[-1] / ref - 1) * 100)
        # the run: walk back while each day's close is on today's side of its own average
        side = c[-1] > ref
        run = 0
        for i in range(len(c) - 1, n - 2, -1):
            a = sum(c[i - n + 1 : i + 1]) / n
            if (c[i] > a) == side and c[i] != a:
                run += 1
            else:
                break
        assert sma[n]["sessions_on_side"] == run
        assert sma[n]["side"] == ("above" if side else "below")
    seg = c[-21:]
    er = abs(seg[-1] - seg[0]) / sum(abs(b - a) for a, b in zip(seg, seg[1:], strict=False)) * 100
    assert pcx["regime"]["score"] == pytest.approx(er)
    rets = [math.log(b / a) for a, b in zip(c, c[1:], strict=False)]
    for v in pcx["realized_vol"]:
        assert v["value"] == pytest.approx(statistics.stdev(rets[-v["window"] :]) * math.sqrt(252))
    assert pcx["change_pct"] == pytest.approx((c[-1] / c[-2] - 1) * 100)


def test_regime_measure_is_defined_in_its_docstring() -> None:
    doc = market.trend_score.__doc__ or ""
    for word in ("efficiency ratio", "dominant", "range", "regime_window", "40"):
        assert word in doc
    assert "Kaufman" in doc


def test_spx_daily_report_price_section(spx) -> None:
    """The daily report's words on the real history: 20 and 50 computed, 200 n/a with why."""
    from chainlens.report._context import market_context
    from chainlens.report.daily import build_daily
    from chainlens.runners.local import read_docs, read_market, run_local
    from report_invariants import daily_checks

    root, raw = spx
    last = sorted(raw)[-1]
    with Store(root) as st:
        run_local(st, last)
        docs = read_docs(st, last)
        m = read_market(st, last)
        ctx = market_context(st, last, docs, m)
    r = build_daily({**m, "context": ctx})
    assert not daily_checks(r, {**m, "context": ctx})
    texts = [s.text for s in r.section("price_context").sentences]
    assert "SPX 200-session average: n/a (69 closes stored; needs 200)." in texts
    for n in (20, 50):
        ref = sum(sorted(raw.items())[-n + i][1] for i in range(n)) / n
        assert r.figures[f"px.SPX.sma{n}"].value == pytest.approx(ref)
        assert any(t.startswith(f"SPX {n}-session average $") for t in texts)
    assert any("trend score" in t and "efficiency ratio" in t for t in texts)
    dm = [s.text for s in r.section("dealer_mechanics").sentences]
    assert any(
        t.startswith("SPX: nearest positive gamma") or t.startswith("SPX: no positive gamma")
        for t in dm
    )
