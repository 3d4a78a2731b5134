"""Deep in-the-money and box/conversion-like trades leave the directional figures (issue 10):
hand-worked cases for the moneyness tags, the directional and delta-adjusted totals, the flip
on directional labels, and the notable-print rules (scaled minimum premium, live contract)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from chainlens import flow
from chainlens.flow import decompose_premium, enrich_trades, tag_moneyness, tag_synthetic
from test_flow_premium import T0, D, _chain, _trades

# spot 100; calls: K=80 is 20% ITM (deep by distance); K=95 has vendor delta 0.9 (deep by
# delta); K=105 OTM delta 0.3. Puts: K=112 is 12% ITM (deep); K=98 OTM delta -0.35.
_CH = [("XYZ240315C00080000", 80.0, "C", 0, 500), ("XYZ240315C00095000", 95.0, "C", 0, 500),
       ("XYZ240315C00105000", 105.0, "C", 0, 500), ("XYZ240315P00112000", 112.0, "P", 0, 500),
       ("XYZ240315P00098000", 98.0, "P", 0, 500)]  # fmt: skip
_DELTA = {"XYZ240315C00080000": 0.97, "XYZ240315C00095000": 0.9, "XYZ240315C00105000": 0.3,
          "XYZ240315P00112000": -0.95, "XYZ240315P00098000": -0.35}  # fmt: skip


def _chain_d() -> pa.Table:
    c = _chain(_CH)
    d = pa.array([_DELTA[s] for s in c.column("symbol").to_pylist()], pa.float64())
    return c.set_column(c.column_names.index("delta"), "delta", d)


def _book() -> pa.Table:
    # bid 1 / ask 2 (quote rule: at ask = bought, at bid = sold); premium = price*size*100
    return _trades([
        dict(strike=80.0, right="C", price=2.0, size=50, bid=1.0, ask=2.0, dt_ns=0),          # deep call bought 10,000
        dict(strike=95.0, right="C", price=2.0, size=10, bid=1.0, ask=2.0, dt_ns=10**9),      # deep (delta) call bought 2,000
        dict(strike=105.0, right="C", price=1.0, size=10, bid=1.0, ask=2.0, dt_ns=2 * 10**9), # OTM call sold 1,000
        dict(strike=112.0, right="P", price=2.0, size=20, bid=1.0, ask=2.0, dt_ns=3 * 10**9), # deep put bought 4,000
        dict(strike=98.0, right="P", price=2.0, size=5, bid=1.0, ask=2.0, dt_ns=4 * 10**9),   # OTM put bought 1,000
    ])  # fmt: skip


def test_moneyness_tags_hand_worked() -> None:
    t = tag_moneyness(_book(), _chain_d(), deep_itm_delta=0.85, deep_itm_pct=10.0)
    assert t.column("deep_itm").to_pylist() == [True, True, False, True, False]
    assert t.column("itm_pct").to_pylist() == pytest.approx([20.0, 5.0, -5.0, 12.0, -2.0])
    # |delta| * spot * size * 100
    assert t.column("delta_notional_usd").to_pylist() == pytest.approx(
        [0.97 * 100 * 50 * 100, 0.9 * 100 * 10 * 100, 0.3 * 100 * 10 * 100, 0.95 * 100 * 20 * 100,
         0.35 * 100 * 5 * 100]
    )  # fmt: skip


def test_directional_totals_leave_deep_itm_out() -> None:
    r = flow.analyze_flow(_book(), _chain_d())
    tot = r.totals
    # raw: bullish 12,000 (calls bought), bearish 1,000 + 5,000 = 6,000 -> net +6,000
    assert tot["net_usd"] == pytest.approx(12_000 - 1_000 - 5_000)
    # directional: deep 10,000 + 2,000 + 4,000 = 16,000 of 18,000 out; bullish 0, bearish
    # OTM call sold 1,000 + OTM put bought 1,000 -> net -2,000
    assert tot["deep_itm_usd"] == pytest.approx(16_000)
    assert tot["excluded_share"] == pytest.approx(16_000 / 18_000)
    assert tot["dir_net_usd"] == pytest.approx(-2_000)
    assert tot["dir_side_label"] == "bearish" and tot["side_label"] == "bullish"
    # naive: raw calls 13,000 vs puts 5,000 bullish; directional calls 1,000 vs puts 1,000 neutral
    assert tot["naive_label"] == "bullish" and tot["dir_naive_label"] == "neutral"
    assert tot["dir_naive_cp_ratio"] == pytest.approx(1.0)
    # delta-adjusted: bearish 0.3*100*10*100 + 0.35*100*5*100
    assert tot["delta_bearish_usd"] == pytest.approx(30_000 + 17_500)
    assert tot["delta_net_usd"] == pytest.approx(-47_500)
    assert r.totals["flip"] is False and tot["dir_flip"] is True  # flip rate uses dir_flip
    assert r.totals["flips"] == 1


def test_conversion_package_is_synthetic() -> None:
    # one instant: buy C100 / sell P100 (a synthetic) as a multi-leg package, plus a lone call
    t = _trades([
        dict(strike=100.0, right="C", price=2.0, size=10, bid=1.0, ask=2.0, dt_ns=0, condition="MLET"),
        dict(strike=100.0, right="P", price=1.0, size=10, bid=1.0, ask=2.0, dt_ns=0, condition="MLET"),
        dict(strike=105.0, right="C", price=2.0, size=1, bid=1.0, ask=2.0, dt_ns=10**9),
    ])  # fmt: skip
    e = enrich_trades(t)
    assert tag_synthetic(e).tolist() == [True, True, False]
    d = decompose_premium(e, by=()).to_pylist()[0]
    assert d["synthetic_usd"] == pytest.approx(3_000) and d[
        "dir_call_premium_usd"
    ] == pytest.approx(200)


def test_notable_prints_need_scaled_premium_and_a_live_contract() -> None:
    # a 0DTE-next-session print is dropped even when large; a small one is under the floor
    e_next = dt.date(2024, 3, 4)  # the session after Friday 2024-03-01
    t = _trades([
        dict(strike=101.0, right="C", price=5.0, size=100, bid=4.0, ask=5.0, dt_ns=0, expiry=e_next,
             symbol="XYZ240304C00101000"),                                                  # $50,000, expires next session
        dict(strike=102.0, right="C", price=5.0, size=100, bid=4.0, ask=5.0, dt_ns=10**9),  # $50,000 live
        dict(strike=103.0, right="C", price=1.0, size=1, bid=1.0, ask=2.0, dt_ns=2 * 10**9),  # $100
    ])  # fmt: skip
    r = flow.analyze_flow(t, _chain([]), config=flow.FlowConfig(notable_min_premium_usd=1_000.0))
    assert r.notable.column("strike").to_pylist() == [102.0]
    assert r.totals["notable_min_premium_usd"] == pytest.approx(max(1_000.0, 0.005 * 100_100))
    _ = (D, T0, np)
