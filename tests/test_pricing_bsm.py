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
