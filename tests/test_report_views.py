"""Seed-004 positioning views (issue 11): hand-worked cases of report/_views.py, and on a
small simulated market every view exists as a chart in the HTML and as data in the JSON
model of the premium and bias lenses; the OI signals section and its term-structure chart in
the flow lens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlens.report import write_report
from chainlens.report._views import (
    SIGN_READINGS,
    charm_view,
    dealer_reading,
    expected_moves,
    least_resistance,
)

VIEW_CHARTS = ("expected_move_ranges", "vol_curves", "skew_term", "vanna_by_strike",
               "gamma_0dte_vs_all", "dealer_delta_profile", "charm_by_strike")  # fmt: skip


def _doc(**a: object) -> dict:
    return {"underlying": "SPX", "session": "2024-03-08", "analysis": {"spot": 5000.0, **a}}


def test_expected_move_distances_and_asymmetry() -> None:
    doc = _doc(vol={"expiries": [
        {"expiry": "2024-03-08", "expected_move_pct": 1.0, "range_50": [1, 2], "range_70": [1, 2]},  # expired
        {"expiry": "2024-03-15", "expected_move_pct": 2.0, "range_50": [4900.0, 5150.0], "range_70": [4800.0, 5200.0]},
    ]})  # fmt: skip
    (r,) = expected_moves(doc)
    assert r["em_pct"] == pytest.approx(0.02)
    assert (r["call_distance"], r["put_distance"]) == (150.0, 100.0)
    assert r["asymmetry"] == pytest.approx(1.5)


def test_charm_in_es_contracts_and_path_of_least_resistance() -> None:
    doc = _doc(
        totals={"charm_shares_per_day": -50_000.0},
        by_strike=[{"strike": 5000.0, "charm_shares_per_day": -50_000.0}, {"strike": 6000.0, "charm_shares_per_day": 1.0}],
        surfaces={"spot_levels": [4950.0, 5000.0, 5050.0], "dx_shares": [[1.0, 2.0, 3.0]],
                  "gx_shares_per_usd": [[900.0, 1000.0, 1100.0]]},
    )  # fmt: skip
    cv = charm_view(doc)
    assert cv is not None and [r["strike"] for r in cv["rows"]] == [5000.0]  # 6000 is 20% away
    assert cv["es_contracts_per_day"] == pytest.approx(-1000.0)  # -50,000 / 50
    lr = least_resistance(doc)
    # dS/dt = -charm / gamma = 50,000 / 1,000 = +50 USD per day (+1%)
    assert lr["drift_usd_per_day"] == pytest.approx(50.0) and lr["drift_pct"] == pytest.approx(0.01)
    small = {
        **doc,
        "analysis": {
            **doc["analysis"],
            "surfaces": {**doc["analysis"]["surfaces"], "gx_shares_per_usd": [[0.0, 0.5, 0.0]]},
        },
    }
    assert least_resistance(small)["reason"].startswith("dealer gamma at spot is too small")
    assert charm_view({**doc, "underlying": "AAPL"})["es_contracts_per_day"] is None


def test_sign_combination_reading() -> None:
    prof = {
        "levels": [4990.0, 5010.0],
        "gex_usd_per_1pct": {"all": [-2.0e9, -1.0e9]},
        "contracts_used": 10,
    }
    rd = dealer_reading(_doc(profile=prof, totals={"dex_shares": 3.0e6}))
    assert rd is not None and rd["signs"] == "-+" and rd["reading"] == SIGN_READINGS[("-", "+")]
    assert "short puts" in rd["reading"]
    assert dealer_reading(_doc(profile=prof, totals={"dex_shares": 0.0})) is None


@pytest.mark.slow
def test_every_view_is_a_chart_in_html_and_data_in_json(tmp_path: Path) -> None:
    from chainlens.report._session import ticker_report
    from chainlens.runners.local import run_local
    from chainlens.sim import SimConfig, simulate_market
    from chainlens.store import Store

    man = simulate_market(SimConfig(underlyings=4, sessions=3, seed=5, trades_per_underlying=200,
                                    prints_per_underlying=10), tmp_path / "sim")  # fmt: skip
    with Store(tmp_path / "store") as st:
        st.ingest_many(man.all_paths())
        d = man.sessions[-1]
        run_local(st, d)
        t = "SPY" if "SPY" in st.underlyings(d) else st.underlyings(d)[0]
        reps = {lens: ticker_report(st, t, d, lens) for lens in ("premium", "bias", "flow")}
    for lens in ("premium", "bias"):
        html = write_report(reps[lens], tmp_path / f"{lens}.html", "html").read_text()
        model = json.loads(write_report(reps[lens], tmp_path / f"{lens}.json", "json").read_text())
        sec = next(s for s in model["sections"] if s["id"] == "positioning_views")
        charts = {c["id"]: c for c in sec["charts"]}
        for cid in VIEW_CHARTS:
            assert f'id="svg-{cid}"' in html, f"{lens}: chart {cid} missing from the HTML"
            assert cid in charts and any(
                v is not None for s in charts[cid]["series"] for v in s["values"]
            ), (lens, cid)
        assert {"expected_move_ranges", "vol_curves", "skew_term", "positioning_by_strike", "dealer_delta_profile"} <= {
            tb["id"] for tb in sec["tables"]}  # fmt: skip
        rules = {x["rule"] for x in sec["sentences"]}
        assert {"view.em", "view.skew"} <= rules and rules & {"view.path", "view.path_none"}
    flow = json.loads(write_report(reps["flow"], tmp_path / "flow.json", "json").read_text())
    sig = next(s for s in flow["sections"] if s["id"] == "oi_signals")
    assert "term_structure" in {c["id"] for c in sig["charts"]} and "term_structure" in {
        tb["id"] for tb in sig["tables"]
    }
