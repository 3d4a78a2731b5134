"""OI changes, streaks, rolls, term structure, PCR: hand-built histories and the real OCC files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from chainlens import oi
from chainlens.schema import CHAIN, conform

S = [dt.date(2024, 3, d) for d in (4, 5, 6, 7, 8)]
CON = {  # symbol: (expiry, strike, right, OI per session, volume per session)
    "XYZ240315C00100000": (dt.date(2024, 3, 15), 100.0, "C", [5000, 5000, 4000, 3000, 2800], 400),
    "XYZ240419C00105000": (dt.date(2024, 4, 19), 105.0, "C", [100, 100, 900, 1800, 2000], 900),
    "XYZ240419C00120000": (dt.date(2024, 4, 19), 120.0, "C", [1000, 1300, 1600, 2000, 2000], 500),
    "XYZ240315P00090000": (dt.date(2024, 3, 15), 90.0, "P", [3000, 3000, 2500, 1500, 1400], 100),
}


def _history() -> pa.Table:
    rows = []
    for i, s in enumerate(S):
        for sym, (e, k, r, series, vol) in CON.items():
            rows.append(dict(trade_date=s, snapshot_ts=dt.datetime(s.year, s.month, s.day, 21, tzinfo=dt.UTC),
                             underlying="XYZ", root="XYZ", symbol=sym, expiry=e, settlement="PM", strike=k,
                             right=r, multiplier=100, open_interest=series[i], volume=vol, spot=100.0,
                             bid=1.0, ask=1.2))  # fmt: skip
    return conform(pa.Table.from_pylist(rows), CHAIN)


def test_overnight_change_timing_and_vol_oi() -> None:
    ch = oi.oi_changes(_history())
    row = [
        r for r in ch.to_pylist() if r["symbol"] == "XYZ240419C00105000" and r["trade_date"] == S[1]
    ][0]
    # SPEC: change attributed to D = OI(D+1) - OI(D) = 900 - 100, beside D's volume 900
    assert row["oi_change"] == 800 and row["volume"] == 900
    assert row["vol_oi"] == pytest.approx(9.0) and row["vol_oi_band"] == "5x_10x"
    last = [r for r in ch.to_pylist() if r["trade_date"] == S[-1]]
    assert all(r["oi_change"] is None for r in last)  # no D+1 yet
    assert row["avg_volume_5d"] == pytest.approx(900.0)


def test_accumulation_streak_needs_three_sessions_ending_now() -> None:
    acc = oi.accumulation(_history(), as_of=S[-1]).to_pylist()
    # 105C: changes 0, 800, 900, 200 -> streak 3 ending at the last known change (S[3])
    # 120C: changes 300, 300, 400, 0 -> the run ended: not reported
    assert [(r["symbol"], r["sessions"], r["oi_change"]) for r in acc] == [
        ("XYZ240419C00105000", 3, 1900)
    ]
    # as of S[3] the 120C run (300, 300 for sessions 0, 1 ... 400 for 2) is current
    acc3 = {r["symbol"]: r for r in oi.accumulation(_history(), as_of=S[3]).to_pylist()}
    assert (
        acc3["XYZ240419C00120000"]["sessions"] == 3
        and acc3["XYZ240419C00120000"]["oi_change"] == 1000
    )


def test_rolls_pairing_and_naked_close() -> None:
    rolls = oi.detect_rolls(_history(), as_of=S[-1]).to_pylist()
    kinds = {(r["kind"], r["from_strike"], r["to_strike"]) for r in rolls}
    # window 3: 100C 5000 -> 2800 (-2200) pairs with 105C 100 -> 2000 (+1900): bullish roll
    # 90P 3000 -> 1400 (-1600) with no later put rising: naked close
    assert kinds == {("bullish_roll", 100.0, 105.0), ("close", 90.0, None)}
    roll = [r for r in rolls if r["kind"] == "bullish_roll"][0]
    assert roll["contracts"] == 1900 and roll["to_expiry"] == dt.date(2024, 4, 19)
    # a stricter strike rule (no higher strike allowed) turns the roll into a close
    strict = oi.detect_rolls(_history(), as_of=S[-1], config=oi.OIConfig(roll_strike_up_pct=0.0))
    assert sorted(strict.column("kind").to_pylist()) == ["close", "close"]


def test_analyze_oi_composes() -> None:
    r = oi.analyze_oi(_history(), S[-1])
    assert r.summary["rolls"] == {"bullish_roll": 1, "close": 1}
    pcr = r.pcr.to_pylist()[0]
    assert pcr["pcr_oi"] == pytest.approx(1400 / 6800) and pcr["pcr_oi_band"] == "below_0.3"
    assert pcr["pcr_volume"] == pytest.approx(100 / 1800)
    top = r.clusters.to_pylist()[0]
    assert top["strike"] == 100.0 and top["oi"] == 2800
    shares = r.term.column("oi_share").to_pylist()
    assert sum(shares) == pytest.approx(1.0)
    assert set(r.term.column("expiry_class").to_pylist()) == {"quarterly", "monthly"}


def test_event_build_against_baseline() -> None:
    ev = pa.table(
        {"date": [dt.date(2024, 4, 18)], "ticker": ["XYZ"], "kind": ["earnings"], "note": [None]}
    )
    out = oi.event_oi_build(oi.oi_changes(_history()), ev).to_pylist()[0]
    assert out["target_expiry"] == dt.date(2024, 4, 19)
    # April: 105C +800+900+200 and 120C +300+300+400+0 -> 2,900; March: -2,200 - 1,600
    assert out["build"] == 2900 and out["baseline"] == -3800


@pytest.mark.realdata
@pytest.mark.parametrize("ticker", ["IWM", "QQQ", "SPY", "SPX"])
def test_occ_history_streaks_and_rolls_run(shared_data: Path, ticker: str) -> None:
    io = pytest.importorskip("chainlens.io")
    path = shared_data / "occ_oi_history" / f"{ticker}_history.json"
    h = pa.concat_tables([b.table for b in io.read_file(path) if b.kind == "chain"])
    sessions = sorted(set(h.column("trade_date").to_pylist()))
    r = oi.analyze_oi(h, sessions[-2])  # the last pull repeats the previous one (SOURCES.md)
    assert r.accumulation.num_rows > 0 and r.rolls.num_rows > 0
    assert set(r.rolls.column("kind").to_pylist()) <= {"bullish_roll", "bearish_roll", "close"}
    assert r.term.num_rows > 0 and r.pcr.column("pcr_volume").null_count == r.pcr.num_rows


@pytest.mark.realdata
def test_occ_iwm_pinned_streak_verified_from_json(shared_data: Path) -> None:
    io = pytest.importorskip("chainlens.io")
    path = shared_data / "occ_oi_history" / "IWM_history.json"
    raw = json.loads(path.read_text())
    pulls = ["18-8", "19-8", "20-8", "21-8"]
    series = [raw["days"][p]["2026-08-28"]["299.0"]["put_oi"] for p in pulls]
    steps = [b - a for a, b in zip(series, series[1:], strict=False)]
    assert all(
        s > max(100, 0.05 * a) for s, a in zip(steps, series, strict=False)
    )  # 3 growth steps
    before = raw["days"]["17-8"]["2026-08-28"]["299.0"]["put_oi"]
    assert series[0] - before <= max(100, 0.05 * before)  # ... and not four
    h = pa.concat_tables([b.table for b in io.read_file(path) if b.kind == "chain"])
    # baseline max(100, 5% OI) as hand-checked above; the expiry is 7 days out (min_dte off)
    acc = oi.accumulation(h, as_of=dt.date(2026, 8, 21), min_contracts=100, min_dte=0).to_pylist()
    row = [r for r in acc if r["symbol"] == "IWM260828P00299000"][0]
    assert row["sessions"] == 3 and row["oi_change"] == series[-1] - series[0]


def test_public_api() -> None:
    assert set(oi.__all__) == {n for n in dir(oi) if not n.startswith("_")} - {
        "annotations", "asdict", "dataclass", "field", "dt", "pa", "pc", "np", "Any",
        "Sequence", "InputError",
    }  # fmt: skip


def _with_stale_repeat() -> tuple[pa.Table, dt.date]:
    """The hand-built history plus a repeat of its last snapshot under the next date, volume
    unknown (what the OCC adapter produces from a history file's last pull)."""
    import pyarrow.compute as pc

    h = _history()
    last = h.filter(pc.equal(h["trade_date"], pa.scalar(S[-1], pa.date32())))
    rep = last.to_pylist()
    d = dt.date(2024, 3, 11)
    for r in rep:
        r.update(trade_date=d, volume=None)
    return pa.concat_tables([h, pa.Table.from_pylist(rep, schema=h.schema)]), d


def test_stale_repeat_session_is_flagged_and_skipped() -> None:
    from chainlens.oi._panel import build_panel

    h2, d = _with_stale_repeat()
    p = build_panel(h2)
    assert p.stale == [("XYZ", d)] and p.n_sessions.tolist() == [5]
    # the streaks and rolls are those of the history without the repeat (none of its changes
    # is an all-zero session): 105C streak of 3 ending at S[3] stays current
    acc = oi.accumulation(h2, as_of=d).to_pylist()
    assert [(r["symbol"], r["sessions"], r["oi_change"]) for r in acc] == [
        ("XYZ240419C00105000", 3, 1900)
    ]
    kinds = {(r["kind"], r["from_strike"]) for r in oi.detect_rolls(h2).to_pylist()}
    assert kinds == {(r["kind"], r["from_strike"]) for r in oi.detect_rolls(_history()).to_pylist()}
    ch = oi.oi_changes(h2)
    assert d not in set(ch.column("trade_date").to_pylist())
    # kept when asked, every change of S[-1] is then 0
    ch_all = oi.oi_changes(h2, drop_stale=False).to_pylist()
    assert {r["oi_change"] for r in ch_all if r["trade_date"] == S[-1]} == {0}


def test_unchanged_oi_after_a_session_without_volume_is_not_stale() -> None:
    from chainlens.oi._panel import build_panel

    h2, _ = _with_stale_repeat()
    rows = h2.to_pylist()
    for r in rows:
        r["volume"] = 0 if r["trade_date"] == S[-1] else r["volume"]
        if r["trade_date"] == dt.date(2024, 3, 11):
            r["volume"] = 0
    p = build_panel(pa.Table.from_pylist(rows, schema=h2.schema))
    assert p.stale == [] and p.n_sessions.tolist() == [6]


def test_accumulation_of_reads_every_config_field() -> None:
    """``accumulation_of`` is ``accumulation`` under an ``OIConfig``, ``drop_stale`` included
    (the accumulation scanner used to drop the field: a config keeping stale repeats was
    ignored there). Kept, the repeat's all-zero changes end the 105C streak."""
    from chainlens.oi import OIConfig

    h2, d = _with_stale_repeat()
    keep = OIConfig(drop_stale=False)
    assert oi.accumulation_of(h2, d, OIConfig()).equals(oi.accumulation(h2, as_of=d))
    assert oi.accumulation_of(h2, d, keep).equals(oi.accumulation(h2, as_of=d, drop_stale=False))
    assert [r["symbol"] for r in oi.accumulation_of(h2, d, OIConfig()).to_pylist()] == [
        "XYZ240419C00105000"
    ]
    assert oi.accumulation_of(h2, d, keep).num_rows == 0
    strict = OIConfig(streak_min_sessions=4)  # the 105C streak is 3 sessions long
    assert oi.accumulation_of(_history(), S[-1], strict).num_rows == 0
