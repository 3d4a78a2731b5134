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
* Requests made only of delta, gamma, vega, vanna, charm and vomma (the exposure greeks) take
  a blocked path (see "blocked path" below): NumPy's SIMD ``log``/``exp`` per block of
  :data:`BLOCK` contracts plus two branch-free compiled loops that LLVM vectorises, on a
  thread pool of ``numba.get_num_threads()`` workers pulling :data:`TASK`-contract tasks;
  about 3x the per-CPU rate of the fused loop. Price and theta use the fused loop.
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
import os

import numba as nb
import numpy as np

from chainlens._typing import Float64Array
from chainlens.pricing._limits import GREEK_NAMES, SIGMA_SQRT_T_MIN, T_MIN_YEARS

__all__ = [
    "PARALLEL_CHUNK",
    "PARALLEL_MIN_SIZE",
    "flat_args",
    "greeks_numba",
    "ncdf",
    "ncdf_e",
    "ncdf_twin",
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


# ----------------------------------------------------------------------------- blocked path
#
# The fused loop above calls libm's scalar ``log`` and ``exp`` once per contract; LLVM cannot
# vectorise a loop with such calls (no SVML here), so it runs at ~50 ns per contract. The
# blocked path splits the work into cache-sized blocks and, per block, lets NumPy's SIMD
# (AVX-512) ``log``/``exp`` do the transcendental parts (~1 ns per element) while two
# branch-free compiled loops, which LLVM vectorises, do the arithmetic: d1 and the exponent,
# then Cody's CDF (all three intervals evaluated, the right one selected) and the greeks.
# It covers delta, gamma, vega, vanna, charm and vomma on regular contracts (finite, S, K > 0,
# t > T_MIN_YEARS, sigma > 0); any block holding another contract is recomputed by the fused
# loop, which owns the limits and NaN rules.

#: Contracts per block of the blocked path (a few arrays of this size stay in L2).
BLOCK = 4096
#: Contracts per task handed to the thread pool.
TASK = 65_536
_BLOCKED_NAMES = frozenset({"delta", "gamma", "vega", "vanna", "charm", "vomma"})


def _at(a, i):  # pragma: no cover - the overload below is what compiled code uses
    return a[i] if isinstance(a, np.ndarray) else a


@nb.extending.overload(_at, inline="always")
def _at_overload(a, i):  # pragma: no cover - compile-time dispatch
    if isinstance(a, nb.types.Array):
        return lambda a, i: a[i]
    return lambda a, i: a


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _block_d1(lsk, S, K, t, sig, r, q, d1, u, uq):  # pragma: no cover - compiled
    """d1, -d1^2/2 and -q t per contract; returns the number of irregular contracts."""
    bad = 0
    for i in range(d1.size):
        pos = (_at(S, i) > 0.0) & (_at(K, i) > 0.0)
        tt = _at(t, i)
        s = _at(sig, i)
        rr = _at(r, i)
        qq = _at(q, i)
        ls = lsk[i]
        vs = s * math.sqrt(tt)
        ok = (
            pos
            & (tt > T_MIN_YEARS)
            & (s > 0.0)
            & (vs > SIGMA_SQRT_T_MIN)
            & (abs(ls) < math.inf)
            & (abs(vs) < math.inf)
            & (abs(rr) < math.inf)
            & (abs(qq) < math.inf)
        )
        bad += 0 if ok else 1
        x = (ls + (rr - qq + 0.5 * s * s) * tt) / vs
        d1[i] = x
        u[i] = -0.5 * x * x
        uq[i] = -qq * tt
    return bad


@nb.njit(cache=True, inline="always", error_model="numpy")
def _cdf_branchless(xs, ee):  # pragma: no cover - compiled, inlined
    """Cody's N(xs) given ee = exp(-xs^2/2), all intervals evaluated (vectorisable)."""
    y = abs(xs)
    z = xs * xs
    cn = (
        (((0.065682337918207449113 * z + 2.2352520354606839287) * z + 161.02823106855587881)
         * z + 1067.6894854603709582) * z + 18154.981253343561249
    )  # fmt: skip
    cd = (
        ((z + 47.20258190468824187) * z + 976.09855173777669322) * z + 10260.932208618978205
    ) * z + 45507.789335026729956
    mn = (
        (((((((1.0765576773720192317e-8 * y + 0.39894151208813466764) * y
              + 8.8831497943883759412) * y + 93.506656132177855979) * y
            + 597.27027639480026226) * y + 2494.5375852903726711) * y
          + 6848.1904505362823326) * y + 11602.651437647350124) * y
        + 9842.7148383839780218
    )  # fmt: skip
    md = (
        (((((((y + 22.266688044328115691) * y + 235.38790178262499861) * y
             + 1519.377599407554805) * y + 6485.558298266760755) * y
           + 18615.571640885098091) * y + 34900.952721145977266) * y
         + 38912.003286093271411) * y + 19685.429676859990727
    )  # fmt: skip
    w = 1.0 / (y * y)
    tn = (
        ((((0.02307344176494017303 * w + 0.21589853405795699) * w + 0.1274011611602473639)
          * w + 0.022235277870649807) * w + 0.001421619193227893466) * w
        + 2.9112874951168792e-5
    )  # fmt: skip
    td = (
        (((w + 1.28426009614491121) * w + 0.468238212480865118) * w + 0.0659881378689285515)
        * w + 0.00378239633202758244
    ) * w + 7.29751555083966205e-5  # fmt: skip
    tail = ee * mn / md if y <= _SQRT_32 else ee * (_INV_SQRT_2PI - w * tn / td) / y
    nd = 0.5 + xs * cn / cd if y <= 0.67448975 else (1.0 - tail if xs > 0.0 else tail)
    return nd


@nb.njit(cache=True, nogil=True, error_model="numpy")
def ncdf_twin(x, e, out):  # pragma: no cover - compiled
    r"""``out[i] = N(x[i])`` given ``e[i] = exp(-x[i]^2/2)``: the compiled twin of the NumPy
    :func:`chainlens.pricing._bsm.ncdf`, bit for bit.

    The same Cody (1969) / TOMS 715 intervals and the same floating-point operations in the
    same order as the NumPy code (Horner from the highest coefficient, the ratio ``num/den``
    formed before it multiplies ``x`` or ``e``, no contraction into FMAs: no ``fastmath``), so
    every element rounds as it does there; all three intervals are evaluated and the right
    one selected (branch-free, which LLVM vectorises). NaN stays NaN.
    """
    for i in range(x.size):
        xi = x[i]
        y = abs(xi)
        z = xi * xi
        cn = 0.065682337918207449113 * z + 2.2352520354606839287  # central: A(z) / B(z)
        cn = ((cn * z + 161.02823106855587881) * z + 1067.6894854603709582) * z
        cn = cn + 18154.981253343561249
        cd = ((z + 47.20258190468824187) * z + 976.09855173777669322) * z
        cd = (cd + 10260.932208618978205) * z + 45507.789335026729956
        mn = 1.0765576773720192317e-8 * y + 0.39894151208813466764  # middle: C(y) / D(y)
        mn = ((mn * y + 8.8831497943883759412) * y + 93.506656132177855979) * y
        mn = ((mn + 597.27027639480026226) * y + 2494.5375852903726711) * y
        mn = ((mn + 6848.1904505362823326) * y + 11602.651437647350124) * y
        mn = mn + 9842.7148383839780218
        md = ((y + 22.266688044328115691) * y + 235.38790178262499861) * y
        md = ((md + 1519.377599407554805) * y + 6485.558298266760755) * y
        md = ((md + 18615.571640885098091) * y + 34900.952721145977266) * y
        md = (md + 38912.003286093271411) * y + 19685.429676859990727
        w = 1.0 / (y * y)  # tail: P(w) / Q(w), w = 1/x^2
        tn = ((0.02307344176494017303 * w + 0.21589853405795699) * w + 0.1274011611602473639) * w
        tn = ((tn + 0.022235277870649807) * w + 0.001421619193227893466) * w
        tn = tn + 2.9112874951168792e-5
        td = ((w + 1.28426009614491121) * w + 0.468238212480865118) * w
        td = ((td + 0.0659881378689285515) * w + 0.00378239633202758244) * w
        td = td + 7.29751555083966205e-5
        ee = e[i]
        tail = ee * (mn / md) if not y > _SQRT_32 else ee * (_INV_SQRT_2PI - w * (tn / td)) / y
        side = 1.0 - tail if xi > 0.0 else tail
        out[i] = 0.5 + xi * (cn / cd) if y <= 0.67448975 else side


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _block_greeks(
    d1, e, dq, S, t, sig, r, q, c, o_d, o_g, o_v, o_va, o_c, o_vo
):  # pragma: no cover
    for i in range(d1.size):
        x = d1[i]
        sg = 1.0 if _at(c, i) else -1.0
        xs = sg * x
        ee = e[i]
        nd = _cdf_branchless(xs, ee)
        s = _at(sig, i)
        tt = _at(t, i)
        rr = _at(r, i)
        qq = _at(q, i)
        ss = _at(S, i)
        dqi = _at(dq, i)
        sqt = math.sqrt(tt)
        vs = s * sqt
        d2 = x - vs
        dpdf = dqi * _INV_SQRT_2PI * ee
        o_d[i] = sg * dqi * nd
        o_g[i] = dpdf / (ss * vs)
        o_v[i] = ss * dpdf * sqt
        o_va[i] = -dpdf * d2 / s
        o_c[i] = sg * qq * dqi * nd - dpdf * (2.0 * (rr - qq) * tt - d2 * vs) / (2.0 * tt * vs)
        o_vo[i] = ss * dpdf * sqt * x * d2 / s


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _block_delta_gamma(d1, e, dq, S, t, sig, c, o_d, o_g):  # pragma: no cover - compiled
    for i in range(d1.size):
        x = d1[i]
        sg = 1.0 if _at(c, i) else -1.0
        ee = e[i]
        nd = _cdf_branchless(sg * x, ee)
        dqi = _at(dq, i)
        o_d[i] = sg * dqi * nd
        o_g[i] = dqi * _INV_SQRT_2PI * ee / (_at(S, i) * _at(sig, i) * math.sqrt(_at(t, i)))


def _scalar_or_array(f: np.ndarray, stride: int):  # type: ignore[no-untyped-def]
    if stride:
        return f
    v = f[0]
    return bool(v) if f.dtype == np.bool_ else float(v)


def _blocked_task(i0, i1, ins, out, rows, slots, args_fused) -> None:  # type: ignore[no-untyped-def]
    """Contracts ``[i0, i1)`` of the blocked path, block by block (runs in a pool thread)."""
    S, K, t, r, q, sig, c = ins
    scratch = np.empty((6, BLOCK))
    lsk, d1, u, uq, e, dqb = scratch
    spare = np.empty((6, BLOCK))
    q_zero = not isinstance(q, np.ndarray) and q == 0.0
    for b0 in range(i0, i1, BLOCK):
        b1 = min(i1, b0 + BLOCK)
        m = b1 - b0
        sl = slice(b0, b1)

        def cut(a, sl=sl):  # type: ignore[no-untyped-def]
            return a[sl] if isinstance(a, np.ndarray) else a

        with np.errstate(all="ignore"):  # irregular contracts are redone below
            np.divide(cut(S), cut(K), out=lsk[:m])
            np.log(lsk[:m], out=lsk[:m])
            bad = _block_d1(
                lsk[:m], cut(S), cut(K), cut(t), cut(sig), cut(r), cut(q), d1[:m], u[:m], uq[:m]
            )
            np.exp(u[:m], out=e[:m])
            if q_zero:
                dq = 1.0
            else:
                np.exp(uq[:m], out=dqb[:m])
                dq = dqb[:m]
        outs = [out[rows[j], sl] if rows[j] >= 0 else spare[j, :m] for j in range(6)]
        if rows[2:] == [-1, -1, -1, -1]:  # delta and/or gamma only (exposures, surfaces)
            _block_delta_gamma(d1[:m], e[:m], dq, cut(S), cut(t), cut(sig), cut(c), *outs[:2])
        else:
            _block_greeks(
                d1[:m], e[:m], dq, cut(S), cut(t), cut(sig), cut(r), cut(q), cut(c), *outs
            )
        if bad:
            fl, st = args_fused
            sub = []
            for f, s in zip(fl, st, strict=True):
                sub.extend((f[sl] if s else f, s))
            _greeks_serial(*sub, slots, out[:, sl])


_POOL = None
_POOL_PID = -1


def _pool():  # type: ignore[no-untyped-def]
    """The worker threads of the blocked path, recreated in a forked child (whose copy of
    the parent's executor has no live threads and would never run a task)."""
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=max(1, nb.config.NUMBA_NUM_THREADS))
        _POOL_PID = os.getpid()
    return _POOL


