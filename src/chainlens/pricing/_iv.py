r"""Black–Scholes–Merton implied volatility: vectorized safeguarded Newton with bisection.

Per-contract failures are not exceptions: the solver returns NaN and a reason code.

Reason codes (``int8``)
-----------------------
=====  ==========================  ====================================================
code   name                        meaning
=====  ==========================  ====================================================
0      ``IV_OK``                   solved to ``tol`` (absolute, in annualised vol)
1      ``IV_NO_TIME_VALUE``        price at or below the discounted intrinsic value
                                   (includes negative prices): no time value to invert
2      ``IV_ABOVE_MAX``            price at or above the no-arbitrage maximum: call
                                   :math:`\ge S e^{-qt}`, put :math:`\ge K e^{-rt}`
3      ``IV_EXPIRED``              ``t <= 0``
4      ``IV_BAD_INPUT``            a non-finite input, or ``S <= 0`` or ``K <= 0``
5      ``IV_NOT_CONVERGED``        no convergence within the iteration cap
=====  ==========================  ====================================================

Method
------
The problem is normalised as in Jäckel, "Let's be rational" (Wilmott 2015): with the forward
:math:`F = S e^{(r-q)t}`, discount :math:`D = e^{-rt}`, log-moneyness :math:`x = \ln(F/K)` and
total vol :math:`s = \sigma\sqrt t`, the normalised time value of any option equals that of the
out-of-the-money call at :math:`x_- = -|x| \le 0`,

.. math::

    b(s) = e^{x_-/2} N\!\left(\frac{x_-}{s} + \frac s2\right)
         - e^{-x_-/2} N\!\left(\frac{x_-}{s} - \frac s2\right),
    \qquad \beta = \frac{P - \text{intrinsic}}{D \sqrt{F K}},

which increases from 0 to :math:`e^{x_-/2}` with an inflection at :math:`s_c=\sqrt{2|x|}`,
and :math:`b'(s) = e^{x_-/2} n(x_-/s + s/2)`. Below the inflection the solver runs Newton on
:math:`\ln b(s) - \ln\beta` from the small-:math:`s` asymptote
:math:`\ln b \approx -x^2/(2s^2) + 3\ln s - 2\ln|x| - \ln\sqrt{2\pi}`; above it, Newton on
:math:`b(s)-\beta` from :math:`\max(s_c, \sqrt{2\pi}\beta)` (a lower bound of the root, where
:math:`b` is concave, so the iterates increase monotonically). Both objectives are concave and
increasing; every step is kept inside a bracket that shrinks with the sign of the objective and
falls back to bisection when Newton would leave it. The loop stops when the step in
:math:`\sigma` is below ``tol``.

Domain of the accuracy claims: the IV is well conditioned where the vega is not negligible
against the rounding of the price; the tests use time value :math:`\ge 10^{-12} S` and vega
:math:`\ge 10^{-6} S`, moneyness :math:`K/S \in [0.5, 2]` and ``t`` from one hour to three
years, and recover :math:`\sigma` to :math:`10^{-10}`.
"""

from __future__ import annotations

import math

import numpy as np

from chainlens._typing import ArrayLike, Float64Array
from chainlens.pricing._bsm import ncdf as ndtr
from chainlens.pricing._bsm import use_numba

__all__ = [
    "IV_ABOVE_MAX",
    "IV_BAD_INPUT",
    "IV_EXPIRED",
    "IV_NOT_CONVERGED",
    "IV_NO_TIME_VALUE",
    "IV_OK",
    "IV_REASONS",
    "implied_vol",
]

IV_OK = 0
IV_NO_TIME_VALUE = 1
IV_ABOVE_MAX = 2
IV_EXPIRED = 3
IV_BAD_INPUT = 4
IV_NOT_CONVERGED = 5

#: Reason code -> short name (for ``excluded`` counts in reports).
IV_REASONS = {
    IV_OK: "ok",
    IV_NO_TIME_VALUE: "iv_no_time_value",
    IV_ABOVE_MAX: "iv_above_max",
    IV_EXPIRED: "iv_expired",
    IV_BAD_INPUT: "iv_bad_input",
    IV_NOT_CONVERGED: "iv_not_converged",
}

MAX_ITER = 100
_LN_SQRT_2PI = 0.9189385332046728
_SQRT_2PI = 2.5066282746310002
_INV_SQRT_2 = 0.7071067811865476


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


