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

    Only a row's non-zero weights are added (most rows weigh in a few buckets): adding a zero
    leaves every sum as it is (a sum starts at ``+0.0`` and can never become ``-0.0``, and
    ``x + 0.0 == x`` for every other ``x``; a NaN weight is not zero and is added), so the
    sums stay bit-identical to the ``bincount`` twin.
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
        w[0] = p if single and c and b else 0.0
        w[1] = p if single and c and se else 0.0
        w[2] = p if single and pt and b else 0.0
        w[3] = p if single and pt and se else 0.0
        w[4] = p if single and s == mid else 0.0
        w[5] = p if single and s == unknown else 0.0
        w[6] = p if not single else 0.0
        w[7] = p
        w[8] = p if d else 0.0
        w[9] = p if sy and not d else 0.0
        w[10] = p if not keep else 0.0
        w[11] = p if dsingle and c and b else 0.0
        w[12] = p if dsingle and c and se else 0.0
        w[13] = p if dsingle and pt and b else 0.0
        w[14] = p if dsingle and pt and se else 0.0
        w[15] = p if keep and c else 0.0
        w[16] = p if keep and pt else 0.0
        w[17] = x if dsingle and ((c and b) or (pt and se)) and dok else 0.0
        w[18] = x if dsingle and ((c and se) or (pt and b)) and dok else 0.0
        w[19] = x if keep and dok else 0.0
        w[20] = p if c else 0.0
        w[21] = p if pt else 0.0
        w[22] = z if single and c and b else 0.0
        w[23] = z if single and c and se else 0.0
        w[24] = z if single and pt and b else 0.0
        w[25] = z if single and pt and se else 0.0
        m = 0
        for j in range(k):
            if w[j] != 0.0:
                idx[m] = j
                m += 1
        for lv in range(levels):
            g = codes[lv, i] + offsets[lv]
            cnt[g] += 1
            for q in range(m):
                j = idx[q]
                acc[g, j] += w[j]
    return acc, cnt
