"""The chunk's node factorisations without a second sort (session 11, issue 13): rows
already in key order are not sorted again (:func:`chainlens.exposure._exposure.lex_groups`),
and a subset's stable order is read off the superset's (``subset_order``: the live rows'
(snapshot, strike) groups of ``by_strike_live``). The nodes, codes and every analysis equal
the sorting path's and the per-underlying reference path's, bit for bit, on either engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from chainlens import _engine
from chainlens.exposure._exposure import _lex_sorted, lex_groups, subset_order
from chainlens.pipeline import UnderlyingWindow
from test_batched_chain import _check, _market, _todays


def _lex_groups_sorting(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The factorisation by a stable ``np.lexsort`` always (the reference)."""
    order = np.lexsort(keys[::-1])
    new = np.ones(order.size, dtype=bool)
    if order.size:
        new[1:] = False
        for key in keys:
            ks = key[order]
            new[1:] |= ks[1:] != ks[:-1]
    codes = np.empty(order.size, dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    return order, new, codes


def _same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def _keys(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seg = np.sort(rng.integers(0, 4, n))
    e = rng.integers(0, 3, n)
    k = rng.choice(np.array([1.0, 2.5, -0.0, 0.0, np.nan, 3.0, np.inf]), n)
    return seg, e, k


@pytest.mark.parametrize("seed", range(6))
def test_lex_groups_equal_the_sorting_path(seed: int) -> None:
    """Sorted, unsorted, NaN, ±0.0 and infinite keys, empty and one-row inputs: the same
    order, nodes and codes as the stable lexsort; sorted rows take the no-sort path."""
    rng = np.random.default_rng(seed)
    for it in range(300):
        n = int(rng.integers(0, 60))
        seg, e, k = _keys(rng, n)
        if it % 2:
            o = np.lexsort((k, e, seg))
            seg, e, k = seg[o], e[o], k[o]
        for keys in ((seg, e, k), (seg, k), (k,), (e,), (seg, e)):
            _same(lex_groups(*keys), _lex_groups_sorting(*keys))


def test_sorted_rows_are_recognised() -> None:
    s = np.array([0, 0, 1, 1])
    assert _lex_sorted((s, np.array([1.0, 2.0, 0.5, 0.5])))
    assert not _lex_sorted((s, np.array([2.0, 1.0, 0.5, 0.5])))
    assert _lex_sorted((np.array([0, 1]), np.array([np.nan, 1.0])))  # decided by the first key
    assert not _lex_sorted((s, np.array([np.nan, 1.0, 0.5, 0.6])))  # undecided NaN: sort
    assert _lex_sorted((np.array([-0.0, 0.0, -0.0]),))  # equal keys: ties in row order
    assert not _lex_sorted((np.array([1, 2]), np.array([1.0])))  # lengths differ: lexsort


@pytest.mark.parametrize("seed", range(4))
def test_subset_order_is_the_subset_sort(seed: int) -> None:
    """The live rows' (snapshot, strike) order read off all rows' order equals the stable
    sort of the live rows alone, and so do their nodes and codes."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(200):
        n = int(rng.integers(0, 80))
        seg = np.sort(rng.integers(0, 5, n))
        k = rng.choice(np.array([1.0, 2.0, 3.0, 5.5]), n)
        live = rng.random(n) < 0.6
        order_all, _, _ = lex_groups(seg, k)
        sub = subset_order(order_all, live)
        got = lex_groups(seg[live], k[live], order=sub)
        _same(got, _lex_groups_sorting(seg[live], k[live]))


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> list[UnderlyingWindow]:
    return _market(
        tmp_path_factory.mktemp("w11b"), underlyings=10, sessions=3, seed=11,
        trades_per_underlying=10, prints_per_underlying=2, story_end=True,
    )  # fmt: skip


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_sorted_and_shuffled_snapshots_equal_each_alone(
    market: list[UnderlyingWindow], engine: str, tmp_path: Path
) -> None:
    """A chunk of snapshots in (expiry, strike) order (no sort) and shuffled ones (sorted)
    equals each snapshot's analysis alone, bit for bit, on either engine."""
    if engine == "numba" and not _engine.numba_available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(9)
    ts = _todays(market)
    ts = [
        t.sort_by([("expiry", "ascending"), ("strike", "ascending"), ("right", "ascending")])
        if i % 2
        else t.take(pa.array(rng.permutation(t.num_rows)))
        for i, t in enumerate(ts)
    ]
    with _engine.force(engine):  # type: ignore[arg-type]
        _check(ts, exact=engine == "numpy")


def _oi_walls_sorting(ge: Any, K: np.ndarray, is_call: np.ndarray, oi: np.ndarray, S: Any) -> list:
    """The OI walls per group by a full stable sort (group, OI descending, distance to spot
    ascending) of the (group, strike) nodes: the reference of ``_oi_walls_per_group``."""
    s_g = np.asarray(S, dtype=np.float64)
    s_row = s_g[ge.codes] if s_g.ndim else s_g
    out = []
    for is_c, above in ((is_call, True), (~is_call, False)):
        m = is_c & (oi > 0) & ((K >= s_row) if above else (K <= s_row))
        g, k, v = ge.codes[m], K[m], oi[m]
        res = np.full(ge.n, np.nan)
        if g.size:
            order, new, inv = _lex_groups_sorting(g, k)
            tot = np.bincount(inv, weights=v)
            ng, nk = g[order][new].astype(np.int64), k[order][new]
            o = np.lexsort((np.abs(nk - (s_g[ng] if s_g.ndim else s_g)), -tot, ng))
            gs = ng[o]
            first = np.ones(o.size, dtype=bool)
            first[1:] = gs[1:] != gs[:-1]
            res[gs[first]] = nk[o[first]]
        out.append(res)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_oi_walls_equal_the_sorting_path(seed: int) -> None:
    """Ties of OI and of distance to spot, NaN and infinite strikes, infinite OI, one spot
    or one per group: the same walls as the full sort."""
    from chainlens.analysis import _oi_walls_per_group
    from chainlens.exposure._exposure import Groups

    rng = np.random.default_rng(200 + seed)
    strikes = np.array([90.0, 95.0, 100.0, 105.0, 110.0])
    for it in range(1500):
        n, n_g = int(rng.integers(0, 50)), int(rng.integers(1, 5))
        ge = Groups(np.arange(n_g), rng.integers(0, n_g, n))
        K = rng.choice(np.r_[strikes, np.nan, np.inf] if it % 4 == 0 else strikes, n)
        c = rng.random(n) < 0.5
        oi = rng.choice(
            np.array([0.0, 1.0, 2.0, 5.0, np.inf] if it % 5 == 0 else [0.0, 1, 2, 3]), n
        )
        S = rng.choice([100.0, 97.5]) if it % 2 else rng.choice([100.0, 97.5, 102.5], n_g)
        got = _oi_walls_per_group(ge, K, c, oi, S)
        for x, y in zip(got, _oi_walls_sorting(ge, K, c, oi, S), strict=True):
            assert np.array_equal(x, y, equal_nan=True)


@pytest.mark.parametrize("seed", range(3))
def test_forward_lexsort_equals_numpy(seed: int) -> None:
    """``pricing._forward._lexsort``: the stable ``np.lexsort`` permutation, sorted or not,
    with NaN and ±0.0 keys."""
    from chainlens.pricing._forward import _lexsort

    rng = np.random.default_rng(300 + seed)
    for it in range(2000):
        n = int(rng.integers(0, 30))
        g = np.sort(rng.integers(0, 3, n))
        v = rng.choice(np.array([0.1, 0.2, -0.0, 0.0, np.nan] if it % 3 == 0 else [0.1, 0.2]), n)
        if it % 2:
            o = np.lexsort((v, g))
            g, v = g[o], v[o]
        for keys in ((v, g), (g,), (v,)):
            got, ref = _lexsort(keys), np.lexsort(keys)
            assert got.dtype == ref.dtype and np.array_equal(got, ref)


@pytest.mark.parametrize("seed", range(3))
def test_forward_lexsort_of_call_put_pairs(seed: int) -> None:
    """Rows in (group, t, strike) order with a call and a put (either first) or one of them
    at each strike: the swap path gives the stable ``np.lexsort`` permutation; a run of
    three rows at one strike goes to ``np.lexsort``."""
    from chainlens.pricing._forward import _lexsort

    rng = np.random.default_rng(400 + seed)
    for _ in range(2000):
        m = int(rng.integers(1, 15))
        g = np.sort(rng.integers(0, 3, m))
        K = np.concatenate(
            [np.sort(rng.choice(20, int((g == j).sum()), replace=False)) for j in range(3)]
        )
        K = K.astype(np.float64)
        reps = rng.choice([1, 2, 2, 2, 3], m)
        g, K = np.repeat(g, reps), np.repeat(K, reps)
        c = rng.random(g.size) < 0.5
        t = g * 0.25
        keys = (c, K, t, g)
        got, ref = _lexsort(keys), np.lexsort(keys)
        assert got.dtype == ref.dtype and np.array_equal(got, ref)


@pytest.mark.parametrize("seed", range(3))
def test_running_sums_twins(seed: int) -> None:
    """Max pain's restarted running sums: the compiled pass equals NumPy's ``cumsum`` of
    each run (forward and from the end), bit for bit, with NaN, ±inf and -0.0 values."""
    from chainlens.exposure import _maxpain

    if not _engine.numba_available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(500 + seed)
    vals = np.array([1.5, -2.25, 0.1, 1e16, -1e16, -0.0, 0.0, np.nan, np.inf, -np.inf, 3e-17])
    for it in range(500):
        n = int(rng.integers(1, 40))
        x = rng.choice(vals, n) if it % 2 else rng.normal(0, 1e3, n)
        cuts = np.unique(rng.integers(1, n + 1, int(rng.integers(1, 6))))
        runs = np.unique(np.r_[0, cuts, n])
        for reverse in (False, True):
            with _engine.force("numpy"), np.errstate(invalid="ignore"):
                ref = _maxpain._running(x, runs, reverse=reverse)
            with _engine.force("numba"), np.errstate(invalid="ignore"):
                got = _maxpain._running(x, runs, reverse=reverse)
            assert np.array_equal(ref.view(np.int64), got.view(np.int64))
