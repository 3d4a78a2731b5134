"""Every planted scenario is visible in the data it claims (chains, tape, prints, bars)."""

from __future__ import annotations

import json
import os

import numpy as np
import polars as pl
import pytest

from chainlens.sim import SCENARIO_KINDS, build_demo_market
from chainlens.symbols import parse_osi


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    seed = int(os.environ.get("CHAINLENS_SIM_TEST_SEED", "23"))  # re-check on other seeds
    m = build_demo_market(tmp_path_factory.mktemp("scen"), seed=seed, underlyings=30, sessions=10)
    chains = pl.concat(
        [
            pl.read_parquet(
                p,
                columns=[
                    "trade_date",
                    "underlying",
                    "symbol",
                    "expiry",
                    "strike",
                    "right",
                    "open_interest",
                    "volume",
                    "spot",
                ],
            )
            for p in m.files["chain"]
        ]
    )
    scen = json.loads(m.scenarios_path.read_text())["scenarios"]
    return m, chains, scen


def _oi(chains: pl.DataFrame, symbol: str) -> dict:
    c = chains.filter(pl.col("symbol") == symbol).sort("trade_date")
    return dict(zip(c["trade_date"].to_list(), c["open_interest"].to_list(), strict=True))


def _idx(m, iso: str) -> int:
    return [d.isoformat() for d in m.sessions].index(iso)


def _of(scen: list[dict], kind: str) -> list[dict]:
    return [s for s in scen if s["kind"] == kind]


def test_every_kind_planted(market) -> None:
    _, _, scen = market
    assert {s["kind"] for s in scen} == set(SCENARIO_KINDS)
    for s in scen:
        assert set(s) >= {"kind", "ticker", "contracts", "sessions", "direction", "details"}
        for sym in s["contracts"]:
            assert parse_osi(sym)


def test_accumulation_then_flush(market) -> None:
    m, chains, scen = market
    for s in _of(scen, "accumulation"):
        oi = _oi(chains, s["contracts"][0])
        days = m.sessions
        cat = s["details"]["catalyst_session"]
        first = _idx(m, s["sessions"][0])
        # OI grows after every accumulation session (seen in the next chain)
        for j in range(first, cat):
            assert oi[days[j + 1]] > oi[days[j]], (s["ticker"], j)
        peak = oi[days[cat]]
        assert peak - oi[days[first]] >= 0.8 * sum(s["details"]["opened"])
        end = _idx(m, s["sessions"][-1]) + 1
        assert peak - oi[days[end]] >= 0.5 * s["details"]["flushed"]
        # the catalyst gaps the stock up at the open
        bars = (
            pl.read_parquet(m.files["bars"][0])
            .filter(pl.col("ticker") == s["ticker"])
            .sort("trade_date")
        )
        assert bars["open"][cat] > bars["close"][cat - 1] * 1.05


def test_deep_otm_put_bypasses_nearer_strike(market) -> None:
    m, chains, scen = market
    for s in _of(scen, "deep_otm_put_build"):
        sym = s["contracts"][0]
        o = parse_osi(sym)
        a, b = _idx(m, s["sessions"][0]), _idx(m, s["sessions"][-1]) + 1
        oi = _oi(chains, sym)
        growth = oi[m.sessions[b]] - oi[m.sessions[a]]
        assert all(oi[m.sessions[j + 1]] > oi[m.sessions[j]] for j in range(a, b))
        near = chains.filter(
            (pl.col("underlying") == s["ticker"])
            & (pl.col("expiry") == o.expiry)
            & (pl.col("right") == "P")
            & (pl.col("strike") == s["details"]["bypassed_strike"])
        )
        near_oi = dict(
            zip(near["trade_date"].to_list(), near["open_interest"].to_list(), strict=True)
        )
        assert abs(near_oi[m.sessions[b]] - near_oi[m.sessions[a]]) < 0.5 * growth
        spot = s["details"]["spot"]  # at the first session, when the strike was chosen
        assert o.strike < 0.87 * spot and o.strike < s["details"]["bypassed_strike"]


