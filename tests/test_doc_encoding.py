"""The stored text of the per-underlying documents (issue 13: orjson instead of ``json.dumps``).

:func:`chainlens._jsonsafe.json_bytes` must give, as a value, what
``json.dumps(jsonable(doc), allow_nan=False)`` gives: ``json.loads`` of both is the same
Python value, compared through a canonical re-dump (so ``-0.0`` differs from ``0.0``, ``1``
from ``1.0`` and key order counts). Checked on the demo market's documents and on edge
values; the chunk-level record builders (:func:`chainlens.analysis.json_records`) and the
per-run conform of :func:`chainlens.runners.base.result_parts` against their references.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from chainlens import results as R
from chainlens._jsonsafe import json_bytes, jsonable
from chainlens.analysis import _row_value, json_records
from chainlens.pipeline import UnderlyingResult
from chainlens.runners.base import result_parts


def _canon(text: str | bytes) -> str:
    """``json.loads(text)`` re-dumped: equal iff the parsed values are identical (types,
    signed zeros, key order)."""
    return json.dumps(json.loads(text), allow_nan=False)


def _reference(o: Any) -> str:
    return json.dumps(jsonable(o), allow_nan=False)


@pytest.fixture(scope="module")
def demo_docs(tmp_path_factory: pytest.TempPathFactory) -> list[UnderlyingResult]:
    """The in-memory results of the small demo market's last session."""
    from chainlens.pipeline import PipelineConfig, analyze_underlyings
    from chainlens.runners.local import iter_windows
    from chainlens.store import Store
    from test_pipeline_fixtures import build_small_demo_store

    root, days = build_small_demo_store(tmp_path_factory.mktemp("doc_encoding"))
    cfg = PipelineConfig()
    with Store(root, read_only=True) as st:
        ws = list(iter_windows(st, days[-1], st.underlyings(days[-1]), cfg))
    out = [r for r in analyze_underlyings(ws, cfg) if isinstance(r, UnderlyingResult)]
    assert len(out) == len(ws) > 5
    return out


def test_demo_documents_encode_to_the_same_values(demo_docs: list[UnderlyingResult]) -> None:
    for r in demo_docs:
        new = json_bytes(r.doc)
        # the documents are JSON-ready: today's text (json.dumps of the document itself) and
        # the sanitised reference parse to the same values as the new text
        assert _canon(new) == _canon(_reference(r.doc)) == _canon(json.dumps(r.doc))
        assert json.loads(new) == r.doc
    t = R.docs_to_table(demo_docs)
    assert t.schema.equals(R.PART_SCHEMAS["docs"], check_metadata=True)
    assert t.column("underlying").to_pylist() == [r.underlying for r in demo_docs]
    for text, r in zip(t.column("doc").to_pylist(), demo_docs, strict=True):
        assert _canon(text) == _canon(json.dumps(r.doc, allow_nan=False))


@dataclasses.dataclass
class _Opaque:
    x: int = 1


EDGE: dict[str, Any] = {
    "nan": float("nan"),
    "inf": [float("inf"), -float("inf")],
    "neg_zero": -0.0,
    "tiny": [1e-300, 5e-324, -2.2250738585072014e-308],
    "big": [1.7976931348623157e308, 1e16, 1e22, 123456789.123456789, 0.1 + 0.2],
    "ints": [0, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)],
    "bools": [True, False, None],
    "text": ["", "é ü 漢字", 'quote " backslash \\ nl \n tab \t', "\x00\x1f", "\u2028"],
    "nested_numpy": {
        "f64": np.float64(2.5),
        "f64_nan": np.float64("nan"),
        "f32": np.float32(0.1),
        "i64": np.int64(-7),
        "u8": np.uint8(200),
        "b": np.bool_(True),
        "arr": np.array([1.0, np.nan, np.inf, -0.0]),
        "iarr": np.arange(4, dtype=np.int32),
        "deep": [{"x": np.float64(1e-300)}, (np.int16(3), np.float16(0.5))],
    },
    "dates": [dt.date(2024, 3, 15), dt.datetime(2024, 3, 15, 16, 0, 0, 123456)],
    "instants": [
        dt.datetime(2024, 3, 15, 16, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4))),
        pd.Timestamp("2024-03-15 13:30:00.5", tz="America/New_York"),
        pd.Timestamp("2024-03-15 13:30:00"),
        np.datetime64("2024-03-15T13:30:00"),
    ],
    "tuple": (1, 2.0, "x"),
    "empty": [{}, [], ""],
}


@pytest.mark.parametrize("key", sorted(EDGE))
def test_edge_values_encode_as_the_reference(key: str) -> None:
    doc = {"k": EDGE[key], "in_list": [EDGE[key]]}
    assert _canon(json_bytes(doc)) == _canon(_reference(doc))
    assert _canon(json_bytes(EDGE[key])) == _canon(_reference(EDGE[key]))


