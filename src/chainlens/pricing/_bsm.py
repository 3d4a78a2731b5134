r"""Black–Scholes–Merton price and greeks, vectorized NumPy implementation.

Every kernel has the fixed signature ``(S, K, t, r, q, sigma, is_call)`` and broadcasts its
arguments like a NumPy ufunc:

* ``S`` spot (USD per share), ``K`` strike (USD per share);
* ``t`` time to expiry in years, ACT/365 in seconds (``conventions.SECONDS_PER_YEAR``);
* ``r`` risk-free rate and ``q`` dividend yield / carry, continuously compounded, per year;
* ``sigma`` annualised volatility as a decimal (0.20 is 20 vol points);
* ``is_call`` boolean (``True`` call, ``False`` put).

Units of the results are raw mathematical derivatives (see each docstring); nothing is rescaled
to "per day" or "per vol point". Multiply vega, vanna and vomma by :data:`VOL_POINT` for "per
vol point", divide theta and charm by 365 for "per calendar day".

Degenerate inputs are handled without warnings (pytest runs with ``filterwarnings=error``):

* ``t <= 0``, ``sigma <= 0`` (or ``sigma * sqrt(t)`` below ``1e-100``, or ``t`` below
  ``1e-15`` years) give the intrinsic-value limits: the discounted intrinsic value of the
  forward, a step delta (one half exactly at the forward), and zero gamma, vega, vanna, vomma.
  Theta and charm take their ``sigma -> 0`` limits for ``t > 0`` and are zero for ``t <= 0``.
* non-finite inputs, ``S <= 0`` or ``K <= 0`` give NaN.

References
----------
J. C. Hull, *Options, Futures, and Other Derivatives*, 9th ed., ch. 15 (BSM with a dividend
yield, sec. 17.4) and ch. 19 (the greeks). E. G. Haug, *The Complete Guide to Option Pricing
Formulas*, 2nd ed., sec. 2.2 (vanna, charm, vomma, "DdeltaDvol", "DdeltaDtime", "DvegaDvol").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainlens import _engine
from chainlens._typing import ArrayLike, Float64Array

__all__ = [
    "GREEK_NAMES",
    "VOL_POINT",
    "charm",
    "delta",
    "gamma",
    "greeks",
    "price",
    "theta",
    "vanna",
    "vega",
    "vomma",
]

#: One volatility point as a decimal: ``vega * VOL_POINT`` is the value change per vol point.
VOL_POINT = 0.01

from chainlens.pricing._limits import GREEK_NAMES, SIGMA_SQRT_T_MIN, T_MIN_YEARS  # noqa: E402

_INV_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649346576659258296


#: Compiled (Numba) path threshold in "auto" mode: below this many contracts the NumPy path
#: is used. Importing Numba and loading the cached kernels costs about 0.3-0.5 CPU seconds per
#: process, more than the NumPy path needs for this many contracts (this keeps ``chainlens
#: analyze`` start-up short). The choice depends on the size only, never on what the process
#: imported before, so the same input always gives the same last digits.
COMPILED_MIN_SIZE = 200_000
#: :func:`ncdf` runs compiled (:func:`chainlens._engine.use_numba`, "auto") from this many
#: elements: its twin gives the same digits, so the size only decides when the Numba import
#: pays off (a (levels × contracts) block of the dealer surfaces, a large chain's greeks).
NCDF_COMPILED_MIN_SIZE = 32_768

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969) 631-637, as arranged for the normal CDF in ACM TOMS 715 (ANORM): coefficients of
# the central (|x| <= 0.67448975), middle (<= sqrt 32) and tail intervals.
_CODY_A = (0.065682337918207449113, 2.2352520354606839287, 161.02823106855587881,
           1067.6894854603709582, 18154.981253343561249)  # fmt: skip
_CODY_B = (47.20258190468824187, 976.09855173777669322, 10260.932208618978205,
           45507.789335026729956)  # fmt: skip
_CODY_C = (1.0765576773720192317e-8, 0.39894151208813466764, 8.8831497943883759412,
           93.506656132177855979, 597.27027639480026226, 2494.5375852903726711,
           6848.1904505362823326, 11602.651437647350124, 9842.7148383839780218)  # fmt: skip
_CODY_D = (22.266688044328115691, 235.38790178262499861, 1519.377599407554805,
           6485.558298266760755, 18615.571640885098091, 34900.952721145977266,
           38912.003286093271411, 19685.429676859990727)  # fmt: skip
_CODY_P = (0.02307344176494017303, 0.21589853405795699, 0.1274011611602473639,
           0.022235277870649807, 0.001421619193227893466, 2.9112874951168792e-5)  # fmt: skip
_CODY_Q = (1.28426009614491121, 0.468238212480865118, 0.0659881378689285515,
           0.00378239633202758244, 7.29751555083966205e-5)  # fmt: skip
_SQRT_32 = 5.656854249492381


def _npdf(x: Float64Array) -> Float64Array:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _ratio(y: Float64Array, num: tuple[float, ...], den: tuple[float, ...]) -> Float64Array:
    """Cody's rational function: Horner in place; ``num`` has one more term than ``den``."""
    xn = num[0] * y
    xd = y.copy()
    for a, b in zip(num[1:-1], den[:-1], strict=True):
        xn += a
        xn *= y
        xd += b
        xd *= y
    xn += num[-1]
    xd += den[-1]
    xn /= xd
    return xn


