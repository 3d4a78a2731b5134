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

from _tables import same_rows
from chainlens.flow import decompose_premium, enrich_trades
from chainlens.outcomes._measure import measure_underlying, stored_docs, stored_flow_labels
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
        docs = stored_docs(st, days, names)
        seen: set[str] = set()
        for u in names:
            rules = ["flow_label", "flow_divergence", "watch_items"]
            a = measure_underlying(st, u, rules=rules)
            b = measure_underlying(st, u, rules=rules, docs=docs.get(u))
            assert [r.to_json() for r in a] == [r.to_json() for r in b], u
            seen.update(r.rule for r in b if r.n)
    assert seen == {"flow_label", "flow_divergence", "watch_items"}  # each rule measured


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
        monkeypatch.setattr(_measure, "stored_docs", lambda *a, **k: {})
        ref = (session_outcomes(st, d, names), what_worked(st, d))
    assert got == ref
    assert any(x["rule"] == "flow_label" for x in got[1])


def test_levels_many_equal_each_underlying_alone(store: Path) -> None:
    """The level histories of many underlyings analysed together equal each one's
    :func:`levels_from_history` (one snapshot at a time, the reference)."""
    from chainlens.analysis import AnalysisConfig
    from chainlens.outcomes._levels import levels_from_history, levels_many

    cfg = AnalysisConfig()
    with Store(store, read_only=True) as st:
        d = st.session_dates()[-1]
        hists = {u: st.chain_history(u, end=d) for u in st.underlyings(d)}
    hists["EMPTY"] = hists[next(iter(hists))].slice(0, 0)
    got = levels_many(hists, cfg)
    assert list(got) == list(hists)
    n = 0
    for u, h in hists.items():
        ref = levels_from_history(h, u, cfg)
        assert got[u].underlying == ref.underlying
        assert same_rows(got[u].levels, ref.levels), u
        assert same_rows(got[u].expiries, ref.expiries), u
        n += got[u].levels.num_rows
    assert n >= 20 and got["EMPTY"].levels.num_rows == 0


def test_histories_in_one_read_equal_each_chain_history(store: Path) -> None:
    from chainlens.report._outcomes import _histories

    with Store(store, read_only=True) as st:
        days = st.session_dates()
        d = days[-2]
        names = st.underlyings(d)
        got = _histories(st, d, [*reversed(names), "NOPE", names[0]])
        assert list(got) == list(reversed(names))
        for u in names:
            first = [x for x in st.session_dates(u) if x <= d][0]
            assert same_rows(got[u], st.chain_history(u, start=first, end=d)), u
        assert _histories(st, d, ["NOPE"]) == {}
