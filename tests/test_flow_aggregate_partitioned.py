"""The compiled radix-partitioned ``group_sum`` against independent references, bit for bit.

References: ``numpy.ravel_multi_index`` + ``numpy.bincount`` (which adds each group's values in
row order, as the partitioned kernel must) + ``numpy.unravel_index``, computed here and not with
the code under test; a slow dict-based group-by; hand-worked groups. Small inputs are sent down
the compiled path by lowering ``COMPILED_MIN_ROWS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens.flow import _aggregate, group_sum


@contextmanager
def _compiled_from(rows: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_aggregate, "COMPILED_MIN_ROWS", rows)
        yield


def _bincount_reference(
    keys: Sequence[np.ndarray], cards: Sequence[int], values: Mapping[str, np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    space = int(np.prod(cards))
    comb = np.ravel_multi_index([np.asarray(k, np.int64) for k in keys], tuple(cards))
    counts = np.bincount(comb, minlength=space)
    nz = np.flatnonzero(counts)
    sums = {
        name: np.bincount(comb, weights=np.asarray(v, np.float64), minlength=space)[nz]
        for name, v in values.items()
    }
    return list(np.unravel_index(nz, tuple(cards))), counts[nz], sums


def _assert_bit_identical(got, ref) -> None:  # type: ignore[no-untyped-def]
    (gk, gc, gs), (rk, rc, rs) = got, ref
    assert len(gk) == len(rk)
    for a, b in zip(gk, rk, strict=True):
        assert np.array_equal(a.astype(np.int64), b.astype(np.int64))
    assert gc.dtype == np.int64 and np.array_equal(gc, rc)
    assert gs.keys() == rs.keys()
    for name in rs:  # bit patterns: NaN payloads and signed zeros included
        assert gs[name].dtype == np.float64
        assert np.array_equal(gs[name].view(np.int64), rs[name].view(np.int64))


def _compiled_and_reference(keys, cards, values, **kw):  # type: ignore[no-untyped-def]
    with _compiled_from(0):
        got = group_sum(keys, cards, values, **kw)
    _assert_bit_identical(got, _bincount_reference(keys, cards, values))
    return got


def test_hand_worked_groups() -> None:
    keys = [np.array([0, 1, 0, 1]), np.array([2, 0, 2, 1])]
    gk, cnt, sums = _compiled_and_reference(keys, [2, 3], {"p": np.array([1.0, 2.0, 3.0, 4.0])})
    assert [k.tolist() for k in gk] == [[0, 1, 1], [2, 0, 1]]  # combined keys 2, 3, 4
    assert cnt.tolist() == [2, 1, 1] and sums["p"].tolist() == [4.0, 2.0, 4.0]


def test_output_types_are_those_of_the_previous_compiled_path() -> None:
    keys = [np.array([3, 1, 3]), np.array([0, 1, 0])]
    with _compiled_from(0):
        gk, cnt, sums = group_sum(keys, [4, 2], {"p": np.ones(3)})
    assert all(k.dtype == np.uint32 for k in gk)
    assert cnt.dtype == np.int64 and sums["p"].dtype == np.float64


def test_empty_input() -> None:
    keys = [np.zeros(0, np.int64), np.zeros(0, np.int64)]
    gk, cnt, sums = _compiled_and_reference(keys, [3, 5], {"p": np.zeros(0)})
    assert len(cnt) == 0 and len(sums["p"]) == 0 and [len(k) for k in gk] == [0, 0]


def test_single_group_and_unit_cardinalities() -> None:
    n = 1_000
    rng = np.random.default_rng(1)
    v = rng.normal(size=n)
    _compiled_and_reference([np.full(n, 6), np.full(n, 1)], [7, 3], {"p": v})
    _, cnt, _ = _compiled_and_reference([np.zeros(n, np.int64)] * 2, [1, 1], {"p": v})
    assert cnt.tolist() == [n]


def test_every_row_its_own_group_in_shuffled_order() -> None:
    cards = (37, 11, 5)
    comb = np.random.default_rng(2).permutation(37 * 11 * 5)
    keys = [np.asarray(k, np.int64) for k in np.unravel_index(comb, cards)]
    _, cnt, sums = _compiled_and_reference(keys, cards, {"p": comb * 0.5})
    assert (cnt == 1).all() and np.array_equal(sums["p"], np.arange(len(comb)) * 0.5)


def test_keys_at_the_cardinality_bounds() -> None:
    rng = np.random.default_rng(3)
    cards = (1000, 3, 17)
    keys = [rng.choice(np.array([0, c - 1]), 5_000) for c in cards]
    gk, _, _ = _compiled_and_reference(keys, cards, {"p": rng.uniform(size=5_000)})
    assert len(gk[0]) == 8 and gk[0].max() == 999 and gk[2].max() == 16


def test_nan_inf_and_signed_zeros_propagate_like_bincount() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    keys = [rng.integers(0, 50, n), rng.integers(0, 4, n)]
    v = rng.normal(size=n)
    v[::97] = np.nan
    v[::89] = -0.0
    v[::1013] = np.inf
    v[::1019] = -np.inf
    only_neg_zero = (keys[0] == 49) & (keys[1] == 3)
    v[only_neg_zero] = -0.0  # bincount: 0.0 + -0.0 = +0.0
    _, _, sums = _compiled_and_reference(keys, [50, 4], {"p": v})
    assert np.isnan(sums["p"]).any() and np.isinf(sums["p"]).any()
    assert np.signbit(sums["p"][-1]) == np.signbit(0.0 + -0.0)


def test_summation_in_row_order_across_row_blocks_and_partitions() -> None:
    # 1e16 + 1 rounds to 1e16: only row order gives 0.0 for the first group
    n = 300_000  # several row blocks per thread count
    rng = np.random.default_rng(5)
    k = rng.integers(1, 1 << 18, n)
    v = rng.uniform(-1, 1, n)
    rows = np.array([0, n // 2, n - 1])
    k[rows] = 0
    v[rows] = [1e16, 1.0, -1e16]
    _, cnt, sums = _compiled_and_reference([k], [1 << 18], {"p": v})
    assert cnt[0] == 3 and sums["p"][0] == 0.0


@pytest.mark.parametrize("threads", [1, 2])
def test_results_do_not_depend_on_the_thread_count(threads: int) -> None:
    rng = np.random.default_rng(6)
    n = 250_000
    keys = [rng.integers(0, 300, n), rng.integers(0, 900, n)]
    before = nb.get_num_threads()
    nb.set_num_threads(min(threads, nb.config.NUMBA_NUM_THREADS))
    try:
        _compiled_and_reference(keys, [300, 900], {"p": rng.normal(size=n)})
    finally:
        nb.set_num_threads(before)


def test_skewed_keys_all_in_one_partition() -> None:
    rng = np.random.default_rng(7)
    n = 150_000
    k = rng.integers(0, 40, n) + (1 << 19)
    _compiled_and_reference([k], [1 << 20], {"p": rng.normal(size=n)})


def test_value_columns_none_several_integer_and_strided() -> None:
    rng = np.random.default_rng(8)
    n = 30_000
    keys = [rng.integers(0, 30, n), rng.integers(0, 7, n)]
    wide = rng.normal(size=(n, 3))
    values = {
        "a": wide[:, 0],  # strided
        "b": rng.integers(-5, 5, n),  # integer, converted to float64
        "c": wide[:, 2] * 1e300,
    }
    _compiled_and_reference(keys, [30, 7], values)
    gk, cnt, sums = _compiled_and_reference(keys, [30, 7], {})
    assert sums == {} and cnt.sum() == n
    strided_keys = [np.repeat(keys[0], 2)[::2], keys[1]]
    _compiled_and_reference(strided_keys, [30, 7], {"a": wide[:, 1]})


def test_mixed_key_dtypes() -> None:
    rng = np.random.default_rng(9)
    n = 10_000
    keys = [
        rng.integers(0, 500, n).astype(np.int32),
        rng.integers(0, 20, n).astype(np.int16),
        rng.integers(0, 200, n).astype(np.uint8),
        rng.integers(0, 2, n).astype(np.uint64),
        rng.integers(0, 4, n).astype(np.int8),
    ]
    _compiled_and_reference(keys, [500, 20, 200, 2, 4], {"p": rng.normal(size=n)})


def test_rows_around_the_compiled_threshold() -> None:
    rng = np.random.default_rng(10)
    calls: list[bool] = []
    real = _aggregate._compiled

    def spy(rows: int):  # type: ignore[no-untyped-def]
        out = real(rows)  # the engine policy (chainlens._engine) with COMPILED_MIN_ROWS
        calls.append(out is not None)
        return out

    m = _aggregate.COMPILED_MIN_ROWS
    for n, compiled in ((m - 1, False), (m, True), (m + 1, True)):
        keys = [rng.integers(0, 100, n), rng.integers(0, 30, n)]
        values = {"p": rng.normal(size=n)}
        calls.clear()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_aggregate, "_compiled", spy)
            got = group_sum(keys, [100, 30], values)
        assert calls == [compiled]
        _assert_bit_identical(got, _bincount_reference(keys, [100, 30], values))


def test_key_space_just_under_and_over_the_dense_limit() -> None:
    rng = np.random.default_rng(11)
    n = 5_000
    cards = [60, 50]
    keys = [rng.integers(0, c, n) for c in cards]
    values = {"p": rng.normal(size=n)}
    ref = _bincount_reference(keys, cards, values)
    for limit in (3_000, 2_999):  # dense (compiled), then sorted
        with _compiled_from(0):
            gk, cnt, sums = group_sum(keys, cards, values, dense_limit=limit)
        assert all(np.array_equal(a, b) for a, b in zip(gk, ref[0], strict=True))
        assert np.array_equal(cnt, ref[1])
        assert np.allclose(sums["p"], ref[2]["p"], rtol=1e-12, atol=1e-12)


def test_out_of_range_codes_are_rejected_on_every_dense_path() -> None:
    keys = [np.array([0, 1, -1]), np.array([0, 0, 0])]
    for rows in (0, 10**9):  # compiled, NumPy
        with _compiled_from(rows), pytest.raises(ValueError):
            group_sum(keys, [2, 1], {"p": np.ones(3)})
    with pytest.raises(ValueError, match="same length"):
        group_sum([np.zeros(3, np.int64), np.zeros(2, np.int64)], [1, 1], {})


def _dict_reference(keys, values):  # type: ignore[no-untyped-def]
    out: dict[tuple[int, ...], list[float]] = {}
    for row in zip(*[k.tolist() for k in keys], values.tolist(), strict=True):
        acc = out.setdefault(row[:-1], [0, 0.0])
        acc[0] += 1
        acc[1] += row[-1]
    return out


@settings(max_examples=60, deadline=None)
@given(
    cards=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    n=st.integers(0, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_matches_a_dict_group_by(cards: list[int], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = [rng.integers(0, c, n) for c in cards]
    v = rng.choice(np.array([-1.5, 0.25, 3.0, 1e6]), n)  # exact binary fractions
    gk, cnt, sums = _compiled_and_reference(keys, cards, {"p": v})
    ref = _dict_reference(keys, v)
    got = {
        tuple(int(k[i]) for k in gk): [int(cnt[i]), float(sums["p"][i])] for i in range(len(cnt))
    }
    assert got == ref


def test_long_sparse_input_equals_the_numpy_sort_path() -> None:
    """Beyond ``dense_limit`` long inputs are decoded by the compiled kernel: same output."""
    rng = np.random.default_rng(12)
    n = _aggregate.COMPILED_MIN_ROWS + 1_000
    cards = [1_000, 700, 3]
    keys = [rng.integers(0, c, n) for c in cards]
    keys[0][:500] = 999  # a key at the bound
    v = rng.normal(size=n)
    v[::53] = -0.0
    v[::101] = np.nan
    values = {"p": v, "q": rng.integers(0, 9, n)}
    got = group_sum(keys, cards, values, dense_limit=1_000)
    with _compiled_from(10**12):
        ref = group_sum(keys, cards, values, dense_limit=1_000)
    _assert_bit_identical(got, ref)
    assert all(k.dtype == np.int64 for k in got[0])
