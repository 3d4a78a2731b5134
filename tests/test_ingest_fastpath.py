"""The verbatim ("zero re-encode") publish of canonical Parquet, and parallel validation.

An input that is already canonical, in the store's sort order, with store-sized row groups and
no reject is published by copying its bytes. These tests check that it then holds exactly the
same answers as the normal (decode, sort, re-encode) path, that anything else falls back to the
normal path with the same rejects, that re-ingest is a no-op, and that a ``kill -9`` during
the verbatim publish leaves the store unchanged. References are the input tables built here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from chainlens import schema
from chainlens.io import _common
from chainlens.store import Store
from chainlens.store import _store as store_mod
from test_store_ingest import snapshot_of_store

DAY = dt.date(2024, 3, 4)
TS = dt.datetime(2024, 3, 4, 21, 15, tzinfo=dt.UTC)
EXPIRIES = [dt.date(2024, 3, 8), dt.date(2024, 3, 15), dt.date(2024, 4, 19)]


def canonical_chain(n_und: int = 40, n_strikes: int = 60, seed: int = 0) -> pa.Table:
    """A canonical chain in the store's sort order (underlying, ts, expiry, strike, right)."""
    rng = np.random.default_rng(seed)
    und = np.array([f"U{i:03d}" for i in range(n_und)])
    e_idx, k_idx, r_idx = np.meshgrid(
        np.arange(len(EXPIRIES)), np.arange(n_strikes), np.arange(2), indexing="ij"
    )
    per = e_idx.size
    u = np.repeat(und, per)
    e = np.tile(e_idx.ravel(), n_und)
    k = np.tile(50.0 + 2.5 * k_idx.ravel(), n_und)
    r = np.tile(np.array(["C", "P"])[r_idx.ravel()], n_und)
    exp = np.array(EXPIRIES, dtype="datetime64[D]")[e]
    yymmdd = np.array([d.strftime("%y%m%d") for d in EXPIRIES])[e]
    strike8 = np.char.zfill((k * 1000).astype(np.int64).astype(str), 8)
    sym = np.char.add(np.char.add(np.char.add(u, yymmdd), r), strike8)
    n = len(u)
    bid = rng.uniform(0.0, 5.0, n)
    ask = bid + rng.uniform(-0.2, 1.0, n)  # some crossed quotes (bid > ask > 0)
    ask = np.where(ask <= 0, 0.05, ask)
    t = pa.table(
        {
            "trade_date": pa.array(np.full(n, np.datetime64(DAY, "D"))),
            "snapshot_ts": pa.array(np.full(n, TS), pa.timestamp("ns", tz="UTC")),
            "underlying": u,
            "root": u,
            "symbol": sym,
            "expiry": pa.array(exp),
            "settlement": np.full(n, "PM"),
            "strike": k,
            "right": r,
            "multiplier": pa.array(np.full(n, 100, np.int32)),
            "bid": bid,
            "ask": ask,
            "volume": rng.integers(0, 1000, n),
            "open_interest": rng.integers(0, 10_000, n),
            "spot": np.full(n, 100.0),
        }
    )
    t = schema.conform(t, schema.CHAIN)
    crossed = pc.fill_null(pc.and_(pc.greater(t["bid"], t["ask"]), pc.greater(t["ask"], 0)), False)
    return t.set_column(t.schema.get_field_index("crossed"), t.schema.field("crossed"), crossed)


def write(t: pa.Table, path: Path, row_group_size: int = 16_384) -> Path:
    pq.write_table(t, path, row_group_size=row_group_size)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_files(root: Path) -> list[Path]:
    return sorted((root / "chain").rglob("*.parquet"))


def published_verbatim(root: Path, src: Path) -> bool:
    """Whether the store holds a byte-identical copy of ``src`` (the verbatim path)."""
    want = sha(src)
    return any(sha(f) == want for f in stored_files(root))


