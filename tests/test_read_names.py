"""Reading a block of names from stored Parquet files: ``read_names`` (row groups chosen by
statistics, rows found by dictionary codes) against pyarrow's own filtered read, and the
rows of each name against a filter per name, on files written as several sorted runs (as
ingest writes a file larger than one batch)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chainlens.errors import StoreError
from chainlens.runners.local import _rows_each, _rows_eq
from chainlens.store import names_filter, read_partition, read_partition_rows
from chainlens.store._reading import read_name_rows, read_names

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


def _ref_read(path: Path, want: list[str], columns: list[str] | None = None) -> pa.Table:
    """The independent reference: pyarrow's dataset read with the ``isin`` filter."""
    return pq.read_table(path, filters=names_filter("underlying", want), columns=columns)


def _rich_table(seed: int, runs: int, nulls: bool) -> pa.Table:
    """Sorted runs of names with string columns of every storage: low-cardinality
    (dictionary-encoded), unique (plain), nullable, and numbers."""
    t = _runs_table(seed, runs)
    rng = np.random.default_rng(seed)
    n = t.num_rows
    code = rng.choice(["C", "P"], n).tolist()
    venue = [None if nulls and rng.random() < 0.2 else str(v) for v in rng.choice(["X", "Q"], n)]
    sym = [f"S{i:07d}" for i in rng.permutation(n)]
    return (
        t.append_column("right", pa.array(code, pa.string()))
        .append_column("venue", pa.array(venue, pa.string()))
        .append_column("symbol", pa.array(sym, pa.string()))
    )


PICKS = [
    [],
    ["N000"],
    ["N059", "N000"],
    ["ZZZ", "N010"],  # a name absent from the file
    ["N010", "N010", "N011"],  # a repeat
    NAMES[20:40],
    NAMES[::3],  # scattered: many kept segments
    NAMES,
]


@pytest.mark.parametrize("runs", [1, 3, 12])
@pytest.mark.parametrize("layout", ["stats", "nostats", "plain", "fallback"])
def test_read_name_rows_equal_the_dataset_filter(tmp_path: Path, runs: int, layout: str) -> None:
    """``read_name_rows``: the table equals pyarrow's filtered read (rows, order, types,
    field metadata), and ``by_name`` the rows of each name in file order, whatever the
    files' storage: statistics or not, strings plain, or dictionaries falling back to plain
    part-way through a column."""
    t = _rich_table(runs, runs, nulls=True)
    t = t.replace_schema_metadata({"k": "v"})
    t = t.cast(t.schema.with_metadata({"k": "v"}).set(
        2, t.schema.field("x").with_metadata({"unit": "USD"})))  # fmt: skip
    path = tmp_path / "f.parquet"
    kw: dict[str, object] = {"row_group_size": 37, "write_statistics": layout != "nostats"}
    if layout == "plain":
        kw["use_dictionary"] = False
    if layout == "fallback":
        kw["dictionary_pagesize_limit"] = 64  # the symbols' dictionary overflows: plain pages
        kw["data_page_size"] = 64
    pq.write_table(t, path, **kw)  # type: ignore[arg-type]
    for want in PICKS:
        ref = _ref_read(path, want)
        rows = read_name_rows(path, "underlying", want, None)
        assert rows.table.schema.equals(ref.schema, check_metadata=True), want
        assert rows.table.equals(ref), want
        got = rows.by_name()
        present = sorted(set(ref.column("underlying").to_pylist()))
        assert sorted(got) == present, want
        for u in present:
            one = ref.filter(pc.equal(ref.column("underlying"), u))
            assert got[u].equals(one), (want, u)
            assert got[u].schema.equals(ref.schema, check_metadata=True)
        cols = ["venue", "x"]
        sub = read_name_rows(path, "underlying", pa.array(want, pa.string()), cols)
        assert sub.table.schema.equals(_ref_read(path, want, cols).schema, check_metadata=True)
        assert sub.table.equals(_ref_read(path, want, cols)), want
        assert {u: v.num_rows for u, v in sub.by_name().items()} == {
            u: v.num_rows for u, v in got.items()
        }


def test_read_name_rows_null_keys_never_match(tmp_path: Path) -> None:
    t = pa.table(
        {
            "underlying": pa.array(["A", None, "A", "B", None, "B"], pa.string()),
            "x": pa.array(np.arange(6)),
        }
    )
    path = tmp_path / "n.parquet"
    pq.write_table(t, path, row_group_size=4)
    for want in (["A"], ["A", "B"], ["B", "Z"]):
        ref = _ref_read(path, want)
        rows = read_name_rows(path, "underlying", want, None)
        assert rows.table.equals(ref), want
        assert {u: v.column("x").to_pylist() for u, v in rows.by_name().items()} == {
            u: [
                x
                for k, x in zip(t.column("underlying").to_pylist(), range(6), strict=True)
                if k == u
            ]
            for u in want
            if u in ("A", "B")
        }


