"""OSI symbols: hand-typed cases, error cases, round-trip properties, and real vendor files
whose own expiry/strike/right columns are the independent reference."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainlens.errors import InputError
from chainlens.symbols import (
    OsiSymbol,
    format_osi,
    format_osi_array,
    parse_osi,
    parse_osi_array,
)

# --------------------------------------------------------------------------------------------
# hand-typed cases: (symbol, root, expiry, right, strike)

CASES = [
    ("SPXW230915C04500000", "SPXW", dt.date(2023, 9, 15), "C", 4500.0),
    ("SPX230915P04450000", "SPX", dt.date(2023, 9, 15), "P", 4450.0),
    ("IWM   191018C00100000", "IWM", dt.date(2019, 10, 18), "C", 100.0),
    ("IWM   191018P00152500", "IWM", dt.date(2019, 10, 18), "P", 152.5),
    ("NDXP230519C13000000", "NDXP", dt.date(2023, 5, 19), "C", 13000.0),
    ("VIXW230607C00017500", "VIXW", dt.date(2023, 6, 7), "C", 17.5),
    ("AAPL1230915P00152500", "AAPL1", dt.date(2023, 9, 15), "P", 152.5),
    ("AAPL1 230915P00152500", "AAPL1", dt.date(2023, 9, 15), "P", 152.5),
    ("BRKB240119C00350000", "BRKB", dt.date(2024, 1, 19), "C", 350.0),
    ("F240119C00012000", "F", dt.date(2024, 1, 19), "C", 12.0),
    ("F     240119C00012000", "F", dt.date(2024, 1, 19), "C", 12.0),
    ("QQQ240229P00000001", "QQQ", dt.date(2024, 2, 29), "P", 0.001),
    ("SPX991231C99999999", "SPX", dt.date(2099, 12, 31), "C", 99999.999),
    ("TSLA230818C00002330", "TSLA", dt.date(2023, 8, 18), "C", 2.33),
]


@pytest.mark.parametrize(("sym", "root", "expiry", "right", "strike"), CASES)
def test_parse_hand_cases(sym: str, root: str, expiry: dt.date, right: str, strike: float) -> None:
    p = parse_osi(sym)
    assert p == OsiSymbol(root, expiry, right, strike)  # type: ignore[arg-type]
    padded = len(sym) == 21 and " " in sym
    assert format_osi(root, expiry, right, strike, padded=padded) == sym


def test_parse_osi_array_matches_hand_cases() -> None:
    t = parse_osi_array(pa.array([c[0] for c in CASES]))
    assert t.column("valid").to_pylist() == [True] * len(CASES)
    assert t.column("root").to_pylist() == [c[1] for c in CASES]
    assert t.column("expiry").to_pylist() == [c[2] for c in CASES]
    assert t.column("right").to_pylist() == [c[3] for c in CASES]
    assert t.column("strike").to_pylist() == [c[4] for c in CASES]
    assert t.column("reason").null_count == len(CASES)


def test_format_osi_array_matches_hand_cases() -> None:
    compact = [c for c in CASES if " " not in c[0]]
    out = format_osi_array(
        pa.array([c[1] for c in compact]),
        pa.array([c[2] for c in compact], pa.date32()),
        pa.array([c[3] for c in compact]),
        pa.array([c[4] for c in compact]),
    )
    assert out.to_pylist() == [c[0] for c in compact]
    padded = format_osi_array(
        np.array(["IWM", "F"]),
        np.array(["2019-10-18", "2024-01-19"], dtype="datetime64[D]"),
        "C",
        np.array([100.0, 12.0]),
        padded=True,
    )
    assert padded.to_pylist() == ["IWM   191018C00100000", "F     240119C00012000"]


# --------------------------------------------------------------------------------------------
# bad input

BAD = [
    ("", "not an OSI symbol"),
    ("SPXW", "not an OSI symbol"),
    ("SPXW230915X04500000", "not an OSI symbol"),  # right X
    ("SPXW230915C4500000", "not an OSI symbol"),  # 7-digit strike
    ("spxw230915C04500000", "not an OSI symbol"),  # lower case
    ("TOOLONG230915C04500000", "not an OSI symbol"),  # 7-char root
    ("1SPX230915C04500000", "not an OSI symbol"),  # root starts with a digit
    ("IWM  191018C00100000", "21 characters"),  # padded to 5, not 6
    ("SPXW231315C04500000", "invalid expiration date"),  # month 13
    ("SPXW230230C04500000", "invalid expiration date"),  # Feb 30
    ("SPXW230229C04500000", "invalid expiration date"),  # 2023 not a leap year
    ("SPXW230900C04500000", "invalid expiration date"),  # day 0
    ("SPXW230915C00000000", "strike must be > 0"),
]


@pytest.mark.parametrize(("sym", "reason"), BAD)
def test_parse_rejects(sym: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as ei:
        parse_osi(sym)
    assert ei.value.value == sym
    t = parse_osi_array(pa.array([sym]))
    assert t.column("valid").to_pylist() == [False]
    assert reason in t.column("reason")[0].as_py()
    assert t.column("root").to_pylist() == [None]
    assert t.column("expiry").to_pylist() == [None]
    assert t.column("strike").to_pylist() == [None]


def test_parse_rejects_non_text() -> None:
    with pytest.raises(InputError, match="null"):
        parse_osi(None)  # type: ignore[arg-type]
    t = parse_osi_array(pa.array(["SPXW230915C04500000", None]))
    assert t.column("valid").to_pylist() == [True, False]
    assert t.column("reason").to_pylist() == [None, "symbol is null"]
    with pytest.raises(InputError, match="strings"):
        parse_osi_array(pa.array([1, 2]))


def test_parse_osi_array_accepts_chunked_large_and_dictionary() -> None:
    syms = ["SPXW230915C04500000", "QQQ230616P00350000"]
    expected = parse_osi_array(pa.array(syms))
    for arr in (
        pa.chunked_array([syms[:1], syms[1:]]),
        pa.array(syms, pa.large_string()),
        pa.array(syms).dictionary_encode(),
    ):
        assert parse_osi_array(arr).equals(expected)
    assert parse_osi_array(pa.array([], pa.string())).num_rows == 0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("spxw", dt.date(2023, 9, 15), "C", 4500), "root"),
        (("SPXWXYZ", dt.date(2023, 9, 15), "C", 4500), "root"),
        (("SPXW", dt.date(2023, 9, 15), "X", 4500), "right"),
        (("SPXW", dt.date(1999, 9, 15), "C", 4500), "2000-2099"),
        (("SPXW", "2023-09-15", "C", 4500), "datetime.date"),
        (("SPXW", dt.date(2023, 9, 15), "C", 4500.0005), "0.001"),
        (("SPXW", dt.date(2023, 9, 15), "C", 0.0), "> 0"),
        (("SPXW", dt.date(2023, 9, 15), "C", -5.0), "> 0"),
        (("SPXW", dt.date(2023, 9, 15), "C", float("nan")), "finite"),
        (("SPXW", dt.date(2023, 9, 15), "C", 100000.0), "99999.999"),
    ],
)
def test_format_rejects(args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        format_osi(*args)


def test_format_array_rejects_with_row() -> None:
    e = pa.array([dt.date(2023, 9, 15)] * 3, pa.date32())
    with pytest.raises(InputError, match="0.001") as ei:
        format_osi_array(["SPX"] * 3, e, ["C"] * 3, [4500.0, 4500.0001, 1.0])
    assert ei.value.row == 1 and ei.value.column == "strike"
    with pytest.raises(InputError, match="right") as ei:
        format_osi_array(["SPX"] * 3, e, ["C", "C", "call"], [1.0, 2.0, 3.0])
    assert ei.value.row == 2
    with pytest.raises(InputError, match="root is null"):
        format_osi_array(pa.array(["SPX", None, "SPX"]), e, "C", [1.0, 2.0, 3.0])


def test_float_strikes_that_are_not_exact_in_binary() -> None:
    # 4.35 * 1000 = 4349.999999999999 in binary floating point: must still write 00004350.
    assert format_osi("X", dt.date(2024, 1, 19), "C", 4.35) == "X240119C00004350"
    out = format_osi_array(["X"], np.array(["2024-01-19"], "datetime64[D]"), ["C"], [4.35])
    assert out.to_pylist() == ["X240119C00004350"]


# --------------------------------------------------------------------------------------------
# properties

roots = st.from_regex(r"\A[A-Z][A-Z0-9]{0,5}\Z")
expiries = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
rights = st.sampled_from(["C", "P"])
strike_units = st.integers(min_value=1, max_value=99_999_999)


@settings(max_examples=300, deadline=None)
@given(roots, expiries, rights, strike_units, st.booleans())
def test_format_parse_round_trip(
    root: str, expiry: dt.date, right: str, units: int, padded: bool
) -> None:
    strike = units / 1000
    sym = format_osi(root, expiry, right, strike, padded=padded)
    assert len(sym) == (21 if padded else len(root) + 15)
    assert parse_osi(sym) == OsiSymbol(root, expiry, right, strike)  # type: ignore[arg-type]
    assert parse_osi(sym).format(padded=padded) == sym  # parse -> format


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(roots, expiries, rights, strike_units), min_size=1, max_size=50),
    st.booleans(),
)
def test_array_round_trip_agrees_with_scalar(rows: list, padded: bool) -> None:
    r, e, rt, u = zip(*rows, strict=True)
    strikes = np.array(u) / 1000
    syms = format_osi_array(
        pa.array(r), pa.array(e, pa.date32()), pa.array(rt), strikes, padded=padded
    )
    assert syms.to_pylist() == [
        format_osi(a, b, c, d, padded=padded) for a, b, c, d in zip(r, e, rt, strikes, strict=True)
    ]
    t = parse_osi_array(syms)
    assert all(t.column("valid").to_pylist())
    assert t.column("root").to_pylist() == list(r)
    assert t.column("expiry").to_pylist() == list(e)
    assert t.column("right").to_pylist() == list(rt)
    assert t.column("strike").to_pylist() == strikes.tolist()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCPXZ0123456789 ", max_size=24))
def test_array_and_scalar_agree_on_arbitrary_text(s: str) -> None:
    t = parse_osi_array(pa.array([s]))
    try:
        p = parse_osi(s)
    except InputError as exc:
        assert t.column("valid").to_pylist() == [False]
        assert t.column("reason")[0].as_py() == exc.reason
    else:
        assert t.column("valid").to_pylist() == [True]
        assert (t.column("root")[0].as_py(), t.column("expiry")[0].as_py()) == (p.root, p.expiry)
        assert (t.column("right")[0].as_py(), t.column("strike")[0].as_py()) == (p.right, p.strike)


# --------------------------------------------------------------------------------------------
# real files: the vendor's own expiry / strike / right columns are the reference


@pytest.mark.realdata
def test_iwm_padded_symbols_match_their_columns(shared_data: Path) -> None:
    path = shared_data / "iwm_eod_2019-10-15" / "NBBO.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    syms = [r["option_symbol"] for r in rows]
    t = parse_osi_array(pa.array(syms))
    assert all(t.column("valid").to_pylist())
    assert t.column("root").to_pylist() == [r["symbol"] for r in rows]
    exp = [dt.datetime.strptime(r["option_expiration"], "%m/%d/%Y").date() for r in rows]
    assert t.column("expiry").to_pylist() == exp
    assert t.column("strike").to_pylist() == [float(r["strike"]) for r in rows]
    assert t.column("right").to_pylist() == [r["call_put"] for r in rows]
    # and back: padded formatting reproduces the vendor text byte for byte
    back = format_osi_array(
        t.column("root"), t.column("expiry"), t.column("right"), t.column("strike"), padded=True
    )
    assert back.to_pylist() == syms


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    [
        "SPX/SPX_2023-09-14_1631ET__carlosjimenezdiaz.csv",
        "NDX/NDX_2023-05-26_1718ET__ayour.csv",
        "VIX/VIX_2023-05-15_1147ET_intraday__ayour.csv",
    ],
)
def test_cboe_symbols_match_their_columns(cboe_dir: Path, name: str) -> None:
    path = cboe_dir / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[4:]
    rows = [r for r in rows if len(r) > 12]
    calls, puts = [r[1] for r in rows], [r[12] for r in rows]
    exp = [dt.datetime.strptime(r[0], "%a %b %d %Y").date() for r in rows]
    strikes = [float(r[11]) for r in rows]
    for syms, right in ((calls, "C"), (puts, "P")):
        t = parse_osi_array(pa.array(syms))
        assert all(t.column("valid").to_pylist())
        assert t.column("expiry").to_pylist() == exp
        assert t.column("strike").to_pylist() == strikes
        assert set(t.column("right").to_pylist()) == {right}
        back = format_osi_array(
            t.column("root"), t.column("expiry"), t.column("right"), t.column("strike")
        )
        assert back.to_pylist() == syms


def test_public_api() -> None:
    import chainlens.symbols as mod

    assert sorted(mod.__all__) == [
        "OSI_PATTERN",
        "OsiSymbol",
        "format_osi",
        "format_osi_array",
        "parse_osi",
        "parse_osi_array",
    ]
    assert all(hasattr(mod, name) for name in mod.__all__)
