"""Numba kernels of :func:`chainlens.flow.group_sum` (dense path): one fused count-and-sum pass
and a parallel mixed-radix decode. Same results as the NumPy path (``bincount`` /
``unravel_index``), which the tests compare against."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["dense_count_sum", "decode"]


@nb.njit(cache=True, nogil=True)
def _count_sum(comb, vals, counts, sums):  # type: ignore[no-untyped-def]
    m = vals.shape[0]
    for i in range(comb.shape[0]):
        k = comb[i]
        counts[k] += 1
        for j in range(m):
            sums[j, k] += vals[j, i]


@nb.njit(parallel=True, cache=True, nogil=True)
def _count_sum_ranges(comb, vals, counts, sums, bounds):  # type: ignore[no-untyped-def]
    # one task per key range [bounds[t], bounds[t+1]): every task reads all rows but writes
    # only its own slots, so the scatter runs in parallel without atomics
    m = vals.shape[0]
    for t in nb.prange(bounds.shape[0] - 1):
        lo = bounds[t]
        hi = bounds[t + 1]
        for i in range(comb.shape[0]):
            k = comb[i]
            if k >= lo and k < hi:
                counts[k] += 1
                for j in range(m):
                    sums[j, k] += vals[j, i]


@nb.njit(parallel=True, cache=True, nogil=True)
def _decode(gk, cards, out):  # type: ignore[no-untyped-def]
    m = cards.shape[0]
    for i in nb.prange(gk.shape[0]):
        r = gk[i]
        for j in range(m - 1, -1, -1):
            c = cards[j]
            out[j, i] = r % c
            r //= c


def dense_count_sum(
    comb: np.ndarray, vals: np.ndarray, space: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts (``int32[space]``, ``int64`` beyond 2**31 rows) and sums (``float64[m, space]``) of ``vals[m, n]`` by ``comb``."""
    counts = np.zeros(space, dtype=np.int32 if comb.shape[0] < 2**31 else np.int64)
    sums = np.zeros((vals.shape[0], space), dtype=np.float64)
    tasks = nb.get_num_threads()
    if tasks > 1 and comb.shape[0] >= 1_000_000:
        bounds = np.linspace(0, space, tasks + 1).astype(np.int64)
        _count_sum_ranges(comb, vals, counts, sums, bounds)
    else:
        _count_sum(comb, vals, counts, sums)
    return counts, sums


def decode(gk: np.ndarray, cards: np.ndarray) -> np.ndarray:
    """Mixed-radix digits (``int64[m, g]``) of the combined keys ``gk``."""
    # 32-bit division is several times cheaper than 64-bit when the key space allows it
    dt = np.uint32 if int(np.prod(cards.astype(np.float64))) < 2**32 else np.int64
    out = np.empty((cards.shape[0], gk.shape[0]), dtype=dt)
    _decode(np.ascontiguousarray(gk, dtype=dt), cards.astype(dt), out)
    return out
