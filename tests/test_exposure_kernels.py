"""Exposure kernels against independent references: brute-force max pain (Hypothesis), the GEX
identity from finite differences of dealer delta, linearity in OI, a scalar profile reference,
hand-worked zero-gamma and wall cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens.exposure import (
    contract_exposures,
    dealer_contracts,
    gamma_profile,
    max_pain,
    profile_terms,
    spot_grid,
    wall_above,
    wall_below,
    zero_gamma,
)
from chainlens.pricing import delta as bsm_delta
from chainlens.pricing import gamma as bsm_gamma

# ----------------------------------------------------------------------------- max pain


def _brute_max_pain(k, is_call, oi):
    """Scalar reference: evaluate the pain at every listed strike (SPEC definition)."""
    if sum(oi) == 0:
        return None
    best, best_x = None, None
    for x in sorted(set(k)):
        pain = 0.0
        for ki, ci, oii in zip(k, is_call, oi, strict=True):
            pain += oii * (max(0.0, x - ki) if ci else max(0.0, ki - x))
        if best is None or pain < best:
            best, best_x = pain, x
    return best_x


_contract = st.tuples(
    st.integers(0, 3),  # group
    st.integers(1, 40).map(lambda v: v * 2.5),  # strike
    st.booleans(),
    st.integers(0, 3).flatmap(lambda z: st.just(0) if z == 0 else st.integers(0, 5000)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_contract, min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_max_pain_matches_brute_force_and_row_order(rows, rnd) -> None:
    g = np.array([r[0] for r in rows], dtype=np.int64)
    k = np.array([r[1] for r in rows])
    c = np.array([r[2] for r in rows])
    oi = np.array([r[3] for r in rows], dtype=float)
    res = max_pain(g, k, c, oi, 4)
    for grp in range(4):
        m = g == grp
        ref = _brute_max_pain(k[m].tolist(), c[m].tolist(), oi[m].tolist()) if m.any() else None
        got = res.strike[grp]
        assert (ref is None and np.isnan(got)) or got == ref
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    res2 = max_pain(g[perm], k[perm], c[perm], oi[perm], 4)
    np.testing.assert_array_equal(res.strike, res2.strike)


def test_max_pain_hand_case_and_ties() -> None:
    # calls 10@95, 20@100, 50@105; puts 40@95, 20@100, 5@105 -> pains 150, 75, 200
    k = np.array([95.0, 100, 105, 95, 100, 105])
    c = np.array([True, True, True, False, False, False])
    oi = np.array([10.0, 20, 50, 40, 20, 5])
    assert max_pain(np.zeros(6, np.int64), k, c, oi).strike[0] == 100.0
    assert max_pain(np.zeros(6, np.int64), k, c, oi).pain_usd[0] == 75.0
    # exact tie between 99 and 101 -> lowest
    tie = max_pain(
        np.zeros(2, np.int64),
        np.array([99.0, 101.0]),
        np.array([False, True]),
        np.array([30.0, 30.0]),
    )
    assert tie.strike[0] == 99.0
    # no OI -> none
    assert np.isnan(max_pain(np.zeros(2, np.int64), k[:2], c[:2], np.zeros(2)).strike[0])


def test_max_pain_skips_non_finite_strikes() -> None:
    """A NaN or infinite strike is no candidate (it crashed the kernel with an IndexError):
    the hand case above with such rows added gives the same answer, and a group holding only
    such rows has none."""
    k = np.array([95.0, 100, 105, 95, 100, 105, np.nan, np.inf])
    c = np.array([True, True, True, False, False, False, True, False])
    oi = np.array([10.0, 20, 50, 40, 20, 5, 1000, 1000])
    g = np.array([0, 0, 0, 0, 0, 0, 0, 1], np.int64)
    got = max_pain(g, k, c, oi, n_groups=2)
    assert got.strike[0] == 100.0 and got.pain_usd[0] == 75.0
    assert np.isnan(got.strike[1]) and np.isnan(got.pain_usd[1])


# ----------------------------------------------------------------------------- GEX


def _random_chain(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    S = 4000.0
    K = np.round(rng.uniform(3000, 5000, n) / 5) * 5
    t = rng.uniform(5 / 365, 1.5, n)
    sigma = rng.uniform(0.1, 0.45, n)
    q = rng.uniform(0.0, 0.02, n)
    is_call = rng.random(n) < 0.5
    oi = rng.integers(0, 20_000, n).astype(float)
    return S, K, t, sigma, q, is_call, oi


def test_gex_identity_from_dealer_delta() -> None:
    """(dealer delta at 1.01 S - dealer delta at S) * S ~ gex_usd_per_1pct (issue 3)."""
    S, K, t, sigma, q, is_call, oi = _random_chain(400)
    r = 0.04
    w = dealer_contracts(is_call, oi, "classic")
    mult = np.full(K.size, 100.0)

    def hedge(s):
        return float(np.sum(w * mult * bsm_delta(s, K, t, r, q, sigma, is_call)))

    per = contract_exposures(w, mult, S, bsm_gamma(S, K, t, r, q, sigma, is_call), np.zeros(K.size))
    gex = float(np.sum(per.gex_usd_per_1pct))
    gross = float(np.sum(np.abs(per.gex_usd_per_1pct)))
    fwd = (hedge(1.01 * S) - hedge(S)) * S
    central = (hedge(1.001 * S) - hedge(0.999 * S)) * S * 5.0  # same 1% scale, O(h^2) error
    # the forward difference carries the second-order (speed) term: within 2% of gross gamma
    assert abs(fwd - gex) <= 0.02 * gross
    assert central == pytest.approx(gex, rel=2e-4)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 50.0))
def test_gex_linear_in_oi(scale: float) -> None:
    S, K, t, sigma, q, is_call, oi = _random_chain(50, seed=3)
    g = bsm_gamma(S, K, t, 0.04, q, sigma, is_call)
    d = bsm_delta(S, K, t, 0.04, q, sigma, is_call)
    m = np.full(K.size, 100.0)
    base = contract_exposures(dealer_contracts(is_call, oi, "classic"), m, S, g, d)
    scaled = contract_exposures(dealer_contracts(is_call, oi * scale, "classic"), m, S, g, d)
    assert np.sum(scaled.gex_usd_per_1pct) == pytest.approx(
        scale * np.sum(base.gex_usd_per_1pct), rel=1e-12, abs=1e-6
    )
    assert np.sum(scaled.dex_shares) == pytest.approx(
        scale * np.sum(base.dex_shares), rel=1e-12, abs=1e-6
    )


def test_dealer_models() -> None:
    c = np.array([True, False])
    oi = np.array([10.0, 4.0])
    assert dealer_contracts(c, oi, "classic").tolist() == [10.0, -4.0]
    assert dealer_contracts(c, oi, "short_all").tolist() == [-10.0, -4.0]
    assert dealer_contracts(c, oi, "flow", np.array([-3.0, np.nan])).tolist() == [-3.0, 0.0]
    from chainlens.errors import ConfigError

    with pytest.raises(ConfigError):
        dealer_contracts(c, oi, "flow")


def test_exposure_units_hand_case() -> None:
    # one call, w=+2 contracts, m=100, S=50, gamma 0.04, delta 0.6, vanna 0.3, charm -0.73
    e = contract_exposures(
        np.array([2.0]),
        np.array([100.0]),
        50.0,
        np.array([0.04]),
        np.array([0.6]),
        np.array([0.3]),
        np.array([-0.73]),
    )
    assert e.gex_usd_per_1pct[0] == pytest.approx(2 * 0.04 * 100 * 2500 * 0.01)  # 200 USD
    assert e.dex_shares[0] == pytest.approx(120.0)
    assert e.vanna_usd_per_vol_pt[0] == pytest.approx(2 * 0.3 * 100 * 50 * 0.01)  # 30 USD
    assert e.charm_shares_per_day[0] == pytest.approx(2 * -0.73 * 100 / 365)


# ----------------------------------------------------------------------------- profile


def _scalar_profile(level, K, t, r, q, sigma, wm):
    """Slow reference: GEX(S) = sum w m Gamma(S) S^2 0.01 with a hand-written BSM gamma."""
    total = 0.0
    for Ki, ti, qi, si, wi in zip(K, t, q, sigma, wm, strict=True):
        d1 = (math.log(level / Ki) + (r - qi + 0.5 * si * si) * ti) / (si * math.sqrt(ti))
        g = (
            math.exp(-qi * ti)
            * math.exp(-0.5 * d1 * d1)
            / math.sqrt(2 * math.pi)
            / (level * si * math.sqrt(ti))
        )
        total += wi * g * level * level * 0.01
    return total


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_profile_matches_scalar_reference(engine: str) -> None:
    S, K, t, sigma, q, is_call, oi = _random_chain(300, seed=5)
    wm = dealer_contracts(is_call, oi, "classic") * 100.0
    lv = spot_grid(S, 0.15, 0.0025)
    prof = gamma_profile(profile_terms(K, t, 0.04, q, sigma, wm), lv, engine=engine)[:, 0]
    for j in (0, 30, 60, 61, 120):
        ref = _scalar_profile(lv[j], K, t, 0.04, q, sigma, wm)
        assert prof[j] == pytest.approx(ref, rel=1e-9, abs=1e-6)
    # at spot, the profile equals the GEX of the pricing package's gamma
    g = bsm_gamma(S, K, t, 0.04, q, sigma, is_call)
    assert prof[60] == pytest.approx(float(np.sum(wm * g * S * S * 0.01)), rel=1e-9)


def test_zero_gamma_nearest_crossing_interpolated() -> None:
    lv = np.array([90.0, 95.0, 100.0, 105.0, 110.0])
    # crossings at 92.5 (between -1 and +1) and at 107.5; spot 104 -> 107.5 is nearer
    z = zero_gamma(lv, np.array([-1.0, 1.0, 2.0, 1.0, -1.0]), 104.0)
    assert z.level == pytest.approx(107.5) and z.reason is None
    # unequal magnitudes: -1 at 95 and +3 at 100 -> 95 + 5 * 1/4
    assert zero_gamma(lv, np.array([-2.0, -1.0, 3.0, 4.0, 5.0]), 100.0).level == pytest.approx(
        96.25
    )
    none = zero_gamma(lv, -np.ones(5), 100.0)
    assert math.isnan(none.level) and "negative everywhere" in none.reason


def test_walls_ties_go_nearest_spot() -> None:
    k = np.array([90.0, 95.0, 100.0, 105.0, 110.0])
    assert wall_above(k, np.array([0, 0, 3.0, 1.0, 3.0]), 100.0) == 100.0
    assert wall_below(k, np.array([3.0, 0, 3.0, 9.0, 0]), 100.0) == 100.0
    assert math.isnan(wall_above(k, np.zeros(5), 100.0))
