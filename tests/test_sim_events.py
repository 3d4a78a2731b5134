"""Scheduled macro events (CPI, FOMC) in the simulator: implied vol priced into the expiries
that span the event and gone after it; the market's realized move on the event session; and
the open-interest shape by round strikes (hand-worked cases)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chainlens.sim import SimConfig, simulate_market
from chainlens.sim._market import MACRO_EVENTS, _round_levels, macro_schedule
from chainlens.sim._oi import initial_oi
from chainlens.sim._paths import daily_paths
from chainlens.sim._universe import build_universe


def test_macro_schedule_hand_worked() -> None:
    # March 2024: Tue 12th is CPI (the real CPI date); index 12 of sessions from 2024-03-04 is
    # Wed 2024-03-20 (the real FOMC decision day)
    days = [dt.date(2024, 3, 4) + dt.timedelta(days=i) for i in range(30)]
    days = [d for d in days if d.weekday() < 5]  # no holiday in that span
    got = {(days[j], k) for j, k in macro_schedule(days)}
    assert (dt.date(2024, 3, 12), "CPI") in got
    assert (dt.date(2024, 3, 20), "FOMC") in got
    assert len([k for _, k in got if k == "CPI"]) == 1  # one CPI per month


@pytest.fixture(scope="module")
def cpi_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SPX/SPY/QQQ over 2024-03-07..03-14 (CPI on Tuesday 03-12, 08:30 ET)."""
    d = tmp_path_factory.mktemp("cpi")
    cfg = SimConfig(
        underlyings=3,
        sessions=6,
        start=dt.date(2024, 3, 7),
        seed=3,
        trades_per_underlying=200,
        scenarios=False,
    )
    simulate_market(cfg, d)
    return d


def _atm_w(d: Path, day: str, expiry: str) -> tuple[float, float]:
    """ATM total variance ``iv^2 T`` (T to 16:00 ET settlement of a PM expiry, from the 16:15
    snapshot) and IV of SPX's ``expiry`` in the chain of ``day``."""
    t = pq.read_table(d / f"chain-{day}.parquet")
    t = t.filter(pc.equal(t.column("underlying"), "SPX"))
    exp = t.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    sel = exp == np.datetime64(expiry)
    k = t.column("strike").to_numpy()[sel]
    iv = t.column("iv").to_numpy(zero_copy_only=False)[sel].astype(float)
    s = float(t.column("spot")[0].as_py())
    j = int(np.argmin(np.abs(k - s)))
    days = (np.datetime64(expiry) - np.datetime64(day)).astype(int)
    t_years = (days * 24.0 - 0.25) / (365.0 * 24.0)  # 16:15 snapshot to a 16:00 settlement
    return iv[j] ** 2 * t_years, iv[j]


def test_cpi_priced_before_and_crushed_after(cpi_market: Path) -> None:
    rows = pq.read_table(cpi_market / "events.parquet").to_pylist()
    assert dt.date(2024, 3, 12) in {r["date"] for r in rows if r["kind"] == "CPI"}
    move = MACRO_EVENTS["CPI"][1]  # SPX beta is 1
    # the session before: the 03-12 expiry (1 day) holds one day of variance plus the event;
    # the session after, the 03-13 expiry (1 day) holds one day only
    w_pre, iv_pre = _atm_w(cpi_market, "2024-03-11", "2024-03-12")
    w_post, iv_post = _atm_w(cpi_market, "2024-03-12", "2024-03-13")
    assert iv_pre > 1.3 * iv_post  # elevated into the event, crushed after it
    # the difference is the event's variance (one day's diffusive variance changes only with
    # the vol regime between the two closes: allow 35%)
    assert w_pre - w_post == pytest.approx(move**2, rel=0.35)
    # a longer expiry holds the same event variance spread over more time: a smaller lift
    w15_pre, iv15_pre = _atm_w(cpi_market, "2024-03-11", "2024-03-15")
    assert iv_post < iv15_pre < iv_pre


def test_event_session_realized_move() -> None:
    """The market factor's return on the event session gets an extra shock of sd
    _VRP x the implied event move; the other sessions are unchanged."""
    uni = build_universe(3, 1, 5)
    ev = np.array([0.0, 0.0, 0.01, 0.0, 0.0])
    diffs = []
    for seed in range(300):
        a = daily_paths(uni, 5, seed, np.zeros(len(uni)))
        b = daily_paths(uni, 5, seed, np.zeros(len(uni)), event_sd=ev)
        diffs.append(b.market - a.market)
    dm = np.array(diffs)
    assert np.all(dm[:, [0, 1, 3, 4]] == 0.0)
    # 300 draws: the sample sd of N(0, 0.0072) is within 12% of it (4 standard errors)
    assert np.std(dm[:, 2]) == pytest.approx(0.72 * 0.01, rel=0.12)


def test_round_levels_hand_worked() -> None:
    spot = np.full(8, 4500.0)  # L = 1000
    k = np.array([4000.0, 4500.0, 4100.0, 4050.0, 4025.0, 4010.0, 4005.0, 4049.0])
    bins, lvl = _round_levels(k, spot)
    assert lvl.tolist() == [6, 5, 4, 3, 2, 1, 0, 0]
    assert bins.tolist() == [40, 45, 41, 41, 40, 40, 40, 40]
    _, lvl_spy = _round_levels(
        np.array([400.0, 450.0, 410.0, 405.0, 402.5, 401.0]), np.full(6, 450.0)
    )
    assert lvl_spy.tolist() == [6, 5, 4, 3, 2, 1]


def _window_oi(strikes: np.ndarray) -> float:
    """OI of the 4500 window ([4450, 4550)) when ``strikes`` are listed (one expiry, calls)."""
    n = len(strikes)
    spot = np.full(n, 4500.0)
    bins, lvl = _round_levels(strikes, spot)
    sp = np.gradient(strikes)
    oi = initial_oi(
        np.full(n, 1e6),
        np.full(n, 30 / 365),
        np.ones(n, bool),
        np.log(strikes / spot),
        np.zeros(n, bool),
        np.ones(n, bool),
        np.ones(n),
        sp / spot,
        np.zeros(n, np.int64),
        np.full(n, 0.5),  # the median noise draw
        iv=np.full(n, 0.15),
        round_bin=bins,
        round_w=np.array([1.0, 2.0, 7.0, 16.0, 35.0, 35.0, 35.0])[lvl],
    )
    return float(oi[(strikes >= 4450) & (strikes < 4550)].sum()), oi, strikes


def test_window_mass_does_not_depend_on_the_listing_grid() -> None:
    """Listing every 5 points instead of every 50 inside the same range leaves each window's
    OI about the same (the window shares its mass among its strikes), and the window's round
    strike holds most of it."""
    coarse, _, _ = _window_oi(np.arange(4000.0, 5001.0, 50.0))
    fine, oi, k = _window_oi(np.arange(4000.0, 5001.0, 5.0))
    # (the coarse grid samples the density at 50-point steps and its edge strikes straddle the
    # window's edges: a discretisation difference of ~10%)
    assert fine == pytest.approx(coarse, rel=0.12)
    win = (k >= 4450) & (k < 4550)
    assert k[win][np.argmax(oi[win])] == 4500.0
    assert oi[k == 4500.0][0] > 0.3 * oi[win].sum()