def test_all_edge_values_at_once_and_signed_zero() -> None:
    assert _canon(json_bytes(EDGE)) == _canon(_reference(EDGE))
    assert math.copysign(1.0, json.loads(json_bytes([-0.0]))[0]) == -1.0


@pytest.mark.parametrize(
    "doc",
    [
        {"huge": 2**64},  # beyond 64 bits: orjson refuses, json.dumps writes it
        {"neg_huge": -(2**63) - 1, "more": [10**40]},
        {1: "int key", 2.5: "float key", None: "none key"},
        {False: "bool key", "s": [{0: 1}]},
        {"lone": "\ud800"},  # a lone surrogate: orjson refuses, json.dumps escapes it
        {"deep": json.loads("[" * 300 + "]" * 300)},  # deeper than orjson's 255 levels
    ],
)
def test_what_orjson_refuses_falls_back_to_the_reference(doc: dict[Any, Any]) -> None:
    assert json_bytes(doc) == _reference(doc).encode()


def test_not_json_at_all_raises_as_the_reference() -> None:
    for bad in ({"x": _Opaque()}, {"x": {1, 2}}, {"x": object()}):
        with pytest.raises(TypeError):
            _reference(bad)
        with pytest.raises(TypeError):
            json_bytes(bad)


def test_docs_to_table_with_edge_values() -> None:
    rs = [
        UnderlyingResult("A", dt.date(2024, 3, 15), EDGE, {}),  # type: ignore[arg-type]
        UnderlyingResult("B", dt.date(2024, 3, 15), {"huge": 2**70, 1: np.nan}, {}),  # type: ignore[arg-type]
    ]
    t = R.docs_to_table(rs)
    got = t.column("doc").to_pylist()
    assert [_canon(g) for g in got] == [_canon(_reference(r.doc)) for r in rs]


# --------------------------------------------------------------------------- records


def _json_records_reference(t: pa.Table) -> list[dict[str, Any]]:
    return [{k: _row_value(v) for k, v in rec.items()} for rec in t.to_pylist()]


def test_json_records_equals_fallback_of_to_pylist() -> None:
    n = 9
    rng = np.random.default_rng(3)
    f = rng.normal(size=n)
    f[[1, 4]] = [np.nan, np.inf]
    t = pa.table(
        {
            "f64": pa.array(f),
            "f64_nulls": pa.array([None, 1.5, -0.0, None, 2.0, np.nan, 3.0, -np.inf, 1e-300]),
            "f32": pa.array([0.1, None, 2.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0], pa.float32()),
            "f16": pa.array(np.array([0.5, np.nan, 1, 2, 3, 4, 5, 6, np.inf], np.float16)),
            "i": pa.array([1, None, 3, 4, 5, 6, 7, 8, 2**62]),
            "u8": pa.array(np.arange(n, dtype=np.uint8)),
            "b": pa.array([True, None, False] * 3),
            "s": pa.array(["x", None, "é"] * 3),
            "ls": pa.array(["a"] * n, pa.large_string()),
            "d": pa.array([dt.date(2024, 3, i + 1) for i in range(n)], pa.date32()),
            "ts": pa.array(
                [dt.datetime(2024, 3, 15, i) for i in range(n)], pa.timestamp("ns", "UTC")
            ),
            "lst": pa.array([[1.0, float("nan")]] * n),
            "null": pa.nulls(n),
            "odd 'name\"": pa.array(range(n)),
        }
    )
    for tab in (t, pa.concat_tables([t.slice(0, 4), t.slice(4)]), t.slice(2, 3)):
        got = json_records(tab, _row_value)
        assert _canon(json.dumps(got)) == _canon(json.dumps(_json_records_reference(tab)))
    assert json_records(t.slice(0, 0), _row_value) == []
    assert json_records(t.select([]), _row_value) == []


# --------------------------------------------------------------------------- result_parts


def _part(rng: np.random.Generator, n: int, *, int32_strike: bool = False) -> pa.Table:
    sch = R.PART_SCHEMAS["clusters"]
    cols: dict[str, pa.Array] = {}
    for f in reversed(list(sch)):  # another column order than the declared one
        if f.name == "underlying":
            cols[f.name] = pa.array(["X"] * n, pa.large_string())
        elif f.name == "session":
            cols[f.name] = pa.array([dt.date(2024, 3, 15)] * n, pa.date32())
        elif f.name == "rank":
            cols[f.name] = pa.array(np.arange(n, dtype=np.int32))
        elif f.name == "strike" and int32_strike:
            cols[f.name] = pa.array(rng.integers(1, 500, n).astype(np.int32))
        else:
            cols[f.name] = pa.array(rng.normal(size=n))
    return pa.table(cols)


