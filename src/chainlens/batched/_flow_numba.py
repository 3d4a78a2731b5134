"""Numba kernel of the premium decomposition sums (:func:`chainlens.batched._flow.level_sums`).

One pass over the trades in row order: each row's bucket weights (its premium, USD, where the
row belongs to the bucket, else ``0.0``; the ``delta_*`` buckets its delta notional, USD; the
contract buckets its size, contracts), computed from the row's flags exactly as
:func:`chainlens.batched._flow.row_weights` computes them, are added to the row's group of every
grouping level at once. Each group's weights are added in row order starting from ``+0.0``, as
``numpy.bincount(codes, weights=w)`` adds them, so the sums are bit-identical to the NumPy twin
(``tests/test_batched_kernels.py`` checks it).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["bucket_sums"]

#: Weight columns of the kernel's output, in order (the keys of ``row_weights``).
KEYS = (
    "calls_bought_usd", "calls_sold_usd", "puts_bought_usd", "puts_sold_usd", "mid_usd",
    "unknown_usd", "multileg_usd", "total_usd", "deep_itm_usd", "synthetic_usd", "excluded_usd",
    "dir_calls_bought_usd", "dir_calls_sold_usd", "dir_puts_bought_usd", "dir_puts_sold_usd",
    "dir_call_premium_usd", "dir_put_premium_usd", "delta_bullish_usd", "delta_bearish_usd",
    "delta_notional_usd", "call_premium_usd", "put_premium_usd",
    "#calls_bought", "#calls_sold", "#puts_bought", "#puts_sold",
)  # fmt: skip


@nb.njit(cache=True, nogil=True)
def bucket_sums(
    codes, offsets, total, prem, call, put, side, ml, deep, syn, dn, size, buy, sell, mid, unknown
):
    """Sums per (group, weight key) and rows per group.

    ``codes[l, i]``: row ``i``'s group at level ``l``, whose groups are rows
    ``offsets[l]:offsets[l] + G_l`` of the output; ``total`` = sum of ``G_l``. ``side``: the
    side code (``int8``), ``buy``/``sell``/``mid``/``unknown`` its values. Returns
    ``(sums[total, len(KEYS)], counts[total])``.

    Only the buckets a row belongs to are added (most rows weigh in a few): each row lists
    its (bucket, weight) pairs once, then adds them to its group of every level. Skipping a
    bucket the row is not in skips a ``+0.0`` weight, and adding a zero weight leaves every
    sum as it is (a sum starts at ``+0.0`` and can never become ``-0.0``, and ``x + 0.0 == x``
    for every other ``x``; a NaN weight is added), so the sums stay bit-identical to the
    ``bincount`` twin. (Listing the buckets by the masks directly is ~25 % faster than
    computing all 26 weights and keeping the non-zero ones.)
    """
    n = prem.shape[0]
    levels = codes.shape[0]
    k = 26
    acc = np.zeros((total, k), dtype=np.float64)
    cnt = np.zeros(total, dtype=np.int64)
    w = np.empty(k, dtype=np.float64)
    idx = np.empty(k, dtype=np.int64)
    for i in range(n):
        p = prem[i]
        c = call[i]
        pt = put[i]
        s = side[i]
        single = not ml[i]
        d = deep[i]
        sy = syn[i]
        keep = (not d) and (not sy)
        dsingle = single and keep
        b = s == buy
        se = s == sell
        x = dn[i]
        dok = not np.isnan(x)
        z = size[i]
        # the row's buckets (the masks of ``row_weights``), each with its weight
        idx[0] = 7
        w[0] = p
        m = 1
        if single:
            if c and b:
                idx[m] = 0
                w[m] = p
                idx[m + 1] = 22
                w[m + 1] = z
                m += 2
            elif c and se:
                idx[m] = 1
                w[m] = p
                idx[m + 1] = 23
                w[m + 1] = z
                m += 2
            if pt and b:
                idx[m] = 2
                w[m] = p
                idx[m + 1] = 24
                w[m + 1] = z
                m += 2
            elif pt and se:
                idx[m] = 3
                w[m] = p
                idx[m + 1] = 25
                w[m + 1] = z
                m += 2
            if s == mid:
                idx[m] = 4
                w[m] = p
                m += 1
            elif s == unknown:
                idx[m] = 5
                w[m] = p
                m += 1
        else:
            idx[m] = 6
            w[m] = p
            m += 1
        if d:
            idx[m] = 8
            w[m] = p
            m += 1
        elif sy:
            idx[m] = 9
            w[m] = p
            m += 1
        if not keep:
            idx[m] = 10
            w[m] = p
            m += 1
        if dsingle:
            if c and b:
                idx[m] = 11
                w[m] = p
                m += 1
            elif c and se:
                idx[m] = 12
                w[m] = p
                m += 1
            if pt and b:
                idx[m] = 13
                w[m] = p
                m += 1
            elif pt and se:
                idx[m] = 14
                w[m] = p
                m += 1
            if dok:
                if (c and b) or (pt and se):
                    idx[m] = 17
                    w[m] = x
                    m += 1
                if (c and se) or (pt and b):
                    idx[m] = 18
                    w[m] = x
                    m += 1
        if keep:
            if c:
                idx[m] = 15
                w[m] = p
                m += 1
            if pt:
                idx[m] = 16
                w[m] = p
                m += 1
            if dok:
                idx[m] = 19
                w[m] = x
                m += 1
        if c:
            idx[m] = 20
            w[m] = p
            m += 1
        if pt:
            idx[m] = 21
            w[m] = p
            m += 1
        for lv in range(levels):
            g = codes[lv, i] + offsets[lv]
            cnt[g] += 1
            for q in range(m):
                acc[g, idx[q]] += w[q]
    return acc, cnt
