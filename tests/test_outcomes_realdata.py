"""Outcome tracking on the real SPX history (``spx_daily_barchart``: 71 files, 69 sessions).

The per-expiry max pains and the pin hits are checked against a hand computation written here
from the raw JSON (no chainlens code): for each stored session E after the first, the max pain
of expiry E in the previous session's file is the listed strike X minimising
``sum_calls OI * max(0, X - K) + sum_puts OI * max(0, K - X)`` (ties to the lowest), an expiry
listing no call OI or no put OI is skipped, and a hit is ``|close(E) - MP| <= 0.3% * MP``; the
baseline is ``|close(E) - close(E-1)| <= 0.3% * close(E-1)``; ``close`` is the file's ``spot``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainlens.cli import app
from chainlens.outcomes import RULES, level_history, measure_outcomes
from chainlens.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

#: Exchange holidays inside the history's range (NYSE 2026: Good Friday, Memorial Day); the
#: saving job wrote a file on both, which is not a session's close.
HOLIDAYS = {dt.date(2026, 4, 3), dt.date(2026, 5, 25)}
TOL = 0.003


@pytest.fixture(scope="module")
def spx_dir(shared_data: Path) -> Path:
    d = shared_data / "spx_daily_barchart"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.fixture(scope="module")
def spx_store(spx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spx") / "store"
    with Store(root) as st:
        res = st.ingest_many(sorted(spx_dir.glob("SPX_*.json")))
    assert sum(r.status == "ingested" for r in res) == 69
    return root


def _hand_pins(spx_dir: Path) -> tuple[list[dict], int]:
    files = {}
    for p in sorted(spx_dir.glob("SPX_*.json")):
        raw = json.loads(p.read_text())
        d = dt.date.fromisoformat(raw["date"])
        if d not in HOLIDAYS:
            files[d] = raw
    sessions = sorted(files)
    assert len(sessions) == 69
    events, one_sided = [], 0
    for prev, e in zip(sessions[:-1], sessions[1:], strict=True):
        rows = files[prev]["expiries"].get(e.isoformat())
        if not rows:
            continue
        calls = [(r["strikePrice"], r["openInterest"]) for r in rows if r["optionType"] == "Call"]
        puts = [(r["strikePrice"], r["openInterest"]) for r in rows if r["optionType"] == "Put"]
        if sum(oi for _, oi in calls) == 0 or sum(oi for _, oi in puts) == 0:
            one_sided += 1
            continue
        best, best_pain = None, None
        for x in sorted({r["strikePrice"] for r in rows}):
            pain = sum(oi * max(0.0, x - k) for k, oi in calls) + sum(
                oi * max(0.0, k - x) for k, oi in puts
            )
            if best_pain is None or pain < best_pain:
                best, best_pain = x, pain
        close, prev_close = files[e]["spot"], files[prev]["spot"]
        events.append(
            {
                "session": e.isoformat(),
                "max_pain": float(best),
                "close": close,
                "hit": abs(close - best) <= TOL * best,
                "baseline_hit": abs(close - prev_close) <= TOL * prev_close,
            }
        )
    return events, one_sided


def test_pin_equals_hand_computation(spx_dir: Path, spx_store: Path) -> None:
    hand, one_sided = _hand_pins(spx_dir)
    with Store(spx_store, create=False, read_only=True) as st:
        (res,) = measure_outcomes(st, underlyings=["SPX"], rules=["max_pain_pin"])
    j = res.to_json(detail=True)
    got = [
        {k: e[k] for k in ("session", "max_pain", "close", "hit", "baseline_hit")}
        for e in j["events"]
    ]
    assert got == hand
    assert j["skipped_one_sided"] == one_sided
    assert j["n"] == len(hand) and j["hits"] == sum(e["hit"] for e in hand)
    assert j["baseline_hits"] == sum(e["baseline_hit"] for e in hand)
    assert all(e["expiry"] == e["session"] for e in j["events"])
    assert (j["from"], j["to"]) == ("2026-02-20", "2026-05-29")


def test_every_rule_measured_with_its_n(spx_store: Path) -> None:
    r = CliRunner().invoke(app, ["outcomes", "--store", str(spx_store), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    keys = {"rule", "underlying", "from", "to", "n", "hits", "hit_rate", "baseline_hits",
            "baseline_rate", "ci95_low", "ci95_high"}  # fmt: skip
    assert len(rows) == len(RULES)  # one row per rule for the one underlying
    for row in rows:
        assert keys <= set(row)
        assert row["underlying"] == "SPX"
        if row["n"] == 0:  # no trades in this source: the flow rules have no events
            assert row["hit_rate"] is None and row["ci95_low"] is None
        else:
            assert row["hit_rate"] == pytest.approx(row["hits"] / row["n"])
            assert row["ci95_low"] <= row["hit_rate"] <= row["ci95_high"]
    by = {row["rule"]: row for row in rows}
    assert by["flow_label"]["n"] == 0
    # walls and gamma: every session with a next one and the level defined
    assert 60 <= by["walls"]["n"] <= 68
    # watch items: no stored report documents here, so every item comes from the chain; each
    # session with both walls watches both (plus any live accumulation or roll leg)
    w = by["watch_items"]
    assert w["from_report"] == 0 and w["n_walls"] == 2 * by["walls"]["n"]
    assert w["n"] == w["n_walls"] + w["n_contracts"]
    assert sum(w["status_counts"].values()) == w["n"]


def test_level_history_matches_single_session_levels(spx_store: Path) -> None:
    with Store(spx_store, create=False, read_only=True) as st:
        lv = level_history(st, "SPX", start=dt.date(2026, 5, 26), end=dt.date(2026, 5, 29))
    rows = lv.to_records()
    assert [r["session"] for r in rows] == ["2026-05-26", "2026-05-27", "2026-05-28", "2026-05-29"]
    runner = CliRunner()
    for row in rows[::3]:
        one = runner.invoke(
            app, ["levels", "SPX", "--date", row["session"], "--store", str(spx_store), "--json"]
        )
        doc = json.loads(one.stdout)
        assert doc["spot"] == row["spot"]
        for k in ("zero_gamma", "call_wall", "put_wall"):
            assert doc["levels"][k] == pytest.approx(row[k])
        mp = {e["expiry"]: e["max_pain"] for e in doc["by_expiry"]}
        assert mp[row["max_pain_expiry"]] == row["max_pain"]
    csv_out = runner.invoke(
        app, ["levels", "SPX", "--from", "2026-05-28", "--csv", "--store", str(spx_store)]
    )
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("underlying,session,spot,zero_gamma,call_wall,put_wall,max_pain")
    assert [ln.split(",")[1] for ln in lines[1:]] == ["2026-05-28", "2026-05-29"]


def test_walls_gamma_zone_hits_follow_their_definitions(spx_store: Path) -> None:
    """Recount the walls, gamma-regime and zone hits from the level history with the written
    definitions (docs/outcomes.md), in plain Python."""
    with Store(spx_store, create=False, read_only=True) as st:
        lv = level_history(st, "SPX")
        res = {
            r.rule: r
            for r in measure_outcomes(
                st, underlyings=["SPX"], rules=["walls", "gamma_regime", "expected_move_zone"]
            )
        }
    rows = lv.levels.to_pylist()
    close = [r["spot"] for r in rows]
    walls = [
        (r["put_wall"] <= close[i + 1] <= r["call_wall"],
         abs(close[i + 1] - close[i]) <= (r["call_wall"] - r["put_wall"]) / 2)
        for i, r in enumerate(rows[:-1])
        if r["put_wall"] is not None and r["call_wall"] is not None
    ]  # fmt: skip
    w = res["walls"]
    assert (w.n, w.hits, w.baseline_hits) == (
        len(walls),
        sum(h for h, _ in walls),
        sum(b for _, b in walls),
    )
    idx = [i for i in range(1, len(rows) - 1) if rows[i]["zero_gamma"] is not None]
    nxt = {i: abs(close[i + 1] / close[i] - 1) for i in idx}
    m = sorted(nxt.values())[len(idx) // 2] if len(idx) % 2 else (
        sorted(nxt.values())[len(idx) // 2 - 1] + sorted(nxt.values())[len(idx) // 2]) / 2  # fmt: skip
    g = res["gamma_regime"]
    hits = sum((close[i] < rows[i]["zero_gamma"]) == (nxt[i] > m) for i in idx)
    base = sum((abs(close[i] / close[i - 1] - 1) > m) == (nxt[i] > m) for i in idx)
    assert (g.n, g.hits, g.baseline_hits) == (len(idx), hits, base)
    # zone: straddle of the first expiry after D-1 in D-1's snapshot
    ex = lv.expiries.to_pylist()
    z = res["expected_move_zone"]
    n = hits = 0
    for i in range(1, len(rows)):
        d0 = rows[i - 1]["session"]
        later = sorted((e["expiry"], e["straddle_mid"]) for e in ex
                       if e["session"] == d0 and e["expiry"] > d0)  # fmt: skip
        if not later or later[0][1] is None or later[0][1] <= 0:
            continue
        mid = later[0][1]
        n += 1
        hits += close[i - 1] - mid <= close[i] <= close[i - 1] + mid
    assert (z.n, z.hits) == (n, hits)
    assert 0.5 < z.baseline_rate < 0.6  # mostly next-day expiries: nominal 0.575
