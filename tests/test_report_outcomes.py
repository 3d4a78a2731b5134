"""Outcome tracking in the reports (issue 16, deliverables 3 and 4's chart): each lens's "Signal vs
Noise" states the measured reliability of the rules it fires with its n, the ticker reports chart
the level history, and the daily report has "What Worked Yesterday".

The store is the planted-pin simulation of ``test_outcomes_sim.py`` (36 sessions, one expiry
settling every session, spot pinned to the planted max-pain strike), run through the pipeline for
its last session.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chainlens.outcomes import MIN_EVENTS, measure_outcomes
from chainlens.report import write_session_reports
from chainlens.report._session import daily_report, ticker_report
from chainlens.runners.local import run_local
from chainlens.store import Store
from test_outcomes_sim import N_SESSIONS, _market


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.date]:
    root = tmp_path_factory.mktemp("outcomes") / "s"
    _market(root, 5, True)
    with Store(root) as st:
        last = st.session_dates("SIM")[-1]
        run_local(st, last)
    return root, last


def _section(report, id_):  # type: ignore[no-untyped-def]
    (s,) = [s for s in report.sections if s.id == id_]
    return s


def test_lens_states_pin_reliability_with_its_n(sim_store: tuple[Path, dt.date]) -> None:
    root, last = sim_store
    with Store(root, create=False, read_only=True) as st:
        (pin,) = measure_outcomes(st, end=last, underlyings=["SIM"], rules=["max_pain_pin"])
        flow = ticker_report(st, "SIM", last, "flow")
        premium = ticker_report(st, "SIM", last, "premium")
    # hand count: one expiry settles every session after the first
    assert pin.n == N_SESSIONS - 1 >= MIN_EVENTS
    for r in (flow, premium):
        sn = _section(r, "signal_vs_noise")
        (s,) = [s for s in sn.sentences if "max-pain pin" in s.text]
        assert s.rule == "sn.reliability"
        assert f"{pin.hits} of {pin.n} expiries hit" in s.text
        bh = int(pin.baseline_hits)
        assert f"baseline {bh} of {pin.n}" in s.text and "0.3%" in s.text
        assert [c.id for c in sn.charts].count("level_history") == 1
    # every rule the premium lens fires is stated, in its order
    rules = [s.rule for s in _section(premium, "signal_vs_noise").sentences]
    assert len([x for x in rules if x and x.startswith("sn.reliability")]) == 3


def test_small_n_says_too_small(sim_store: tuple[Path, dt.date]) -> None:
    """Walls need greeks' gamma walls; measured on a 4-session window n is below the minimum."""
    from chainlens.report import build_lens
    from chainlens.report._outcomes import session_outcomes
    from chainlens.runners.local import read_docs

    root, last = sim_store
    with Store(root, create=False, read_only=True) as st:
        oc = session_outcomes(st, last, ["SIM"])["by_ticker"]["SIM"]
        (doc,) = read_docs(st, last, "SIM")
    pin = next(r for r in oc["results"] if r["rule"] == "max_pain_pin")
    small = {**pin, "n": 4, "hits": 3, "baseline_hits": 1, "baseline_n": 4, "hit_rate": 0.75}
    results = [small if r["rule"] == "max_pain_pin" else r for r in oc["results"]]
    r = build_lens({**doc, "outcomes": {**oc, "results": results}}, "premium")
    (s,) = [s for s in _section(r, "signal_vs_noise").sentences if "max-pain pin" in s.text]
    assert s.rule == "sn.reliability_small"
    assert f"3 of 4 expiries hit, baseline 1 of 4; n = 4 is below {MIN_EVENTS}" in s.text
    assert "too small to say anything" in s.text
    # the level chart spans the stored sessions up to the report session
    (c,) = [c for c in _section(r, "signal_vs_noise").charts if c.id == "level_history"]
    assert len(c.x) == N_SESSIONS and c.x[-1] == last.isoformat()
    assert {s["name"] for s in c.series} >= {
        "spot",
        "zero gamma",
        "call wall",
        "put wall",
        "max pain",
    }


def test_daily_has_what_worked_yesterday(sim_store: tuple[Path, dt.date], tmp_path: Path) -> None:
    root, last = sim_store
    with Store(root, create=False, read_only=True) as st:
        (pin,) = measure_outcomes(st, end=last, underlyings=["SIM"], rules=["max_pain_pin"])
        d = daily_report(st, last)
        written = write_session_reports(st, last, tmp_path, formats=("json",))
    ww = _section(d, "what_worked_yesterday")
    ev = pin.events[-1]  # the expiry settling on the report session
    assert ev["expiry"] == last
    (s,) = [s for s in ww.sentences if "max pain" in s.text]
    assert s.rule == "daily.yesterday"
    assert f"max pain {ev['max_pain']:,.2f}" in s.text
    assert ("not pinned" in s.text) == (not ev["hit"])
    assert ww.sentences[0].rule == "daily.yesterday_count"
    assert ww.tables and len(ww.tables[0].rows) == len(ww.sentences) - 1
    daily_json = next(p for p in written if p.name == "daily.json").read_text()
    assert "What Worked Yesterday" in daily_json
