"""Integer codes of key columns for the sorted-segment kernels of :mod:`chainlens.flow`.

The flow kernels that group trades (same-instant packages, sweeps, synthetic packages) sort
integer codes instead of hashing strings: a string key is dictionary-encoded once (one memo
table for every chunk of the column), an integer key is used as it is. Null is a value of its
own (as in Polars' ``n_unique`` and ``over`` groups).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["encoded", "instant_order", "key_codes", "sort_ranks", "stable_argsort"]

#: Keys from which :func:`stable_argsort` counts instead of comparing in auto mode (below it
#: NumPy's sort is as fast as loading the compiled kernel).
COMPILED_MIN_KEYS = 20_000


def encoded(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary indices of ``col`` (``int64``, null -> ``len(dictionary)``) and the dictionary.

    A chunked column is encoded with one memo table, so every chunk carries the same
    dictionary: its indices are concatenated as they are (``unify_dictionaries`` would hash the
    whole dictionary once per chunk). Chunks with different dictionaries (a column that was
    dictionary-typed already) are unified first.
    """
    enc = pc.dictionary_encode(col)
    chunks = enc.chunks if isinstance(enc, pa.ChunkedArray) else [enc]
    if not chunks:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    d0 = chunks[0].dictionary
    addr = d0.buffers()[-1].address if d0.buffers()[-1] is not None else None
    shared = all(
        len(c.dictionary) == len(d0)
        and c.dictionary.type == d0.type
        and (c.dictionary.buffers()[-1].address if c.dictionary.buffers()[-1] is not None else None)
        == addr
        for c in chunks[1:]
    )  # a loop over Arrow chunks
    if not shared:
        assert isinstance(enc, pa.ChunkedArray)
        enc = enc.unify_dictionaries()
        chunks = enc.chunks
        d0 = chunks[0].dictionary
    null = len(d0)
    parts = [
        np.asarray(pc.fill_null(c.indices, null).to_numpy(zero_copy_only=False), np.int64)
        for c in chunks
    ]  # a loop over Arrow chunks
    return (np.concatenate(parts) if len(parts) > 1 else parts[0]), d0


def stable_argsort(key: np.ndarray) -> np.ndarray:
    """``numpy.argsort(key, kind="stable")`` of an ``int64`` key: a counting sort (compiled,
    :mod:`chainlens.flow._keys_numba`; O(n + range)) when the key's range is at most four
    times its length (dense codes), else NumPy's. A stable sort's permutation is unique, so
    the two are the same rows in the same order."""
    n = key.size
    if n:
        from chainlens._engine import use_numba

        lo, hi = int(key.min()), int(key.max())
        span = hi - lo + 1
        if span <= 4 * n + 1024 and use_numba(n, COMPILED_MIN_KEYS):
            from chainlens.flow._keys_numba import counting_argsort

            return counting_argsort(np.ascontiguousarray(key, dtype=np.int64), lo, span)
    return np.argsort(key, kind="stable")


def _byte_codes(col: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """The byte of each value of a string column without nulls whose every value is one byte
    long (``right``: ``C`` / ``P``) as ``int64`` codes (equal bytes, equal strings); else
    ``None``."""
    if col.null_count or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    odt = np.int64 if pa.types.is_large_string(col.type) else np.int32
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    out = []
    for a in chunks:  # a loop over Arrow chunks
        m = len(a)
        if m == 0:
            continue
        bufs = a.buffers()
        offs = np.frombuffer(bufs[1], dtype=odt)[a.offset : a.offset + m + 1]
        if bufs[2] is None or not bool((np.diff(offs) == 1).all()):
            return None
        out.append(np.frombuffer(bufs[2], dtype=np.uint8)[offs[:-1]].astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def key_codes(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``int64`` codes of a key column: equal codes for equal values, null a value of its own.

    Integer columns without nulls are their own codes; a string column without nulls of
    one-byte values (``right``) is its bytes; anything else is dictionary-encoded (codes
    ``0..k-1``, null ``k``)."""
    if pa.types.is_integer(col.type) and col.null_count == 0:
        return np.asarray(col.to_numpy(), dtype=np.int64)
    b = _byte_codes(col)
    if b is not None:
        return b
    return encoded(col)[0]


def sort_ranks(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``int64`` ranks of a key column that sort as Polars sorts it (nulls first): integers by
    value, strings by their bytes; equal values get equal ranks, null the smallest rank."""
    if pa.types.is_integer(col.type) and col.null_count == 0:
        return np.asarray(col.to_numpy(), dtype=np.int64)
    idx, d = encoded(col)
    rank = np.empty(len(d) + 1, dtype=np.int64)
    rank[np.asarray(pc.array_sort_indices(d), dtype=np.int64)] = np.arange(len(d), dtype=np.int64)
    rank[len(d)] = -1  # null first
    return rank[idx]


def instant_order(
    underlying: pa.Array | pa.ChunkedArray, ts: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by instant (``underlying``, ``ts``; null a value of its own) and, per sorted
    position, whether it starts a new instant.

    One stable ``argsort`` of the combined key ``underlying code * span + (ts - min ts)`` when
    it fits 62 bits (O(N) on input already in instant order, as stored tapes are), else a
    ``lexsort``. Ties keep row order."""
    n = len(ts)
    u = key_codes(underlying)
    t_arr = pc.cast(ts, pa.int64())
    t = np.asarray(pc.fill_null(t_arr, 0).to_numpy(), dtype=np.int64)
    new = np.ones(n, dtype=bool)
    if n == 0:
        return np.zeros(0, np.int64), new
    u = u - u.min()
    tmin = int(t.min())
    span = int(t.max()) - tmin + 1
    if t_arr.null_count == 0 and (int(u.max()) + 1) * span < 2**62:
        comb = u * span + (t - tmin)
        order = np.argsort(comb, kind="stable")
        cs = comb[order]
        new[1:] = cs[1:] != cs[:-1]
        return order, new
    tv = np.asarray(pc.is_valid(t_arr).to_numpy(zero_copy_only=False), dtype=np.int8)
    order = np.lexsort((t, tv, u))
    us, tvs, tss = u[order], tv[order], t[order]
    new[1:] = (us[1:] != us[:-1]) | (tvs[1:] != tvs[:-1]) | (tss[1:] != tss[:-1])
    return order, new