def _ncdf_e(x: float, e: float) -> float:
    """N(x) given e = exp(-x^2/2); replaced by the compiled Cody version when Numba loads."""
    return _ncdf(x)


def _solve_one(P, S, K, t, r, q, is_call, tol):  # pragma: no cover - compiled by numba
    if not (
        math.isfinite(P)
        and math.isfinite(S)
        and math.isfinite(K)
        and math.isfinite(t)
        and math.isfinite(r)
        and math.isfinite(q)
    ) or not (S > 0.0 and K > 0.0):
        return np.nan, IV_BAD_INPUT
    if t <= 0.0:
        return np.nan, IV_EXPIRED
    D = math.exp(-r * t)
    s_pv = S * math.exp(-q * t)
    k_pv = K * D
    if is_call:
        upper = s_pv
        intrinsic = s_pv - k_pv if s_pv > k_pv else 0.0
    else:
        upper = k_pv
        intrinsic = k_pv - s_pv if k_pv > s_pv else 0.0
    if P >= upper:
        return np.nan, IV_ABOVE_MAX
    tv = P - intrinsic
    if not tv > 0.0:
        return np.nan, IV_NO_TIME_VALUE
    x = math.log(S / K) + (r - q) * t
    ax = abs(x)
    xm = -ax
    # normalise by D*sqrt(F K) = k_pv * exp(x/2)
    beta = tv / (k_pv * math.exp(0.5 * x))
    ex = math.exp(0.5 * xm)
    if beta >= ex:
        return np.nan, IV_ABOVE_MAX
    sqt = math.sqrt(t)
    s_tol = tol * sqt
    s_c = math.sqrt(2.0 * ax)
    if s_c > 0.0:
        b_c = ex * _ncdf(xm / s_c + 0.5 * s_c) - _ncdf(xm / s_c - 0.5 * s_c) / ex
    else:
        b_c = 0.0
    lower = beta < b_c
    lnb = math.log(beta)
    if lower:
        lo = 0.0
        hi = s_c
        # two guesses, see _implied_vol_numpy: the asymptote (low) and the anchored one (high)
        s_asy = ax / math.sqrt(-2.0 * lnb)
        for _ in range(2):
            rhs = -lnb + 3.0 * math.log(s_asy) - 2.0 * math.log(ax) - _LN_SQRT_2PI
            if rhs > 0.0:
                s_asy = ax / math.sqrt(2.0 * rhs)
        A = s_c**3 * ex / (2.0 * _SQRT_2PI * b_c)
        inv2 = 1.0 / (s_c * s_c) - (lnb - math.log(b_c)) / A
        s_anc = 1.0 / math.sqrt(inv2) if inv2 > 0.0 else s_asy
        s = math.sqrt(s_asy * max(s_anc, s_asy))
        if not (s > lo and s < hi):
            s = 0.5 * (lo + hi)
    else:
        lo = s_c
        hi = max(2.0 * s_c, 1.0)
        # grow the bracket until b(hi) >= beta (c(hi) = max - b(hi) computed without cancellation)
        c_target = ex - beta
        for _ in range(64):
            c_hi = ex * _ncdf(-(xm / hi + 0.5 * hi)) + _ncdf(xm / hi - 0.5 * hi) / ex
            if c_hi <= c_target:
                break
            lo = hi
            hi *= 2.0
        hm = 0.5 * (ex - 1.0 / ex)
        a_cm = beta - hm
        disc = a_cm * a_cm - 4.0 * hm * hm / math.pi
        s_cm = _SQRT_2PI / (ex + 1.0 / ex) * (a_cm + math.sqrt(disc if disc > 0.0 else 0.0))
        s = max(lo, s_cm)
        if not s < hi:
            s = 0.5 * (lo + hi)
    x2 = xm * xm
    curv = 0.0
    h = math.inf
    ex2 = ex * ex  # exp(x_-): n(d1 - s) = n(d1) exp(x_-) since d1 s - s^2/2 = x_-
    for _ in range(MAX_ITER):
        d1 = xm / s + 0.5 * s
        e1 = math.exp(-0.5 * d1 * d1)
        b = ex * _ncdf_e(d1, e1) - _ncdf_e(d1 - s, e1 * ex2) / ex
        db = ex * e1 / _SQRT_2PI
        d2b = db * (x2 / (s * s * s) - 0.25 * s)
        if lower:
            if b <= 0.0 or not db > 0.0:
                f = -math.inf
                step = math.inf
            else:
                f = math.log(b) - lnb
                fp = db / b
                fpp = d2b / b - fp * fp
                h = -f / fp
                curv = fpp / (2.0 * fp)
                den = 1.0 + h * curv
                step = h / den if den > 0.5 else h
        else:
            f = b - beta
            if db > 0.0:
                h = -f / db
                curv = d2b / (2.0 * db)
                den = 1.0 + h * curv
                step = h / den if den > 0.5 else h
            else:
                step = math.inf
        if f < 0.0:
            lo = s
        elif f > 0.0:
            hi = s
        else:
            return s / sqt, IV_OK
        s_new = s + step
        if not (s_new > lo and s_new < hi):
            s_new = 0.5 * (lo + hi)
        elif abs(h) <= 1e-4 * s and abs(curv) * h * h <= 0.1 * s_tol:
            # in the asymptotic regime the error left after this step is below the Newton
            # estimate |f''/(2f')| h^2 (Halley's is of third order): stop without evaluating
            # b(s) once more
            return s_new / sqt, IV_OK
        if abs(s_new - s) <= s_tol or hi - lo <= s_tol:
            return s_new / sqt, IV_OK
        s = s_new
    return np.nan, IV_NOT_CONVERGED


