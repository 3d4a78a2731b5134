"""Issue 18 items 3, 6 and 10: inputs that crashed, misleading errors, zip temp leftovers.
Every case runs through the real CLI (in-process) and must end in a named error or counted
rejects: exit code 2 (or 0), no traceback."""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _harden import cli
from test_harden_inputs import IWM_HEADER, _chain, iwm_row


def _zip(tmp_path: Path, *, flag: int = 0, method: int | None = None) -> Path:
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("iwm.csv", IWM_HEADER + iwm_row())
    b = bytearray(p.read_bytes())
    for sig, off_flag, off_method in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = b.find(sig)
        f = struct.unpack_from("<H", b, i + off_flag)[0] | flag
        struct.pack_into("<H", b, i + off_flag, f)
        if method is not None:
            struct.pack_into("<H", b, i + off_method, method)
    p.write_bytes(bytes(b))
    return p


@pytest.mark.parametrize(
    ("kw", "says"), [({"flag": 1}, "cannot be read"), ({"method": 98}, "compression method")]
)
def test_encrypted_or_ppmd_zip_member_fails_cleanly(tmp_path: Path, kw: dict, says: str) -> None:
    p = _zip(tmp_path, **kw)
    r = cli(["analyze", p])
    assert r.rc == 2 and says in r.err and not r.traceback, r.err
    r = cli(["ingest", p, "--store", tmp_path / "st", "--json"])
    assert r.rc == 2 and not r.traceback
    assert says in json.loads(r.out)[0]["error"]


def test_zip_temp_dirs_of_dead_processes_are_swept(tmp_path: Path) -> None:
    # a directory left by a process that was killed (pid 2**22+1 cannot be alive)
    stale = Path(tempfile.gettempdir()) / f"chainlens-zip-{2**22 + 1}-x"
    stale.mkdir(exist_ok=True)
    (stale / "member.csv").write_text("x")
    p = tmp_path / "ok.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("iwm.csv", IWM_HEADER + iwm_row())
    assert cli(["analyze", p, "--json"]).rc == 0
    assert not stale.exists()
    assert not list(Path(tempfile.gettempdir()).glob(f"chainlens-zip-{os.getpid()}-*"))


def test_symlink_loop_fifo_and_directory_are_named(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name, says in (("loop", "symbolic link loop"), ("fifo", "not a regular file"),
                       ("dir", "is a directory"), ("absent", "file not found")):  # fmt: skip
        r = cli(["analyze", tmp_path / name])
        assert r.rc == 2 and says in r.err and not r.traceback, (name, r.err)
    r = cli(["ingest", tmp_path / "loop", tmp_path / "fifo", "--store", tmp_path / "st", "--json"])
    assert r.rc == 2 and not r.traceback
    errors = [x["error"] for x in json.loads(r.out)]
    assert "symbolic link loop" in errors[0] and "not a regular file" in errors[1]


def test_analyze_generic_date_2300_and_occ_strike_1e25(tmp_path: Path) -> None:
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row() + iwm_row(date="10/15/2300"))
    r = cli(["analyze", p, "--json"])
    assert r.rc == 0 and not r.traceback, r.err
    assert json.loads(r.out)["excluded"]["rejected_at_read"] == 1
    assert "1 row(s)" in r.err and "session" in r.err
    occ = tmp_path / "SPY_history.json"
    occ.write_text(json.dumps({"ticker": "SPY", "closes": {"10-8": 773.0}, "days": {"10-8": {
        "2026-08-21": {"500.0": {"call_oi": 10, "put_oi": 5}, "1" + "0" * 25: {"call_oi": 1, "put_oi": 1}}}}}))  # fmt: skip
    r = cli(["analyze", occ, "--json"])
    assert r.rc == 0 and not r.traceback, r.err
    assert json.loads(r.out)["excluded"]["rejected_at_read"] == 2


def test_analyze_parquet_oi_2_63_is_rejected_not_printed(tmp_path: Path) -> None:
    t = _chain()
    oi = t["open_interest"].to_pylist()
    oi[0] = 2**63 - 1
    p = tmp_path / "c.parquet"
    pq.write_table(_chain(open_interest=oi), p)
    r = cli(["analyze", p, "--json"])
    assert r.rc == 0 and not r.traceback, r.err
    out = json.loads(r.out)
    assert out["excluded"]["rejected_at_read"] == 1
    assert out["totals"]["call_oi"] + out["totals"]["put_oi"] == sum(oi[1:])


def test_analyze_with_every_row_rejected_exits_2_with_the_reason(tmp_path: Path) -> None:
    t = _chain(multiplier=[0, 0, 0, 0])
    p = tmp_path / "c.parquet"
    pq.write_table(t, p)
    r = cli(["analyze", p])
    assert r.rc == 2 and not r.traceback
    assert "no row passed validation (4 read, 4 rejected" in r.err
    assert "multiplier must be > 0" in r.err


def test_markup_in_rejected_values_prints_literally(tmp_path: Path) -> None:
    t = _chain(underlying=["[/]", "SPY", "SPY", "SPY"])
    p = tmp_path / "c.parquet"
    pq.write_table(t, p)
    r = cli(["analyze", p])
    assert r.rc == 0 and "[/]" in r.err and not r.traceback, r.err
    st = tmp_path / "st"
    r = cli(["ingest", p, "--store", st])
    assert r.rc == 0 and not r.traceback
    assert cli(["sessions", "--store", st]).rc == 0


def test_damaged_table_types_give_a_named_error(tmp_path: Path) -> None:
    t = _chain()
    t = t.set_column(t.schema.get_field_index("strike"), "strike", pa.array(["a"] * 4))
    p = tmp_path / "c.parquet"
    pq.write_table(t, p)
    r = cli(["analyze", p])
    assert r.rc == 2 and "strike" in r.err and not r.traceback, r.err


def test_rejects_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    import csv

    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row() + iwm_row(volume="=cmd|' /C calc'!A0", osi="IWM   191018C00101000") + iwm_row(volume="-5", osi="IWM   191018C00102000"))  # fmt: skip
    st = tmp_path / "st"
    r = cli(["ingest", p, "--store", st, "--json"])
    assert r.rc == 0, r.err
    rel = json.loads(r.out)[0]["rejects_path"]
    with (st / rel).open() as fh:
        rows = list(csv.DictReader(fh))
    assert [x["value"] for x in rows] == ["'=cmd|' /C calc'!A0", "'-5"]
    assert all(x["reason"] for x in rows)


def test_zip_claiming_an_unknown_version_fails_cleanly(tmp_path: Path) -> None:
    # found by the fuzz suite: one flipped bit in the central directory's version field
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("iwm.csv", IWM_HEADER + iwm_row())
    b = bytearray(p.read_bytes())
    i = b.find(b"PK\x01\x02")
    struct.pack_into("<H", b, i + 6, 84)  # "version needed to extract" 8.4
    p.write_bytes(bytes(b))
    r = cli(["analyze", p])
    assert r.rc == 2 and not r.traceback and "zip" in r.err, r.err
