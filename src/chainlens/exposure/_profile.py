"""Gamma profile over a spot grid, and zero gamma (the gamma flip).

Seed 002 ("Gamma exposure and OI"), seed 003 ("Dealer mechanics"), SPEC "Gamma profile".
Every contract keeps its implied vol (sticky strike), its time to expiry and its carry while
spot moves to each grid level ``S``; its dealer dollar gamma there is (BSM, Hull ch. 19):

.. math::

    \\mathrm{GEX}_i(S) = w_i m_i \\frac{e^{-q_i t_i}\\,\\varphi(d_{1,i}(S))}{S\\,\\sigma_i\\sqrt{t_i}}
    S^2\\,0.01, \\qquad d_{1,i}(S) = (\\ln S - a_i)\\,b_i

with the per-contract terms precomputed once,
``a_i = ln K_i - (r - q_i + σ_i²/2) t_i`` and ``b_i = 1/(σ_i √t_i)``, so that

.. math:: \\mathrm{GEX}(S) = 0.01\\,S \\sum_i c_i\\,\\varphi((\\ln S - a_i) b_i),
          \\qquad c_i = w_i m_i e^{-q_i t_i} b_i .

The sum is a (levels × contracts) matrix kernel: Numba (parallel over levels, ``cache=True``)
with a chunked NumPy fallback. Several weight columns (the profile variants: all contracts,
excluding 0DTE, excluding the next expiry) share one evaluation of ``φ``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from chainlens._engine import use_numba
from chainlens._typing import Float64Array
from chainlens.conventions import GEX_MOVE_FRACTION

__all__ = [
    "ProfileTerms",
    "ZeroGamma",
    "gamma_profile",
    "profile_terms",
    "spot_grid",
    "zero_gamma",
    "zero_gamma_many",
]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class ProfileTerms(NamedTuple):
    """Per-contract terms of the profile kernel: ``a``, ``b`` and weights ``c`` (n × k)."""

    a: Float64Array
    b: Float64Array
    c: Float64Array


def profile_terms(
    K: Float64Array,
    t: Float64Array,
    r: float | Float64Array,
    q: Float64Array,
    sigma: Float64Array,
    w: Float64Array,
) -> ProfileTerms:
    """Precompute the per-contract terms of :func:`gamma_profile`.

    Parameters
    ----------
    K
        Strike, USD.
    t
        Time to expiry, years (> 0).
    r, q
        Continuously compounded rate and carry (dividend) yield, 1/yr.
    sigma
        Implied vol, 1/sqrt(yr) (> 0), kept fixed as spot moves (sticky strike).
    w
        Dealer position times multiplier, shares per unit of underlying: a 1-D array, or a
        2-D (n, k) array of k weight variants (zero where a variant leaves a contract out).

    Returns
    -------
    ProfileTerms
        ``a = ln K - (r - q + σ²/2) t``, ``b = 1/(σ√t)``, ``c = w · e^{-qt} · b``.
        Contracts with a non-finite or non-positive ``t`` or ``σ`` get ``c = 0``.
    """
    K = np.asarray(K, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    ok = np.isfinite(t) & (t > 0) & np.isfinite(sigma) & (sigma > 0) & np.isfinite(q) & (K > 0)
    ts = np.where(ok, t, 1.0)
    ss = np.where(ok, sigma, 1.0)
    qs = np.where(ok, q, 0.0)
    Ks = np.where(ok, K, 1.0)
    sq = ss * np.sqrt(ts)
    a = np.log(Ks) - (r - qs + 0.5 * ss * ss) * ts
    b = 1.0 / sq
    w = np.asarray(w, dtype=np.float64)
    w2 = w.reshape(w.shape[0], -1)
    c = np.nan_to_num(w2, nan=0.0) * (np.exp(-qs * ts) * b * ok)[:, None]
    return ProfileTerms(a, b, np.ascontiguousarray(c))


def spot_grid(spot: float, half_width: float = 0.15, step: float = 0.0025) -> Float64Array:
    """Spot levels ``spot·(1 + j·step)`` for ``|j·step| <= half_width`` (spot itself included).

    Examples
    --------
    >>> spot_grid(100.0, 0.01, 0.005).round(9).tolist()
    [99.0, 99.5, 100.0, 100.5, 101.0]
    """
    n = int(round(half_width / step))
    return np.asarray(spot * (1.0 + np.arange(-n, n + 1) * step), dtype=np.float64)


def _profile_numpy(
    x: Float64Array, a: Float64Array, b: Float64Array, c: Float64Array
) -> Float64Array:
    out = np.zeros((x.size, c.shape[1]))
    chunk = max(1, 2_000_000 // max(1, x.size))
    for s in range(0, a.size, chunk):  # chunks of contracts, vectorized within
        d = (x[:, None] - a[None, s : s + chunk]) * b[None, s : s + chunk]
        out += np.exp(-0.5 * d * d) @ c[s : s + chunk]
    return out * _INV_SQRT_2PI


_numba_kernel = None
#: Below this many (contract, level, variant) terms NumPy is used in ``auto`` mode.
_NUMBA_MIN_WORK = 8_000_000


def _get_numba_kernel():  # pragma: no cover - exercised when numba is importable
    global _numba_kernel
    if _numba_kernel is None:
        import numba

        @numba.njit(parallel=True, fastmath=True, cache=True)
        def kernel(x, a, b, c):  # pragma: no cover - compiled
            nl = x.size
            n, k = c.shape
            out = np.zeros((nl, k))
            for j in numba.prange(nl):
                xj = x[j]
                for i in range(n):
                    d = (xj - a[i]) * b[i]
                    e = math.exp(-0.5 * d * d)
                    for v in range(k):
                        out[j, v] += c[i, v] * e
            return out * 0.3989422804014327

        _numba_kernel = kernel
    return _numba_kernel


def gamma_profile(
    terms: ProfileTerms, levels: Float64Array, *, engine: str = "auto"
) -> Float64Array:
    """Dealer dollar gamma ``GEX(S)`` (USD per 1% move) at each spot level.

    Parameters
    ----------
    terms
        From :func:`profile_terms`.
    levels
        Spot levels, USD.
    engine
        ``"numba"``, ``"numpy"`` or ``"auto"``: the engine policy
        (:func:`chainlens._engine.use_numba`) with the work (contracts × levels × variants)
        as the size and a threshold of ~8M terms; below that the chunked NumPy path is as
        fast as the Numba import itself, which keeps ``chainlens analyze`` start-up short.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(levels), k)``: one column per weight variant.
        ``GEX(S) = 0.01·S·Σ c_i φ((ln S - a_i) b_i)`` (module notes).
    """
    levels = np.asarray(levels, dtype=np.float64)
    x = np.log(levels)
    a, b, c = terms
    if engine not in ("auto", "numba", "numpy"):
        raise ValueError(f"engine must be auto, numba or numpy, not {engine!r}")
    work = a.size * x.size * c.shape[1]
    compiled = engine == "numba" or (engine == "auto" and use_numba(work, _NUMBA_MIN_WORK))
    if a.size == 0 or not compiled:
        s = _profile_numpy(x, a, b, c)
    else:
        s = _get_numba_kernel()(x, a, b, c)
    return s * (GEX_MOVE_FRACTION * levels)[:, None]


class ZeroGamma(NamedTuple):
    """The gamma flip: ``level`` (USD, NaN when none) and ``reason`` (None when found)."""

    level: float
    reason: str | None


def zero_gamma(levels: Float64Array, profile: Float64Array, spot: float) -> ZeroGamma:
    """The sign change of the profile nearest spot, linearly interpolated.

    Between consecutive grid levels ``S_j, S_{j+1}`` with ``G_j·G_{j+1} < 0`` (or a level with
    ``G_j = 0``) the crossing is ``S_j + (S_{j+1} - S_j)·G_j/(G_j - G_{j+1})``; of all
    crossings, the one nearest ``spot`` is returned (not the first one: STYLE "What we do
    not do").

    Examples
    --------
    >>> lv = np.array([90.0, 95.0, 100.0, 105.0, 110.0])
    >>> zero_gamma(lv, np.array([-2.0, -1.0, 1.0, -1.0, -3.0]), 101.0).level
    102.5
    >>> zero_gamma(lv, np.ones(5), 100.0).reason
    'no sign change in the profile range (profile positive everywhere)'
    """
    lv = np.asarray(levels, dtype=np.float64)
    g = np.asarray(profile, dtype=np.float64)
    if g.size == 0 or not np.isfinite(g).all():
        return ZeroGamma(float("nan"), "no profile (no contract with model greeks)")
    if not np.any(g != 0):
        return ZeroGamma(float("nan"), "profile is zero everywhere (no open interest)")
    exact = lv[g == 0]
    g0, g1 = g[:-1], g[1:]
    cross = (g0 * g1) < 0
    s0, s1 = lv[:-1][cross], lv[1:][cross]
    x = s0 + (s1 - s0) * g0[cross] / (g0[cross] - g1[cross])
    cands = np.concatenate([x, exact])
    if cands.size == 0:
        side = "positive" if g[0] > 0 else "negative"
        return ZeroGamma(
            float("nan"), f"no sign change in the profile range (profile {side} everywhere)"
        )
    return ZeroGamma(float(cands[np.argmin(np.abs(cands - spot))]), None)


def zero_gamma_many(
    levels: Float64Array, profiles: Float64Array, spots: Float64Array
) -> list[ZeroGamma]:
    """:func:`zero_gamma` of many profiles at once (rows of ``levels`` and ``profiles``, both
    of shape ``(m, L)``; ``spots`` of shape ``(m,)``).

    The same candidates in the same order (the interpolated crossings, then the exact zeros)
    with the same arithmetic, padded with NaN to one row per profile, and the first one
    nearest spot: equal to :func:`zero_gamma` of each row (a row with a non-finite candidate
    distance, or that has no usable profile, goes through it).
    """
    lv = np.asarray(levels, dtype=np.float64)
    g = np.asarray(profiles, dtype=np.float64)
    sp = np.asarray(spots, dtype=np.float64)
    m = g.shape[0]
    if m == 0 or g.shape[1] < 2:
        return [zero_gamma(lv[i], g[i], float(sp[i])) for i in range(m)]
    g0, g1 = g[:, :-1], g[:, 1:]
    s0, s1 = lv[:, :-1], lv[:, 1:]
    with np.errstate(all="ignore"):
        cross = (g0 * g1) < 0
        x = np.where(cross, s0 + (s1 - s0) * g0 / (g0 - g1), np.nan)
        cands = np.concatenate([x, np.where(g == 0, lv, np.nan)], axis=1)
        dist = np.abs(cands - sp[:, None])
    has = np.concatenate([cross, g == 0], axis=1)
    usable = np.isfinite(g).all(axis=1) & (g != 0).any(axis=1)
    clean = ~(has & ~np.isfinite(dist)).any(axis=1)
    fast = (usable & clean & has.any(axis=1)).tolist()
    best = np.argmin(np.where(has, dist, np.inf), axis=1)
    level = cands[np.arange(m), best]
    # rows without a crossing, by zero_gamma's reasons: no usable profile, zero everywhere,
    # or one sign everywhere (the sign of its first level)
    finite = np.isfinite(g).all(axis=1)
    zero = ~(g != 0).any(axis=1)
    why = np.where(~finite, 0, np.where(zero, 1, np.where(g[:, 0] > 0, 2, 3))).tolist()
    plain = (~finite | zero | ~has.any(axis=1)).tolist()
    levels_l = level.tolist()
    nan = float("nan")
    out: list[ZeroGamma] = []
    for i in range(m):  # a loop over profiles: the result records
        if fast[i]:
            out.append(ZeroGamma(levels_l[i], None))
        elif plain[i]:
            out.append(ZeroGamma(nan, _NO_ZERO_GAMMA[why[i]]))
        else:
            out.append(zero_gamma(lv[i], g[i], float(sp[i])))
    return out


#: :func:`zero_gamma`'s reasons for a profile without a crossing (``zero_gamma_many``'s codes)
_NO_ZERO_GAMMA = (
    "no profile (no contract with model greeks)",
    "profile is zero everywhere (no open interest)",
    "no sign change in the profile range (profile positive everywhere)",
    "no sign change in the profile range (profile negative everywhere)",
)
