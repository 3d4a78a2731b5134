"""The run block's scanner helpers (issue 13): buffer reads equal the Arrow compute calls they
replace, and the per-block underlying check accepts exactly the blocks whose every window
holds its own underlying's rows only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.scan._store_scans import (
    _f64_valid,
    _first_codes,
    _one_per_code,
    _segments_are,
    unusual_block_flows,
)


def _arrow_f64(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    c = col.cast(pa.float64())
    return (pc.fill_null(c, 0.0).to_numpy(zero_copy_only=False),
            pc.is_valid(c).to_numpy(zero_copy_only=False))  # fmt: skip


@pytest.mark.parametrize(
    "arr",
    [
        pa.array([1, None, 3, -4, 2**53], pa.int64()),
        pa.array([1, 2, 3], pa.int32()),
        pa.array([None, None], pa.int8()),
        pa.array([1.5, None, float("nan"), -0.0], pa.float64()),
        pa.array([1.25, None, 3.5], pa.float32()),
        pa.array([7, None, 9], pa.uint16()),
        pa.array([], pa.int64()),
        pa.array(["x"], pa.string()).cast(pa.string()).slice(0, 0).cast(pa.int64()),
    ],
)
def test_f64_valid_equals_the_arrow_cast(arr: pa.Array) -> None:
    """Values (nulls as 0.0) and validity as ``fill_null(cast(float64), 0.0)`` and
    ``is_valid`` give them, for whole, sliced and chunked columns."""
    cases = [arr, pa.chunked_array([arr, arr]), pa.chunked_array([arr], type=arr.type)]
    if len(arr) > 1:
        cases.append(arr.slice(1))
        cases.append(pa.chunked_array([arr.slice(1), arr.slice(0, 1)]))
    for col in cases:
        got, ref = _f64_valid(col), _arrow_f64(col)
        assert got[0].dtype == np.float64 and got[1].dtype == bool
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
        assert np.array_equal(np.signbit(got[0]), np.signbit(ref[0]))


def test_f64_valid_refuses_what_the_arrow_cast_refuses() -> None:
    big = pa.array([1, 2**53 + 1], pa.int64())
    with pytest.raises(pa.ArrowInvalid):
        _arrow_f64(big)
    with pytest.raises(pa.ArrowInvalid):
        _f64_valid(big)
    # a null slot's stored value does not count
    masked = pa.array([1, 2**62], pa.int64(), mask=np.array([False, True]))
    np.testing.assert_array_equal(_f64_valid(masked)[0], [1.0, 0.0])


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
def test_segments_are(typ: pa.DataType) -> None:
    names = ["AA", "B", "CCC", "Δ"]
    rows = ["AA", "AA", "B", "Δ", "Δ"]  # CCC: a window without rows
    seg = np.array([0, 0, 1, 3, 3])
    col = pa.chunked_array([pa.array(rows[:3], typ), pa.array(rows[3:], typ)])
    assert _segments_are(col, names, seg)
    sliced = pa.chunked_array([pa.array(["zz", *rows, "zz"], typ).slice(1, len(rows))])
    assert _segments_are(sliced, names, seg)
    for bad in (
        ["AA", "B", "B", "Δ", "Δ"],
        ["AA", "AA", "B", "Δ", "Δx"],
        ["AA", "AA", "BB", "Δ", "Δ"],
    ):
        assert not _segments_are(pa.chunked_array([pa.array(bad, typ)]), names, seg), bad
    # same bytes overall, shifted between rows: the lengths differ
    assert not _segments_are(
        pa.chunked_array([pa.array(["A", "AB"], typ)]), ["AA", "B"], np.array([0, 1])
    )
    assert _segments_are(pa.chunked_array([pa.array([], typ)]), names, np.zeros(0, np.int64))
    # rows not grouped by window: the dictionary path decides
    assert _segments_are(pa.chunked_array([pa.array(["B", "AA"], typ)]), names, np.array([1, 0]))
    assert not _segments_are(
        pa.chunked_array([pa.array(["AA", "AA"], typ)]), names, np.array([1, 0])
    )


def test_first_codes_and_one_per_code() -> None:
    sym = pa.chunked_array([pa.array(["b", "a", "b"]), pa.array(["c", "a"])])
    for runs in (False, True):
        code, first, n = _first_codes(sym, runs=runs)
        assert code.tolist() == [0, 1, 0, 2, 1] and first.tolist() == [0, 1, 3] and n == 3
    und = pa.chunked_array([pa.array(["U", "V", "U", "W", "V"])])
    head = und.take(pa.array(first))
    assert _one_per_code(und, head, code, first)
    bad = pa.chunked_array([pa.array(["U", "V", "X", "W", "V"])])
    assert not _one_per_code(bad, bad.take(pa.array(first)), code, first)
    d = dt.date(2024, 3, 15)
    exp = pa.chunked_array([pa.array([d, d, d, d + dt.timedelta(1), d])])
    assert _one_per_code(exp, exp.take(pa.array(first)), code, first)
    exp2 = pa.chunked_array([pa.array([d, d, d + dt.timedelta(1), d, d])])
    assert not _one_per_code(exp2, exp2.take(pa.array(first)), code, first)
    nul = pa.chunked_array([pa.array([d, d, None, d, d], pa.date32())])
    assert not _one_per_code(nul, nul.take(pa.array(first)), code, first)


def _window(u: str, n: int, day: dt.date, other: str | None = None) -> tuple[pa.Table, pa.Table]:
    und = [u] * n if other is None else [u] * (n - 1) + [other]
    h = pa.table(
        {
            "underlying": und,
            "trade_date": pa.array([day] * n, pa.date32()),
            "volume": pa.array(list(range(n)), pa.int64()),
            "bid": [1.0] * n,
            "ask": [1.2] * n,
            "last": [1.1] * n,
            "multiplier": pa.array([100] * n, pa.int32()),
        }
    )
    t = pa.table(
        {
            "underlying": [u, u],
            "trade_date": pa.array([day, day], pa.date32()),
            "price": [1.0, 2.0],
            "size": pa.array([3, 4], pa.int64()),
            "multiplier": pa.array([100, 100], pa.int32()),
        }
    )
    return h, t


def test_unusual_block_flows_refuses_a_window_of_another_underlying() -> None:
    """The block's flows are given when every window holds its underlying's rows only, and
    None (the run then scans the session) when a chain or trade row belongs to another."""
    day = dt.date(2024, 3, 8)
    (ha, ta), (hb, tb) = _window("AAA", 4, day), _window("BB", 3, day)
    got = unusual_block_flows(["AAA", "BB"], [ha, hb], [ta, tb], day)
    assert got is not None and got.column("underlying").to_pylist() == ["AAA", "BB"]
    assert got.column("volume").to_pylist() == [6.0, 3.0]
    h_bad, _ = _window("BB", 3, day, other="AAA")
    assert unusual_block_flows(["AAA", "BB"], [ha, h_bad], [ta, tb], day) is None
    t_bad = tb.set_column(0, "underlying", pa.array(["BB", "AAA"]))
    assert unusual_block_flows(["AAA", "BB"], [ha, hb], [ta, t_bad], day) is None
    assert unusual_block_flows(["AAA", "BB"], [hb, ha], [ta, tb], day) is None  # swapped
