"""Hand-worked cases of the seed-002 signal readers (report/_signals.py), the watch-list
follow-up (report/_watch.py), the chain-only net delta (scan.oi_delta) and the scanner settings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from chainlens.errors import ChainlensError
from chainlens.report._signals import (
    accumulation_signals,
    event_signals,
    flush_signals,
    pcr_divergence,
    roll_signals,
    term_reading,
)
from chainlens.report._watch import add_watch, classify, list_watch, remove_watch, watch_items
from chainlens.scan import ScanSettings, oi_delta, scan_netdelta


def _doc(**oi: object) -> dict:
    return {"session": "2024-03-08", "analysis": {"spot": 100.0, "totals": {}}, "oi": oi}


def test_rolls_and_naked_close_read_by_right() -> None:
    doc = _doc(rolls=[
        {"kind": "bullish_roll", "right": "C", "from_strike": 110.0, "from_expiry": "2024-03-15", "to_strike": 115.0,
         "to_expiry": "2024-05-17", "contracts": 960, "start_session": "2024-03-06", "end_session": "2024-03-08"},
        {"kind": "close", "right": "P", "from_strike": 90.0, "from_expiry": "2024-03-15", "contracts": -1200},
        {"kind": "close", "right": "C", "from_strike": 120.0, "from_expiry": "2024-03-15", "contracts": 300},
    ])  # fmt: skip
    got = roll_signals(doc)
    assert [(s["kind"], s["direction"], s["contracts"]) for s in got] == [
        ("naked_close", "exit_bearish", 1200.0),
        ("bullish_roll", "bullish", 960.0),
        ("naked_close", "exit_bullish", 300.0),
    ]
    roll = got[1]
    assert roll["watch"] == "thesis extended, keep" and got[0]["watch"] == "exit"
    assert roll["sessions"] == 2  # Wed -> Fri: two sessions later
    assert (roll["to_strike"], roll["to_expiry"]) == (115.0, "2024-05-17")


def test_deep_otm_put_build_needs_distance_at_start_and_bypassed_strikes() -> None:
    acc = [
        # 20% below the start spot (125): deep even though spot has fallen to 100 since
        {"right": "P", "strike": 100.0 * 0.8 * 1.25, "expiry": "2024-04-19", "sessions": 3, "oi_change": 500,
         "first_session": "2024-03-04", "symbol": "X1"},
        # 15% below spot 100, but a nearer strike of the same expiry built 200 (> 25% of 400)
        {"right": "P", "strike": 85.0, "expiry": "2024-05-17", "sessions": 3, "oi_change": 400, "symbol": "X2"},
        {"right": "P", "strike": 95.0, "expiry": "2024-05-17", "sessions": 3, "oi_change": 200, "symbol": "X3"},
        {"right": "C", "strike": 110.0, "expiry": "2024-04-19", "sessions": 4, "oi_change": 300, "symbol": "X4"},
        {"right": "C", "strike": 110.0, "expiry": "2024-03-08", "sessions": 4, "oi_change": 900, "symbol": "dead"},
    ]  # fmt: skip
    doc = _doc(accumulation=acc, spot_by_session={"2024-03-04": 125.0})
    got = {s["symbol"]: (s["kind"], s["direction"]) for s in accumulation_signals(doc)}
    assert got == {
        "X1": ("deep_otm_put_build", "bearish"),  # (125-100)/125 = 20% >= 12%; no nearer build
        "X2": ("accumulation", "bearish"),  # nearer build 200 >= 0.25*400
        "X3": ("accumulation", "bearish"),  # 5% below spot: not deep
        "X4": ("accumulation", "bullish"),
    }  # the contract expiring on the session is not live


def test_flush_needs_fraction_and_contracts() -> None:
    doc = _doc(changes=[
        {"right": "C", "strike": 110.0, "expiry": "2024-04-19", "oi_change": -300, "open_interest": 200},  # 300/500 = 60%
        {"right": "C", "strike": 115.0, "expiry": "2024-04-19", "oi_change": -300, "open_interest": 700},  # 30%
        {"right": "P", "strike": 90.0, "expiry": "2024-04-19", "oi_change": -60, "open_interest": 10},  # < 100 contracts
        {"right": "P", "strike": 95.0, "expiry": "2024-04-19", "oi_change": 500, "open_interest": 900},
    ])  # fmt: skip
    got = flush_signals(doc)
    assert len(got) == 1 and got[0]["strike"] == 110.0 and got[0]["direction"] == "exit_bullish"
    assert got[0]["fraction"] == pytest.approx(0.6) and got[0]["prior_oi"] == 500.0


def test_event_build_ratio_and_lean_before_the_event_only() -> None:
    ev = [
        {"kind": "FOMC", "date": "2024-03-20", "target_expiry": "2024-03-22", "build": 1200, "build_ratio": 2.0,
         "call_build": 300, "put_build": 900},
        {"kind": "CPI", "date": "2024-03-12", "target_expiry": "2024-03-15", "build": 900, "build_ratio": 4.0,
         "call_build": 450, "put_build": 450},  # after the session? no: 03-12 > 03-08, kept
        {"kind": "earnings", "date": "2024-03-01", "target_expiry": "2024-03-15", "build": 900, "build_ratio": 4.0,
         "call_build": 800, "put_build": 100},  # passed
        {"kind": "PPI", "date": "2024-03-14", "target_expiry": "2024-03-15", "build": 900, "build_ratio": 1.2,
         "call_build": 800, "put_build": 100},  # under 1.5x
    ]  # fmt: skip
    got = event_signals(_doc(events=ev))
    assert [(s["event"], s["direction"]) for s in got] == [("FOMC", "bearish"), ("CPI", "neutral")]


def test_pcr_divergence_both_ways() -> None:
    def d(pcr: float, cb: float, pb: float) -> dict:
        return {"session": "2024-03-08", "analysis": {"totals": {"pc_oi_ratio": pcr}},
                "flow": {"totals": {"dir_calls_bought_usd": cb, "dir_puts_bought_usd": pb}}}  # fmt: skip

    assert pcr_divergence(d(1.3, 70.0, 30.0))["direction"] == "bullish"  # 70% >= 60%
    assert pcr_divergence(d(0.5, 30.0, 70.0))["direction"] == "bearish"
    assert pcr_divergence(d(1.3, 50.0, 50.0)) is None
    assert pcr_divergence(d(0.85, 90.0, 10.0)) is None


def test_term_reading_patterns() -> None:
    term = [
        {"expiry": "2024-03-15", "oi": 100, "oi_share": 0.5},
        {"expiry": "2024-03-08", "oi": 1, "oi_share": 0.0},
    ]
    r = term_reading(
        _doc(term=term, term_signals=[{"weekly_concentration_expiries": ["2024-03-15"]}])
    )
    assert r["pattern"] == "weekly_concentration" and r["expiries"] == ["2024-03-15"]
    assert [t["expiry"] for t in r["table"]] == ["2024-03-15"]  # expired row left out
    assert (
        term_reading(
            _doc(term=term, term_signals=[{"skipped_near_term": True, "far_expiry": "2024-06-21"}])
        )["pattern"]
        == "skipped_near_term"
    )
    assert (
        term_reading(_doc(term=term, term_signals=[{"leaps_building": True}]))["pattern"]
        == "leaps_building"
    )
    assert term_reading(_doc(term=term, term_signals=[{}]))["pattern"] == "evenly_spread"


@pytest.mark.parametrize(
    ("then", "now", "rolled", "status"),
    [(1000, 950, False, "confirmed"), (1000, 900, False, "confirmed"), (1000, 899, False, "unwound"),
     (1000, 100, False, "closed"), (1000, None, False, "closed"), (1000, 1000, True, "rolled"),
     (None, 5, False, "confirmed")],
)  # fmt: skip
def test_followup_status(then: float | None, now: float | None, rolled: bool, status: str) -> None:
    assert classify(then, now, rolled) == status


def test_watch_items_from_signals() -> None:
    doc = _doc(
        accumulation=[{"right": "C", "strike": 110.0, "expiry": "2024-04-19", "sessions": 3, "oi_change": 300,
                       "oi_end": 800, "symbol": "XYZ240419C00110000"}],
        rolls=[{"kind": "bearish_roll", "right": "P", "from_strike": 90.0, "from_expiry": "2024-03-15", "to_strike": 85.0,
                "to_expiry": "2024-06-21", "contracts": 500, "from_symbol": "A", "to_symbol": "XYZ240621P00085000"}],
    )  # fmt: skip
    items = {i["symbol"]: i for i in watch_items(doc)}
    assert items["XYZ240419C00110000"]["oi_then"] == 800
    assert (
        items["XYZ240621P00085000"]["strike"] == 85.0
        and items["XYZ240621P00085000"]["source"] == "bearish roll"
    )


def test_user_watch_list_roundtrip(tmp_path: Path) -> None:
    class S:
        root = tmp_path

    assert list_watch(S) == []
    add_watch(S, "spy240621c00500000", added=dt.date(2024, 3, 8))
    add_watch(S, "SPY240621C00500000")  # no duplicate
    assert list_watch(S) == [{"symbol": "SPY240621C00500000", "added": "2024-03-08"}]
    with pytest.raises(ChainlensError, match="OSI"):
        add_watch(S, "SPY 500 call")
    with pytest.raises(ChainlensError, match="not on the watch list"):
        remove_watch(S, "QQQ240621C00400000")
    assert remove_watch(S, "SPY240621C00500000") == []


def _chain(rows: list[tuple]) -> pa.Table:
    cols = ["underlying", "trade_date", "symbol", "expiry", "open_interest", "delta", "multiplier"]
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})


def test_oi_delta_and_chain_only_netdelta() -> None:
    d1, d2, d3, e = (
        dt.date(2024, 3, 4),
        dt.date(2024, 3, 5),
        dt.date(2024, 3, 6),
        dt.date(2024, 4, 19),
    )
    ch = _chain([
        ("X", d1, "C1", e, 100, 0.5, 100), ("X", d2, "C1", e, 300, 0.5, 100), ("X", d3, "C1", e, 700, 0.6, 100),
        ("X", d2, "P1", e, 50, -0.4, 100), ("X", d3, "P1", e, 0, -0.3, 100),  # P1 listed on d2: starts from 0
    ])  # fmt: skip
    td = {(r["symbol"], r["trade_date"]): r["delta_shares"] for r in oi_delta(ch).to_dicts()}
    # C1: d2 +200 * 0.5 * 100 = 10,000; d3 +400 * 0.6 * 100 = 24,000
    # P1: d2 +50 * -0.4 * 100 = -2,000; d3 -50 * -0.3 * 100 = +1,500
    assert td == {
        ("C1", d2): 10_000.0,
        ("C1", d3): 24_000.0,
        ("P1", d2): -2_000.0,
        ("P1", d3): 1_500.0,
    }
    out = scan_netdelta(None, ch, d3, start=d1).to_pylist()
    # cumulative: d2 8,000; d3 8,000 + 25,500 = 33,500; increase 33,500 / 8,000 - 1 = 3.1875
    assert len(out) == 1 and out[0]["cum_delta_shares"] == pytest.approx(33_500.0)
    assert out[0]["increase"] == pytest.approx(3.1875)
    assert scan_netdelta(None, ch, d3, start=d1, min_increase=4.0).num_rows == 0


def test_scan_settings_reject_bad_values() -> None:
    with pytest.raises(ChainlensError, match="unusual_min_multiple"):
        ScanSettings(unusual_min_multiple=0)
    with pytest.raises(ChainlensError, match="netdelta_min_increase"):
        ScanSettings(netdelta_min_increase=-1)


def test_watch_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chainlens.cli import app
    from chainlens.cli._common import run_guarded
    from chainlens.store import Store

    store = tmp_path / "store"
    with Store(store):
        pass  # an empty store
    args = ["--store", str(store), "--json"]
    assert run_guarded(app, ["watch", "add", "SPY240621C00500000", *args]) == 0
    capsys.readouterr()
    assert run_guarded(app, ["watch", "list", *args]) == 0
    assert [i["symbol"] for i in json.loads(capsys.readouterr().out)] == ["SPY240621C00500000"]
    assert run_guarded(app, ["watch", "add", "SPY 500", *args]) == 2  # clear error, no traceback
    assert "not an OSI option symbol" in capsys.readouterr().err
    assert run_guarded(app, ["watch", "remove", "SPY240621C00500000", *args]) == 0
    assert run_guarded(app, ["watch", "frob", *args]) == 2
