"""Issue 11, the last seed-002/004 views: contracts bought/sold per strike (both flow kernels),
volume vs the trailing average for high-OI names, the dealer profiles under each dealer model
with the seed-004 sign reading, six volatility curves, net volume by strike and the pre/post
event comparison. Hand-worked cases (seed examples), structural identities on a real SPX
Barchart file, and the report on a small simulated market (chart in the HTML, data in the
JSON model, declared in ``chainlens.results``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from chainlens.batched import decompose_segmented, segment_ids
from chainlens.flow import decompose_premium
from chainlens.flow._premium import CONTRACT_COLUMNS
from chainlens.flow._side import BUY, MID, SELL
from chainlens.report._extras import (
    HIGH_OI_NAMES,
    event_prepost,
    high_oi_reading,
    net_volume,
    sign_reading,
    vol_curves_from,
    volume_vs_average,
    zero_dte_candidates,
)

E1, E2 = dt.date(2024, 3, 15), dt.date(2024, 3, 22)


def _trades() -> pa.Table:
    # (underlying, expiry, strike, right, side, size, premium, multileg)
    rows = [
        ("XYZ", E1, 100.0, "C", BUY, 10, 1000.0, False),
        ("XYZ", E1, 100.0, "C", SELL, 3, 300.0, False),
        ("XYZ", E1, 100.0, "P", BUY, 5, 400.0, False),
        ("XYZ", E1, 100.0, "C", BUY, 7, 700.0, True),  # a package leg: not in the side buckets
        ("XYZ", E1, 100.0, "P", MID, 2, 150.0, False),  # mid: unclassified
        ("XYZ", E1, 105.0, "P", SELL, 4, 200.0, False),
        ("ABC", E2, 50.0, "C", SELL, 6, 60.0, False),
    ]
    cols = [
        "underlying",
        "expiry",
        "strike",
        "right",
        "side_code",
        "size",
        "premium_usd",
        "multileg",
    ]
    t = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
    return t.set_column(4, "side_code", t.column("side_code").cast(pa.int8()))


def test_contracts_bought_and_sold_by_strike_hand_worked() -> None:
    t = _trades()
    by = decompose_premium(t, by=("underlying", "expiry", "strike")).to_pylist()
    got = {(r["underlying"], r["strike"]): r for r in by}
    x = got[("XYZ", 100.0)]
    # calls bought 10 (the package leg of 7 is multileg), sold 3; puts bought 5 (mid left out)
    assert [x[c] for c in CONTRACT_COLUMNS] == [10.0, 3.0, 5.0, 0.0, 7.0, 5.0, 12.0]
    y = got[("XYZ", 105.0)]
    assert (y["puts_sold_contracts"], y["net_put_contracts"], y["net_contracts"]) == (
        4.0,
        -4.0,
        -4.0,
    )
    assert got[("ABC", 50.0)]["net_contracts"] == -6.0
    whole = decompose_premium(t, by=()).to_pylist()[0]
    assert whole["net_contracts"] == 12.0 - 4.0 - 6.0
    # the batched kernel gives the same columns (segments: ABC rows, then XYZ rows)
    order = sorted(range(t.num_rows), key=lambda i: t.column("underlying")[i].as_py())
    s = t.take(pa.array(order))
    sizes = [2 - 1, t.num_rows - 1]
    tb, off = decompose_segmented(s, segment_ids(sizes), 2, ("underlying", "expiry", "strike"))
    ref = decompose_premium(s, by=("underlying", "expiry", "strike"))
    assert tb.column_names[-len(CONTRACT_COLUMNS) :] == list(CONTRACT_COLUMNS)
    for c in CONTRACT_COLUMNS:
        assert tb.column(c).to_pylist() == ref.column(c).to_pylist(), c
    # no size column: contracts are null in both, never a silent zero
    ns = s.drop_columns(["size"])
    assert decompose_premium(ns, by=()).column("net_contracts").null_count == 1
    tb2, _ = decompose_segmented(ns, segment_ids(sizes), 2, ())
    assert tb2.column("net_contracts").null_count == 2


def test_volume_vs_the_five_session_average_seed_example() -> None:
    # seed 002: "If the average is 500 contracts and today's volume is 6,000, that is a 12x spike"
    earlier = [pa.table({"strike": [500.0, 510.0], "call_volume": [v, 100], "put_volume": [40, 0]})
               for v in (400, 600, 500, 450, 550)]  # fmt: skip
    today = [
        {"strike": 500.0, "call_volume": 6000, "put_volume": 20},
        {"strike": 510.0, "call_volume": 150, "put_volume": 30},
        {"strike": 700.0, "call_volume": 9999, "put_volume": 0},
    ]  # 40% away: out of the window
    chg = [{"strike": 500.0, "call_oi_change": 4200.0, "put_oi_change": -10.0}]
    rows = volume_vs_average(today, earlier, chg, 505.0, 5.0)
    assert [r["strike"] for r in rows] == [500.0, 510.0]
    r = rows[0]
    assert r["call_avg"] == pytest.approx(500.0) and r["call_multiple"] == pytest.approx(12.0)
    assert r["put_avg"] == pytest.approx(40.0) and r["put_multiple"] == pytest.approx(0.5)
    assert r["call_oi_change"] == 4200.0 and rows[1]["call_oi_change"] is None
    assert rows[1]["put_multiple"] is None  # average 0: no multiple
    rd = high_oi_reading(rows)
    assert rd["spike"]["strike"] == 500.0 and rd["spike"]["right"] == "C" and rd["spike_is_large"]
    assert rd["oi_build"] == {"strike": 500.0, "right": "C", "oi_change": 4200.0}
    # a strike with a tiny base (0.2 a session) is new activity, not a 3,000x multiple
    tiny = [{**rows[0], "call_avg": 0.2, "call_multiple": 30000.0, "put_multiple": None}]
    assert high_oi_reading(tiny)["spike"] is None
    assert {"SPY", "QQQ", "IWM", "AAPL", "NVDA"} <= HIGH_OI_NAMES and "CVX" not in HIGH_OI_NAMES
    assert volume_vs_average(today, [], [], 505.0, 5.0)[0]["call_multiple"] is None


def test_sign_combinations_of_seed_004() -> None:
    assert sign_reading(1.0, 2.0) == "dealers net long calls"  # positive delta, positive gamma
    assert sign_reading(-1.0, -2.0) == "dealers net short calls"
    assert sign_reading(-1.0, 2.0) == "dealers net long puts"
    assert sign_reading(1.0, -2.0) == "dealers net short puts"
    assert sign_reading(0.0, 1.0) is None and sign_reading(None, 1.0) is None


def test_zero_dte_candidates_of_an_after_close_snapshot() -> None:
    fri, mon = dt.date(2024, 3, 8), dt.date(2024, 3, 11)
    assert zero_dte_candidates([fri, mon], fri) == [(fri, "0DTE"), (mon, "0DTE at the next open")]
    assert zero_dte_candidates([mon, E1], fri) == [
        (mon, "0DTE at the next open")
    ]  # weekend skipped
    assert zero_dte_candidates([E1], fri) == []


def test_six_vol_curves_and_net_volume() -> None:
    exps = [dt.date(2024, 3, 8) + dt.timedelta(days=7 * i) for i in range(9)]
    smile = pa.table({"expiry": [e for e in exps for _ in range(3)], "strike": [90.0, 100.0, 200.0] * 9,
                      "call_iv": [0.2] * 27, "put_iv": [0.25] * 27})  # fmt: skip
    vc = vol_curves_from(smile, "2024-03-08", 100.0)
    assert [c["expiry"] for c in vc] == [
        e.isoformat() for e in exps[1:7]
    ]  # six live, not the session's
    assert vc[0]["strikes"] == [90.0, 100.0] and vc[0]["put_iv"] == [0.25, 0.25]
    fbs = pa.table({"expiry": [E1, E1, E2], "strike": [100.0, 101.0, 100.0],
                    **{c: [1.0, 2.0, 30.0] for c in CONTRACT_COLUMNS}})  # fmt: skip
    doc = {"session": "2024-03-08", "analysis": {"spot": 100.0}}
    nv = net_volume(fbs, doc)
    assert nv is not None and nv["expiry"] == E2.isoformat()  # the most traded live expiry
    assert nv["rows"] == [{"strike": 100.0, **{c: 30.0 for c in CONTRACT_COLUMNS}}]
    assert [r["strike"] for r in net_volume(fbs, doc, E1.isoformat())["rows"]] == [100.0, 101.0]


def test_event_before_and_after_hand_worked() -> None:
    def bx(rows: list[tuple]) -> pa.Table:
        cols = ["expiry", "call_oi", "put_oi", "call_volume", "put_volume", "atm_iv"]
        return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})

    parts = {
        "2024-03-18": bx(
            [(E2, 8000, 2000, 900, 100, 0.60), (dt.date(2024, 4, 19), 500, 500, 10, 10, 0.3)]
        ),
        "2024-03-19": bx(
            [(E2, 9000, 3000, 1000, 200, 0.70), (dt.date(2024, 4, 19), 500, 500, 10, 10, 0.3)]
        ),
        "2024-03-21": bx(
            [(E2, 2400, 600, 3000, 500, 0.30), (dt.date(2024, 4, 19), 600, 400, 10, 10, 0.3)]
        ),
    }
    ev = [
        {"kind": "earnings", "date": "2024-03-20", "target_expiry": E2.isoformat()},
        {"kind": "fomc", "date": "2024-03-25", "target_expiry": "2024-03-28"},
    ]  # after the session: left out
    (r,) = event_prepost(ev, parts, "2024-03-21")
    assert (r["before_session"], r["after_session"]) == ("2024-03-19", "2024-03-21")
    # two sessions after: the second one is the after side (seed 002: within two sessions)
    later = {**parts, "2024-03-22": parts["2024-03-21"], "2024-03-25": parts["2024-03-18"]}
    assert event_prepost(ev[:1], later, "2024-03-25")[0]["after_session"] == "2024-03-22"
    # an event on its target's expiry day: the target settled, the post-event expiry compared
    cpi = [{"kind": "cpi", "date": "2024-03-20", "target_expiry": "2024-03-20"}]
    (r3,) = event_prepost(cpi, parts, "2024-03-21")
    assert r3["target_expiry"] == E2.isoformat() and r3["oi_change_pct"] == pytest.approx(-0.75)
    assert (r["before_oi"], r["after_oi"]) == (12000.0, 3000.0)
    assert r["oi_change_pct"] == pytest.approx(-0.75)  # seed 002: 60-80% flush
    assert r["iv_change"] == pytest.approx(-0.40) and r["before_total_oi"] == 13000.0
    # an earnings date without a target: the first expiry on or after the event
    (r2,) = event_prepost([{"kind": "earnings", "date": "2024-03-20"}], parts, "2024-03-21")
    assert r2["target_expiry"] == E2.isoformat() and r2["after_oi"] == 3000.0


@pytest.mark.realdata
def test_dealer_profiles_on_a_real_spx_chain(shared_data: Path, tmp_path: Path) -> None:
    from chainlens.report._extras import dealer_profiles
    from chainlens.runners.local import run_local
    from chainlens.store import Store

    files = sorted((shared_data / "spx_daily_barchart").glob("*.json"))
    if not files:
        pytest.skip("no spx_daily_barchart files")
    with Store(tmp_path / "st") as st:
        st.ingest_many([files[-1]])
        d = st.session_dates()[-1]
        run_local(st, d)
        doc = st.read_docs(d, "SPX")[0]
        dp = dealer_profiles(st.chain("SPX", d), doc)
    assert dp is not None
    c, s = dp["models"]["classic"]["all"], dp["models"]["short_all"]["all"]
    dxc, dxs = np.array(c["dx_shares"]), np.array(s["dx_shares"])
    gxc, gxs = np.array(c["gx_shares_per_usd"]), np.array(s["gx_shares_per_usd"])
    tol = 1e-9 * np.abs(dxc).max()
    assert (dxc >= -tol).all()  # classic: long calls and short puts both carry positive delta
    assert (gxs <= 1e-9 * np.abs(gxs).max()).all()  # short all: never long gamma
    # classic - short_all = 2 x the calls' part (puts are -OI in both): non-negative delta, gamma
    assert (dxc - dxs >= -tol).all() and (gxc - gxs >= -1e-9 * np.abs(gxc).max()).all()
    # the classic all-expiries slice is the pipeline's own classic surface at the snapshot
    np.testing.assert_allclose(dxc, doc["analysis"]["surfaces"]["dx_shares"][0], rtol=1e-9)
    for m in ("classic", "short_all"):
        p = dp["models"][m]["all"]
        assert p["reading"] == sign_reading(p["dx_at_spot"], p["gx_at_spot"])
    assert dp["models"]["classic"]["all"]["reading"] in (
        "dealers net long calls",
        "dealers net short puts",
    )


@pytest.mark.slow
def test_new_views_in_html_json_and_declared(tmp_path: Path) -> None:
    from chainlens.report import write_report
    from chainlens.report._session import ticker_report
    from chainlens.results import ReportDoc, doc_errors
    from chainlens.runners.local import run_local
    from chainlens.sim import SimConfig, simulate_market
    from chainlens.store import Store

    man = simulate_market(SimConfig(underlyings=4, sessions=4, seed=5, trades_per_underlying=200,
                                    prints_per_underlying=10), tmp_path / "sim")  # fmt: skip
    from chainlens.report._extras import report_extras

    with Store(tmp_path / "store") as st:
        st.ingest_many(man.all_paths())
        for d in man.sessions:
            run_local(st, d)
        d = man.sessions[-1]
        t = "SPY" if "SPY" in st.underlyings(d) else st.underlyings(d)[0]
        reps = {lens: ticker_report(st, t, d, lens) for lens in ("premium", "bias", "flow")}
        doc = st.read_docs(d, t)[0]
        ex = report_extras(st, doc, ["flow", "premium"])
        fbs = st.read_results("pipeline", d, "flow_by_strike", underlying=t)
        # the high-OI average reads the stored chain: per earlier session, the pipeline's own
        # by_strike volumes (an independent kernel) and the sessions before d, oldest first
        from chainlens.report._extras import earlier_strike_volume

        days, vols = earlier_strike_volume(st, t, d, 5)
        assert days == man.sessions[:-1]
        for day, got in zip(days, vols, strict=True):
            ref = st.read_results("pipeline", day, "by_strike", underlying=t)
            want = {
                (r["strike"], k): float(r[k])
                for r in ref.to_pylist()
                for k in ("call_volume", "put_volume")
            }
            have = {
                (r["strike"], k): r[k]
                for r in got.to_pylist()
                for k in ("call_volume", "put_volume")
            }
            assert have == pytest.approx(want), day
        assert ex["high_oi"]["sessions"] == [x.isoformat() for x in days]
    assert doc_errors({**doc, **ex}, ReportDoc) == []
    assert len(ex["vol_curves"]) == 6 and {"high_oi", "dealer_profiles", "net_volume"} <= set(ex)
    # net volume = the stored part's contract columns of that expiry (independent sum here)
    e = ex["net_volume"]["expiry"]
    sel = [r for r in fbs.to_pylist() if str(r["expiry"]) == e]
    assert sum(r["net_contracts"] for r in ex["net_volume"]["rows"]) == pytest.approx(
        sum(
            r["net_contracts"]
            for r in sel
            if abs(r["strike"] / doc["analysis"]["spot"] - 1) <= 0.10
        )
    )
    for lens in ("premium", "bias"):
        html = write_report(reps[lens], tmp_path / f"{lens}.html", "html").read_text()
        model = json.loads(write_report(reps[lens], tmp_path / f"{lens}.json", "json").read_text())
        sec = next(s for s in model["sections"] if s["id"] == "positioning_views")
        charts = {c["id"]: c for c in sec["charts"]}
        for cid in (
            "dealer_profile_0dte",
            "dealer_profile_all",
            "net_volume_by_strike",
            "vol_curves",
        ):
            assert f'id="svg-{cid}"' in html and cid in charts, (lens, cid)
        for cid in ("dealer_profile_0dte", "dealer_profile_all"):
            names = {s["name"] for s in charts[cid]["series"]}
            want = {"classic delta", "classic gamma", "short_all delta", "short_all gamma"}
            assert names == want, cid
        assert len({s["name"].split()[0] for s in charts["vol_curves"]["series"]}) == 6
        rules = {x["rule"] for x in sec["sentences"]}
        assert {"view.signs_model", "view.netvol"} <= rules
    flow = json.loads(write_report(reps["flow"], tmp_path / "flow.json", "json").read_text())
    sn = next(s for s in flow["sections"] if s["id"] == "signal_vs_noise")
    assert "volume_vs_average" in {c["id"] for c in sn["charts"]} | {
        tb["id"] for tb in sn["tables"]
    }
    if t in HIGH_OI_NAMES:  # seed 002: the high-OI reading replaces the Vol/OI sentence
        rules = {x["rule"] for x in sn["sentences"]}
        assert rules & {"sn.high_oi", "sn.high_oi_quiet"} and "sn.vol_oi" not in rules
