"""A name's rows of a Parquet read as pieces (issue 13): ``NameRows.pieces_by_name`` gives,
per name, pieces whose concatenation is ``by_name``'s table (the rows of a filter per name),
for files of one sorted run, a few runs and many short runs; the runner joins a name's
pieces of several files with one concatenation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chainlens.runners.local import _by_name, _joined
from chainlens.store._reading import read_name_rows

NAMES = [f"N{i:03d}" for i in range(40)]


def _runs(seed: int, runs: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(runs):  # each run sorted by name, as ingest writes a file's batches
        names = np.sort(rng.choice(NAMES, size=int(rng.integers(30, 300))))
        parts.append(pa.table({"underlying": names.tolist(), "run": [r] * names.size,
                               "x": rng.normal(size=names.size)}))  # fmt: skip
    return pa.concat_tables(parts)


@pytest.mark.parametrize("runs", [1, 2, 3, 40])
def test_pieces_join_to_the_rows_of_each_name(tmp_path: Path, runs: int) -> None:
    t = _runs(runs, runs)
    path = tmp_path / "f.parquet"
    pq.write_table(t, path, row_group_size=29)
    for want in (["N003"], NAMES[5:25], NAMES):
        rows = read_name_rows(path, "underlying", want, None)
        pieces, whole = rows.pieces_by_name(), rows.by_name()
        assert sorted(pieces) == sorted(whole)
        for u, ps in pieces.items():
            one = t.filter(pc.equal(t.column("underlying"), u))
            assert _joined(ps).equals(one) and whole[u].equals(one), (runs, u)


def test_pieces_of_several_files_join_once(tmp_path: Path) -> None:
    """Per name, the pieces of each file in file order: one concatenation gives the rows of
    the files read one after the other."""
    tables = [_runs(s, 3) for s in (1, 2)]
    paths = []
    for i, t in enumerate(tables):
        paths.append(tmp_path / f"f{i}.parquet")
        pq.write_table(t, paths[-1], row_group_size=31)
    got = _by_name([read_name_rows(p, "underlying", NAMES, None).pieces_by_name() for p in paths])
    both = pa.concat_tables(tables)
    for u in NAMES:
        one = both.filter(pc.equal(both.column("underlying"), u))
        if one.num_rows:
            assert _joined(got[u]).equals(one), u
        else:
            assert u not in got
