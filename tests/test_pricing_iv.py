"""Implied vol: round trip on a grid, reason codes, scipy brentq as the independent solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from tests._reference_pricing import ref_all

from chainlens import pricing
from chainlens.pricing import _iv


@pytest.fixture(params=["numba", "numpy"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1" if request.param == "numpy" else "0")
    return request.param


def _grid() -> tuple[np.ndarray, ...]:
    # moneyness K/S 0.5..2, t from one hour to three years, vols 5%..150%, calls and puts
    m = np.exp(np.linspace(np.log(0.5), np.log(2.0), 25))
    t = np.exp(np.linspace(np.log(1.0 / 8760.0), np.log(3.0), 20))
    sig = np.array([0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 1.5])
    M, T, V, C = np.meshgrid(m, t, sig, [True, False], indexing="ij")
    return M.ravel(), T.ravel(), V.ravel(), C.ravel()


def test_round_trip_1e10_on_grid(backend: str) -> None:
    S, r, q = 100.0, 0.05, 0.02
    m, t, sig, c = _grid()
    K = S * m
    g = pricing.greeks(S, K, t, r, q, sig, c, which=("price", "vega"))
    iv, why = pricing.implied_vol(g["price"], S, K, t, r, q, c)
    # Domain of the claim: vega not negligible against the rounding of the price
    # (error ~ eps * S / vega); here vega >= 1e-4 * S, with time value >= 1e-12 * S.
    intrinsic = np.maximum(np.where(c, 1, -1) * (S * np.exp(-q * t) - K * np.exp(-r * t)), 0.0)
    dom = (g["vega"] >= 1e-4 * S) & (g["price"] - intrinsic >= 1e-12 * S)
    assert dom.sum() > 0.3 * dom.size  # the rest is deep OTM/ITM at short t
    assert (why[dom] == pricing.IV_OK).all()
    err = np.abs(iv[dom] - sig[dom])
    print(f"IV round trip ({backend}): {dom.sum()} cases, max |err| = {err.max():.2e}")
    assert err.max() <= 1e-10
    # outside the domain: either solved (NaN never with code 0) or a documented reason
    assert np.isfinite(iv[why == 0]).all() and np.isnan(iv[why != 0]).all()


def test_reason_codes(backend: str) -> None:
    S, K, t, r, q = 100.0, 90.0, 0.5, 0.05, 0.0
    intrinsic = S - K * math.exp(-r * t)
    prices = [5.0, intrinsic, 120.0, 10.0, np.nan, 12.0, -1.0]
    ts = [t, t, t, 0.0, t, -0.2, t]
    iv, why = pricing.implied_vol(prices, S, K, ts, r, q, True)
    assert why.dtype == np.int8
    assert why.tolist() == [1, 1, 2, 3, 4, 3, 1]
    assert np.isnan(iv).all()
    # put above K e^{-rt}
    assert pricing.implied_vol(K, S, K, t, r, q, False)[1] == pricing.IV_ABOVE_MAX
    assert pricing.implied_vol(1.0, -S, K, t, r, q, False)[1] == pricing.IV_BAD_INPUT
    assert set(pricing.IV_REASONS) == {0, 1, 2, 3, 4, 5}


def test_against_brentq() -> None:
    # scipy's brentq on the slow scalar reference is the independent solver
    rng = np.random.default_rng(3)
    n = 300
    S = 100.0
    K = S * np.exp(rng.uniform(np.log(0.6), np.log(1.6), n))
    t = np.exp(rng.uniform(np.log(1 / 365), np.log(2.0), n))
    sig = rng.uniform(0.08, 0.9, n)
    c = rng.random(n) < 0.5
    r, q = 0.03, 0.01
    P = np.array([ref_all(S, K[i], t[i], r, q, sig[i], bool(c[i]))["price"] for i in range(n)])
    iv, why = pricing.implied_vol(P, S, K, t, r, q, c)
    vega = np.array([ref_all(S, K[i], t[i], r, q, sig[i], bool(c[i]))["vega"] for i in range(n)])
    dom = vega >= 1e-4 * S
    worst = 0.0
    for i in np.flatnonzero(dom):
        f = lambda s, i=i: ref_all(S, K[i], t[i], r, q, s, bool(c[i]))["price"] - P[i]  # noqa: E731
        b = brentq(f, 1e-4, 5.0, xtol=1e-15, rtol=1e-15, maxiter=500)
        worst = max(worst, abs(iv[i] - b))
    print(f"max |IV - brentq| = {worst:.2e} over {dom.sum()} contracts")
    assert worst <= 1e-10


@settings(max_examples=150, deadline=None)
@given(
    m=st.floats(0.5, 2.0),
    t=st.floats(1.0 / 8760.0, 3.0),
    sig=st.floats(0.05, 1.5),
    call=st.booleans(),
)
def test_round_trip_property(m: float, t: float, sig: float, call: bool) -> None:
    S, r, q = 100.0, 0.04, 0.01
    g = pricing.greeks(S, S * m, t, r, q, sig, call, which=("price", "vega"))
    iv, why = pricing.implied_vol(g["price"], S, S * m, t, r, q, call)
    if g["vega"] >= 1e-4 * S:
        assert int(why) == 0 and abs(float(iv) - sig) <= 1e-10
    else:
        assert int(why) in (0, 1) and (int(why) == 1 or np.isfinite(iv))


def test_numba_and_numpy_solvers_agree() -> None:
    rng = np.random.default_rng(11)
    n = 5000
    S, K = 100.0, 100.0 * rng.uniform(0.7, 1.4, n)
    t, sig, c = rng.uniform(0.01, 1.0, n), rng.uniform(0.1, 0.8, n), rng.random(n) < 0.5
    P = pricing.price(S, K, t, 0.05, 0.0, sig, c)
    a, wa = pricing.implied_vol(P, S, K, t, 0.05, 0.0, c)
    full = [np.broadcast_to(np.asarray(x, float), (n,)).copy() for x in (P, S, K, t, 0.05, 0.0)]
    b, wb = _iv._implied_vol_numpy(*full, c, 1e-12)
    same = (wa == 0) & (wb == 0)
    assert same.mean() > 0.99
    np.testing.assert_allclose(a[same], b[same], atol=1e-10)
