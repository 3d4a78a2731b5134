"""BSM kernels against independent references: Hull's worked examples, closed forms, parity,
finite differences and the slow scalar reference in ``tests/_reference_pricing.py``."""

from __future__ import annotations

import pytest

from chainlens import pricing

# --- Hull 9e worked examples (values printed in the book) -------------------------------------


def test_hull_example_15_6_prices() -> None:
    # S=42, K=40, r=10%, sigma=20%, T=0.5: c = 4.76, p = 0.81
    c = pricing.price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True)
    p = pricing.price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, False)
    assert round(float(c), 2) == 4.76
    assert round(float(p), 2) == 0.81


def test_hull_greeks_example() -> None:
    # Hull 9e ch. 19 running example: S=49, K=50, r=5%, sigma=20%, T=20 weeks=0.3846
    args = (49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)
    assert float(pricing.delta(*args)) == pytest.approx(0.522, abs=5e-4)
    assert float(pricing.gamma(*args)) == pytest.approx(0.066, abs=5e-4)
    assert float(pricing.vega(*args)) == pytest.approx(12.1, abs=0.05)
    assert float(pricing.theta(*args)) == pytest.approx(-4.31, abs=5e-3)


# --- fast paths (Numba and NumPy) against the slow scalar reference ---------------------------

import math  # noqa: E402

import numpy as np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tests._reference_pricing import ref_all  # noqa: E402

from chainlens.pricing import _bsm  # noqa: E402

NAMES = _bsm.GREEK_NAMES


