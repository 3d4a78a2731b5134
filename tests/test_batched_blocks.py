"""The whole-market pieces of issue 13 against independent references.

* :func:`chainlens.batched.darkpool_many` (one dark-pool summary and one TWAP scan per chunk)
  against :func:`chainlens.flow.darkpool_summary` / :func:`chainlens.flow.detect_twap` run on
  each underlying's prints alone (the per-underlying path);
* the NumPy spot series and OI change by strike of the per-name document against the Polars
  expressions they replaced, and hand-worked cases;
* the local runner's blocks: every underlying once, and the merged block parts equal to
  :func:`chainlens.runners.base.result_parts` of all the results.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from chainlens.batched import darkpool_many
from chainlens.flow import FlowConfig
from chainlens.flow._darkpool import darkpool_summary, detect_twap
from chainlens.pipeline import _change_by_strike, _spot_series

D0, D1, D2 = dt.date(2024, 3, 6), dt.date(2024, 3, 7), dt.date(2024, 3, 8)


def _prints(ticker: str, n: int, seed: int, *, twap: bool = False) -> pa.Table:
    """``n`` prints of ``ticker`` (a TWAP-like program of 12 equal slices when ``twap``)."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2024-03-08T14:30:00", "ns").astype(np.int64)
    if twap:
        ts = t0 + np.arange(n, dtype=np.int64) * 60_000_000_000
        size = np.full(n, 500, dtype=np.int64)
    else:
        ts = t0 + np.sort(rng.integers(0, 6 * 3600 * 10**9, n))
        size = rng.integers(100, 20_000, n)
    mid = 100 + rng.normal(0, 1, n)
    bid, ask = mid - 0.05, mid + 0.05
    price = mid + rng.choice([-0.05, 0.0, 0.05], n)
    bid[::7] = np.nan  # some prints without a quote
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "ticker": pa.array([ticker] * n, pa.string()),
            "price": price,
            "size": size,
            "bid": pa.array(bid, mask=np.isnan(bid)),
            "ask": ask,
        }
    )


def _rows(t: pa.Table | None) -> list[dict[str, Any]] | None:
    return None if t is None else t.to_pylist()