@pytest.mark.parametrize("kind", ["bullish_roll", "bearish_roll"])
def test_rolls(market, kind: str) -> None:
    m, chains, scen = market
    for s in _of(scen, kind):
        f, t = (parse_osi(x) for x in s["contracts"])
        assert f.right == t.right == ("C" if kind == "bullish_roll" else "P")
        assert t.expiry > f.expiry
        assert (t.strike >= f.strike) if kind == "bullish_roll" else (t.strike <= f.strike)
        a, b = _idx(m, s["sessions"][0]), _idx(m, s["sessions"][-1]) + 1
        of, ot = _oi(chains, s["contracts"][0]), _oi(chains, s["contracts"][1])
        fell = of[m.sessions[a]] - of[m.sessions[b]]
        rose = ot[m.sessions[b]] - ot[m.sessions[a]]
        pos = s["details"]["position"]
        assert 0.5 * pos <= fell  # 60-100% of the near-month position moved
        assert rose >= 0.7 * s["details"]["reopened"]


def test_naked_close(market) -> None:
    m, chains, scen = market
    for s in _of(scen, "naked_close"):
        a, b = _idx(m, s["sessions"][0]), _idx(m, s["sessions"][-1]) + 1
        of = _oi(chains, s["contracts"][0])
        assert of[m.sessions[a]] - of[m.sessions[b]] >= 0.6 * s["details"]["closed"]
        # nothing planted opens anywhere for this scenario
        for j in range(a, b):
            day = m.sessions[j].isoformat()
            tr = pl.read_parquet(
                m.out_dir / f"trades-{day}.parquet", columns=["trade_id", "underlying"]
            ).join(pl.read_parquet(m.out_dir / "truth" / f"trades-{day}.parquet"), on="trade_id")
            mine = tr.filter(pl.col("program_id") == s["id"])
            assert len(mine) > 0 and (mine["open_close"] == "close").all()


def test_call_selling_on_a_rally_looks_bullish_naively(market) -> None:
    m, chains, scen = market
    bars = pl.read_parquet(m.files["bars"][0])
    for s in _of(scen, "call_selling_rally"):
        day = s["sessions"][0]
        j = _idx(m, day)
        closes = bars.filter(pl.col("ticker") == s["ticker"]).sort("trade_date")["close"].to_list()
        assert closes[j] > closes[j - 1]  # a rally day
        tr = pl.read_parquet(m.out_dir / f"trades-{day}.parquet").filter(
            pl.col("underlying") == s["ticker"]
        )
        tr = tr.join(pl.read_parquet(m.out_dir / "truth" / f"trades-{day}.parquet"), on="trade_id")
        prem = tr["price"] * tr["size"] * 100
        call = tr["right"] == "C"
        buy = tr["true_side"] == "buy"
        assert prem.filter(call).sum() > prem.filter(~call).sum()  # naive: bullish
        bull = prem.filter((call & buy) | (~call & ~buy)).sum()
        bear = prem.filter((call & ~buy) | (~call & buy)).sum()
        assert bull - bear < 0  # side-adjusted: bearish
        # the planted sales print at or near the bid
        mine = tr.filter(pl.col("program_id") == s["id"])
        x = (mine["price"] - mine["bid"]) / (mine["ask"] - mine["bid"])
        assert (x <= 0.4).all() and (mine["open_close"] == "open").all()


def test_earnings_ramp_and_flush(market) -> None:
    m, chains, scen = market
    events = pl.read_parquet(m.files["events"][0])
    for s in _of(scen, "earnings_ramp"):
        e = s["details"]["earnings_session"]
        assert (
            len(
                events.filter(
                    (pl.col("ticker") == s["ticker"])
                    & (pl.col("kind") == "earnings")
                    & (pl.col("date") == m.sessions[e])
                )
            )
            == 1
        )
        tot = {d: 0 for d in m.sessions}
        for sym in s["contracts"]:
            for d, v in _oi(chains, sym).items():
                tot[d] += v
        a = _idx(m, s["sessions"][0])
        ramp = [tot[m.sessions[j]] for j in range(a, e + 1)]
        assert all(np.diff(ramp) > 0)
        built = ramp[-1] - ramp[0]
        if e + 2 < len(m.sessions):  # the flush is seen in the chain two sessions later
            assert ramp[-1] - tot[m.sessions[e + 2]] >= 0.4 * built
        post = parse_osi(s["contracts"][0]).expiry
        assert post >= m.sessions[e]


