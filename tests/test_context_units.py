"""Issue 19 units: price context on hand-made closes, the trend score's bounds, dark-pool
program detection on hand-made prints, and the thesis file's parse and evaluation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from chainlens.errors import InputError
from chainlens.flow._darkpool import detect_programs
from chainlens.market import price_context, trend_score
from chainlens.schema import PRINTS
from chainlens.thesis import evaluate_thesis, load_thesis, parse_thesis

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "thesis.toml"


def _days(n: int) -> list[dt.date]:
    return [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)]


def test_price_context_hand_case() -> None:
    c = [100.0 + i for i in range(25)]  # a straight line up: score 100, above its averages
    p = price_context(_days(25), c, ticker="X", source="bars")
    s20 = p["sma"][0]
    assert s20["sma"] == pytest.approx(sum(c[-20:]) / 20)
    assert s20["side"] == "above" and s20["sessions_on_side"] == 6  # days 19..24 have 20 closes
    assert p["sma"][1]["sma"] is None and "needs 50" in p["sma"][1]["reason"]
    assert (
        p["regime"]["score"] == pytest.approx(100.0) and p["regime"]["regime"] == "dominant trend"
    )
    assert p["regime"]["direction"] == "up"
    assert p["change_pct"] == pytest.approx((124 / 123 - 1) * 100)


def test_trend_score_range_and_short_input() -> None:
    zig = [100.0, 101.0] * 15
    r = trend_score(zig)
    assert r["regime"] == "range" and r["score"] < 10
    short = trend_score([1.0, 2.0])
    assert short["score"] is None and "needs 21" in short["reason"]


def _prints(rows: list[tuple[int, str, float, int, float, float]]) -> pa.Table:
    base = dt.datetime(2024, 3, 5, 14, 30, tzinfo=dt.UTC)
    cols = {
        "ts": [base + dt.timedelta(seconds=r[0]) for r in rows],
        "trade_date": [dt.date(2024, 3, 5)] * len(rows),
        "ticker": [r[1] for r in rows],
        "price": [r[2] for r in rows],
        "size": [r[3] for r in rows],
        "bid": [r[4] for r in rows],
        "ask": [r[5] for r in rows],
        "venue": ["D"] * len(rows),
    }
    return pa.table({f.name: pa.array(cols[f.name], f.type) for f in PRINTS if f.name in cols})


def test_programs_hand_case() -> None:
    # 12 sells at the bid every 600 s, sizes 950-1050; noise: buys at the ask of other sizes
    rows = [(600 * k, "ABC", 10.0, 1000 + (50 if k % 2 else -50), 10.0, 10.02) for k in range(12)]
    rows += [(600 * k + 17, "ABC", 10.02, 5000 + 300 * k, 10.0, 10.02) for k in range(6)]
    rows += [(650, "ABC", 10.0, 1010, 10.0, 10.02)]  # a stray similar print off the grid
    t = _prints(rows)
    got = detect_programs(t).to_pylist()
    assert len(got) == 1
    g = got[0]
    assert (g["ticker"], g["side"], g["slices"]) == ("ABC", "sell", 12)
    assert g["interval_s"] == pytest.approx(600.0)
    assert g["notional_usd"] == pytest.approx(sum(10.0 * r[3] for r in rows[:12]))
    # too few slices: nothing
    assert detect_programs(_prints(rows[:5])).num_rows == 0


def test_thesis_example_parses_and_bad_files_name_the_condition(tmp_path: Path) -> None:
    th = load_thesis(EXAMPLE)
    assert th.conditions and th.title
    with pytest.raises(InputError, match="condition 1: kind must be one of"):
        parse_thesis('[[condition]]\nkind = "moon"\n')
    with pytest.raises(InputError, match="needs `window`"):
        parse_thesis('[[condition]]\nkind = "price_vs_sma"\nticker = "SPY"\nside = "above"\n')
    with pytest.raises(InputError, match="not valid TOML"):
        parse_thesis("[[condition]\n")
    with pytest.raises(InputError, match="at least one"):
        parse_thesis('title = "x"\n')


def test_thesis_evaluation_hand_case() -> None:
    th = parse_thesis(
        """
