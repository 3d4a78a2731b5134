"""Vol views against hand-worked references: seed 003's zone table, seed 004's delta ranges,
straddle ties and one-sided quotes, smile/RR/BF arithmetic, and the DX/GX surfaces against a
direct sum of the pricing package's greeks."""

from __future__ import annotations

import numpy as np
import pytest

from chainlens.vol import (
    atm_straddles,
    delta_strikes,
    expected_move_zones,
    quote_mid,
    smile_table,
    term_structure,
)


@pytest.mark.parametrize(
    ("low", "mid", "high", "close", "up", "down", "status"),
    [
        # seed 003 "ZONE ANALYSIS" rows: Low Mid High Close Upside Downside Status
        (6363, 6573, 6782, 6783, -0.01, -6.18, "at_or_above_ceiling"),
        (634, 655, 676, 676, 0.0, -6.21, "at_or_above_ceiling"),
        (397, 424, 450, 435, 3.45, -8.74, "upper_half"),
        (98.7, 99.7, 100.6, 99.1, 1.51, -0.40, "lower_half"),
    ],
)
def test_zones_match_seed_003(low, mid, high, close, up, down, status) -> None:
    move = (high - low) / 2
    z = expected_move_zones((high + low) / 2, move, close)
    assert z["status"] == status
    assert z["upside_room_pct"] == pytest.approx(up, abs=0.02)
    assert z["downside_room_pct"] == pytest.approx(down, abs=0.02)
    below = expected_move_zones(100.0, 5.0, 94.0)
    assert below["status"] == "at_or_below_floor"


def test_quote_mid_one_sided() -> None:
    m = quote_mid(np.array([1.0, 0.0, 2.0, 0.0, np.nan]), np.array([1.5, 0.4, 0.0, 0.0, 1.0]))
    assert m[0] == 1.25 and m[1] == 0.2
    assert np.isnan(m[2:]).all()


def test_straddle_ties_and_roots() -> None:
    # spot 100: strikes 99 and 101 tie -> 99; two roots at 99 average their mids
    codes = np.zeros(6, dtype=np.int64)
    k = np.array([99.0, 99.0, 99.0, 99.0, 101.0, 101.0])
    c = np.array([True, True, False, False, True, False])
    price = np.array([2.0, 2.2, 1.0, np.nan, 1.0, 3.0])
    s = atm_straddles(codes, 1, k, c, price, 100.0)
    assert s.atm_strike[0] == 99.0
    assert s.straddle_mid[0] == pytest.approx(2.1 + 1.0)
    assert s.expected_move_pct[0] == pytest.approx(3.1)


def test_delta_strikes_seed_004_ranges() -> None:
    # seed 004: spot 6012.29, 25-delta put 57.77 below and call 49.44 above -> 50% range 107.21
    spot = 6012.29
    k = np.array([5954.52, 5919.70, 6061.73, 6086.01, 6000.0])
    c = np.array([False, False, True, True, True])
    d = np.array([-0.25, -0.15, 0.25, 0.15, 0.52])
    ds = delta_strikes(np.zeros(5, dtype=np.int64), 1, k, c, d, spot)
    assert ds.call25[0] - ds.put25[0] == pytest.approx(107.21, abs=1e-9)
    assert ds.call15[0] - ds.put15[0] == pytest.approx(166.31, abs=1e-9)


def test_term_structure_rr_bf() -> None:
    codes = np.zeros(6, dtype=np.int64)
    k = np.array([90.0, 90, 100, 100, 110, 110])
    c = np.array([True, False, True, False, True, False])
    iv = np.array([0.30, 0.32, 0.20, 0.22, 0.18, 0.19])
    ts = term_structure(codes, 1, k, c, iv, np.array([100.0]), np.array([110.0]), np.array([90.0]))
    assert ts["atm_iv"][0] == pytest.approx(0.21)
    assert ts["rr_25d"][0] == pytest.approx(0.18 - 0.32)
    assert ts["bf_25d"][0] == pytest.approx((0.18 + 0.32) / 2 - 0.21)
    sm = smile_table(np.array(["2023-04-21"] * 6, dtype="datetime64[D]"), k, c, iv)
    assert sm.column("strike").to_pylist() == [90.0, 100.0, 110.0]
    assert sm.column("put_iv").to_pylist() == pytest.approx([0.32, 0.22, 0.19])


def test_surfaces_equal_direct_greek_sums() -> None:
    from chainlens.exposure import dealer_surfaces
    from chainlens.pricing import delta, gamma

    rng = np.random.default_rng(7)
    n = 200
    K = rng.uniform(80, 120, n)
    t = rng.uniform(0.5 / 365, 0.3, n)
    sig = rng.uniform(0.15, 0.4, n)
    q = np.full(n, 0.01)
    c = rng.random(n) < 0.5
    wm = rng.normal(0, 100, n) * 100
    lv = np.array([95.0, 100.0, 105.0])
    tau = np.array([0.0, 1 / 365])
    sf = dealer_surfaces(lv, tau, K, t, 0.03, q, sig, c, wm, chunk=50)
    for h, th in enumerate(tau):
        live = t > th
        for j, s in enumerate(lv):
            dx = np.sum(
                wm[live] * delta(s, K[live], t[live] - th, 0.03, q[live], sig[live], c[live])
            )
            gx = np.sum(
                wm[live] * gamma(s, K[live], t[live] - th, 0.03, q[live], sig[live], c[live])
            )
            assert sf.dx_shares[h, j] == pytest.approx(dx, rel=1e-10)
            assert sf.gx_shares_per_usd[h, j] == pytest.approx(gx, rel=1e-10)


def test_public_api_is_exactly_all() -> None:
    import chainlens.analysis as an
    import chainlens.exposure as ex
    import chainlens.vol as vo

    for mod in (ex, vo):
        public = {n for n in dir(mod) if not n.startswith("_")} - {"annotations"}
        modules = {n for n in public if type(getattr(mod, n)).__name__ == "module"}
        assert public - modules == set(mod.__all__)
    assert set(an.__all__) == {
        "SCHEMA_VERSION",
        "AnalysisConfig",
        "ChainAnalysis",
        "analyze_chain",
        "analyze_chains",
    }
