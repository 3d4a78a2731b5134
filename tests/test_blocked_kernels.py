"""The blocked (levels × contracts) kernels of the chunk's profiles and surfaces
(:mod:`chainlens.exposure._blocked`) against plain NumPy references, on both engines.

* :func:`block_args`: the ``exp`` arguments (and ``d``) of each snapshot's block equal the
  per-snapshot NumPy expression bit for bit;
* :func:`segment_sums`: ``np.add.reduceat`` of the products per segment (the first value
  plus NumPy's pairwise sum of the rest), contracts in order or permuted, with ``-0.0``
  products, one-value segments and segments longer than NumPy's 128-value pairwise block;
* :func:`sums`: ``v[a:b].sum()`` per segment (empty ones, ``-0.0``, long ones);
* :func:`~chainlens.exposure._profile.zero_gamma_many`: :func:`zero_gamma` of every row,
  reasons included;
* a snapshot larger than one NumPy chunk of the profile kernels (its sums in chunks, as the
  per-underlying path forms them) in a chunk of snapshots equals the snapshot alone, bit for
  bit (:func:`chainlens.analysis.analyze_chains` against :func:`~chainlens.analysis.analyze_chain`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens import _engine
from chainlens.exposure._blocked import block_args, block_view, segment_sums, sums
from chainlens.exposure._profile import zero_gamma, zero_gamma_many
from test_batched_chain import _check, _market, _todays

ENGINES = ("numpy", "numba") if _engine.numba_available() else ("numpy",)


def _case(rng: np.random.Generator, sorted_: bool, long: bool) -> dict:
    m, nl = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    sizes = rng.integers(1, 700 if long else 12, m)
    off = np.r_[0, np.cumsum(sizes)]
    n = int(off[-1])
    seg = np.repeat(np.arange(m), sizes)
    ek = rng.integers(0, 3 if long else 40, n)
    if sorted_:
        ek = np.concatenate([np.sort(ek[off[j] : off[j + 1]]) for j in range(m)])
    x = rng.normal(4.6, 0.1, (m, nl))
    a, b = rng.normal(4.6, 0.1, n), rng.uniform(0.5, 30.0, n)
    w = rng.normal(size=(n, 2))
    w[rng.random(n) < 0.2] = 0.0
    w[rng.random(n) < 0.1] *= -1e-300  # products that underflow to -0.0
    in_order = bool(np.all((seg[1:] != seg[:-1]) | (ek[1:] >= ek[:-1])))
    perm = None if in_order else np.lexsort((ek, seg)).astype(np.int64)
    p = np.arange(n) if perm is None else perm
    ss, es = seg[p], ek[p]
    st = np.flatnonzero(np.r_[True, (ss[1:] != ss[:-1]) | (es[1:] != es[:-1])])
    return dict(x=x, off=off, a=a, b=b, w=w, perm=perm, p=p, seg=seg, st=st, sb=ss[st], nl=nl)


@pytest.mark.parametrize("engine", ENGINES)
def test_block_args_and_segment_sums_equal_numpy_references(engine: str) -> None:
    rng = np.random.default_rng(3)
    for it in range(240):
        c = _case(rng, sorted_=it % 2 == 0, long=it % 3 == 0)
        x, off, a, b, w, nl = c["x"], c["off"], c["a"], c["b"], c["w"], c["nl"]
        with _engine.force(engine):  # type: ignore[arg-type]
            e, d = block_args(x, off, a, b, want_d=True)
            e2, none = block_args(x, off, a, b)
            assert none is None and np.array_equal(e, e2)
            np.exp(e, out=e)
            st = np.r_[c["st"], off[-1]]
            got = segment_sums(e, nl, off, c["perm"], st, c["sb"], w)
        for j in range(off.size - 1):  # the per-snapshot expression of the profile kernels
            lo, hi = off[j], off[j + 1]
            dj = (x[j][:, None] - a[None, lo:hi]) * b[None, lo:hi]
            assert np.array_equal(block_view(d, off, nl, j), dj)
            assert np.array_equal(block_view(e, off, nl, j), np.exp(-0.5 * dj * dj))
        # the reduceat reference: the (levels, contracts) matrix in segment order
        p = c["p"]
        mat = np.take(np.ascontiguousarray(x.T), c["seg"][p], axis=1)
        mat -= a[p]
        mat *= b[p]
        ref_e = mat * -0.5
        ref_e *= mat
        np.exp(ref_e, out=ref_e)
        for v in range(2):
            ref = np.add.reduceat(ref_e * w[p, v][None, :], c["st"], axis=1).T
            assert np.array_equal(got[:, :, v], ref)
            assert np.array_equal(np.signbit(got[:, :, v]), np.signbit(ref))


@pytest.mark.parametrize("engine", ENGINES)
def test_sums_equal_numpy_sum(engine: str) -> None:
    rng = np.random.default_rng(8)
    for it in range(200):
        n = int(rng.integers(0, 3000 if it % 4 == 0 else 60))
        v = rng.normal(size=n) * np.exp(rng.normal(size=n) * 4)
        v[rng.random(n) < 0.2] = -0.0
        if it % 7 == 0:
            v[:] = -0.0
        cuts = np.sort(rng.integers(0, n + 1, int(rng.integers(0, 6))))
        starts = np.r_[0, cuts, n].astype(np.int64)  # empty segments included
        with _engine.force(engine):  # type: ignore[arg-type]
            got = sums(v, starts)
        ref = np.array([v[starts[s] : starts[s + 1]].sum() for s in range(starts.size - 1)])
        assert np.array_equal(got, ref) and np.array_equal(np.signbit(got), np.signbit(ref))


def test_zero_gamma_many_equals_zero_gamma() -> None:
    rng = np.random.default_rng(2)
    m, nl = 3000, 11
    lv = np.sort(rng.uniform(50.0, 150.0, (m, nl)), axis=1)
    g = rng.normal(size=(m, nl))
    g[::5] = np.abs(g[::5])  # positive everywhere
    g[1::5] = -np.abs(g[1::5])  # negative everywhere
    g[2::7] = 0.0  # zero everywhere
    g[3::11, 3] = np.nan  # no usable profile
    g[4::13, 2] = 0.0  # an exact zero
    g[5::17] = np.abs(g[5::17])
    g[5::17, 4] = 0.0  # an exact zero in a positive profile
    g[6::19, 1] = np.inf
    spots = rng.uniform(50.0, 150.0, m)
    got = zero_gamma_many(lv, g, spots)
    reasons = set()
    for i in range(m):
        ref = zero_gamma(lv[i], g[i], float(spots[i]))
        assert got[i].reason == ref.reason
        assert got[i].level == ref.level or (np.isnan(got[i].level) and np.isnan(ref.level))
        reasons.add(ref.reason)
    assert len(reasons) == 5  # found, and the four reasons for none


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list:
    return _market(
        tmp_path_factory.mktemp("demo"), underlyings=6, sessions=2, seed=7,
        trades_per_underlying=10, prints_per_underlying=2,
    )  # fmt: skip


def _large(t: pa.Table, rows: int) -> pa.Table:
    """The snapshot ``t`` repeated with its strikes shifted a little each time (distinct
    contracts) to at least ``rows`` rows."""
    parts = []
    i = 0
    k = t.schema.get_field_index("strike")
    while sum(p.num_rows for p in parts) < rows:
        strike = pc.multiply(pc.cast(t.column("strike"), pa.float64()), 1.0 + 0.0007 * i)
        parts.append(t.set_column(k, t.schema.field(k), pc.cast(strike, t.schema.field(k).type)))
        i += 1
    return pa.concat_tables(parts)


@pytest.mark.parametrize("engine", ["auto", "numpy"])
def test_a_snapshot_larger_than_a_profile_chunk_equals_it_alone(demo: list, engine: str) -> None:
    ts = _todays(demo)
    big = _large(ts[0], 2_000_000 // 121 + 500)  # more contracts than one NumPy chunk
    assert big.num_rows * 121 * 3 < 8_000_000  # NumPy profile kernel alone (auto)
    with _engine.force(engine):  # type: ignore[arg-type]
        _check([ts[1], big, ts[2]], exact=True)
