"""The ``by_strike_expiry`` and ``profile_by_expiry`` parts (issue 15): a hand-worked strike
against the formulas of ``chainlens.exposure._exposure``, the sums over expiries against the
stored ``by_strike`` part and the document's profile, and the parts as ``chainlens run``
stores them.

Hand computation (the chain of tests/test_analyze_handmade.py, vendor greeks, spot 100,
multiplier 100, so ``m S^2 0.01 = 10_000``), expiry 2023-04-05 strike 100:
C100 OI 20 gamma .05 delta .5 volume 1; P100 OI 20 gamma .05 delta -.5 volume 1.

* classic (w = +20 call, -20 put): GEX = (20*.05 - 20*.05) * 1e4 = 0;
  call GEX = 20*.05*1e4 = 10_000; put GEX = -10_000;
  DEX = (20*.5 + (-20)*(-.5)) * 100 = 2_000.
* short_all (w = -20 both): GEX = -(20*.05 + 20*.05) * 1e4 = -20_000;
  DEX = (-20*.5 + (-20)*(-.5)) * 100 = 0.

Expiry 2023-04-21 strike 101: C101 OI 30 gamma .03 delta .45, P101 OI 0:
classic GEX = 30*.03*1e4 = 9_000, DEX = 30*.45*100 = 1_350; short_all GEX -9_000, DEX -1_350.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.analysis import AnalysisConfig, analyze_chain
from chainlens.results import PART_SCHEMAS
from chainlens.schema import CHAIN, conform

SESSION = dt.date(2023, 4, 5)
SNAP = dt.datetime(2023, 4, 5, 19, 59, tzinfo=dt.UTC)
A, B = dt.date(2023, 4, 5), dt.date(2023, 4, 21)
# expiry, strike, right, oi, volume, gamma, delta, iv
ROWS = [
    (A, 95.0, "C", 10, 1, 0.01, 0.9, 0.3),
    (A, 95.0, "P", 40, 2, 0.01, -0.1, 0.3),
    (A, 100.0, "C", 20, 1, 0.05, 0.5, 0.2),
    (A, 100.0, "P", 20, 1, 0.05, -0.5, 0.2),
    (B, 100.0, "C", 5, 3, 0.04, 0.52, 0.2),
    (B, 99.0, "P", 30, 1, 0.03, -0.45, 0.2),
    (B, 101.0, "C", 30, 4, 0.03, 0.45, 0.2),
    (B, 101.0, "P", 0, 1, 0.03, -0.55, 0.2),
]


def _chain() -> pa.Table:
    recs = [
        {
            "trade_date": SESSION, "snapshot_ts": SNAP, "underlying": "TST", "root": "TST",
            "symbol": f"TST{e:%y%m%d}{r}{int(k * 1000):08d}", "expiry": e, "settlement": "PM",
            "strike": k, "right": r, "multiplier": 100, "bid": 1.0, "ask": 1.2, "last": None,
            "volume": v, "open_interest": oi, "iv": iv, "delta": d, "gamma": g, "spot": 100.0,
        }
        for e, k, r, oi, v, g, d, iv in ROWS
    ]  # fmt: skip
    return conform(pa.Table.from_pylist(recs), CHAIN)


@pytest.fixture(scope="module")
def hand():
    (res,) = analyze_chain(_chain(), AnalysisConfig(greeks="vendor"))
    return res


def _row(t: pa.Table, expiry: dt.date, strike: float) -> dict:
    rows = [r for r in t.to_pylist() if r["expiry"] == expiry and r["strike"] == strike]
    assert len(rows) == 1, rows
    return rows[0]


def test_hand_worked_strike_both_models(hand) -> None:
    r = _row(hand.by_strike_expiry, A, 100.0)
    assert (r["call_oi"], r["put_oi"], r["call_volume"], r["put_volume"]) == (20, 20, 1, 1)
    assert r["gex_usd_per_1pct"] == pytest.approx(0.0, abs=1e-9)
    assert r["call_gex_usd_per_1pct"] == pytest.approx(10_000.0)
    assert r["put_gex_usd_per_1pct"] == pytest.approx(-10_000.0)
    assert r["dex_shares"] == pytest.approx(2_000.0)
    assert r["gex_short_all_usd_per_1pct"] == pytest.approx(-20_000.0)
    assert r["dex_short_all_shares"] == pytest.approx(0.0, abs=1e-9)
    r = _row(hand.by_strike_expiry, B, 101.0)
    assert (r["call_oi"], r["put_oi"], r["call_volume"], r["put_volume"]) == (30, 0, 4, 1)
    assert r["gex_usd_per_1pct"] == pytest.approx(9_000.0)
    assert r["dex_shares"] == pytest.approx(1_350.0)
    assert r["gex_short_all_usd_per_1pct"] == pytest.approx(-9_000.0)
    assert r["dex_short_all_shares"] == pytest.approx(-1_350.0)
    # a call-only row: short_all flips the sign of every exposure (w = -OI instead of +OI)
    assert r["vanna_short_all_usd_per_vol_pt"] == pytest.approx(-r["vanna_usd_per_vol_pt"])
    assert r["charm_short_all_shares_per_day"] == pytest.approx(-r["charm_shares_per_day"])
    # a put-only row: classic already has w = -OI, so short_all equals it
    r = _row(hand.by_strike_expiry, B, 99.0)
    assert r["vanna_short_all_usd_per_vol_pt"] == pytest.approx(r["vanna_usd_per_vol_pt"])
    assert r["gex_short_all_usd_per_1pct"] == pytest.approx(r["gex_usd_per_1pct"])
    # strike 100 appears under both expiries: two rows (5 pairs in all), sorted by expiry then strike
    keys = [(x["expiry"], x["strike"]) for x in hand.by_strike_expiry.to_pylist()]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == 5


def _sum_over_expiries(bse: pa.Table) -> pa.Table:
    cols = [c for c in bse.column_names if c not in ("expiry", "strike", "underlying", "session")]
    g = bse.group_by("strike").aggregate([(c, "sum") for c in cols])
    return g.rename_columns([c.removesuffix("_sum") for c in g.column_names]).sort_by("strike")


def _assert_equals_by_strike(bse: pa.Table, by_strike: pa.Table) -> None:
    s = _sum_over_expiries(bse)
    b = by_strike.sort_by("strike")
    assert s.column("strike").to_pylist() == b.column("strike").to_pylist()
    for c in ("call_oi", "put_oi", "call_volume", "put_volume"):
        assert s.column(c).to_pylist() == b.column(c).to_pylist(), c  # contracts: exact
    for c in (
        "gex_usd_per_1pct", "dex_shares", "call_gex_usd_per_1pct", "put_gex_usd_per_1pct",
        "vanna_usd_per_vol_pt", "charm_shares_per_day",
    ):  # fmt: skip
        x, y = s.column(c).to_numpy(), b.column(c).to_numpy()
        scale = max(1.0, float(np.abs(y).max()))
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12 * scale, err_msg=c)


def test_sums_over_expiries_equal_by_strike_hand(hand) -> None:
    _assert_equals_by_strike(hand.by_strike_expiry, hand.by_strike)


def test_profile_by_expiry_sums_to_the_profile(hand) -> None:
    p = hand.profile_by_expiry
    lv = np.asarray(hand.profile["levels"])
    n_exp = len(set(p.column("expiry").to_pylist()))
    assert p.num_rows == n_exp * lv.size
    g = p.column("gex_usd_per_1pct").to_numpy().reshape(n_exp, lv.size).sum(axis=0)
    ref = np.asarray(hand.profile["gex_usd_per_1pct"]["all"])
    np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(ref).max()))
    np.testing.assert_allclose(p.column("spot_level").to_numpy()[: lv.size], lv)


def test_profile_by_expiry_short_all_matches_a_short_all_analysis() -> None:
    """The ``short_all`` column equals the profile of a ``short_all`` analysis (independent
    path: the whole analysis re-run under the other dealer model)."""
    (cl,) = analyze_chain(_chain(), AnalysisConfig(greeks="vendor"))
    (sa,) = analyze_chain(_chain(), AnalysisConfig(greeks="vendor", dealer_model="short_all"))
    n_lv = len(cl.profile["levels"])
    g = cl.profile_by_expiry.column("gex_short_all_usd_per_1pct").to_numpy()
    got = g.reshape(-1, n_lv).sum(axis=0)
    ref = np.asarray(sa.profile["gex_usd_per_1pct"]["all"])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(ref).max()))
    # and by_strike_expiry's short_all columns sum to the short_all analysis' by_strike
    s = _sum_over_expiries(cl.by_strike_expiry)
    b = sa.by_strike.sort_by("strike")
    for mine, theirs in (
        ("gex_short_all_usd_per_1pct", "gex_usd_per_1pct"),
        ("dex_short_all_shares", "dex_shares"),
        ("vanna_short_all_usd_per_vol_pt", "vanna_usd_per_vol_pt"),
        ("charm_short_all_shares_per_day", "charm_shares_per_day"),
    ):
        np.testing.assert_allclose(
            s.column(mine).to_numpy(), b.column(theirs).to_numpy(), rtol=1e-12, atol=1e-6
        )


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.date]:
    """A small simulated market (3 underlyings, 2 sessions), the last one run through the
    pipeline."""
    from chainlens.runners.local import run_local
    from chainlens.sim import build_demo_market
    from chainlens.store import Store

    tmp = tmp_path_factory.mktemp("bse")
    m = build_demo_market(tmp / "sim", seed=11, underlyings=3, sessions=2)
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        run_local(st, d, workers=1)
    return tmp / "store", d


def test_stored_parts_sum_to_stored_by_strike(sim_store) -> None:
    from chainlens.results import RESULTS_NAME
    from chainlens.store import Store

    root, d = sim_store
    with Store(root, read_only=True) as st:
        bse = st.read_results(RESULTS_NAME, d, "by_strike_expiry")
        bs = st.read_results(RESULTS_NAME, d, "by_strike")
        prof = st.read_results(RESULTS_NAME, d, "profile_by_expiry")
        docs = {x["underlying"]: x for x in st.read_docs(d)}
    assert bse.schema.equals(PART_SCHEMAS["by_strike_expiry"], check_metadata=True)
    assert prof.schema.equals(PART_SCHEMAS["profile_by_expiry"], check_metadata=True)
    assert len(docs) == 3
    for u, doc in docs.items():
        sel = bse.filter(pc.equal(bse.column("underlying"), u))
        _assert_equals_by_strike(sel, bs.filter(pc.equal(bs.column("underlying"), u)))
        p = prof.filter(pc.equal(prof.column("underlying"), u))
        lv = doc["analysis"]["profile"]["levels"]
        g = p.column("gex_usd_per_1pct").to_numpy().reshape(-1, len(lv)).sum(axis=0)
        ref = np.asarray(doc["analysis"]["profile"]["gex_usd_per_1pct"]["all"], dtype=float)
        np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
