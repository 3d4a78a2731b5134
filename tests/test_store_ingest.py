"""Ingest through the adapters: idempotence, conservation, rejects file, failures leave no trace.

References are independent of the code under test: the input tables the tests write, and the
raw Cboe CSV re-read here with the standard ``csv`` module.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainlens import schema
from chainlens.store import Store
from test_store import D1, D2, chain_table, utc

pytest.importorskip("chainlens.io")


def snapshot_of_store(root: Path) -> tuple[list[str], list[tuple]]:
    """Every data file (name, size) plus the catalog rows: what 'unchanged' must preserve."""
    files = sorted(
        f"{p.relative_to(root).as_posix()}:{p.stat().st_size}"
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("catalog.duckdb") and p.name != ".lock"
    )
    with Store(root, read_only=True) as st:
        rows = st.con.execute(
            "SELECT s.source_id, s.sha256, s.rows_read, f.file, f.rows FROM sources s "
            "LEFT JOIN files f USING (source_id) ORDER BY 1, 4"
        ).fetchall()
        rows += st.con.execute("SELECT * FROM snapshots ORDER BY snapshot_id").fetchall()
    return files, rows


def test_canonical_parquet_ingest_and_idempotence(store_dir: Path, tmp_path: Path) -> None:
    t = pa.concat_tables(
        [
            chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0]),
            chain_table("QQQ", D1, utc(D1, 20), [300.0]),
        ]
    )
    f = tmp_path / "chain.parquet"
    pq.write_table(t, f)
    with Store(store_dir) as st:
        r = st.ingest(f)
        assert (r.status, r.format, r.rows_read, r.accepted, r.rejected) == (
            "ingested",
            "canonical_parquet",
            6,
            6,
            0,
        )
        assert r.kinds == {"chain": 6} and r.rejects_path is None and r.error is None
        assert st.chain("SPY", D1).num_rows == 4
        before = st.sessions()
        # same bytes again, and a copy at another path: both no-ops
        copy = tmp_path / "copy.parquet"
        shutil.copy(f, copy)
        for again in (st.ingest(f), st.ingest(copy)):
            assert again.status == "unchanged" and again.accepted == 6
        assert st.sessions().equals(before)


def test_partial_rejects_go_to_a_rejects_file(store_dir: Path, tmp_path: Path) -> None:
    t = chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0, 102.0])
    strike = t.column("strike").to_pylist()
    strike[1] = -5.0  # row 2 of the file: strike <= 0 must be rejected
    t = t.set_column(t.schema.get_field_index("strike"), t.schema.field("strike"), pa.array(strike))
    f = tmp_path / "bad_row.parquet"
    pq.write_table(t, f)
    with Store(store_dir) as st:
        r = st.ingest(f)
    assert r.status == "ingested"
    assert r.rows_read == r.accepted + r.rejected == 6
    assert r.rejected >= 1
    assert r.rejects_path is not None and Path(r.rejects_path).is_file()
    assert Path(r.rejects_path).parent == store_dir.resolve() / "rejects"
    with open(r.rejects_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "row", "column", "value", "reason"]
    assert len(rows) == r.rejected
    hit = [x for x in rows if x["column"] == "strike"]
    assert (
        hit
        and hit[0]["row"] == "2"
        and hit[0]["path"].endswith("bad_row.parquet")
        and hit[0]["reason"]
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", b""),
        ("notes.txt", b"hello, this is not market data\nat all\n"),
        ("binary.csv", b"\xff\xfe\x00garbage\x00\x01"),
    ],
)
def test_unreadable_file_fails_and_store_is_unchanged(
    store_dir: Path, tmp_path: Path, name: str, content: bytes
) -> None:
    with Store(store_dir) as st:
        st.add_tables({"chain": chain_table("SPY", D1, utc(D1, 20), [100.0])}, source="seed")
    before = snapshot_of_store(store_dir)
    f = tmp_path / name
    f.write_bytes(content)
    with Store(store_dir) as st:
        r = st.ingest(f)
    assert r.status == "failed" and r.error and name in r.error
    assert r.rows_read == r.accepted + r.rejected
    assert snapshot_of_store(store_dir) == before


def test_unknown_format_error_lists_formats(store_dir: Path, tmp_path: Path) -> None:
    from chainlens.io import KNOWN_FORMATS

    f = tmp_path / "x.csv"
    f.write_text("a,b,c\n1,2,3\n")
    with Store(store_dir) as st:
        r = st.ingest(f)
    assert r.status == "failed"
    assert all(fmt in r.error for fmt in KNOWN_FORMATS)


def test_every_row_rejected_is_failed_and_stores_nothing(store_dir: Path, tmp_path: Path) -> None:
    t = chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0])
    t = t.set_column(
        t.schema.get_field_index("strike"), t.schema.field("strike"), pa.array([-1.0] * 4)
    )
    f = tmp_path / "all_bad.parquet"
    pq.write_table(t, f)
    Store(store_dir).close()
    before = snapshot_of_store(store_dir)
    with Store(store_dir) as st:
        r = st.ingest(f)
        assert r.status == "failed" and "all 4 rows rejected" in r.error
        assert (r.rows_read, r.accepted, r.rejected) == (4, 0, 4)
        assert st.session_dates() == []
    assert snapshot_of_store(store_dir) == before


def test_two_snapshots_of_one_session_are_both_kept(store_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(chain_table("SPY", D2, utc(D2, 17), [100.0], oi=[1, 2]), a)
    pq.write_table(chain_table("SPY", D2, utc(D2, 21), [100.0], oi=[3, 4]), b)
    with Store(store_dir) as st:
        assert [r.status for r in st.ingest_many([tmp_path])] == [
            "ingested",
            "ingested",
        ]  # dir expanded
        s = st.sessions("SPY")
        assert s.num_rows == 2 and s["default"].to_pylist() == [False, True]
        assert st.chain("SPY", D2)["open_interest"].to_pylist() == [3, 4]


# --------------------------------------------------------------------------- real files
def _cboe_reference(path: Path) -> dict[str, int]:
    """Contracts and OI totals of a Cboe quote table, counted with the csv module."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    hdr = next(i for i, r in enumerate(rows) if r and r[0].strip() == "Expiration Date")
    body = [r for r in rows[hdr + 1 :] if r and r[0].strip()]
    names = rows[hdr]
    oi_cols = [i for i, n in enumerate(names) if n.strip() == "Open Interest"]
    return {
        "contracts": 2 * len(body),
        "call_oi": sum(int(float(r[oi_cols[0]] or 0)) for r in body),
        "put_oi": sum(int(float(r[oi_cols[1]] or 0)) for r in body),
    }


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("rel", "underlying", "session"),
    [
        ("QQQ/QQQ_2023-06-08_2048ET__ayour.csv", "QQQ", dt.date(2023, 6, 8)),
        ("SPX/SPX_2023-09-14_1631ET__carlosjimenezdiaz.csv", "SPX", dt.date(2023, 9, 14)),
    ],
)
def test_real_cboe_file_totals_match_independent_count(
    cboe_dir: Path, store_dir: Path, rel: str, underlying: str, session: dt.date
) -> None:
    f = cboe_dir / rel
    ref = _cboe_reference(f)
    with Store(store_dir) as st:
        r = st.ingest(f)
        print(f"{f.name}: read {r.rows_read} = accepted {r.accepted} + rejected {r.rejected}")
        assert r.status == "ingested" and r.rows_read == r.accepted + r.rejected
        assert r.rows_read == ref["contracts"]
        c = st.chain(underlying, session)
        assert c.num_rows == r.accepted
        if r.rejected == 0:
            calls = pc.equal(c["right"], "C")
            assert pc.sum(pc.filter(c["open_interest"], calls)).as_py() == ref["call_oi"]
            assert pc.sum(pc.filter(c["open_interest"], pc.invert(calls))).as_py() == ref["put_oi"]
        assert st.ingest(f).status == "unchanged"


