"""Aggressor side: hand-worked cases, a slow scalar reference, and the DataShop VIX sample."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens import flow
from chainlens.flow import BUY, MID, SELL, UNKNOWN, emo_rule, lee_ready, quote_rule, tick_test


def _ref_quote(p: float, b: float, a: float) -> int:
    """Slow scalar reference of the SPEC quote rule, written from the SPEC text."""
    if b is None or a is None or math.isnan(b) or math.isnan(a) or a <= 0 or b < 0 or b > a:
        return UNKNOWN
    if p >= a and p <= b:  # locked quote, trade at it
        return MID
    if p >= a:
        return BUY
    if p <= b:
        return SELL
    x = (p - b) / (a - b)
    if x >= 0.6 - 1e-9:
        return BUY
    if x <= 0.4 + 1e-9:
        return SELL
    return MID


def test_quote_rule_hand_cases() -> None:
    # bid 1.00 ask 2.00: at ask, above ask, x=0.6, x=0.59, mid, x=0.4, at bid, below bid
    p = [2.00, 2.10, 1.60, 1.59, 1.50, 1.40, 1.00, 0.90]
    got = quote_rule(p, [1.0] * 8, [2.0] * 8)
    assert got.tolist() == [BUY, BUY, BUY, MID, MID, SELL, SELL, SELL]


def test_quote_rule_unknown_quotes() -> None:
    nan = float("nan")
    got = quote_rule([1.0] * 5, [nan, 1.0, 0.0, 1.2, 0.0], [1.1, nan, 0.0, 1.1, 0.10])
    # missing bid, missing ask, zero market, crossed -> unknown; 0-bid one-sided market classified
    assert got.tolist() == [UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, BUY]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.01, 20, allow_nan=False),
            st.floats(0.0, 20, allow_nan=False) | st.just(float("nan")),
            st.floats(0.0, 20, allow_nan=False) | st.just(float("nan")),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_quote_rule_matches_scalar_reference(rows: list[tuple[float, float, float]]) -> None:
    p, b, a = (np.array(c) for c in zip(*rows, strict=True))
    want = [_ref_quote(*r) for r in rows]
    assert quote_rule(p, b, a).tolist() == want


def test_tick_test_per_contract_in_time_order() -> None:
    # contract 0 out of time order in the input; contract 1 starts fresh
    price = [1.1, 1.0, 1.1, 1.1, 5.0, 4.0]
    ts = [2, 1, 3, 4, 1, 2]
    grp = [0, 0, 0, 0, 1, 1]
    # ordered contract 0: 1.0 (first: unknown), 1.1 (up: buy), 1.1 (zero: buy), 1.1 (buy)
    assert tick_test(price, ts, grp).tolist() == [BUY, UNKNOWN, BUY, BUY, UNKNOWN, SELL]


def test_lee_ready_and_emo() -> None:
    b, a = [1.0] * 4, [2.0] * 4
    price, ts, grp = [1.5, 1.7, 1.5, 1.2], [1, 2, 3, 4], [0] * 4
    # LR: 1.5 at mid, first -> unknown; 1.7 > mid buy; 1.5 at mid -> downtick sell; 1.2 sell
    assert lee_ready(price, b, a, ts, grp).tolist() == [UNKNOWN, BUY, SELL, SELL]
    price2 = [2.0, 1.7, 1.0, 1.2]
    # EMO: at ask buy; inside -> tick (1.7 < 2.0 down) sell; at bid sell; inside uptick buy
    assert emo_rule(price2, b, a, ts, grp).tolist() == [BUY, SELL, SELL, BUY]


def test_bad_method_is_a_config_error() -> None:
    from chainlens.errors import ConfigError

    with pytest.raises(ConfigError):
        flow.FlowConfig(side_method="magic")  # type: ignore[arg-type]


@pytest.mark.realdata
def test_datashop_vix_side_mix_and_volume(shared_data: Path) -> None:
    io = pytest.importorskip("chainlens.io")
    d = shared_data / "cboe_datashop_vix_2016-06-01"
    trades = pa.concat_tables(
        [
            b.table
            for b in io.read_file(d / "UnderlyingOptionsTrades_2016-06-01.csv")
            if b.kind == "trades"
        ]
    )
    eod = pa.concat_tables(
        [
            b.table
            for b in io.read_file(d / "UnderlyingOptionsEODCalcs_2016-06-01.csv")
            if b.kind == "chain"
        ]
    )
    # SOURCES.md: per contract, Σ sizes excluding cancels == EOD volume, 230 contracts, 306,319
    vol = trades.group_by("symbol").aggregate([("size", "sum")])
    got = dict(
        zip(vol.column("symbol").to_pylist(), vol.column("size_sum").to_pylist(), strict=True)
    )
    want = {
        s: v
        for s, v in zip(
            eod.column("symbol").to_pylist(), eod.column("volume").to_pylist(), strict=True
        )
        if v
    }
    assert got == want
    assert len(got) == 230 and sum(got.values()) == 306_319
    res = flow.analyze_flow(trades, eod)
    mix = res.side_mix
    assert mix["trades"] == trades.num_rows
    shares = [mix[f"{k}_share"] for k in ("buy", "sell", "mid", "unknown")]
    assert abs(sum(shares) - 1.0) < 1e-12
    # every DataShop print carries an NBBO: the unknown share is small (crossed/zero quotes only)
    assert mix["unknown_share"] < 0.05
    assert mix["buy_share"] > 0.2 and mix["sell_share"] > 0.2