def _solve_parallel(P, sP, S, sS, K, sK, t, st, r, sr, q, sq, c, sc, tol, iv, reason):
    for i in nb.prange(iv.shape[0]):
        v, code = _solve_one(
            P[i * sP], S[i * sS], K[i * sK], t[i * st], r[i * sr], q[i * sq], c[i * sc], tol
        )
        iv[i] = v
        reason[i] = code


# A distinct function (not the parallel one wrapped twice): Numba's on-disk cache is keyed by
# the function's name and line, not by the ``parallel`` flag.
def _solve_serial(P, sP, S, sS, K, sK, t, st, r, sr, q, sq, c, sc, tol, iv, reason):
    for i in range(iv.shape[0]):
        v, code = _solve_one(
            P[i * sP], S[i * sS], K[i * sK], t[i * st], r[i * sr], q[i * sq], c[i * sc], tol
        )
        iv[i] = v
        reason[i] = code


nb = None  # numba, imported on the first compiled solve (start-up time of the CLI)
_solve_par = _solve_ser = None


def _compiled():  # type: ignore[no-untyped-def]
    """(parallel, serial) compiled solvers, built (or loaded from Numba's cache) once."""
    global nb, _ncdf, _ncdf_e, _solve_one, _solve_par, _solve_ser
    if _solve_par is None:
        import numba

        from chainlens.pricing import _bsm_numba

        nb = numba
        # Rebind the scalar helpers to compiled versions; numba resolves globals at compile
        # time.
        _ncdf, _ncdf_e = _bsm_numba.ncdf, _bsm_numba.ncdf_e
        _solve_one = numba.njit(cache=True, nogil=True)(_solve_one)
        _solve_ser = numba.njit(cache=True, nogil=True)(_solve_serial)
        _solve_par = numba.njit(cache=True, parallel=True, nogil=True)(_solve_parallel)
    return _solve_par, _solve_ser


