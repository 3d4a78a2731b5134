"""The simulated SPX chain against the real Cboe SPX files (distribution shapes), and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

import chainlens.sim as sim
from chainlens.cli import app
from chainlens.sim import SimConfig, simulate_market


def _real_spx_stats(path: Path) -> dict[str, float]:
    """Shape statistics of one Cboe quote-table download, read with pandas only."""
    spot = float(re.search(r"Last:\s*([0-9.]+)", path.read_text().splitlines()[1]).group(1))
    df = pd.read_csv(path, skiprows=3)
    exp = pd.to_datetime(df["Expiration Date"], format="%a %b %d %Y")
    k = df["Strike"].astype(float)
    c_oi, p_oi = df["Open Interest"].astype(float), df["Open Interest.1"].astype(float)
    c_v, p_v = df["Volume"].astype(float), df["Volume.1"].astype(float)
    tot = c_oi + p_oi
    near = tot[(k / spot - 1).abs() < 0.05].sum() / tot.sum()
    first = exp == exp.min()
    zdte = (c_v[first].sum() + p_v[first].sum()) / (c_v.sum() + p_v.sum())
    mid = (df["Bid"] + df["Ask"]) / 2
    spr = ((df["Ask"] - df["Bid"]) / mid)[mid > 0.5].median()
    return {"pc_oi": p_oi.sum() / c_oi.sum(), "near5": near, "zdte": zdte, "spread": spr}


@pytest.fixture(scope="module")
def sim_spx(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    m = simulate_market(
        SimConfig(underlyings=1, sessions=3, seed=99, trades_per_underlying=20000, scenarios=False),
        tmp_path_factory.mktemp("spx"),
    )
    return pl.read_parquet(m.files["chain"][1])


@pytest.mark.realdata
def test_spx_shapes_resemble_real_cboe(cboe_dir: Path, sim_spx: pl.DataFrame) -> None:
    real = _real_spx_stats(cboe_dir / "SPX" / "SPX_2023-04-05_1941ET__ayour.csv")
    c = sim_spx
    put = c["right"] == "P"
    pc_oi = c["open_interest"].filter(put).sum() / c["open_interest"].filter(~put).sum()
    near = (
        c.filter((pl.col("strike") / pl.col("spot") - 1).abs() < 0.05)["open_interest"].sum()
        / c["open_interest"].sum()
    )
    zdte = c.filter(pl.col("expiry") == pl.col("trade_date"))["volume"].sum() / c["volume"].sum()
    assert real["pc_oi"] / 1.4 <= pc_oi <= real["pc_oi"] * 1.4, (pc_oi, real)
    assert abs(near - real["near5"]) < 0.12, (near, real)
    assert abs(zdte - real["zdte"]) < 0.2, (zdte, real)
    # Spreads: this after-hours file quotes mostly LEAPS (its all-contract median, ~6%, is a
    # LEAPS figure), so the spread is compared near the money (|K/S-1| <= 2%, 1-45 DTE) with
    # the range measured over the 14 quoted full SPX snapshots (chainlens.sim._targets).
    from chainlens.sim._calib import chain_stats
    from chainlens.sim._targets import TARGETS

    spr = chain_stats(c.to_arrow())["spread_atm_pct"]
    (t,) = [x for x in TARGETS if x.key == "spread_atm_pct" and x.scope == "SPX"]
    assert t.passes(spr), (spr, t.low, t.high)


def test_public_api() -> None:
    assert set(sim.__all__) == {
        "CONDITIONS",
        "EXCHANGES",
        "SCENARIO_KINDS",
        "ProgressFn",
        "SimConfig",
        "SimManifest",
        "build_demo_market",
        "simulate_market",
    }
    assert len(sim.SCENARIO_KINDS) == 10


def test_cli_simulate_json_and_store(tmp_path: Path) -> None:
    out, store = tmp_path / "out", tmp_path / "store"
    r = CliRunner().invoke(
        app,
        [
            "simulate",
            "--underlyings",
            "5",
            "--sessions",
            "3",
            "--seed",
            "2",
            "--trades-per-underlying",
            "200",
            "--out",
            str(out),
            "--store",
            str(store),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["underlyings"] == 5 and len(res["sessions"]) == 3
    assert res["ingest"]["rejected"] == 0 and res["ingest"]["failed"] == []
    assert res["ingest"]["accepted"] >= res["contracts"] + res["trades"] + res["prints"]
    assert (out / "scenarios.json").is_file()


def test_cli_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    from chainlens.cli._common import run_guarded

    assert run_guarded(app, ["simulate", "--underlyings", "0", "--out", str(tmp_path / "x")]) == 2
    assert (
        run_guarded(app, ["simulate", "--start", "2024-13-01", "--out", str(tmp_path / "x")]) == 2
    )


def test_spreads_positive_and_prices_on_grid(sim_spx: pl.DataFrame) -> None:
    c = sim_spx.filter(pl.col("iv").is_not_null())
    assert (c["ask"] - c["bid"] > 0).all()
    cents = np.round(c["bid"].to_numpy() * 100)
    assert np.allclose(cents, c["bid"].to_numpy() * 100, atol=1e-6)
