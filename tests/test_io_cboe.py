"""Cboe quote-table CSV: every real file ingests, totals match independent stdlib counts."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens.io import detect_format, read_chain, read_file
from chainlens.io._cboe_quotes import parse_date_line
from chainlens.schema import CHAIN

pytestmark = pytest.mark.realdata


def _independent(path: Path) -> dict:
    """Totals computed with the csv module only (no chainlens code)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    h = next(i for i, r in enumerate(rows) if r and r[0] == "Expiration Date")
    header = rows[h]
    s = header.index("Strike")
    oi_c, oi_p = header.index("Open Interest"), s + 1 + header[s + 1 :].index("Open Interest")
    v_c, v_p = header.index("Volume"), s + 1 + header[s + 1 :].index("Volume")
    data = [r for r in rows[h + 1 :] if any(x.strip() for x in r)]
    spot_line = next(r for r in rows[:h] if any("Last:" in x for x in r))
    spot = float(next(x for x in spot_line if "Last:" in x).split(":")[1])
    return {
        "contracts": 2 * len(data),
        "oi": sum(int(r[oi_c]) + int(r[oi_p]) for r in data),
        "volume": sum(int(r[v_c]) + int(r[v_p]) for r in data),
        "expiries": {dt.datetime.strptime(r[0], "%a %b %d %Y").date() for r in data},
        "spot": spot,
        "roots": {r[1][:-15] for r in data},
    }


def _all_files(d: Path) -> list[Path]:
    return sorted(d.glob("*/*.csv"))


def test_every_cboe_file_ingests_with_independent_totals(cboe_dir: Path) -> None:
    files = _all_files(cboe_dir)
    assert len(files) >= 60
    for f in files:
        assert detect_format(f) == "cboe_quotes", f
        results = list(read_file(f))
        t = pa.concat_tables([r.table for r in results])
        rej = sum(r.rejects.num_rows for r in results)
        read = sum(r.rows_read for r in results)
        ref = _independent(f)
        assert read == t.num_rows + rej == ref["contracts"], f
        assert rej == 0, (f, results[0].rejects.slice(0, 3).to_pylist())
        assert pc.sum(t["open_interest"]).as_py() == ref["oi"], f
        assert pc.sum(t["volume"]).as_py() == ref["volume"], f
        assert set(pc.unique(t["expiry"]).to_pylist()) == ref["expiries"], f
        assert pc.unique(t["spot"]).to_pylist() == [ref["spot"]], f
        assert set(pc.unique(t["root"]).to_pylist()) == ref["roots"], f
        assert t.schema.equals(CHAIN)


# Hand-worked: date line -> UTC -> session by the rule (after close: that session; before
# the open / weekend / holiday: the previous session; intraday: that session).
SESSIONS = {
    # English "at", EDT, Sunday night -> Friday
    "SPX/SPX_2023-08-20_2242ET__aryamanwastaken.csv": ("2023-08-21T02:42:00", "2023-08-18"),
    # "UTC−4" with a Unicode minus, after the close
    "SPX/SPX_2023-04-05_1941ET__ayour.csv": ("2023-04-05T23:41:00", "2023-04-05"),
    # Spanish, GMT-4, intraday
    "SPX/SPX_2022-03-23_1011ET_intraday__carlosjimenezdiaz.csv": (
        "2022-03-23T14:11:00",
        "2022-03-23",
    ),
    # Russian, GMT-5 (written by the downloader's clock), Saturday -> Friday
    "SPX/SPX_2023-12-09_1349ET_PARTIAL-DEC__romankop.csv": ("2023-12-09T18:49:00", "2023-12-08"),
    # French "à", UTC−4
    "SPY/SPY_2023-04-11_2223ET__ayour.csv": ("2023-04-12T02:23:00", "2023-04-11"),
    # no IV/Delta/Gamma columns; trailing commas; before the open -> previous session
    "SPX/SPX_2024-02-13_0640ET__wantToL.csv": ("2024-02-13T11:40:00", "2024-02-12"),
    # trailing commas on the preamble, CRLF, Sunday 03:11 EST
    "SPX/SPX_2022-01-09_0311ET_PARTIAL-JAN-SPXW__philipfelizarta.csv": (
        "2022-01-09T08:11:00",
        "2022-01-07",
    ),
    # Memorial Day (holiday) -> previous session
    "QQQ/QQQ_2023-05-29_1104ET__ayour.csv": ("2023-05-29T15:04:00", "2023-05-26"),
    # 2023-04-07 Good Friday holiday: the 04-06 evening file is 04-06
    "SPX/SPX_2023-04-06_2248ET__ayour.csv": ("2023-04-07T02:48:00", "2023-04-06"),
    # the date line is what we read: it says 13 May 2023 19:50 EDT (a Saturday) -> 12 May,
    # although the file name says the 2023-05-23 session (the name is not data)
    "NDX/NDX_2023-05-23_session_DATELINE-WRONG__ayour.csv": ("2023-05-13T23:50:00", "2023-05-12"),
    # "4 June 4": no year in the date line -> the year nearest the first expiry (2023-06-05)
    "SPY/SPY_2023-06-04_1515ET__ayour.csv": ("2023-06-04T19:15:00", "2023-06-02"),
    # 24-hour clock with GMT-4
    "SPX/SPX_2026-03-14_0734ET_PARTIAL__tom-sims.csv": ("2026-03-14T11:34:00", "2026-03-13"),
}