def _close(a: Any, b: Any) -> bool:
    """Floats to 1e-12 relative (a group's sum may add in another order), the rest exactly."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12 * abs(a)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_darkpool_many_equals_per_underlying_calls() -> None:
    cfg = FlowConfig()
    prints: list[pa.Table | None] = [
        _prints("AAA", 40, 1),
        None,
        _prints("BBB", 12, 2, twap=True),
        _prints("CCC", 1, 3),
        pa.concat_tables([_prints("DDD", 30, 4), _prints("DDD", 12, 5, twap=True)]),
    ]
    dps, tws = darkpool_many(prints, cfg)
    assert dps[1] is None and tws[1] is None
    for p, dp, tw in zip(prints, dps, tws, strict=True):
        if p is None:
            continue
        ref_dp = darkpool_summary(p, label_threshold=cfg.darkpool_label_threshold)
        ref_tw = detect_twap(
            p, min_slices=cfg.twap_min_slices, max_interval_cv=cfg.twap_max_interval_cv,
            size_tolerance=cfg.twap_size_tolerance,
        )  # fmt: skip
        assert dp is not None and tw is not None
        assert dp.schema.equals(ref_dp.schema) and tw.schema.equals(ref_tw.schema)
        assert _close(_rows(dp), _rows(ref_dp))
        assert _close(_rows(tw), _rows(ref_tw))
    assert tws[2] is not None and tws[2].num_rows == 1  # the program is found in the batch
    assert tws[0] is not None and tws[0].num_rows == 0


def test_darkpool_many_falls_back_on_shared_or_mixed_tickers() -> None:
    cfg = FlowConfig()
    mixed = pa.concat_tables([_prints("AAA", 10, 1), _prints("BBB", 10, 2)])
    twice = [_prints("AAA", 10, 1), _prints("AAA", 10, 3)]
    for prints in ([mixed, _prints("CCC", 5, 4)], twice):
        dps, _ = darkpool_many(prints, cfg)
        for p, dp in zip(prints, dps, strict=True):
            ref = darkpool_summary(p, label_threshold=cfg.darkpool_label_threshold)
            assert dp is not None and dp.equals(ref)
    dps, _ = darkpool_many([mixed], cfg)
    assert dps[0] is not None and dps[0].num_rows == 2  # both tickers, as the single call


def _history(rows: list[tuple[dt.date, int, float | None]]) -> pa.Table:
    return pa.table(
        {
            "trade_date": pa.array([r[0] for r in rows], pa.date32()),
            "snapshot_ts": pa.array([r[1] for r in rows], pa.timestamp("ns", tz="UTC")),
            "spot": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def _polars_spot_series(history: pa.Table) -> tuple[list[dt.date], list[float]]:
    """The Polars expression the NumPy spot series replaced (the reference)."""
    df = pl.from_arrow(history.select(["trade_date", "snapshot_ts", "spot"]))
    assert isinstance(df, pl.DataFrame)
    g = df.sort("snapshot_ts").group_by("trade_date").agg(pl.col("spot").drop_nulls().last())
    g = g.sort("trade_date")
    return g["trade_date"].to_list(), [
        float("nan") if v is None else float(v) for v in g["spot"].to_list()
    ]


def _same_series(
    a: tuple[list[dt.date], list[float]], b: tuple[list[dt.date], list[float]]
) -> bool:
    return a[0] == b[0] and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a[1], b[1], strict=True)
    ) and len(a[1]) == len(b[1])  # fmt: skip


def test_spot_series_hand_worked_and_against_polars() -> None:
    h = _history(
        [
            (D1, 20, 101.0),  # the later snapshot of D1 wins
            (D1, 10, 100.0),
            (D1, 30, None),  # ... unless its spot is null
            (D0, 5, None),  # D0 has no spot at all: NaN
            (D2, 40, float("nan")),  # NaN is a value (not dropped)
            (D2, 35, 99.0),
        ]
    )
    dates, spots = _spot_series(h)
    assert dates == [D0, D1, D2]
    assert math.isnan(spots[0]) and spots[1] == 101.0 and math.isnan(spots[2])
    assert _same_series((dates, spots), _polars_spot_series(h))
    assert _spot_series(h.slice(0, 0)) == ([], [])
    rng = np.random.default_rng(0)
    for _ in range(20):  # random windows: one spot per snapshot, as the stored chains have
        n = int(rng.integers(1, 60))
        days = rng.choice([D0, D1, D2], n)
        ts = rng.integers(0, 5, n)
        spot_of = {(d, t): float(rng.normal(100, 5)) for d in (D0, D1, D2) for t in range(5)}
        rows = [
            (d, int(t), None if rng.random() < 0.2 else spot_of[(d, int(t))])
            for d, t in zip(days, ts, strict=True)
        ]
        h = _history(rows)
        assert _same_series(_spot_series(h), _polars_spot_series(h))


def _polars_change_by_strike(c: pa.Table) -> list[dict[str, Any]]:
    """The Polars expression the NumPy sums replaced (the reference)."""
    cdf = pl.from_arrow(c.select(["strike", "right", "oi_change"]))
    assert isinstance(cdf, pl.DataFrame)
    cbs = (
        cdf.group_by("strike")
        .agg(
            pl.col("oi_change").filter(pl.col("right") == "C").sum().alias("call_oi_change"),
            pl.col("oi_change").filter(pl.col("right") == "P").sum().alias("put_oi_change"),
        )
        .sort("strike")
    )
    return cbs.to_dicts()


def test_change_by_strike_hand_worked_and_against_polars() -> None:
    c = pa.table(
        {
            "strike": [105.0, 100.0, 100.0, 105.0, 100.0, 110.0],
            "right": ["C", "C", "P", "C", "C", "P"],
            "oi_change": pa.array([5, -3, 7, 10, None, -2], pa.int64()),
        }
    )
    got = _change_by_strike(c)
    assert got == [
        {"strike": 100.0, "call_oi_change": -3, "put_oi_change": 7},
        {"strike": 105.0, "call_oi_change": 15, "put_oi_change": 0},
        {"strike": 110.0, "call_oi_change": 0, "put_oi_change": -2},
    ]
    assert all(type(r["call_oi_change"]) is int for r in got)
    assert got == _polars_change_by_strike(c)
    assert _change_by_strike(c.slice(0, 0)) == []
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 80))
        c = pa.table(
            {
                "strike": rng.choice([90.0, 95.0, 100.0, 102.5, 105.0], n),
                "right": rng.choice(["C", "P"], n),
                "oi_change": pa.array(rng.integers(-500, 500, n), pa.int64()),
            }
        )
        assert _change_by_strike(c) == _polars_change_by_strike(c)


def test_ranges_by_rows_hand_worked() -> None:
    from chainlens.runners._blocks import ranges_by_rows

    # budget 10 rows, 3 names: [5, 5] then 50 alone, then [1, 1, 1] (names), then [1]
    assert ranges_by_rows([5, 5, 50, 1, 1, 1, 1], 10, 3) == [(0, 2), (2, 3), (3, 6), (6, 7)]
    assert ranges_by_rows([10, 10], 10, 5) == [(0, 1), (1, 2)]  # exactly at the budget
    assert ranges_by_rows([0, 0, 0], 10, 2) == [(0, 2), (2, 3)]  # empty names count by name
    assert ranges_by_rows([], 10, 2) == []
    assert ranges_by_rows([7], 1, 1) == [(0, 1)]


def test_ranges_by_rows_properties() -> None:
    """Random sizes: the ranges cover every name once, in order, and each is within the row
    and name limits or a single name; and no range could take the next name (greedy)."""
    from chainlens.runners._blocks import ranges_by_rows

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        rows = [int(x) for x in rng.lognormal(6, 2, n).astype(int)]
        budget, names = int(rng.integers(1, 5000)), int(rng.integers(1, 20))
        got = ranges_by_rows(rows, budget, names)
        assert got[0][0] == 0 and got[-1][1] == n
        assert all(a == b for (_, a), (b, _) in zip(got, got[1:], strict=False))
        for a, b in got:
            assert b - a == 1 or (sum(rows[a:b]) <= budget and b - a <= names)
        for (a, b), _nxt in zip(got, got[1:], strict=False):
            assert sum(rows[a : b + 1]) > budget or b + 1 - a > names


@pytest.mark.slow
def test_merged_block_parts_equal_result_parts_of_all(tmp_path: Any) -> None:
    from chainlens.pipeline import PipelineConfig, analyze_underlyings
    from chainlens.runners._blocks import merge_blocks, own
    from chainlens.runners.base import result_parts
    from chainlens.runners.local import iter_windows
    from chainlens.sim import SimConfig, simulate_market
    from chainlens.store import Store

    m = simulate_market(
        SimConfig(underlyings=9, sessions=3, seed=4, trades_per_underlying=150), tmp_path / "sim"
    )
    d = m.sessions[-1]
    with Store(tmp_path / "store") as st:
        st.ingest_many(m.all_paths())
        ws = list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))
    res = analyze_underlyings(ws, PipelineConfig())
    ref = result_parts(res)
    blocks = [
        {k: own(t) for k, t in result_parts(res[a:b]).items()} for a, b in ((0, 4), (4, 5), (5, 9))
    ]
    got = merge_blocks(blocks)
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k].schema.equals(ref[k].schema), k
        assert _close(got[k].to_pylist(), ref[k].to_pylist()), k


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    from chainlens.pipeline import PipelineConfig
    from chainlens.runners.local import iter_windows
    from chainlens.sim import SimConfig, simulate_market
    from chainlens.store import Store

    tmp = tmp_path_factory.mktemp("blocks")
    m = simulate_market(
        SimConfig(underlyings=10, sessions=3, seed=6, trades_per_underlying=400), tmp / "sim"
    )
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        return list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))


def test_print_events_many_equals_per_underlying(windows: list[Any]) -> None:
    from chainlens.batched import enrich_many, print_events_many
    from chainlens.flow import enrich_trades
    from chainlens.flow._prints import print_events

    cfg = FlowConfig()
    ws = [w for w in windows if w.trades.num_rows]
    assert len(ws) >= 8
    got = print_events_many(enrich_many([w.trades for w in ws], cfg))
    n_sweeps = 0
    for w, g in zip(ws, got, strict=True):
        ref = print_events(enrich_trades(w.trades, cfg))  # the per-underlying call
        assert g.schema.equals(ref.schema)
        assert _close(g.to_pylist(), ref.to_pylist()), w.underlying
        n_sweeps += int(sum(g.column("is_sweep").to_pylist()))
    assert n_sweeps > 0  # sweeps (multi-trade events) are in the test


def test_the_chunk_flow_does_not_fall_back(
    windows: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batched flow runs for a whole chunk: the per-window flow is never called."""
    import chainlens.flow
    from chainlens.pipeline import PipelineConfig, UnderlyingResult, analyze_underlyings

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("per-window flow called")

    monkeypatch.setattr(chainlens.flow, "analyze_flow", boom)
    got = analyze_underlyings(windows, PipelineConfig())
    assert all(isinstance(r, UnderlyingResult) for r in got)
    assert sum(r.doc["flow"] is not None for r in got) >= 8  # type: ignore[union-attr]


