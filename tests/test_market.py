"""Market rollups on hand-written per-ticker documents (seed 003 figures worked by hand)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from chainlens.market import DISCLAIMER, RULES, market_rollup, side_decomposition

D = dt.date(2024, 3, 5)


def _doc(
    u: str,
    cb: float,
    cs: float,
    pb: float,
    ps: float,
    *,
    dp: dict | None = None,
    pcr_band: str | None = None,
    rr: float | None = None,
) -> dict:  # type: ignore[type-arg]
    total = cb + cs + pb + ps
    bull, bear = cb + ps, cs + pb
    calls, puts = cb + cs, pb + ps
    naive = "bullish" if calls > puts else "bearish"
    side = "bullish" if bull > bear else "bearish"
    return {
        "underlying": u,
        "analysis": {
            "spot": 100.0,
            "totals": {"gex_usd_per_1pct": -1.0},
            "levels": {},
            "by_strike": [],
            "vol": {"expiries": [{"expiry": "2024-03-08", "atm_strike": 100.0, "range_50": [95.0, 105.0], "rr_25d": rr}]},
        },
        "flow": {
            "totals": {
                "calls_bought_usd": cb, "calls_sold_usd": cs, "puts_bought_usd": pb, "puts_sold_usd": ps,
                "mid_usd": 0.0, "unknown_usd": 0.0, "multileg_usd": 0.0, "total_usd": total,
                "call_premium_usd": calls, "put_premium_usd": puts, "trades": 10,
                "net_usd": bull - bear, "unknown_share": 0.0, "naive_label": naive, "side_label": side,
                "flip": naive != side,
            },
            "darkpool": dp,
        },
        "oi": {"pcr": {"pcr_oi_band": pcr_band}},
    }  # fmt: skip


def test_side_decomposition_sums_by_hand() -> None:
    docs = [_doc("AAA", 4.0e6, 4.1e6, 2.9e6, 2.4e6), _doc("BBB", 1.0e6, 0.0, 0.0, 0.0)]
    s = side_decomposition(docs)
    assert s is not None
    assert s["bullish_usd"] == pytest.approx(4.0e6 + 2.4e6 + 1.0e6)
    assert s["bearish_usd"] == pytest.approx(4.1e6 + 2.9e6)
    assert s["net_usd"] == pytest.approx(7.4e6 - 7.0e6)
    assert s["naive_cp_ratio"] == pytest.approx(9.1e6 / 5.3e6)
    assert side_decomposition([{"underlying": "X", "flow": None}]) is None


def test_flip_rate_and_labels() -> None:
    # AAA: calls 8.1M > puts 5.3M (naive bullish) but net -0.6M: flip ("call selling masquerade")
    docs = [
        _doc("AAA", 4.0e6, 4.1e6, 2.9e6, 0.4e6),
        _doc("BBB", 3.0e6, 0.0, 1.0e6, 0.0),
        _doc("CCC", 0.0, 0.0, 2.0e6, 0.0),
    ]
    m = market_rollup(docs, session=D)
    tf = m["top_flow"]
    assert (tf["flips"], tf["names"]) == (1, 3) and tf["flip_rate"] == pytest.approx(1 / 3)
    rows = {r["ticker"]: r for r in tf["rows"]}
    assert rows["AAA"]["signal"] == "call selling masquerade"
    assert rows["CCC"]["signal"] == "extreme bearish"
    conv = m["convergence"]
    rules = {x["rule"] for x in conv["bearish"] + conv["bullish"]}
    assert "extreme_ticker_flow" in rules
    assert all(x["rule"] and x["text"] for x in conv["bearish"] + conv["bullish"])


def test_sectors_default_map_and_override() -> None:
    docs = [_doc("XOM", 1.0e6, 0.0, 0.0, 0.0), _doc("ZZZZ", 0.0, 0.0, 1.0e6, 0.0)]
    m = market_rollup(docs, session=D)
    secs = {s["sector"]: s for s in m["sectors"]}
    assert secs["Energy"]["net_usd"] == pytest.approx(1.0e6) and secs["Other"][
        "net_usd"
    ] == pytest.approx(-1.0e6)
    m2 = market_rollup(
        docs, session=D, sectors=pa.table({"ticker": ["ZZZZ"], "sector": ["Widgets"]})
    )
    assert {s["sector"] for s in m2["sectors"]} == {"Energy", "Widgets"}
    assert secs["Energy"]["share_of_market"] == pytest.approx(0.5)


def test_structures_need_aligned_signals() -> None:
    dp = {"label": "accumulation", "confidence": 1.0, "net_usd": 1.0, "notional_usd": 2.0}
    docs = [
        _doc("AAA", 3.0e6, 0.0, 0.0, 0.0, dp=dp, pcr_band="0.3_0.7", rr=0.01),  # 4 bullish
        _doc("BBB", 3.0e6, 0.0, 0.0, 0.0, pcr_band="1.2_2.0"),  # opposing: none
    ]
    st = market_rollup(docs, session=D)["structures"]
    assert [s["ticker"] for s in st] == ["AAA"]
    s = st[0]
    assert (s["direction"], s["conviction"], s["long_strike"], s["short_strike"]) == (
        "bullish",
        4,
        100.0,
        105.0,
    )
    assert s["disclaimer"] == DISCLAIMER and len(s["signals"]) == 4
    assert RULES["structure_min_signals"] == 2


def test_macro_panel_only_with_input() -> None:
    docs = [_doc("AAA", 1.0, 0.0, 0.0, 0.0)]
    assert market_rollup(docs, session=D)["macro"] is None
    macro = pa.table(
        {"series": ["DXY", "DXY"], "date": [dt.date(2024, 3, 4), D], "value": [100.0, 99.1]}
    )
    panel = market_rollup(docs, session=D, macro=macro)["macro"]
    assert panel == [
        {"series": "DXY", "date": "2024-03-05", "value": 99.1, "change": pytest.approx(-0.9)}
    ]


def test_darkpool_lists() -> None:
    acc = {"label": "accumulation", "confidence": 0.9, "net_usd": 5.0, "notional_usd": 10.0}
    dist = {"label": "distribution", "confidence": 0.9, "net_usd": -7.0, "notional_usd": 10.0}
    low = {"label": "distribution", "confidence": 0.1, "net_usd": -1.0, "notional_usd": 10.0}
    docs = [
        _doc("SPY", 1, 0, 0, 0, dp=dist),
        _doc("JPM", 1, 0, 0, 0, dp=acc),
        _doc("LOW", 1, 0, 0, 0, dp=low),
    ]
    dp = market_rollup(docs, session=D)["darkpool"]
    assert [r["ticker"] for r in dp["accumulation"]] == ["JPM"]
    assert [r["ticker"] for r in dp["distribution"]] == ["SPY"]
    assert dp["low_confidence"] == ["LOW"] and dp["total_notional_usd"] == 30.0


def test_convergence_merges_per_index_inputs() -> None:
    from chainlens.market import convergence

    zones = [{"ticker": t, "status": "at_or_above_ceiling"} for t in ("SPX", "SPY", "AAPL")]
    dealers = [{"ticker": t, "gex_at_spot_usd_per_1pct": -1.0} for t in ("SPX", "SPY")]
    dp = {
        "accumulation": [{"ticker": "JPM"}, {"ticker": "MSFT"}],
        "distribution": [{"ticker": "SPY"}],
    }
    cv = convergence({"net_usd": -5.0}, {"rows": []}, dp, zones, dealers)
    bear = {x["rule"]: x["text"] for x in cv["bearish"]}
    assert (
        bear["zone_exhaustion"]
        == "SPX, SPY at or above the expected-move ceiling (zone exhaustion)"
    )
    assert (
        bear["negative_gamma_at_spot"]
        == "dealers short gamma at spot in SPX, SPY (moves amplified)"
    )
    assert bear["index_darkpool"] == "SPY dark-pool distribution"
    assert cv["bullish"] == [
        {
            "rule": "single_name_darkpool_accumulation",
            "tickers": ["JPM", "MSFT"],
            "text": "dark-pool accumulation in JPM, MSFT",
        }
    ]
    assert (cv["bearish_count"], cv["bullish_count"], cv["tilt"]) == (4, 1, "bearish")


def test_ticker_notes_verdicts() -> None:
    from chainlens.market import ticker_notes

    acc = {"label": "accumulation", "confidence": 1.0, "net_usd": 5.0, "notional_usd": 10.0}
    dist = {"label": "distribution", "confidence": 1.0, "net_usd": -5.0, "notional_usd": 10.0}
    up = {"price": 102.0, "mid": 100.0}
    a = _doc("AAA", 3e6, 0, 0, 0, dp=acc) | {"prior_zone": up}  # options + dp bullish
    b = _doc("BBB", 0, 3e6, 0, 0, dp=dist) | {"prior_zone": up}  # both bearish
    c = _doc("CCC", 0, 2e6, 0, 0) | {"prior_zone": up}  # bearish options, price up
    e = _doc("EEE", 1e6, 0, 0, 0, dp=dist) | {"prior_zone": up}  # disagree
    notes = {n["ticker"]: n for n in ticker_notes([a, b, c, e, _doc("SPY", 9e9, 0, 0, 0)])}
    assert "SPY" not in notes
    assert notes["AAA"]["verdict"] == "aligned_up" and notes["BBB"]["verdict"] == "aligned_down"
    assert notes["CCC"]["verdict"] == "distribution_into_strength"
    assert notes["EEE"]["verdict"] == "contested"
    assert notes["AAA"]["change_pct"] == pytest.approx(2.0)
