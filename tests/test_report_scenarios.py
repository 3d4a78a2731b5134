"""Every planted scenario of the simulator is named in its ticker's report (issue 11).

For five seeds: a small simulated market (10 names, 8 sessions, a few hundred trades each),
the pipeline run on each scenario's last session and the session after it, and the flow
reports of the scenario tickers read from the first scenario session on: each scenario of
``scenarios.json`` must be named with its kind and direction in a sentence that names one of
its strikes (:mod:`scenario_check`; dark-pool distribution: the daily report's table).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chainlens.runners.local import run_local
from chainlens.sim import SimConfig, simulate_market
from chainlens.store import Store
from scenario_check import missed

pytestmark = pytest.mark.slow

SEEDS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_scenarios_are_named(seed: int, tmp_path: Path) -> None:
    cfg = SimConfig(underlyings=10, sessions=8, seed=seed, trades_per_underlying=200,
                    prints_per_underlying=10)  # fmt: skip
    man = simulate_market(cfg, tmp_path / "sim")
    assert man.scenarios, "the simulator planted no scenario"
    days = list(man.sessions)
    run: set[dt.date] = set()
    for sc in man.scenarios:
        i = days.index(dt.date.fromisoformat(sc["sessions"][-1]))
        run.update(days[i : i + 2])
    with Store(tmp_path / "store") as st:
        st.ingest_many(man.all_paths())
        for d in sorted(run):
            run_local(st, d)
        bad = missed(st, man.scenarios)
    assert not bad, f"seed {seed}: " + "\n".join(bad)


def test_every_scenario_kind_has_a_report_phrase() -> None:
    """A kind the simulator plants but no report phrase names would fail above as a KeyError:
    say which kind instead."""
    from chainlens.sim import SCENARIO_KINDS
    from scenario_check import PHRASES

    assert set(SCENARIO_KINDS) - set(PHRASES) <= {"darkpool_distribution"}, (
        "scenario kinds without a report phrase in tests/scenario_check.PHRASES: "
        f"{sorted(set(SCENARIO_KINDS) - set(PHRASES) - {'darkpool_distribution'})}"
    )
