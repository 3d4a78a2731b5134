"""The chunk-level shortcuts of :func:`chainlens.oi.analyze_oi_many` against their references:
the event changes summed per (underlying, expiry, right, session) before the event build
(:func:`chainlens.oi._event_changes`) against the build on the contract rows, and the OI panel
built on codes computed by the input checks against the panel that encodes its own columns.
Integers and labels exactly, floats to 1e-12 relative."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.oi import _event_changes, _panel, event_oi_build, oi_changes
from chainlens.oi._encode import encode_strings
from test_oi_fastpath import _assert_panel_equal, engine, random_history  # noqa: F401

_KEYS = [("underlying", "ascending"), ("date", "ascending"), ("kind", "ascending")]


def _assert_close(x: pa.Table, y: pa.Table) -> None:
    assert x.schema == y.schema
    assert x.num_rows == y.num_rows
    for name in x.column_names:
        a, b = x.column(name), y.column(name)
        if pa.types.is_floating(a.type):
            va = a.to_numpy(zero_copy_only=False).astype(np.float64)
            vb = b.to_numpy(zero_copy_only=False).astype(np.float64)
            np.testing.assert_array_equal(np.isnan(va), np.isnan(vb), err_msg=name)
            m = ~np.isnan(va)
            np.testing.assert_allclose(va[m], vb[m], rtol=1e-12, atol=0, err_msg=name)
        else:
            assert a.equals(b), name


def _events(history: pa.Table, seed: int) -> pa.Table:
    """Ticker events of each underlying and market-wide ones, around the history's sessions."""
    rng = np.random.default_rng(seed)
    unders = pc.unique(history.column("underlying")).to_pylist()
    days = pc.unique(history.column("trade_date")).to_pylist()
    rows = []
    for u in [*unders, "*", "OTHER"]:  # a loop over the few tickers of a test
        for _ in range(int(rng.integers(1, 4))):
            d = days[int(rng.integers(0, len(days)))] + dt.timedelta(days=int(rng.integers(0, 30)))
            rows.append({"date": d, "ticker": u, "kind": str(rng.choice(["earnings", "fomc"]))})
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema([("date", pa.date32()), ("ticker", pa.string()), ("kind", pa.string())]),
    )


@pytest.mark.parametrize("seed", range(12))
def test_event_changes_then_build_equal_the_build(engine: bool, seed: int) -> None:  # noqa: F811
    h = random_history(seed)
    ch = oi_changes(h).select(["underlying", "expiry", "right", "trade_date", "si", "oi_change"])
    ev = _events(h, seed)
    agg = _event_changes(ch)
    assert agg.num_rows <= ch.num_rows
    ref = event_oi_build(ch, ev).sort_by(_KEYS)
    got = event_oi_build(agg, ev).sort_by(_KEYS)
    _assert_close(ref, got)
    if agg is ch:  # no change at all (one session): the rows go through as they are
        assert ch.column("oi_change").null_count == ch.num_rows
        return
    # the sums themselves: every (underlying, expiry, right, session) group once, exactly
    keys = ["underlying", "expiry", "right", "trade_date", "si"]
    valid = ch.filter(pc.is_valid(ch.column("oi_change")))
    want = (
        valid.group_by(keys).aggregate([("oi_change", "sum")]).rename_columns([*keys, "oi_change"])
    )
    order = [(k, "ascending") for k in keys]
    assert want.sort_by(order).equals(agg.select(keys + ["oi_change"]).sort_by(order))


def test_event_changes_leave_null_keys_alone() -> None:
    ch = pa.table(
        {
            "underlying": pa.array(["A", None], pa.string()),
            "expiry": pa.array([dt.date(2024, 3, 15)] * 2, pa.date32()),
            "right": pa.array(["C", "P"], pa.string()),
            "trade_date": pa.array([dt.date(2024, 3, 1)] * 2, pa.date32()),
            "si": pa.array([0, 0], pa.int64()),
            "oi_change": pa.array([5, 7], pa.int64()),
        }
    )
    assert _event_changes(ch) is ch
    only_nulls = ch.slice(0, 1).set_column(5, "oi_change", pa.nulls(1, pa.int64()))
    assert _event_changes(only_nulls) is only_nulls


@pytest.mark.parametrize("seed", range(12))
def test_panel_on_given_codes_equals_its_own(engine: bool, seed: int) -> None:  # noqa: F811
    h = random_history(seed, chunked=bool(seed % 2))
    own = _panel.build_panel(h)
    codes = (encode_strings(h.column("symbol")), encode_strings(h.column("underlying")))
    _assert_panel_equal(own, _panel.build_panel(h, codes=codes))
    # codes of another table (a different length) are not used
    other = (encode_strings(h.column("symbol").slice(1)), None)
    _assert_panel_equal(own, _panel.build_panel(h, codes=other))