# --------------------------------------------------------------------------- conservation
_CELLS = st.sampled_from(
    ["abc", "-5", "nan", "inf", "", "1e400", "0", "-0.0", "\u22121", "9999999999999999999999"]
)


@pytest.mark.realdata
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 21), _CELLS), min_size=1, max_size=8
    ),
    truncate=st.booleans(),
)
def test_conservation_on_corrupted_cboe_files(cboe_dir: Path, edits: list, truncate: bool) -> None:
    """Broken copies of a real file: rows read = accepted + rejected, and the store holds accepted."""
    src = (cboe_dir / "AMD" / "AMD_2023-08-20_2235ET__aryamanwastaken.csv").read_text(
        encoding="utf-8"
    )
    lines = src.splitlines()
    for line_no, col, val in edits:
        i = 4 + line_no % (len(lines) - 4)
        cells = lines[i].split(",")
        cells[col % len(cells)] = val
        lines[i] = ",".join(cells)
    text = "\n".join(lines) + "\n"
    if truncate:
        text = text[: len(text) - 37]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "amd.csv"
        f.write_text(text, encoding="utf-8")
        with Store(Path(d) / "store") as st:
            r = st.ingest(f)
            assert r.rows_read == r.accepted + r.rejected
            if r.status == "ingested":
                assert sum(st.sessions()["contracts"].to_pylist()) == r.accepted
                if r.rejected:
                    with open(r.rejects_path, newline="") as fh:
                        assert sum(1 for _ in csv.DictReader(fh)) == r.rejected
            else:
                assert st.session_dates() == []


def test_schema_unchanged_for_readers(store_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "c.parquet"
    pq.write_table(chain_table("SPY", D1, utc(D1, 20), [100.0]), f)
    with Store(store_dir) as st:
        st.ingest(f)
        assert st.chain("SPY", D1).schema == schema.CHAIN
