"""The one-pass record builders of the documents against their references (issue 13).

:func:`chainlens.analysis.json_records` formats ``date32`` columns once per distinct date
(:func:`chainlens._jsonsafe.iso_dates`) and, under :func:`~chainlens._jsonsafe.jsonable`,
timestamp columns in one NumPy pass (:func:`~chainlens._jsonsafe.instants_iso`);
:func:`chainlens.pipeline._records_many` concatenates a chunk's tables as they are. Each must
give what the old path gave: ``jsonable`` (or the fallback) of ``to_pylist()`` value by
value, and stored text whose ``json.loads`` equals ``json.dumps(jsonable(doc))``'s. Compared
through a canonical re-dump (``1`` differs from ``1.0``, ``-0.0`` from ``0.0``, key order
counts), on NaN, inf, nulls, dates in and out of ``datetime``'s range, instants of every unit
(nanoseconds included), other time zones and nested values.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens import pipeline as pipe
from chainlens._jsonsafe import instants_iso, iso_dates, json_bytes, jsonable
from chainlens.analysis import _row_value, json_records
from chainlens.results import docs_to_table


def _canon(o: Any) -> str:
    """A value's canonical JSON text (after ``json.loads`` when it is text)."""
    if isinstance(o, (str, bytes)):
        o = json.loads(o)
    return json.dumps(o, allow_nan=False)


def _reference(t: pa.Table, fallback: Any) -> list[dict[str, Any]]:
    """The records value by value: ``fallback`` of ``to_pylist()``, dates as Arrow casts them."""
    out = []
    for rec in t.to_pylist():
        out.append({k: fallback(v) for k, v in rec.items()})
    for f in t.schema:  # the old path: Arrow's date-to-string cast (its text outside 1..9999)
        if pa.types.is_date32(f.type):
            for r, s in zip(out, pc.cast(t.column(f.name), pa.string()).to_pylist(), strict=True):
                r[f.name] = s
    return out


def _instants(unit: str, tz: str | None, n: int, rng: np.random.Generator) -> pa.Array:
    per_s = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    v = rng.integers(-2 * 10**9, 4 * 10**9, n) * per_s
    if per_s > 1:
        v[::3] += rng.integers(0, per_s, v[::3].size)  # fractions (sub-microsecond for ns)
    v[1::5] = v[1::5] // per_s * per_s  # whole seconds
    if unit == "ns":
        v[2::7] = v[2::7] // 1000 * 1000  # whole microseconds
        v[3::11] = v[3::11] // 10**9 * 10**9 + 1  # one nanosecond past a second
    return pa.array(v, pa.timestamp(unit, tz=tz), mask=rng.random(n) < 0.15)


