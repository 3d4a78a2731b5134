"""Numba kernels of :func:`chainlens.flow.print_events` (one pass over the trades instead of
a dozen NumPy passes and a ``numpy.unique``).

* :func:`burst_heads`: each sweep row's event named by the first sweep row of its burst (a
  table indexed by burst id; the caller uses it when the ids are dense).
* :func:`event_sums`: the events in order of their first row, and per event the reductions of
  ``print_events``: the earliest time, the summed size (integers), the summed premium, price
  times size, delta notional and aggressiveness, the last row with a spot, the count of
  aggressiveness values and the ``any`` of the boolean flags.

The float sums of an event of two rows or more are those of ``numpy.add.reduceat`` over the
event's rows in row order, bit for bit: the first value plus NumPy's pairwise sum of the
others (:func:`pairwise_sum`, which is how ``reduceat`` adds a segment: the first value copied
to the output, then the inner loop's reduction, a pairwise sum starting from ``-0.0``, added
to it). ``tests/test_w11a_prints_kernels.py`` checks both against NumPy.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["burst_heads", "event_sums", "pairwise_sum"]


@nb.njit(cache=True, nogil=True)
def pairwise_sum(a, lo, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``a[lo:lo + n]`` (float64): below 8 values a running sum from
    ``-0.0``; up to 128 values eight running sums (every eighth value) combined as
    ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` then the rest added one by one;
    above 128, the two halves (split at a multiple of 8) summed alone and added."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        m = n - n % 8
        i = 8
        while i < m:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, lo, n2) + pairwise_sum(a, lo + n2, n - n2)


@nb.njit(cache=True, nogil=True)
def _segment_sum(a, lo, hi):  # pragma: no cover - compiled
    """``numpy.add.reduceat`` of the segment ``a[lo:hi]`` (at least one value)."""
    if hi - lo == 1:
        return a[lo]
    return a[lo] + pairwise_sum(a, lo + 1, hi - lo - 1)


@nb.njit(cache=True, nogil=True)
def burst_heads(sweep, b, bmin, span):  # pragma: no cover - compiled
    """Per row, the row naming its event: a sweep row's first sweep row of its burst id
    ``b`` (every id in ``bmin..bmin+span-1``), any other row itself."""
    n = sweep.shape[0]
    first = np.full(span, -1, dtype=np.int64)
    gid = np.empty(n, dtype=np.int64)
    for i in range(n):
        if sweep[i]:
            k = b[i] - bmin
            f = first[k]
            if f < 0:
                first[k] = i
                gid[i] = i
            else:
                gid[i] = f
        else:
            gid[i] = i
    return gid


@nb.njit(cache=True, nogil=True)
def event_sums(gid, t, q, qv, p, pv, prem, dn, spv, agg, agv, flags):  # pragma: no cover
    """The events of ``print_events`` (``gid``: each row's first row, ``gid[i] <= i``) in
    order of their first row, and their reductions (see the module docstring).

    Returns ``(rep, counts, e_t, e_q, e_prem, e_ps, e_dn, e_spot_row, e_agg_sum, e_agg_n,
    e_any, mr, cut, eids)``: the first row and the rows of each event; the earliest ``t``;
    the summed ``q``; the sums of ``prem``, of ``p * q`` (0 where either is null), of ``dn``
    and of ``agg`` where valid; the last row with a valid spot (``-1``: none); the valid
    aggressiveness count; ``any`` of each row of ``flags`` per event; and for the events of
    two rows or more, their rows grouped by event in row order (``mr``), each group's start
    in ``mr`` (``cut``) and its event (``eids``).
    """
    n = gid.shape[0]
    k = flags.shape[0]
    ev = np.empty(n, dtype=np.int64)
    rep_all = np.empty(n, dtype=np.int64)
    e = 0
    for i in range(n):
        g = gid[i]
        if g == i:
            ev[i] = e
            rep_all[e] = i
            e += 1
        else:
            ev[i] = ev[g]
    rep = rep_all[:e].copy()
    counts = np.zeros(e, dtype=np.int64)
    for i in range(n):
        counts[ev[i]] += 1
    e_t = np.empty(e, dtype=np.int64)
    e_q = np.empty(e, dtype=np.int64)
    e_prem = np.empty(e, dtype=np.float64)
    e_ps = np.empty(e, dtype=np.float64)
    e_dn = np.empty(e, dtype=np.float64)
    e_spot_row = np.empty(e, dtype=np.int64)
    e_agg_sum = np.empty(e, dtype=np.float64)
    e_agg_n = np.empty(e, dtype=np.int64)
    e_any = np.empty((k, e), dtype=np.bool_)
    # the start of each multi-row event's rows in ``mr`` (events in order)
    start = np.full(e, -1, dtype=np.int64)
    m = 0
    n_multi = 0
    for j in range(e):
        r = rep[j]
        e_t[j] = t[r]
        e_q[j] = q[r]
        e_prem[j] = prem[r]
        e_ps[j] = p[r] * np.float64(q[r]) if (pv[r] and qv[r]) else 0.0
        e_dn[j] = dn[r]
        e_spot_row[j] = r if spv[r] else -1
        e_agg_sum[j] = agg[r] if agv[r] else 0.0
        e_agg_n[j] = 1 if agv[r] else 0
        for c in range(k):
            e_any[c, j] = flags[c, r]
        if counts[j] >= 2:
            start[j] = m
            m += counts[j]
            n_multi += 1
    mr = np.empty(m, dtype=np.int64)
    cut = np.empty(n_multi, dtype=np.int64)
    eids = np.empty(n_multi, dtype=np.int64)
    h = 0
    for j in range(e):
        if counts[j] >= 2:
            cut[h] = start[j]
            eids[h] = j
            h += 1
    pos = start.copy()
    for i in range(n):
        j = ev[i]
        if counts[j] >= 2:
            mr[pos[j]] = i
            pos[j] += 1
    # the multi-row events: their rows' values gathered in row order, reduced per event
    v_prem = np.empty(m, dtype=np.float64)
    v_ps = np.empty(m, dtype=np.float64)
    v_dn = np.empty(m, dtype=np.float64)
    v_agg = np.empty(m, dtype=np.float64)
    for x in range(m):
        r = mr[x]
        v_prem[x] = prem[r]
        v_ps[x] = p[r] * np.float64(q[r]) if (pv[r] and qv[r]) else 0.0
        v_dn[x] = dn[r]
        v_agg[x] = agg[r] if agv[r] else 0.0
    for h in range(n_multi):
        j = eids[h]
        lo = cut[h]
        hi = lo + counts[j]
        tmin = t[mr[lo]]
        qs = 0
        srow = -1
        an = 0
        for x in range(lo, hi):
            r = mr[x]
            if t[r] < tmin:
                tmin = t[r]
            qs += q[r]
            if spv[r] and r > srow:
                srow = r
            if agv[r]:
                an += 1
            for c in range(k):
                if flags[c, r]:
                    e_any[c, j] = True
        e_t[j] = tmin
        e_q[j] = qs
        e_spot_row[j] = srow
        e_agg_n[j] = an
        e_prem[j] = _segment_sum(v_prem, lo, hi)
        e_ps[j] = _segment_sum(v_ps, lo, hi)
        e_dn[j] = _segment_sum(v_dn, lo, hi)
        e_agg_sum[j] = _segment_sum(v_agg, lo, hi)
    return (
        rep, counts, e_t, e_q, e_prem, e_ps, e_dn, e_spot_row, e_agg_sum, e_agg_n, e_any, mr,
        cut, eids,
    )  # fmt: skip
