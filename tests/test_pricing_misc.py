"""Forwards, time to expiry, config and the exported API of chainlens.pricing."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from tests._reference_pricing import ref_all

from chainlens import conventions, pricing
from chainlens.errors import ConfigError, InputError


def test_public_api_is_exact() -> None:
    assert sorted(pricing.__all__) == sorted(
        [
            "FORWARD_PAIRS", "FORWARD_SCHEMA", "GREEK_NAMES", "IV_ABOVE_MAX", "IV_BAD_INPUT",
            "IV_EXPIRED", "IV_NOT_CONVERGED", "IV_NO_TIME_VALUE", "IV_OK", "IV_REASONS",
            "VOL_POINT", "PricingConfig", "charm", "delta", "gamma", "greeks",
            "implied_forwards", "implied_vol", "price", "theta", "time_to_expiry", "use_numba",
            "vanna", "vega", "vomma",
        ]
    )  # fmt: skip
    assert pricing.VOL_POINT == 0.01


# --- time to expiry: hand-computed instants ----------------------------------------------------


def test_time_to_expiry_hand_cases() -> None:
    snap = dt.datetime(2023, 9, 14, 20, 31, tzinfo=dt.UTC)  # 16:31 EDT
    exp = [dt.date(2023, 9, 15), dt.date(2023, 9, 15), dt.date(2023, 9, 14), dt.date(2023, 12, 15)]
    t = pricing.time_to_expiry(snap, exp, ["AM", "PM", "PM", "AM"])
    year = 365 * 86400.0
    # 09:30 EDT = 13:30 UTC next day; 16:00 EDT = 20:00 UTC; Dec 15 09:30 EST = 14:30 UTC
    want = [
        (16 * 3600 + 59 * 60) / year,  # 20:31 -> 13:30 next day = 16h59m
        (23 * 3600 + 29 * 60) / year,
        -31 * 60 / year,  # expired half an hour ago
        (dt.datetime(2023, 12, 15, 14, 30, tzinfo=dt.UTC) - snap).total_seconds() / year,
    ]
    np.testing.assert_allclose(t, want, rtol=0, atol=1e-15)
    tf = pricing.time_to_expiry(snap, exp, "PM", floor_years=conventions.T_FLOOR_YEARS)
    assert tf[2] == conventions.T_FLOOR_YEARS
    # 0DTE keeps its true remaining time: one hour before the close
    t0 = pricing.time_to_expiry(dt.datetime(2023, 9, 15, 19, 0, tzinfo=dt.UTC), [exp[0]], "PM")
    assert t0[0] == pytest.approx(3600 / year, abs=1e-15)


# --- forwards --------------------------------------------------------------------------------


def _synthetic_chain(F: float, t: float, r: float, strikes: np.ndarray) -> tuple[np.ndarray, ...]:
    # quotes priced with the scalar reference (q chosen so the forward is F)
    S = 100.0
    q = r - math.log(F / S) / t
    K = np.concatenate([strikes, strikes])
    c = np.repeat([True, False], strikes.size)
    mid = np.array(
        [ref_all(S, k, t, r, q, 0.25, bool(cc))["price"] for k, cc in zip(K, c, strict=True)]
    )
    return K, c, mid - 0.02, mid + 0.02, q


def test_forward_from_parity_recovers_carry() -> None:
    r, t = 0.05, 0.25
    K, c, bid, ask, q = _synthetic_chain(101.0, t, r, np.arange(80.0, 121.0, 5.0))
    tab = pricing.implied_forwards(np.full(K.size, "2024-03-15"), K, c, bid, ask, 100.0, t, r)
    assert tab.num_rows == 1
    row = tab.to_pylist()[0]
    assert row["method"] == "parity" and row["n_pairs"] == pricing.FORWARD_PAIRS
    assert row["forward"] == pytest.approx(101.0, abs=1e-9)
    assert row["carry_q"] == pytest.approx(q, abs=1e-9)
    assert tab.schema.equals(pricing.FORWARD_SCHEMA)


def test_forward_trims_outlier_and_falls_back() -> None:
    r, t = 0.05, 0.25
    K, c, bid, ask, _ = _synthetic_chain(100.0, t, r, np.array([95.0, 97.5, 100.0, 102.5, 105.0]))
    # a wrong quote on one near-money call: that pair's parity forward is off by ~5
    i = int(np.flatnonzero((K == 102.5) & c)[0])
    bid[i] += 5.0
    ask[i] += 5.0
    expiry = np.array(["2024-03-15"] * K.size + ["2024-06-21"] * 2, dtype="datetime64[D]")
    K2 = np.concatenate([K, [100.0, 100.0]])
    c2 = np.concatenate([c, [True, False]])
    b2 = np.concatenate([bid, [0.0, 0.0]])  # no bid: not a valid pair
    a2 = np.concatenate([ask, [1.0, 1.0]])
    tab = pricing.implied_forwards(
        expiry, K2, c2, b2, a2, 100.0, np.where(expiry == expiry[0], t, 0.5), r
    )
    rows = tab.to_pylist()
    assert rows[0]["forward"] == pytest.approx(100.0, abs=1e-9) and rows[0]["n_pairs"] == 4
    assert rows[1]["method"] == "fallback" and rows[1]["n_pairs"] == 0
    assert rows[1]["forward"] == pytest.approx(100.0 * math.exp(r * 0.5))
    assert rows[1]["carry_q"] == conventions.DEFAULT_DIVIDEND_YIELD


def test_forward_bad_input_is_clear() -> None:
    with pytest.raises(InputError, match="spot"):
        pricing.implied_forwards(["2024-01-19"], [100.0], [True], [1.0], [1.1], -1.0, 0.1, 0.05)
    with pytest.raises(InputError, match="strike"):
        pricing.implied_forwards(["2024-01-19"] * 2, [100.0], [True], [1.0], [1.1], 100.0, 0.1)


def test_config_validates() -> None:
    cfg = pricing.PricingConfig()
    assert cfg.rate == conventions.DEFAULT_RATE and cfg.t_floor_years is None
    with pytest.raises(ConfigError):
        pricing.PricingConfig(rate=5.0)
    with pytest.raises(ConfigError):
        pricing.PricingConfig(forward_pairs=0)


def test_compiled_path_choice_depends_on_size_only(monkeypatch) -> None:
    """The NumPy and Numba paths may differ in the last digits: which one runs must not depend
    on whether something else imported Numba earlier in the process."""
    import numba  # noqa: F401  (imported, as the store's ingest check does)

    from chainlens.pricing._bsm import COMPILED_MIN_SIZE

    monkeypatch.delenv("CHAINLENS_NO_NUMBA", raising=False)
    assert not pricing.use_numba(1_000)
    assert pricing.use_numba(COMPILED_MIN_SIZE)
