"""``chainlens.store.names_filter``: the rows of ``isin``, with row groups pruned by statistics."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from chainlens.store import names_filter


def _file(tmp_path: Path) -> Path:
    names = [f"U{i:03d}" for i in range(50) for _ in range(100)]  # sorted, 100 rows each
    t = pa.table({"underlying": names, "x": list(range(len(names)))})
    path = tmp_path / "t.parquet"
    pq.write_table(t, path, row_group_size=500)  # 10 groups of 5 names each
    return path


def test_same_rows_as_isin(tmp_path: Path) -> None:
    path = _file(tmp_path)
    want = ["U007", "U003", "U021"]
    got = pq.read_table(path, filters=names_filter("underlying", want))
    ref = pq.read_table(path)
    ref = ref.filter(pc.is_in(ref.column("underlying"), value_set=pa.array(want)))
    assert got.equals(ref)
    assert got.num_rows == 300


def test_row_groups_outside_the_range_are_skipped(tmp_path: Path) -> None:
    """Statistics prune: only the groups whose [min, max] meets [U003, U007] are read
    (``isin`` alone keeps every group)."""
    frag = next(iter(ds.dataset(_file(tmp_path)).get_fragments()))
    names = ["U003", "U007"]
    kept = frag.split_by_row_group(filter=names_filter("underlying", names))
    assert len(kept) == 2  # groups 0 (U000-U004) and 1 (U005-U009)
    alone = frag.split_by_row_group(filter=pc.field("underlying").isin(pa.array(names)))
    assert len(alone) >= len(kept)


def test_no_names_keeps_no_row(tmp_path: Path) -> None:
    got = pq.read_table(_file(tmp_path), filters=names_filter("underlying", []))
    assert got.num_rows == 0
