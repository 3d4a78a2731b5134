"""The segmented NumPy kernels of :func:`chainlens.oi.analyze_oi_many` (:mod:`chainlens.oi._many`)
against the per-underlying Polars functions they replace, and ``analyze_oi_many`` (with
premiums and events, so that every kernel runs) against ``analyze_oi`` underlying by
underlying: term structure, clusters, put/call ratios, LEAPS growth of the term signals and
event builds. Exactly: schemas, labels, integers and floats bit for bit (NaN equal to NaN).

Data: random multi-underlying histories (listings and delistings, duplicate snapshots, null
volumes, a stale repeated session, events of the own ticker, market-wide and of another ticker,
repeated events) and a simulated market read back from a store (real-shaped chains)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.oi import (
    OIConfig,
    _many,
    _running,
    analyze_oi,
    analyze_oi_many,
    event_oi_build,
    oi_changes,
    oi_clusters,
    put_call_ratios,
    term_signals,
    term_structure,
    window_changes,
)
from chainlens.oi._term import _leaps_growth
from test_oi_chunk import _events
from test_oi_fastpath import engine, random_history  # noqa: F401


def _same(a: pa.Table | None, b: pa.Table | None, where: object) -> None:
    """Same schema and values; floats bit for bit where valid (NaN equal to NaN)."""
    if a is None or b is None:
        assert a is None and b is None, where
        return
    assert a.schema == b.schema, (where, a.schema, b.schema)
    assert a.num_rows == b.num_rows, where
    for name in a.column_names:
        x, y = a.column(name).combine_chunks(), b.column(name).combine_chunks()
        if pa.types.is_floating(x.type):
            nx = np.asarray(x.is_null().to_numpy(zero_copy_only=False), bool)
            ny = np.asarray(y.is_null().to_numpy(zero_copy_only=False), bool)
            np.testing.assert_array_equal(nx, ny, err_msg=f"{where} {name}")
            vx = np.asarray(x.to_numpy(zero_copy_only=False), np.float64)[~nx]
            vy = np.asarray(y.to_numpy(zero_copy_only=False), np.float64)[~ny]
            assert vx.tobytes() == vy.tobytes(), (where, name)
        else:
            assert x.equals(y), (where, name)


def _quoted(h: pa.Table, seed: int) -> pa.Table:
    """The history with the quote columns of a chain (multiplier, bid, ask, last, spot)."""
    rng = np.random.default_rng(seed)
    n = h.num_rows
    bid = np.round(rng.random(n) * 5, 2)
    bid[rng.random(n) < 0.1] = 0.0
    ask = bid + np.round(rng.random(n), 2)
    last = np.round(rng.random(n) * 5, 2)
    spot = np.full(n, 100.0) + np.round(rng.random(n), 2)
    for name, v in (("bid", bid), ("ask", ask), ("last", last), ("spot", spot)):
        h = h.append_column(name, pa.array(v))
    return h.append_column("multiplier", pa.array(np.full(n, 100, np.int32)))


def _split(h: pa.Table) -> tuple[list[pa.Table], dt.date]:
    """Per-underlying histories of a multi-underlying table, each with rows of the last
    session (the session of the batch)."""
    h = _quoted(h, h.num_rows)
    d = pc.max(h.column("trade_date")).as_py()
    out = []
    for u in sorted(pc.unique(h.column("underlying")).to_pylist()):  # a loop over underlyings
        part = h.filter(pc.equal(h.column("underlying"), u))
        if pc.any(pc.equal(part.column("trade_date"), pa.scalar(d, pa.date32()))).as_py():
            out.append(part)
    return out, d


def _premium(u: str, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    c, p = rng.integers(0, 10**6, 2).astype(np.float64) * 0.25
    return pa.table(
        {
            "underlying": pa.array([u], pa.large_string()),
            "call_premium_usd": pa.array([c if seed % 5 else 0.0]),
            "put_premium_usd": pa.array([p]),
        }
    )


def _with_repeats(ev: pa.Table) -> pa.Table:
    """The events plus a repeat of the first one (the reference counts it twice)."""
    return pa.concat_tables([ev, ev.slice(0, 1)])


def _compare_many(hs: list[pa.Table], d: dt.date, evs: list[Any], prs: list[Any]) -> None:
    cfg = OIConfig()
    got = analyze_oi_many(hs, d, events=evs, premiums=prs, config=cfg)
    for h, e, p, r in zip(hs, evs, prs, got, strict=True):  # a loop over underlyings
        ref = analyze_oi(h, d, events=e, premium=p, config=cfg)
        for f in dataclasses.fields(ref):
            x, y = getattr(ref, f.name), getattr(r, f.name)
            if isinstance(x, pa.Table) or x is None:
                _same(x, y, (h.column("underlying")[0], f.name))
            else:
                assert x == y, f.name


@pytest.mark.parametrize("seed", range(12))
def test_many_equals_analyze_oi_on_random_histories(engine: bool, seed: int) -> None:  # noqa: F811
    hs, d = _split(random_history(seed))
    if not hs:
        pytest.skip("no underlying with rows of the last session")
    names = [h.column("underlying")[0].as_py() for h in hs]
    evs = [_with_repeats(_events(pa.concat_tables(hs), seed)) for _ in hs]
    prs = [_premium(u, seed + k) for k, u in enumerate(names)]
    _compare_many(hs, d, evs, prs)
    # without events or premiums (the per-underlying ratios), and with some missing
    _compare_many(hs, d, [None] * len(hs), [None] * len(hs))
    _compare_many(hs, d, [evs[0], *[None] * (len(hs) - 1)], [*prs[:-1], None])
    # a premium row of another underlying: that one estimates its premiums from the quotes
    _compare_many(hs, d, evs, [_premium("ZZZ", seed), *prs[1:]])


def _chunk(hs: list[pa.Table], d: dt.date) -> tuple[pa.Table, np.ndarray, list[str]]:
    hist = pa.concat_tables(hs).combine_chunks()
    lens = np.array([0] + [h.num_rows for h in hs])
    return hist, np.cumsum(lens), [h.column("underlying")[0].as_py() for h in hs]


@pytest.mark.parametrize("seed", range(12))
def test_kernels_equal_the_polars_functions(seed: int) -> None:
    hs, d = _split(random_history(seed, volume="int" if seed % 3 else "null"))
    if not hs:
        pytest.skip("no underlying with rows of the last session")
    hist, bounds, names = _chunk(hs, d)
    on = np.asarray(pc.equal(hist.column("trade_date"), pa.scalar(d, pa.date32())), bool)
    last = hist.filter(pa.array(on))
    lb = _running(on, bounds)
    masks = _many.call_put_masks(last)
    lasts = [last.slice(int(lb[i]), int(lb[i + 1] - lb[i])) for i in range(len(names))]
    term = _many.term_many(last, lb, names, d, masks)
    assert term is not None
    cl = _many.clusters_many(last, lb, names, 5, masks)
    assert cl is not None
    prs = [_premium(u, seed + k) for k, u in enumerate(names)]
    pcr = _many.pcr_many(last, lb, names, d, prs, masks)
    assert pcr is not None
    for i, part in enumerate(lasts):  # a loop over underlyings
        t, tb = term
        _same(t.slice(int(tb[i]), int(tb[i + 1] - tb[i])), term_structure(part), ("term", i))
        c, cb, ok = cl
        if ok[i]:  # no tie at the boundary: the clusters are those of the Polars group-by
            _same(c.slice(int(cb[i]), int(cb[i + 1] - cb[i])), oi_clusters(part), ("cl", i))
        _same(pcr.slice(i, 1), put_call_ratios(part, premium=prs[i]), ("pcr", i))


@pytest.mark.parametrize("seed", range(12))
def test_event_and_leaps_kernels_equal_the_polars_functions(seed: int) -> None:
    hs, d = _split(random_history(seed))
    if not hs:
        pytest.skip("no underlying with rows of the last session")
    hist, bounds, names = _chunk(hs, d)
    from chainlens.oi._panel import build_panel
    from chainlens.oi._rolls import _legs

    p = build_panel(hist)
    ch = oi_changes(hist)  # the panel's retained rows, in row order
    cb = _running(p.keep, bounds)
    call, put = _many.call_put_masks(hist)
    ev = _with_repeats(_events(hist, seed))
    got = _many.events_many(ch, cb, (call[p.keep], put[p.keep]), [ev] * len(names), names)
    assert got is not None
    for i, part in enumerate(got):  # a loop over underlyings
        own = ch.slice(int(cb[i]), int(cb[i + 1] - cb[i]))
        _same(part, event_oi_build(own, ev), ("events", i))
    # the LEAPS growth from the roll legs, against the window-changes table (a short
    # LEAPS horizon so that the random expiries reach it)
    lg = _legs(p, 3)
    rows = np.asarray(lg.rows, np.int64)
    day = np.asarray(hist.column("expiry").cast(pa.int32()).to_numpy(), np.int64)[rows]
    hid = np.repeat(np.arange(len(names)), np.diff(bounds))[rows]
    for min_days in (30, 150):
        g = _many.leaps_growth_many(day, call[rows], lg.end_day, lg.oi_start, lg.oi_end, hid,
                                    names, min_days)  # fmt: skip
        assert g is not None
        wc = window_changes(hist, window=3).to_arrow()
        ref = _leaps_growth(wc, min_days).sort("underlying").to_arrow()
        _same(g, ref.cast(g.schema), ("leaps", min_days))
        term = term_structure(hist)
        _same(
            term_signals(term, leaps_growth=g, leaps_min_days=min_days),
            term_signals(term, oi_growth=wc, leaps_min_days=min_days),
            ("signals", min_days),
        )


def test_event_kernel_without_changes_before_the_events() -> None:
    from chainlens.oi._panel import build_panel

    hs, d = _split(random_history(3))
    hist, bounds, names = _chunk(hs, d)
    keep = build_panel(hist).keep
    ch = oi_changes(hist)
    cb = _running(keep, bounds)
    call, put = _many.call_put_masks(ch)
    early = pa.table(
        {
            "date": pa.array([dt.date(1990, 1, 2)], pa.date32()),
            "ticker": pa.array(["*"]),
            "kind": pa.array(["CPI"]),
        }
    )
    got = _many.events_many(ch, cb, (call, put), [early] * len(names), names)
    assert got is not None
    for i, part in enumerate(got):  # a loop over underlyings
        assert part is not None and part.num_rows == 0
        own = ch.slice(int(cb[i]), int(cb[i + 1] - cb[i]))
        _same(part, event_oi_build(own, early), ("early", i))


@pytest.fixture(scope="module")
def sim_market(tmp_path_factory: pytest.TempPathFactory) -> tuple[dt.date, list[Any]]:
    from chainlens.pipeline import PipelineConfig
    from chainlens.runners.local import iter_windows
    from chainlens.sim import SimConfig, simulate_market
    from chainlens.store import Store

    tmp: Path = tmp_path_factory.mktemp("oimany")
    m = simulate_market(
        SimConfig(underlyings=10, sessions=5, seed=7, trades_per_underlying=100), tmp / "sim"
    )
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        ws = list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))
    return d, ws


def test_many_equals_analyze_oi_on_a_simulated_market(sim_market: Any) -> None:
    d, ws = sim_market
    hs = [w.history for w in ws]
    prs = [_premium(w.underlying, k) for k, w in enumerate(ws)]
    _compare_many(hs, d, [w.events for w in ws], prs)
    # the kernels themselves ran (no fallback) on these chains
    hist, bounds, names = _chunk(hs, d)
    on = np.asarray(pc.equal(hist.column("trade_date"), pa.scalar(d, pa.date32())), bool)
    last = hist.filter(pa.array(on))
    lb = _running(on, bounds)
    masks = _many.call_put_masks(last)
    assert _many.term_many(last, lb, names, d, masks) is not None
    assert _many.clusters_many(last, lb, names, 5, masks) is not None
    assert _many.pcr_many(last, lb, names, d, prs, masks) is not None
    from chainlens.oi._panel import build_panel

    ch = oi_changes(hist)
    call, put = _many.call_put_masks(ch)
    evs = [w.events for w in ws]
    assert any(e is not None and e.num_rows for e in evs)
    cb = _running(build_panel(hist).keep, bounds)
    assert _many.events_many(ch, cb, (call, put), evs, names) is not None


@pytest.mark.parametrize("seed", range(12))
def test_opposite_kernel_equals_opposite_buildup(seed: int) -> None:
    from chainlens.oi import _last_spot, accumulation, opposite_buildup

    hs, d = _split(random_history(seed))
    if not hs:
        pytest.skip("no underlying with rows of the last session")
    hist, bounds, names = _chunk(hs, d)
    # low thresholds: streaks of two sessions, so that short histories accumulate too
    acc = accumulation(hist, min_sessions=2, min_contracts=1.0, min_fraction=0.0, min_dte=0)
    h = np.asarray(pc.index_in(acc.column("underlying"), pa.array(names)), np.int64)
    on = np.asarray(pc.equal(hist.column("trade_date"), pa.scalar(d, pa.date32())), bool)
    last = hist.filter(pa.array(on))
    lb = _running(on, bounds)
    spot = _many.last_spot(last, lb, names)
    assert spot is not None
    for min_share in (0.25, 0.0):
        for sp in (spot, None):
            got = _many.opposite_many(acc, h, sp, names, min_share)
            assert got is not None
            t, tb = got
            for i, u in enumerate(names):  # a loop over underlyings
                own = acc.filter(pc.equal(acc.column("underlying"), u))
                ref_spot = _last_spot(last.slice(int(lb[i]), int(lb[i + 1] - lb[i])))
                ref = opposite_buildup(own, ref_spot if sp is not None else None,
                                       min_share=min_share)  # fmt: skip
                _same(t.slice(int(tb[i]), int(tb[i + 1] - tb[i])), ref, (u, min_share))
