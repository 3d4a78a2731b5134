"""A hand-made chain with known answers through every edge of ``analyze_chain``: 0DTE at 15:59
ET, strike ties, an expiry without OI, one-sided quotes, contracts without vendor greeks; plus
the exact SPEC JSON keys through the CLI.

Hand computation (spot 100, multiplier 100, so ``S^2 m 0.01 = 10_000``):

expiry A 2023-04-05 (0DTE, PM): C95 OI10 g.01 d.9 | P95 OI40 g.01 d-.1 | C100 OI20 g.05 d.5 |
  P100 OI20 g.05 d-.5 | C105 OI50 g.018 d.1 vol7 | P105 OI5 g.02 d-.9
  pains at 95/100/105: 150/75/200 -> max pain 100;
  GEX = (.1 - .4 + 1 - 1 + .9 - .1) * 1e4 = 5000; DEX = (9 + 4 + 10 + 10 + 5 + 4.5) * 100 = 4250
expiry B 2023-04-21: C99 OI0 | P99 OI30 g.03 d-.45 | C101 OI30 g.03 d.45 | P101 OI0
  pains at 99 and 101 both 0 -> tie -> 99; ATM: 99 and 101 equidistant -> 99;
  C99 quote 2.0/2.2 (mid 2.1), P99 quote 0/1.0 (no bid: mid 0.5) -> straddle 2.6, move 2.6%;
  GEX = (-.9 + .9) * 1e4 = 0; DEX = (13.5 + 13.5) * 100 = 2700
expiry C 2023-05-19: C100 and P100, OI 0, no vendor greeks; C100 quote 3/0 (no offer) -> no
  mid -> straddle null; max pain null (no OI)
totals: call OI 110, put OI 95; call volume 5 + 7 = 12, put volume 6; GEX 5000, DEX 6950
walls (strikes >= 100 for calls, <= 100 for puts, summed over expiries):
  OI: calls 100:20 101:30 105:50 -> 105; puts 95:40 99:30 100:20 -> 95
  dollar gamma: calls 100:1.0 101:.9 105:.9 -> 100; puts 95:.4 99:.9 100:1.0 -> 100
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pyarrow as pa
import pytest

from chainlens.analysis import AnalysisConfig, analyze_chain
from chainlens.conventions import SECONDS_PER_YEAR
from chainlens.schema import CHAIN, conform

SESSION = dt.date(2023, 4, 5)
SNAP_1559 = dt.datetime(2023, 4, 5, 19, 59, tzinfo=dt.UTC)  # 15:59 EDT
A, B, C = dt.date(2023, 4, 5), dt.date(2023, 4, 21), dt.date(2023, 5, 19)

# expiry, strike, right, oi, volume, bid, ask, gamma, delta, iv
ROWS = [
    (A, 95.0, "C", 10, 1, 5.0, 5.2, 0.01, 0.9, 0.3),
    (A, 95.0, "P", 40, 1, 0.05, 0.1, 0.01, -0.1, 0.3),
    (A, 100.0, "C", 20, 1, 0.4, 0.5, 0.05, 0.5, 0.2),
    (A, 100.0, "P", 20, 1, 0.4, 0.5, 0.05, -0.5, 0.2),
    (A, 105.0, "C", 50, 7, 0.0, 0.05, 0.018, 0.1, 0.3),
    (A, 105.0, "P", 5, 1, 4.9, 5.1, 0.02, -0.9, 0.3),
    (B, 99.0, "C", 0, 1, 2.0, 2.2, 0.03, 0.55, 0.2),
    (B, 99.0, "P", 30, 1, 0.0, 1.0, 0.03, -0.45, 0.2),
    (B, 101.0, "C", 30, 1, 1.0, 1.2, 0.03, 0.45, 0.2),
    (B, 101.0, "P", 0, 1, 2.0, 2.4, 0.03, -0.55, 0.2),
    (C, 100.0, "C", 0, 1, 3.0, 0.0, 0.0, 0.0, None),
    (C, 100.0, "P", 0, 1, 0.0, 0.0, None, None, None),
]


def hand_chain(snapshot: dt.datetime = SNAP_1559) -> pa.Table:
    recs = []
    for exp, k, r, oi, vol, bid, ask, g, d, iv in ROWS:
        recs.append(
            {
                "trade_date": SESSION,
                "snapshot_ts": snapshot,
                "underlying": "TST",
                "root": "TST",
                "symbol": f"TST{exp:%y%m%d}{r}{int(k * 1000):08d}",
                "expiry": exp,
                "settlement": "PM",
                "strike": k,
                "right": r,
                "multiplier": 100,
                "bid": bid,
                "ask": ask,
                "last": None,
                "volume": vol,
                "open_interest": oi,
                "iv": iv,
                "delta": d,
                "gamma": g,
                "spot": 100.0,
            }
        )
    return conform(pa.Table.from_pylist(recs), CHAIN)


@pytest.fixture(scope="module")
def vendor():
    (res,) = analyze_chain(hand_chain(), AnalysisConfig(greeks="vendor"))
    return res


def test_totals_and_ratios(vendor) -> None:
    t = vendor.totals
    assert (t["contracts"], t["call_oi"], t["put_oi"], t["call_volume"], t["put_volume"]) == (
        12,
        110,
        95,
        12,
        6,
    )
    assert t["pc_oi_ratio"] == pytest.approx(95 / 110, rel=1e-15)
    assert t["pc_volume_ratio"] == pytest.approx(0.5, rel=1e-15)
    assert t["gex_usd_per_1pct"] == pytest.approx(5000.0, rel=1e-12)
    assert t["dex_shares"] == pytest.approx(6950.0, rel=1e-12)
    assert vendor.greeks == "vendor" and vendor.dealer_model == "classic"


def test_by_expiry(vendor) -> None:
    rows = {r["expiry"]: r for r in vendor.by_expiry.to_pylist()}
    a, b, c = rows[A], rows[B], rows[C]
    assert a["max_pain"] == 100.0 and b["max_pain"] == 99.0 and math.isnan(c["max_pain"])
    assert a["gex_usd_per_1pct"] == pytest.approx(5000.0) and b[
        "gex_usd_per_1pct"
    ] == pytest.approx(0.0, abs=1e-9)
    assert b["dex_shares"] == pytest.approx(2700.0)
    assert b["atm_strike"] == 99.0
    assert b["straddle_mid"] == pytest.approx(2.6, rel=1e-15)
    assert b["expected_move_pct"] == pytest.approx(2.6, rel=1e-14)
    assert c["atm_strike"] == 100.0 and math.isnan(c["straddle_mid"])
    assert (a["call_oi"], a["put_oi"], a["call_volume"], a["put_volume"]) == (80, 65, 9, 3)


def test_levels_and_exclusions(vendor) -> None:
    lv = vendor.levels
    assert (lv["oi_call_wall"], lv["oi_put_wall"]) == (105.0, 95.0)
    assert (lv["call_wall"], lv["put_wall"]) == (100.0, 100.0)
    assert vendor.excluded == {"no_vendor_greeks": 2}


def test_zero_dte_keeps_true_remaining_time(vendor) -> None:
    t = vendor.contracts.column("t_years").to_pylist()
    assert t[0] == pytest.approx(60.0 / SECONDS_PER_YEAR, rel=1e-12)  # one minute to 16:00 ET
    # one minute after the close the 0DTE contracts are expired
    (late,) = analyze_chain(
        hand_chain(SNAP_1559 + dt.timedelta(minutes=2)), AnalysisConfig(greeks="model")
    )
    assert late.excluded.get("expired") == 6
    assert late.totals["contracts"] == 12 and late.totals["call_oi"] == 110  # still counted


def test_profile_variants_exclude_0dte(vendor) -> None:
    p = vendor.profile
    assert set(p["gex_usd_per_1pct"]) == {"all", "ex_0dte", "ex_next_expiry"}
    # the 0DTE expiry is also the next expiry here
    assert (
        p["gex_usd_per_1pct"]["ex_0dte"].tolist()
        == p["gex_usd_per_1pct"]["ex_next_expiry"].tolist()
    )


def test_dealer_models_scale_as_defined() -> None:
    chain = hand_chain()
    (short,) = analyze_chain(chain, AnalysisConfig(greeks="vendor", dealer_model="short_all"))
    # short_all: every contract -OI: GEX = -(.1+.4+1+1+.9+.1 + .9+.9)*1e4
    assert short.totals["gex_usd_per_1pct"] == pytest.approx(-53000.0)
    flow = chain.append_column("dealer_position_contracts", pa.array([1.0] + [0.0] * 11))
    (f,) = analyze_chain(flow, AnalysisConfig(greeks="vendor", dealer_model="flow"))
    assert f.totals["gex_usd_per_1pct"] == pytest.approx(0.01 * 10_000)
    assert f.dealer_model == "flow"


def test_json_has_exact_spec_keys(vendor) -> None:
    j = vendor.to_json()
    assert list(j)[:12] == [
        "schema_version",
        "underlying",
        "session",
        "snapshot_ts",
        "spot",
        "greeks",
        "dealer_model",
        "totals",
        "levels",
        "by_expiry",
        "by_strike",
        "excluded",
    ]
    assert j["schema_version"] == "1" and j["snapshot_ts"] == "2023-04-05T19:59:00Z"
    assert {
        "contracts",
        "call_oi",
        "put_oi",
        "call_volume",
        "put_volume",
        "pc_oi_ratio",
        "pc_volume_ratio",
        "gex_usd_per_1pct",
        "dex_shares",
    } <= set(j["totals"])
    assert {"zero_gamma", "call_wall", "put_wall", "oi_call_wall", "oi_put_wall"} <= set(
        j["levels"]
    )
    assert {
        "expiry",
        "call_oi",
        "put_oi",
        "call_volume",
        "put_volume",
        "max_pain",
        "gex_usd_per_1pct",
        "atm_strike",
        "straddle_mid",
        "expected_move_pct",
    } <= set(j["by_expiry"][0])
    assert {"strike", "call_oi", "put_oi", "gex_usd_per_1pct", "dex_shares"} <= set(
        j["by_strike"][0]
    )
    text = json.dumps(j, allow_nan=False)  # strict JSON: NaN became null
    assert '"max_pain": null' in text


def test_cli_analyze_parquet(tmp_path, capsys) -> None:
    import pyarrow.parquet as pq

    from chainlens.cli import app
    from chainlens.cli._common import run_guarded

    path = tmp_path / "tst.parquet"
    pq.write_table(hand_chain(), path)
    code = run_guarded(app, ["analyze", str(path), "--json", "--greeks", "vendor"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out.strip().splitlines()[0])
    assert doc["underlying"] == "TST" and doc["totals"]["gex_usd_per_1pct"] == pytest.approx(5000.0)


def test_cli_bad_options_are_clear_errors(tmp_path, capsys) -> None:
    from chainlens.cli import app
    from chainlens.cli._common import run_guarded

    assert run_guarded(app, ["analyze", str(tmp_path / "missing.csv"), "--json"]) == 2
    assert "file not found" in " ".join(capsys.readouterr().err.split())
    path = tmp_path / "x.parquet"
    import pyarrow.parquet as pq

    pq.write_table(hand_chain(), path)
    assert run_guarded(app, ["analyze", str(path), "--dealer-model", "bogus"]) == 2
    assert "dealer model" in " ".join(capsys.readouterr().err.split())


def test_cli_levels_from_store(tmp_path, capsys) -> None:
    import pyarrow.parquet as pq

    from chainlens.cli import app
    from chainlens.cli._common import run_guarded

    path = tmp_path / "tst.parquet"
    pq.write_table(hand_chain(), path)
    store = tmp_path / "store"
    assert run_guarded(app, ["ingest", str(path), "--store", str(store), "--json"]) == 0
    capsys.readouterr()
    code = run_guarded(
        app, ["levels", "TST", "--date", "2023-04-05", "--store", str(store), "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out.strip().splitlines()[0])
    assert doc["levels"]["oi_call_wall"] == 105.0 and doc["totals"]["dex_shares"] == pytest.approx(
        6950.0
    )
    assert run_guarded(app, ["levels", "TST", "--date", "2023-04-06", "--store", str(store)]) == 2
