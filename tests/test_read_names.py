"""Reading a block of names from stored Parquet files: ``read_names`` (row groups chosen by
statistics) against pyarrow's own filtered read, and the runner's ``_split`` against a filter
per name, on files written as several sorted runs (as ingest writes a file larger than one
batch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chainlens.errors import StoreError
from chainlens.runners.local import _split
from chainlens.store import names_filter, read_partition
from chainlens.store._reading import read_names

NAMES = [f"N{i:03d}" for i in range(60)]


def _runs_table(seed: int, runs: int) -> pa.Table:
    """``runs`` batches, each sorted by name (as the stager writes them), concatenated."""
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(runs):
        names = np.sort(rng.choice(NAMES, size=int(rng.integers(50, 400))))
        parts.append(
            pa.table(
                {
                    "underlying": pa.array(names.tolist(), pa.string()),
                    "run": pa.array(np.full(names.size, r), pa.int64()),
                    "x": pa.array(rng.normal(size=names.size)),
                }
            )
        )
    return pa.concat_tables(parts)


@pytest.mark.parametrize("runs", [1, 3, 12])
@pytest.mark.parametrize("stats", [True, False])
def test_read_names_equals_filtered_read(tmp_path: Path, runs: int, stats: bool) -> None:
    t = _runs_table(runs, runs)
    path = tmp_path / "f.parquet"
    pq.write_table(t, path, row_group_size=37, write_statistics=stats)
    rng = np.random.default_rng(7)
    picks = [
        [],
        ["N000"],
        ["N059", "N000"],
        ["ZZZ", "N010"],  # a name absent from the file
        sorted(rng.choice(NAMES, 15, replace=False).tolist()),
        NAMES[20:40],
        NAMES,
    ]
    for want in picks:
        ref = pq.read_table(path, filters=names_filter("underlying", want))
        got = read_names(path, "underlying", want, None)
        assert got.equals(ref), want
        got_cols = read_names(path, "underlying", pa.array(want, pa.string()), ["x"])
        assert got_cols.column_names == ["x"]
        assert got_cols.column("x").equals(ref.column("x")), want


def test_read_partition_names_keeps_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="missing"):
        read_partition(tmp_path, "trades/none.parquet", "trades", names=("underlying", ["A"]))
    bad = tmp_path / "trades" / "bad.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 not a parquet file PAR1")
    with pytest.raises(StoreError, match="damaged"):
        read_partition(tmp_path, "trades/bad.parquet", "trades", names=("underlying", ["A"]))


@pytest.mark.parametrize("runs", [1, 2, 5, 40])
def test_split_equals_filter_per_name(runs: int) -> None:
    t = _runs_table(100 + runs, runs)
    got = _split(t, "underlying")
    present = sorted(set(t.column("underlying").to_pylist()))
    assert sorted(got) == present
    for u in present:
        ref = t.filter(pc.equal(t.column("underlying"), u))  # the rows of u, in row order
        assert got[u].equals(ref), u
    assert _split(t.slice(0, 0), "underlying") == {}
