"""``one_chunk``: a single-chunk column read in place (``combine_chunks`` copies even one
chunk), the same values as ``combine_chunks`` for any chunking, and the column readers that
use it (``scan._kernels.column``, ``scan._store_scans._f64_valid``, ``arrow_codes``) giving
what they gave on the combined column, sliced chunks (an offset) included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from chainlens.oi._encode import arrow_codes, one_chunk
from chainlens.scan import _kernels
from chainlens.scan._store_scans import _f64_valid


def _chunkings(arr: pa.Array) -> list[pa.ChunkedArray]:
    n = len(arr)
    return [
        pa.chunked_array([arr]),
        pa.chunked_array([arr.slice(3, n - 5)]),  # one sliced chunk: an offset
        pa.chunked_array([arr.slice(0, 7), arr.slice(7)]),
        pa.chunked_array([], arr.type),
    ]


@pytest.mark.parametrize(
    "arr",
    [
        pa.array(np.arange(40, dtype=np.int64)),
        pa.array([1.5, None, 3.0, None] * 10, pa.float64()),
        pa.array([None if i % 3 == 0 else i for i in range(40)], pa.int32()),
        pa.array([f"S{i % 7}" for i in range(40)], pa.string()),
        pa.array([f"S{i % 5}" for i in range(40)], pa.large_string()),
    ],
)
def test_one_chunk_equals_combine_chunks(arr: pa.Array) -> None:
    for col in _chunkings(arr):
        got = one_chunk(col)
        want = col.combine_chunks()
        assert isinstance(got, pa.Array) and got.type == want.type
        assert got.equals(want)
    assert one_chunk(arr) is arr


def test_one_chunk_does_not_copy_a_single_chunk() -> None:
    arr = pa.array(np.arange(1000, dtype=np.int64))
    got = one_chunk(pa.chunked_array([arr]))
    assert got.buffers()[1].address == arr.buffers()[1].address


@pytest.mark.parametrize(
    "arr",
    [
        pa.array(np.arange(40, dtype=np.int64) - 20),
        pa.array([1.5, None, 3.0, None] * 10, pa.float64()),
        pa.array([None if i % 3 == 0 else i for i in range(40)], pa.int32()),
    ],
)
def test_readers_on_single_and_sliced_chunks(arr: pa.Array) -> None:
    for col in _chunkings(arr):
        ref = col.combine_chunks()
        got, want = _kernels.column(col), _kernels.column(ref)
        assert got is not None and want is not None
        assert np.array_equal(got[0][got[1].astype(bool)] if got[1].size else got[0],
                              want[0][want[1].astype(bool)] if want[1].size else want[0])  # fmt: skip
        assert np.array_equal(got[1], want[1])
        v, ok = _f64_valid(col)
        v2, ok2 = _f64_valid(ref)
        assert np.array_equal(v, v2) and np.array_equal(ok, ok2)


def test_arrow_codes_on_single_and_sliced_chunks() -> None:
    arr = pa.array([f"S{(i * 7) % 11}" for i in range(60)], pa.string())
    for col in _chunkings(arr):
        c, d = arrow_codes(col)
        c2, d2 = arrow_codes(col.combine_chunks())
        assert np.array_equal(c, c2) and d.equals(d2)
