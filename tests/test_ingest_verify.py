"""The compiled clean-file proof of the verbatim chain ingest (:mod:`chainlens.io._verify`).

The proof must be *sound*: whenever it accepts a file, the full rules (the canonical Parquet
adapter, :func:`chainlens.io._common.finalize`) reject no row, the stored ``crossed`` flags
equal the computed ones and the rows are in the store's sort order. The reference here is
that full validation, run on the same file, plus hand-built cases where the proof must
decline although the full rules accept (then the normal path stores the same answers).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import hypothesis.strategies as hs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from chainlens.io import _parquet, _verify
from chainlens.store import Store
from chainlens.store import _store as store_mod
from chainlens.store._stage import SORT_KEYS, is_sorted, sort_table
from test_ingest_fastpath import DAY, canonical_chain, published_verbatim, sessions_view, write

pytestmark = pytest.mark.skipif(not _verify.available(), reason="Numba disabled or missing")


def proof(path: Path, batch_rows: int = 700, verbatim: bool = True) -> tuple[bool, str | None]:
    """Run the verifier over ``path`` in blocks, as the store does."""
    pf = pq.ParquetFile(path, read_dictionary=list(_verify.DICTIONARY_COLUMNS))
    ver = _verify.ChainVerifier(
        None if not verbatim else DAY,
        verbatim=verbatim,
        ordered=verbatim,
        expected_rows=pf.metadata.num_rows,
    )
    for table in _parquet.iter_tables(pf, pf.schema_arrow.names, batch_rows):
        for rb in table.to_batches():
            if ver.check(rb) is None:
                return False, ver.reason
    return True, None


def full_rules(path: Path) -> tuple[int, bool, bool]:
    """(rejects, stored crossed == computed everywhere, sorted) by the full validation."""
    rejects, crossed_ok = 0, True
    tables = []
    for res in _parquet.read(path, batch_rows=1_000):
        rejects += res.rejects.num_rows
        crossed_ok &= res.verbatim
        tables.append(res.table)
    t = pa.concat_tables(tables)
    return rejects, crossed_ok, is_sorted(t, SORT_KEYS["chain"])


def set_value(t: pa.Table, row: int, column: str, value: object) -> pa.Table:
    vals = t[column].combine_chunks().to_pylist()
    vals[row] = value
    i = t.schema.get_field_index(column)
    fld = t.schema.field(i).with_nullable(True) if value is None else t.schema.field(i)
    return t.set_column(i, fld, pa.array(vals, fld.type))


def test_clean_file_is_proved_clean(tmp_path: Path) -> None:
    f = write(canonical_chain(n_und=6, n_strikes=10), tmp_path / "c.parquet")
    assert proof(f) == (True, None)
    assert full_rules(f) == (0, True, True)


#: (column, value) edits that break one rule each, or look odd but are legal.
EDITS = [
    ("volume", -1),
    ("open_interest", -3),
    ("bid", float("nan")),
    ("ask", float("inf")),
    ("last", -0.5),
    ("iv", float("nan")),
    ("delta", float("-inf")),
    ("spot", float("nan")),
    ("strike", 0.0),
    ("strike", -5.0),
    ("strike", float("nan")),
    ("strike", 52.5001),  # within the symbol check's 5e-4 tolerance: legal, not exact
    ("strike", 1e9),
    ("right", "X"),
    ("right", "c"),
    ("settlement", "XX"),
    ("settlement", None),
    ("expiry", dt.date(2024, 3, 1)),  # before the session
    ("expiry", dt.date(2124, 3, 8)),
    ("trade_date", dt.date(2024, 3, 5)),
    ("root", "ZZZ"),
    ("root", "U00"),
    ("underlying", "U999"),
    ("underlying", "A"),
    ("symbol", "U000240308C00050000"),
    ("symbol", "U000240308C0005000X"),
    ("symbol", "U000  240308C00050000"),
    ("symbol", "X"),
    ("crossed", True),
    ("crossed", None),
    ("multiplier", None),
    ("bid", None),
    ("volume", None),
    ("snapshot_ts", dt.datetime(2024, 3, 4, 20, 0, tzinfo=dt.UTC)),
]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edits=hs.lists(
        hs.tuples(hs.integers(0, 6 * 60 - 1), hs.sampled_from(EDITS)), min_size=0, max_size=3
    ),
    moves=hs.lists(hs.tuples(hs.integers(0, 359), hs.integers(0, 359)), max_size=2),
)
def test_proof_is_sound(tmp_path: Path, edits: list, moves: list) -> None:
    """Random edits, row copies and swaps: if the proof accepts, the full rules agree."""
    t = canonical_chain(n_und=2, n_strikes=30)  # 360 rows
    for row, (column, value) in edits:
        t = set_value(t, row, column, value)
    idx = np.arange(t.num_rows)
    for a, b in moves:
        if a % 2:
            idx[b] = idx[a]  # a copy of row a in place of row b (a duplicate, maybe adjacent)
        else:
            idx[[a, b]] = idx[[b, a]]
    t = t.take(pa.array(idx))
    f = write(t, tmp_path / "x.parquet")
    ok, why = proof(f, batch_rows=100)
    if ok:
        assert full_rules(f) == (0, True, True)
    else:
        assert why
    # re-encoding mode: any row order, keys hashed, crossed flags recomputed
    ok2, why2 = proof(f, batch_rows=100, verbatim=False)
    if ok2:
        assert full_rules(f)[0] == 0
    else:
        assert why2
    assert ok2 or not ok  # the re-encoding mode is never stricter


def test_strike_within_tolerance_declines_but_stores_the_same(tmp_path: Path) -> None:
    """A strike 1e-4 off its symbol passes the full rules (tolerance 5e-4) but not the exact
    proof: the file takes the normal path and stores the same rows."""
    ref = canonical_chain(n_und=3, n_strikes=10)
    ref = set_value(ref, 7, "strike", ref["strike"][7].as_py() + 1e-4)
    f = write(ref, tmp_path / "c.parquet")
    ok, why = proof(f)
    assert not ok and "strike" in why
    assert full_rules(f) == (0, True, True)
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.status, r.accepted, r.rejected) == ("ingested", ref.num_rows, 0)
        assert not published_verbatim(st.root, f)
        assert st.chain("U000", DAY).equals(ref.filter(pc.equal(ref["underlying"], "U000")))


def test_root_under_two_underlyings_hides_no_duplicate(tmp_path: Path) -> None:
    """U001's row takes the root and symbol of the same contract of U000: the file stays
    sorted, the duplicate is far from its twin, and the proof must not miss it."""
    t = canonical_chain(n_und=2, n_strikes=10)
    u0 = t.filter(pc.equal(t["underlying"], "U000"))
    row = int(np.flatnonzero(t["underlying"].to_numpy(zero_copy_only=False) == "U001")[4])
    t = set_value(t, row, "root", "U000")
    t = set_value(t, row, "symbol", u0["symbol"][4].as_py())
    f = write(t, tmp_path / "dup.parquet")
    ok, why = proof(f)
    assert not ok and "root U000" in why
    rejects, _, _ = full_rules(f)
    assert rejects == 1
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert (r.rows_read, r.accepted, r.rejected) == (t.num_rows, t.num_rows - 1, 1)
        assert "duplicate contract" in pa.csv.read_csv(r.rejects_path)["reason"][0].as_py()


def test_proof_and_full_validation_store_identical_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same clean file through the compiled proof and through the full rules (Numba
    disabled): both publish it verbatim, with identical catalog rows and chains."""
    ref = canonical_chain(n_und=12, n_strikes=40)
    f = write(ref, tmp_path / "c.parquet", row_group_size=1_024)
    with Store(tmp_path / "fast") as a:
        assert a.ingest(f).status == "ingested"
        fast = (sessions_view(a), [a.chain(u, DAY) for u in a.underlyings()])
        assert published_verbatim(a.root, f)
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1")
    assert not _verify.available()
    with Store(tmp_path / "slow") as b:
        assert b.ingest(f).status == "ingested"
        slow = (sessions_view(b), [b.chain(u, DAY) for u in b.underlyings()])
        assert published_verbatim(b.root, f)
    assert fast[0] == slow[0]
    assert all(x.equals(y) for x, y in zip(fast[1], slow[1], strict=True))
    assert [s["contracts"] for s in fast[0]] == [240] * 12