def _greeks_blocked(flats, strides, slots, out, uniq) -> None:  # type: ignore[no-untyped-def]
    n = out.shape[1]
    ins = [_scalar_or_array(f, s) for f, s in zip(flats, strides, strict=True)]
    order = ("delta", "gamma", "vega", "vanna", "charm", "vomma")
    rows = [uniq.index(nm) if nm in uniq else -1 for nm in order]
    threads = nb.get_num_threads()
    if n < PARALLEL_MIN_SIZE or threads < 2:
        _blocked_task(0, n, ins, out, rows, slots, (flats, strides))
        return
    import itertools

    starts = itertools.count(0, TASK)  # next() is atomic under the GIL: dynamic scheduling

    def worker() -> None:
        for i0 in starts:
            if i0 >= n:
                return
            _blocked_task(i0, min(n, i0 + TASK), ins, out, rows, slots, (flats, strides))

    futs = [_pool().submit(worker) for _ in range(threads)]
    for f in futs:
        f.result()


def greeks_numba(S, K, t, r, q, sigma, is_call, names: tuple[str, ...]) -> dict[str, Float64Array]:
    """Compiled BSM greeks; arguments and units as :func:`chainlens.pricing.greeks`.

    Delta, gamma, vega, vanna, charm and vomma take the blocked SIMD path (module notes);
    requests with price or theta take the fused loop.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in (S, K, t, r, q, sigma)]
    arrays.append(np.asarray(is_call, dtype=np.bool_))
    shape, flats, strides = flat_args(*arrays)
    n = int(np.prod(shape, dtype=np.int64))
    uniq = tuple(dict.fromkeys(names))
    slots = np.full(8, -1, dtype=np.int64)
    for j, name in enumerate(uniq):
        slots[GREEK_NAMES.index(name)] = j
    out = np.empty((len(uniq), n), dtype=np.float64)
    if n and set(uniq) <= _BLOCKED_NAMES:
        _greeks_blocked(flats, strides, slots, out, uniq)
    else:
        args = []
        for f, s in zip(flats, strides, strict=True):
            args.extend((f, s))
        run_parallel(_greeks_parallel, _greeks_serial, n, *args, slots, out)
    return {name: out[j].reshape(shape) for j, name in enumerate(uniq)}
