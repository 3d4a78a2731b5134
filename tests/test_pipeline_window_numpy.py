"""The NumPy paths of the per-window helpers of the document (issue 13) equal their Arrow
references: ``prior_zone`` (its Arrow path), ``_today``, ``_bars_for``, ``_spot_series``,
``_with_underlying`` and ``_net_by_strike_many`` on windows with several sessions and
snapshots, rows out of order, nulls and NaN."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens import pipeline as pipe
from chainlens.pipeline import UnderlyingWindow
from test_pipeline_chunk_facts import _history  # the same random histories

UTC = dt.UTC
DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6), dt.date(2024, 3, 7)]


def _bars(seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    days = [DAYS[0] - dt.timedelta(days=k) for k in range(1, 6)] + DAYS
    order = rng.permutation(len(days))
    return pa.table({
        "trade_date": pa.array([days[i] for i in order], pa.date32()),
        "close": pa.array(rng.uniform(90, 110, len(days))[order], pa.float64()),
    })  # fmt: skip


EMPTY = pa.table({"ts": pa.array([], pa.int64())})
HIST = pa.table({"trade_date": pa.array(DAYS, pa.date32())})
CASES = [(s, sh, nu) for s in range(6) for sh in (False, True) for nu in (False, True)]


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(("seed", "shuffle", "nulls"), CASES)
def test_prior_zone_numpy_equals_arrow(seed: int, shuffle: bool, nulls: bool) -> None:
    h = _history(seed, shuffle=shuffle, nulls=nulls)
    for d in DAYS:
        for close in (99.0, 101.5, 100.0):
            got = pipe.prior_zone(h, d, close)
            ref = pipe._prior_zone_arrow(h, d, close)
            assert _eq(got, ref), (d, close, got, ref)
    assert any(pipe.prior_zone(h, d, 100.0) is not None for d in DAYS)


@pytest.mark.parametrize(("seed", "shuffle", "nulls"), CASES)
def test_today_and_spot_series_equal_arrow(seed: int, shuffle: bool, nulls: bool) -> None:
    h = _history(seed, shuffle=shuffle, nulls=nulls)
    for d in DAYS:
        w = UnderlyingWindow(underlying="X", session=d, history=h, trades=EMPTY)
        ref = h.filter(pc.equal(h.column("trade_date"), pa.scalar(d, pa.date32())))
        last = pc.max(ref.column("snapshot_ts"))
        ref = ref.filter(pc.equal(ref.column("snapshot_ts"), last))
        got = pipe._today(w)
        assert got.schema.equals(ref.schema, check_metadata=True)
        assert _eq(got.to_pydict(), ref.to_pydict())  # NaN asks: equal as NaN
    days, spots = pipe._spot_series(h)
    assert days == DAYS
    for d, s in zip(days, spots, strict=True):  # the last non-null spot of the last snapshot
        t = h.filter(pc.equal(h.column("trade_date"), pa.scalar(d, pa.date32())))
        t = t.sort_by([("snapshot_ts", "ascending")]).column("spot").drop_null()
        assert _eq(s, float(t[-1].as_py()) if len(t) else math.nan)


@pytest.mark.parametrize("seed", range(6))
def test_bars_for_equals_arrow(seed: int) -> None:
    b = _bars(seed)
    for d in DAYS:
        w = UnderlyingWindow(underlying="X", session=d, history=HIST, trades=EMPTY, bars=b)
        for n in (1, 3, 20):
            ref = b.filter(pc.less_equal(b.column("trade_date"), pa.scalar(d, pa.date32())))
            ref = ref.sort_by("trade_date")
            ref = ref.slice(max(0, ref.num_rows - n))
            got = pipe._bars_for(w, n)
            assert got is not None and got.equals(ref, check_metadata=True)


def test_with_underlying_normalises_as_before() -> None:
    d = DAYS[0]
    meta = pa.schema([pa.field("a", pa.float64(), metadata={b"unit": b"USD"})],
                     metadata={b"x": b"y"})  # fmt: skip
    t = pa.table({"a": [1.0, 2.0]}, schema=meta)
    got = pipe._with_underlying(t, "X", d)
    assert got.schema.metadata is None
    assert got.schema.field("a").metadata == {b"unit": b"USD"}
    assert got.column("underlying").to_pylist() == ["X", "X"]
    assert got.column("session").to_pylist() == [d, d]
    big = pa.table({"s": pa.array(["p", "q"], pa.large_string())})
    got = pipe._with_underlying(big, "X", d)
    assert got.schema.field("s").type == pa.string()


def test_net_by_strike_many_equals_per_table() -> None:
    rng = np.random.default_rng(3)
    cols = pipe._NET_BY_STRIKE
    ts = []
    for n in (0, 1, 7, 30):
        data = {"strike": rng.choice([90.0, 95.0, 100.0], n)}
        data.update({c: rng.normal(size=n) * 1e5 for c in cols})
        ts.append(pa.table(data))
    for got, t in zip(pipe._net_by_strike_many(ts), ts, strict=True):
        assert got.equals(pipe._net_by_strike(t))
    # a table with a null (or a column of another type) falls back to the per-table reference
    bad = ts[2].set_column(1, cols[0], pa.array([None] + [1.0] * 6, pa.float64()))
    for got, t in zip(pipe._net_by_strike_many([ts[1], bad]), [ts[1], bad], strict=True):
        assert got.equals(pipe._net_by_strike(t))
