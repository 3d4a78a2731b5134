"""The runner's bars and events per name (``runners.local._rows_each``: one ``take`` of every
name's rows, a slice each) equal a filter per name, on random tables: nulls, the shared
``*`` rows, names absent or given twice, several chunks, no names."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from chainlens.runners.local import _rows_each, _rows_eq


@pytest.mark.parametrize("seed", range(8))
def test_rows_each_equals_a_filter_per_name_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    pool = ["A", "B", "C", "D", "*", None]
    tick = [pool[i] for i in rng.integers(0, len(pool), n)]
    t = pa.table(
        {
            "ticker": pa.array(tick, pa.string()),
            "v": pa.array(rng.normal(size=n)),
            "k": pa.array([None if i % 5 == 0 else f"k{i}" for i in range(n)], pa.string()),
        }
    )
    cut = int(rng.integers(0, n + 1))
    t = pa.concat_tables([t.slice(0, cut), t.slice(cut)])  # two chunks
    for shared in (None, "*", "Q"):
        names = ["B", "Z", "A", "B", "D", "C"] + (["*"] if shared is None else [])
        got = _rows_each(t, "ticker", names, shared)
        assert len(got) == len(names)
        for u, g in zip(names, got, strict=True):
            ref = _rows_eq(t, "ticker", [u] if shared is None else [u, shared])
            assert g is not None and g.equals(ref), (u, shared)
            assert g.schema.equals(t.schema, check_metadata=True)
    assert _rows_each(t, "ticker", [], "*") == []
    assert _rows_each(None, "ticker", names) == [None] * len(names)
