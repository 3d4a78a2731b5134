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
