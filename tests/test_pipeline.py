"""Pipeline golden tests on the hand-built store (values worked in test_pipeline_fixtures)."""

from __future__ import annotations

import math
import statistics

import pyarrow as pa
import pytest

from chainlens.errors import InputError, NotFoundError
from chainlens.pipeline import (
    PipelineConfig,
    UnderlyingWindow,
    analyze_underlying,
    prior_zone,
    realized_vol,
)
from chainlens.runners.local import read_docs, read_market, run_local
from chainlens.store import Store
from test_pipeline_fixtures import D1, D2, build_tiny_store


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = build_tiny_store(tmp_path_factory.mktemp("tiny") / "store")
    with Store(root) as st:
        summary = run_local(st, D2)
        docs = {d["underlying"]: d for d in read_docs(st, D2)}
        market = read_market(st, D2)
    return root, summary, docs, market


def test_run_summary(tiny) -> None:  # type: ignore[no-untyped-def]
    _, summary, docs, _ = tiny
    assert summary["underlyings"] == 2 and summary["failed"] == []
    assert set(docs) == {"TST", "NOTR"}
    assert summary["parts"]["docs"] == 2


def test_flow_decomposition_hand_values(tiny) -> None:  # type: ignore[no-untyped-def]
    t = tiny[2]["TST"]["flow"]["totals"]
    assert t["calls_bought_usd"] == pytest.approx(2200.0)
    assert t["puts_sold_usd"] == pytest.approx(3800.0)
    assert t["calls_sold_usd"] == pytest.approx(1500.0)
    assert t["mid_usd"] == pytest.approx(600.0)
    assert t["bullish_usd"] == pytest.approx(6000.0)
    assert t["bearish_usd"] == pytest.approx(1500.0)
    assert t["net_usd"] == pytest.approx(4500.0)
    assert t["total_usd"] == pytest.approx(8100.0)
    assert t["unknown_share"] == pytest.approx(600 / 8100)
    assert (t["naive_label"], t["side_label"], t["flip"]) == ("bearish", "bullish", True)


def test_chain_figures_hand_values(tiny) -> None:  # type: ignore[no-untyped-def]
    a = tiny[2]["TST"]["analysis"]
    assert a["totals"]["pc_volume_ratio"] == pytest.approx(30 / 40)
    assert a["totals"]["pc_oi_ratio"] == pytest.approx(1000 / 600)
    # GEX = Σ sign·Γ·OI·100·S²·0.01 with S = 102: (24 − 40)·10404
    assert a["totals"]["gex_usd_per_1pct"] == pytest.approx(-16 * 10404.0)
    assert a["totals"]["dex_shares"] == pytest.approx((270 + 410) * 100.0)
    assert a["max_pain_trend"][0]["max_pain"] == 100.0
    assert a["max_pain_trend"][0]["spot_distance_pct"] == pytest.approx(2.0)


def test_oi_changes_attributed_to_previous_session(tiny) -> None:  # type: ignore[no-untyped-def]
    oi = tiny[2]["TST"]["oi"]
    assert oi["change_session"] == D1.isoformat()
    ch = {(c["strike"], c["right"]): c["oi_change"] for c in oi["changes"]}
    assert ch == {
        (100.0, "C"): 50,
        (105.0, "C"): 50,
        (100.0, "P"): 50,
        (95.0, "C"): 0,
        (95.0, "P"): 0,
        (105.0, "P"): 0,
    }
    by = {r["strike"]: (r["call_oi_change"], r["put_oi_change"]) for r in oi["change_by_strike"]}
    assert by == {95.0: (0, 0), 100.0: (50, 50), 105.0: (50, 0)}
    assert oi["pcr"]["pcr_oi_band"] == "1.2_2.0"


def test_prior_zone_hand_values(tiny) -> None:  # type: ignore[no-untyped-def]
    z = tiny[2]["TST"]["prior_zone"]
    assert z["straddle_mid"] == pytest.approx(4.1)
    assert (z["low"], z["mid"], z["high"]) == pytest.approx((95.9, 100.0, 104.1))
    assert z["upside_room_pct"] == pytest.approx((104.1 / 102 - 1) * 100)
    assert z["downside_room_pct"] == pytest.approx((95.9 / 102 - 1) * 100)
    assert z["status"] == "upper_half"


def test_darkpool_and_realized_vol(tiny) -> None:  # type: ignore[no-untyped-def]
    doc = tiny[2]["TST"]
    dp = doc["flow"]["darkpool"]
    assert dp["net_usd"] == pytest.approx(10210.0 - 5100.0) and dp["label"] == "accumulation"
    r = [math.log(101 / 100), math.log(100 / 101), math.log(102 / 100)]
    assert doc["realized_vol"]["value"] == pytest.approx(statistics.stdev(r) * math.sqrt(252))
    assert doc["realized_vol"]["source"] == "bars"


def test_earnings_facts(tiny) -> None:  # type: ignore[no-untyped-def]
    e = tiny[2]["TST"]["earnings"]
    assert e["next_date"] == "2024-03-07" and e["post_expiry"] == "2024-03-08"
    assert e["post_expiry_oi_build"] == 1600 - 1450
    assert e["implied_move_pct"] == pytest.approx((3.3 + 1.4) / 102 * 100)
    assert e["historical_moves_pct"] == pytest.approx([1.0, 2.0])
    assert e["historical_mean_move_pct"] == pytest.approx(1.5)


def test_missing_inputs_are_listed(tiny) -> None:  # type: ignore[no-untyped-def]
    d = tiny[2]["NOTR"]
    assert d["flow"] is None
    assert {"trades", "prints", "history"} <= set(d["missing"])
    assert d["prior_zone"] is None