def ncdf(x: ArrayLike, e: ArrayLike | None = None) -> Float64Array:
    r"""Standard normal CDF :math:`N(x)`, vectorized NumPy (no SciPy).

    W. J. Cody (1969) rational Chebyshev approximations as in ACM TOMS 715 (ANORM):
    :math:`1/2 + x A(x^2)/B(x^2)` for :math:`|x| \le 0.67448975`, otherwise
    :math:`N(-|x|) = e^{-x^2/2} C(|x|)/D(|x|)` up to :math:`\sqrt{32}` and
    :math:`e^{-x^2/2}(1/\sqrt{2\pi} - x^{-2}P(x^{-2})/Q(x^{-2}))/|x|` beyond. ``e``, when
    given, is :math:`e^{-x^2/2}` already computed for the density (saves an ``exp``).
    Relative error below 3e-13 on :math:`[-38, 9]` against ``scipy.special.ndtr``.

    Arrays of at least :data:`NCDF_COMPILED_MIN_SIZE` elements go through the compiled twin
    (:func:`chainlens.pricing._bsm_numba.ncdf_twin`, when the engine policy
    :func:`chainlens._engine.use_numba` says so): the same operations in the same order, so
    the same digits on either engine (one pass instead of ~35 masked NumPy passes).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size >= NCDF_COMPILED_MIN_SIZE and _engine.use_numba(x.size, NCDF_COMPILED_MIN_SIZE):
        return _ncdf_compiled(x, e)
    y = np.abs(x)
    central = y <= 0.67448975
    if central.all():
        return 0.5 + x * _ratio(x * x, _CODY_A, _CODY_B)
    ee = np.exp(-0.5 * x * x) if e is None else np.broadcast_to(np.asarray(e, np.float64), x.shape)
    far = y > _SQRT_32
    mid = ~(central | far)  # NaN lands here and stays NaN
    tail = np.zeros(x.shape)
    tail[mid] = ee[mid] * _ratio(y[mid], _CODY_C, _CODY_D)
    if far.any():
        yf = y[far]
        xs = 1.0 / (yf * yf)
        with np.errstate(divide="ignore", invalid="ignore"):  # |x| = inf: 0 / inf
            tail[far] = ee[far] * (_INV_SQRT_2PI - xs * _ratio(xs, _CODY_P, _CODY_Q)) / yf
    out = np.where(x > 0, 1.0 - tail, tail)
    if central.any():
        xc = x[central]
        out[central] = 0.5 + xc * _ratio(xc * xc, _CODY_A, _CODY_B)
    return out


def _ncdf_compiled(x: Float64Array, e: ArrayLike | None) -> Float64Array:
    """:func:`ncdf` on the compiled twin (``e`` as there; computed with NumPy's ``exp`` when
    not given, as the NumPy path does)."""
    from chainlens.pricing._bsm_numba import ncdf_twin

    ee = np.exp(-0.5 * x * x) if e is None else np.asarray(e, np.float64)
    xf = np.ascontiguousarray(x).reshape(-1)
    ef = np.ascontiguousarray(np.broadcast_to(ee, x.shape)).reshape(-1)
    out = np.empty(xf.size)
    ncdf_twin(xf, ef, out)
    return out.reshape(x.shape)


def use_numba(n: int | None = None) -> bool:
    """Whether the compiled path is used for ``n`` contracts (:func:`chainlens._engine.use_numba`
    with :data:`COMPILED_MIN_SIZE`).

    ``CHAINLENS_NO_NUMBA``: ``1`` never (NumPy), ``0`` always when Numba is installed;
    unset or empty ("auto"): when Numba is installed and ``n`` (when given) is at least
    :data:`COMPILED_MIN_SIZE` (the choice never depends on what the process imported before:
    the two paths may differ in the last digits, and an answer must not depend on history).
    """
    return _engine.use_numba(n, COMPILED_MIN_SIZE)


def _check_which(which: Iterable[str]) -> tuple[str, ...]:
    w = tuple(which)
    bad = [n for n in w if n not in GREEK_NAMES]
    if bad:
        raise ValueError(f"unknown greek(s) {bad}; choose from {GREEK_NAMES}")
    return w


def greeks_numpy(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    *,
    which: Iterable[str] = ("delta", "gamma", "vanna", "charm"),
) -> dict[str, Float64Array]:
    """NumPy implementation of :func:`greeks` (the fallback; same arguments and results)."""
    return _greeks_numpy(S, K, t, r, q, sigma, is_call, _check_which(which))


def greeks(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    *,
    which: Iterable[str] = ("delta", "gamma", "vanna", "charm"),
) -> dict[str, Float64Array]:
    r"""Several BSM quantities at once, sharing :math:`d_1`, :math:`d_2` and :math:`n(d_1)`.

    Parameters
    ----------
    S, K, t, r, q, sigma, is_call
        Spot (USD), strike (USD), time to expiry (years, ACT/365), rate and dividend yield
        (continuous, per year), volatility (annualised decimal), call flag. Broadcast together.
    which
        Names among :data:`GREEK_NAMES`. Units as in the single kernels (:func:`price`,
        :func:`delta`, ...).

    Returns
    -------
    dict of str to ndarray
        One float64 array per requested name, in the broadcast shape of the inputs.

    Notes
    -----
    .. math::

        d_1 = \frac{\ln(S/K) + (r - q + \sigma^2/2)\,t}{\sigma\sqrt t},\qquad
        d_2 = d_1 - \sigma\sqrt t

    and every quantity is the closed form given in its own kernel's docstring.

    Examples
    --------
    >>> g = greeks(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True, which=("delta", "gamma"))
    >>> round(float(g["delta"]), 3), round(float(g["gamma"]), 3)
    (0.522, 0.066)
    """
    names = _check_which(which)
    shapes = [np.shape(a) for a in (S, K, t, r, q, sigma, is_call)]
    n = int(np.prod(np.broadcast_shapes(*shapes), dtype=np.int64))
    if use_numba(n):
        from chainlens.pricing._bsm_numba import greeks_numba

        return greeks_numba(S, K, t, r, q, sigma, is_call, names)
    return _greeks_numpy(S, K, t, r, q, sigma, is_call, names)


def _greeks_numpy(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    names: tuple[str, ...],
) -> dict[str, Float64Array]:
    arrays = [np.asarray(a, dtype=np.float64) for a in (S, K, t, r, q, sigma)]
    c_in = np.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(*(a.shape for a in arrays), c_in.shape)
    if _all_regular(*arrays):
        S0, K0, t0, r0, q0, s0 = arrays
        return _greeks_regular(S0, K0, t0, r0, q0, s0, c_in, names, shape)
    S_, K_, t_, r_, q_, s_, c_ = np.broadcast_arrays(*arrays, c_in)
    ok = (
        np.isfinite(S_)
        & np.isfinite(K_)
        & np.isfinite(t_)
        & np.isfinite(r_)
        & np.isfinite(q_)
        & np.isfinite(s_)
        & (S_ > 0)
        & (K_ > 0)
    )
    # Sanitised inputs: masked-out rows compute on harmless values and become NaN at the end.
    Sx = np.where(ok, S_, 1.0)
    Kx = np.where(ok, K_, 1.0)
    rx = np.where(ok, r_, 0.0)
    qx = np.where(ok, q_, 0.0)
    te = np.where(ok & (t_ > 0), t_, 0.0)  # elapsed-safe time for discounting (0 if expired)
    se = np.where(ok & (s_ > 0), s_, 0.0)
    reg = ok & (te > T_MIN_YEARS) & (se * np.sqrt(te) > SIGMA_SQRT_T_MIN)
    tr = np.where(reg, te, 1.0)
    sr = np.where(reg, se, 1.0)

    dq = np.exp(-qx * te)  # e^{-qt}
    dr = np.exp(-rx * te)  # e^{-rt}
    sqt = np.sqrt(tr)
    vs = sr * sqt
    d1 = (np.log(Sx / Kx) + (rx - qx + 0.5 * sr * sr) * tr) / vs
    d2 = d1 - vs
    pdf = _npdf(d1)
    sgn = np.where(c_, 1.0, -1.0)
    Nsd1 = ncdf(sgn * d1)  # N(d1) for calls, N(-d1) for puts
    Nsd2 = ncdf(sgn * d2)
    # Limit for sigma*sqrt(t) -> 0 or t -> 0: compare the discounted forward with the strike.
    fwd_pv = Sx * dq
    k_pv = Kx * dr
    itm = np.where(fwd_pv > k_pv, 1.0, np.where(fwd_pv < k_pv, 0.0, 0.5))
    itm = np.where(c_, itm, 1.0 - itm)  # probability-like step, in the option's own direction
    alive = te > 0

    out: dict[str, Float64Array] = {}
    for name in names:
        if name == "price":
            reg_v = sgn * (Sx * dq * Nsd1 - Kx * dr * Nsd2)
            lim_v = np.maximum(sgn * (fwd_pv - k_pv), 0.0)
        elif name == "delta":
            reg_v = sgn * dq * Nsd1
            lim_v = sgn * dq * itm
        elif name == "gamma":
            reg_v = dq * pdf / (Sx * vs)
            lim_v = np.zeros_like(Sx)
        elif name == "vega":
            reg_v = Sx * dq * pdf * sqt
            lim_v = np.zeros_like(Sx)
        elif name == "theta":
            reg_v = (
                -Sx * dq * pdf * sr / (2.0 * sqt)
                - sgn * rx * Kx * dr * Nsd2
                + sgn * qx * Sx * dq * Nsd1
            )
            lim_v = np.where(alive, sgn * itm * (qx * fwd_pv - rx * k_pv), 0.0)
        elif name == "vanna":
            reg_v = -dq * pdf * d2 / sr
            lim_v = np.zeros_like(Sx)
        elif name == "charm":
            reg_v = sgn * qx * dq * Nsd1 - dq * pdf * (2.0 * (rx - qx) * tr - d2 * vs) / (
                2.0 * tr * vs
            )
            lim_v = np.where(alive, sgn * qx * dq * itm, 0.0)
        else:  # vomma
            reg_v = Sx * dq * pdf * sqt * d1 * d2 / sr
            lim_v = np.zeros_like(Sx)
        out[name] = np.where(ok, np.where(reg, reg_v, lim_v), np.nan)
    return out


def regular_rows(S, K, t, r, q, sigma) -> np.ndarray:
    """Per contract, the conditions of :func:`_all_regular` (broadcast): a batch of several
    snapshots calls :func:`greeks` on the snapshots that are all regular apart from the others,
    so that each takes the path it takes alone (the paths differ in the last digits)."""
    return (
        np.isfinite(S)
        & np.isfinite(K)
        & np.isfinite(t)
        & np.isfinite(r)
        & np.isfinite(q)
        & np.isfinite(sigma)
        & (S > 0)
        & (K > 0)
        & (t > T_MIN_YEARS)
        & (sigma > 0)
        & (sigma * np.sqrt(t) > SIGMA_SQRT_T_MIN)
    )


def _all_regular(S, K, t, r, q, sigma) -> bool:
    """Every contract finite, ``S, K > 0``, ``t > T_MIN_YEARS``, ``sigma sqrt t`` not tiny."""
    return bool(
        np.isfinite(S).all()
        and np.isfinite(K).all()
        and np.isfinite(t).all()
        and np.isfinite(r).all()
        and np.isfinite(q).all()
        and np.isfinite(sigma).all()
        and (S > 0).all()
        and (K > 0).all()
        and (t > T_MIN_YEARS).all()
        and (sigma > 0).all()
        and (sigma * np.sqrt(t) > SIGMA_SQRT_T_MIN).all()
    )


def _greeks_regular(
    S, K, t, r, q, sigma, c, names: tuple[str, ...], shape: tuple[int, ...]
) -> dict[str, Float64Array]:
    """The closed forms when every contract is regular (no masks, no limits): the common
    case, about twice as fast as the general path. Scalars stay scalars until the end."""
    sqt = np.sqrt(t)
    vs = sigma * sqt
    d1 = (np.log(S / K) + (r - q + 0.5 * sigma * sigma) * t) / vs
    d2 = d1 - vs
    e1 = np.exp(-0.5 * d1 * d1)
    dq = np.exp(-q * t)
    dpdf = dq * _INV_SQRT_2PI * e1  # e^{-qt} n(d1)
    sgn = np.where(c, 1.0, -1.0)
    Nsd1 = Nsd2 = dr = None
    if {"price", "delta", "theta", "charm"} & set(names):
        Nsd1 = ncdf(sgn * d1, e1)  # N(d1) for calls, N(-d1) for puts
    if {"price", "theta"} & set(names):
        Nsd2 = ncdf(sgn * d2)
        dr = np.exp(-r * t)
    out: dict[str, Float64Array] = {}
    for name in names:
        if name == "price":
            v = sgn * (S * dq * Nsd1 - K * dr * Nsd2)
        elif name == "delta":
            v = sgn * dq * Nsd1
        elif name == "gamma":
            v = dpdf / (S * vs)
        elif name == "vega":
            v = S * dpdf * sqt
        elif name == "theta":
            v = -S * dpdf * sigma / (2.0 * sqt) - sgn * r * K * dr * Nsd2 + sgn * q * S * dq * Nsd1
        elif name == "vanna":
            v = -dpdf * d2 / sigma
        elif name == "charm":
            v = sgn * q * dq * Nsd1 - dpdf * (2.0 * (r - q) * t - d2 * vs) / (2.0 * t * vs)
        else:  # vomma
            v = S * dpdf * sqt * d1 * d2 / sigma
        v = np.asarray(v, dtype=np.float64)
        out[name] = v if v.shape == shape else np.array(np.broadcast_to(v, shape))
    return out


def price(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""BSM value of a European option, in USD per share.

    Notes
    -----
    Hull (9e) eqs. 15.20–15.21 with a continuous dividend yield (sec. 17.4):

    .. math::

        c = S e^{-qt} N(d_1) - K e^{-rt} N(d_2),\qquad
        p = K e^{-rt} N(-d_2) - S e^{-qt} N(-d_1)

    For ``t <= 0`` or ``sigma <= 0`` the value is the discounted intrinsic value
    :math:`\max(\pm(S e^{-qt} - K e^{-rt}), 0)`.

    Examples
    --------
    Hull 9e, Example 15.6 (c = 4.76, p = 0.81):

    >>> round(float(price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True)), 2)
    4.76
    >>> round(float(price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, False)), 2)
    0.81
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("price",))["price"]


def delta(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Delta :math:`\partial V/\partial S`, dimensionless (per share of underlying).

    Notes
    -----
    Hull 9e sec. 19.4 (with dividend yield, Table 19.6):

    .. math::

        \Delta_c = e^{-qt} N(d_1),\qquad \Delta_p = e^{-qt}\,(N(d_1) - 1)

    Limit (``t <= 0`` or ``sigma <= 0``): :math:`\pm e^{-qt}` when in the money on the
    forward, 0 when out, :math:`\pm e^{-qt}/2` exactly at the forward.

    Examples
    --------
    Hull 9e, Example 19.1 area (S=49, K=50, r=5%, sigma=20%, T=0.3846): 0.522.

    >>> round(float(delta(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)), 3)
    0.522
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("delta",))["delta"]


def gamma(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Gamma :math:`\partial^2 V/\partial S^2`, per USD of underlying (same for calls and puts).

    Notes
    -----
    Hull 9e sec. 19.6, Table 19.6:

    .. math:: \Gamma = \frac{e^{-qt}\, n(d_1)}{S \sigma \sqrt t}

    Zero in the limit ``t <= 0`` or ``sigma <= 0``.

    Examples
    --------
    >>> round(float(gamma(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)), 3)
    0.066
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("gamma",))["gamma"]


def vega(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Vega :math:`\partial V/\partial\sigma`, USD per share per 1.00 (100 points) of vol.

    Multiply by :data:`VOL_POINT` for USD per vol point.

    Notes
    -----
    Hull 9e sec. 19.8, Table 19.6:

    .. math:: \mathcal V = S e^{-qt}\, n(d_1) \sqrt t

    Examples
    --------
    Hull's example (S=49, K=50, T=0.3846): 12.1 per 1.00 of vol, 0.121 per point.

    >>> round(float(vega(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)), 1)
    12.1
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("vega",))["vega"]


def theta(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Theta :math:`-\partial V/\partial t`, USD per share per YEAR of calendar time.

    The sign is the value change as time passes (normally negative for a long option).
    Divide by 365 for a per-calendar-day figure.

    Notes
    -----
    Hull 9e sec. 19.5, Table 19.6:

    .. math::

        \Theta_c = -\frac{S e^{-qt} n(d_1)\sigma}{2\sqrt t} - rKe^{-rt}N(d_2)
                   + qSe^{-qt}N(d_1)

        \Theta_p = -\frac{S e^{-qt} n(d_1)\sigma}{2\sqrt t} + rKe^{-rt}N(-d_2)
                   - qSe^{-qt}N(-d_1)

    Examples
    --------
    Hull's example (S=49, K=50, T=0.3846): -4.31 per year.

    >>> round(float(theta(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)), 2)
    -4.31
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("theta",))["theta"]


def vanna(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Vanna :math:`\partial^2 V/\partial S\,\partial\sigma`, per share per 1.00 of vol.

    Equivalently the change of delta per 1.00 of vol. Multiply by :data:`VOL_POINT` for per
    vol point. Same for calls and puts.

    Notes
    -----
    Haug (2007) sec. 2.2.2 "DdeltaDvol":

    .. math:: \text{vanna} = -e^{-qt}\, n(d_1)\, \frac{d_2}{\sigma}
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("vanna",))["vanna"]


def charm(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Charm :math:`-\partial\Delta/\partial t`: delta drift per YEAR as time passes.

    Divide by 365 for the change of delta per calendar day.

    Notes
    -----
    Haug (2007) sec. 2.2.3 "DdeltaDtime" (sign: time passing, i.e. :math:`-\partial/\partial T`):

    .. math::

        \text{charm}_c = q e^{-qt} N(d_1)
            - e^{-qt} n(d_1)\,\frac{2(r-q)t - d_2\sigma\sqrt t}{2t\sigma\sqrt t}

        \text{charm}_p = -q e^{-qt} N(-d_1)
            - e^{-qt} n(d_1)\,\frac{2(r-q)t - d_2\sigma\sqrt t}{2t\sigma\sqrt t}
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("charm",))["charm"]


def vomma(
    S: ArrayLike,
    K: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Float64Array:
    r"""Vomma (volga) :math:`\partial^2 V/\partial\sigma^2`, per share per (1.00 of vol)².

    Multiply by ``VOL_POINT**2`` for per (vol point)². Same for calls and puts.

    Notes
    -----
    Haug (2007) sec. 2.2.4 "DvegaDvol":

    .. math:: \text{vomma} = \mathcal V\, \frac{d_1 d_2}{\sigma}
    """
    return greeks(S, K, t, r, q, sigma, is_call, which=("vomma",))["vomma"]
