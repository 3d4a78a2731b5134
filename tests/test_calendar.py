"""Sessions, snapshots, settlement instants and expiry classes.

Every expected value below is typed in by hand from published facts (NYSE holiday and
early-close schedules, the Cboe expiration calendars, US daylight-saving dates), never produced
by the code under test.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens import calendar as cal
from chainlens.errors import InputError

ET = ZoneInfo("America/New_York")
UTC = dt.UTC
D = dt.date


def utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=UTC)


def et(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=ET)


# --------------------------------------------------------------------------------------------
# sessions

NYSE_HOLIDAYS_2023 = [
    D(2023, 1, 2),  # New Year's Day (observed)
    D(2023, 1, 16),  # MLK
    D(2023, 2, 20),  # Presidents
    D(2023, 4, 7),  # Good Friday
    D(2023, 5, 29),  # Memorial
    D(2023, 6, 19),  # Juneteenth
    D(2023, 7, 4),
    D(2023, 9, 4),  # Labor
    D(2023, 11, 23),  # Thanksgiving
    D(2023, 12, 25),
]


def test_holidays_2023_are_not_sessions() -> None:
    assert cal.is_session(NYSE_HOLIDAYS_2023).tolist() == [False] * len(NYSE_HOLIDAYS_2023)
    assert cal.is_session(D(2023, 4, 7)) is False
    assert cal.is_session(D(2023, 4, 6)) is True
    assert cal.is_session(D(2023, 4, 8)) is False  # Saturday


@pytest.mark.parametrize(
    "day",
    [D(2018, 12, 5), D(2012, 10, 29), D(2012, 10, 30), D(2001, 9, 11), D(2025, 1, 9)],
)
def test_special_closures(day: dt.date) -> None:
    # Bush and Carter days of mourning, Hurricane Sandy, 9/11.
    assert cal.is_session(day) is False


@pytest.mark.parametrize(("year", "count"), [(2022, 251), (2023, 250), (2024, 252)])
def test_session_counts_per_year(year: int, count: int) -> None:
    s = cal.sessions_in_range(D(year, 1, 1), D(year, 12, 31))
    assert len(s) == count
    assert s.dtype == np.dtype("datetime64[D]")


def test_sessions_in_range_around_good_friday() -> None:
    got = cal.sessions_in_range("2023-04-05", "2023-04-11").astype(str).tolist()
    assert got == ["2023-04-05", "2023-04-06", "2023-04-10", "2023-04-11"]
    assert len(cal.sessions_in_range("2023-04-11", "2023-04-05")) == 0


def test_previous_next_session() -> None:
    assert cal.previous_session(D(2023, 4, 10)) == D(2023, 4, 6)
    assert cal.previous_session(D(2023, 4, 7)) == D(2023, 4, 6)
    assert cal.next_session(D(2023, 4, 6)) == D(2023, 4, 10)
    assert cal.next_session(D(2023, 6, 16)) == D(2023, 6, 20)  # over Juneteenth
    assert cal.session_on_or_before(D(2023, 4, 7)) == D(2023, 4, 6)
    assert cal.session_on_or_before(D(2023, 4, 6)) == D(2023, 4, 6)
    got = cal.previous_session(np.array(["2023-05-30", "2023-01-03"], dtype="datetime64[D]"))
    assert got.astype(str).tolist() == ["2023-05-26", "2022-12-30"]
    got = cal.next_session(pa.array([D(2023, 11, 22), D(2023, 12, 22)], pa.date32()))
    assert got.astype(str).tolist() == ["2023-11-24", "2023-12-26"]


def test_open_close_and_early_closes() -> None:
    assert cal.session_open(D(2023, 9, 15)) == utc(2023, 9, 15, 13, 30)  # EDT
    assert cal.session_open(D(2023, 12, 15)) == utc(2023, 12, 15, 14, 30)  # EST
    assert cal.session_close(D(2023, 9, 15)) == utc(2023, 9, 15, 20, 0)
    assert cal.session_close(D(2023, 12, 15)) == utc(2023, 12, 15, 21, 0)
    # early closes at 13:00 ET
    assert cal.session_close(D(2023, 11, 24)) == utc(2023, 11, 24, 18, 0)  # EST
    assert cal.session_close(D(2024, 7, 3)) == utc(2024, 7, 3, 17, 0)  # EDT
    assert cal.session_close(D(2023, 7, 3)) == utc(2023, 7, 3, 17, 0)
    assert cal.session_close(D(2024, 12, 24)) == utc(2024, 12, 24, 18, 0)
    days = [D(2023, 11, 24), D(2024, 7, 3), D(2024, 11, 29), D(2023, 11, 22), D(2024, 7, 5)]
    assert cal.is_early_close(days).tolist() == [True, True, True, False, False]
    closes = cal.session_close(np.array(["2023-11-24", "2023-11-27"], dtype="datetime64[D]"))
    assert closes.astype(str).tolist() == [
        "2023-11-24T18:00:00.000000000",
        "2023-11-27T21:00:00.000000000",
    ]


def test_open_close_of_a_holiday_is_an_error() -> None:
    with pytest.raises(InputError, match="not a XNYS session"):
        cal.session_close(D(2023, 4, 7))
    with pytest.raises(InputError, match="not a XNYS session"):
        cal.session_open(D(2023, 4, 8))


def test_range_and_bad_dates() -> None:
    assert cal.is_session(D(2035, 12, 21)) is True  # LEAPS horizon is covered
    with pytest.raises(InputError, match="outside the trading calendar"):
        cal.is_session(D(2036, 1, 2))
    with pytest.raises(InputError, match="not a date"):
        cal.is_session("not a date")
    # timezone-aware datetimes count by their local date
    aware = [dt.datetime(2023, 4, 6, 23, tzinfo=ET), D(2023, 4, 7), "2023-04-10"]
    assert cal.is_session(aware).tolist() == [True, False, True]
    with pytest.raises(InputError, match="null"):
        cal.is_session(pa.array([D(2023, 1, 3), None], pa.date32()))


def test_importing_does_not_build_the_calendar() -> None:
    code = "import sys, chainlens.calendar; print('exchange_calendars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# snapshots: the file names of ../shared/data/cboe_quotedata give the download time in ET

SNAPSHOTS = [
    ("SPX_2023-05-13_0433ET", D(2023, 5, 12), "after_close"),  # Saturday
    ("SPX_2023-06-09_1340ET_intraday", D(2023, 6, 9), "intraday"),
    ("QQQ_2023-06-11_1807ET", D(2023, 6, 9), "after_close"),  # Sunday
    ("QQQ_2023-05-29_1104ET", D(2023, 5, 26), "after_close"),  # Memorial Day
    ("SPX_2023-09-04_1456ET", D(2023, 9, 1), "after_close"),  # Labor Day
    ("SPX_2024-02-13_0640ET", D(2024, 2, 12), "pre_open"),  # Tuesday before the open
    ("SPY_2023-04-27_0715ET", D(2023, 4, 26), "pre_open"),
    ("NDX_2023-05-16_0630ET", D(2023, 5, 15), "pre_open"),
    ("QQQ_2023-05-10_1510ET_intraday", D(2023, 5, 10), "intraday"),
    ("SPX_2022-03-23_1011ET_intraday", D(2022, 3, 23), "intraday"),
    ("SPX_2022-01-09_0311ET", D(2022, 1, 7), "after_close"),  # Sunday
    ("SPX_2022-02-19_1617ET", D(2022, 2, 18), "after_close"),  # Saturday
    ("SPX_2023-04-06_2248ET", D(2023, 4, 6), "after_close"),
    ("SPX_2023-09-14_1631ET", D(2023, 9, 14), "after_close"),
    ("QQQ_2023-06-12_1635ET", D(2023, 6, 12), "after_close"),
    ("SPX_2026-03-14_0734ET", D(2026, 3, 13), "after_close"),  # Saturday
    ("SPY_2023-04-16_2305ET", D(2023, 4, 14), "after_close"),  # Sunday
]


def _download_time(name: str) -> dt.datetime:
    m = re.match(r"[A-Z]+_(\d{4})-(\d{2})-(\d{2})_(\d{2})(\d{2})ET", name)
    assert m is not None
    return et(*map(int, m.groups()))


@pytest.mark.parametrize(("name", "session", "phase"), SNAPSHOTS)
def test_session_of_snapshot_file_names(name: str, session: dt.date, phase: str) -> None:
    got = cal.session_of_snapshot(_download_time(name))
    assert got == cal.SnapshotSession(session, phase)  # type: ignore[arg-type]
    assert got.is_intraday == (phase == "intraday")


def test_session_of_snapshot_edges() -> None:
    f = cal.session_of_snapshot
    assert f(et(2023, 4, 10, 9, 29, 59)) == cal.SnapshotSession(D(2023, 4, 6), "pre_open")
    assert f(et(2023, 4, 10, 9, 30)) == cal.SnapshotSession(D(2023, 4, 10), "intraday")
    assert f(et(2023, 4, 10, 15, 59, 59)).phase == "intraday"
    assert f(et(2023, 4, 10, 16, 0)) == cal.SnapshotSession(D(2023, 4, 10), "after_close")
    assert f(et(2023, 4, 11, 0, 0)) == cal.SnapshotSession(D(2023, 4, 10), "pre_open")
    assert f(et(2023, 4, 7, 10, 0)) == cal.SnapshotSession(D(2023, 4, 6), "after_close")  # holiday
    assert f(et(2023, 11, 24, 12, 59)).phase == "intraday"  # early close day
    assert f(et(2023, 11, 24, 13, 30)) == cal.SnapshotSession(D(2023, 11, 24), "after_close")
    # naive datetimes are UTC; other zones are converted
    assert f(dt.datetime(2023, 9, 14, 20, 31)) == cal.SnapshotSession(D(2023, 9, 14), "after_close")
    assert f(utc(2023, 9, 14, 19, 0)).phase == "intraday"
    assert f("2023-09-14T19:00:00").phase == "intraday"
    assert f("2023-09-14T20:31:00Z").phase == "after_close"
    assert f("2023-09-14T16:31:00-04:00").phase == "after_close"
    assert f(np.datetime64("2023-09-14T19:00", "ns")).phase == "intraday"
    with pytest.raises(InputError, match="not a timestamp"):
        f("yesterday-ish")


def test_sessions_of_snapshots_vectorized_agrees() -> None:
    stamps = [_download_time(n) for n, _, _ in SNAPSHOTS]
    arr = pa.array(stamps, pa.timestamp("ns", tz="UTC"))
    days, phases = cal.sessions_of_snapshots(arr)
    assert days.tolist() == [s for _, s, _ in SNAPSHOTS]
    assert phases.tolist() == [p for _, _, p in SNAPSHOTS]
    naive = np.array([s.astimezone(UTC).replace(tzinfo=None) for s in stamps], "datetime64[ns]")
    d2, p2 = cal.sessions_of_snapshots(naive)
    assert (d2 == days).all() and (p2 == phases).all()
    d3, p3 = cal.sessions_of_snapshots(stamps)  # a list of aware datetimes
    assert (d3 == days).all() and (p3 == phases).all()


@pytest.mark.realdata
def test_every_cboe_file_name_maps_to_a_session(cboe_dir: Path) -> None:
    names = sorted(p.name for p in cboe_dir.glob("*/*ET*.csv"))
    assert names
    for name in names:
        s = cal.session_of_snapshot(_download_time(name))
        assert cal.is_session(s.session)
        assert (s.phase == "intraday") == ("intraday" in name), name


# --------------------------------------------------------------------------------------------
# settlement


def test_settlement_of_root() -> None:
    roots = ["SPX", "SPXW", "NDX", "NDXP", "VIX", "VIXW", "RUT", "QQQ", "AAPL1"]
    expected = ["AM", "PM", "AM", "PM", "AM", "AM", "AM", "PM", "PM"]
    assert [cal.settlement_of_root(r) for r in roots] == expected
    assert cal.settlement_of_root(np.array(roots)).tolist() == expected
    got = cal.settlement_of_root(pa.array([*roots, None]))
    assert got.to_pylist() == [*expected, None]
    got = cal.settlement_of_root(pa.chunked_array([pa.array(roots).dictionary_encode()]))
    assert got.to_pylist() == expected


SETTLEMENTS = [
    # (expiry, AM|PM, expected UTC instant) — DST: EDT = UTC-4, EST = UTC-5
    (D(2023, 9, 15), "AM", utc(2023, 9, 15, 13, 30)),  # SPX monthly, summer
    (D(2023, 9, 15), "PM", utc(2023, 9, 15, 20, 0)),  # SPXW
    (D(2023, 12, 15), "AM", utc(2023, 12, 15, 14, 30)),  # winter
    (D(2023, 12, 15), "PM", utc(2023, 12, 15, 21, 0)),
    (D(2023, 3, 10), "PM", utc(2023, 3, 10, 21, 0)),  # Friday before DST starts (Mar 12)
    (D(2023, 3, 17), "PM", utc(2023, 3, 17, 20, 0)),  # Friday after
    (D(2023, 11, 3), "PM", utc(2023, 11, 3, 20, 0)),  # Friday before DST ends (Nov 5)
    (D(2023, 11, 24), "PM", utc(2023, 11, 24, 18, 0)),  # early close 13:00 EST
    (D(2023, 11, 24), "AM", utc(2023, 11, 24, 14, 30)),
    (D(2024, 7, 3), "PM", utc(2024, 7, 3, 17, 0)),  # early close 13:00 EDT
    (D(2023, 4, 7), "PM", utc(2023, 4, 6, 20, 0)),  # Good Friday -> Thursday close
    (D(2023, 4, 7), "AM", utc(2023, 4, 6, 13, 30)),  # -> Thursday 09:30
    (D(2022, 4, 14), "AM", utc(2022, 4, 14, 13, 30)),  # April 2022 SPX monthly (Thursday)
    (D(2014, 1, 18), "AM", utc(2014, 1, 17, 14, 30)),  # legacy Saturday expiry date
    (D(2023, 5, 17), "AM", utc(2023, 5, 17, 13, 30)),  # VIX monthly (Wednesday)
    (D(2035, 12, 21), "PM", utc(2035, 12, 21, 21, 0)),  # far LEAPS
]


def test_settlement_instants_hand_cases() -> None:
    exp = [e for e, _, _ in SETTLEMENTS]
    got = cal.settlement_instants(exp, [s for _, s, _ in SETTLEMENTS])
    assert got.dtype == np.dtype("datetime64[ns]")
    expected = np.array([i.replace(tzinfo=None) for _, _, i in SETTLEMENTS], "datetime64[ns]")
    assert got.tolist() == expected.tolist()
    for e, s, i in SETTLEMENTS:
        assert cal.settlement_instant(e, s) == i  # type: ignore[arg-type]


def test_settlement_instants_inputs() -> None:
    exp = pa.chunked_array([[D(2023, 9, 15)], [D(2023, 9, 15)]], pa.date32())
    got = cal.settlement_instants(exp, pa.array(["AM", "PM"]))
    assert got.astype(str).tolist() == [
        "2023-09-15T13:30:00.000000000",
        "2023-09-15T20:00:00.000000000",
    ]
    assert cal.settlement_instants(np.array(["2023-09-15"], "datetime64[D]"), "PM").astype(
        str
    ).tolist() == ["2023-09-15T20:00:00.000000000"]
    assert len(cal.settlement_instants([], [])) == 0
    with pytest.raises(InputError, match="'AM' or 'PM'") as ei:
        cal.settlement_instants([D(2023, 9, 15)] * 2, ["AM", "XX"])
    assert ei.value.row == 1
    with pytest.raises(InputError, match="'AM' or 'PM'") as ei:
        cal.settlement_instants(exp, pa.array(["PM", None]))
    assert ei.value.row == 1
    with pytest.raises(InputError, match="'AM' or 'PM'") as ei:
        cal.settlement_instants(exp, pa.array(["PM", "pm"]).dictionary_encode())
    assert (ei.value.row, ei.value.value) == (1, "pm")
    with pytest.raises(InputError, match="same length"):
        cal.settlement_instants([D(2023, 9, 15)] * 2, ["AM"])
    with pytest.raises(InputError, match="outside the trading calendar"):
        cal.settlement_instants([D(2040, 1, 20)], ["PM"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dates(min_value=D(2001, 1, 1), max_value=D(2035, 12, 31)),
            st.sampled_from(["AM", "PM"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_settlement_instants_match_scalar_reference(rows: list) -> None:
    """Vectorized path vs a slow per-row reference built on zoneinfo."""
    exp, sett = zip(*rows, strict=True)
    got = cal.settlement_instants(list(exp), list(sett))
    ref = []
    for e, s in rows:
        eff = e if cal.is_session(e) else cal.previous_session(e)
        if s == "AM":
            inst = dt.datetime.combine(eff, dt.time(9, 30), ET).astimezone(UTC)
        else:
            inst = min(
                dt.datetime.combine(eff, dt.time(16, 0), ET).astimezone(UTC),
                cal.session_close(eff),
            )
        ref.append(np.datetime64(inst.replace(tzinfo=None), "ns"))
    assert got.tolist() == np.array(ref, "datetime64[ns]").tolist()


# --------------------------------------------------------------------------------------------
# expiry cycles


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2023, 9, D(2023, 9, 15)),
        (2022, 4, D(2022, 4, 15)),
        (2024, 3, D(2024, 3, 15)),
        (2021, 10, D(2021, 10, 15)),  # month starting on a Friday
        (2025, 1, D(2025, 1, 17)),
        (2020, 2, D(2020, 2, 21)),  # month starting on a Saturday
    ],
)
def test_third_friday(year: int, month: int, expected: dt.date) -> None:
    assert cal.third_friday(year, month) == expected


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2022, 4, D(2022, 4, 14)),  # Good Friday 2022-04-15
        (2025, 4, D(2025, 4, 17)),  # Good Friday 2025-04-18
        (2019, 4, D(2019, 4, 18)),  # Good Friday 2019-04-19
        (2023, 4, D(2023, 4, 21)),  # Good Friday 2023 was the first Friday
        (2023, 9, D(2023, 9, 15)),
    ],
)
def test_standard_monthly_expiry(year: int, month: int, expected: dt.date) -> None:
    assert cal.standard_monthly_expiry(year, month) == expected


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2023, 5, D(2023, 5, 17)),
        (2023, 6, D(2023, 6, 21)),
        (2023, 12, D(2023, 12, 20)),
        (2022, 3, D(2022, 3, 15)),  # next third Friday is Good Friday -> Tuesday
        (2022, 4, D(2022, 4, 20)),
    ],
)
def test_vix_monthly_expiry(year: int, month: int, expected: dt.date) -> None:
    assert cal.vix_monthly_expiry(year, month) == expected


def test_month_out_of_range() -> None:
    with pytest.raises(InputError, match="month"):
        cal.third_friday(2023, 13)


EXPIRY_CASES_20230914 = [
    (D(2023, 9, 14), "0dte"),
    (D(2023, 9, 15), "quarterly"),  # September monthly
    (D(2023, 9, 18), "weekly"),
    (D(2023, 9, 22), "weekly"),
    (D(2023, 9, 29), "quarterly"),  # last session of September
    (D(2023, 10, 20), "monthly"),
    (D(2023, 10, 31), "weekly"),  # month end, not a quarter month
    (D(2023, 11, 17), "monthly"),
    (D(2023, 12, 15), "quarterly"),
    (D(2023, 12, 29), "quarterly"),  # last session of 2023
    (D(2024, 3, 28), "quarterly"),  # last session of March 2024 (Good Friday 03-29)
    (D(2024, 8, 16), "monthly"),  # 337 days out
    (D(2024, 9, 20), "leaps"),  # 372 days out
    (D(2025, 12, 19), "leaps"),
]


def test_expiry_class_spx_chain() -> None:
    exp = [e for e, _ in EXPIRY_CASES_20230914]
    got = cal.expiry_class(exp, D(2023, 9, 14), "SPXW")
    assert got.tolist() == [c for _, c in EXPIRY_CASES_20230914]
    for e, c in EXPIRY_CASES_20230914:
        assert cal.expiry_class(e, D(2023, 9, 14)) == c


def test_expiry_class_holiday_shift_and_leaps_threshold() -> None:
    s = D(2022, 4, 1)
    got = cal.expiry_class([D(2022, 4, 8), D(2022, 4, 14), D(2022, 4, 15)], s)
    assert got.tolist() == ["weekly", "monthly", "monthly"]  # a listed holiday Friday too
    assert cal.expiry_class(D(2024, 1, 19), D(2023, 1, 19)) == "monthly"  # exactly 365 days
    assert cal.expiry_class(D(2024, 1, 19), D(2023, 1, 18)) == "leaps"  # 366 days
    assert cal.expiry_class(D(2024, 1, 19), D(2023, 1, 18), leaps_days=400) == "monthly"
    assert cal.expiry_class(D(2023, 4, 7), D(2023, 4, 6)) == "0dte"  # Good Friday listing


def test_expiry_class_vix_cycle() -> None:
    s = D(2023, 5, 15)
    exp = [D(2023, 5, 17), D(2023, 5, 24), D(2023, 6, 21), D(2023, 5, 19)]
    got = cal.expiry_class(exp, s, ["VIX", "VIXW", "VIX", "VIX"])
    assert got.tolist() == ["monthly", "weekly", "monthly", "weekly"]
    assert cal.expiry_class(D(2023, 6, 21), s, "SPXW") == "weekly"
    arrow_roots = pa.array(["VIX", "VIXW", "VIX", "VIX"]).dictionary_encode()
    assert cal.expiry_class(exp, s, arrow_roots).tolist() == got.tolist()
    assert cal.expiry_class(D(2022, 3, 15), D(2022, 3, 1), "VIX") == "monthly"


def test_expiry_class_per_row_sessions() -> None:
    exp = pa.array([D(2023, 9, 15), D(2023, 9, 15)], pa.date32())
    ses = pa.array([D(2023, 9, 15), D(2023, 9, 14)], pa.date32())
    assert cal.expiry_class(exp, ses).tolist() == ["0dte", "quarterly"]
    with pytest.raises(InputError, match="same length"):
        cal.expiry_class(exp, [D(2023, 9, 14)] * 3)


@pytest.mark.realdata
def test_spx_and_vix_roots_in_real_files_are_on_the_monthly_cycle(cboe_dir: Path) -> None:
    """SPX (AM) and VIX roots are listed only on the standard monthly cycles: no 'weekly'."""
    import csv

    from chainlens.symbols import parse_osi_array

    checked = 0
    for path in sorted(cboe_dir.glob("SPX/*.csv")) + sorted(cboe_dir.glob("VIX/*.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            syms = [r[1] for r in csv.reader(f) if len(r) > 12 and re.match(r"[A-Z]", r[1] or "")]
        t = parse_osi_array(pa.array(syms))
        t = t.filter(t.column("valid"))
        roots = np.array(t.column("root").to_pylist())
        keep = np.isin(roots, ["SPX", "VIX"])
        if not keep.any():
            continue
        exp = t.column("expiry").to_numpy(zero_copy_only=False)[keep]
        session = cal.session_of_snapshot(_download_time(path.name)).session
        classes = cal.expiry_class(exp, session, roots[keep])
        assert "weekly" not in set(classes.tolist()), path.name
        checked += int(keep.sum())
    assert checked > 1000


def test_public_api() -> None:
    assert sorted(cal.__all__) == sorted(
        [
            "CALENDAR_END",
            "CALENDAR_NAME",
            "CALENDAR_START",
            "LEAPS_MIN_DAYS",
            "Phase",
            "SnapshotSession",
            "expiry_class",
            "is_early_close",
            "is_session",
            "next_session",
            "previous_session",
            "session_close",
            "session_of_snapshot",
            "session_on_or_before",
            "session_open",
            "sessions_in_range",
            "sessions_of_snapshots",
            "settlement_instant",
            "settlement_instants",
            "settlement_of_root",
            "standard_monthly_expiry",
            "third_friday",
            "vix_monthly_expiry",
        ]
    )
    assert all(hasattr(cal, name) for name in cal.__all__)


def test_disk_cache_round_trips_the_built_table(tmp_path, monkeypatch) -> None:
    """The cached session table equals a fresh build from exchange_calendars."""
    import numpy as np

    from chainlens import calendar as cal

    monkeypatch.setenv("CHAINLENS_CACHE_DIR", str(tmp_path))
    cal._cal.cache_clear()
    try:
        built = cal._cal()  # builds and writes the cache
        assert cal._cache_path() is not None and cal._cache_path().is_file()
        cal._cal.cache_clear()
        cached = cal._cal()  # reads it back
        for name in ("days", "opens", "closes", "midnights"):
            np.testing.assert_array_equal(getattr(built, name), getattr(cached, name))
        # a corrupt cache is rebuilt, not trusted
        cal._cache_path().write_bytes(b"not an npz")
        cal._cal.cache_clear()
        np.testing.assert_array_equal(cal._cal().closes, built.closes)
    finally:
        cal._cal.cache_clear()


def test_session_local_times_match_the_time_zone_library() -> None:
    """AM/PM instants from session midnights equal zoneinfo's conversion on every session."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    import numpy as np

    from chainlens import calendar as cal

    c = cal._cal()
    k = np.arange(0, len(c.days), 97)
    got = cal._session_local_ns(k, dt.time(9, 30))
    ny = ZoneInfo("America/New_York")
    for i, g in zip(k, got, strict=True):
        d = dt.date(1970, 1, 1) + dt.timedelta(days=int(c.days[i]))
        want = dt.datetime.combine(d, dt.time(9, 30), tzinfo=ny).timestamp() * 1e9
        assert int(g) == int(want)
