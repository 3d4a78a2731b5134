r"""Numba fast path of the BSM kernels (fused, ``parallel=True`` over contracts).

Same formulas, limits and NaN rules as the NumPy implementation in
:mod:`chainlens.pricing._bsm` (which documents them); the tests check both against the slow
scalar reference. One compiled loop computes :math:`d_1`, :math:`d_2`, :math:`n(d_1)` once per
contract and writes only the requested quantities.

Speed notes (issue 3, >= 30M contracts/s on 2 cores for delta, gamma, vanna and charm):

* :math:`N(d_1)` comes from W. J. Cody's rational Chebyshev approximation (Math. Comp. 23,
  1969; the ANORM routine of ACM TOMS 715), whose tail form is :math:`e^{-x^2/2} R(|x|)`: the
  exponential is the one already computed for :math:`n(d_1)`, so a contract costs one ``log``
  and one ``exp`` instead of an extra ``erfc`` (which alone was half the time). Relative error
  of the tail formula about :math:`x^2\epsilon` (below 1e-13 for :math:`|x| < 30`).
* The parallel and the serial loops are distinct Python functions. With ``cache=True`` Numba
  keys its on-disk cache by the function's name and line, not by the ``parallel`` flag: the
  former code wrapped one function twice, so whichever compiled first was loaded for both and
  the "parallel" kernel often ran single-threaded.
* Arrays of at least :data:`PARALLEL_MIN_SIZE` contracts run on all Numba threads
  (``numba.set_num_threads`` caps it) in chunks of :data:`PARALLEL_CHUNK` contracts handed out
  dynamically, so a thread that the OS deschedules on a loaded machine does not hold up the
  others (a static split made two threads no faster than one under load).

Inputs are passed flat with a stride of 0 (a scalar broadcast to every contract) or 1, so a
scalar rate or time never gets materialised to the length of the chain.

Numba's default threading layer on this platform is GNU OpenMP, which is not fork-safe:
process pools that use these kernels in the parent should start workers with ``spawn`` or
``forkserver``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from chainlens._typing import Float64Array
from chainlens.pricing._bsm import GREEK_NAMES, SIGMA_SQRT_T_MIN, T_MIN_YEARS

__all__ = [
    "PARALLEL_CHUNK",
    "PARALLEL_MIN_SIZE",
    "flat_args",
    "greeks_numba",
    "ncdf",
    "ncdf_e",
    "run_parallel",
]

#: Below this many contracts the serial compiled loop is used (thread start-up dominates).
PARALLEL_MIN_SIZE = 20_000
#: Contracts per dynamically scheduled chunk of the parallel loop.
PARALLEL_CHUNK = 16_384

_INV_SQRT_2PI = 0.3989422804014327
_SQRT_32 = 5.656854249492381

# slot order = GREEK_NAMES
_P, _D, _G, _V, _T, _VA, _C, _VO = range(8)


@nb.njit(cache=True, inline="always")
def ncdf_e(x, e):  # pragma: no cover - compiled
    r"""Standard normal CDF :math:`N(x)` given ``e = exp(-x*x/2)`` (Cody 1969 / TOMS 715).

    ``|x| <= 0.67448975``: :math:`1/2 + x\,A(x^2)/B(x^2)` (``e`` unused);
    ``|x| <= sqrt(32)``: :math:`N(-|x|) = e\,C(|x|)/D(|x|)`;
    beyond: :math:`N(-|x|) = e\,(1/\sqrt{2\pi} - x^{-2} P(x^{-2})/Q(x^{-2}))/|x|`.
    """
    y = abs(x)
    if y <= 0.67448975:
        xsq = x * x
        xnum = 0.065682337918207449113 * xsq
        xden = xsq
        xnum = (xnum + 2.2352520354606839287) * xsq
        xden = (xden + 47.20258190468824187) * xsq
        xnum = (xnum + 161.02823106855587881) * xsq
        xden = (xden + 976.09855173777669322) * xsq
        xnum = (xnum + 1067.6894854603709582) * xsq
        xden = (xden + 10260.932208618978205) * xsq
        return 0.5 + x * (xnum + 18154.981253343561249) / (xden + 45507.789335026729956)
    if y <= _SQRT_32:
        xnum = 1.0765576773720192317e-8 * y
        xden = y
        xnum = (xnum + 0.39894151208813466764) * y
        xden = (xden + 22.266688044328115691) * y
        xnum = (xnum + 8.8831497943883759412) * y
        xden = (xden + 235.38790178262499861) * y
        xnum = (xnum + 93.506656132177855979) * y
        xden = (xden + 1519.377599407554805) * y
        xnum = (xnum + 597.27027639480026226) * y
        xden = (xden + 6485.558298266760755) * y
        xnum = (xnum + 2494.5375852903726711) * y
        xden = (xden + 18615.571640885098091) * y
        xnum = (xnum + 6848.1904505362823326) * y
        xden = (xden + 34900.952721145977266) * y
        xnum = (xnum + 11602.651437647350124) * y
        xden = (xden + 38912.003286093271411) * y
        tail = e * (xnum + 9842.7148383839780218) / (xden + 19685.429676859990727)
    else:
        xsq = 1.0 / (x * x)
        xnum = 0.02307344176494017303 * xsq
        xden = xsq
        xnum = (xnum + 0.21589853405795699) * xsq
        xden = (xden + 1.28426009614491121) * xsq
        xnum = (xnum + 0.1274011611602473639) * xsq
        xden = (xden + 0.468238212480865118) * xsq
        xnum = (xnum + 0.022235277870649807) * xsq
        xden = (xden + 0.0659881378689285515) * xsq
        xnum = (xnum + 0.001421619193227893466) * xsq
        xden = (xden + 0.00378239633202758244) * xsq
        r = xsq * (xnum + 2.9112874951168792e-5) / (xden + 7.29751555083966205e-5)
        tail = e * (_INV_SQRT_2PI - r) / y
    return 1.0 - tail if x > 0.0 else tail


@nb.njit(cache=True, inline="always")
def ncdf(x):  # pragma: no cover - compiled
    """Standard normal CDF; the exponential is computed only outside the central interval."""
    if abs(x) <= 0.67448975:
        return ncdf_e(x, 1.0)
    return ncdf_e(x, math.exp(-0.5 * x * x))


@nb.njit(cache=True, inline="always")
def _one(i, S, sS, K, sK, t, st, r, sr, q, sq, sig, ssig, c, sc, slots, out):  # pragma: no cover
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
        return
    te = tt if tt > 0.0 else 0.0
    se = vol if vol > 0.0 else 0.0
    sgn = 1.0 if is_c else -1.0
    dq = math.exp(-qq * te) if qq != 0.0 else 1.0
    sqt = math.sqrt(te)
    vs = se * sqt
    if te > T_MIN_YEARS and vs > SIGMA_SQRT_T_MIN:
        d1 = (math.log(s / k) + (rr - qq + 0.5 * se * se) * te) / vs
        d2 = d1 - vs
        e1 = math.exp(-0.5 * d1 * d1)
        pdf = _INV_SQRT_2PI * e1
        nd1 = ncdf_e(sgn * d1, e1)
        dpdf = dq * pdf
        if slots[_P] >= 0 or slots[_T] >= 0:
            dr = math.exp(-rr * te)
            nd2 = ncdf(sgn * d2)
            if slots[_P] >= 0:
                out[slots[_P], i] = sgn * (s * dq * nd1 - k * dr * nd2)
            if slots[_T] >= 0:
                out[slots[_T], i] = (
                    -s * dpdf * se / (2.0 * sqt) - sgn * rr * k * dr * nd2 + sgn * qq * s * dq * nd1
                )
        if slots[_D] >= 0:
            out[slots[_D], i] = sgn * dq * nd1
        if slots[_G] >= 0:
            out[slots[_G], i] = dpdf / (s * vs)
        if slots[_V] >= 0:
            out[slots[_V], i] = s * dpdf * sqt
        if slots[_VA] >= 0:
            out[slots[_VA], i] = -dpdf * d2 / se
        if slots[_C] >= 0:
            out[slots[_C], i] = sgn * qq * dq * nd1 - dpdf * (2.0 * (rr - qq) * te - d2 * vs) / (
                2.0 * te * vs
            )
        if slots[_VO] >= 0:
            out[slots[_VO], i] = s * dpdf * sqt * d1 * d2 / se
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


@nb.njit(cache=True, nogil=True)
def _greeks_serial(
    S, sS, K, sK, t, st, r, sr, q, sq, sig, ssig, c, sc, slots, out
):  # pragma: no cover
    for i in range(out.shape[1]):
        _one(i, S, sS, K, sK, t, st, r, sr, q, sq, sig, ssig, c, sc, slots, out)


@nb.njit(cache=True, nogil=True, parallel=True)
def _greeks_parallel(
    S, sS, K, sK, t, st, r, sr, q, sq, sig, ssig, c, sc, slots, out
):  # pragma: no cover
    for i in nb.prange(out.shape[1]):
        _one(i, S, sS, K, sK, t, st, r, sr, q, sq, sig, ssig, c, sc, slots, out)


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


def run_parallel(kernel, serial, n: int, *args, min_size: int = PARALLEL_MIN_SIZE) -> None:
    """Run the parallel ``kernel(*args)`` over ``n`` items in dynamically scheduled chunks
    (at most :data:`PARALLEL_CHUNK`, at least 8 per thread), or ``serial(*args)`` when ``n``
    is below ``min_size`` or a single thread is configured."""
    threads = nb.get_num_threads()
    if n < min_size or threads < 2:
        serial(*args)
        return
    with nb.parallel_chunksize(max(256, min(PARALLEL_CHUNK, n // (8 * threads)))):
        kernel(*args)


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
    run_parallel(_greeks_parallel, _greeks_serial, n, *args, slots, out)
    return {name: out[j].reshape(shape) for j, name in enumerate(uniq)}
