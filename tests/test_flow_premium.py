"""Premium decomposition, labels, flip rate, multi-leg tagging, prints, score, positions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens import flow
from chainlens.flow import BUCKETS, BUY, MID, SELL, UNKNOWN
from chainlens.schema import CHAIN, TRADES, conform

D = dt.date(2024, 3, 1)
E = dt.date(2024, 3, 15)
T0 = int(np.datetime64("2024-03-01T15:00:00", "ns").astype(np.int64))


def _trades(rows: list[dict]) -> pa.Table:
    base = dict(trade_date=D, underlying="XYZ", root="XYZ", expiry=E, settlement="PM",
                multiplier=100, exchange="A", condition=None, spot=100.0)  # fmt: skip
    full = [{**base, **r} for r in rows]
    for r in full:
        r["ts"] = np.datetime64(T0 + r.get("dt_ns", 0), "ns")
        k = r["strike"]
        r.setdefault("symbol", f"XYZ240315{r['right']}{int(k * 1000):08d}")
        r.pop("dt_ns", None)
    t = pa.Table.from_pylist(full)
    return conform(t, TRADES)


def _chain(symbols: list[tuple[str, float, str, int, int]]) -> pa.Table:
    rows = [
        dict(trade_date=D, snapshot_ts=dt.datetime(2024, 3, 1, 21, tzinfo=dt.UTC), underlying="XYZ",
             root="XYZ", symbol=s, expiry=E, settlement="PM", strike=k, right=r, multiplier=100,
             volume=v, open_interest=oi, gamma=0.05, delta=0.5, spot=100.0)
        for s, k, r, v, oi in symbols
    ]  # fmt: skip
    return conform(pa.Table.from_pylist(rows), CHAIN) if rows else CHAIN.empty_table()


def test_hand_worked_decomposition() -> None:
    # bid 1.00 / ask 2.00 everywhere; premium = price * size * 100
    t = _trades([
        dict(strike=100.0, right="C", price=2.0, size=10, bid=1.0, ask=2.0, dt_ns=0),          # call bought 2,000
        dict(strike=100.0, right="C", price=1.0, size=5, bid=1.0, ask=2.0, dt_ns=10**9),       # call sold   500
        dict(strike=90.0, right="P", price=2.0, size=3, bid=1.0, ask=2.0, dt_ns=2 * 10**9),    # put bought  600
        dict(strike=90.0, right="P", price=1.0, size=20, bid=1.0, ask=2.0, dt_ns=3 * 10**9),   # put sold  2,000
        dict(strike=90.0, right="P", price=1.5, size=2, bid=1.0, ask=2.0, dt_ns=4 * 10**9),    # mid         300
        dict(strike=95.0, right="P", price=1.5, size=2, bid=None, ask=None, dt_ns=5 * 10**9),  # unknown     300
        dict(strike=80.0, right="P", price=1.0, size=1, bid=1.0, ask=2.0, dt_ns=6 * 10**9,
             condition="MLET"),                                                                # multileg    100
    ])  # fmt: skip
    r = flow.analyze_flow(t, _chain([]))
    tot = r.totals
    assert tot["calls_bought_usd"] == 2000 and tot["calls_sold_usd"] == 500
    assert tot["puts_bought_usd"] == 600 and tot["puts_sold_usd"] == 2000
    assert tot["mid_usd"] == 300 and tot["unknown_usd"] == 300 and tot["multileg_usd"] == 100
    assert tot["total_usd"] == 5800
    assert tot["bullish_usd"] == 4000 and tot["bearish_usd"] == 1100 and tot["net_usd"] == 2900
    assert tot["unknown_share"] == pytest.approx(600 / 5800)
    # naive: calls 2,500 vs puts 3,300 -> bearish; side-adjusted: +2,900 -> bullish: a flip
    assert tot["naive_cp_ratio"] == pytest.approx(2500 / 3300)
    assert tot["naive_label"] == "bearish" and tot["side_label"] == "bullish" and tot["flip"]
    assert tot["flip_rate"] == 1.0


def test_same_timestamp_package_is_multileg_but_sweep_is_not() -> None:
    t = _trades([
        dict(strike=100.0, right="C", price=2.0, size=10, bid=1.0, ask=2.0, dt_ns=0),
        dict(strike=110.0, right="C", price=1.0, size=10, bid=1.0, ask=2.0, dt_ns=0),       # same ts, other contract
        dict(strike=90.0, right="P", price=2.0, size=5, bid=1.0, ask=2.0, dt_ns=10**9, exchange="A"),
        dict(strike=90.0, right="P", price=2.0, size=5, bid=1.0, ask=2.0, dt_ns=10**9, exchange="B"),
    ])  # fmt: skip
    ml = flow.tag_multileg(t, conditions=flow.DEFAULT_MULTILEG_CONDITIONS)
    assert ml.tolist() == [True, True, False, False]


def _rand_trades(draw_rows: list[tuple[int, float, int, int]]) -> pa.Table:
    rows = []
    for i, (right_i, price, size, side) in enumerate(draw_rows):
        bid, ask = 1.0, 2.0
        p = {BUY: 2.0, SELL: 1.0, MID: 1.5, UNKNOWN: price}[side]
        rows.append(dict(strike=100.0 + right_i, right="C" if right_i == 0 else "P", price=p,
                         size=size, bid=None if side == UNKNOWN else bid,
                         ask=None if side == UNKNOWN else ask, dt_ns=i * 10**9,
                         underlying=f"T{i % 3}"))  # fmt: skip
    return _trades(rows)


_row = st.tuples(
    st.integers(0, 1),
    st.floats(0.05, 50),
    st.integers(1, 500),
    st.sampled_from([BUY, SELL, MID, UNKNOWN]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=30))
def test_buckets_sum_to_total_and_label_flips_with_sides(rows: list) -> None:
    t = flow.enrich_trades(_rand_trades(rows))
    dec = flow.decompose_premium(t, by=("underlying",))
    parts = sum(np.asarray(dec.column(b).to_numpy()) for b in BUCKETS)
    np.testing.assert_allclose(parts, dec.column("total_usd").to_numpy(), rtol=1e-12)
    # swap every buy and sell: net changes sign, a bullish label becomes bearish and back
    code = t.column("side_code").to_numpy().copy()
    swapped = np.where(code == BUY, SELL, np.where(code == SELL, BUY, code)).astype(np.int8)
    t2 = t.set_column(t.column_names.index("side_code"), "side_code", pa.array(swapped))
    dec2 = flow.decompose_premium(t2, by=("underlying",))
    np.testing.assert_allclose(dec2.column("net_usd").to_numpy(), -dec.column("net_usd").to_numpy())
    flip = {"bullish": "bearish", "bearish": "bullish", "neutral": "neutral"}
    assert dec2.column("side_label").to_pylist() == [
        flip[x] for x in dec.column("side_label").to_pylist()
    ]


def test_sweep_block_and_notable_facts() -> None:
    sym = "XYZ240315C00105000"
    t = _trades([
        dict(strike=105.0, right="C", price=2.0, size=400, bid=1.0, ask=2.0, dt_ns=0, exchange="A"),
        dict(strike=105.0, right="C", price=2.0, size=300, bid=1.0, ask=2.0, dt_ns=20_000_000, exchange="B"),
        dict(strike=105.0, right="C", price=2.0, size=300, bid=1.0, ask=2.0, dt_ns=45_000_000, exchange="C"),
        dict(strike=105.0, right="C", price=2.0, size=5, bid=1.0, ask=2.0, dt_ns=10**9, exchange="A"),  # later: alone
    ])  # fmt: skip
    ch = _chain([(sym, 105.0, "C", 1005, 200)])
    r = flow.analyze_flow(t, ch, config=flow.FlowConfig(block_min_contracts=1000))
    tt = r.trades
    assert tt.column("is_sweep").to_pylist() == [True, True, True, False]
    assert tt.column("is_block").to_pylist() == [True, True, True, False]
    top = r.notable.to_pylist()[0]
    assert top["size"] == 1000 and top["n_exchanges"] == 3 and top["is_sweep"]
    assert top["premium_usd"] == pytest.approx(2.0 * 1000 * 100)
    assert top["side"] == "buy"
    assert top["distance_pct"] == pytest.approx(5.0) and top["otm_pct"] == pytest.approx(5.0)
    assert top["dte_days"] == 14
    assert top["size_to_oi"] == pytest.approx(1000 / 200)
    assert top["vol_oi"] == pytest.approx(1005 / 200)
    # customer bought 1,000 calls: dealer short gamma -> -0.05 * 1000 * 100 * 100^2 * 0.01
    assert top["dealer_gex_usd_per_1pct"] == pytest.approx(-0.05 * 1000 * 100 * 100**2 * 0.01)


def test_score_table_is_data_with_seed_weights() -> None:
    tab = flow.score_table().to_pylist()
    w = {}
    for row in tab:
        w[row["group"]] = w.get(row["group"], 0) + row["weight"]
    assert w == {"vol_oi": 30, "premium": 40, "aggressiveness": 30}
    # seed 002 breakpoints: 2-3x ~50%, 3-7x ~75%, 7-15x ~90%, >15x max of the 30 points
    got = flow.flow_score(vol_oi=np.array([2.5, 5.0, 10.0, 20.0]))
    np.testing.assert_allclose(got, [15.0, 22.5, 27.0, 30.0])


_inputs = {
    "vol_oi": (0.0, 30.0), "premium_usd": (0.0, 1e7), "size_to_oi": (0.0, 3.0),
    "size_to_avg_volume": (0.0, 10.0), "aggressiveness": (0.0, 1.0), "sweep": (0.0, 1.0),
    "otm_pct": (-30.0, 40.0), "dte_days": (0.0, 800.0),
}  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_score_moves_the_right_way(data: st.DataObject) -> None:
    base = {k: data.draw(st.floats(*lim), label=k) for k, lim in _inputs.items()}
    name = data.draw(st.sampled_from(sorted(_inputs)), label="which")
    bump = data.draw(st.floats(0.0, _inputs[name][1] - _inputs[name][0]), label="bump")
    up = dict(base, **{name: base[name] + bump})
    s0, s1 = float(flow.flow_score(**base)), float(flow.flow_score(**up))
    assert 0.0 <= s0 <= 100.0 and 0.0 <= s1 <= 100.0
    if name == "dte_days":
        assert s1 <= s0  # longer-dated is less aggressive
    else:
        assert s1 >= s0


def test_dealer_positions_reconciled_with_oi() -> None:
    d1, d2, d3 = dt.date(2024, 3, 1), dt.date(2024, 3, 4), dt.date(2024, 3, 5)
    sym = "XYZ240315C00100000"
    trades = pa.table({
        "trade_date": [d1, d1, d2], "symbol": [sym] * 3, "size": [500, 100, 300],
        "side_code": pa.array([BUY, SELL, BUY], pa.int8()), "multileg": [False] * 3,
    })  # fmt: skip
    hist = pa.table(
        {"trade_date": [d1, d2, d3], "symbol": [sym] * 3, "open_interest": [0, 300, 450]}
    )
    pos = flow.dealer_positions(trades, hist).to_pylist()[0]
    # d1: +400 flow, OI after d1 = 300 -> clipped to 300; d2: 300 + 300 = 600 -> clipped to 450
    assert pos["customer_position_contracts"] == 450
    assert pos["dealer_position_contracts"] == -450
    assert pos["clipped_sessions"] == 2 and pos["unknown_contracts"] == 0


def test_darkpool_and_twap() -> None:
    n = 12
    ts = np.datetime64("2024-03-01T14:30:00", "ns") + np.arange(n) * np.timedelta64(60, "s")
    prints = pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")), "trade_date": [D] * n, "ticker": ["SPY"] * n,
        "price": [10.0] * n, "size": [1000] * n, "bid": [9.9] * n,
        "ask": [10.0] * 9 + [10.1] * 3, "venue": ["TRF"] * n,
    })  # fmt: skip
    dp = flow.darkpool_summary(prints).to_pylist()[0]
    assert dp["at_ask_usd"] == 90_000 and dp["at_bid_usd"] == 0 and dp["net_usd"] == 90_000
    assert dp["pct_at_ask"] == pytest.approx(0.75) and dp["label"] == "accumulation"
    assert dp["confidence"] == pytest.approx(0.75) and dp["confidence_band"] == "moderate"
    tw = flow.detect_twap(prints).to_pylist()
    assert len(tw) == 1 and tw[0]["slices"] == 12 and tw[0]["interval_s"] == pytest.approx(60.0)


def test_public_api() -> None:
    assert set(flow.__all__) == {n for n in dir(flow) if not n.startswith("_")} - {"annotations"}


def test_contract_views_off_leaves_only_the_per_contract_views_out() -> None:
    sym = "XYZ240315C00105000"
    t = _trades([
        dict(strike=105.0, right="C", price=2.0, size=400, bid=1.0, ask=2.0, dt_ns=0, exchange="A"),
        dict(strike=105.0, right="C", price=1.0, size=10, bid=1.0, ask=2.0, dt_ns=10**9, exchange="B"),
    ])  # fmt: skip
    ch = _chain([(sym, 105.0, "C", 1005, 200)])
    full = flow.analyze_flow(t, ch)
    lean = flow.analyze_flow(t, ch, contract_views=False)
    assert full.contract_scores is not None and full.dealer_positions is not None
    assert lean.contract_scores is None and lean.dealer_positions is None
    assert lean.notable.equals(full.notable) and lean.by_strike.equals(full.by_strike)
    assert lean.totals == full.totals and lean.side_mix == full.side_mix
    # 400 bought at the ask, 10 sold at the bid: net = (800 - 10) * 100
    assert lean.totals["net_usd"] == pytest.approx(79_000.0)


def test_precomputed_changes_and_enriched_trades_give_the_same_result() -> None:
    from chainlens.oi import oi_changes

    sym = "XYZ240315C00105000"
    t = _trades([
        dict(strike=105.0, right="C", price=2.0, size=400, bid=1.0, ask=2.0, dt_ns=0, exchange="A"),
        dict(strike=105.0, right="C", price=1.0, size=10, bid=1.0, ask=2.0, dt_ns=10**9, exchange="B"),
    ])  # fmt: skip
    ch = _chain([(sym, 105.0, "C", 1005, 200)])
    ref = flow.analyze_flow(t, ch, history=ch)
    cfg = flow.FlowConfig()
    got = flow.analyze_flow(
        flow.enrich_trades(t, cfg), ch, history=ch, config=cfg,
        changes=oi_changes(ch), enriched=True,
    )  # fmt: skip
    assert got.notable.equals(ref.notable) and got.trades.equals(ref.trades)
    assert got.totals == ref.totals and got.by_strike.equals(ref.by_strike)
    assert got.notable.column("size").to_pylist()[0] == 400
