"""Barchart after-close SPX snapshots (``spx_daily_barchart``) against hand-checked figures.

The expected figures were counted outside the adapter, with jq on the raw files, e.g.::

    jq -r '[.date, .spot, .timestamp, ([.expiries[]|length]|add),
            ([.expiries[][]|select(.expirationDate=="2026-02-20" and .volatility==0)]|length),
            ([.expiries[][]|.openInterest]|add)] | @tsv' SPX_2026-02-20.json

and the SPX/SPXW runs of the monthly expiry with a separate Python loop over the records (the
first (strike, right) seen twice in ``expiries["2026-02-20"]`` is record 484, i.e. 483 SPX rows).
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
from chainlens.io import detect_format, read_file
from chainlens.store import Store

pytestmark = pytest.mark.realdata

UTC = dt.UTC


@pytest.fixture(scope="module")
def bc(shared_data: Path) -> Path:
    d = shared_data / "spx_daily_barchart"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def _read(path: Path) -> tuple[pa.Table, pa.Table, int]:
    res = list(read_file(path))
    assert all(r.format == "barchart_json" and r.kind == "chain" for r in res)
    rows = sum(r.rows_read for r in res)
    t = pa.concat_tables([r.table for r in res])
    rej = pa.concat_tables([r.rejects for r in res])
    assert rows == t.num_rows + rej.num_rows
    return t, rej, rows


# (file, session, spot, snapshot UTC, contracts, 0DTE with volatility 0, all with volatility 0, OI)
HAND = [
    (
        "SPX_2026-02-20.json",
        dt.date(2026, 2, 20),
        6909.509765625,
        dt.datetime(2026, 2, 20, 21, 32, 2, 584613, tzinfo=UTC),
        3440,
        491,
        1295,
        1_600_109,
    ),
    (
        "SPX_2026-03-20.json",
        dt.date(2026, 3, 20),
        6545.2,
        dt.datetime(2026, 3, 20, 21, 36, 41, 42380, tzinfo=UTC),
        3776,
        196,
        785,
        1_922_949,
    ),
    (
        "SPX_2026-05-29.json",
        dt.date(2026, 5, 29),
        7582.2,
        dt.datetime(2026, 5, 29, 22, 39, 51, 858117, tzinfo=UTC),
        3774,
        16,
        893,
        1_170_045,
    ),
]


@pytest.mark.parametrize(("name", "session", "spot", "snap", "n", "dead", "iv0", "oi"), HAND)
def test_hand_checked_snapshots(
    bc: Path,
    name: str,
    session: dt.date,
    spot: float,
    snap: dt.datetime,
    n: int,
    dead: int,
    iv0: int,
    oi: int,
) -> None:
    f = bc / name
    assert detect_format(f) == "barchart_json"
    t, rej, rows = _read(f)
    assert rows == n and t.num_rows == n and rej.num_rows == 0
    assert set(t["trade_date"].to_pylist()) == {session}
    assert set(t["snapshot_ts"].to_pylist()) == {snap}
    assert set(t["spot"].to_pylist()) == {spot}
    assert pc.sum(t["open_interest"]).as_py() == oi
    # volatility 0 -> iv null; on the expiry settling that day, delta and gamma null as well
    assert t["iv"].null_count == iv0
    assert t["gamma"].null_count == dead and t["delta"].null_count == dead
    assert set(t["underlying"].to_pylist()) == {"SPX"}
    assert pc.all(pc.greater_equal(t["expiry"], pa.scalar(session, pa.date32()))).as_py()
    assert len(set(t["expiry"].to_pylist())) == 8  # only the next 8 expiries


def test_monthly_runs_get_their_roots(bc: Path) -> None:
    # 2026-02-20 is the February standard monthly: records 1-483 of its list are one run
    # (no volume that day: the AM-settled SPX, which stopped trading the day before), the
    # last 17 repeat those strikes (the PM-settled SPXW that traded 1,117,225 contracts).
    t, _, _ = _read(bc / "SPX_2026-02-20.json")
    day = pc.filter(t, pc.equal(t["expiry"], pa.scalar(dt.date(2026, 2, 20), pa.date32())))
    spx = pc.filter(day, pc.equal(day["root"], "SPX"))
    spxw = pc.filter(day, pc.equal(day["root"], "SPXW"))
    assert (spx.num_rows, spxw.num_rows) == (483, 17)
    assert pc.sum(spx["volume"]).as_py() == 0
    assert pc.sum(spxw["volume"]).as_py() == 1_117_225
    assert set(spx["settlement"].to_pylist()) == {"AM"}
    assert set(spxw["settlement"].to_pylist()) == {"PM"}
    # every other expiry is SPXW
    other = pc.filter(t, pc.not_equal(t["expiry"], pa.scalar(dt.date(2026, 2, 20), pa.date32())))
    assert set(other["root"].to_pylist()) == {"SPXW"}
    # one symbol per contract
    assert len(set(t["symbol"].to_pylist())) == t.num_rows
    row = pc.filter(spxw, pc.equal(spxw["strike"], 6900.0)).to_pylist()
    assert row[0]["symbol"] == "SPXW260220C06900000"
    assert (row[0]["bid"], row[0]["ask"], row[0]["volume"]) == (6.0, 6.6, 111994)


def test_expiry_day_monthly_traded_run_is_pm(bc: Path) -> None:
    # On 2026-03-20 (the March monthly's own day) the first run traded: it is SPXW; the 58
    # repeated strikes with no volume are the AM-settled SPX.
    t, _, _ = _read(bc / "SPX_2026-03-20.json")
    day = pc.filter(t, pc.equal(t["expiry"], pa.scalar(dt.date(2026, 3, 20), pa.date32())))
    spx = pc.filter(day, pc.equal(day["root"], "SPX"))
    assert spx.num_rows == 58 and pc.sum(spx["volume"]).as_py() == 0


@pytest.mark.parametrize(
    ("name", "n", "prev"),
    [("SPX_2026-04-03.json", 3646, "2026-04-02"), ("SPX_2026-05-25.json", 3538, "2026-05-22")],
)
def test_holiday_files_refused_whole(bc: Path, name: str, n: int, prev: str) -> None:
    t, rej, rows = _read(bc / name)
    assert rows == n and t.num_rows == 0 and rej.num_rows == n
    assert set(rej["column"].to_pylist()) == {"date"}
    (reason,) = set(rej["reason"].to_pylist())
    assert "not a trading session (exchange holiday)" in reason and prev in reason
    assert rej["row"].to_pylist() == list(range(1, n + 1))


def test_bad_records_are_named(tmp_path: Path, bc: Path) -> None:
    doc = json.loads((bc / "SPX_2026-05-29.json").read_text())
    exp = next(iter(doc["expiries"]))
    recs = doc["expiries"][exp]
    recs[0]["openInterest"] = "lots"
    recs[1]["optionType"] = "Straddle"
    recs[2]["strikePrice"] = -5
    recs[3]["volume"] = 1.5
    f = tmp_path / "snap.json"
    f.write_text(json.dumps(doc))
    t, rej, rows = _read(f)
    assert rows == 3774 and rej.num_rows == 4
    got = {(r["row"], r["column"], r["reason"]) for r in rej.to_pylist()}
    assert got == {
        (1, f"expiries/{exp}/openInterest", "not a number"),
        (2, f"expiries/{exp}/optionType", "optionType must be Call or Put"),
        (3, f"expiries/{exp}/strikePrice", "strike must be > 0"),
        (4, f"expiries/{exp}/volume", "not a whole number"),
    }


def test_truncated_file_is_a_clear_error(tmp_path: Path, bc: Path) -> None:
    from chainlens.errors import InputError

    f = tmp_path / "cut.json"
    f.write_bytes((bc / "SPX_2026-05-29.json").read_bytes()[:5000])
    with pytest.raises(InputError, match="not valid JSON"):
        list(read_file(f))


def test_ingest_run_report(bc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    files = [str(bc / f"SPX_2026-05-{d}.json") for d in (22, 25, 26)]
    # the Memorial Day file is refused (exit 2), the two sessions are stored
    assert run_guarded(app, ["ingest", *files, "--store", str(store), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in out] == ["ingested", "failed", "ingested"]
    assert [r["accepted"] for r in out] == [3650, 0, 3602]
    with Store(store) as st:
        assert st.session_dates("SPX") == [dt.date(2026, 5, 22), dt.date(2026, 5, 26)]
    assert run_guarded(app, ["run", "--date", "2026-05-26", "--store", str(store)]) == 0
    capsys.readouterr()
    s = ["--date", "2026-05-26", "--store", str(store), "--format", "json"]
    assert run_guarded(app, ["report", "SPX", *s]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["ticker"] == "SPX"
