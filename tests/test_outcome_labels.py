"""The flow rules' daily labels read from the stored documents equal the labels computed from
each session's trades (the reference: ``decompose_premium(enrich_trades(trades), by=())``,
what :func:`chainlens.outcomes._measure._flow_rows` computes without them), and the outcome
measures are the same whichever way the labels come.

Reading the labels from the documents turns the slowest part of ``chainlens daily`` with
outcomes (every name's trades of every session read and classified again, ~0.3 s a name)
into one pruned scan of each session's documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlens.flow import decompose_premium, enrich_trades
from chainlens.outcomes._measure import measure_underlying, stored_flow_labels
from chainlens.runners.local import run_local
from chainlens.store import Store

pytestmark = pytest.mark.xdist_group("outcome_labels")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chainlens.sim import SimConfig, simulate_market

    root = tmp_path_factory.mktemp("labels")
    m = simulate_market(
        SimConfig(underlyings=8, sessions=4, seed=3, trades_per_underlying=120), root / "sim"
    )
    with Store(root / "store") as st:
        st.ingest_many(m.all_paths())
        for d in st.session_dates()[1:]:  # the first session has no stored documents
            run_local(st, d, workers=1)
    return root / "store"


def test_stored_labels_are_the_labels_of_the_sessions_trades(store: Path) -> None:
    with Store(store, read_only=True) as st:
        days = st.session_dates()
        names = st.underlyings(days[-1])
        got = stored_flow_labels(st, days, names)
        n = 0
        for u in names:
            for d in days:
                t = st.trades(u, d)
                if d == days[0]:  # no documents stored: left to the trades
                    assert d not in got.get(u, {})
                    continue
                if t.num_rows == 0:
                    assert d not in got.get(u, {})
                    continue
                row = decompose_premium(enrich_trades(t), by=()).to_pylist()[0]
                assert got[u][d] == (row["naive_label"], row["side_label"]), (u, d)
                n += 1
        assert n >= 20
        assert stored_flow_labels(st, days, []) == {}


def test_outcomes_are_the_same_with_stored_labels(store: Path) -> None:
    with Store(store, read_only=True) as st:
        days = st.session_dates()
        names = st.underlyings(days[-1])
        labels = stored_flow_labels(st, days, names)
        for u in names:
            rules = ["flow_label", "flow_divergence"]
            a = measure_underlying(st, u, rules=rules)
            b = measure_underlying(st, u, rules=rules, flow_labels=labels.get(u))
            assert [r.to_json() for r in a] == [r.to_json() for r in b], u


def test_session_outcomes_and_what_worked_unchanged(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference: the same calls with no stored labels (every session's trades read)."""
    from chainlens.outcomes import _measure, what_worked
    from chainlens.report._outcomes import session_outcomes

    with Store(store, read_only=True) as st:
        d = st.session_dates()[-1]
        names = st.underlyings(d)
        got = (session_outcomes(st, d, names), what_worked(st, d))
        monkeypatch.setattr(_measure, "stored_flow_labels", lambda *a, **k: {})
        ref = (session_outcomes(st, d, names), what_worked(st, d))
    assert got == ref
    assert any(x["rule"] == "flow_label" for x in got[1])
