"""The chain analysis of a chunk of snapshots (:func:`chainlens.analysis.analyze_chains`)
against :func:`chainlens.analysis.analyze_chain` of each snapshot alone (the per-underlying
reference path), table by table and key by key.

Integers, strings, dates and the exclusion reasons exactly; floats to 1e-12 relative (the
contract-level step is elementwise with each row's own spot and snapshot instant, and the
carry is a per-(snapshot, expiry) kernel: the batched values are in fact bit for bit the
same, which ``exact=True`` checks on the simulated markets). Markets: the demo market (seed
7, 30 underlyings), a simulated 200-underlying market, and edge snapshots (one expiry, an
expiry-day session with 0DTE and expired contracts, no IV, no OI, vendor greeks in some
snapshots only, no spot, two underlyings in one table).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.analysis import ChainAnalysis, analyze_chain, analyze_chains
from chainlens.errors import ChainlensError
from chainlens.exposure import AnalysisConfig
from chainlens.pipeline import PipelineConfig, UnderlyingWindow
from chainlens.runners.local import iter_windows
from chainlens.store import Store

REL = 1e-12


def _same(a: Any, b: Any, exact: bool, where: str) -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, where
        if a.dtype.kind == "f" and not exact:
            ok = (a == b) | (np.isnan(a) & np.isnan(b))
            with np.errstate(invalid="ignore"):
                ok |= np.abs(a - b) <= REL * np.maximum(np.abs(a), np.abs(b))
            assert ok.all(), where
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
        return
    if isinstance(a, pa.Table) or isinstance(b, pa.Table):
        assert isinstance(a, pa.Table) and isinstance(b, pa.Table), where
        assert a.schema.equals(b.schema), where
        for name in a.column_names:
            x, y = a.column(name), b.column(name)
            if pa.types.is_floating(x.type):
                assert x.is_null().equals(y.is_null()), (where, name)
                _same(
                    pc.fill_null(x, 0.0).to_numpy(), pc.fill_null(y, 0.0).to_numpy(), exact,
                    f"{where}.{name}",
                )  # fmt: skip
            else:
                assert x.equals(y), (where, name)
        return
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], exact, f"{where}.{k}")
        return
    if isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, exact, f"{where}[{i}]")
        return
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), where
        elif exact:
            assert a == b, where
        else:
            assert abs(a - b) <= REL * max(abs(a), abs(b)), where
        return
    assert type(a) is type(b) and a == b, (where, a, b)


def assert_same_analysis(a: ChainAnalysis, b: ChainAnalysis, *, exact: bool = False) -> None:
    """Every field of two analyses equal (floats to 1e-12 relative, or bit for bit)."""
    for f in dataclasses.fields(ChainAnalysis):
        _same(getattr(a, f.name), getattr(b, f.name), exact, f"{a.underlying}.{f.name}")
    _same(a.to_json(), b.to_json(), exact, f"{a.underlying}.to_json")


def _check(tables: list[pa.Table], cfg: AnalysisConfig | None = None, *, exact: bool) -> list[Any]:
    got = analyze_chains(tables, cfg)
    assert len(got) == len(tables)
    for t, g in zip(tables, got, strict=True):
        try:
            ref: list[ChainAnalysis] | ChainlensError = analyze_chain(t, cfg)
        except ChainlensError as exc:
            ref = exc
        if isinstance(ref, ChainlensError):
            assert isinstance(g, ChainlensError) and type(g) is type(ref), g
            assert str(g) == str(ref)
            continue
        assert isinstance(g, list) and len(g) == len(ref)
        for x, y in zip(ref, g, strict=True):
            assert_same_analysis(x, y, exact=exact)
    return got


def _todays(ws: list[UnderlyingWindow]) -> list[pa.Table]:
    return [w.history.filter(pc.equal(w.history["trade_date"], w.session)) for w in ws]


def _market(tmp: Path, **kw: Any) -> list[UnderlyingWindow]:
    from chainlens.sim import SimConfig, simulate_market

    m = simulate_market(SimConfig(**kw), tmp / "sim")
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        return list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[UnderlyingWindow]:
    """The demo market (seed 7, 30 underlyings, 5 sessions)."""
    return _market(
        tmp_path_factory.mktemp("demo"), underlyings=30, sessions=5, seed=7,
        trades_per_underlying=50, prints_per_underlying=5, story_end=True,
    )  # fmt: skip


def test_demo_market_chunk_equals_each_snapshot(
    demo: list[UnderlyingWindow], monkeypatch: pytest.MonkeyPatch
) -> None:
    import chainlens.analysis as an

    assert len(demo) == 30
    alone: list[int] = []
    ref = an.analyze_chain
    _check(_todays(demo), exact=True)
    # and none of them went the one-by-one way inside analyze_chains
    monkeypatch.setattr(an, "analyze_chain", lambda t, c=None: alone.append(1) or ref(t, c))
    analyze_chains(_todays(demo))
    assert alone == []
    for cfg in (
        AnalysisConfig(greeks="model", dealer_model="short_all"),
        AnalysisConfig(greeks="vendor", vendor_fallback="model"),
    ):
        _check(_todays(demo[:8]), cfg, exact=True)


@pytest.mark.slow
def test_200_underlying_market_chunk_equals_each_snapshot(tmp_path: Path) -> None:
    ws = _market(
        tmp_path, underlyings=200, sessions=2, seed=3, trades_per_underlying=10,
        prints_per_underlying=2, scenarios=False,
    )  # fmt: skip
    assert len(ws) == 200
    _check(_todays(ws), exact=True)


def _set(t: pa.Table, name: str, values: Any) -> pa.Table:
    i = t.column_names.index(name)
    return t.set_column(i, t.schema.field(name), pa.array(values, t.schema.field(name).type))


def _edges(ts: list[pa.Table]) -> list[pa.Table]:
    """Edge snapshots built from real simulated ones."""
    a, b, c, e, f, g = ts[:6]
    exp = a["expiry"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    one_expiry = a.filter(pa.array(exp == exp.min()))
    # an expiry-day session: the snapshot's date moved onto its nearest expiry (0DTE live
    # until the close, an AM-settled one and earlier dates expired)
    e0 = b["expiry"].to_numpy(zero_copy_only=False).astype("datetime64[D]").min()
    day = e0.astype(object)
    shift = (
        np.datetime64(day, "D")
        - b["trade_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")[0]
    )
    snap = b["snapshot_ts"].cast(pa.int64()).to_numpy() + shift.astype("timedelta64[ns]").astype(
        np.int64
    )
    zero_dte = _set(b, "trade_date", [day] * b.num_rows)
    zero_dte = zero_dte.set_column(
        zero_dte.column_names.index("snapshot_ts"), zero_dte.schema.field("snapshot_ts"),
        pa.array(snap).cast(zero_dte.schema.field("snapshot_ts").type),
    )  # fmt: skip
    if "settlement" in zero_dte.column_names:
        sett = np.where(np.arange(zero_dte.num_rows) % 3 == 0, "AM", "PM").tolist()
        zero_dte = _set(zero_dte, "settlement", sett)
    no_iv = _set(c, "iv", [None] * c.num_rows)
    for col in ("gamma", "delta"):
        no_iv = _set(no_iv, col, [None] * no_iv.num_rows)
    no_oi = _set(e, "open_interest", [0] * e.num_rows)
    null_oi = _set(f, "open_interest", [None] * f.num_rows)
    no_spot = _set(g, "spot", [None] * g.num_rows)
    two = pa.concat_tables([a, c])
    empty = a.slice(0, 0)
    return [one_expiry, zero_dte, no_iv, no_oi, null_oi, no_spot, two, empty, *ts[6:12]]


def test_a_strike_that_is_not_positive_keeps_the_groups_of_each_snapshot(
    demo: list[UnderlyingWindow],
) -> None:
    """A zero strike: the expiry/strike groups are those of ``group_by`` per snapshot."""
    ts = _todays(demo[:5])
    k = ts[2]["strike"].to_numpy().copy()
    k[3] = 0.0
    ts[2] = _set(ts[2], "strike", k)
    _check(ts, exact=True)


def test_edge_snapshots_chunk_equals_each_snapshot(demo: list[UnderlyingWindow]) -> None:
    tables = _edges(_todays(demo))
    got = _check(tables, exact=True)
    assert isinstance(got[5], ChainlensError)  # no spot: the error of that table alone
    assert isinstance(got[6], list) and len(got[6]) == 2  # two underlyings: both analysed
    assert got[7] == []
    zd = got[1]
    assert isinstance(zd, list)
    assert zd[0].excluded.get("expired", 0) > 0  # the AM-settled 0DTE contracts
    # vendor greeks in some snapshots only, model greeks in the others (greeks="auto")
    _check([tables[2], *tables[8:]], exact=True)
    _check(tables, AnalysisConfig(greeks="model"), exact=True)


def test_chunk_boundaries_do_not_matter(demo: list[UnderlyingWindow]) -> None:
    """A snapshot's analysis is the same alone, in a chunk, or in another order."""
    ts = _todays(demo[:10])
    a = analyze_chains(ts)
    b = analyze_chains(ts[::-1])[::-1]
    for x, y in zip(a, b, strict=True):
        assert isinstance(x, list) and isinstance(y, list)
        assert_same_analysis(x[0], y[0], exact=True)


