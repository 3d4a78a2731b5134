"""The chunk kernels of the chain analysis against independent references.

* :func:`chainlens.pricing._bsm.ncdf`: the compiled twin gives the NumPy path's digits bit
  for bit (both engines forced), including the interval edges, zeros, infinities and NaN;
  both agree with ``scipy.special.ndtr`` to the documented accuracy.
* :func:`chainlens.vol.argmin_per_group`: the sort-free path equals a plain ``np.lexsort``
  reference (and a per-group Python ``min``) on random inputs with ties, ``-0.0`` and
  infinities; keys with NaN take the lexsort path.
"""

from __future__ import annotations

import numpy as np
import pytest

from chainlens import _engine
from chainlens.pricing import _bsm
from chainlens.vol._expected_move import argmin_per_group


def _ncdf_inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 3.0, size=(21, 3000))
    edges = [0.0, -0.0, 0.67448975, -0.67448975, np.nextafter(0.67448975, 1.0),
             _bsm._SQRT_32, -_bsm._SQRT_32, np.nextafter(_bsm._SQRT_32, 10.0), 38.0, -38.0,
             -40.0, 1e-300, np.inf, -np.inf, np.nan]  # fmt: skip
    x.flat[: len(edges)] = edges
    return [x, rng.uniform(-40.0, 40.0, 70_000), np.linspace(-0.7, 0.7, 40_001)]


@pytest.mark.skipif(not _engine.numba_available(), reason="Numba not installed")
def test_ncdf_compiled_twin_is_bit_identical() -> None:
    for x in _ncdf_inputs():
        assert x.size >= _bsm.NCDF_COMPILED_MIN_SIZE
        with np.errstate(over="ignore", under="ignore"):
            e = np.exp(-0.5 * x * x)
        for given in (e, None):
            with _engine.force("numpy"), np.errstate(over="ignore", under="ignore"):
                a = _bsm.ncdf(x, given)
            with _engine.force("numba"), np.errstate(over="ignore", under="ignore"):
                b = _bsm.ncdf(x, given)
            assert a.shape == b.shape == x.shape
            assert np.array_equal(a, b, equal_nan=True)


def test_ncdf_against_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    x = np.linspace(-30.0, 9.0, 50_001)  # N(-38) is subnormal in scipy
    for eng in ("numpy", "numba") if _engine.numba_available() else ("numpy",):
        with _engine.force(eng):  # type: ignore[arg-type]
            got = _bsm.ncdf(x)
        ref = special.ndtr(x)
        assert np.all(np.abs(got - ref) <= 3e-13 * ref)


def _argmin_ref(codes: np.ndarray, n: int, *keys: np.ndarray, where: np.ndarray | None):
    """Per group, the eligible row with the least keys tuple (Python tuples; rows ascending
    so ties keep the first row)."""
    out = np.full(n, -1, dtype=np.int64)
    best: dict[int, tuple[float, ...]] = {}
    for i in range(codes.size):
        if where is not None and not where[i]:
            continue
        kt = tuple(float(k[i]) for k in keys)
        g = int(codes[i])
        if g not in best or kt < best[g]:
            best[g], out[g] = kt, i
    return out


def test_argmin_per_group_matches_a_reference() -> None:
    rng = np.random.default_rng(5)
    for it in range(1500):
        n, ng = int(rng.integers(0, 50)), int(rng.integers(1, 7))
        codes = rng.integers(0, ng, n)
        k1 = rng.integers(-3, 3, n).astype(np.float64)
        k2 = rng.integers(-2, 2, n).astype(np.float64)
        if it % 3 == 0:
            k1[rng.random(n) < 0.2] = np.inf
        if it % 5 == 0:
            k1[rng.random(n) < 0.3] = -0.0
        where = rng.random(n) < 0.7 if it % 2 else None
        got = argmin_per_group(codes, ng, k1, k2, where=where)
        assert np.array_equal(got, _argmin_ref(codes, ng, k1, k2, where=where)), it
        got1 = argmin_per_group(codes, ng, k1, where=where)
        assert np.array_equal(got1, _argmin_ref(codes, ng, k1, where=where)), it


def test_argmin_per_group_with_nan_keys_sorts_nan_last() -> None:
    codes = np.array([0, 0, 0, 1, 1])
    k1 = np.array([np.nan, 2.0, 2.0, np.nan, np.nan])
    k2 = np.array([0.0, 1.0, 0.0, 3.0, 1.0])
    assert argmin_per_group(codes, 3, k1, k2).tolist() == [2, 4, -1]


def _snapshots(rng: np.random.Generator, n: int) -> list[tuple[np.ndarray, ...]]:
    """Random snapshots: (expiry group, strike, is_call, OI) with repeated strikes (several
    roots), fractional strikes and OI, and expiries without OI."""
    out = []
    for _ in range(n):
        m = int(rng.integers(1, 40))
        g = rng.integers(0, 4, m)
        k = np.round(rng.uniform(5.0, 60.0, m) * 4.0) / 4.0 + rng.choice([0.0, 0.35, 0.1], m)
        c = rng.random(m) < 0.5
        oi = np.where(rng.random(m) < 0.2, 0.0, rng.integers(0, 500, m) * rng.uniform(0.5, 1.5))
        oi[g == 3] = 0.0
        out.append((g, k, c, oi))
    return out


