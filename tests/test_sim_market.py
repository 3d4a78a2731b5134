"""Realism and consistency of the simulated market (small markets, fast)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from chainlens import schema
from chainlens.sim import SimConfig, build_demo_market, simulate_market


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    seed = int(os.environ.get("CHAINLENS_SIM_TEST_SEED", "11"))  # re-check on other seeds
    return build_demo_market(
        tmp_path_factory.mktemp("demo"), seed=seed, underlyings=30, sessions=10
    )


@pytest.fixture(scope="module")
def chains(demo) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in demo.files["chain"]])


@pytest.fixture(scope="module")
def trades(demo) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in demo.files["trades"]])


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(pq.read_table(p).to_pandas().to_csv().encode())
    return h.hexdigest()


def test_deterministic_per_seed(tmp_path: Path) -> None:
    cfg = SimConfig(underlyings=6, sessions=2, seed=3, trades_per_underlying=300)
    a = simulate_market(cfg, tmp_path / "a")
    b = simulate_market(cfg, tmp_path / "b")
    c = simulate_market(
        SimConfig(underlyings=6, sessions=2, seed=4, trades_per_underlying=300), tmp_path / "c"
    )
    kinds = ("chain", "trades", "prints")
    da = _digest([p for k in kinds for p in a.files[k]])
    assert da == _digest([p for k in kinds for p in b.files[k]])
    assert da != _digest([p for k in kinds for p in c.files[k]])
    assert (tmp_path / "a" / "scenarios.json").read_text() == (
        tmp_path / "b" / "scenarios.json"
    ).read_text()


def test_underlying_independent_of_universe_size(tmp_path: Path) -> None:
    """Per-underlying streams: SPX's chain and tape do not depend on how many names follow it."""
    small = simulate_market(
        SimConfig(
            underlyings=3,
            sessions=2,
            seed=5,
            trades_per_underlying=200,
            scenarios=False,
            chunk_underlyings=2,
        ),
        tmp_path / "s",
    )
    big = simulate_market(
        SimConfig(
            underlyings=3,
            sessions=2,
            seed=5,
            trades_per_underlying=200,
            scenarios=False,
            chunk_underlyings=3,
        ),
        tmp_path / "b",
    )
    for k in ("chain", "trades"):
        for ps, pb in zip(small.files[k], big.files[k], strict=True):
            a = (
                pl.read_parquet(ps)
                .filter(pl.col("underlying") == "SPX")
                .sort("symbol", *(["ts"] if k == "trades" else []))
            )
            b = (
                pl.read_parquet(pb)
                .filter(pl.col("underlying") == "SPX")
                .sort("symbol", *(["ts"] if k == "trades" else []))
            )
            assert a.drop("trade_id" if k == "trades" else "trade_date").equals(
                b.drop("trade_id" if k == "trades" else "trade_date")
            )


def test_schema_conformance(demo) -> None:
    for kind in ("chain", "trades", "prints", "bars", "events", "sectors"):
        for p in demo.files[kind][:2]:
            t = pq.read_table(p)
            assert t.schema.equals(schema.SCHEMAS[kind], check_metadata=False), (kind, p)
            assert schema.conform(t, schema.SCHEMAS[kind]).equals(t)


def test_volume_equals_sum_of_trade_sizes(chains: pl.DataFrame, trades: pl.DataFrame) -> None:
    tv = trades.group_by("trade_date", "symbol").agg(tv=pl.col("size").sum())
    j = chains.join(tv, on=["trade_date", "symbol"], how="left").with_columns(
        pl.col("tv").fill_null(0)
    )
    assert (j["volume"] == j["tv"]).all()
    assert len(tv) == len(
        tv.join(chains, on=["trade_date", "symbol"], how="semi")
    )  # every traded contract is listed
    assert j["volume"].sum() == trades["size"].sum()


