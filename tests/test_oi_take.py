"""``chainlens.oi._panel.take_rows`` against Arrow's own ``take`` (the reference)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from chainlens.oi._panel import take_rows


def _table(chunks: list[int]) -> pa.Table:
    parts, base = [], 0
    for n in chunks:
        i = np.arange(base, base + n)
        parts.append(
            pa.table(
                {
                    "sym": pa.array([f"S{k}" if k % 7 else None for k in i], pa.string()),
                    "x": pa.array(i.astype(np.float64)),
                }
            )
        )
        base += n
    return pa.concat_tables(parts)


@pytest.mark.parametrize("chunks", [[5], [3, 0, 4, 9], [1, 1, 1], [50, 20, 30]])
def test_take_rows_equals_arrow_take(chunks: list[int]) -> None:
    t = _table(chunks)
    rng = np.random.default_rng(len(chunks))
    for rows in (
        rng.integers(0, t.num_rows, 40),  # any order, repeats
        np.arange(t.num_rows)[::-1],
        np.zeros(0, np.int64),
        np.array([t.num_rows - 1]),
    ):
        want = t.take(pa.array(rows, pa.int64()))
        assert take_rows(t, rows).equals(want)
        assert take_rows(t.column("sym"), rows).equals(want.column("sym"))


def test_take_rows_out_of_range() -> None:
    t = _table([3, 4])
    with pytest.raises(IndexError):
        take_rows(t, np.array([0, 7]))


@pytest.mark.parametrize(
    ("value", "dtype"), [(np.nan, np.float64), (-1, np.int32), (-1, np.int64), (2.5, np.float64)]
)
def test_filled_and_empty_match_numpy(value: float, dtype: type) -> None:
    """The compiled allocators (used past 2**20 elements) against np.full / np.empty."""
    from chainlens.oi import _kernels

    shape = ((1 << 20) // 4 + 3, 4)  # past the threshold, not a power of two
    got = _kernels.filled(shape, value, dtype)
    want = np.full(shape, value, dtype)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    e = _kernels.empty((1 << 20) + 1, dtype)
    assert e.shape == ((1 << 20) + 1,) and e.dtype == np.dtype(dtype)
    assert e.flags.writeable and e.flags.c_contiguous
