"""The chunk's node factorisations without a second sort (session 11, issue 13): rows
already in key order are not sorted again (:func:`chainlens.exposure._exposure.lex_groups`),
and a subset's stable order is read off the superset's (``subset_order``: the live rows'
(snapshot, strike) groups of ``by_strike_live``). The nodes, codes and every analysis equal
the sorting path's and the per-underlying reference path's, bit for bit, on either engine.
"""

from __future__ import annotations

from pathlib import Path

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
