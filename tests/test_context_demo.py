"""Issue 19 on the demo market (simulator seed 7, the ``chainlens demo`` universe): the planted
SPY dark-pool program is listed with its slice count, every index has a nearest-positive-gamma
line, the example thesis checklist evaluates, the earnings lens's implied move is the straddle
of the first expiry after the report (hand-computed from the stored chain), and the daily
report's new words agree with their numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow.compute as pc
import pytest

from chainlens.market import INDEX_TICKERS
from chainlens.report._context import market_context, programs_of
from chainlens.report.daily import build_daily
from chainlens.runners.local import read_docs, read_market, run_local
from chainlens.sim import build_demo_market
from chainlens.store import Store
from chainlens.thesis import load_thesis
from report_invariants import daily_checks

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "thesis.toml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("demo7")
    man = build_demo_market(base / "sim", seed=7, underlyings=8, sessions=3)
    plant = next(s for s in man.scenarios if s["kind"] == "darkpool_distribution")
    root = base / "store"
    day = dt.date.fromisoformat(plant["sessions"][0])
    with Store(root) as st:
        st.ingest_many(man.all_paths())
        run_local(st, day)
    return root, day, plant, man


def test_planted_program_listed_with_its_slice_count(demo) -> None:
    root, day, plant, _ = demo
    with Store(root, create=False, read_only=True) as st:
        progs = programs_of(st, day)
    spy = [p for p in progs if p["ticker"] == plant["ticker"] and p["side"] == "sell"]
    assert spy, progs
    p = spy[0]
    truth = plant["details"]["slices"]
    assert abs(p["slices"] - truth) <= 2, (p["slices"], truth)
    # notional ~ planted shares x VWAP (a background print or two may join)
    assert p["notional_usd"] == pytest.approx(
        plant["details"]["program_shares"] * p["vwap"], rel=0.1
    )
    assert 0 < p["interval_s"] < 6.5 * 3600 / (truth - 1) * 1.5


def test_daily_sections_on_the_demo(demo) -> None:
    root, day, plant, _ = demo
    with Store(root, create=False, read_only=True) as st:
        docs = read_docs(st, day)
        m = read_market(st, day)
        ctx = market_context(st, day, docs, m, thesis=load_thesis(EXAMPLE))
    r = build_daily({**m, "context": ctx})
    assert not daily_checks(r, {**m, "context": ctx})
    idx = [t for t in INDEX_TICKERS if t in {d["underlying"] for d in docs}]
    dm = [s.text for s in r.section("dealer_mechanics").sentences]
    for t in idx:  # every index: a nearest-positive-gamma line (a band, or none in the grid)
        assert any(
            x.startswith(f"{t}: nearest positive gamma") or x.startswith(f"{t}: no positive gamma")
            for x in dm
        ), (t, dm)
        assert any(x.startswith(f"{t}: 0DTE GEX") for x in dm), (t, dm)
    dp = [s.text for s in r.section("darkpool").sentences]
    n = next(p["slices"] for p in ctx["programs"] if p["ticker"] == plant["ticker"])
    assert any(x.startswith(f"{plant['ticker']} sell") and f"{n} slices" in x for x in dp), dp
    # the example checklist evaluates: every condition is ✅, ❌ or n/a with a reason
    th = r.section("thesis_checklist").sentences
    assert len(th) == 1 + len(load_thesis(EXAMPLE).conditions)
    for s in th[1:]:
        assert s.text[0] in "✅❌—"
        if s.text.startswith("—"):
            assert "n/a (" in s.text
    # 2 sessions stored: the 20/50/200-session averages are n/a with the reason
    pc_ = r.section("price_context")
    assert any(
        "20/50/200-session averages: n/a (2 closes stored; needs 20, 50, 200)" in s.text
        for s in pc_.sentences
    )
    assert r.section("bottom_line").sentences
    # the editorial states the sign relation it reads
    ed = next(s for s in r.header if s.rule == "edit.head")
    ch, net, dpn = (r.figures[k].value for k in ("edit.change", "edit.net", "edit.dp"))
    if "contradicts" in ed.text:
        assert all((x > 0) != (ch > 0) for x in (net, dpn) if x)
    if "confirms the tape" in ed.text:
        assert all((x > 0) == (ch > 0) for x in (net, dpn) if x)


def test_gamma_band_by_hand(demo) -> None:
    """The positive-gamma band edge nearest spot, from the profile by hand (scalar walk)."""
    root, day, _, _ = demo
    with Store(root, create=False, read_only=True) as st:
        docs = {d["underlying"]: d for d in read_docs(st, day)}
        ctx = market_context(st, day, list(docs.values()), read_market(st, day))
    for g in ctx["gamma"]:
        a = docs[g["ticker"]]["analysis"]
        lv, gg, s = a["profile"]["levels"], a["profile"]["gex_usd_per_1pct"]["all"], a["spot"]
        pos = [i for i, v in enumerate(gg) if v is not None and v > 0]
        if not pos:
            assert g["positive_band"] is None
            continue
        j = min(pos, key=lambda i: abs(lv[i] - s))
        lo = hi = j
        while lo - 1 in pos:
            lo -= 1
        while hi + 1 in pos:
            hi += 1
        assert g["positive_band"]["low"] == lv[lo] and g["positive_band"]["high"] == lv[hi]
        edge = 0.0 if lv[lo] <= s <= lv[hi] else ((lv[hi] if lv[hi] < s else lv[lo]) / s - 1) * 100
        assert g["positive_band"]["distance_pct"] == pytest.approx(edge)


def test_earnings_implied_move_uses_the_post_event_expiry(demo) -> None:
    """Hand computation from the stored chain: the first expiry settling after the report,
    its ATM strike (nearest spot, ties lower), call mid + put mid over spot."""
    root, day, _, man = demo
    with Store(root, create=False, read_only=True) as st:
        ev = st.table("events").to_pylist()
        docs = {d["underlying"]: d for d in read_docs(st, day)}
        checked = 0
        for u, doc in docs.items():
            e = doc.get("earnings")
            if not e or not e.get("next_date") or e.get("implied_move_pct") is None:
                continue
            nxt = dt.date.fromisoformat(str(e["next_date"]))
            after = any(
                r["ticker"] == u and r["date"] == nxt and "after" in (r["note"] or "").lower()
                for r in ev
            )
            first = nxt + dt.timedelta(days=1) if after else nxt
            ch = st.chain(u, day)
            live = sorted({x for x in ch.column("expiry").to_pylist() if x > day and x >= first})
            assert str(e["post_expiry"])[:10] == live[0].isoformat()
            c = ch.filter(pc.equal(ch.column("expiry"), live[0])).to_pylist()
            spot = c[0]["spot"]
            ks = sorted({r["strike"] for r in c})
            k = min(ks, key=lambda x: (abs(x - spot), x))
            mids = {}
            for r in c:
                if r["strike"] == k and r["ask"] and r["ask"] > 0 and 0 <= r["bid"] <= r["ask"]:
                    mids.setdefault(r["right"], []).append((r["bid"] + r["ask"]) / 2)
            straddle = sum(sum(v) / len(v) for v in mids.values())
            assert e["implied_move_pct"] == pytest.approx(straddle / spot * 100, rel=1e-6)
            # the kink move by hand from the two ATM IVs
            t1 = (live[0] - day).days / 365.0
            if e.get("kink_method") == "pre_post" and e.get("kink_move_pct") is not None:
                v = (e["atm_iv"] ** 2 - e["pre_atm_iv"] ** 2) * t1
                assert e["kink_move_pct"] == pytest.approx(
                    math.sqrt(2 / math.pi) * math.sqrt(v) * 100
                )
                assert e["pre_expiry"] < e["post_expiry"]
            if e.get("kink_method") == "two_post" and e.get("kink_move_pct") is not None:
                t2 = (dt.date.fromisoformat(e["second_post_expiry"]) - day).days / 365.0
                w1, w2 = e["atm_iv"] ** 2 * t1, e["second_post_atm_iv"] ** 2 * t2
                v = w1 - (w2 - w1) / (t2 - t1) * t1
                assert e["kink_move_pct"] == pytest.approx(
                    math.sqrt(2 / math.pi) * math.sqrt(v) * 100
                )
            checked += 1
    assert checked, "no earnings name with a post-event expiry in the demo"
