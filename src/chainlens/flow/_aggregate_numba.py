"""Numba kernels of :func:`chainlens.flow.group_sum` (dense path): a radix-partitioned group-by.

The combined key :math:`c` (row-major mixed radix of the key codes) is computed row by row in
the compiled passes and never stored. With ``P = ceil(space / 2**shift)``
partitions of ``2**shift`` consecutive keys each (``shift`` chosen so that one partition's
counts and sums fit in the L2 cache):

1. *histogram* (parallel over ``B`` row blocks): rows per (block, partition ``c >> shift``);
2. *scatter* (parallel over row blocks): a counting sort of (``c & mask``, values) into the
   partitions; block ``b`` writes its rows of partition ``p`` in row order after those of the
   blocks before it, so every partition holds its rows in the original row order;
3. *group count* (parallel over partitions): non-empty keys per partition, whose prefix sum is
   each partition's first output group;
4. *reduce and emit* (parallel over partitions): counts and sums of the partition accumulated in
   cache in row order, then its non-empty keys emitted in ascending key order, decoded into
   mixed-radix digits with a carry counter (no division).

All writes of passes 2 and 4 are sequential streams and every random access hits a
cache-resident array, unlike a direct scatter into the ``space``-slot arrays. Because each
group's values are added in row order, starting from ``+0.0``, the sums are bit-identical to
``numpy.bincount(c, weights=v)`` (NaN and signed zeros included), which the tests check.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import literal_unroll

__all__ = ["decode", "partitioned_group_sum"]

#: Bytes of one partition's per-key state (counts and sums) kept in cache.
_PARTITION_BYTES = 1 << 20
#: Partition tasks of passes 3-4 per thread (each allocates its cache-sized scratch once).
_TASKS_PER_THREAD = 4


@nb.njit(cache=True, nogil=True)
def _comb(keys, cards, i):  # type: ignore[no-untyped-def]
    # combined key of row i: row-major mixed radix, unrolled over the key columns
    c = np.int64(0)
    j = 0
    for k in literal_unroll(keys):
        c = c * cards[j] + k[i]
        j += 1
    return c


@nb.njit(parallel=True, cache=True, nogil=True)
def _histogram(keys, cards, n, space, shift, nparts, nblocks):  # type: ignore[no-untyped-def]
    hist = np.zeros((nblocks, nparts), dtype=np.int64)
    bad = np.zeros(nblocks, dtype=np.int64)
    for b in nb.prange(nblocks):
        h = np.zeros(nparts, dtype=np.int64)
        nbad = 0
        for i in range(n * b // nblocks, n * (b + 1) // nblocks):
            c = _comb(keys, cards, i)
            if c < 0 or c >= space:
                nbad += 1
            else:
                h[c >> shift] += 1
        hist[b] = h
        bad[b] = nbad
    return hist, bad.sum()


@nb.njit(parallel=True, cache=True, nogil=True)
def _scatter(keys, cards, vals, m, n, shift, offsets, lkey, pvals):  # type: ignore[no-untyped-def]
    nblocks = offsets.shape[0]
    mask = (1 << shift) - 1
    for b in nb.prange(nblocks):
        pos = offsets[b].copy()
        for i in range(n * b // nblocks, n * (b + 1) // nblocks):
            c = _comb(keys, cards, i)
            p = c >> shift
            q = pos[p]
            pos[p] = q + 1
            lkey[q] = c & mask
            for j in range(m):
                pvals[j, q] = vals[j][i]


@nb.njit(parallel=True, cache=True, nogil=True)
def _count_groups(lkey, starts, width, ntasks):  # type: ignore[no-untyped-def]
    nparts = starts.shape[0] - 1
    ngroups = np.zeros(nparts, dtype=np.int64)
    for t in nb.prange(ntasks):
        seen = np.zeros(width, dtype=np.uint8)
        for p in range(nparts * t // ntasks, nparts * (t + 1) // ntasks):
            g = 0
            for i in range(starts[p], starts[p + 1]):
                q = lkey[i]
                g += 1 - seen[q]
                seen[q] = 1
            for i in range(starts[p], starts[p + 1]):
                seen[lkey[i]] = 0
            ngroups[p] = g
    return ngroups


@nb.njit(parallel=True, cache=True, nogil=True)
def _reduce_emit(  # type: ignore[no-untyped-def]
    lkey, pvals, m, starts, first, shift, space, cards, ntasks, cnt_proto, cnt_out, sum_out, dig_out
):
    nparts = starts.shape[0] - 1
    width = 1 << shift
    nk = cards.shape[0]
    for t in nb.prange(ntasks):
        cnt = np.zeros(width, dtype=cnt_proto.dtype)
        sm = np.zeros(width * max(m, 1), dtype=np.float64)
        dig = np.empty(nk, dtype=np.int64)
        for p in range(nparts * t // ntasks, nparts * (t + 1) // ntasks):
            for i in range(starts[p], starts[p + 1]):
                q = np.int64(lkey[i])
                cnt[q] += 1
                for j in range(m):
                    sm[q * m + j] += pvals[j, i]
            base = np.int64(p) << shift
            r = base
            for d in range(nk - 1, -1, -1):
                dig[d] = r % cards[d]
                r //= cards[d]
            o = first[p]
            for q in range(min(width, space - base)):
                if cnt[q] != 0:
                    cnt_out[o] = cnt[q]
                    cnt[q] = 0
                    for j in range(m):
                        sum_out[j, o] = sm[q * m + j]
                        sm[q * m + j] = 0.0
                    for d in range(nk):
                        dig_out[d, o] = dig[d]
                    o += 1
                d = nk - 1
                dig[d] += 1
                while d > 0 and dig[d] == cards[d]:
                    dig[d] = 0
                    d -= 1
                    dig[d] += 1


def partitioned_group_sum(
    keys: tuple[np.ndarray, ...], cards: np.ndarray, vals: tuple[np.ndarray, ...], space: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits, counts and sums of the non-empty groups of ``keys``, in ascending key order.

    ``keys``: contiguous integer code arrays (``0 <= keys[i] < cards[i]``); ``cards``: their
    cardinalities (``int64``); ``vals``: contiguous ``float64`` arrays; ``space = prod(cards)``.
    Returns ``digits[len(keys), g]`` (``uint32`` when ``space < 2**32``, else ``int64``),
    ``counts[g]`` (``int64``) and ``sums[len(vals), g]`` (``float64``). Raises ``ValueError``
    when a combined key falls outside ``[0, space)``.
    """
    n = keys[0].shape[0]
    m = len(vals)
    nthreads = nb.get_num_threads()
    bits = max(int(space - 1).bit_length(), 1)
    # one partition's int32 counts and float64 sums fit in L2; at least ~8 partitions per
    # thread when the key space allows, so that the per-partition passes run in parallel
    cache_shift = (_PARTITION_BYTES // (4 + 8 * max(m, 1))).bit_length() - 1
    shift = max(min(cache_shift, 16, bits - (8 * nthreads).bit_length() + 1), 1)
    nparts = -(-space >> shift)
    nblocks = nthreads if n >= 100_000 else 1
    hist, bad = _histogram(keys, cards, n, space, shift, nparts, nblocks)
    if bad:
        raise ValueError(f"{bad} rows have a combined key outside [0, {space})")
    # start of block b's rows of partition p: partitions in order, blocks in order within each
    offsets = np.cumsum(hist.T.ravel()).reshape(nparts, nblocks).T - hist
    starts = np.empty(nparts + 1, dtype=np.int64)
    starts[:-1] = offsets[0]
    starts[-1] = n
    lkey = np.empty(n, dtype=np.uint16)
    pvals = np.empty((m, n), dtype=np.float64)
    vt = vals if m else (np.zeros(1),)
    _scatter(keys, cards, vt, m, n, shift, offsets, lkey, pvals)
    ntasks = min(nparts, _TASKS_PER_THREAD * nthreads)
    ngroups = _count_groups(lkey, starts, 1 << shift, ntasks)
    first = np.zeros(nparts, dtype=np.int64)
    np.cumsum(ngroups[:-1], out=first[1:])
    g = int(ngroups.sum())
    cnt_proto = np.zeros(0, dtype=np.int32 if n < 2**31 else np.int64)
    counts = np.empty(g, dtype=np.int64)
    sums = np.empty((m, g), dtype=np.float64)
    digits = np.empty((len(keys), g), dtype=np.uint32 if space < 2**32 else np.int64)
    _reduce_emit(
        lkey, pvals, m, starts, first, shift, space, cards, ntasks, cnt_proto, counts, sums, digits
    )
    return digits, counts, sums


@nb.njit(parallel=True, cache=True, nogil=True)
def _decode(gk, cards, out):  # type: ignore[no-untyped-def]
    m = cards.shape[0]
    for i in nb.prange(gk.shape[0]):
        r = gk[i]
        for j in range(m - 1, -1, -1):
            c = cards[j]
            out[j, i] = r % c
            r //= c


def decode(gk: np.ndarray, cards: np.ndarray) -> np.ndarray:
    """Mixed-radix digits (``int64[len(cards), g]``) of the combined keys ``gk`` (``int64``).

    Same values as ``numpy.unravel_index(gk, cards)``, several times faster: parallel, and in
    32-bit unsigned arithmetic (cheaper division) when ``prod(cards) < 2**32``.
    """
    dt = np.uint32 if int(np.prod(cards.astype(np.float64))) < 2**32 else np.int64
    out = np.empty((cards.shape[0], gk.shape[0]), dtype=np.int64)
    _decode(np.ascontiguousarray(gk, dtype=dt), cards.astype(dt), out)
    return out
