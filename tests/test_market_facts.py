"""The market rollup from per-name facts (:func:`chainlens.market.market_facts`) equals the
rollup from whole documents: on the demo market (every scenario kind planted, index tickers
included), on the hand-built store (a name without trades) and on the hand-written documents
of ``test_market``. The runner stores the rollup of the facts its tasks return: it must be the
rollup of the stored documents (independent reference: the documents as the reports read them).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from chainlens.market import INDEX_TICKERS, market_facts, market_rollup
from chainlens.results import MarketFacts, doc_errors
from chainlens.runners.local import LocalRunner
from chainlens.store import Store


def _same_rollup(docs: list[Any], session: dt.date) -> dict[str, Any]:
    facts = [market_facts(d) for d in docs]
    want = market_rollup(docs, session=session)
    got = market_rollup(facts, session=session)
    # the stored form: strict JSON text, so int/float and key order count too
    assert json.dumps(got, allow_nan=False) == json.dumps(want, allow_nan=False)
    return got


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    """The small demo market, the last two sessions run (``build_small_demo_store``)."""
    from test_pipeline_fixtures import build_small_demo_store

    return build_small_demo_store(tmp_path_factory.mktemp("facts"))


def test_stored_rollup_is_the_rollup_of_the_stored_documents(demo_store) -> None:  # type: ignore[no-untyped-def]
    root, days = demo_store
    with Store(root, read_only=True) as st:
        for d in days:
            docs = st.read_docs(d)
            assert docs
            assert any(doc["underlying"] in INDEX_TICKERS for doc in docs)
            stored = st.read_market(d)
            got = _same_rollup(list(docs), d)
            # the runner rolled up facts; the reference rolls up the whole stored documents
            assert json.dumps(stored, allow_nan=False) == json.dumps(got, allow_nan=False)
            assert got["structures"] or got["zones"] or got["top_flow"]["rows"]
            for doc in docs:
                assert doc_errors(market_facts(doc), MarketFacts, "facts") == []


def test_facts_are_small_and_keep_paths(demo_store) -> None:  # type: ignore[no-untyped-def]
    root, days = demo_store
    with Store(root, read_only=True) as st:
        docs = st.read_docs(days[-1])
    single = [doc for doc in docs if doc["underlying"] not in INDEX_TICKERS]
    assert single
    for doc in single:
        f = market_facts(doc)
        assert len(json.dumps(f)) < len(json.dumps(doc)) / 5
        assert f["underlying"] == doc["underlying"] and f["session"] == doc["session"]
        assert f["prior_zone"] == doc["prior_zone"]
        if doc["flow"]:
            assert f["flow"] is not None and f["flow"]["totals"] == doc["flow"]["totals"]


def test_rollup_from_facts_without_trades_on_a_name() -> None:
    import tempfile

    from test_pipeline_fixtures import D2, build_tiny_store

    with tempfile.TemporaryDirectory() as tmp:
        root = build_tiny_store(Path(tmp) / "store")
        with Store(root) as st:
            LocalRunner(workers=1).run(st, [D2])
            docs = st.read_docs(D2)
            stored = st.read_market(D2)
        assert any(doc["flow"] is None for doc in docs)
        got = _same_rollup(list(docs), D2)
        assert json.dumps(stored, allow_nan=False) == json.dumps(got, allow_nan=False)


def test_rollup_from_facts_on_hand_written_documents() -> None:
    from test_market import D, _doc

    dp = {"notional_usd": 5e6, "net_usd": 2e6, "pct_at_ask": 0.6, "pct_at_bid": 0.2,
          "label": "accumulation", "confidence": 0.8, "prints": 12}  # fmt: skip
    docs = [
        _doc("AAA", 4.0e6, 4.1e6, 2.9e6, 0.4e6, dp=dp, pcr_band="0.3_0.7", rr=0.02),
        _doc("BBB", 3.0e6, 0.0, 1.0e6, 0.0, pcr_band="1.2_2.0", rr=-0.01),
        _doc("SPY", 0.0, 0.0, 2.0e6, 0.0),
        {"underlying": "CCC", "flow": None, "analysis": {"spot": 10.0}, "oi": {}},
    ]
    _same_rollup(docs, D)