def test_max_pain_pin(market) -> None:
    m, chains, scen = market
    for s in _of(scen, "max_pain_pin"):
        exp = parse_osi(s["contracts"][0]).expiry
        last = m.sessions[_idx(m, s["sessions"][-1])]
        c = chains.filter(
            (pl.col("underlying") == s["ticker"])
            & (pl.col("expiry") == exp)
            & (pl.col("trade_date") == last)
        )
        k = c["strike"].to_numpy()
        oi = c["open_interest"].to_numpy().astype(float)
        call = (c["right"] == "C").to_numpy()
        ks = np.unique(k)
        pay = [
            float(np.sum(np.where(call, np.maximum(x - k, 0), np.maximum(k - x, 0)) * oi))
            for x in ks
        ]  # scalar reference
        mp = ks[int(np.argmin(pay))]
        assert mp == pytest.approx(s["details"]["max_pain"])
        spots = (
            chains.filter(pl.col("underlying") == s["ticker"])
            .group_by("trade_date")
            .agg(pl.col("spot").first())
        )
        sp = dict(zip(spots["trade_date"].to_list(), spots["spot"].to_list(), strict=True))
        first = m.sessions[_idx(m, s["sessions"][0])]
        d0 = abs(sp[first] / mp - 1)
        d1 = abs(sp[last] / mp - 1)
        assert d1 < 0.005 and (d1 <= d0 or d0 < 0.005)


def test_darkpool_distribution_into_strength(market) -> None:
    m, chains, scen = market
    bars = pl.read_parquet(m.files["bars"][0])
    for s in _of(scen, "darkpool_distribution"):
        day = s["sessions"][0]
        j = _idx(m, day)
        closes = bars.filter(pl.col("ticker") == s["ticker"]).sort("trade_date")["close"].to_list()
        assert closes[j] > closes[j - 1]
        p = pl.read_parquet(m.out_dir / f"prints-{day}.parquet").filter(
            pl.col("ticker") == s["ticker"]
        )
        x = (p["price"] - p["bid"]) / (p["ask"] - p["bid"])
        at_bid = p["size"].filter(x <= 0.25).sum()
        at_ask = p["size"].filter(x >= 0.75).sum()
        assert at_bid > 2 * at_ask


def test_premium_spike_several_times_the_average(market) -> None:
    """Seed 004 premium/volume multiples, hand-computed from the written files: on each spike
    session the name's premium (trades: price x size x 100) is at least 3x its average over the
    earlier sessions (chains: volume x mid x 100, the scanner's estimate there), and so is its
    volume; the planted contracts hold most of the premium, mostly bought at or above the mid,
    and the chain volume of each equals the tape's size."""
    m, _, scen = market
    spikes = _of(scen, "premium_spike")
    assert spikes
    for s in spikes:
        t = s["ticker"]
        for day in s["sessions"]:
            j = _idx(m, day)
            prior = []
            for d in m.sessions[max(0, j - 20) : j]:
                c = pl.read_parquet(m.out_dir / f"chain-{d}.parquet").filter(
                    pl.col("underlying") == t
                )
                mid = pl.when((c["bid"] > 0) & (c["ask"] >= c["bid"])).then(
                    (c["bid"] + c["ask"]) / 2
                )
                px = c.select(mid.otherwise(pl.col("last")).fill_null(0.0)).to_series()
                prior.append((float((c["volume"] * px * 100).sum()), float(c["volume"].sum())))
            tr = pl.read_parquet(m.out_dir / f"trades-{day}.parquet").filter(
                pl.col("underlying") == t
            )
            prem = float((tr["price"] * tr["size"] * 100).sum())
            ch = pl.read_parquet(m.out_dir / f"chain-{day}.parquet").filter(
                pl.col("underlying") == t
            )
            vol = float(ch["volume"].sum())
            assert len(prior) >= 3
            assert prem >= 3.0 * np.mean([p for p, _ in prior]), (t, day)
            assert vol >= 3.0 * np.mean([v for _, v in prior]), (t, day)
            mine = tr.filter(pl.col("symbol").is_in(s["contracts"]))
            p_mine = mine["price"] * mine["size"] * 100
            assert float(p_mine.sum()) >= 0.6 * prem, (t, day)
            bought = p_mine.filter(mine["price"] >= (mine["bid"] + mine["ask"]) / 2).sum()
            assert bought >= 0.8 * float(p_mine.sum()), (t, day)
            for sym in s["contracts"]:
                cv = ch.filter(pl.col("symbol") == sym)["volume"].sum()
                assert cv == tr.filter(pl.col("symbol") == sym)["size"].sum(), sym
