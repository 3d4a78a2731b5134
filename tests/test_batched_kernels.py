"""The segmented kernels of :mod:`chainlens.batched` against the per-underlying functions they
replace, and the whole batched pipeline on the demo market and on a 500-underlying market.

References: :func:`chainlens.flow.enrich_trades`, :func:`chainlens.flow.tag_moneyness` and
:func:`chainlens.flow.decompose_premium` run on one underlying's rows (the per-underlying
path), and the Polars window expression that :func:`chainlens.flow.tag_synthetic` computed
before it became a sorted-segment kernel. Floats to 1e-12 relative (the decomposition sums
in a different order than Polars), everything else exactly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.batched import (
    decompose_segmented,
    enrich_many,
    segment_ids,
    tag_moneyness_many,
)
from chainlens.batched._flow import group_levels, level_sums, row_weights
from chainlens.flow import FlowConfig, decompose_premium, enrich_trades
from chainlens.flow._premium import tag_moneyness, tag_synthetic
from chainlens.pipeline import (
    PipelineConfig,
    UnderlyingResult,
    UnderlyingWindow,
    analyze_underlying,
    analyze_underlyings,
)
from chainlens.runners.local import CHUNK_MAX, iter_windows
from chainlens.store import Store

REL = 1e-12


def _col_close(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    if a.equals(b):
        return True
    if a.type != b.type or len(a) != len(b):
        return False
    if not pa.types.is_floating(a.type):
        return False
    if not a.is_null().equals(b.is_null()):
        return False
    x = pc.fill_null(a, 0.0).to_numpy()
    y = pc.fill_null(b, 0.0).to_numpy()
    both_nan = np.isnan(x) & np.isnan(y)
    with np.errstate(invalid="ignore"):
        ok = (x == y) | both_nan | (np.abs(x - y) <= REL * np.maximum(np.abs(x), np.abs(y)))
    return bool(ok.all())


def _tables_close(a: pa.Table, b: pa.Table) -> None:
    assert a.schema.equals(b.schema), (a.schema, b.schema)
    for name in a.column_names:
        assert _col_close(a.column(name), b.column(name)), name


def _polars_synthetic(trades: pa.Table) -> np.ndarray:
    """The Polars window expression ``tag_synthetic`` used to be (the reference)."""
    df = pl.from_arrow(trades.select(["underlying", "ts", "strike", "right", "multileg"]))
    assert isinstance(df, pl.DataFrame)
    both = (pl.col("right").n_unique().over(["underlying", "ts", "strike"]) >= 2) & pl.col(
        "multileg"
    )
    m = df.select((both.any().over(["underlying", "ts"]) & pl.col("multileg")).alias("m"))
    return np.asarray(m.to_series().to_numpy(), dtype=bool)


def test_tag_synthetic_hand_worked() -> None:
    ts = pa.array([0, 0, 0, 1, 1, 2], pa.int64()).cast(pa.timestamp("ns", "UTC"))
    t = pa.table(
        {
            "underlying": ["A", "A", "A", "A", "A", "B"],
            "ts": ts,
            "strike": [100.0, 100.0, 110.0, 100.0, 105.0, 100.0],
            "right": ["C", "P", "C", "C", "P", "C"],
            "multileg": [True, True, True, True, True, False],
        }
    )
    # instant 0: C and P at 100 (a conversion-like pair) -> all three legs of that instant
    # instant 1: C 100 and P 105 differ in strike -> not synthetic; row 5: single-leg
    assert tag_synthetic(t).tolist() == [True, True, True, False, False, False]


def test_tag_synthetic_equals_the_polars_expression() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        t = pa.table(
            {
                "underlying": pa.array(rng.choice(["A", "B", None], n).tolist()),
                "ts": pa.array(rng.integers(0, 4, n), pa.int64()).cast(pa.timestamp("ns", "UTC")),
                "strike": pa.array(rng.choice([100.0, 105.0, np.nan, None], n).tolist()),
                "right": pa.array(rng.choice(["C", "P", None, "X"], n).tolist()),
                "multileg": pa.array(rng.random(n) < 0.7),
            }
        )
        assert (tag_synthetic(t) == _polars_synthetic(t)).all(), t.to_pylist()


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[UnderlyingWindow]:
    from chainlens.sim import SimConfig, simulate_market

    tmp = tmp_path_factory.mktemp("kernels")
    m = simulate_market(
        SimConfig(underlyings=15, sessions=3, seed=5, trades_per_underlying=400), tmp / "sim"
    )
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        return list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_segmented_flow_kernels_equal_per_underlying(
    windows: list[UnderlyingWindow], engine: str
) -> None:
    from chainlens._engine import force

    cfg = FlowConfig()
    ws = [w for w in windows if w.trades.num_rows]
    ref = [enrich_trades(w.trades, cfg) for w in ws]
    with force(engine):  # type: ignore[arg-type]
        got = enrich_many([w.trades for w in ws], cfg)
    for a, b in zip(ref, got, strict=True):  # integer, boolean and row-wise: exactly
        assert a.schema.equals(b.schema)
        for name in a.column_names:
            assert _col_close(a.column(name), b.column(name)), name
    d = ws[0].session
    chains = [w.history.filter(pc.equal(w.history["trade_date"], d)) for w in ws]
    refm = [tag_moneyness(e, c) for e, c in zip(ref, chains, strict=True)]
    gotm = tag_moneyness_many(got, chains, cfg)
    for a, b in zip(refm, gotm, strict=True):
        for name in a.column_names:
            assert _col_close(a.column(name), b.column(name)), name
    sizes = [t.num_rows for t in gotm]
    cat, seg = pa.concat_tables(gotm), segment_ids(sizes)
    for by in ((), ("underlying",), ("underlying", "expiry"), ("underlying", "expiry", "strike")):
        with force(engine):  # type: ignore[arg-type]
            t, off = decompose_segmented(cat, seg, len(sizes), by, label_epsilon=0.05)
        for i, e in enumerate(refm):
            r = decompose_premium(e, by=by, label_epsilon=0.05)
            _tables_close(r, t.slice(int(off[i]), int(off[i + 1] - off[i])))


def _tagged_chunk(windows: list[UnderlyingWindow]) -> tuple[pa.Table, np.ndarray, int]:
    cfg = FlowConfig()
    ws = [w for w in windows if w.trades.num_rows]
    got = enrich_many([w.trades for w in ws], cfg)
    d = ws[0].session
    chains = [w.history.filter(pc.equal(w.history["trade_date"], d)) for w in ws]
    tagged = tag_moneyness_many(got, chains, cfg)
    sizes = [t.num_rows for t in tagged]
    return pa.concat_tables(tagged), segment_ids(sizes), len(sizes)


def _lexsort_codes(t: pa.Table, seg: np.ndarray, keys: list[str]) -> np.ndarray:
    """The group codes ``decompose_segmented`` computed before :func:`group_levels`: one
    ``lexsort`` of the rows by (segment, keys), groups numbered in that order."""
    arrs = [
        t.column(k).cast(pa.int32()).cast(pa.int64()).to_numpy()
        if k == "expiry"
        else t.column(k).cast(pa.float64()).to_numpy() + 0
        for k in keys
    ]
    order = np.lexsort((*arrs[::-1], seg))
    new = np.zeros(seg.size, dtype=bool)
    new[0] = True
    for a in (seg, *arrs):
        b = a[order]
        new[1:] |= b[1:] != b[:-1]
    codes = np.empty(seg.size, dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    return codes


def test_group_levels_equal_the_row_lexsort(windows: list[UnderlyingWindow]) -> None:
    cat, seg, ns = _tagged_chunk(windows)
    fast = group_levels(cat, seg, ns, ("expiry", "strike"))
    # symbol codes that do not identify a contract: the rows are sorted instead
    slow = group_levels(
        cat, seg, ns, ("expiry", "strike"), symbol_codes=np.zeros(cat.num_rows, np.int64)
    )
    for j, keys in enumerate(([], ["expiry"], ["expiry", "strike"])):
        ref = _lexsort_codes(cat, seg, keys)
        for got in (fast, slow):
            codes, first, g_seg = got[j]
            assert (codes == ref).all()
            assert (codes[first] == np.arange(first.size)).all()
            assert (g_seg == seg[first]).all()


def test_level_sums_compiled_equal_bincount(windows: list[UnderlyingWindow]) -> None:
    """The compiled one-pass sums are bit-identical to ``np.bincount`` of ``row_weights``."""
    from chainlens._engine import force, numba_available

    if not numba_available():
        pytest.skip("numba not installed")
    cat, seg, ns = _tagged_chunk(windows)
    levels = group_levels(cat, seg, ns, ("expiry", "strike"))
    codes, sizes = [lv[0] for lv in levels], [lv[2].size for lv in levels]
    w = row_weights(cat)
    for t in (cat, cat.drop_columns(["size", "deep_itm", "delta_notional_usd"])):
        w = row_weights(t)
        with force("numba"):
            got = level_sums(t, codes, sizes)
        for cd, g, s in zip(codes, sizes, got, strict=True):
            assert s.keys() == {*w, "trades"}
            for k, v in w.items():
                ref = np.bincount(cd, weights=v, minlength=g)
                assert ref.tobytes() == s[k].tobytes(), k
            assert (s["trades"] == np.bincount(cd, minlength=g)).all()


def test_tag_moneyness_many_both_joins_equal_per_pair(windows: list[UnderlyingWindow]) -> None:
    """The lookup join (every chain symbol in one chain) and the keyed Polars join (a symbol
    in two chains: the same window twice), a chain without ``delta``, equal per pair."""
    from chainlens.batched._flow import tag_moneyness_chunk

    cfg = FlowConfig()
    ws = [w for w in windows if w.trades.num_rows][:4]
    parts = [enrich_trades(w.trades, cfg) for w in ws]
    d = ws[0].session
    chains = [w.history.filter(pc.equal(w.history["trade_date"], d)) for w in ws]
    chains[1] = chains[1].drop_columns(["delta"])
    for ps, cs, unique in (
        (parts, chains, True),
        ([*parts, parts[0]], [*chains, chains[0]], False),
    ):
        assert tag_moneyness_chunk(ps, cs, cfg)[3] is unique
        got = tag_moneyness_many(ps, cs, cfg)
        for e, c, g in zip(ps, cs, got, strict=True):
            _tables_close(tag_moneyness(e, c), g)


def test_side_mix_and_flip_summary_many_equal_per_segment(
    windows: list[UnderlyingWindow],
) -> None:
    from chainlens.flow._analyze import _side_mix, side_mix_many
    from chainlens.flow._premium import flip_summary, flip_summary_many

    cat, seg, ns = _tagged_chunk(windows)
    sizes = np.bincount(seg, minlength=ns)
    off = np.concatenate([[0], np.cumsum(sizes)])
    got = side_mix_many(cat, seg, ns)
    for i, g in enumerate(got):
        ref = _side_mix(cat.slice(int(off[i]), int(sizes[i])))
        assert g.keys() == ref.keys()
        for k, v in ref.items():  # counts exactly, sums to 1e-12 relative
            assert type(g[k]) is type(v) and _close(g[k], v), k
    t, o = decompose_segmented(cat, seg, ns, ("underlying", "expiry"))
    refs = [flip_summary(t.slice(int(o[i]), int(o[i + 1] - o[i]))) for i in range(ns)]
    assert flip_summary_many(t, o) == refs


def test_decompose_segmented_refuses_what_it_cannot_match(windows: list[UnderlyingWindow]) -> None:
    e = enrich_trades(windows[0].trades, FlowConfig())
    prem = e.column("premium_usd").to_numpy().copy()
    prem[0] = np.nan
    bad = e.set_column(e.column_names.index("premium_usd"), "premium_usd", pa.array(prem))
    with pytest.raises(ValueError, match="premium"):
        decompose_segmented(bad, np.zeros(bad.num_rows, np.int64), 1, ("underlying",))


# --------------------------------------------------------------------------- whole pipeline


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (
            a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= REL * max(abs(a), abs(b))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _norm(doc: dict[str, Any]) -> dict[str, Any]:
    import json

    doc = json.loads(json.dumps(doc, allow_nan=False))
    for r in doc["oi"]["term_signals"]:
        r["class_share"] = sorted(r["class_share"], key=lambda x: x["key"])
    doc["oi"]["events"] = sorted(doc["oi"]["events"], key=lambda r: (r["date"], r["kind"]))
    return doc


def _assert_market(ws: list[UnderlyingWindow], chunk: int) -> None:
    cfg = PipelineConfig()
    many: list[Any] = []
    for a in range(0, len(ws), chunk):
        many += analyze_underlyings(ws[a : a + chunk], cfg)
    assert len(many) == len(ws)
    for w, b in zip(ws, many, strict=True):
        a = analyze_underlying(w, cfg)
        assert isinstance(b, UnderlyingResult), (w.underlying, b)
        assert a.tables.keys() == b.tables.keys(), w.underlying
        for k in a.tables:
            _tables_close(a.tables[k], b.tables[k])
        assert _close(_norm(a.doc), _norm(b.doc)), w.underlying


def _market_windows(tmp: Path, **kw: Any) -> list[UnderlyingWindow]:
    from chainlens.sim import SimConfig, simulate_market

    m = simulate_market(SimConfig(**kw), tmp / "sim")
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        return list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))


@pytest.mark.slow
def test_demo_market_batched_equals_per_underlying(tmp_path: Path) -> None:
    """The demo market (seed 7, 30 underlyings, the demo's trades and prints; 5 sessions)."""
    ws = _market_windows(
        tmp_path, underlyings=30, sessions=5, seed=7, trades_per_underlying=2500,
        prints_per_underlying=80, story_end=True,
    )  # fmt: skip
    assert len(ws) == 30
    _assert_market(ws, chunk=32)


@pytest.mark.slow
def test_500_underlying_market_batched_equals_per_underlying(tmp_path: Path) -> None:
    """500 underlyings (2 sessions, 60 trades each: the check is about many segments in a
    chunk, so the tapes are kept short), chunks of CHUNK_MAX as the local runner makes them
    (dark pool and TWAP of the chunk in one call each), with a
    window that fails alone (no snapshot of the session) in the middle of a chunk."""
    import dataclasses

    ws = _market_windows(
        tmp_path, underlyings=500, sessions=2, seed=11, trades_per_underlying=60,
        prints_per_underlying=10, scenarios=False,
    )  # fmt: skip
    assert len(ws) == 500
    d = ws[0].session
    bad = dataclasses.replace(
        ws[40], history=ws[40].history.filter(pc.not_equal(ws[40].history["trade_date"], d))
    )
    got = analyze_underlyings([*ws[32:40], bad, *ws[41:64]], PipelineConfig())
    assert not isinstance(got[8], UnderlyingResult)
    assert all(isinstance(r, UnderlyingResult) for i, r in enumerate(got) if i != 8)
    _assert_market(ws, chunk=CHUNK_MAX)
