"""Staged results files: the chunks are combined before the write and the row-group size
is worked out from the combined table (``chainlens.store._stage.row_group_rows``); the files
are byte for byte those the chunked table gave (row groups from its own ``nbytes``; the
columns of large values, documents, keep their chunks: their pages end where they did)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainlens.store import _stage
from chainlens.store._stage import (
    COMPRESSION,
    _dictionary_columns,
    _flat,
    _group_rows,
    _statistics_columns,
    file_checksum,
    nbytes_slack,
    row_group_rows,
    stage_results_file,
)


def _table(rng: np.random.Generator, rows: int, doc_bytes: int = 0) -> pa.Table:
    """A part-like table: sorted underlyings, strings, doubles with NaN, bools, nulls,
    lists, and optionally large strings (documents)."""
    und = np.sort(rng.choice([f"U{i:03d}" for i in range(40)], rows)).astype(object)
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.05] = np.nan
    cols = {
        "underlying": pa.array(und, pa.string()),
        "strike": pa.array(rng.integers(1, 500, rows) * 0.5),
        "x": pa.array(x, mask=rng.random(rows) < 0.1),
        "flag": pa.array(rng.random(rows) < 0.5, mask=rng.random(rows) < 0.2),
        "n": pa.array(rng.integers(-5, 5, rows), pa.int64()),
        "label": pa.array([None if i % 7 == 0 else f"l{i % 13}" for i in range(rows)]),
        "tags": pa.array([[f"t{i % 3}"] * (i % 4) for i in range(rows)], pa.list_(pa.string())),
    }
    if doc_bytes:
        cols["doc"] = pa.array(["{" + "a" * (doc_bytes + i % 97) + "}" for i in range(rows)])
    return pa.table(cols)


def _chunked(t: pa.Table, rng: np.random.Generator, pieces: int) -> pa.Table:
    """``t`` (the same rows) as many chunks, each a slice of a larger table (as a block's parts:
    slices of chunk-wide buffers)."""
    cuts = np.unique(np.r_[0, rng.integers(0, t.num_rows, pieces), t.num_rows])
    big = pa.concat_tables([t, t]).combine_chunks()
    return pa.concat_tables(
        [
            big.slice(int(a) + t.num_rows, int(b - a))
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        ]
    )


def _write_chunked(t: pa.Table, path: Path) -> None:
    """The write before the change: the chunked table, row groups from its own nbytes."""
    pq.write_table(
        t,
        path,
        row_group_size=_group_rows(t.nbytes, t.num_rows),
        compression=COMPRESSION,
        use_dictionary=_dictionary_columns(t.column_names),
        write_statistics=_statistics_columns(t.column_names),
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("rows", "doc"), [(0, 0), (1, 0), (3000, 0), (40_000, 0), (300, 60_000)])
def test_nbytes_slack_and_row_group_rows_are_exact(seed: int, rows: int, doc: int) -> None:
    rng = np.random.default_rng(seed)
    t = _chunked(_table(rng, rows, doc), rng, 1 + rows // 50) if rows else _table(rng, 0)
    c = t.combine_chunks()
    for a, b in zip(t.columns, c.columns, strict=True):
        if _flat(a.type):
            assert abs(a.nbytes - b.nbytes) <= nbytes_slack(t.num_rows, a.num_chunks)
    assert row_group_rows(t, c) == _group_rows(t.nbytes, t.num_rows) or (
        min(row_group_rows(t, c), _group_rows(t.nbytes, t.num_rows)) >= t.num_rows
    )


def test_row_group_rows_walks_the_chunks_near_the_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A table whose size lies on a row-group boundary: the bounds disagree, the chunks are
    walked and the answer is the chunked table's."""
    rng = np.random.default_rng(3)
    t = _chunked(_table(rng, 2000), rng, 40)
    exact = _group_rows(t.nbytes, t.num_rows)
    target = t.nbytes / t.num_rows * 500  # 500 rows per group, at the exact size
    monkeypatch.setattr(_stage, "ROW_GROUP_BYTES", int(target))
    c = t.combine_chunks()
    assert row_group_rows(t, c) == _group_rows(t.nbytes, t.num_rows) != exact


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("rows", "doc"), [(5, 0), (5000, 0), (40_000, 0), (400, 40_000), (3000, 300), (2000, 3000)]
)
def test_staged_file_is_the_chunked_tables_file(
    tmp_path: Path, seed: int, rows: int, doc: int
) -> None:
    rng = np.random.default_rng(seed)
    t = _chunked(_table(rng, rows, doc), rng, 1 + rows // 30)
    f = stage_results_file(t, tmp_path, "part")
    _write_chunked(t, tmp_path / "old.parquet")
    assert f.checksum == file_checksum(tmp_path / "old.parquet")
    assert f.rows == t.num_rows
    back = pq.read_table(f.path)
    assert back.schema.equals(t.schema, check_metadata=False)
    assert repr(back.to_pylist()) == repr(t.to_pylist())  # NaN written as NaN
    old = pq.read_table(tmp_path / "old.parquet")
    assert back.schema.equals(old.schema) and repr(back.to_pylist()) == repr(old.to_pylist())
    md = pq.read_metadata(f.path)
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [
        min(_group_rows(t.nbytes, rows), rows - i)
        for i in range(0, rows, _group_rows(t.nbytes, rows))
    ]
