"""Saved Cboe delayed-quotes JSON (``cboe_delayed_json``) against hand-checked figures.

Expected figures were counted outside the adapter with jq on the raw payloads::

    jq -r '(if .data then .data else . end) as $d | [.timestamp, $d.last_trade_time,
           $d.current_price, $d.close, ($d.options|length), ([$d.options[]|.open_interest]|add),
           ([$d.options[]|.volume]|add), ([$d.options[]|select(.iv==0)]|length),
           ([$d.options[]|.option|select(test("^RUTW"))]|length)] | @tsv' FILE
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.cli import app
from chainlens.cli._common import run_guarded
from chainlens.errors import InputError
from chainlens.io import detect_format, read_file

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def cj(shared_data: Path) -> Path:
    d = shared_data / "cboe_delayed_json"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def _read(path: Path) -> tuple[pa.Table, pa.Table, int]:
    res = list(read_file(path))
    assert all(r.format == "cboe_delayed_json" and r.kind == "chain" for r in res)
    rows = sum(r.rows_read for r in res)
    t = pa.concat_tables([r.table for r in res])
    rej = pa.concat_tables([r.rejects for r in res])
    assert rows == t.num_rows + rej.num_rows
    return t, rej, rows


def _utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)


# file prefix, session, snapshot_ts, spot, contracts, OI, volume, iv==0, RUTW contracts
HAND = [
    # 09:14 ET on Monday, before the open: Friday's session, its close as spot
    ("COIN_2024-06-24_1314UTC", dt.date(2024, 6, 21), _utc(2024, 6, 24, 13, 14, 14), 225.86,
     2658, 655_256, 134_563, 188, 0),
    # 09:49 ET: intraday, spot = current_price
    ("COIN_2024-06-24_1349UTC", dt.date(2024, 6, 24), _utc(2024, 6, 24, 13, 49, 16), 219.317,
     2658, 655_256, 10_150, 165, 0),
    ("NFLX_2024-07-15", dt.date(2024, 7, 15), _utc(2024, 7, 15, 22, 30, 20), 656.45,
     3770, 472_276, 62_668, 146, 0),
    # saved 03:17 UTC = 23:17 ET the same evening
    ("RUT_2023-09-21", dt.date(2023, 9, 20), _utc(2023, 9, 21, 3, 17, 42), 1806.1193,
     6680, 656_107, 43_156, 1015, 5208),
    ("RUT_2024-07-15", dt.date(2024, 7, 15), _utc(2024, 7, 15, 22, 30, 27), 2189.3298,
     8962, 816_521, 139_789, 899, 7506),
    # the close (252.64), not the after-hours current_price (254.11)
    ("TSLA_2024-07-15", dt.date(2024, 7, 15), _utc(2024, 7, 15, 23, 15, 21), 252.64,
     3340, 7_775_053, 2_118_770, 89, 0),
    # older schema: no timestamp, no last_trade_time: the earliest expiry (2022-04-01)
    ("SPY_2022-04-01_OLD", dt.date(2022, 4, 1), _utc(2022, 4, 1, 20, 0, 0), 452.92,
     9798, 18_321_478, 6_618_721, 142, 0),
]  # fmt: skip


def _file(cj: Path, prefix: str) -> Path:
    (f,) = sorted(cj.glob(prefix + "*.json"))
    return f


@pytest.mark.parametrize(
    ("prefix", "session", "snap", "spot", "n", "oi", "vol", "iv0", "rutw"), HAND
)
def test_hand_checked_payloads(
    cj: Path,
    prefix: str,
    session: dt.date,
    snap: dt.datetime,
    spot: float,
    n: int,
    oi: int,
    vol: int,
    iv0: int,
    rutw: int,
) -> None:
    f = _file(cj, prefix)
    assert detect_format(f) == "cboe_delayed_json"
    t, rej, rows = _read(f)
    assert (rows, t.num_rows, rej.num_rows) == (n, n, 0)
    assert set(t["trade_date"].to_pylist()) == {session}
    assert set(t["snapshot_ts"].to_pylist()) == {snap}
    assert set(t["spot"].to_pylist()) == {spot}
    assert pc.sum(t["open_interest"]).as_py() == oi
    assert pc.sum(t["volume"]).as_py() == vol
    assert t["iv"].null_count == iv0
    assert pc.sum(pc.equal(t["root"], "RUTW")).as_py() == rutw
    if prefix.startswith("RUT"):
        assert set(t["underlying"].to_pylist()) == {"RUT"}
        got = dict(zip(t["root"].to_pylist(), t["settlement"].to_pylist(), strict=True))
        assert got == {"RUT": "AM", "RUTW": "PM"}


def test_one_contract_as_written(cj: Path) -> None:
    t, _, _ = _read(_file(cj, "TSLA_2024-07-15"))
    (row,) = pc.filter(t, pc.equal(t["symbol"], "TSLA240719P00050000")).to_pylist()
    assert row["strike"] == 50.0 and row["right"] == "P" and row["expiry"] == dt.date(2024, 7, 19)
    assert (row["bid"], row["ask"], row["open_interest"], row["volume"]) == (0.0, 0.01, 7824, 0)
    assert row["iv"] == 4.609 and row["last"] == 0.01
    # last_trade_price 0 means no sale: 229 contracts (jq '[...|select(.last_trade_price==0)]')
    assert t["last"].null_count == 229


def test_all_zero_payload_refused_whole(
    cj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _file(cj, "COIN_2024-06-24_1344UTC_ALL-ZERO")
    t, rej, rows = _read(f)
    assert (rows, t.num_rows, rej.num_rows) == (2658, 0, 2658)
    (reason,) = set(rej["reason"].to_pylist())
    assert "every quote number in the payload is 0" in reason and "refused whole" in reason
    store = tmp_path / "store"
    assert run_guarded(app, ["ingest", str(f), "--store", str(store), "--json"]) == 2
    (res,) = json.loads(capsys.readouterr().out)
    assert res["status"] == "failed" and "every quote number" in res["error"]
    assert res["accepted"] == 0


def test_session_from_last_trade_time_when_no_timestamp(cj: Path, tmp_path: Path) -> None:
    doc = json.loads(_file(cj, "NFLX_2024-07-15").read_text())
    del doc["timestamp"]
    f = tmp_path / "nflx.json"
    f.write_text(json.dumps(doc))
    t, _, _ = _read(f)
    # last_trade_time 2024-07-15T15:59:59 is US/Eastern: 19:59:59 UTC
    assert set(t["snapshot_ts"].to_pylist()) == {_utc(2024, 7, 15, 19, 59, 59)}
    assert set(t["trade_date"].to_pylist()) == {dt.date(2024, 7, 15)}


def test_bad_records_named(cj: Path, tmp_path: Path) -> None:
    doc = json.loads(_file(cj, "NFLX_2024-07-15").read_text())
    opts = doc["data"]["options"]
    opts[0]["option"] = "NFLX2407"
    opts[1]["bid"] = "n/a"
    opts[2]["open_interest"] = -3.0
    opts[3] = dict(opts[4])  # a duplicate of the next contract
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    t, rej, rows = _read(f)
    assert rows == 3770 and t.num_rows == 3766
    got = {(r["row"], r["column"], r["reason"]) for r in rej.to_pylist()}
    assert got == {
        (1, "options/option", "not an OSI option symbol"),
        (2, "options/bid", "not a number"),
        (3, "options/open_interest", "negative value"),
        (5, "options/option", "duplicate contract in snapshot (first at row 4)"),
    }


def test_truncated_payload(cj: Path, tmp_path: Path) -> None:
    f = tmp_path / "cut.json"
    f.write_bytes(_file(cj, "NFLX_2024-07-15").read_bytes()[:100_000])
    with pytest.raises(InputError, match="truncated"):
        list(read_file(f))
