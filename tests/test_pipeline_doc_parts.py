"""The chunk-level builders of the per-name documents against their per-table references.

:func:`chainlens.pipeline._records_many` and :func:`chainlens.pipeline._net_by_strike_many`
build, once per chunk, what :func:`chainlens.pipeline._finish` builds per name;
:func:`chainlens.pipeline._oi_by_session` and :func:`chainlens.pipeline._with_underlying` are
NumPy/column-wise forms of Arrow group-by and cast calls. Each is checked against the plain
Arrow computation it replaces, on hand-made tables (ties, nulls, NaN, other schemas).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from chainlens.pipeline import (
    _NET_BY_STRIKE,
    _net_by_strike,
    _net_by_strike_many,
    _oi_by_session,
    _records,
    _records_many,
    _with_underlying,
)

D0 = dt.date(2026, 3, 2)


def _by_strike(rng: np.random.Generator, n: int) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "underlying": pa.array(["X"] * n, pa.large_string()),
        "strike": pa.array(rng.choice([90.0, 95.0, 100.0, 102.5], n)),
    }
    for c in _NET_BY_STRIKE:
        cols[c] = pa.array(rng.normal(0, 1e5, n))
    return pa.table(cols)


def test_net_by_strike_many_equals_arrow_group_by() -> None:
    rng = np.random.default_rng(7)
    tabs = [_by_strike(rng, n) for n in (0, 1, 9, 40, 3)]
    got = _net_by_strike_many(tabs)
    for t, g in zip(tabs, got, strict=True):
        ref = t.group_by("strike").aggregate([(c, "sum") for c in _NET_BY_STRIKE]).sort_by("strike")
        assert g.column_names == ["strike", *_NET_BY_STRIKE]
        assert g.num_rows == ref.num_rows
        assert g.column("strike").to_pylist() == ref.column("strike").to_pylist()
        for c in _NET_BY_STRIKE:  # each group summed in row order: the same floats
            assert g.column(c).to_pylist() == ref.column(f"{c}_sum").to_pylist(), c
        assert _records(g) == _records(_net_by_strike(t))


def test_net_by_strike_many_falls_back_on_nulls() -> None:
    rng = np.random.default_rng(8)
    t = _by_strike(rng, 6)
    t = t.set_column(2, "net_usd", pa.array([1.0, None, 2.0, None, None, 3.0]))
    (g,) = _net_by_strike_many([t])
    assert g.equals(_net_by_strike(t))


def test_records_many_equals_per_table_records() -> None:
    a = pa.table({"x": [1.0, float("nan"), 2.0], "d": pa.array([D0, None, D0], pa.date32())})
    b = pa.table({"x": pa.array([5], pa.int64())})  # another schema
    c = a.slice(1, 2)
    e = a.slice(0, 0)
    ts = [a, None, b, c, e, a]
    assert _records_many(ts) == [_records(t) for t in ts]
    assert _records_many(ts, ["x"]) == [_records(t, ["x"]) for t in ts]


def test_oi_by_session_equals_arrow_group_by() -> None:
    exp = [D0, D0 + dt.timedelta(7), D0, D0, D0 + dt.timedelta(7), D0]
    td = [D0 - dt.timedelta(k) for k in (0, 0, 1, 3, 1, 0)]
    h = pa.table(
        {
            "expiry": pa.array(exp, pa.date32()),
            "trade_date": pa.array(td, pa.date32()),
            "open_interest": pa.array([5, 7, 11, 13, 17, 19], pa.int64()),
        }
    )

    def ref(t: pa.Table, e: dt.date) -> tuple[list[dt.date], list[int | None]]:
        x = t.filter(pa.compute.equal(t.column("expiry"), pa.scalar(e, pa.date32())))
        per = x.group_by("trade_date").aggregate([("open_interest", "sum")]).sort_by("trade_date")
        return per.column("trade_date").to_pylist(), per.column("open_interest_sum").to_pylist()

    for e in (D0, D0 + dt.timedelta(7), D0 + dt.timedelta(1)):
        assert _oi_by_session(h, e) == ref(h, e)
    assert _oi_by_session(h, D0) == ([D0 - dt.timedelta(3), D0 - dt.timedelta(1), D0], [13, 11, 24])
    # nulls: the Arrow path (null OI skipped; a session of nulls only sums to null)
    hn = h.set_column(2, "open_interest", pa.array([5, None, None, 13, 17, 19], pa.int64()))
    assert _oi_by_session(hn, D0) == ref(hn, D0)


def test_with_underlying_equals_table_cast() -> None:
    t = pa.table(
        {
            "symbol": pa.array(["A", "B"], pa.large_string()),
            "strike": pa.array([1.0, 2.0]),
        },
        metadata={"k": "v"},
    )
    t = t.replace_schema_metadata({"k": "v"})
    got = _with_underlying(t, "X", D0)
    ref = t.append_column("underlying", pa.array(["X", "X"], pa.string())).append_column(
        "session", pa.array([D0, D0], pa.date32())
    )
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in ref.schema
    ]
    expect = ref.cast(pa.schema(fields))
    assert got.equals(expect) and got.schema.equals(expect.schema, check_metadata=True)


def _changes(rng: np.random.Generator, n: int, dates: list[dt.date]) -> pa.Table:
    """An ``OIResult.changes``-like table: ties in |change| and Vol/OI, null changes and
    Vol/OI, contracts expiring on or before the session."""
    exp = [D0, D0 + dt.timedelta(days=3), D0 + dt.timedelta(days=10)]
    chg = rng.choice([-30, -5, 0, 5, 30, 7], n).tolist()
    vo = rng.choice([0.5, 1.0, 2.5, 0.0], n).tolist()
    for i in range(0, n, 4):
        chg[i] = None
    for i in range(1, n, 5):
        vo[i] = None
    return pa.table(
        {
            "symbol": pa.array([f"S{i}" for i in range(n)], pa.string()),
            "expiry": pa.array(rng.choice(exp, n).tolist(), pa.date32()),
            "strike": pa.array(rng.choice([90.0, 95.0, 100.0], n)),
            "right": pa.array(rng.choice(["C", "P"], n).tolist(), pa.string()),
            "trade_date": pa.array([dates[i % len(dates)] for i in range(n)], pa.date32()),
            "open_interest": pa.array(rng.integers(0, 500, n)),
            "volume": pa.array(rng.integers(0, 90, n)),
            "oi_change": pa.array(chg, pa.int64()),
            "vol_oi": pa.array(vo, pa.float64()),
            "vol_oi_band": pa.array(rng.choice(["low", "high"], n).tolist(), pa.string()),
            "volume_multiple": pa.array(rng.normal(1, 0.3, n)),
        }
    )


def test_oi_change_parts_equal_the_per_name_reference() -> None:
    from chainlens.pipeline import _oi_change_one, _oi_change_parts

    rng = np.random.default_rng(11)
    days = [D0 - dt.timedelta(days=2), D0 - dt.timedelta(days=1), D0]
    tabs = [
        _changes(rng, 300, days),
        _changes(rng, 0, days),
        _changes(rng, 30, days[-1:]),  # one session: no change session
        _changes(rng, 61, days[1:]),
        _changes(rng, 9, days[:2]),  # no row of the session itself
    ]
    got = _oi_change_parts(tabs, D0)
    assert got is not None
    for t, g in zip(tabs, got, strict=True):
        tables: dict[str, pa.Table] = {}
        cs, changes, by_strike, by_strike_live, hot = _oi_change_one(t, tables, "X", D0)
        assert g["oi.change_session"] == cs
        assert g["oi.vol_oi_top"] == hot
        if cs is None:
            assert "oi.changes" not in g and not tables
            continue
        assert g["oi.changes"] == changes
        assert g["oi.change_by_strike"] == by_strike
        assert g["oi.change_by_strike_live"] == by_strike_live
        assert _with_underlying(g["oi.changes_table"], "X", D0).equals(tables["oi_changes"])
    assert any(g.get("oi.change_by_strike_live") for g in got)
    assert any(len(g["oi.changes"]) == 40 for g in got if "oi.changes" in g)
    assert any(len(g["oi.vol_oi_top"]) == 15 for g in got)
    # a float change column: the chunk pass declines, each name builds its own
    flt = tabs[0].set_column(7, "oi_change", tabs[0].column("oi_change").cast(pa.float64()))
    assert _oi_change_parts([flt], D0) is None
