"""Integer-key group-by and the compiled quote rule, against independent references."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from chainlens.flow import _aggregate, _side, dict_codes, group_sum, quote_rule


def _reference(keys: list[np.ndarray], vals: np.ndarray) -> dict[tuple, tuple[int, float]]:
    out: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    for row in zip(*[k.tolist() for k in keys], vals.tolist(), strict=True):  # slow reference
        out[row[:-1]][0] += 1
        out[row[:-1]][1] += row[-1]
    return {k: (c, s) for k, (c, s) in out.items()}


def test_group_sum_matches_a_dict_reference_on_every_path() -> None:
    rng = np.random.default_rng(5)
    cards = (13, 4, 9, 2, 4)
    for n in (0, 1, 5_000, 250_000):  # 250k rows take the compiled dense path
        keys = [rng.integers(0, c, n) for c in cards]
        v = rng.uniform(0, 10, n)
        ref = _reference(keys, v) if n <= 5_000 else None
        results = [group_sum(keys, cards, {"p": v}, dense_limit=lim) for lim in (0, 1 << 25)]
        for gk, cnt, sums in results:
            assert cnt.sum() == n
            assert np.isclose(sums["p"].sum(), v.sum())
            if ref is not None:
                got = {
                    tuple(int(k[i]) for k in gk): (int(cnt[i]), sums["p"][i])
                    for i in range(len(cnt))
                }
                assert got.keys() == ref.keys()
                assert all(got[k][0] == ref[k][0] and np.isclose(got[k][1], ref[k][1]) for k in ref)
        (a_k, a_c, a_s), (b_k, b_c, b_s) = results
        assert all((x == y).all() for x, y in zip(a_k, b_k, strict=True))
        assert (a_c == b_c).all() and np.allclose(a_s["p"], b_s["p"])
    assert _aggregate.COMPILED_MIN_ROWS <= 250_000


def test_dict_codes_nulls_and_chunks() -> None:
    col = pa.chunked_array([["b", "a", None], ["a", "c"]])
    idx, dic = dict_codes(col)
    names = [None if i < 0 else dic[i].as_py() for i in idx.tolist()]
    assert names == ["b", "a", None, "a", "c"]


def test_compiled_quote_rule_equals_numpy_rule() -> None:
    rng = np.random.default_rng(11)
    n = _side.COMPILED_MIN_TRADES + 1000
    b = rng.uniform(0, 5, n)
    a = b + rng.uniform(-0.1, 0.5, n)
    p = b + (a - b) * rng.uniform(-0.2, 1.2, n)
    b[::97] = np.nan
    a[::101] = 0.0
    p[::103] = np.nan
    b[::7] = a[::7]
    p[::11] = b[::11]
    p[::13] = b[::13] + 0.4 * (a[::13] - b[::13])  # the band edge
    fast = quote_rule(p, b, a)
    ref = _side._quote_rule_numpy(p, b, a, 0.6, 0.4)
    assert (fast == ref).all()
    assert set(np.unique(fast).tolist()) == {-1, 0, 1, 2}


def test_partitioned_kernel_matches_bincount() -> None:
    """The compiled partitioned count-and-sum (long inputs) equals ``numpy.bincount``."""
    from chainlens.flow import _aggregate_numba as agn

    rng = np.random.default_rng(11)
    n, cards = 1_200_000, np.array([50, 100], dtype=np.int64)
    keys = (rng.integers(0, 50, n), rng.integers(0, 100, n))
    vals = (rng.uniform(0, 10, n), rng.normal(size=n))
    digits, cnt, sm = agn.partitioned_group_sum(keys, cards, vals, 5_000)
    comb = keys[0] * 100 + keys[1]
    ref_cnt = np.bincount(comb, minlength=5_000)
    nz = np.flatnonzero(ref_cnt)
    assert np.array_equal(digits[0] * 100 + digits[1], nz)
    assert np.array_equal(cnt, ref_cnt[nz])
    for j in range(2):
        ref = np.bincount(comb, weights=vals[j], minlength=5_000)[nz]
        assert np.array_equal(sm[j].view(np.int64), ref.view(np.int64))