@pytest.mark.parametrize("runs", [1, 2, 5, 40])
def test_by_name_equals_filter_per_name(tmp_path: Path, runs: int) -> None:
    """Files written as many short sorted runs: each name's rows, in file order (the
    grouping ``take`` when the runs outnumber the names)."""
    t = _runs_table(100 + runs, runs)
    path = tmp_path / "r.parquet"
    pq.write_table(t, path, row_group_size=1000)
    got = read_name_rows(path, "underlying", NAMES, None).by_name()
    present = sorted(set(t.column("underlying").to_pylist()))
    assert sorted(got) == present
    for u in present:
        ref = t.filter(pc.equal(t.column("underlying"), u))  # the rows of u, in row order
        assert got[u].equals(ref), u


def test_read_partition_rows_conforms_to_the_kind(tmp_path: Path) -> None:
    """``read_partition_rows`` gives ``read_partition``'s canonical table, split by name."""
    from chainlens import schema

    rng = np.random.default_rng(3)
    n = 300
    names = np.sort(rng.choice(["AAA", "BBB", "CCC", "DDD"], n))
    t = pa.table(
        {
            "ts": pa.array(np.arange(n) * 10**9, pa.timestamp("ns", tz="UTC")),
            "trade_date": pa.array([dt.date(2024, 3, 8)] * n, pa.date32()),
            "ticker": pa.array(names.tolist(), pa.string()),
            "price": pa.array(rng.normal(size=n) + 50.0),
            "size": pa.array(rng.integers(1, 1000, n)),
        }
    )
    (tmp_path / "prints").mkdir()
    pq.write_table(t, tmp_path / "prints" / "p.parquet", row_group_size=64)
    want = ["BBB", "DDD", "EEE"]
    ref = read_partition(tmp_path, "prints/p.parquet", "prints", names=("ticker", want))
    ds_ref = schema.conform(
        pq.read_table(tmp_path / "prints" / "p.parquet", filters=names_filter("ticker", want)),
        schema.PRINTS,
    )
    assert ref.equals(ds_ref) and ref.schema.equals(schema.PRINTS, check_metadata=True)
    rows = read_partition_rows(tmp_path, "prints/p.parquet", "prints", "ticker", want)
    assert rows.table.equals(ds_ref)
    by = rows.by_name()
    assert sorted(by) == ["BBB", "DDD"]
    for u, part in by.items():
        assert part.equals(ds_ref.filter(pc.equal(ds_ref.column("ticker"), u)))
        assert part.schema.equals(schema.PRINTS, check_metadata=True)


def test_rows_each_equals_a_filter_per_name() -> None:
    """The runner's bars and events per name: ``_rows_each`` equals ``_rows_eq`` of each
    name (events: and the market-wide ``*``), in row order, nulls never matching."""
    rng = np.random.default_rng(11)
    tick = rng.choice(["A", "B", "C", "*", None], 200).tolist()  # type: ignore[arg-type]
    t = pa.table({"ticker": pa.array(tick, pa.string()), "v": pa.array(np.arange(200))})
    t = pa.concat_tables([t.slice(0, 70), t.slice(70)])  # two chunks
    names = ["A", "B", "Z", "C"]
    for shared in (None, "*"):
        got = _rows_each(t, "ticker", names, shared)
        for u, g in zip(names, got, strict=True):
            ref = _rows_eq(t, "ticker", [u] if shared is None else [u, shared])
            assert g is not None and g.equals(ref), (u, shared)
    srt = t.sort_by("ticker")  # contiguous rows: slices
    for u, g in zip(names, _rows_each(srt, "ticker", names), strict=True):
        assert g is not None and g.equals(_rows_eq(srt, "ticker", [u]))
    assert _rows_each(None, "ticker", names) == [None] * 4
    assert _rows_each(t.slice(0, 0), "ticker", ["A"])[0].num_rows == 0  # type: ignore[union-attr]


def test_boundary_group_without_the_names_is_skipped(tmp_path: Path) -> None:
    """Two sorted runs: the row group across their boundary spans [N0.., N59] and holds
    none of the middle names; its key is read, no other column (the rows are those of the
    reference)."""
    from chainlens.store import _reading

    one = pa.table({"underlying": [u for u in NAMES for _ in range(10)], "x": range(600)})
    t = pa.concat_tables([one, one])
    path = tmp_path / "b.parquet"
    pq.write_table(t, path, row_group_size=64)  # group 9: rows 576..639, both runs' ends
    want = ["N030", "N031"]
    info = _reading._file_info(path)
    spans = _reading._groups(info, 0, _reading._sorted_names(want))
    assert 9 in spans  # the statistics cannot rule the boundary group out
    rows = read_name_rows(path, "underlying", want, None)
    ref = _ref_read(path, want)
    assert rows.table.equals(ref) and rows.table.num_rows == 40
    assert rows.table.column("x").num_chunks == 2  # one group per run, not the boundary's
    assert {u: v.num_rows for u, v in rows.by_name().items()} == {"N030": 20, "N031": 20}


def test_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    """The footer cache is keyed by the file's size and time: a file replaced in place (a
    re-ingest) is never read through the old footer."""
    import os

    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"underlying": ["A", "B"], "x": [1, 2]}), path)
    assert read_names(path, "underlying", ["B"], None).column("x").to_pylist() == [2]
    pq.write_table(pa.table({"underlying": ["A", "B", "B", "C"], "x": [1, 5, 6, 7]}), path)
    os.utime(path, ns=(1, 1))
    assert read_names(path, "underlying", ["B"], None).column("x").to_pylist() == [5, 6]
