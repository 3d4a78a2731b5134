"""Dense integer codes of an Arrow string column, read straight from its buffers (Numba).

:func:`encode_strings` gives the same codes as ``pyarrow.compute.dictionary_encode`` (codes in
order of first appearance, dictionary of the distinct values in that order) for string and
large_string columns without nulls. It exploits the layout of real chain files without
depending on it:

* **Successor guess.** Each code remembers the code that followed it last time (``succ``). A
  row is first compared (byte for byte) with the successor of the previous row's code, then
  with the previous row's code itself; only when both differ is it hashed. Chain files are
  sorted within a session and most contracts persist from one session to the next, so after
  the first session nearly every row is settled by one short comparison of bytes that sit in
  cache, with no hashing; an underlying column (long runs of one value) likewise.
* **Open addressing.** Misses go to a linear-probing hash table of the distinct strings
  (64-bit FNV-1a with a final mix, load factor at most 1/2, rehashed when it grows). Any row
  order is therefore correct; an unsorted or reshuffled file only costs more hashing.

The distinct strings are copied into one private buffer (offsets + bytes), from which the
dictionary is built. Chunks are read in place (sliced chunks included), one call per chunk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.oi import _kernels

try:  # pragma: no cover - exercised through _kernels.use_nb()
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

__all__ = ["arrow_codes", "encode_strings", "one_chunk"]


def one_chunk(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``col`` as one array: its only chunk as it is (no copy; ``combine_chunks`` copies even
    a single chunk), else the chunks concatenated. The same values either way."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def arrow_codes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Dictionary indices (one Arrow hash pass over the combined column; null rows get 0) and
    the dictionary: the reference that :func:`encode_strings` reproduces."""
    arr = one_chunk(col)
    enc = pc.dictionary_encode(arr)
    idx = enc.indices
    if idx.null_count:
        idx = pc.fill_null(idx, 0)
    return idx.to_numpy(zero_copy_only=False), enc.dictionary


def _is_str(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _str_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (sliced to the array) and data bytes of a string/large_string array."""
    off_t = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], off_t)[arr.offset : arr.offset + len(arr) + 1]
    data = (
        np.frombuffer(bufs[2], np.uint8)
        if bufs[2] is not None and bufs[2].size
        else np.zeros(1, np.uint8)
    )
    return offsets, data


def encode_strings(
    col: pa.ChunkedArray | pa.Array,
) -> tuple[np.ndarray, np.ndarray, pa.Array] | None:
    """Codes (int32, first-appearance order), the first row of each code (int64) and the
    dictionary of a string column; None when the compiled path does not apply (Numba off,
    nulls, a non-string type, 2**31 rows or more): use :func:`arrow_codes` then.

    The codes and dictionary equal those of :func:`arrow_codes` (see the module notes).
    """
    chunks = [c for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]) if len(c)]
    n = sum(len(c) for c in chunks)
    if (
        not (_kernels.use_nb() and HAVE_NUMBA)
        or n == 0
        or n >= 2**31 - 1
        or col.null_count
        or not _is_str(col.type)
    ):
        return None
    bufs = [_str_buffers(c) for c in chunks]
    n_bytes = sum(int(o[-1]) - int(o[0]) for o, _ in bufs)
    empty = _kernels.empty  # plain pages (see _kernels.filled)
    codes = empty(n, np.int32)
    # capacities: at most one distinct value per row; untouched pages stay unmapped
    first = empty(n, np.int64)
    succ = empty(n, np.int32)
    u_hash = empty(n, np.uint64)
    u_off = empty(n + 1, np.int64)
    u_off[0] = 0
    u_data = empty(max(n_bytes, 1), np.uint8)
    table = np.full(1 << 12, -1, np.int32)
    state = np.array([0, -1], np.int64)  # distinct values so far, previous row's code
    base = 0
    for off, data in bufs:  # a loop over Arrow chunks (and the table's few doublings)
        r = 0
        while r < len(off) - 1:
            r = _encode_run_nb(off, data, r, base, codes, first, succ, u_off, u_data, u_hash,
                               table, state)  # fmt: skip
            if r < len(off) - 1:
                table = _rehash_nb(u_hash, int(state[0]), 2 * len(table))
        base += len(off) - 1
    n_u = int(state[0])
    size = int(u_off[n_u])
    large = pa.types.is_large_string(col.type)
    if not large and size >= 2**31:  # pragma: no cover - dictionary beyond 32-bit offsets
        return None
    off_buf = pa.py_buffer(u_off[: n_u + 1] if large else u_off[: n_u + 1].astype(np.int32))
    data_buf = pa.py_buffer(u_data[:size].copy())
    cls = pa.LargeStringArray if large else pa.StringArray
    dictionary = cls.from_buffers(n_u, off_buf, data_buf, None, 0)
    return codes, first[:n_u].copy(), dictionary


if HAVE_NUMBA:

    @njit(cache=True, nogil=True, inline="always")
    def _eq(d1, s1, e1, d2, s2, e2):  # pragma: no cover - compiled
        if e1 - s1 != e2 - s2:
            return False
        for k in range(e1 - s1):
            if d1[s1 + k] != d2[s2 + k]:
                return False
        return True

    @njit(cache=True, nogil=True, inline="always")
    def _hash(d, s, e):  # pragma: no cover - compiled
        h = np.uint64(14695981039346656037)
        for k in range(s, e):
            h = (h ^ np.uint64(d[k])) * np.uint64(1099511628211)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        return h

    @njit(cache=True, nogil=True)
    def _encode_run_nb(
        off, data, r0, base, codes, first, succ, u_off, u_data, u_hash, table, st
    ):  # pragma: no cover - compiled
        n_u = st[0]
        prev = st[1]
        mask = np.uint64(len(table) - 1)
        full = len(table) // 2  # the load factor stays <= 1/2: stop and let the caller grow
        for r in range(r0, len(off) - 1):
            if n_u >= full:
                st[0] = n_u
                st[1] = prev
                return r
            s = np.int64(off[r])
            e = np.int64(off[r + 1])
            c = -1
            if prev >= 0:
                g = succ[prev]
                if g >= 0 and _eq(data, s, e, u_data, u_off[g], u_off[g + 1]):
                    c = g
                elif _eq(data, s, e, u_data, u_off[prev], u_off[prev + 1]):
                    c = prev
            if c < 0:
                h = _hash(data, s, e)
                i = h & mask
                while True:
                    k = table[i]
                    if k < 0:  # a new value: append it to the distinct strings
                        c = n_u
                        at = u_off[c]
                        for q in range(e - s):
                            u_data[at + q] = data[s + q]
                        u_off[c + 1] = at + (e - s)
                        u_hash[c] = h
                        first[c] = base + r
                        succ[c] = -1
                        table[i] = c
                        n_u += 1
                        break
                    if u_hash[k] == h and _eq(data, s, e, u_data, u_off[k], u_off[k + 1]):
                        c = k
                        break
                    i = (i + np.uint64(1)) & mask
            codes[base + r] = c
            if prev >= 0:
                succ[prev] = c
            prev = c
        st[0] = n_u
        st[1] = prev
        return len(off) - 1

    @njit(cache=True, nogil=True)
    def _rehash_nb(u_hash, n_u, size):  # pragma: no cover - compiled
        table = np.full(size, -1, np.int32)
        mask = np.uint64(size - 1)
        for q in range(n_u):
            j = u_hash[q] & mask
            while table[j] >= 0:
                j = (j + np.uint64(1)) & mask
            table[j] = q
        return table