def _spy_proof(
    monkeypatch: pytest.MonkeyPatch, method: str = "_stage_proved_chain"
) -> list[tuple[bool, bool]]:
    """Record (verbatim, proved) for each call of the store's proof path ``method``."""
    calls: list[tuple[bool, bool]] = []
    real = getattr(store_mod.Store, method)

    def spy(src, **kw):  # type: ignore[no-untyped-def]
        try:
            out = real(src, **kw)
        except store_mod._NotVerbatim:
            calls.append((kw["verbatim"], False))
            raise
        calls.append((kw["verbatim"], True))
        return out

    monkeypatch.setattr(store_mod.Store, method, staticmethod(spy))
    return calls


def test_sorted_file_outside_the_store_layout_is_proved_then_re_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups below the store layout's minimum (no verbatim publish): proved clean, re-encoded without the rules;
    the store then holds what the full validation (Numba off) stores."""
    ref = canonical_chain(n_und=12, n_strikes=40)
    f = write(ref, tmp_path / "small_groups.parquet", row_group_size=500)
    calls = _spy_proof(monkeypatch)
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 1_000)  # several blocks
    with Store(tmp_path / "fast") as a:
        r = a.ingest(f)
        assert (r.status, r.rows_read, r.accepted, r.rejected) == (
            "ingested",
            ref.num_rows,
            ref.num_rows,
            0,
        )
        assert calls == [(False, True)]
        assert not published_verbatim(a.root, f)
        fast = (sessions_view(a), [a.chain(u, DAY) for u in a.underlyings()])
        (stored,) = sorted((a.root / "chain").rglob("*.parquet"))
        assert pq.ParquetFile(stored).metadata.row_group(0).num_rows == 1_000  # one per block
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1")
    with Store(tmp_path / "slow") as b:
        assert b.ingest(f).status == "ingested"
        slow = (sessions_view(b), [b.chain(u, DAY) for u in b.underlyings()])
    assert calls == [(False, True)]  # not called with Numba off
    assert fast[0] == slow[0]
    assert all(x.equals(y) for x, y in zip(fast[1], slow[1], strict=True))


def test_bad_row_in_a_later_block_restarts_with_the_full_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks already written by the proof path are dropped; the full validation then
    rejects the bad row and stores the rest."""
    ref = canonical_chain(n_und=12, n_strikes=40)
    bad_row = 2_500
    t = set_value(ref, bad_row, "open_interest", -7)
    f = write(t, tmp_path / "late_bad.parquet", row_group_size=500)
    calls = _spy_proof(monkeypatch)
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 1_000)
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert calls == [(False, False)]
        assert (r.rows_read, r.accepted, r.rejected) == (ref.num_rows, ref.num_rows - 1, 1)
        rej = pa.csv.read_csv(r.rejects_path).to_pylist()
        assert [(x["row"], x["column"], x["reason"]) for x in rej] == [
            (bad_row + 1, "open_interest", "negative value")
        ]
        assert sum(s["contracts"] for s in sessions_view(st)) == ref.num_rows - 1
        assert len(list((st.root / "chain").rglob("*.parquet"))) == 1
        assert not any((st.root / "tmp").iterdir())