@pytest.mark.parametrize("rel", sorted(SESSIONS))
def test_snapshot_and_session(cboe_dir: Path, rel: str) -> None:
    ts, session = SESSIONS[rel]
    t = read_chain(cboe_dir / rel)
    assert pc.unique(t["snapshot_ts"]).to_pylist()[0].isoformat() == ts + "+00:00"
    assert pc.unique(t["trade_date"]).to_pylist() == [dt.date.fromisoformat(session)]


def test_no_greek_columns_give_null_greeks(cboe_dir: Path) -> None:
    t = read_chain(cboe_dir / "SPX/SPX_2024-02-13_0640ET__wantToL.csv")
    assert t["iv"].null_count == t.num_rows and t["gamma"].null_count == t.num_rows


def test_both_roots_and_settlement(cboe_dir: Path) -> None:
    t = read_chain(cboe_dir / "SPX/SPX_2023-09-14_1631ET__carlosjimenezdiaz.csv")
    pairs = set(
        zip(
            t["root"].to_pylist(),
            t["settlement"].to_pylist(),
            t["underlying"].to_pylist(),
            strict=True,
        )
    )
    assert pairs == {("SPX", "AM", "SPX"), ("SPXW", "PM", "SPX")}
    n = read_chain(cboe_dir / "NDX/NDX_2023-05-26_1718ET__ayour.csv")
    assert set(pc.unique(n["underlying"]).to_pylist()) == {"NDX"}
    assert {"NDX", "NDXP"} <= set(pc.unique(n["root"]).to_pylist())


def test_zero_iv_is_null_and_nonzero_kept(cboe_dir: Path) -> None:
    f = cboe_dir / "SPX/SPX_2023-09-14_1631ET__carlosjimenezdiaz.csv"
    t = read_chain(f)
    # Independent: count contracts with IV == 0 in the file.
    with open(f, newline="") as fh:
        rows = list(csv.reader(fh))[4:]
    zero = sum((float(r[7]) == 0) + (float(r[18]) == 0) for r in rows)
    assert t["iv"].null_count == zero
    # Vendor delta/gamma are kept as written, also beside IV 0 (SPEC: vendor GEX = hand sum).
    assert t["delta"].null_count == 0 and t["gamma"].null_count == 0
    deltas = [float(r[8]) for r in rows] + [float(r[19]) for r in rows]
    assert sorted(t["delta"].to_pylist()) == sorted(deltas)
    assert pc.min(t["iv"]).as_py() > 0


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Date: 6 April 2023, 21:31 UTC\u22124", "2023-04-07T01:31:00+00:00"),
        ('"Date: August 20, 2023 at 10:35 PM EDT"', "2023-08-21T02:35:00+00:00"),
        ('"Date: February 5 2022, 8:26 PM EST"', "2022-02-06T01:26:00+00:00"),
        ('"Date: 23 de marzo de 2022, 10:11 GMT-4"', "2022-03-23T14:11:00+00:00"),
        (
            "Date: 9 \u0434\u0435\u043a\u0430\u0431\u0440\u044f 2023 \u0433. \u0432 13:49 GMT-5",
            "2023-12-09T18:49:00+00:00",
        ),
        ("Date: 11 April, 2023 \u00e0 22:23 UTC\u22124", "2023-04-12T02:23:00+00:00"),
        ("Date: 10 May 2023, at 3:10 PM EDT", "2023-05-10T19:10:00+00:00"),
        ("Date: 24 September 2023,1:46 PM EDT", "2023-09-24T17:46:00+00:00"),
        ('Date: 13 May 2023, 4:33 AM EDT"', "2023-05-13T08:33:00+00:00"),
        ("Date: 8 June 2023 12:05 AM EDT", "2023-06-08T04:05:00+00:00"),
        ("Date: 12 janvier 2024 à 17:05", "2024-01-12T22:05:00+00:00"),  # no zone -> ET (EST)
    ],
)
def test_parse_date_line(text: str, iso: str) -> None:
    assert parse_date_line(text).isoformat() == iso


def test_date_line_without_year_uses_hint() -> None:
    got = parse_date_line("Date: 4 June 4, 3:15 PM EDT", year_hint=dt.date(2023, 6, 5))
    assert got.isoformat() == "2023-06-04T19:15:00+00:00"
    with pytest.raises(ValueError):
        parse_date_line("Date: 4 June 4, 3:15 PM EDT")