def _implied_vol_numpy(P, S, K, t, r, q, c, tol):
    """Vectorized NumPy version of the same algorithm (the fallback); 1-D equal-length inputs."""
    n = P.shape[0]
    iv = np.full(n, np.nan)
    reason = np.full(n, IV_NOT_CONVERGED, dtype=np.int8)
    fin = (
        np.isfinite(P)
        & np.isfinite(S)
        & np.isfinite(K)
        & np.isfinite(t)
        & np.isfinite(r)
        & np.isfinite(q)
        & (S > 0)
        & (K > 0)
    )
    reason[~fin] = IV_BAD_INPUT
    exp_ = fin & (t <= 0)
    reason[exp_] = IV_EXPIRED
    idx = np.flatnonzero(fin & ~exp_)
    P, S, K, t, r, q, c = (a[idx] for a in (P, S, K, t, r, q, c))
    D = np.exp(-r * t)
    s_pv = S * np.exp(-q * t)
    k_pv = K * D
    upper = np.where(c, s_pv, k_pv)
    intrinsic = np.maximum(np.where(c, s_pv - k_pv, k_pv - s_pv), 0.0)
    x = np.log(S / K) + (r - q) * t
    ax = np.abs(x)
    xm = -ax
    ex = np.exp(0.5 * xm)
    tv = P - intrinsic
    beta = np.where(tv > 0, tv, 1.0) / (k_pv * np.exp(0.5 * x))
    above = (P >= upper) | ((tv > 0) & (beta >= ex))
    notv = ~above & ~(tv > 0)
    reason[idx[above]] = IV_ABOVE_MAX
    reason[idx[notv]] = IV_NO_TIME_VALUE
    keep = ~above & ~notv
    idx = idx[keep]
    t, ax, xm, ex, beta = (a[keep] for a in (t, ax, xm, ex, beta))
    sqt = np.sqrt(t)
    s_tol = tol * sqt
    s_c = np.sqrt(2.0 * ax)
    sc_safe = np.where(s_c > 0, s_c, 1.0)
    b_c = np.where(
        s_c > 0,
        ex * ndtr(xm / sc_safe + 0.5 * sc_safe) - ndtr(xm / sc_safe - 0.5 * sc_safe) / ex,
        0.0,
    )
    lower = beta < b_c
    lnb = np.log(beta)
    # lower-branch start. Two guesses: the small-s asymptote
    # ln b ~ -x^2/(2 s^2) + 3 ln s - 2 ln|x| - ln sqrt(2 pi) (low near s_c), and the
    # inflection-anchored ln b ~ ln b_c + A (1/s_c^2 - 1/s^2) matching b_c and the slope
    # b'(s_c) = e^{x/2} n(0) (high far from s_c); start from their geometric mean.
    ax_safe = np.where(lower, ax, 1.0)
    lnb_l = np.where(lower, lnb, -1.0)
    s_asy = ax_safe / np.sqrt(-2.0 * lnb_l)
    for _ in range(2):
        rhs = -lnb_l + 3.0 * np.log(s_asy) - 2.0 * np.log(ax_safe) - _LN_SQRT_2PI
        s_asy = np.where(rhs > 0, ax_safe / np.sqrt(2.0 * np.where(rhs > 0, rhs, 1.0)), s_asy)
    bc_l = np.where(lower, b_c, 1.0)
    sc_l = np.where(lower, s_c, 1.0)
    A = sc_l**3 * ex / (2.0 * _SQRT_2PI * bc_l)
    inv2 = 1.0 / sc_l**2 - (lnb_l - np.log(bc_l)) / A
    s_anc = np.where(inv2 > 0, 1.0 / np.sqrt(np.where(inv2 > 0, inv2, 1.0)), s_asy)
    s_low = np.sqrt(s_asy * np.maximum(s_anc, s_asy))
    # upper-branch bracket
    lo = np.where(lower, 0.0, s_c)
    hi = np.where(lower, s_c, np.maximum(2.0 * s_c, 1.0))
    c_target = ex - beta
    grow = ~lower
    for _ in range(64):
        c_hi = ex * ndtr(-(xm / hi + 0.5 * hi)) + ndtr(xm / hi - 0.5 * hi) / ex
        g = grow & (c_hi > c_target)
        if not g.any():
            break
        lo = np.where(g, hi, lo)
        hi = np.where(g, 2.0 * hi, hi)
        grow = g
    # upper-branch start: Corrado-Miller (1996) on the normalised OTM call
    hm = 0.5 * (ex - 1.0 / ex)
    a_cm = beta - hm
    s_cm = (
        _SQRT_2PI
        / (ex + 1.0 / ex)
        * (a_cm + np.sqrt(np.maximum(a_cm * a_cm - 4.0 * hm * hm / np.pi, 0.0)))
    )
    s = np.where(lower, s_low, np.maximum(lo, s_cm))
    s = np.where((s > lo) & (s < hi) | (~lower & (s == lo) & (s < hi)), s, 0.5 * (lo + hi))
    act = np.arange(idx.shape[0])
    out_s = np.full(idx.shape[0], np.nan)
    for _ in range(MAX_ITER):
        if act.size == 0:
            break
        sa, la = s[act], lower[act]
        d1 = xm[act] / sa + 0.5 * sa
        b = ex[act] * ndtr(d1) - ndtr(d1 - sa) / ex[act]
        db = ex[act] * np.exp(-0.5 * d1 * d1) / _SQRT_2PI
        bpos = b > 0
        f = np.where(la, np.log(np.where(bpos, b, 1.0)) - lnb[act], b - beta[act])
        f = np.where(la & ~bpos, -np.inf, f)
        dbs = np.where(db > 0, db, 1.0)
        bs = np.where(bpos, b, 1.0)
        d2b = dbs * (xm[act] ** 2 / sa**3 - 0.25 * sa)
        fp = np.where(la, dbs / bs, dbs)
        fpp = np.where(la, d2b / bs - fp * fp, d2b)
        h = -np.where(np.isfinite(f), f, 0.0) / fp
        den = 1.0 + h * fpp / (2.0 * fp)
        step = np.where(den > 0.5, h / np.where(den > 0.5, den, 1.0), h)  # Halley, else Newton
        step = np.where((db > 0) & np.isfinite(f), step, np.inf)
        lo[act] = np.where(f < 0, sa, lo[act])
        hi[act] = np.where(f > 0, sa, hi[act])
        s_new = sa + step
        inside = (s_new > lo[act]) & (s_new < hi[act])
        s_new = np.where(inside, s_new, 0.5 * (lo[act] + hi[act]))
        done = (f == 0) | (np.abs(s_new - sa) <= s_tol[act]) | (hi[act] - lo[act] <= s_tol[act])
        out_s[act[done]] = np.where(f == 0, sa, s_new)[done]
        s[act] = s_new
        act = act[~done]
    solved = np.isfinite(out_s)
    iv[idx[solved]] = out_s[solved] / sqt[solved]
    reason[idx[solved]] = IV_OK
    return iv, reason