def test_missing_crossed_flags_are_computed_on_the_proof_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sorted file without ``crossed`` values (the store computes them) is proved clean and
    stored with the computed flags, as the full validation stores it."""
    ref = canonical_chain(n_und=6, n_strikes=40)
    i = ref.schema.get_field_index("crossed")
    t = ref.set_column(i, ref.schema.field(i), pa.nulls(ref.num_rows, pa.bool_()))
    f = write(t, tmp_path / "no_crossed.parquet")
    calls = _spy_proof(monkeypatch)
    with Store(tmp_path / "s") as st:
        assert st.ingest(f).status == "ingested"
        assert calls == [(True, False), (False, True)]  # not verbatim, but proved clean
        assert not published_verbatim(st.root, f)
        for u in st.underlyings():
            assert st.chain(u, DAY).equals(ref.filter(pc.equal(ref["underlying"], u)))
        assert pc.sum(st.chain("U002", DAY)["crossed"]).as_py() > 0


def test_many_underlyings_in_one_block_are_proved(tmp_path: Path) -> None:
    """3,000 small chains in one block (a whole-market file of thinly listed names)."""
    t = sort_table(canonical_chain(n_und=3_000, n_strikes=1), "chain")  # U1000 < U999
    f = write(t, tmp_path / "wide.parquet", row_group_size=20_000)
    assert proof(f, batch_rows=20_000) == (True, None)
    assert full_rules(f) == (0, True, True)


def test_unsorted_file_is_proved_with_hashed_keys_and_stored_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shuffled rows: proved clean (duplicates ruled out by hashing), each block sorted; the
    store answers what the full validation stores."""
    ref = canonical_chain(n_und=12, n_strikes=40)
    rng = np.random.default_rng(5)
    t = ref.take(pa.array(rng.permutation(ref.num_rows)))
    f = write(t, tmp_path / "shuffled.parquet", row_group_size=500)
    calls = _spy_proof(monkeypatch)
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 1_000)
    with Store(tmp_path / "fast") as a:
        r = a.ingest(f)
        assert (r.accepted, r.rejected) == (ref.num_rows, 0)
        assert calls == [(False, True)]
        fast = (sessions_view(a), [a.chain(u, DAY) for u in a.underlyings()])
    # each block is a sorted run (as on the full path): compare the rows in store order
    for u, got in zip([f"U{i:03d}" for i in range(12)], fast[1], strict=True):
        assert sort_table(got, "chain").equals(ref.filter(pc.equal(ref["underlying"], u)))
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1")
    with Store(tmp_path / "slow") as b:
        assert b.ingest(f).accepted == ref.num_rows
        assert sessions_view(b) == fast[0]


