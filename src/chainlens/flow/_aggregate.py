"""Fast group-by on integer (dictionary-index) keys: the hot path of the premium aggregation.

String contract keys are dictionary-encoded once (:func:`dict_codes`); the group-by then works on
one mixed-radix ``int64`` key per row, with ``numpy.bincount`` over the dense key space when it is
small enough, else one ``argsort`` and ``numpy.add.reduceat``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DENSE_LIMIT", "dict_codes", "group_sum"]

#: Largest key space (product of cardinalities) aggregated with dense ``bincount`` arrays
#: (8 bytes per slot and per value column).
DENSE_LIMIT = 1 << 25


#: Inputs at least this long use the compiled dense kernels when Numba is importable.
COMPILED_MIN_ROWS = 200_000


def _compiled():
    try:
        from chainlens.flow._aggregate_numba import decode, dense_count_sum
    except ImportError:  # pragma: no cover - numba absent
        return None
    return dense_count_sum, decode


def dict_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary indices (``int32``, null -> -1) and the dictionary of a column."""
    enc = pc.dictionary_encode(column)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.unify_dictionaries().combine_chunks() if enc.num_chunks else enc.combine_chunks()
    idx = pc.fill_null(enc.indices, -1).to_numpy().astype(np.int32, copy=False)
    return idx, enc.dictionary


def group_sum(
    keys: Sequence[np.ndarray],
    cards: Sequence[int],
    values: Mapping[str, np.ndarray],
    *,
    dense_limit: int = DENSE_LIMIT,
) -> tuple[list[np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Sum ``values`` and count rows per distinct combination of integer ``keys``.

    Parameters
    ----------
    keys
        Integer code arrays of equal length, ``0 <= keys[i] < cards[i]`` (e.g. from
        :func:`dict_codes`, side codes shifted to be non-negative).
    cards
        Cardinality of each key.
    values
        ``float64``-convertible arrays to sum per group.
    dense_limit
        Use dense ``bincount`` when ``prod(cards) <= dense_limit``; otherwise sort.

    Returns
    -------
    (group keys, counts, sums)
        ``group keys[i]`` the code of key ``i`` of each group (groups in ascending combined key
        order), ``counts`` rows per group (``int64``), ``sums[name]`` per group.

    Notes
    -----
    Long inputs with a dense key space use one compiled count-and-sum pass and a parallel
    decode (:mod:`chainlens.flow._aggregate_numba`), with the same results.

    Combined key :math:`c = (\\dots(k_0 n_1 + k_1) n_2 + \\dots) + k_{m-1}` (row-major mixed
    radix), decoded with ``numpy.unravel_index``. Cost: O(N) for dense key spaces, O(N log N)
    otherwise. Rows with a negative code must be filtered out before the call.
    """
    if len(keys) != len(cards) or not keys:
        raise ValueError("keys and cards must be non-empty and of equal length")
    n = len(keys[0])
    space = int(np.prod([int(c) for c in cards], dtype=object))
    if space >= 2**62:
        raise ValueError("key space too large for an int64 combined key")
    comb = np.zeros(n, dtype=np.int64)
    for k, c in zip(keys, cards, strict=True):  # a loop over key columns
        comb *= int(c)
        comb += k
    fast = _compiled() if n >= COMPILED_MIN_ROWS else None
    if space <= dense_limit and fast is not None:
        dense_count_sum, decode = fast
        names = list(values)
        vals = np.empty((len(names), n), dtype=np.float64)
        for j, name in enumerate(names):  # a loop over value columns
            vals[j] = values[name]
        cnt, sm = dense_count_sum(comb, vals, space)
        nz = np.flatnonzero(cnt)
        digits = decode(nz, np.asarray(cards, dtype=np.int64))
        return (
            list(digits),
            cnt[nz].astype(np.int64),
            {name: sm[j][nz] for j, name in enumerate(names)},
        )
    if space <= dense_limit:
        counts = np.bincount(comb, minlength=space)
        nz = np.flatnonzero(counts)
        sums: dict[str, np.ndarray] = {
            name: np.bincount(comb, weights=np.asarray(v, np.float64), minlength=space)[nz]
            for name, v in values.items()
        }
        counts = counts[nz]
        gk = nz
    else:
        order = np.argsort(comb, kind="stable")
        cs = comb[order]
        start = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if n else np.zeros(0, np.int64)
        gk = cs[start]
        counts = np.diff(np.r_[start, n]).astype(np.int64)
        sums = {
            name: np.add.reduceat(np.asarray(v, np.float64)[order], start) if n else np.zeros(0)
            for name, v in values.items()
        }
    decoded = (
        list(np.unravel_index(gk, tuple(int(c) for c in cards)))
        if len(gk)
        else [np.zeros(0, np.int64) for _ in cards]
    )
    return decoded, counts.astype(np.int64), sums
