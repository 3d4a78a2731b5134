"""``Store.ingest_many`` with several files staged at once gives what one-by-one ingests give.

The reference is the sequential path (``workers=1``, the same code as ``Store.ingest``) on
the same inputs: results (status, counts, rejects), the catalog's sessions and the stored
chains must be identical, in input order, for a mix of verbatim, re-encoded, partly
rejected, wholly rejected, duplicate and unreadable files.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pytest

from chainlens.store import Store
from test_ingest_fastpath import DAY, TS, canonical_chain, published_verbatim, sessions_view, write


def _shift(t: pa.Table, days: int) -> pa.Table:
    """The same chain one or more sessions later (trade_date and snapshot moved)."""
    d = DAY + dt.timedelta(days=days)
    t = t.set_column(0, t.schema.field(0), pa.array([d] * t.num_rows, pa.date32()))
    ts = pa.array([TS + dt.timedelta(days=days)] * t.num_rows, pa.timestamp("ns", tz="UTC"))
    return t.set_column(1, t.schema.field(1), ts)


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    base = canonical_chain(n_und=8, n_strikes=20)  # expiries from 2024-03-08
    src = tmp_path / "in"
    src.mkdir()
    files = [
        write(base, src / "a_verbatim.parquet"),
        write(_shift(base, 1), src / "b_small_groups.parquet", row_group_size=300),  # re-encoded
        write(base, src / "c_same_as_a.parquet"),  # same bytes as a: unchanged
    ]
    bad = _shift(base, 2)
    vol = bad["volume"].to_pylist()
    vol[5] = -1
    bad = bad.set_column(bad.schema.get_field_index("volume"), "volume", pa.array(vol, pa.int64()))
    files.append(write(bad, src / "d_one_reject.parquet"))
    files.append(write(bad, src / "d_same_as_d.parquet"))  # in flight with d: same rejects file
    allbad = _shift(base, 3)
    files.append(
        write(
            allbad.set_column(
                allbad.schema.get_field_index("strike"),
                allbad.schema.field("strike"),
                pa.array([-1.0] * allbad.num_rows),
            ),
            src / "e_all_rejected.parquet",
        )
    )
    (src / "f_not_data.txt").write_text("hello\n")
    files.append(src / "f_not_data.txt")
    files.append(write(_shift(base, 4), src / "g_verbatim.parquet"))
    return files


def _view(r) -> tuple:
    rej = None if r.rejects_path is None else pa.csv.read_csv(r.rejects_path).to_pylist()
    return (
        Path(r.path).name,
        r.status,
        r.format,
        r.rows_read,
        r.accepted,
        r.rejected,
        r.kinds,
        rej,
    )


def test_parallel_equals_sequential(tmp_path: Path, inputs: list[Path]) -> None:
    seen: list[str] = []
    with Store(tmp_path / "seq") as a, Store(tmp_path / "par") as b:
        ra = a.ingest_many(inputs, workers=1)
        rb = b.ingest_many(inputs, workers=2, on_file=lambda r: seen.append(Path(r.path).name))
        assert [_view(r) for r in ra] == [_view(r) for r in rb]
        assert seen == [p.name for p in inputs]  # published in input order
        assert [r.status for r in rb] == [
            "ingested",
            "ingested",
            "unchanged",
            "ingested",
            "unchanged",
            "failed",
            "failed",
            "ingested",
        ]
        assert sessions_view(a) == sessions_view(b)
        for d in a.session_dates():
            for u in a.underlyings(d):
                assert a.chain(u, d).equals(b.chain(u, d))
        assert published_verbatim(b.root, inputs[0]) and published_verbatim(b.root, inputs[-1])
        assert not published_verbatim(b.root, inputs[1])
        assert b.chain("U003", DAY).equals(
            canonical_chain(n_und=8, n_strikes=20).filter(pc.equal(pc.field("underlying"), "U003"))
        )
    # nothing left in the staging area of either store
    for s in ("seq", "par"):
        assert not any((tmp_path / s / "tmp").iterdir())


def test_parallel_ingest_of_a_directory_is_idempotent(tmp_path: Path, inputs: list[Path]) -> None:
    with Store(tmp_path / "s") as st:
        first = st.ingest_many([inputs[0].parent])
        again = st.ingest_many([inputs[0].parent])
    assert len(first) == len(again) == len(inputs)
    assert all(r.status in ("unchanged", "failed") for r in again)
    assert [r.rows_read for r in again if r.status == "unchanged"] == [
        r.rows_read for r in first if r.status in ("ingested", "unchanged")
    ]


KILL_MANY = textwrap.dedent(
    """
    import os, sys, time
    from chainlens.store import Store
    store, src, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    real, seen = os.replace, []
    def replace(a, b):  # publishing: kill after the `after`-th file is moved into place
        real(a, b)
        seen.append(b)
        if len(seen) == after:
            print("KILLME", flush=True)
            time.sleep(120)
    os.replace = replace
    with Store(store) as st:
        st.ingest_many([src], workers=2)
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("after", [1, 3])
def test_sigkill_during_parallel_ingest_keeps_whole_files_only(
    tmp_path: Path, inputs: list[Path], after: int
) -> None:
    """kill -9 while ``ingest_many`` publishes (other files being staged on threads): the files
    committed before stay, the one being published is rolled back on the next open, nothing
    half-written is visible, and ingesting again gives the store a clean ingest gives."""
    store = tmp_path / "store"
    with subprocess.Popen(
        [sys.executable, "-c", KILL_MANY, str(store), str(inputs[0].parent), str(after)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "KILLME"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with Store(store) as st:  # opening read-write cleans leftovers
        assert not any((store / "tmp").iterdir())
        files = {r[0] for r in st.con.execute("SELECT file FROM files").fetchall()}
        on_disk = {str(p.relative_to(store)) for p in (store / "chain").rglob("*.parquet")}
        assert files == on_disk
        assert len({r[0] for r in st.con.execute("SELECT source_id FROM sources").fetchall()}) < 6
        st.ingest_many([inputs[0].parent])
        got = sessions_view(st)
    with Store(tmp_path / "clean") as ref:
        ref.ingest_many([inputs[0].parent])
        assert got == sessions_view(ref)
