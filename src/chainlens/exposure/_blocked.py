"""Blocked (levels × contracts) passes of the chunk's gamma profiles and surfaces.

The profile and surface kernels evaluate, for every snapshot ``j`` of a chunk, a function
of ``d = (ln S - a_k)·b_k`` at each of its spot levels ``S`` (its own grid) and each of its
contracts ``k`` (:mod:`chainlens.exposure._profile`, :mod:`chainlens.exposure._surface`).
Here the values of all snapshots of a batch are laid out block after block in one flat
buffer, snapshot ``j``'s block a C-ordered ``(levels, n_j)`` matrix, so that

* the elementwise steps (the ``exp``, the normal CDF) run once over the whole buffer, and
* each snapshot's sums over its contracts (a matrix product, ``np.add.reduceat`` per
  expiry) read its block in place, with the same values in the same order as when that
  snapshot is evaluated alone: the results are bit for bit those of the per-snapshot path.

Each kernel has a compiled twin (:mod:`chainlens.exposure._blocked_numba`) with the same
floating-point operations in the same order; the one engine policy
(:func:`chainlens._engine.use_numba`, no size threshold) picks it.
"""

from __future__ import annotations

import numpy as np

from chainlens import _engine
from chainlens._typing import Float64Array

__all__ = ["block_args", "block_view", "segment_sums", "sums"]


def _compiled() -> bool:
    return _engine.use_numba()


def block_view(buf: Float64Array, off: np.ndarray, nl: int, j: int) -> Float64Array:
    """Block ``j`` of ``buf``: the ``(nl, n_j)`` matrix of snapshot ``j`` (a view)."""
    lo, hi = int(off[j]), int(off[j + 1])
    return buf[nl * lo : nl * hi].reshape(nl, hi - lo)


def block_args(
    x: Float64Array,
    off: np.ndarray,
    a: Float64Array,
    b: Float64Array,
    *,
    want_d: bool = False,
) -> tuple[Float64Array, Float64Array | None]:
    """The ``exp`` arguments ``-d²/2`` (as ``(d·-0.5)·d``) of every (level, contract) of each
    snapshot, ``d = (x_j - a)·b``, and ``d`` itself when ``want_d``.

    Parameters
    ----------
    x
        ``(snapshots, levels)``: the log spot levels of each snapshot (ln USD).
    off
        Contract offsets of the snapshots (``off[0] = 0``).
    a, b
        Per contract (``off[-1]`` of them): ``a = ln K - (r - q + σ²/2)t`` (ln USD) and
        ``b = 1/(σ√t)`` (1/ln USD), the kernel's terms.

    Returns
    -------
    (e, d)
        Flat buffers of ``levels × off[-1]`` values, block after block (:func:`block_view`).
    """
    nl = x.shape[1]
    n = int(off[-1])
    out = np.empty(nl * n)
    d_out = np.empty(nl * n) if want_d else None
    if _compiled():
        from chainlens.exposure._blocked_numba import block_args_d_nb, block_args_nb

        xc = np.ascontiguousarray(x)
        if d_out is None:
            block_args_nb(xc, off, a, b, out)
        else:
            block_args_d_nb(xc, off, a, b, out, d_out)
        return out, d_out
    for j in range(off.size - 1):  # a loop over snapshots: one block each
        lo, hi = int(off[j]), int(off[j + 1])
        d = x[j][:, None] - a[None, lo:hi]
        d *= b[lo:hi]
        e = d * -0.5
        e *= d
        block_view(out, off, nl, j)[...] = e
        if d_out is not None:
            block_view(d_out, off, nl, j)[...] = d
    return out, d_out


def segment_sums(
    e: Float64Array,
    nl: int,
    off: np.ndarray,
    perm: np.ndarray | None,
    starts: np.ndarray,
    seg_block: np.ndarray,
    w: Float64Array,
) -> Float64Array:
    """Per segment ``s`` (the contracts ``perm[starts[s]:starts[s+1]]``, all of block
    ``seg_block[s]``; ``perm`` None: the identity), level ``i`` and weight column ``v``: ``np.add.reduceat`` of
    ``e[i, k]·w[k, v]`` over the segment's contracts in that order (the first value plus
    the pairwise sum of the rest, as NumPy sums a reduceat segment). Shape
    ``(segments, levels, weights)``."""
    n_seg = starts.size - 1
    out = np.empty((n_seg, nl, w.shape[1]))
    if n_seg == 0:
        return out
    if _compiled():
        from chainlens.exposure._blocked_numba import segment_sums_contig_nb, segment_sums_nb

        if perm is None and w.shape[1] == 2:
            segment_sums_contig_nb(e, nl, off, starts, seg_block, np.ascontiguousarray(w.T), out)
        else:
            segment_sums_nb(e, nl, off, perm, starts, seg_block, np.ascontiguousarray(w), out)
        return out
    # the (levels, contracts) matrix of the batch with the contracts in ``perm`` order
    cols = np.concatenate([block_view(e, off, nl, j) for j in range(off.size - 1)], axis=1)
    if perm is None:
        perm = np.arange(int(off[-1]))
    cols = cols[:, perm]
    for v in range(w.shape[1]):
        out[:, :, v] = np.add.reduceat(cols * w[perm, v][None, :], starts[:-1], axis=1).T
    return out


def sums(v: Float64Array, starts: np.ndarray) -> Float64Array:
    """``v[starts[s]:starts[s+1]].sum()`` of every segment ``s`` (NumPy's pairwise sum)."""
    n_seg = starts.size - 1
    out = np.empty(n_seg)
    if _compiled():
        from chainlens.exposure._blocked_numba import sums_nb

        sums_nb(np.ascontiguousarray(v), starts, out)
        return out
    for s in range(n_seg):  # a loop over segments (snapshots)
        out[s] = v[int(starts[s]) : int(starts[s + 1])].sum()
    return out