def _is_max_pain(x: float, k: np.ndarray, c: np.ndarray, oi: np.ndarray) -> bool:
    """By definition: NaN without OI, else a listed strike whose total intrinsic value is
    the least (to rounding: the kernel's prefix sums break exact ties by a few ulps)."""
    if oi.sum() <= 0:
        return bool(np.isnan(x))

    def pain(y: float) -> float:
        return float(
            sum(
                o * max(0.0, y - s) if cc else o * max(0.0, s - y)
                for s, cc, o in zip(k, c, oi, strict=True)
            )
        )

    low = min(pain(y) for y in np.unique(k))
    scale = float(np.sum(oi * k))
    return bool(x in k) and pain(x) <= low + 1e-12 * scale


def test_max_pain_restarting_per_snapshot_is_each_snapshot_alone() -> None:
    from chainlens.exposure._maxpain import max_pain

    rng = np.random.default_rng(8)
    snaps = _snapshots(rng, 40)
    groups, restart, cat = [], [], []
    base = 0
    for j, (g, k, c, oi) in enumerate(snaps):
        present = np.unique(g)
        code = np.searchsorted(present, g)
        groups.append(code + base)
        restart += [j] * present.size
        base += present.size
        alone = max_pain(code, k, c, oi, present.size).strike
        cat.append(alone)
        for e in range(present.size):  # the definition, per expiry
            sel = code == e
            assert _is_max_pain(float(alone[e]), k[sel], c[sel], oi[sel])
    got = max_pain(
        np.concatenate(groups), np.concatenate([s[1] for s in snaps]),
        np.concatenate([s[2] for s in snaps]), np.concatenate([s[3] for s in snaps]),
        base, restart=np.asarray(restart),
    ).strike  # fmt: skip
    assert np.array_equal(got, np.concatenate(cat), equal_nan=True)  # bit for bit


def test_walls_many_are_the_walls_of_each_snapshot() -> None:
    from chainlens.exposure._walls import wall_above, wall_below, walls_many

    rng = np.random.default_rng(9)
    segs, ks, vs, spots, ref = [], [], [], [], []
    for j in range(60):
        m = int(rng.integers(0, 12))
        k = np.unique(rng.integers(80, 120, m).astype(np.float64))
        v = rng.integers(0, 4, k.size).astype(np.float64)  # many ties and zeros
        if j % 7 == 0 and k.size:
            v[0] = np.nan
        s = float(rng.choice([100.0, 99.5, 150.0, 50.0]))
        segs.append(np.full(k.size, j))
        ks.append(k)
        vs.append(v)
        spots.append(s)
        ref.append((wall_above(k, v, s), wall_below(k, v, s)))
        # the definition: largest value on the side, ties to the strike nearest spot
        vv = np.nan_to_num(v)
        up = [(-x, kk - s) for kk, x in zip(k, vv, strict=True) if kk >= s and x > 0]
        dn = [(-x, s - kk) for kk, x in zip(k, vv, strict=True) if kk <= s and x > 0]
        want = (s + min(up)[1] if up else np.nan, s - min(dn)[1] if dn else np.nan)
        assert np.array_equal(ref[-1], want, equal_nan=True)
    seg, k, v = np.concatenate(segs), np.concatenate(ks), np.concatenate(vs)
    above = walls_many(seg, k, v, np.asarray(spots), True)
    below = walls_many(seg, k, v, np.asarray(spots), False)
    assert np.array_equal(above, [r[0] for r in ref], equal_nan=True)
    assert np.array_equal(below, [r[1] for r in ref], equal_nan=True)


def test_zero_gamma_many_is_zero_gamma_of_each_profile() -> None:
    from chainlens.exposure._profile import spot_grid, zero_gamma, zero_gamma_many

    rng = np.random.default_rng(12)
    spots = rng.uniform(20.0, 500.0, 300)
    lv = np.stack([spot_grid(s, 0.15, 0.0025) for s in spots])
    g = rng.integers(-3, 4, lv.shape).astype(np.float64) * rng.uniform(0.5, 2.0, lv.shape)
    g[0] = 0.0  # zero everywhere
    g[1] = np.abs(g[1]) + 1.0  # positive everywhere
    g[2, 5] = np.nan  # no usable profile
    g[3] = -np.abs(g[3]) - 1.0  # negative everywhere
    g[4] = np.linspace(-1.0, 1.0, lv.shape[1])  # one crossing
    g[5, ::2] = 0.0  # exact zeros and crossings
    g[6] = np.sign(lv[6] - spots[6])  # symmetric crossings around spot: ties
    got = zero_gamma_many(lv, g, spots)
    for i in range(lv.shape[0]):
        want = zero_gamma(lv[i], g[i], float(spots[i]))
        assert got[i].reason == want.reason, i
        assert np.array_equal([got[i].level], [want.level], equal_nan=True), i
    # the hand-worked example of zero_gamma
    lv1 = np.array([[90.0, 95.0, 100.0, 105.0, 110.0]])
    z = zero_gamma_many(lv1, np.array([[-2.0, -1.0, 1.0, -1.0, -3.0]]), np.array([101.0]))
    assert z[0].level == 102.5 and z[0].reason is None
