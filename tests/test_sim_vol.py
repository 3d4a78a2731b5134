"""The simulator's volatility surface, Black-76 prices and quotes, against independent checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens.sim._vol import atm_theta, black76, black76_price, quote, ssvi_to_raw, ssvi_w


def _raw_svi(k, a, b, rho, m, s):
    return a + b * (rho * (k - m) + np.sqrt((k - m) ** 2 + s * s))


@pytest.mark.parametrize("rho", [-0.75, -0.4, 0.0, 0.55])
@pytest.mark.parametrize("theta", [1e-4, 0.004, 0.04, 0.3])
def test_ssvi_equals_its_raw_svi(theta: float, rho: float) -> None:
    k = np.linspace(-1.5, 1.5, 301)
    a, b, r, m, s = ssvi_to_raw(np.array(theta), np.array(rho))
    np.testing.assert_allclose(
        ssvi_w(k, np.full_like(k, theta), np.full_like(k, rho)),
        _raw_svi(k, a, b, r, m, s),
        rtol=1e-12,
    )


@pytest.mark.parametrize("rho", [-0.8, -0.5, -0.2, 0.55])
@pytest.mark.parametrize("theta", [2e-5, 0.002, 0.02, 0.12, 0.6])
def test_no_butterfly_arbitrage(theta: float, rho: float) -> None:
    """Gatheral's density condition g(k) >= 0 (Gatheral & Jacquier 2014, eq. 2.1), by finite
    differences on the raw SVI formula (independent of the code's SSVI form)."""
    a, b, r, m, s = (float(x) for x in ssvi_to_raw(np.array(theta), np.array(rho)))
    k = np.linspace(-3, 3, 6001) * max(np.sqrt(theta), 0.05)
    h = 1e-5
    w = _raw_svi(k, a, b, r, m, s)
    w1 = (_raw_svi(k + h, a, b, r, m, s) - _raw_svi(k - h, a, b, r, m, s)) / (2 * h)
    w2 = (_raw_svi(k + h, a, b, r, m, s) - 2 * w + _raw_svi(k - h, a, b, r, m, s)) / h**2
    g = (1 - k * w1 / (2 * w)) ** 2 - w1**2 / 4 * (1 / w + 0.25) + w2 / 2
    assert g.min() > -1e-6


def test_no_calendar_arbitrage() -> None:
    k = np.linspace(-1, 1, 201)
    t = np.array([0.5 / 365, 1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 2.0])
    for beta in (-0.3, 0.0, 0.06):
        for ev in (0.0, 0.004):
            th = atm_theta(
                np.full_like(t, 0.3), t, np.full_like(t, beta), np.where(t > 3 / 365, ev, 0.0)
            )
            assert np.all(np.diff(th) > 0)
            for rho in (-0.7, 0.5):
                w = np.array([ssvi_w(k, np.full_like(k, x), np.full_like(k, rho)) for x in th])
                assert np.all(np.diff(w, axis=0) >= -1e-15)


def test_black76_hull_example() -> None:
    # Hull, Options Futures and Other Derivatives: European put on a futures price,
    # F = 20, K = 20, r = 9%, sigma = 25%, T = 4 months -> p = 1.12.
    t = np.array(4 / 12)
    w = 0.25**2 * t
    p, d, _ = black76(np.array(20.0), np.array(20.0), t, 0.09, w, np.array(False), np.array(20.0))
    assert round(float(p), 2) == 1.12
    assert float(
        black76_price(np.array(20.0), np.array(20.0), t, 0.09, w, np.array(False))
    ) == pytest.approx(float(p), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    f=st.floats(5, 5000),
    m=st.floats(0.5, 1.8),
    t=st.floats(1e-4, 3.0),
    vol=st.floats(0.05, 1.5),
)
def test_parity_and_gamma(f: float, m: float, t: float, vol: float) -> None:
    k = np.array(f * m)
    w = np.array(vol * vol * t)
    r = 0.05
    c, dc, gc = black76(np.array(f), k, np.array(t), r, w, np.array(True), np.array(f))
    p, dp, gp = black76(np.array(f), k, np.array(t), r, w, np.array(False), np.array(f))
    assert float(c - p) == pytest.approx(np.exp(-r * t) * (f - float(k)), abs=1e-9 * f)
    assert float(gc) >= 0 and float(gc) == pytest.approx(float(gp))
    assert float(dc - dp) == pytest.approx(np.exp(-r * t), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    theo=st.floats(0.0, 500.0), z=st.floats(-8, 8), frac=st.floats(0.005, 0.1), penny=st.booleans()
)
def test_quote_bounds(theo: float, z: float, frac: float, penny: bool) -> None:
    b, a, tick = quote(np.array([theo]), np.array([z]), np.array([frac]), np.array([penny]))
    assert 0 <= b[0] <= theo + 1e-9 <= a[0] + 2e-9
    assert a[0] - b[0] >= tick[0] - 1e-9
    for x in (b[0], a[0]):
        assert abs(x / tick[0] - round(x / tick[0])) < 1e-6