def sessions_view(st: Store) -> list[dict]:
    t = st.sessions().drop_columns(["snapshot_id", "source", "ingested_at"])
    return t.to_pylist()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several verbatim batches per file, so batch boundaries are exercised."""
    monkeypatch.setattr(store_mod, "VERBATIM_BATCH_ROWS", 5_000)
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 5_000)


def test_verbatim_and_normal_paths_give_identical_answers(tmp_path: Path, small_batches) -> None:
    ref = canonical_chain()
    fast = write(ref, tmp_path / "fast.parquet")
    slow = write(ref, tmp_path / "slow.parquet", row_group_size=500)  # groups too small
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        ra, rb = a.ingest(fast), b.ingest(slow)
        for r in (ra, rb):
            assert (r.status, r.rows_read, r.accepted, r.rejected) == (
                "ingested",
                ref.num_rows,
                ref.num_rows,
                0,
            )
        assert ra.format == rb.format == "canonical_parquet"
        assert published_verbatim(a.root, fast)
        assert not published_verbatim(b.root, slow)
        assert sessions_view(a) == sessions_view(b)
        assert [s["contracts"] for s in sessions_view(a)] == [360] * 40
        for u in ("U000", "U017", "U039"):
            want = ref.filter(pc.equal(ref["underlying"], u))
            assert a.chain(u, DAY).equals(want)
            assert b.chain(u, DAY).equals(want)
        assert a.underlyings() == b.underlyings()
        assert pc.sum(a.chain("U017", DAY)["crossed"]).as_py() > 0  # flags kept as stored


def test_reingest_is_a_noop(tmp_path: Path) -> None:
    f = write(canonical_chain(), tmp_path / "c.parquet")
    with Store(tmp_path / "s") as st:
        assert st.ingest(f).status == "ingested"
    before = snapshot_of_store(tmp_path / "s")
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.status, r.rows_read, r.accepted) == ("unchanged", 14_400, 14_400)
    assert snapshot_of_store(tmp_path / "s") == before


def _single_row_change(t: pa.Table, row: int, column: str, value: object) -> pa.Table:
    arr = t[column].combine_chunks().to_pylist()
    arr[row] = value
    i = t.schema.get_field_index(column)
    return t.set_column(i, t.schema.field(i), pa.array(arr, t.schema.field(i).type))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("volume", -5, "negative value"),
        ("strike", 0.0, "strike must be > 0"),
        ("bid", float("nan"), "NaN or inf"),
        ("right", "X", "right must be C or P"),
    ],
)
def test_one_bad_row_takes_the_normal_path_with_its_reject(
    tmp_path: Path, small_batches, column: str, value: object, reason: str
) -> None:
    ref = canonical_chain()
    bad_row = 9_001  # 0-based; the reject cites the 1-based row 9002, in the 2nd batch
    f = write(_single_row_change(ref, bad_row, column, value), tmp_path / "bad.parquet")
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.status, r.rows_read, r.accepted, r.rejected) == (
            "ingested",
            ref.num_rows,
            ref.num_rows - 1,
            1,
        )
        assert not published_verbatim(st.root, f)
        rej = pa.csv.read_csv(r.rejects_path).to_pylist()
        assert [(x["row"], x["column"], x["reason"]) for x in rej] == [
            (bad_row + 1, column, reason)
        ]
        u = ref["underlying"][bad_row].as_py()
        want = ref.filter(pc.equal(ref["underlying"], u))
        keep = np.ones(want.num_rows, dtype=bool)
        keep[bad_row - int(np.flatnonzero(ref["underlying"].to_numpy() == u)[0])] = False
        assert st.chain(u, DAY).equals(want.filter(pa.array(keep)))


def test_duplicate_across_batches_is_rejected_naming_the_first_row(
    tmp_path: Path, small_batches
) -> None:
    ref = canonical_chain()
    # Row 12_000 repeats row 3 (same snapshot and symbol, other columns too): a later batch.
    t = pa.concat_tables([ref.slice(0, 12_000), ref.slice(3, 1), ref.slice(12_000)])
    f = write(t, tmp_path / "dup.parquet")
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.rows_read, r.accepted, r.rejected) == (t.num_rows, ref.num_rows, 1)
        rej = pa.csv.read_csv(r.rejects_path).to_pylist()
        assert [(x["row"], x["reason"]) for x in rej] == [
            (12_001, "duplicate contract in snapshot (first at row 4)")
        ]
        assert st.chain("U000", DAY).equals(ref.filter(pc.equal(ref["underlying"], "U000")))


@pytest.mark.parametrize("case", ["unsorted_in_batch", "unsorted_at_boundary", "null_crossed"])
def test_non_canonical_layouts_take_the_normal_path(
    tmp_path: Path, small_batches, case: str
) -> None:
    ref = canonical_chain()
    if case == "unsorted_in_batch":  # swap two rows inside the first batch
        idx = np.arange(ref.num_rows)
        idx[[10, 11]] = idx[[11, 10]]
        t = ref.take(pa.array(idx))
    elif case == "unsorted_at_boundary":  # each 5k batch sorted, the second starts lower
        t = pa.concat_tables([ref.slice(5_000, 5_000), ref.slice(0, 5_000), ref.slice(10_000)])
    else:  # crossed not computed: the store must compute it, so bytes cannot be copied
        i = ref.schema.get_field_index("crossed")
        t = ref.set_column(i, ref.schema.field(i), pa.nulls(ref.num_rows, pa.bool_()))
    f = write(t, tmp_path / "x.parquet")
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.status, r.accepted, r.rejected) == ("ingested", ref.num_rows, 0)
        assert not published_verbatim(st.root, f)
        for u in ("U000", "U001", "U039"):
            assert st.chain(u, DAY).equals(ref.filter(pc.equal(ref["underlying"], u)))


def test_two_sessions_in_one_file_take_the_normal_path(tmp_path: Path) -> None:
    a = canonical_chain(n_und=3)
    b = a.set_column(0, a.schema.field(0), pa.array([DAY + dt.timedelta(days=1)] * a.num_rows))
    ts2 = pa.array([TS + dt.timedelta(days=1)] * a.num_rows, pa.timestamp("ns", tz="UTC"))
    b = b.set_column(1, b.schema.field(1), ts2)
    f = write(pa.concat_tables([a, b]), tmp_path / "two.parquet")
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.status, r.accepted) == ("ingested", 2 * a.num_rows)
        assert len(stored_files(st.root)) == 2
        assert st.session_dates() == [DAY, DAY + dt.timedelta(days=1)]


def test_parallel_validation_gives_the_same_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = canonical_chain()
    t = _single_row_change(ref, 7, "volume", -1)
    t = _single_row_change(t, 7, "strike", -2.0)  # two rules broken: volume comes first
    t = _single_row_change(t, 100, "root", "ZZZ")  # symbol vs root
    t = _single_row_change(t, 14_000, "settlement", "XX")
    t = pa.concat_tables([t, t.slice(50, 1)])  # a duplicate at the end (row 14401)
    f = write(t, tmp_path / "errs.parquet")
    want = [
        (8, "volume", "negative value"),
        (14_001, "settlement", "settlement must be AM or PM"),
        (101, "symbol", "symbol does not match the root column"),
        (14_401, "symbol", "duplicate contract in snapshot (first at row 51)"),
    ]
    for threshold in (0, 10**9):  # every batch on the pool, or none
        monkeypatch.setattr(_common, "PARALLEL_MIN_ROWS", threshold)
        with Store(tmp_path / f"s{threshold}") as st:
            r = st.ingest(f)
            assert (r.rows_read, r.accepted, r.rejected) == (t.num_rows, t.num_rows - 4, 4)
            rej = pa.csv.read_csv(r.rejects_path).to_pylist()
            assert [(x["row"], x["column"], x["reason"]) for x in rej] == want


KILL_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from chainlens.store import Store
    store, path = sys.argv[1], sys.argv[2]
    real = os.replace
    def replace(a, b):
        real(a, b)
        print("KILLME " + str(b), flush=True)
        time.sleep(120)
    os.replace = replace
    with Store(store) as st:
        st.ingest(path)
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_during_verbatim_publish_leaves_store_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    seed = canonical_chain(n_und=2, seed=1)
    with Store(store) as st:
        st.add_tables({"chain": seed}, source="seed")
    before = snapshot_of_store(store)
    f = write(canonical_chain(), tmp_path / "big.parquet")
    with subprocess.Popen(
        [sys.executable, "-c", KILL_CHILD, str(store), str(f)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("KILLME "), f"child did not reach the kill point: {line!r}"
            moved = Path(line.split(" ", 1)[1])
            assert sha(moved) == sha(f), "the verbatim copy should be the file moved into place"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store(store) as st:  # opening read-write cleans leftovers
        assert not any((store / "tmp").iterdir())
        assert st.underlyings() == ["U000", "U001"]
    assert snapshot_of_store(store) == before
    with Store(store) as st:
        r = st.ingest(f)
        assert (r.status, r.accepted, r.rejected) == ("ingested", 14_400, 0)
        assert published_verbatim(store, f)