def test_curve_batches_of_any_size(
    demo: list[UnderlyingWindow], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The profiles and surfaces of a snapshot are the same whatever batch it is in (one
    snapshot per batch, or all of them), and under the compiled engine (then the profile of
    each snapshot is computed alone, as the engine policy decides for one snapshot)."""
    import chainlens.analysis as an
    from chainlens import _engine

    ts = _todays(demo[:12])
    monkeypatch.setattr(an, "_CACHE_TERMS", 1)
    _check(ts, exact=True)
    monkeypatch.setattr(an, "_CACHE_TERMS", 10**9)
    _check(ts, exact=True)
    if _engine.numba_available():
        with _engine.force("numba"):
            _check(ts[:4], exact=False)


def test_chunk_tables_follow_the_config(demo: list[UnderlyingWindow]) -> None:
    """The chunk-built tables (by_expiry with or without the vol columns, by_strike, the
    contracts), walls, max pain and zero gammas equal each snapshot's alone whatever parts
    of the analysis are switched off."""
    ts = _todays(demo[:6])
    for cfg in (
        AnalysisConfig(vol=False),
        AnalysisConfig(profile=False, surfaces=False),
        AnalysisConfig(dealer_model="short_all", vol=False, surfaces=False),
    ):
        got = _check(ts, cfg, exact=True)
        for g in got:
            assert isinstance(g, list)
            assert ("rr_25d" in g[0].by_expiry.column_names) == cfg.vol


def test_rows_in_any_order(demo: list[UnderlyingWindow]) -> None:
    """Snapshots whose rows are not sorted by expiry (the kernels' general path: the
    profile segments sorted first) equal each snapshot alone too."""
    rng = np.random.default_rng(4)
    ts = _todays(demo[:8])
    ts = [t.take(pa.array(rng.permutation(t.num_rows))) if i % 2 else t for i, t in enumerate(ts)]
    _check(ts, exact=True)