def test_notable_many_equals_per_underlying(windows: list[Any]) -> None:
    from chainlens.batched import enrich_many, notable_many, print_events_many
    from chainlens.flow._prints import notable_prints
    from chainlens.oi._changes import oi_changes

    cfg = FlowConfig()
    ws = [w for w in windows if w.trades.num_rows]
    d = ws[0].session
    evs = print_events_many(enrich_many([w.trades for w in ws], cfg))
    chains = [w.history.filter(pa.compute.equal(w.history["trade_date"], d)) for w in ws]
    stats = []
    for w in ws:
        ch = oi_changes(w.history)
        ch = ch.filter(pa.compute.equal(ch.column("trade_date"), d))
        stats.append(
            ch.select(["symbol", "avg_volume_5d", "oi_change"]).rename_columns(
                ["symbol", "avg_volume_5d", "oi_change_next"]
            )
        )
    prem = [float(np.median(e.column("premium_usd").to_numpy())) for e in evs]
    floors = [0.0, *prem[1:]]  # one segment without a floor, the others at their median
    for top_n, st in ((5, stats), (1000, stats), (5, [None, *stats[1:]])):  # last: per segment
        got = notable_many(evs, chains, st, floors, top_n=top_n)
        for i in range(len(ws)):
            ref = notable_prints(
                evs[i], chains[i], contract_stats=st[i], top_n=top_n,
                min_premium_usd=floors[i], live_after_next_session=True,
            )  # fmt: skip
            assert got[i].schema.equals(ref.schema), i
            assert _close(got[i].to_pylist(), ref.to_pylist()), (ws[i].underlying, top_n)
    assert any(g.num_rows == 5 for g in notable_many(evs, chains, stats, floors, top_n=5))