@pytest.fixture(params=["numba", "numpy"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1" if request.param == "numpy" else "0")
    assert pricing.use_numba() == (request.param == "numba")
    return request.param


def _random_inputs(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    S = rng.uniform(20.0, 500.0, n)
    K = S * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    t = np.exp(rng.uniform(np.log(1.0 / 8760), np.log(3.0), n))
    r = rng.uniform(-0.01, 0.08, n)
    q = rng.uniform(0.0, 0.05, n)
    sig = rng.uniform(0.05, 1.5, n)
    c = rng.random(n) < 0.5
    return S, K, t, r, q, sig, c


def test_fast_paths_match_scalar_reference(backend: str) -> None:
    S, K, t, r, q, sig, c = _random_inputs(2000, 7)
    got = pricing.greeks(S, K, t, r, q, sig, c, which=NAMES)
    for i in range(S.size):
        ref = ref_all(S[i], K[i], t[i], r[i], q[i], sig[i], bool(c[i]))
        for name in NAMES:
            # relative 1e-12, absolute 1e-12 scaled to the natural size of the quantity
            scale = {"price": S[i], "vega": S[i], "theta": S[i], "vomma": S[i]}.get(name, 1.0)
            assert got[name][i] == pytest.approx(ref[name], rel=1e-12, abs=1e-12 * scale), (
                name,
                i,
            )


def test_numba_equals_numpy_on_edges() -> None:
    from chainlens.pricing._bsm_numba import greeks_numba

    S = np.array([100.0, 100, 100, 100, np.nan, -5, 100, 100, 100, np.inf])
    K = np.array([90.0, 110, 100, 100, 100, 100, 0, 100, 80, 100])
    t = np.array([0.0, -0.1, 0.5, 1e-20, 1, 1, 1, 0.5, 0.5, 1])
    sig = np.array([0.2, 0.2, 0.0, 0.2, 0.2, 0.2, 0.2, -0.1, 1e-200, 0.2])
    c = np.array([True, False, True, False, True, True, True, False, True, True])
    a = greeks_numba(S, K, t, 0.05, 0.01, sig, c, NAMES)
    b = _bsm.greeks_numpy(S, K, t, 0.05, 0.01, sig, c, which=NAMES)
    for name in NAMES:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-13, atol=1e-14, equal_nan=True)


def test_intrinsic_limits_without_warnings(backend: str) -> None:
    # t <= 0 and sigma <= 0: discounted intrinsic value, step delta, zero gamma/vega/vanna/vomma
    S, K = 100.0, np.array([90.0, 110.0, 100.0, 90.0, 110.0])
    t = np.array([0.0, 0.0, 0.0, -1.0, 0.5])
    sig = np.array([0.2, 0.2, 0.2, 0.2, 0.0])
    g = pricing.greeks(S, K, t, 0.05, 0.0, sig, True, which=NAMES)
    disc = math.exp(-0.05 * 0.5)
    np.testing.assert_allclose(g["price"], [10.0, 0.0, 0.0, 10.0, 0.0])
    np.testing.assert_allclose(g["delta"], [1.0, 0.0, 0.5, 1.0, 0.0])
    for name in ("gamma", "vega", "vanna", "vomma"):
        np.testing.assert_array_equal(g[name], 0.0)
    # sigma = 0 call with 100 > 110 e^{-0.025}? no: 107.28 > 100 -> out of the money
    p = pricing.price(S, 105.0, 0.5, 0.05, 0.0, 0.0, True)
    assert float(p) == pytest.approx(max(100.0 - 105.0 * disc, 0.0))
    put = pricing.greeks(S, 110.0, 0.5, 0.05, 0.0, 0.0, False, which=("price", "delta", "theta"))
    assert float(put["price"]) == pytest.approx(110.0 * disc - 100.0)
    assert float(put["delta"]) == -1.0
    assert float(put["theta"]) == pytest.approx(0.05 * 110.0 * disc)  # r K e^{-rt}, q = 0
    bad = pricing.greeks([np.nan, 100.0, 100.0], [100.0, 0.0, 100.0], 1.0, 0.05, 0.0,
                         [0.2, 0.2, np.inf], True, which=NAMES)  # fmt: skip
    for name in NAMES:
        assert np.isnan(bad[name]).all()


def test_broadcasting_and_scalar_shapes(backend: str) -> None:
    K = np.linspace(80.0, 120.0, 5)[:, None]
    S = np.linspace(90.0, 110.0, 3)[None, :]
    g = pricing.gamma(S, K, 0.25, 0.05, 0.0, 0.2, True)
    assert g.shape == (5, 3)
    for i in range(5):
        for j in range(3):
            ref = ref_all(S[0, j], K[i, 0], 0.25, 0.05, 0.0, 0.2, True)["gamma"]
            assert g[i, j] == pytest.approx(ref, rel=1e-12)
    assert pricing.price(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, True).shape == ()


def test_hull_values_both_backends(backend: str) -> None:
    test_hull_example_15_6_prices()
    test_hull_greeks_example()


# --- finite differences of the price (independent of the analytic greek formulas) -------------


@pytest.mark.parametrize("call", [True, False])
@pytest.mark.parametrize(("S", "K", "t", "sig"), [(100, 100, 0.5, 0.25), (100, 80, 0.1, 0.4),
                                                  (4500, 4700, 0.05, 0.15), (50, 60, 2.0, 0.6)])  # fmt: skip
def test_finite_differences(S: float, K: float, t: float, sig: float, call: bool) -> None:
    r, q = 0.04, 0.015
    P = _bsm.greeks_numpy  # the NumPy price is checked against Hull above

    def V(S_: float = S, t_: float = t, s_: float = sig) -> float:
        return float(P(S_, K, t_, r, q, s_, call, which=("price",))["price"])

    def D(S_: float = S, t_: float = t, s_: float = sig) -> float:
        return float(P(S_, K, t_, r, q, s_, call, which=("delta",))["delta"])

    def d2v(h: float) -> float:
        return (V(s_=sig + h) - 2 * V() + V(s_=sig - h)) / h**2

    g = pricing.greeks(S, K, t, r, q, sig, call, which=NAMES)
    hS, ht, hs = 1e-4 * S, 1e-5 * t, 1e-5
    fd = {
        "delta": (V(S + hS) - V(S - hS)) / (2 * hS),
        "gamma": (V(S + hS) - 2 * V() + V(S - hS)) / hS**2,
        "vega": (V(s_=sig + hs) - V(s_=sig - hs)) / (2 * hs),
        "theta": -(V(t_=t + ht) - V(t_=t - ht)) / (2 * ht),
        "vanna": (D(s_=sig + hs) - D(s_=sig - hs)) / (2 * hs),
        "charm": -(D(t_=t + ht) - D(t_=t - ht)) / (2 * ht),
        "vomma": (4 * d2v(1e-3) - d2v(2e-3)) / 3,  # Richardson: O(h^4)
    }
    for name, want in fd.items():
        scale = max(abs(want), 1e-3 * {"delta": 1, "gamma": 1 / S, "vanna": 1}.get(name, S))
        assert abs(float(g[name]) - want) <= 2e-5 * scale, (name, float(g[name]), want)


# --- properties --------------------------------------------------------------------------------

finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    S=st.floats(1.0, 1e4, **finite),
    m=st.floats(0.3, 3.0, **finite),
    t=st.floats(1e-4, 5.0, **finite),
    r=st.floats(-0.02, 0.1, **finite),
    q=st.floats(0.0, 0.08, **finite),
    sig=st.floats(0.01, 2.0, **finite),
)
def test_put_call_parity_and_gamma_nonnegative(S, m, t, r, q, sig) -> None:
    K = S * m
    g = pricing.greeks(S, K, t, r, q, sig, [True, False], which=("price", "delta", "gamma"))
    c, p = g["price"]
    parity = S * math.exp(-q * t) - K * math.exp(-r * t)
    assert c - p == pytest.approx(parity, abs=1e-10 * max(S, K))
    assert g["delta"][0] - g["delta"][1] == pytest.approx(math.exp(-q * t), abs=1e-12)
    assert (g["gamma"] >= 0).all() and g["gamma"][0] == g["gamma"][1]


def test_unknown_greek_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown greek"):
        pricing.greeks(100, 100, 1, 0, 0, 0.2, True, which=("speed",))
