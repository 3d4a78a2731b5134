"""Numba fast path of the BSM kernels (fused, ``parallel=True`` over contracts).

Same formulas, limits and NaN rules as the NumPy implementation in
:mod:`chainlens.pricing._bsm` (which documents them); the tests check both against the slow
scalar reference. One compiled loop computes :math:`d_1`, :math:`d_2`, :math:`n(d_1)` once per
contract and writes only the requested quantities.

Inputs are passed flat with a stride of 0 (a scalar broadcast to every contract) or 1, so a
scalar rate or time never gets materialised to the length of the chain.

Parallelism: arrays of at least :data:`PARALLEL_MIN_SIZE` contracts run on all Numba threads
(``numba.set_num_threads`` caps it); smaller ones run the same code serially. Numba's default
threading layer on this platform is GNU OpenMP, which is not fork-safe: process pools that use
these kernels in the parent should start workers with ``spawn`` or ``forkserver``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from chainlens._typing import Float64Array
from chainlens.pricing._bsm import GREEK_NAMES, SIGMA_SQRT_T_MIN, T_MIN_YEARS

__all__ = ["PARALLEL_MIN_SIZE", "greeks_numba"]

#: Below this many contracts the serial compiled loop is used (thread start-up dominates).
PARALLEL_MIN_SIZE = 20_000

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476

# slot order = GREEK_NAMES
_P, _D, _G, _V, _T, _VA, _C, _VO = range(8)


def _greeks_impl(S, sS, K, sK, t, st, r, sr, q, sq, sig, ssig, c, sc, slots, out):
    n = out.shape[1]
    for i in nb.prange(n):
        s = S[i * sS]
        k = K[i * sK]
        tt = t[i * st]
        rr = r[i * sr]
        qq = q[i * sq]
        vol = sig[i * ssig]
        is_c = c[i * sc]
        ok = (
            math.isfinite(s)
            and math.isfinite(k)
            and math.isfinite(tt)
            and math.isfinite(rr)
            and math.isfinite(qq)
            and math.isfinite(vol)
            and s > 0.0
            and k > 0.0
        )
        if not ok:
            for j in range(8):
                if slots[j] >= 0:
                    out[slots[j], i] = np.nan
            continue
        te = tt if tt > 0.0 else 0.0
        se = vol if vol > 0.0 else 0.0
        sgn = 1.0 if is_c else -1.0
        dq = math.exp(-qq * te)
        sqt = math.sqrt(te)
        vs = se * sqt
        if te > T_MIN_YEARS and vs > SIGMA_SQRT_T_MIN:
            d1 = (math.log(s / k) + (rr - qq + 0.5 * se * se) * te) / vs
            d2 = d1 - vs
            pdf = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
            nd1 = 0.5 * math.erfc(-sgn * d1 * _INV_SQRT_2)
            if slots[_P] >= 0 or slots[_T] >= 0:
                dr = math.exp(-rr * te)
                nd2 = 0.5 * math.erfc(-sgn * d2 * _INV_SQRT_2)
                if slots[_P] >= 0:
                    out[slots[_P], i] = sgn * (s * dq * nd1 - k * dr * nd2)
                if slots[_T] >= 0:
                    out[slots[_T], i] = (
                        -s * dq * pdf * se / (2.0 * sqt)
                        - sgn * rr * k * dr * nd2
                        + sgn * qq * s * dq * nd1
                    )
            if slots[_D] >= 0:
                out[slots[_D], i] = sgn * dq * nd1
            if slots[_G] >= 0:
                out[slots[_G], i] = dq * pdf / (s * vs)
            if slots[_V] >= 0:
                out[slots[_V], i] = s * dq * pdf * sqt
            if slots[_VA] >= 0:
                out[slots[_VA], i] = -dq * pdf * d2 / se
            if slots[_C] >= 0:
                out[slots[_C], i] = sgn * qq * dq * nd1 - dq * pdf * (
                    2.0 * (rr - qq) * te - d2 * vs
                ) / (2.0 * te * vs)
            if slots[_VO] >= 0:
                out[slots[_VO], i] = s * dq * pdf * sqt * d1 * d2 / se
        else:
            dr = math.exp(-rr * te)
            fwd_pv = s * dq
            k_pv = k * dr
            if fwd_pv > k_pv:
                itm = 1.0
            elif fwd_pv < k_pv:
                itm = 0.0
            else:
                itm = 0.5
            if not is_c:
                itm = 1.0 - itm
            alive = te > 0.0
            if slots[_P] >= 0:
                v = sgn * (fwd_pv - k_pv)
                out[slots[_P], i] = v if v > 0.0 else 0.0
            if slots[_D] >= 0:
                out[slots[_D], i] = sgn * dq * itm
            if slots[_T] >= 0:
                out[slots[_T], i] = sgn * itm * (qq * fwd_pv - rr * k_pv) if alive else 0.0
            if slots[_C] >= 0:
                out[slots[_C], i] = sgn * qq * dq * itm if alive else 0.0
            for j in (_G, _V, _VA, _VO):
                if slots[j] >= 0:
                    out[slots[j], i] = 0.0


_greeks_par = nb.njit(cache=True, parallel=True, nogil=True)(_greeks_impl)
_greeks_ser = nb.njit(cache=True, nogil=True)(_greeks_impl)


def flat_args(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray], list[int]]:
    """Broadcast shape, flat arrays and strides (0 for a single value, 1 otherwise)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    flats: list[np.ndarray] = []
    strides: list[int] = []
    for a in arrays:
        if a.size == 1:
            flats.append(np.ascontiguousarray(a).reshape(1))
            strides.append(0)
        else:
            flats.append(np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1))
            strides.append(1)
    return shape, flats, strides


def greeks_numba(S, K, t, r, q, sigma, is_call, names: tuple[str, ...]) -> dict[str, Float64Array]:
    """Fused compiled BSM greeks; arguments and units as :func:`chainlens.pricing.greeks`."""
    arrays = [np.asarray(x, dtype=np.float64) for x in (S, K, t, r, q, sigma)]
    arrays.append(np.asarray(is_call, dtype=np.bool_))
    shape, flats, strides = flat_args(*arrays)
    n = int(np.prod(shape, dtype=np.int64))
    uniq = tuple(dict.fromkeys(names))
    slots = np.full(8, -1, dtype=np.int64)
    for j, name in enumerate(uniq):
        slots[GREEK_NAMES.index(name)] = j
    out = np.empty((len(uniq), n), dtype=np.float64)
    args = []
    for f, s in zip(flats, strides, strict=True):
        args.extend((f, s))
    kernel = _greeks_par if n >= PARALLEL_MIN_SIZE else _greeks_ser
    kernel(*args, slots, out)
    return {name: out[j].reshape(shape) for j, name in enumerate(uniq)}