def test_oi_change_bounded_by_volume(chains: pl.DataFrame, demo) -> None:
    days = sorted(chains["trade_date"].unique().to_list())
    nxt = (
        chains.select("trade_date", "symbol", "open_interest")
        .with_columns(
            pl.col("trade_date")
            .replace_strict(dict(zip(days[1:], days[:-1], strict=True)), default=None)
            .alias("prev_day")
        )
        .drop_nulls("prev_day")
    )
    j = chains.join(
        nxt.select(
            pl.col("prev_day").alias("trade_date"),
            "symbol",
            pl.col("open_interest").alias("oi_next"),
        ),
        on=["trade_date", "symbol"],
    )
    assert len(j) > 0.8 * len(chains.filter(pl.col("trade_date") < days[-1]))
    assert ((j["oi_next"] - j["open_interest"]).abs() <= j["volume"]).all()
    assert (j["oi_next"] >= 0).all()
    # OI actually moves: a good share of traded contracts change OI overnight
    moved = j.filter(pl.col("volume") > 0)
    assert (moved["oi_next"] != moved["open_interest"]).mean() > 0.5


def test_truth_consistent_with_oi(demo, chains: pl.DataFrame) -> None:
    """OI(D+1) - OI(D) = opened - closed from the truth file, per contract."""
    d0, d1 = demo.sessions[0], demo.sessions[1]
    t = pl.read_parquet(demo.files["trades"][0]).join(
        pl.read_parquet(demo.out_dir / "truth" / f"trades-{d0}.parquet"), on="trade_id"
    )
    net = t.group_by("symbol").agg(
        net=pl.when(pl.col("open_close") == "open")
        .then(pl.col("size"))
        .otherwise(-pl.col("size"))
        .sum()
    )
    a = chains.filter(pl.col("trade_date") == d0).select("symbol", "open_interest")
    b = chains.filter(pl.col("trade_date") == d1).select(
        "symbol", pl.col("open_interest").alias("oi1")
    )
    j = (
        a.join(b, on="symbol")
        .join(net, on="symbol", how="left")
        .with_columns(pl.col("net").fill_null(0))
    )
    assert (j["oi1"] - j["open_interest"] == j["net"]).all()
    assert set(t["true_side"].unique()) == {"buy", "sell"}


def test_quotes_no_arbitrage(chains: pl.DataFrame) -> None:
    c = chains.filter(pl.col("iv").is_not_null())
    assert (c["bid"] >= 0).all() and (c["ask"] > c["bid"]).all()
    r = 0.05
    calls = c.filter(pl.col("right") == "C")
    puts = c.filter(pl.col("right") == "P")
    j = calls.join(puts, on=["trade_date", "root", "expiry", "strike"], suffix="_p")
    # put-call parity within the spread: C - P = D (F - K) for some quotes inside both spreads
    t_years = (
        (pl.col("expiry").cast(pl.Datetime("ns", "UTC")) - pl.col("snapshot_ts")).dt.total_seconds()
        / (365 * 86400)
    ).clip(0)
    j = j.with_columns(t=t_years)
    # Parity within the spread: some D*F lies in [C_bid - P_ask + D K, C_ask - P_bid + D K] for
    # every strike of an expiry. The test does not know F: it intersects the bands per expiry.
    disc = (-r * pl.col("t")).exp()
    j = j.with_columns(
        lo=pl.col("bid") - pl.col("ask_p") + disc * pl.col("strike"),
        hi=pl.col("ask") - pl.col("bid_p") + disc * pl.col("strike"),
    )
    df = j.group_by("trade_date", "root", "expiry").agg(
        pl.col("lo").max(), pl.col("hi").min(), pl.len()
    )
    # date-level t (midnight, not the settlement hour) moves D K by < 1e-4 K: allow 1e-4 K
    slack = 1e-4 * j["strike"].max()
    assert (df["lo"] <= df["hi"] + slack).all()
    assert df["len"].sum() > 1000