def _table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    f[rng.random(n) < 0.2] = np.nan
    f[rng.random(n) < 0.05] = np.inf
    f[rng.random(n) < 0.05] = -np.inf
    f[rng.random(n) < 0.05] = -0.0
    days = rng.integers(19000, 19000 + max(3, n // 50), n).astype(np.int32)  # few dates
    cols: dict[str, Any] = {
        "f64": pa.array(f, mask=rng.random(n) < 0.1),
        "f32": pa.array(np.where(np.abs(f) < 1e30, f, np.nan).astype(np.float32)),
        "i": pa.array(rng.integers(-(2**62), 2**62, n), mask=rng.random(n) < 0.1),
        "b": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.1),
        "s": pa.array([f"x{i % 7}é" for i in range(n)], mask=rng.random(n) < 0.1),
        "ls": pa.array([f"L{i % 3}" for i in range(n)], pa.large_string()),
        "d": pa.array(days, pa.int32(), mask=rng.random(n) < 0.1).cast(pa.date32()),
        "d_edge": pa.array(
            np.resize(np.array([-719162, 2932896, 0, 19000], np.int32), n), pa.int32()
        ).cast(pa.date32()),
        "d_nulls": pa.nulls(n, pa.date32()),
        "lst": pa.array([[1.0, float("nan"), None]] * n),
        "st": pa.array([{"key": "a", "value": float("inf")}] * n),
        "ld": pa.array([[dt.date(2024, 3, 15)]] * n, pa.large_list(pa.date32())),
        "null": pa.nulls(n),
    }
    for unit in ("s", "ms", "us", "ns"):
        for tz in (None, "UTC", "America/New_York"):
            cols[f"ts_{unit}_{tz}"] = _instants(unit, tz, n, rng)
    return pa.table(cols)


@pytest.mark.parametrize("n", [1, 7, 300, 1500])  # a dict of dates up to 512 rows, then unique
@pytest.mark.parametrize("fallback", [jsonable, _row_value], ids=["jsonable", "row_value"])
def test_json_records_equal_the_value_by_value_reference(n: int, fallback: Any) -> None:
    t = _table(n, seed=n)
    variants = [t, t.slice(n // 3, n - n // 3)]
    if n > 1:
        variants.append(pa.concat_tables([t.slice(0, n // 2), t.slice(n // 2)]))  # chunked
    for tab in variants:
        assert _canon(json_records(tab, fallback)) == _canon(_reference(tab, fallback))


def test_wide_records_equal_the_reference() -> None:
    """More than 32 columns (dict(zip(...)) instead of a dict display), a repeated name
    included: its last value in its first place, as both build it."""
    t = _table(50, seed=2)
    wide = pa.Table.from_arrays(
        [*t.columns, *t.columns[:10], t.column("i")],
        names=[*t.column_names, *[f"{c}_2" for c in t.column_names[:10]], "f64"],
    )
    assert wide.num_columns > 32
    got = json_records(wide, jsonable)
    ref = [dict(zip(wide.column_names, r.values(), strict=True)) for r in _reference(
        wide.rename_columns([str(i) for i in range(wide.num_columns)]), jsonable
    )]  # fmt: skip
    assert _canon(got) == _canon(ref)
    assert list(got[0]) == list(dict.fromkeys(wide.column_names))


def test_out_of_range_dates_are_arrow_casts() -> None:
    far = pa.array([-800000, 3000000, None, 0], pa.int32()).cast(pa.date32())  # years 0, 10000
    assert iso_dates(far) == pc.cast(far, pa.string()).to_pylist()
    assert json_records(pa.table({"d": far}), jsonable) == [
        {"d": s} for s in pc.cast(far, pa.string()).to_pylist()
    ]


def test_instants_iso_equal_jsonable_of_to_pylist() -> None:
    rng = np.random.default_rng(11)
    for unit in ("s", "ms", "us", "ns"):
        for tz in (None, "UTC"):
            a = _instants(unit, tz, 4000, rng)
            ref = [jsonable(v) for v in a.to_pylist()]
            assert instants_iso(a) == ref
            assert instants_iso(pa.chunked_array([a[:1000], a[1000:]])) == ref
    assert instants_iso(pa.array([1], pa.timestamp("ns", "UTC"))) == [
        "1970-01-01T00:00:00.000000001Z"  # pandas' nine digits
    ]
    # what it leaves to the value-by-value path
    assert instants_iso(pa.array([0], pa.timestamp("us", "America/New_York"))) is None
    assert instants_iso(pa.array([-(10**17)], pa.timestamp("us"))) is None  # before 1000
    assert instants_iso(pa.array([0], pa.int64())) is None
    assert instants_iso(pa.array([-(2**63)], pa.timestamp("ns"))) is None  # pandas' NaT
    assert instants_iso(pa.array([], pa.timestamp("us"))) == []


def _records_many_reference(
    ts: list[pa.Table | None], columns: Any = None, fallback: Any = jsonable
) -> list[list[dict[str, Any]]]:
    out = []
    for t in ts:
        if t is None or t.num_rows == 0:
            out.append([])
            continue
        if columns is not None:
            t = t.select([c for c in columns if c in t.column_names])
        out.append(_reference(t, fallback))
    return out


def test_records_many_equal_records_of_each_table() -> None:
    t = _table(60, seed=5)
    other = t.drop_columns(["f32"])  # another schema
    meta = t.replace_schema_metadata({"k": "v"})  # the same columns, other metadata
    ts: list[pa.Table | None] = [
        t.slice(0, 10),
        None,
        t.slice(10, 0),
        t.slice(10, 25),
        meta.slice(35, 5),
        t.slice(40, 20),
    ]
    mixed: list[pa.Table | None] = [*ts, other.slice(3, 9), t.slice(1, 2)]
    for tables in (ts, mixed, [None], []):
        for columns in (None, ("d", "ts_ns_UTC", "missing", "f64")):
            for fb in (jsonable, _row_value):
                got = pipe._records_many(tables, columns, fb)
                assert _canon(got) == _canon(_records_many_reference(tables, columns, fb))


def test_documents_of_the_records_store_as_the_reference() -> None:
    """The stored text of documents holding those records: ``json.loads`` equal to
    ``json.dumps(jsonable(doc))``'s (NaN, inf, None, dates, instants, nested values)."""
    t = _table(40, seed=9)
    recs = pipe._records_many([t.slice(0, 15), t.slice(15, 25)])

    class _R:
        def __init__(self, u: str, doc: Any) -> None:
            self.underlying, self.session, self.doc = u, dt.date(2024, 3, 15), doc

    docs = [
        _R(u, {"underlying": u, "flow": {"top_strikes": r, "x": float("nan")}, "d": [None]})
        for u, r in zip(("A", "B"), recs, strict=True)
    ]
    table = docs_to_table(docs)  # type: ignore[arg-type]
    for text, r in zip(table.column("doc").to_pylist(), docs, strict=True):
        ref = json.dumps(jsonable(r.doc), allow_nan=False)
        assert _canon(text) == _canon(ref) == _canon(json_bytes(r.doc))
        # and the records are those of the value-by-value path
    old = _records_many_reference([t.slice(0, 15), t.slice(15, 25)])
    assert _canon(recs) == _canon(old)


# --------------------------------------------------------------------------- per-name facts


def _bar_rows_reference(bars: pa.Table, dates: list[Any]) -> list[tuple[int, list[Any], Any]]:
    """The positions ``_earnings`` looked up before (``sort_by`` then a dict of the dates)."""
    b = bars.sort_by("trade_date")
    bc = b.column("close").to_pylist()
    idx = {d: i for i, d in enumerate(b.column("trade_date").to_pylist())}
    return [(idx[d], bc, d) for d in dates if d in idx]


def test_bar_rows_equal_the_python_lookup() -> None:
    rng = np.random.default_rng(4)
    day0 = dt.date(2024, 1, 1)
    days = [day0 + dt.timedelta(days=int(x)) for x in rng.permutation(60)[:45]]
    days += days[:5]  # repeated bars: the last one of a date counts
    close = rng.normal(100, 5, len(days))
    dates = [day0 + dt.timedelta(days=i) for i in (0, 3, 3, 17, 59, 80)]
    bars = pa.table({"trade_date": pa.array(days, pa.date32()), "close": close})
    for b in (bars, pa.concat_tables([bars.slice(0, 20), bars.slice(20)])):
        assert pipe._bar_rows(b, dates) == _bar_rows_reference(b, dates)
    # nulls, integer closes, instants: the Python path
    nulls = bars.set_column(1, "close", pa.array([None, *close[1:].tolist()]))
    ints = bars.set_column(1, "close", pa.array(np.arange(len(days)) + 1))
    for b in (nulls, ints):
        assert pipe._bar_rows(b, dates) == _bar_rows_reference(b, dates)
    moment = [dt.datetime(2024, 1, 4)]
    assert pipe._bar_rows(bars, moment) == _bar_rows_reference(bars, moment) == []