def implied_vol(
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    is_call: ArrayLike,
    *,
    tol: float = 1e-12,
) -> tuple[Float64Array, np.ndarray]:
    r"""Black–Scholes–Merton implied volatility, with a reason code per contract.

    Parameters
    ----------
    price
        Option price, USD per share (a mid, a last...).
    S, K, t, r, q, is_call
        Spot (USD), strike (USD), time to expiry (years, ACT/365), rate and dividend yield /
        carry (continuous, per year), call flag. Broadcast together with ``price``.
    tol
        Absolute tolerance on the annualised vol (decimal): iteration stops when the Newton
        step in :math:`\sigma` is below it.

    Returns
    -------
    iv : ndarray of float64
        Annualised implied vol as a decimal; NaN where it does not solve.
    reason : ndarray of int8
        0 ok, 1 no time value (price at or below discounted intrinsic), 2 at or above the
        maximum (call :math:`\ge S e^{-qt}`, put :math:`\ge K e^{-rt}`), 3 ``t <= 0``,
        4 non-finite input or ``S``/``K`` not positive, 5 not converged. Names in
        :data:`IV_REASONS`.

    Notes
    -----
    Inverts :math:`P = \mathrm{BSM}(S, K, t, r, q, \sigma)` (Hull 9e ch. 15 and 20.11) with
    the normalised, safeguarded Newton/bisection scheme of the module docstring.

    Examples
    --------
    Hull 9e Example 15.6 call (S=42, K=40, r=10%, T=0.5) priced at sigma=0.2:

    >>> iv, why = implied_vol(4.759422392871532, 42.0, 40.0, 0.5, 0.10, 0.0, True)
    >>> round(float(iv), 10), int(why)
    (0.2, 0)
    >>> implied_vol([1.0, 50.0], 42.0, 40.0, 0.5, 0.10, 0.0, True)[1].tolist()
    [1, 2]
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (price, S, K, t, r, q)]
    arrays.append(np.asarray(is_call, dtype=np.bool_))
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    n = int(np.prod(shape, dtype=np.int64))
    if not use_numba(n):
        flat = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in arrays]
        iv, reason = _implied_vol_numpy(*flat, float(tol))
        return iv.reshape(shape), reason.reshape(shape)
    from chainlens.pricing._bsm_numba import PARALLEL_MIN_SIZE, flat_args, run_parallel

    _, flats, strides = flat_args(*arrays)
    args = []
    for f, st in zip(flats, strides, strict=True):
        args.extend((f, st))
    iv = np.empty(n, dtype=np.float64)
    reason = np.empty(n, dtype=np.int8)
    par, ser = _compiled()
    run_parallel(par, ser, n, *args, float(tol), iv, reason, min_size=PARALLEL_MIN_SIZE // 10)
    return iv.reshape(shape), reason.reshape(shape)
