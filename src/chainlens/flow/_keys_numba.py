"""Numba kernel of :func:`chainlens.flow._keys.stable_argsort` (a counting sort of dense keys).

A stable sort's permutation is unique (equal keys keep row order), so this one equals
``numpy.argsort(key, kind="stable")`` exactly; ``tests/test_flow_chunk_speed.py`` checks it.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["counting_argsort"]


@nb.njit(cache=True, nogil=True)
def counting_argsort(key, lo, span):
    """Rows of ``key`` (int64, every value in ``lo..lo+span-1``) in stable key order: one
    count per key value, their running sums as the start of each value's run, then every row
    placed at its value's next slot in row order. O(n + span)."""
    n = key.shape[0]
    start = np.zeros(span + 1, dtype=np.int64)
    for i in range(n):
        start[key[i] - lo + 1] += 1
    for v in range(span):
        start[v + 1] += start[v]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        v = key[i] - lo
        out[start[v]] = i
        start[v] += 1
    return out