def test_call_prices_monotone_and_convex(chains: pl.DataFrame) -> None:
    c = (
        chains.filter((pl.col("right") == "C") & pl.col("iv").is_not_null())
        .sort("trade_date", "root", "expiry", "strike")
        .with_columns(g=pl.struct("trade_date", "root", "expiry").hash())
    )
    g = c["g"].to_numpy()
    k = c["strike"].to_numpy()
    bid = c["bid"].to_numpy()
    ask = c["ask"].to_numpy()
    same = g[1:] == g[:-1]
    # no free call spread: buying the lower strike at the ask never costs less than the higher bid
    assert (ask[:-1][same] >= bid[1:][same] - 1e-9).all()
    # no free butterfly: ask(K1) w1 + ask(K3) w3 >= bid(K2), with w the strike weights
    s3 = same[1:] & same[:-1]
    k1, k2, k3 = k[:-2][s3], k[1:-1][s3], k[2:][s3]
    w1 = (k3 - k2) / (k3 - k1)
    w3 = (k2 - k1) / (k3 - k1)
    assert (w1 * ask[:-2][s3] + w3 * ask[2:][s3] >= bid[1:-1][s3] - 1e-9).all()


def test_realistic_shapes(chains: pl.DataFrame, demo) -> None:
    d0 = chains.filter(pl.col("trade_date") == demo.sessions[0])
    spx = d0.filter(pl.col("underlying") == "SPX")
    pc_oi = (
        spx.filter(pl.col("right") == "P")["open_interest"].sum()
        / spx.filter(pl.col("right") == "C")["open_interest"].sum()
    )
    assert 1.3 <= pc_oi <= 2.3  # real Cboe SPX files: about 1.9
    near = (
        spx.filter((pl.col("strike") / pl.col("spot") - 1).abs() < 0.05)["open_interest"].sum()
        / spx["open_interest"].sum()
    )
    assert 0.15 <= near <= 0.45  # real SPX 2023-04-05: 0.28
    zdte = (
        spx.filter(pl.col("expiry") == pl.col("trade_date"))["volume"].sum() / spx["volume"].sum()
    )
    assert 0.3 <= zdte <= 0.65  # real SPX 2023-04-05: 0.47
    roots = set(spx["root"].unique())
    assert roots == {"SPX", "SPXW"}
    assert set(spx.filter(pl.col("root") == "SPX")["settlement"].unique()) == {"AM"}
    assert {"SPX", "SPY", "QQQ", "IWM"} <= set(d0["underlying"].unique())


def test_manifest_and_files(demo) -> None:
    assert len(demo.files["chain"]) == 10
    assert demo.files["chain"][0].name == f"chain-{demo.sessions[0].isoformat()}.parquet"
    assert (demo.out_dir / "truth").is_dir()
    data = json.loads(demo.scenarios_path.read_text())
    assert data["seed"] == int(os.environ.get("CHAINLENS_SIM_TEST_SEED", "11"))
    assert isinstance(data["scenarios"], list)
    assert all(isinstance(d, dt.date) for d in demo.sessions)


def test_stable_argsort_matches_numpy() -> None:
    """The radix stable argsort is numpy's stable argsort (int64 ns times with ties and
    negatives, small contract indices, sizes below the radix threshold)."""
    import numpy as np

    from chainlens.sim._oi import stable_argsort

    rng = np.random.default_rng(5)
    cases = [
        1_700_000_000_000_000_000 + rng.integers(0, 23_400_000_000_000, 50_000),
        rng.integers(0, 40_000, 60_000),
        rng.integers(0, 70_000, 60_000).astype(np.int32),
        rng.integers(-(2**40), 2**40, 30_000),
        np.repeat(rng.integers(0, 1 << 33, 500), 20),  # many ties
        rng.integers(0, 9, 100),
    ]
    for x in cases:
        assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))
