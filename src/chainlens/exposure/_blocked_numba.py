"""Compiled twins of :mod:`chainlens.exposure._blocked` (Numba, ``cache=True``, serial).

The same floating-point operations in the same order as the NumPy twins (no ``fastmath``:
no reassociation, no contraction into FMAs), so every value has the same bits on either
engine; the tests force both (``tests/test_blocked_kernels.py``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from chainlens._pairwise_numba import pairwise_sum as _pairwise

__all__ = [
    "block_args_d_nb",
    "block_args_nb",
    "running_sums_nb",
    "segment_sums_contig_nb",
    "segment_sums_nb",
    "sums_nb",
]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def block_args_nb(x, off, a, b, out):  # pragma: no cover - compiled
    """``out`` block ``j`` (``L × n_j``, C order, from ``L·off[j]``): ``(d·-0.5)·d`` with
    ``d = (x[j, i] - a[k])·b[k]`` for the contracts ``k`` of block ``j``
    (``off[j]:off[j+1]``, ``off[0] = 0``)."""
    nl = x.shape[1]
    for j in range(off.size - 1):
        lo, hi = off[j], off[j + 1]
        n = hi - lo
        av, bv = a[lo:hi], b[lo:hi]
        for i in range(nl):
            xi = x[j, i]
            ov = out[nl * lo + i * n : nl * lo + (i + 1) * n]
            for k in range(n):
                d = (xi - av[k]) * bv[k]
                ov[k] = (d * -0.5) * d


@nb.njit(cache=True, nogil=True, error_model="numpy")
def block_args_d_nb(x, off, a, b, out, d_out):  # pragma: no cover - compiled
    """:func:`block_args_nb`, and ``d`` itself in ``d_out``."""
    nl = x.shape[1]
    for j in range(off.size - 1):
        lo, hi = off[j], off[j + 1]
        n = hi - lo
        av, bv = a[lo:hi], b[lo:hi]
        for i in range(nl):
            xi = x[j, i]
            ov = out[nl * lo + i * n : nl * lo + (i + 1) * n]
            dv = d_out[nl * lo + i * n : nl * lo + (i + 1) * n]
            for k in range(n):
                d = (xi - av[k]) * bv[k]
                dv[k] = d
                ov[k] = (d * -0.5) * d


@nb.njit(cache=True, nogil=True)
def _leaf_prod2(e, w0, w1, n):  # pragma: no cover - compiled
    """:func:`_leaf` of the products ``e[t]·w0[t]`` and of ``e[t]·w1[t]`` (``t < n <= 128``)
    in one pass over ``e`` (views: 0-based indices, which LLVM vectorises)."""
    if n < 8:
        res0 = -0.0
        res1 = -0.0
        for i in range(n):
            res0 += e[i] * w0[i]
            res1 += e[i] * w1[i]
        return res0, res1
    r0, r1, r2, r3 = e[0] * w0[0], e[1] * w0[1], e[2] * w0[2], e[3] * w0[3]
    r4, r5, r6, r7 = e[4] * w0[4], e[5] * w0[5], e[6] * w0[6], e[7] * w0[7]
    q0, q1, q2, q3 = e[0] * w1[0], e[1] * w1[1], e[2] * w1[2], e[3] * w1[3]
    q4, q5, q6, q7 = e[4] * w1[4], e[5] * w1[5], e[6] * w1[6], e[7] * w1[7]
    m = n - (n % 8)
    for i in range(8, m, 8):
        e0, e1, e2, e3 = e[i], e[i + 1], e[i + 2], e[i + 3]
        e4, e5, e6, e7 = e[i + 4], e[i + 5], e[i + 6], e[i + 7]
        r0 += e0 * w0[i]
        r1 += e1 * w0[i + 1]
        r2 += e2 * w0[i + 2]
        r3 += e3 * w0[i + 3]
        r4 += e4 * w0[i + 4]
        r5 += e5 * w0[i + 5]
        r6 += e6 * w0[i + 6]
        r7 += e7 * w0[i + 7]
        q0 += e0 * w1[i]
        q1 += e1 * w1[i + 1]
        q2 += e2 * w1[i + 2]
        q3 += e3 * w1[i + 3]
        q4 += e4 * w1[i + 4]
        q5 += e5 * w1[i + 5]
        q6 += e6 * w1[i + 6]
        q7 += e7 * w1[i + 7]
    res0 = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    res1 = ((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7))
    for i in range(m, n):
        res0 += e[i] * w0[i]
        res1 += e[i] * w1[i]
    return res0, res1


@nb.njit(cache=True, nogil=True, error_model="numpy")
def segment_sums_contig_nb(e, nl, off, starts, seg_block, w, out):  # pragma: no cover
    """:func:`segment_sums_nb` of two weight columns when every segment is a run of
    consecutive contracts (``perm`` the identity): the products summed where they lie, no
    gathering. ``w``: ``(2, contracts)``, each weight column contiguous."""
    tmp = np.empty(max(1, starts[-1] - starts[0]))
    for s in range(starts.size - 1):
        p0, p1 = starts[s], starts[s + 1]
        m = p1 - p0
        j = seg_block[s]
        lo = off[j]
        n = off[j + 1] - lo
        w0, w1 = w[0, p0:p1], w[1, p0:p1]
        for i in range(nl):
            eo = nl * lo + i * n + (p0 - lo)  # e[eo]: the segment's first contract, level i
            ev = e[eo : eo + m]
            if m == 1:  # a one-value segment: that value (reduceat adds nothing)
                out[s, i, 0] = ev[0] * w0[0]
                out[s, i, 1] = ev[0] * w1[0]
            elif m <= 129:
                s0, s1 = _leaf_prod2(ev[1:], w0[1:], w1[1:], m - 1)
                out[s, i, 0] = ev[0] * w0[0] + s0
                out[s, i, 1] = ev[0] * w1[0] + s1
            else:
                for v in range(2):
                    wv = w[v, p0:p1]
                    for p in range(m):
                        tmp[p] = ev[p] * wv[p]
                    out[s, i, v] = tmp[0] + _pairwise(tmp, 1, m - 1)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def segment_sums_nb(e, nl, off, perm, starts, seg_block, w, out):  # pragma: no cover
    """``out[s, i, v]``: ``np.add.reduceat`` (first value, plus the pairwise sum of the rest)
    of ``e[i, k]·w[k, v]`` over the contracts ``perm[starts[s]:starts[s+1]]`` of segment
    ``s`` (block ``seg_block[s]`` of ``e``, :func:`block_args_nb`'s layout)."""
    nw = w.shape[1]
    n_seg = starts.size - 1
    tmp = np.empty(max(1, perm.size))
    for s in range(n_seg):
        p0, p1 = starts[s], starts[s + 1]
        m = p1 - p0
        j = seg_block[s]
        lo = off[j]
        n = off[j + 1] - lo
        for i in range(nl):
            row = nl * lo + i * n - lo  # e[row + k]: contract k (of block j) at level i
            for v in range(nw):
                for p in range(m):
                    k = perm[p0 + p]
                    tmp[p] = e[row + k] * w[k, v]
                out[s, i, v] = tmp[0] if m == 1 else tmp[0] + _pairwise(tmp, 1, m - 1)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def sums_nb(v, starts, out):  # pragma: no cover - compiled
    """``out[s] = v[starts[s]:starts[s+1]].sum()`` (NumPy's: ``0.0`` plus the pairwise sum)."""
    for s in range(starts.size - 1):
        out[s] = 0.0 + _pairwise(v, starts[s], starts[s + 1] - starts[s])


@nb.njit(cache=True, nogil=True, error_model="numpy")
def running_sums_nb(x, runs, reverse, out):  # pragma: no cover - compiled
    """``np.cumsum`` of ``x`` restarted at every run ``runs[r]:runs[r+1]`` (from the run's
    end when ``reverse``): the first value as it is, then each one added to the previous
    sum in order, as NumPy's cumulative sum adds them (the same bits)."""
    for r in range(runs.size - 1):
        lo, hi = runs[r], runs[r + 1]
        if hi <= lo:
            continue
        if reverse:
            acc = x[hi - 1]
            out[hi - 1] = acc
            for i in range(hi - 2, lo - 1, -1):
                acc = acc + x[i]
                out[i] = acc
        else:
            acc = x[lo]
            out[lo] = acc
            for i in range(lo + 1, hi):
                acc = acc + x[i]
                out[i] = acc
