"""Zip archives: the real DataShop OptionEODSummary sample and hand-made archives."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from chainlens.errors import InputError, UnknownFormatError
from chainlens.io import detect_format, read_file

SAMPLE = "cboe_datashop_vix_2016-06-01/OptionEODSummary_Sample_2016-06-01.zip"


def _members(path: Path) -> dict[str, list[dict[str, str]]]:
    """Independent reader: the CSV rows of every nested member, by member name."""
    out: dict[str, list[dict[str, str]]] = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.filename.endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(z.read(info))) as inner:
                    for m in inner.infolist():
                        text = inner.read(m).decode()
                        out[m.filename] = list(csv.DictReader(io.StringIO(text)))
    return out


def test_datashop_sample_zip_reads_each_contract_once(shared_data: Path) -> None:
    path = shared_data / SAMPLE
    assert detect_format(path) == "zip"
    members = _members(path)
    calcs = members["UnderlyingOptionsEODCalcs_2016-06-01.csv"]
    quotes = members["UnderlyingOptionsEODQuotes_2016-06-01.csv"]
    results = list(read_file(path))
    read = sum(r.rows_read for r in results)
    accepted = sum(r.table.num_rows for r in results)
    rejected = sum(r.rejects.num_rows for r in results)
    assert read == len(calcs) + len(quotes) == accepted + rejected
    # The Quotes member repeats the Calcs contracts: each contract is stored once.
    assert accepted == len(calcs) == 724
    assert {r.format for r in results} == {"zip:datashop_eod"}
    oi = sum(sum(r.table["open_interest"].to_pylist()) for r in results)
    assert oi == sum(int(row["open_interest"]) for row in calcs)
    reasons = {x for r in results for x in r.rejects["reason"].to_pylist()}
    assert all(x.startswith("duplicate contract within one snapshot") for x in reasons)
    # Rejected rows name the member and its physical line (header = line 1).
    rej = [r.rejects for r in results if r.rejects.num_rows][0]
    assert "UnderlyingOptionsEODQuotes" in rej["path"][0].as_py()
    assert rej["row"][0].as_py() == 2


def _cboe_file(cboe_dir: Path) -> Path:
    return cboe_dir / "QQQ" / "QQQ_2023-06-12_1635ET__ayour.csv"


def test_handmade_zip_skips_non_data_members(tmp_path: Path, cboe_dir: Path) -> None:
    src = _cboe_file(cboe_dir)
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("README.txt", "not data")
        w.write(src, arcname="qqq.csv")
    results = list(read_file(z))
    direct = list(read_file(src))
    assert sum(r.rows_read for r in results) == sum(r.rows_read for r in direct)
    assert sum(r.table.num_rows for r in results) == sum(r.table.num_rows for r in direct)
    assert {r.format for r in results} == {"zip:cboe_quotes"}


def test_zip_without_known_members_is_unknown(tmp_path: Path) -> None:
    z = tmp_path / "notes.zip"
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("a.txt", "hello")
    with pytest.raises(UnknownFormatError, match="known format"):
        detect_format(z)


def test_damaged_zip_is_a_clear_error(tmp_path: Path) -> None:
    z = tmp_path / "broken.zip"
    z.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(InputError, match="damaged zip"):
        list(read_file(z))


def test_zip_nested_too_deep_is_a_clear_error(tmp_path: Path) -> None:
    """Archives nested deeper than MAX_DEPTH are refused with a message, not expanded."""
    from chainlens.io._zip import MAX_DEPTH

    inner = b"hello"
    name = "a.txt"
    for level in range(MAX_DEPTH + 2):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as w:
            w.writestr(name, inner)
        inner, name = buf.getvalue(), f"level{level}.zip"
    z = tmp_path / "deep.zip"
    z.write_bytes(inner)
    with pytest.raises(InputError, match="nested deeper"):
        list(read_file(z, format="zip"))