def test_result_parts_conform_by_run_equals_conform_by_table() -> None:
    rng = np.random.default_rng(5)
    d = dt.date(2024, 3, 15)
    tabs = [
        _part(rng, 3),
        _part(rng, 0),
        _part(rng, 2),
        _part(rng, 4, int32_strike=True),  # another schema: a run of its own
        _part(rng, 1),
        None,
        _part(rng, 5),
    ]
    rs = [
        UnderlyingResult(f"U{i}", d, {"i": i}, {} if t is None else {"clusters": t})  # type: ignore[arg-type]
        for i, t in enumerate(tabs)
    ]
    got = result_parts(rs)["clusters"]
    want = pa.concat_tables(
        [R.conform("clusters", t) for t in tabs if t is not None and t.num_rows]
    )
    assert got.schema.equals(R.PART_SCHEMAS["clusters"], check_metadata=True)
    assert got.equals(want)


def test_result_parts_names_the_underlying_inside_a_run() -> None:
    rng = np.random.default_rng(6)
    d = dt.date(2024, 3, 15)
    good = _part(rng, 2)
    at = good.column_names.index("session")
    # one schema (a string session), so one run; BBB's value does not cast to a date
    okay = good.set_column(at, "session", pa.array(["2024-03-15"] * 2))
    bad = good.set_column(at, "session", pa.array(["2024-03-15", "2024-13-45"]))
    rs = [
        UnderlyingResult("AAA", d, {}, {"clusters": okay}),  # type: ignore[arg-type]
        UnderlyingResult("BBB", d, {}, {"clusters": bad}),  # type: ignore[arg-type]
    ]
    with pytest.raises(R.ResultSchemaError, match=r"^BBB 2024-03-15: .*'clusters'.*'session'"):
        result_parts(rs)


def test_conform_returns_a_conformed_table_as_it_is() -> None:
    t = R.conform("clusters", _part(np.random.default_rng(1), 3))
    assert R.conform("clusters", t) is t


def test_stored_documents_read_back(tmp_path: Path, demo_docs: list[UnderlyingResult]) -> None:
    """The new text through Parquet and DuckDB's JSON functions (``read_doc_fields``)."""
    from chainlens.store import Store

    d = demo_docs[0].session
    by_u = {r.underlying: r.doc for r in demo_docs}
    with Store(tmp_path / "store") as st:
        st.write_results(R.RESULTS_NAME, d, result_parts(demo_docs))
        whole = st.read_docs(d)
        assert sorted(w["underlying"] for w in whole) == sorted(by_u)
        for w in whole:
            assert _canon(json.dumps(w)) == _canon(json.dumps(by_u[w["underlying"]]))
        fields = ["underlying", "flow.totals", "oi.summary", "analysis.totals", "close"]
        pruned = st.read_doc_fields(d, fields)
    assert len(pruned) == len(demo_docs)
    for p in pruned:
        for f in fields:
            src: Any = by_u[p["underlying"]]
            got: Any = p
            for k in f.split("."):
                src = src.get(k) if isinstance(src, dict) else None
                got = got.get(k) if isinstance(got, dict) else None
            assert _canon(json.dumps(got)) == _canon(json.dumps(src)), (p["underlying"], f)


# --------------------------------------------------------------------------- sorted slices


def test_sorted_many_equals_arrow_sort_per_table() -> None:
    from chainlens.pipeline import _sorted_many

    rng = np.random.default_rng(9)

    def tab(n: int) -> pa.Table:
        return pa.table(
            {
                "total_usd": pa.array(rng.choice([0.0, -0.0, 1.5, 2.0, -3.0, 1e300], n)),
                "expiry": pa.array(
                    [
                        dt.date(2024, 3, 15) + dt.timedelta(days=int(x))
                        for x in rng.integers(0, 5, n)
                    ],
                    pa.date32(),
                ),
                "i": pa.array(rng.integers(-3, 3, n)),
                "row": pa.array(np.arange(n)),  # tells ties apart
            }
        )

    tabs = [tab(n) for n in (0, 1, 7, 60, 45, 0, 3)]
    for key, desc, n_top in (
        ("total_usd", True, 40),
        ("total_usd", False, None),
        ("expiry", False, None),
        ("expiry", True, 2),
        ("i", True, 5),
    ):
        got = _sorted_many(tabs, key, descending=desc, n_top=n_top)
        assert got is not None
        for t, g in zip(tabs, got, strict=True):
            order = "descending" if desc else "ascending"
            want = t.take(pc_sort(t, key, order)[: n_top if n_top is not None else t.num_rows])
            assert g.equals(want), (key, desc, n_top)
    assert _sorted_many([], "i") is None
    nan = tabs[2].set_column(0, "total_usd", pa.array([np.nan] + [1.0] * 6))
    assert _sorted_many([tabs[1], nan], "total_usd", descending=True) is None
    null = tabs[2].set_column(2, "i", pa.array([None] + [1] * 6, pa.int64()))
    assert _sorted_many([null], "i") is None
    assert _sorted_many([tabs[2], tabs[2].drop_columns(["i"])], "row") is None  # two schemas


def pc_sort(t: pa.Table, key: str, order: str) -> pa.Array:
    import pyarrow.compute as pc

    return pc.sort_indices(t, sort_keys=[(key, order)])
