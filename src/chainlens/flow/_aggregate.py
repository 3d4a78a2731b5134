"""Fast group-by on integer (dictionary-index) keys: the hot path of the premium aggregation.

String contract keys are dictionary-encoded once (:func:`dict_codes`); the group-by then works on
one mixed-radix ``int64`` key per row: a compiled radix-partitioned pass for long inputs with a
dense key space, ``numpy.bincount`` over the dense key space for short ones, else one
``argsort`` and ``numpy.add.reduceat``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._engine import use_numba

__all__ = ["DENSE_LIMIT", "dict_codes", "group_sum"]

#: Largest key space (product of cardinalities) aggregated densely: ``bincount`` arrays of 8 bytes
#: per slot and per value column on the NumPy path, one scan of every slot on the compiled path.
DENSE_LIMIT = 1 << 25


#: Inputs at least this long use the compiled dense kernels when Numba is importable.
COMPILED_MIN_ROWS = 200_000


def _compiled(n: int) -> Any:
    """The compiled kernels when the engine policy (:func:`chainlens._engine.use_numba`,
    threshold :data:`COMPILED_MIN_ROWS`) picks them for ``n`` rows, else None."""
    if not use_numba(n, COMPILED_MIN_ROWS):
        return None
    from chainlens.flow._aggregate_numba import decode, partitioned_group_sum

    return partitioned_group_sum, decode


def _int_codes(k: np.ndarray) -> np.ndarray:
    """A contiguous signed-or-narrow integer array for the compiled kernels (no copy if it is one)."""
    k = np.asarray(k)
    if k.dtype.kind not in "iu" or k.dtype == np.uint64:
        k = k.astype(np.int64)
    return np.ascontiguousarray(k)


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
    Combined key :math:`c = (\\dots(k_0 n_1 + k_1) n_2 + \\dots) + k_{m-1}` (row-major mixed
    radix). Per group :math:`g`, ``counts`` :math:`= |\\{i : c_i = g\\}|` and ``sums[name]``
    :math:`= \\sum_{i : c_i = g} v_i` in the units of the value column, added in row order from
    ``+0.0`` exactly as ``numpy.bincount(c, weights=v)`` does (NaN propagates to its group).

    Long inputs (``COMPILED_MIN_ROWS`` rows or more) with a dense key space use the compiled
    radix-partitioned group-by of :mod:`chainlens.flow._aggregate_numba` (combined key computed
    in the compiled passes, a counting-sort scatter into cache-sized key ranges, each range
    reduced in cache), with bit-identical results; digits are then ``uint32`` when
    :math:`\\prod n_i < 2^{32}`. Otherwise ``numpy.bincount`` and ``numpy.unravel_index`` over
    the dense key space, or, beyond ``dense_limit``, one stable ``argsort`` and
    ``numpy.add.reduceat``. Cost: O(N) for dense key spaces, O(N log N) otherwise. Rows with a
    negative code must be filtered out before the call (a combined key outside
    :math:`[0, \\prod n_i)` raises ``ValueError`` on the dense paths).

    References
    ----------
    .. [1] S. Manegold, P. Boncz, M. Kersten, "Optimizing database architecture for the new
       bottleneck: memory access", VLDB Journal 9(3), 2000 (radix-cluster partitioning).
    .. [2] O. Polychroniou, K. A. Ross, "A comprehensive study of main-memory partitioning and
       its application to large-scale comparison- and radix-sort", SIGMOD 2014.

    Examples
    --------
    >>> import numpy as np
    >>> gk, n, s = group_sum([np.array([0, 1, 0, 1]), np.array([2, 0, 2, 1])], [2, 3],
    ...                      {"premium_usd": np.array([1.0, 2.0, 3.0, 4.0])})
    >>> [k.tolist() for k in gk], n.tolist(), s["premium_usd"].tolist()
    ([[0, 1, 1], [2, 0, 1]], [2, 1, 1], [4.0, 2.0, 4.0])
    """
    if len(keys) != len(cards) or not keys:
        raise ValueError("keys and cards must be non-empty and of equal length")
    n = len(keys[0])
    if any(len(k) != n for k in keys) or any(len(v) != n for v in values.values()):
        raise ValueError("keys and values must all have the same length")
    space = int(np.prod([int(c) for c in cards], dtype=object))
    if space >= 2**62:
        raise ValueError("key space too large for an int64 combined key")
    fast = _compiled(n)
    if fast is not None and space <= dense_limit:
        digits, cnt, sm = fast[0](
            tuple(_int_codes(k) for k in keys),
            np.array([int(c) for c in cards], dtype=np.int64),
            tuple(np.ascontiguousarray(v, dtype=np.float64) for v in values.values()),
            space,
        )
        return list(digits), cnt, dict(zip(values, sm, strict=True))
    comb = np.zeros(n, dtype=np.int64)
    for k, c in zip(keys, cards, strict=True):  # a loop over key columns
        comb *= int(c)
        comb += k
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
    if not len(gk):
        decoded = [np.zeros(0, np.int64) for _ in cards]
    elif fast is not None:  # long sparse input: the compiled parallel decode, same digits
        decoded = list(fast[1](gk, np.array([int(c) for c in cards], dtype=np.int64)))
    else:
        decoded = list(np.unravel_index(gk, tuple(int(c) for c in cards)))
    return decoded, counts.astype(np.int64), sums