def test_rerun_replaces_results_atomically(tiny) -> None:  # type: ignore[no-untyped-def]
    root = tiny[0]
    with Store(root) as st:
        run_local(st, D2)
        assert len(read_docs(st, D2)) == 2
        # a rerun over one name replaces its rows and keeps the other's (one docs part)
        out = run_local(st, D2, ["TST"])
        assert out["underlyings"] == 1 and out["kept_underlyings"] == 1
        assert len(read_docs(st, D2)) == 2 and len(read_docs(st, D2, "TST")) == 1
        idx = st.results_index().to_pylist()
        assert sum(1 for r in idx if r["name"] == "pipeline" and r["part"] == "docs") == 1
        run_local(st, D2)
        assert len(read_docs(st, D2)) == 2


def test_run_errors_are_clear(tiny) -> None:  # type: ignore[no-untyped-def]
    with Store(tiny[0]) as st:
        with pytest.raises(NotFoundError, match="no chain for ZZZ"):
            run_local(st, D2, ["ZZZ"])
        with pytest.raises(NotFoundError, match="holds no chain for session"):
            run_local(st, "2020-01-02")
        with pytest.raises(InputError):
            run_local(st, "not-a-date")


def test_kernel_is_pure_and_needs_the_session() -> None:
    from test_pipeline_fixtures import _chain

    h = _chain("TST", [D1])
    w = UnderlyingWindow(underlying="TST", session=D2, history=h, trades=h.slice(0, 0))
    with pytest.raises(InputError, match="no chain snapshot"):
        analyze_underlying(w, PipelineConfig())


def test_realized_vol_reference() -> None:
    closes = [100.0, 101.0, 100.0, 101.0]
    r = [math.log(c1 / c0) for c0, c1 in zip(closes, closes[1:], strict=False)]
    assert realized_vol(closes) == pytest.approx(statistics.stdev(r) * math.sqrt(252))
    assert math.isnan(realized_vol([100.0, 101.0]))


def test_prior_zone_without_previous_session() -> None:
    from test_pipeline_fixtures import _chain

    assert prior_zone(_chain("TST", [D2]), D2, 102.0) is None
    assert prior_zone(pa.table({"x": [1]}).slice(0, 0), D2, 102.0) is None


def test_bulk_window_equals_per_ticker_reads(tiny) -> None:  # type: ignore[no-untyped-def]
    from chainlens.runners.local import _bulk_tables

    with Store(tiny[0]) as st:
        bulk = _bulk_tables(st, D2, ["TST"], 5)
        assert bulk is not None  # TST has every session: one read per file
        assert bulk[0]["TST"].equals(st.chain_history("TST", end=D2, n_sessions=5))
        assert bulk[1]["TST"].equals(st.trades("TST", D2))
        assert bulk[2]["TST"].equals(st.prints("TST", D2))
        # NOTR lacks 2024-03-04: the runner falls back to per-ticker reads
        assert _bulk_tables(st, D2, ["TST", "NOTR"], 5) is None


def test_compacted_window_pickles_small_and_equal() -> None:
    import pickle

    import numpy as np

    from chainlens.runners.local import _compact

    big = pa.table({"x": np.arange(200_000)})
    from test_pipeline_fixtures import _chain

    h = _chain("TST", [D1, D2])
    w = UnderlyingWindow(underlying="TST", session=D2, history=h, trades=big.slice(5, 10))
    c = _compact(w)
    assert c.history.equals(h) and c.trades.equals(big.slice(5, 10))
    assert len(pickle.dumps(c.trades)) < len(pickle.dumps(w.trades)) / 100


def test_blocks_are_sized_by_the_rows_each_underlying_brings(tiny) -> None:  # type: ignore[no-untyped-def]
    """The local runner's blocks: contiguous, covering, within the row budget, from the
    rows the store's readers return (an independent count)."""
    from chainlens.runners import local

    with Store(tiny[0]) as st:
        us = st.underlyings(D2)
        ranges, rows = local._block_ranges(st, D2, us, 5, workers=2)
        ref = [
            st.chain_history(u, end=D2, n_sessions=5).num_rows
            + st.trades(u, D2).num_rows
            + st.prints(u, D2).num_rows
            for u in us
        ]
    assert rows == ref
    assert ranges[0][0] == 0 and ranges[-1][1] == len(us)
    assert all(a == b for (_, a), (b, _) in zip(ranges, ranges[1:], strict=False))
    budget = -(-sum(ref) // 4)  # two blocks per worker
    assert all(sum(ref[a:b]) <= budget or b - a == 1 for a, b in ranges)


def test_process_pool_run_gives_the_in_process_documents(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = build_tiny_store(tmp_path / "store")
    with Store(root) as st:
        run_local(st, D2, workers=1)
        one = {d["underlying"]: d for d in read_docs(st, D2)}
        out = run_local(st, D2, workers=2)  # chunked tasks on a forkserver pool
        two = {d["underlying"]: d for d in read_docs(st, D2)}
    assert out["workers"] == 2 and out["failed"] == []
    assert set(two) == {"TST", "NOTR"}

    def same(a, b) -> bool:  # type: ignore[no-untyped-def]
        # the greeks backend (NumPy or Numba, chosen by chainlens.pricing) may differ between
        # a fresh worker and this process: equal up to rounding, not bit for bit
        if isinstance(a, float) and isinstance(b, float):
            return a == pytest.approx(b, rel=1e-9, abs=1e-9)
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return bool(a == b)

    assert same(one, two)
