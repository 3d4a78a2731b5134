"""NumPy's pairwise float64 sum, compiled (Numba, ``cache=True``): the same additions in the
same order as ``np.add.reduce`` / ``np.sum`` of a contiguous float64 run (``DOUBLE_pairwise_sum``),
so a compiled kernel's sums have NumPy's bits. Shared by the blocked exposure kernels
(:mod:`chainlens.exposure._blocked_numba`) and the print-event pass
(:mod:`chainlens.flow._prints_numba`)."""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["leaf_sum", "pairwise_sum"]


@nb.njit(cache=True, nogil=True)
def leaf_sum(v, lo, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``v[lo:lo+n]`` for ``n <= 128`` (``DOUBLE_pairwise_sum``:
    a plain loop from -0.0 below 8 values, else 8 accumulators, combined pairwise, then the rest)."""
    if n < 8:
        res = -0.0  # NumPy starts at -0.0: a sum of -0.0 stays -0.0
        for i in range(n):
            res += v[lo + i]
        return res
    r0, r1, r2, r3 = v[lo], v[lo + 1], v[lo + 2], v[lo + 3]
    r4, r5, r6, r7 = v[lo + 4], v[lo + 5], v[lo + 6], v[lo + 7]
    m = n - (n % 8)
    i = 8
    while i < m:
        r0 += v[lo + i]
        r1 += v[lo + i + 1]
        r2 += v[lo + i + 2]
        r3 += v[lo + i + 3]
        r4 += v[lo + i + 4]
        r5 += v[lo + i + 5]
        r6 += v[lo + i + 6]
        r7 += v[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += v[lo + i]
        i += 1
    return res


@nb.njit(cache=True, nogil=True)
def pairwise_sum(v, lo, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``v[lo:lo+n]``: :func:`leaf_sum` up to 128 values, else the sum
    of the two halves (the first a multiple of 8 values), left plus right. Written with an
    explicit stack (Numba's on-disk cache does not keep recursive functions)."""
    if n <= 128:
        return leaf_sum(v, lo, n)
    s_lo = np.empty(192, np.int64)
    s_n = np.empty(192, np.int64)
    s_join = np.empty(192, np.bool_)
    vals = np.empty(192)
    sp = 0
    vp = 0
    s_lo[0], s_n[0], s_join[0] = lo, n, False
    sp = 1
    while sp > 0:
        sp -= 1
        l0, m, join = s_lo[sp], s_n[sp], s_join[sp]
        if join:  # both halves done: left + right
            vals[vp - 2] = vals[vp - 2] + vals[vp - 1]
            vp -= 1
        elif m <= 128:
            vals[vp] = leaf_sum(v, l0, m)
            vp += 1
        else:
            n2 = m // 2
            n2 -= n2 % 8
            s_lo[sp], s_n[sp], s_join[sp] = l0, m, True
            s_lo[sp + 1], s_n[sp + 1], s_join[sp + 1] = l0 + n2, m - n2, False
            s_lo[sp + 2], s_n[sp + 2], s_join[sp + 2] = l0, n2, False
            sp += 3
    return vals[0]