def test_unsorted_file_with_a_far_duplicate_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate key far from its twin in a shuffled file: the hash finds it, the full
    validation then rejects the later row, naming the first."""
    ref = canonical_chain(n_und=12, n_strikes=40)
    rng = np.random.default_rng(9)
    idx = rng.permutation(ref.num_rows)
    t = pa.concat_tables([ref.take(pa.array(idx)), ref.take(pa.array(idx[:1]))])
    f = write(t, tmp_path / "dup.parquet", row_group_size=500)
    calls = _spy_proof(monkeypatch)
    monkeypatch.setattr(store_mod, "VERIFY_BATCH_ROWS", 1_000)
    with Store(tmp_path / "s") as st:
        r = st.ingest(f)
        assert calls == [(False, False)]
        assert (r.rows_read, r.accepted, r.rejected) == (t.num_rows, ref.num_rows, 1)
        rej = pa.csv.read_csv(r.rejects_path).to_pylist()
        assert [(x["row"], x["reason"]) for x in rej] == [
            (t.num_rows, "duplicate contract in snapshot (first at row 1)")
        ]


def test_key_hash_table_finds_every_repeat() -> None:
    """first_repeated_key against a set of Python tuples (the reference)."""
    from chainlens.io._verify_numba import first_repeated_key

    rng = np.random.default_rng(1)
    syms = [f"S{int(x)}" for x in rng.integers(0, 3_000, 5_000)]
    ts = rng.integers(0, 3, 5_000).astype(np.int64)
    seen: set[tuple[int, str]] = set()
    want = -1
    for i, key in enumerate(zip(ts.tolist(), syms, strict=True)):
        if key in seen:
            want = i
            break
        seen.add(key)
    arr = pa.array(syms)
    off = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    dat = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    table = np.zeros(1 << 14, dtype=np.uint64)
    assert want > 0
    assert first_repeated_key(off, dat, ts.view(np.uint64), table) == want
    uniq = sorted(set(zip(ts.tolist(), syms, strict=True)))
    arr = pa.array([k[1] for k in uniq])
    table[:] = 0
    assert (
        first_repeated_key(
            np.frombuffer(arr.buffers()[1], dtype=np.int32),
            np.frombuffer(arr.buffers()[2], dtype=np.uint8),
            np.array([k[0] for k in uniq], dtype=np.int64).view(np.uint64),
            table,
        )
        == -1
    )


def test_damaged_pages_fail_cleanly_and_leave_the_store_unchanged(tmp_path: Path) -> None:
    """Garbled compressed pages inside a canonical file (footer intact): a clear "damaged
    Parquet file" error naming the file, nothing stored, on every path the ingest tries."""
    import random

    from test_store_ingest import snapshot_of_store

    data = write(canonical_chain(n_und=20, n_strikes=30), tmp_path / "good.parquet").read_bytes()
    with Store(tmp_path / "s") as st:
        st.ingest(write(canonical_chain(n_und=2, n_strikes=3), tmp_path / "seed.parquet"))
    before = snapshot_of_store(tmp_path / "s")
    rng = random.Random(1)
    failures = 0
    for k in range(6):
        b = bytearray(data)
        i = rng.randrange(100, len(data) - 100)
        b[i : i + 50] = bytes(rng.randrange(256) for _ in range(50))
        f = tmp_path / f"garbled_{k}.parquet"
        f.write_bytes(bytes(b))
        with Store(tmp_path / "s") as st:
            r = st.ingest(f)
        if r.status == "failed":
            failures += 1
            assert r.error is not None
            assert str(f) in r.error and "damaged Parquet file" in r.error
            assert snapshot_of_store(tmp_path / "s") == before
        else:  # the garbling hit values only: counted rows, rejects named
            assert r.rows_read == r.accepted + r.rejected
            before = snapshot_of_store(tmp_path / "s")
    assert failures >= 2


def test_two_snapshots_of_one_session_in_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A midday and a closing snapshot of the same session, in store order: proved clean,
    published byte for byte, and counted as two snapshots per underlying, as the full
    validation counts them."""
    a = canonical_chain(n_und=5, n_strikes=20)
    i = a.schema.get_field_index("snapshot_ts")
    noon = pa.array(
        [dt.datetime(2024, 3, 4, 17, 0, tzinfo=dt.UTC)] * a.num_rows, a.schema.field(i).type
    )
    b = a.set_column(i, a.schema.field(i), noon)
    t = sort_table(pa.concat_tables([a, b]), "chain")
    f = write(t, tmp_path / "two_snaps.parquet")
    calls = _spy_proof(monkeypatch)
    with Store(tmp_path / "fast") as s1:
        assert s1.ingest(f).accepted == t.num_rows
        assert calls == [(True, True)] and published_verbatim(s1.root, f)
        fast = sessions_view(s1)
    monkeypatch.setenv("CHAINLENS_NO_NUMBA", "1")
    with Store(tmp_path / "slow") as s2:
        assert s2.ingest(f).accepted == t.num_rows
        assert sessions_view(s2) == fast
    assert len(fast) == 10 and {r["contracts"] for r in fast} == {120}
