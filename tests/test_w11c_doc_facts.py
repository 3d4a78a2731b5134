"""The chunk passes of the per-name documents after the w11c speed work (issue 13) against
their per-window references: :func:`chainlens.pipeline._history_facts` reads the quotes and
rights of the ATM rows only, skips the spot gathers when every row has a spot and reads the
expiry days once (spot series, prior zone, OI arrays equal ``_spot_series``, ``prior_zone``
and ``_oi_by_session`` of each window); :func:`chainlens.pipeline._oi_change_parts` reads
the rights and expiries of the change rows only (equal to ``_oi_change_one`` per name), on
chunks mixing windows with and without null spots, null rights and quotes, and windows whose
contracts are all live or all expired."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa

from chainlens import pipeline as pipe
from test_pipeline_chunk_facts import SESSION, _bars, _check, _eq, _history, _window
from test_pipeline_doc_parts import D0, _changes


def _null_rights(t: pa.Table, rng: np.random.Generator, share: float) -> pa.Table:
    """``t`` with about ``share`` of its rights null."""
    r = t.column("right").to_pylist()
    r = [None if rng.random() < share else x for x in r]
    i = t.column_names.index("right")
    return t.set_column(i, "right", pa.array(r, pa.string()))


def test_chunk_facts_mixed_spots_and_null_rights_equal_each_window() -> None:
    rng = np.random.default_rng(5)
    ws = []
    for s in range(12):
        h = _history(s, shuffle=s % 2 == 0, nulls=s % 3 == 0)
        if s % 4 == 1:
            h = _null_rights(h, rng, 0.2)
        ws.append(_window(h, _bars(s) if s % 2 else None))
    facts = _check(ws)
    assert all(f.spot_series is not None and f.zone_done for f in facts)
    assert sum(f.zone is not None for f in facts) >= 6
    for w, f in zip(ws, facts, strict=True):  # the OI arrays of the earnings facts
        assert f.oi_arrays is not None
        for e in sorted(set(w.history.column("expiry").to_pylist())):
            assert _eq(pipe._oi_sums(*f.oi_arrays, e), pipe._oi_by_session(w.history, e))


def test_chunk_facts_without_open_interest_read_the_expiries_themselves() -> None:
    ws = [_window(_history(s, shuffle=True, nulls=False).drop_columns(["open_interest"]))
          for s in range(4)]  # fmt: skip
    facts = _check(ws)
    assert all(f.oi_arrays is None and f.zone_done for f in facts)
    assert any(f.zone is not None for f in facts)


def test_chunk_facts_of_every_spot_missing_at_the_previous_session() -> None:
    h = _history(3, shuffle=False, nulls=False)
    prev = pa.scalar(SESSION - dt.timedelta(days=1), pa.date32())
    spot = pa.array(
        [None if d == prev.as_py() else v
         for d, v in zip(h.column("trade_date").to_pylist(), h.column("spot").to_pylist(),
                         strict=True)],
        pa.float64(),
    )  # fmt: skip
    h = h.set_column(h.column_names.index("spot"), "spot", spot)
    facts = _check([_window(h), _window(_history(4, shuffle=True, nulls=False))])
    assert facts[0].zone is None and facts[1].zone is not None
    assert math.isnan(facts[0].spot_series[1][-2]) if facts[0].spot_series else True


def test_oi_change_parts_with_null_rights_and_all_live_or_expired() -> None:
    from chainlens.pipeline import _oi_change_one, _oi_change_parts

    rng = np.random.default_rng(23)
    days = [D0 - dt.timedelta(days=2), D0 - dt.timedelta(days=1), D0]
    tabs = [_changes(rng, n, days) for n in (200, 57, 120, 33)]
    tabs[1] = _null_rights(tabs[1], rng, 0.3)
    live = pa.array([D0 + dt.timedelta(days=5)] * tabs[2].num_rows, pa.date32())
    tabs[2] = tabs[2].set_column(tabs[2].column_names.index("expiry"), "expiry", live)
    gone = pa.array([D0] * tabs[3].num_rows, pa.date32())
    tabs[3] = tabs[3].set_column(tabs[3].column_names.index("expiry"), "expiry", gone)
    got = _oi_change_parts(tabs, D0)
    assert got is not None
    for t, g in zip(tabs, got, strict=True):
        tables: dict[str, pa.Table] = {}
        cs, changes, by_strike, by_strike_live, hot = _oi_change_one(t, tables, "X", D0)
        assert g["oi.change_session"] == cs is not None
        assert g["oi.changes"] == changes
        assert g["oi.change_by_strike"] == by_strike
        assert g["oi.change_by_strike_live"] == by_strike_live
        assert g["oi.vol_oi_top"] == hot
    assert got[2]["oi.change_by_strike_live"] is None  # every contract live
    assert got[3]["oi.change_by_strike_live"] == []  # every contract expired


def _sort_tab(rng: np.random.Generator, n: int) -> pa.Table:
    """A flow-like table: ties in the sort keys, NaN and inf among the other floats, strings
    (``large_string``) and dates, a row number that tells ties apart."""
    return pa.table(
        {
            "total_usd": pa.array(rng.choice([0.0, -0.0, 1.5, 2.0, -3.0, 1e300], n)),
            "expiry": pa.array(
                [dt.date(2024, 3, 15) + dt.timedelta(days=int(x)) for x in rng.integers(0, 5, n)],
                pa.date32(),
            ),
            "share": pa.array(rng.choice([0.25, np.nan, np.inf, -1.0], n)),
            "label": pa.array(rng.choice(["bull", "bear", "é"], n).tolist(), pa.large_string()),
            "row": pa.array(np.arange(n)),
        }
    )


def test_sorted_records_equal_the_records_of_each_sorted_table() -> None:
    from chainlens.pipeline import _records, _sorted_records

    rng = np.random.default_rng(31)
    tabs = [_sort_tab(rng, n) for n in (0, 1, 7, 60, 45, 0, 3, 41)]
    for key, desc, n_top in (
        ("total_usd", True, 40),
        ("total_usd", False, None),
        ("expiry", False, None),
        ("expiry", True, 2),
    ):
        got = _sorted_records(tabs, key, descending=desc, n_top=n_top)
        assert got is not None
        order = "descending" if desc else "ascending"
        want = [_records(t.sort_by([(key, order)]).slice(0, n_top)) for t in tabs]
        assert got == want, (key, desc, n_top)
        assert [[list(r) for r in g] for g in got] == [[list(r) for r in w] for w in want]
    nan = tabs[2].set_column(0, "total_usd", pa.array([np.nan] + [1.0] * 6))
    assert _sorted_records([tabs[1], nan], "total_usd", descending=True) is None
    assert _sorted_records([tabs[2], tabs[2].drop_columns(["row"])], "expiry") is None


def test_with_underlying_many_equals_each_table_with_large_strings() -> None:
    from chainlens.pipeline import _with_underlying, _with_underlying_many

    rng = np.random.default_rng(37)
    tabs = [_sort_tab(rng, n) for n in (5, 0, 17, 1, 30)]
    tabs[2] = tabs[2].replace_schema_metadata({"k": "v"})
    us = [f"U{i}" for i in range(len(tabs))]
    ds = [D0 - dt.timedelta(days=i) for i in range(len(tabs))]
    got = _with_underlying_many(tabs, us, ds)
    for t, u, d, g in zip(tabs, us, ds, got, strict=True):
        want = _with_underlying(t, u, d)
        assert g.schema.equals(want.schema, check_metadata=True)
        assert _eq(g.to_pylist(), want.to_pylist())  # NaN equal to NaN
        assert g.schema.field("label").type == pa.string()
