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
