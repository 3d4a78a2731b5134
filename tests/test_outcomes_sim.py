"""Outcome tracking recovers planted effects on simulated history, and finds none where none is.

A small simulated market (one underlying, 36 sessions, daily expiries) is written to a real
store. Every session lists the next session's expiry with a large straddle open interest at a
strike ``K*`` (so its max pain is ``K*``) over a thin uniform background.

* **planted pin**: the close on each expiry day lands within 0.1% (1 sd) of ``K*``;
  ``K*`` sits a random 1.5% (1 sd) away from the previous close;
* **no edge**: the close follows a 1%-a-day random walk, independent of ``K*``.

The max-pain pin must beat its baseline (the previous close) on every seed where it is
planted, and must not where it is not. Wilson intervals are checked against SciPy.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

from chainlens.calendar import next_session, sessions_in_range
from chainlens.cli import app
from chainlens.cli._common import run_guarded
from chainlens.outcomes import RULE_NAMES, RULES, measure_outcomes, wilson_interval
from chainlens.store import Store
from chainlens.symbols import format_osi

N_SESSIONS = 36


def _chain(d: dt.date, expiry: dt.date, spot: float, kstar: float) -> pa.Table:
    """One snapshot: strikes spot +- 10% on a 1-point grid, calls and puts, OI mass at K*."""
    strikes = np.arange(np.floor(spot * 0.9), np.ceil(spot * 1.1) + 1.0)
    n = strikes.size
    k = np.concatenate([strikes, strikes])
    right = ["C"] * n + ["P"] * n
    oi = np.full(2 * n, 10, dtype=np.int64)
    oi[np.isin(k, [kstar])] = 50_000
    snap = dt.datetime.combine(d, dt.time(21, 0), tzinfo=dt.UTC)
    intrinsic = np.where(np.array(right) == "C", np.maximum(spot - k, 0), np.maximum(k - spot, 0))
    mid = intrinsic + 0.5
    return pa.table(
        {
            "trade_date": pa.array([d] * (2 * n), pa.date32()),
            "snapshot_ts": pa.array([snap] * (2 * n), pa.timestamp("ns", tz="UTC")),
            "underlying": ["SIM"] * (2 * n),
            "root": ["SIM"] * (2 * n),
            "symbol": [
                format_osi("SIM", expiry, r, float(x)) for r, x in zip(right, k, strict=True)
            ],
            "expiry": pa.array([expiry] * (2 * n), pa.date32()),
            "settlement": ["PM"] * (2 * n),
            "strike": k,
            "right": right,
            "multiplier": pa.array([100] * (2 * n), pa.int64()),
            "bid": mid - 0.05,
            "ask": mid + 0.05,
            "volume": pa.array([0] * (2 * n), pa.int64()),
            "open_interest": oi,
            "iv": np.full(2 * n, 0.2),
            "spot": np.full(2 * n, spot),
        }
    )


def _market(root: Path, seed: int, planted: bool) -> None:
    rng = np.random.default_rng(seed)
    days = [d.astype(object) for d in sessions_in_range("2025-01-02", "2025-03-31")][:N_SESSIONS]
    spot, kstar = 100.0, None
    tables = []
    for d in days:
        if kstar is not None:
            spot = (
                kstar * (1 + rng.normal(0, 0.001)) if planted else spot * (1 + rng.normal(0, 0.01))
            )
        spot = round(spot, 4)
        kstar = float(np.round(spot * (1 + rng.normal(0, 0.015))))
        tables.append(_chain(d, next_session(d), spot, kstar))
    with Store(root) as st:
        st.add_tables({"chain": pa.concat_tables(tables)}, source=f"sim-{seed}-{planted}")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_pin_beats_baseline_and_no_edge_does_not(seed: int, tmp_path: Path) -> None:
    for planted in (True, False):
        root = tmp_path / f"s{int(planted)}"
        _market(root, seed, planted)
        with Store(root, create=False, read_only=True) as st:
            (r,) = measure_outcomes(st, rules=["max_pain_pin"])
        assert r.n == N_SESSIONS - 1  # every expiry after the first session
        assert all(e["max_pain"] == pytest.approx(e["max_pain"]) for e in r.events)
        lo, _ = wilson_interval(r.hits, r.n)
        if planted:
            assert r.hit_rate is not None and r.baseline_rate is not None
            assert lo is not None and lo > r.baseline_rate, r.to_json()
        else:
            assert r.hit_rate is not None and r.baseline_rate is not None
            assert not (lo is not None and lo > r.baseline_rate), r.to_json()
            assert r.hit_rate <= r.baseline_rate + 0.15


def test_max_pain_of_each_event_is_the_planted_strike(tmp_path: Path) -> None:
    """The planted K* dominates the payout sum, so the measured max pain is K* (hand rule)."""
    root = tmp_path / "s"
    _market(root, 7, True)
    with Store(root, create=False, read_only=True) as st:
        (r,) = measure_outcomes(st, rules=["max_pain_pin"])
        hist = st.chain_history("SIM", end=dt.date(2025, 12, 31))
    oi = hist.column("open_interest").to_numpy()
    big = hist.filter(pa.array(oi == 50_000))
    kstar = {(t, e): k for t, e, k in zip(big.column("trade_date").to_pylist(),
                                          big.column("expiry").to_pylist(),
                                          big.column("strike").to_pylist(), strict=True)}  # fmt: skip
    for e in r.events:
        assert e["max_pain"] == kstar[(e["max_pain_session"], e["expiry"])]


@pytest.mark.parametrize("hits,n", [(0, 1), (9, 31), (31, 31), (5, 200), (120, 200)])
def test_wilson_matches_scipy(hits: int, n: int) -> None:
    ci = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(hits, n)
    assert lo == pytest.approx(ci.low, abs=1e-12)
    assert hi == pytest.approx(ci.high, abs=1e-12)
    assert wilson_interval(0, 0) == (None, None)


def test_rules_are_data_with_definitions() -> None:
    assert len(set(RULE_NAMES)) == len(RULES)
    for r in RULES:
        assert r.claim and r.hit and r.baseline


def test_cli_outcomes_json_detail_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "s"
    _market(root, 3, True)
    runner = CliRunner()
    base = ["outcomes", "--store", str(root)]
    r = runner.invoke(app, [*base, "--rule", "max_pain_pin", "--json", "--detail"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert list(row)[:11] == ["rule", "underlying", "from", "to", "n", "hits", "hit_rate",
                              "baseline_hits", "baseline_rate", "ci95_low", "ci95_high"]  # fmt: skip
    assert len(row["events"]) == row["n"]
    ev = row["events"][0]
    assert {"session", "hit", "expiry", "max_pain"} <= set(ev)
    # a narrower range measures fewer expiries; --to is a hard edge
    r2 = runner.invoke(app, [*base, "--rule", "max_pain_pin", "--json", "--to", "2025-01-10"])
    (row2,) = json.loads(r2.stdout)
    # sessions Jan 2, 3, 6, 7, 8, 10 (markets closed Jan 9, 2025): 5 expiries after the first
    assert row2["to"] == "2025-01-10" and row2["n"] == 5
    # the table form states n beside every rate
    t = runner.invoke(app, [*base, "--rule", "walls", "--rule", "max_pain_pin"])
    assert t.exit_code == 0 and "max_pain_pin" in t.stdout and "95% CI" in t.stdout
    for bad, msg in (
        (["--rule", "nope"], "unknown rule 'nope'"),
        (["--from", "2025-02-30"], "--from must be an ISO date"),
        (["--from", "2025-03-01", "--to", "2025-02-01"], "is before --from"),
        (["--ticker", "QQQ"], "holds no chain of QQQ"),
        (["--tol", "3"], "--tol must be a fraction"),
    ):
        assert run_guarded(app, [*base, *bad]) == 2, bad
        assert msg in capsys.readouterr().err, bad
    assert run_guarded(app, ["outcomes", "--store", str(tmp_path / "none")]) == 2
    assert "no chainlens store" in capsys.readouterr().err


def test_docs_define_every_rule() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "outcomes.md").read_text()
    for name in RULE_NAMES:
        assert f"`{name}`" in doc, name


def test_what_worked_yesterday_checks_the_last_close(tmp_path: Path) -> None:
    from chainlens.outcomes import reliability_by_ticker, reliability_for, what_worked

    root = tmp_path / "s"
    _market(root, 5, True)
    with Store(root, create=False, read_only=True) as st:
        last = st.session_dates("SIM")[-1]
        checks = what_worked(st, last)
        (pin,) = measure_outcomes(st, rules=["max_pain_pin"])
        sentences = reliability_for("SIM", ["max_pain_pin", "rolls_held"], st)
        by = reliability_by_ticker(st, last, ["SIM"], ["max_pain_pin"])
    ev = pin.events[-1]
    (got,) = [c for c in checks if c["rule"] == "max_pain_pin"]
    assert got["outcome_session"] == last == ev["expiry"]
    assert got["hit"] == ev["hit"] and f"{ev['max_pain']:,.2f}" in got["text"]
    assert {c["rule"] for c in checks} >= {"max_pain_pin", "walls"}
    assert all(c["outcome_session"] == last for c in checks)
    assert sentences[0].startswith(f"max_pain_pin: {pin.hits} of {pin.n} expiries hit")
    assert sentences[1] == "rolls_held: no rolls to measure yet."
    assert by == {"SIM": {"max_pain_pin": sentences[0]}}