title = "t"
[[condition]]
name = "above 3"
kind = "price_vs_sma"
ticker = "SPY"
window = 3
side = "above"
sessions = 2
[[condition]]
name = "dxy"
kind = "macro"
series = "DXY"
op = "<"
value = 99.5
[[condition]]
name = "dp"
kind = "darkpool_volume"
op = ">"
value = 70e9
[[condition]]
name = "net"
kind = "net_premium"
op = ">"
value = 0
"""
    )
    p = price_context(_days(5), [10.0, 9.0, 11.0, 12.0, 13.0], ticker="SPY", source="bars")
    m = {"macro": [{"series": "DXY", "value": 99.1}], "darkpool": {"total_notional_usd": 80e9},
         "side": None}  # fmt: skip
    ev = evaluate_thesis(th, m, [p])
    ok = [x["ok"] for x in ev["items"]]
    # 3-session averages: day 3 (11 vs 10) above, day 4 (12 vs 10.67) above, day 5 above: run 3
    assert ok == [True, True, True, None]
    assert ev["items"][0]["sessions_on_side"] == 3
    assert "no trades" in ev["items"][3]["reason"]
    assert (ev["confirmed"], ev["evaluated"], ev["total"]) == (3, 3, 4)


def _earn(event: str, note: str, expiries: list[tuple[str, float]]):
    from types import SimpleNamespace

    from chainlens.pipeline import _earnings
    from chainlens.schema import CHAIN

    ev = pa.table({"date": pa.array([dt.date.fromisoformat(event)], pa.date32()), "ticker": ["XYZ"],
                   "kind": ["earnings"], "note": [note]})  # fmt: skip
    w = SimpleNamespace(events=ev, underlying="XYZ", session=dt.date(2024, 3, 1), bars=None)
    adoc = {"vol": {"expiries": [{"expiry": e, "atm_iv": s, "expected_move_pct": 5.0} for e, s in expiries]},
            "by_expiry": [{"expiry": e, "call_oi": 300, "put_oi": 100} for e, _ in expiries]}  # fmt: skip
    return _earnings(w, adoc, CHAIN.empty_table())


def test_earnings_kink_by_hand() -> None:
    exps = [("2024-03-08", 0.30), ("2024-03-15", 0.40), ("2024-03-22", 0.38)]
    e = _earn("2024-03-10", "before open", exps)
    assert (e["pre_expiry"], e["post_expiry"], e["kink_method"]) == (
        "2024-03-08",
        "2024-03-15",
        "pre_post",
    )
    # (0.40² − 0.30²) · 14/365 = 0.0026849; sqrt · sqrt(2/π) · 100
    assert e["kink_move_pct"] == pytest.approx(4.1343, abs=1e-3)
    assert (e["post_expiry_call_oi"], e["post_expiry_put_oi"]) == (300, 100)
    # an after-close report on an expiry day: that expiry settles first
    e = _earn("2024-03-15", "after close", exps)
    assert (e["pre_expiry"], e["post_expiry"]) == ("2024-03-15", "2024-03-22")
    assert e["kink_move_pct"] is None and "not above" in e["kink_reason"]
    # no expiry before the report: the first two post-event expiries
    e = _earn("2024-03-02", "before open", exps)
    assert e["kink_method"] == "two_post"
    t1, t2 = 7 / 365, 14 / 365
    w1, w2 = 0.09 * t1, 0.16 * t2
    v = w1 - (w2 - w1) / (t2 - t1) * t1
    assert v < 0 and e["kink_move_pct"] is None  # the second expiry's IV is higher: no kink
    e = _earn("2024-03-09", "before open", [("2024-03-15", 0.40), ("2024-03-22", 0.36)])
    t1, t2 = 14 / 365, 21 / 365
    w1, w2 = 0.16 * t1, 0.1296 * t2
    v = w1 - (w2 - w1) / (t2 - t1) * t1
    assert e["kink_move_pct"] == pytest.approx((2 / 3.141592653589793) ** 0.5 * v**0.5 * 100)


def test_detect_programs_equals_grouping_on_the_keys() -> None:
    """The runs of the sorted keys give what ``diff().over(keys)`` and ``median().over(keys)``
    give (the reference written with them, on a shuffled tape of several tickers, sides and
    size buckets, with repeated timestamps)."""
    import math

    import numpy as np
    import polars as pl

    from chainlens.flow._darkpool import PROGRAM_RULES

    rng = np.random.default_rng(3)
    rows: list[tuple[int, str, float, int, float, float]] = []
    for j, k in enumerate(["AAA", "BBB", "CCC"]):  # programs: regular slices of similar size
        for side_px in (10.0, 10.1):
            start, step, size = 100 * j + int(side_px * 7), 240 + 60 * j, 800 + 400 * j
            rows += [(start + step * i, k, side_px, int(size * (1 + 0.04 * ((i % 3) - 1))), 10.0, 10.1)
                     for i in range(12 + 3 * j)]  # fmt: skip
    n = 3000  # noise: random times, sizes and sides, repeated timestamps
    secs = rng.integers(0, 6000, n)
    rows += [
        (int(s), str(k), float(p), int(q), 10.0, 10.1)
        for s, k, p, q in zip(secs, rng.choice(["AAA", "BBB", "CCC"], n),
                              rng.choice([10.0, 10.05, 10.1], n),
                              rng.choice([100, 105, 110, 500, 520, 2000], n), strict=True)
    ]  # fmt: skip
    perm = rng.permutation(len(rows))
    t = _prints([rows[i] for i in perm])
    got = detect_programs(t)

    r = dict(PROGRAM_RULES)
    df = pl.from_arrow(t.select(["ts", "ticker", "price", "size", "bid", "ask"]))
    b, a, p = pl.col("bid"), pl.col("ask"), pl.col("price")
    x = (p - b) / (a - b)
    df = (
        df.filter((pl.col("size") > 0) & (a > b) & (b > 0))
        .with_columns(
            pl.when(x <= r["side_edge"]).then(pl.lit("sell"))
            .when(x >= 1 - r["side_edge"]).then(pl.lit("buy")).otherwise(None).alias("side"),
            (pl.col("size").cast(pl.Float64).log() / math.log1p(r["size_band"])).alias("_l"),
            pl.col("ts").cast(pl.Int64).alias("_t"),
            (p * pl.col("size").cast(pl.Float64)).alias("_n"),
        )
        .filter(pl.col("side").is_not_null())
    )  # fmt: skip
    keys = ["ticker", "side", "_g", "_bucket"]
    allg = pl.concat(
        [
            df.with_columns(
                pl.lit(g).alias("_g"),
                (pl.col("_l") + g / 3.0).floor().cast(pl.Int64).alias("_bucket"),
            )
            for g in range(3)
        ]  # fmt: skip
    ).sort([*keys, "_t"])
    allg = allg.with_columns(pl.col("_t").diff().over(keys).alias("_dt"))
    allg = allg.with_columns(pl.col("_dt").median().over(keys).alias("_med"))
    kept = allg.filter(
        pl.col("_dt").is_null() | (pl.col("_dt") >= r["min_gap_share"] * pl.col("_med"))
    ).with_columns((pl.col("_t").diff().over(keys) / 1e9).alias("_dt2"))
    ref = kept.group_by(keys).agg(
        pl.len().alias("slices"),
        pl.col("_dt2").mean().alias("interval_s"),
        (pl.col("_dt2").std() / pl.col("_dt2").mean()).alias("interval_cv"),
    )
    ref = ref.filter(
        (pl.col("slices") >= r["min_slices"])
        & (pl.col("interval_s") > 0)
        & (pl.col("interval_cv") <= r["max_interval_cv"])
    )
    best = (
        ref.sort(
            ["ticker", "side", "slices", "interval_cv"], descending=[False, False, True, False]
        )
        .unique(subset=["ticker", "side"], keep="first", maintain_order=True)
        .sort(["ticker", "side"])
    )
    assert got.num_rows > 0
    mine = sorted(
        zip(got.column("ticker").to_pylist(), got.column("side").to_pylist(),
            got.column("slices").to_pylist(), got.column("interval_s").to_pylist(), strict=True)
    )  # fmt: skip
    want = sorted(
        zip(best["ticker"].to_list(), best["side"].to_list(), best["slices"].to_list(),
            best["interval_s"].to_list(), strict=True)
    )  # fmt: skip
    assert mine == want


def test_detect_programs_without_slices_is_empty_with_its_columns() -> None:
    """No print, or no print with a usable quote (crossed, zero or missing bid/ask, zero size):
    no program, and the empty table keeps the result's columns and types."""
    ref = detect_programs(_prints([(60 * i, "AAA", 10.1, 500, 10.0, 10.1) for i in range(12)]))
    assert ref.num_rows == 1
    bad = [(60 * i, "AAA", 10.1, 500, 10.2, 10.1) for i in range(12)]  # crossed
    bad += [(60 * i, "BBB", 10.1, 0, 10.0, 10.1) for i in range(12)]  # zero size
    bad += [(60 * i, "CCC", 10.1, 500, 0.0, 10.1) for i in range(12)]  # zero bid
    for t in (_prints([]), _prints(bad)):
        got = detect_programs(t)
        assert got.num_rows == 0
        assert got.schema == ref.schema
