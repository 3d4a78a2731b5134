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

__all__ = ["encoded", "instant_order", "key_codes", "sort_ranks"]


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


def key_codes(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``int64`` codes of a key column: equal codes for equal values, null a value of its own.

    Integer columns without nulls are their own codes; anything else is dictionary-encoded
    (codes ``0..k-1``, null ``k``)."""
    if pa.types.is_integer(col.type) and col.null_count == 0:
        return np.asarray(col.to_numpy(), dtype=np.int64)
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
