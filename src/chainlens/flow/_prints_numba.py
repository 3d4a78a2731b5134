"""Numba kernels of :func:`chainlens.flow.print_events` (one pass over the trades instead of
a dozen NumPy passes and a ``numpy.unique``).

* :func:`burst_events`: each row's event, a sweep row's that of the first sweep row of its
  burst (a table indexed by burst id; the caller uses it when the ids are dense).
* :func:`event_sums`: the events in order of their first row, and per event the reductions of
  ``print_events``: the earliest time, the summed size (integers), the summed premium and
  delta notional, the size-weighted price, the spot of the last row with one, the mean
  aggressiveness and the ``any`` of the boolean flags (each array allocated once: on this
  VM touching fresh memory costs as much as the arithmetic).

The float sums of an event of two rows or more are those of ``numpy.add.reduceat`` over the
event's rows in row order, bit for bit: the first value plus NumPy's pairwise sum of the
others (:func:`pairwise_sum`, which is how ``reduceat`` adds a segment: the first value copied
to the output, then the inner loop's reduction, a pairwise sum starting from ``-0.0``, added
to it). ``tests/test_w11a_prints_kernels.py`` checks both against NumPy.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from chainlens._pairwise_numba import pairwise_sum

__all__ = ["burst_events", "event_sums", "pairwise_sum", "ro"]


def ro(a: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """A read-only C-contiguous view of ``a`` (a copy only when its dtype or layout differ).

    The kernels' callers pass every array through it: Arrow hands out read-only arrays for
    one-chunk columns and writable ones for concatenated chunks, and Numba compiles (and
    caches) one specialization per read-only/writable combination of the arguments; with
    every argument read-only there is one per kernel."""
    v = np.ascontiguousarray(a, dtype=dtype).view()
    v.flags.writeable = False
    return v


@nb.njit(cache=True, nogil=True)
def _segment_sum(a, lo, hi):  # pragma: no cover - compiled
    """``numpy.add.reduceat`` of the segment ``a[lo:hi]`` (at least one value)."""
    if hi - lo == 1:
        return a[lo]
    return a[lo] + pairwise_sum(a, lo + 1, hi - lo - 1)


@nb.njit(cache=True, nogil=True)
def burst_events(sweep, b, bmin, span):  # pragma: no cover - compiled
    """Per row, its event (numbered from 0 in order of first row) and the number of events:
    a sweep row is in the event of the first sweep row of its burst id ``b`` (every id in
    ``bmin..bmin+span-1``), any other row in an event of its own."""
    n = sweep.shape[0]
    first = np.full(span, -1, dtype=np.int64)
    ev = np.empty(n, dtype=np.int64)
    e = 0
    for i in range(n):
        if sweep[i]:
            k = b[i] - bmin
            f = first[k]
            if f < 0:
                first[k] = e
                ev[i] = e
                e += 1
            else:
                ev[i] = f
        else:
            ev[i] = e
            e += 1
    return ev, e


@nb.njit(cache=True, nogil=True, error_model="numpy")
def event_sums(ev, e, t, q, qv, p, pv, prem, dn, spot, spv, agg, agv, flags):  # pragma: no cover
    """The reductions of ``print_events`` per event (``ev``: each row's event, numbered in
    order of first row, ``e`` events; ``ev`` empty: every row its own event).

    Returns ``(head, counts, e_t, e_q, e_prem, price, e_dn, e_spot, spot_null, agg_mean,
    agg_null, e_any, mr, cut, eids)``: whether each row is its event's first; per event its
    rows, earliest ``t``, summed ``q``, summed ``prem``, the size-weighted price
    ``sum(p * q) / sum(q)`` (``p * q`` 0 where either is null), summed ``dn``, the spot of its
    last row with one (``spot_null``: none), the mean valid aggressiveness (``agg_null``:
    none) and ``any`` of each row of ``flags``; for the events of two rows or more their
    rows grouped by event in row order (``mr``), each group's start in ``mr`` (``cut``) and
    its event (``eids``).
    """
    n = t.shape[0]
    k = flags.shape[0]
    alone = ev.shape[0] == 0
    head = np.zeros(n, dtype=np.bool_)
    rep_all = np.empty(n, dtype=np.int64)  # only its first e entries are written
    counts = np.zeros(e, dtype=np.int64)
    for i in range(n):
        j = i if alone else ev[i]
        if counts[j] == 0:
            head[i] = True
            rep_all[j] = i
        counts[j] += 1
    e_t = np.empty(e, dtype=np.int64)
    e_q = np.empty(e, dtype=np.int64)
    e_prem = np.empty(e, dtype=np.float64)
    price = np.empty(e, dtype=np.float64)
    e_dn = np.empty(e, dtype=np.float64)
    e_spot = np.empty(e, dtype=np.float64)
    spot_null = np.zeros(e, dtype=np.bool_)
    agg_mean = np.empty(e, dtype=np.float64)
    agg_null = np.zeros(e, dtype=np.bool_)
    e_any = np.empty((k, e), dtype=np.bool_)
    # the start of each multi-row event's rows in ``mr`` (events in order)
    start = np.full(e, -1, dtype=np.int64)
    m = 0
    n_multi = 0
    for j in range(e):
        r = rep_all[j]
        if counts[j] >= 2:
            start[j] = m
            m += counts[j]
            n_multi += 1
            continue
        e_t[j] = t[r]
        e_q[j] = q[r]
        e_prem[j] = prem[r]
        ps = p[r] * np.float64(q[r]) if (pv[r] and qv[r]) else 0.0
        price[j] = ps / np.float64(q[r])
        e_dn[j] = dn[r]
        if spv[r]:
            e_spot[j] = spot[r]
        else:
            e_spot[j] = spot[0] if n else 0.0
            spot_null[j] = True
        if agv[r]:
            agg_mean[j] = agg[r] / 1.0
        else:
            agg_mean[j] = 0.0 / 1.0
            agg_null[j] = True
        for c in range(k):
            e_any[c, j] = flags[c, r]
    mr = np.empty(m, dtype=np.int64)
    cut = np.empty(n_multi, dtype=np.int64)
    eids = np.empty(n_multi, dtype=np.int64)
    h = 0
    for j in range(e):
        if counts[j] >= 2:
            cut[h] = start[j]
            eids[h] = j
            h += 1
    if m == 0:
        return (
            head, counts, e_t, e_q, e_prem, price, e_dn, e_spot, spot_null, agg_mean, agg_null,
            e_any, mr, cut, eids,
        )  # fmt: skip
    pos = start.copy()
    for i in range(n):
        j = i if alone else ev[i]
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
        for c in range(k):
            e_any[c, j] = False
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
        e_prem[j] = _segment_sum(v_prem, lo, hi)
        price[j] = _segment_sum(v_ps, lo, hi) / np.float64(qs)
        e_dn[j] = _segment_sum(v_dn, lo, hi)
        if srow >= 0:
            e_spot[j] = spot[srow]
        else:
            e_spot[j] = spot[0]
            spot_null[j] = True
        agg_mean[j] = _segment_sum(v_agg, lo, hi) / np.float64(an if an > 0 else 1)
        agg_null[j] = an == 0
    return (
        head, counts, e_t, e_q, e_prem, price, e_dn, e_spot, spot_null, agg_mean, agg_null, e_any,
        mr, cut, eids,
    )  # fmt: skip
