"""Issue 18 items 4 and 5: inputs that used to give silently wrong numbers, or failed a whole
file for one bad value. Each test reproduces the reported input; expected outcomes are the
rules of ``chainlens.io._rules`` worked by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainlens.errors import InputError
from chainlens.io import read_file
from test_store import D1, chain_table, utc

IWM_HEADER = (
    "date,symbol,exchange,company_name,stock_price_close,option_symbol,option_expiration,"
    "strike,call_put,style,open,high,low,close,bid,ask,mean_price,settlement,volume,"
    "open_interest,stock_price_for_iv\n"
)


def iwm_row(date: str = "10/15/2019", exp: str = "10/18/2019", **kw: str) -> str:
    f = {"symbol": "IWM", "osi": "IWM   191018C00100000", "strike": "100.000", "volume": "15",
         "oi": "15", "spot": "151.650", "right": "C"}  # fmt: skip
    f.update(kw)
    return (
        f"{date},{f['symbol']},NYSEArca,iShares,151.390,{f['osi']},{exp},{f['strike']},"
        f"{f['right']},A,51.820,51.820,51.820,51.820,51.560,51.780,51.670,0.000,{f['volume']},"
        f"{f['oi']},{f['spot']}\n"
    )


def read_all(p: Path, **kw: object) -> tuple[pa.Table, pa.Table, int]:
    res = list(read_file(p, **kw))  # type: ignore[arg-type]
    for r in res:
        assert r.rows_read == r.table.num_rows + r.rejects.num_rows
    return (
        pa.concat_tables([r.table for r in res]),
        pa.concat_tables([r.rejects for r in res]),
        sum(r.rows_read for r in res),
    )


def reasons(rej: pa.Table) -> list[tuple[int, str, str]]:
    return list(
        zip(
            rej["row"].to_pylist(),
            rej["column"].to_pylist(),
            rej["reason"].to_pylist(),
            strict=True,
        )
    )


# ------------------------------------------------------------------ impossible dates


@pytest.mark.parametrize("bad", ["04/31/2019", "02/30/2019"])
def test_generic_impossible_expiry_is_rejected_not_rolled_over(tmp_path: Path, bad: str) -> None:
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row() + iwm_row(exp=bad, osi="IWM   191019C00100000"))
    t, rej, n = read_all(p)
    assert n == 2 and t.num_rows == 1
    ((row, col, why),) = reasons(rej)
    assert (row, col) == (3, "option_expiration") and "not a date" in why
    assert t["expiry"].to_pylist() == [dt.date(2019, 10, 18)]


def test_generic_date_in_2300_rejects_only_its_row(tmp_path: Path) -> None:
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row() + iwm_row(date="10/15/2300"))
    t, rej, n = read_all(p)
    assert (n, t.num_rows) == (2, 1)
    ((row, col, why),) = reasons(rej)
    assert row == 3 and col == "date" and "session" in why


@pytest.mark.parametrize(
    ("date", "why"), [("10/12/2019", "session"), ("10/15/1900", "session")]
)  # a Saturday; 1900
def test_weekend_and_1900_trade_dates_are_rejected(tmp_path: Path, date: str, why: str) -> None:
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row() + iwm_row(date=date, exp="10/18/2019"))
    t, rej, _ = read_all(p)
    assert t.num_rows == 1 and why in rej["reason"][0].as_py()


def test_datashop_expiry_june_31_is_rejected(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "cboe_datashop_vix_2016-06-01" / "UnderlyingOptionsEODCalcs_2016-06-01.csv"
    lines = src.read_text().splitlines(keepends=True)[:3]
    lines[2] = lines[2].replace(
        "^VIX,2016-06-01,VIX,2016-06-01,", "^VIX,2016-06-01,VIX,2016-06-31,"
    )
    p = tmp_path / "UnderlyingOptionsEODCalcs_2016-06-01.csv"
    p.write_text("".join(lines))
    t, rej, n = read_all(p)
    assert (n, t.num_rows) == (2, 1)
    ((row, col, _why),) = reasons(rej)
    assert (row, col) == (3, "expiration")


def test_datashop_quote_time_25h_rejects_its_row_only(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "cboe_datashop_vix_2016-06-01" / "UnderlyingOptionsTrades_2016-06-01.csv"
    lines = src.read_text().splitlines(keepends=True)[:4]
    lines[2] = lines[2].replace("2016-06-01 09:48:28.925", "2016-06-01 25:00:00")
    p = tmp_path / "UnderlyingOptionsTrades_2016-06-01.csv"
    p.write_text("".join(lines))
    t, rej, n = read_all(p)
    assert (n, t.num_rows) == (3, 2)
    ((row, col, _why),) = reasons(rej)
    assert (row, col) == (3, "quote_datetime")


# ------------------------------------------------------------------ Cboe spot

CBOE_PRE = (
    "\nInvesco QQQ,Last: {spot},Change: 1\n"
    '"Date: September 14, 2023 at 4:31 PM EDT",Bid: 370.4,Ask: 370.6\n'
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,"
    "Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest\n"
    "Fri Sep 15 2023,QQQ230915C00370000,1.1,0,1.0,1.2,10,0.2,0.5,{gamma},100,370.00,"
    "QQQ230915P00370000,1.0,0,0.9,1.1,5,{iv},-0.5,0.01,50\n"
)


@pytest.mark.parametrize("spot", ["1 056.5", "1056..5", "105.6x", "-5", "0"])
def test_cboe_spot_that_is_not_a_plain_number_is_refused(tmp_path: Path, spot: str) -> None:
    p = tmp_path / "q.csv"
    p.write_text(CBOE_PRE.format(spot=spot, gamma="0.01", iv="0.25"))
    with pytest.raises(InputError, match="Last"):
        read_all(p)


@pytest.mark.parametrize(("spot", "value"), [("1.056e2", 105.6), ("1,056.5", 1056.5)])
def test_cboe_spot_exponent_or_thousands_is_read_whole(
    tmp_path: Path, spot: str, value: float
) -> None:
    p = tmp_path / "q.csv"
    text = CBOE_PRE.format(spot=spot, gamma="0.01", iv="0.25")
    p.write_text(text.replace(f"Last: {spot},", f'"Last: {spot}",'))
    t, _rej, _ = read_all(p)
    assert t["spot"].to_pylist() == [value, value]


def test_cboe_absurd_gamma_and_negative_iv_reject_their_rows(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text(CBOE_PRE.format(spot="370.5", gamma="1e300", iv="-0.25"))
    t, rej, n = read_all(p)
    assert (n, t.num_rows, rej.num_rows) == (2, 0, 2)
    assert sorted(rej["reason"].to_pylist()) == ["gamma above 1,000 per USD", "negative IV"]


# ------------------------------------------------------------------ canonical Parquet


def _chain(**cols: object) -> pa.Table:
    t = chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0])
    for k, v in cols.items():
        i = t.schema.get_field_index(k)
        t = t.set_column(i, t.schema.field(i), pa.array(v, t.schema.field(i).type))
    return t


@pytest.mark.parametrize(
    ("col", "value", "why"),
    [
        ("open_interest", 2**63 - 1, "count too large"),
        ("multiplier", 0, "multiplier must be > 0"),
        ("multiplier", -100, "multiplier must be > 0"),
        ("spot", 0.0, "spot must be > 0"),
        ("spot", -5.0, "spot must be > 0"),
        ("iv", -0.2, "negative IV"),
        ("gamma", 1e300, "gamma above"),
        ("underlying", "", "underlying must be"),
        ("underlying", "X" * 300, "underlying must be"),
        ("underlying", "../../X", "underlying must be"),
        ("underlying", "[/]", "underlying must be"),
        ("trade_date", dt.date(2023, 9, 16), "not an exchange session"),
        ("trade_date", dt.date(1900, 1, 2), "not an exchange session"),
    ],
)
def test_parquet_value_out_of_rule_rejects_its_row(
    tmp_path: Path, col: str, value: object, why: str
) -> None:
    t = _chain()
    vals = t[col].to_pylist()
    vals[1] = value
    p = tmp_path / "c.parquet"
    pq.write_table(_chain(**{col: vals}), p)
    good, rej, n = read_all(p)
    assert (n, good.num_rows) == (4, 3)
    ((row, c, reason),) = reasons(rej)
    assert row == 2 and c == col and why in reason


def test_parquet_without_open_interest_column_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "c.parquet"
    pq.write_table(_chain().drop_columns(["open_interest"]), p)
    with pytest.raises(InputError, match="open_interest"):
        read_all(p)


def test_parquet_with_duplicated_column_is_refused(tmp_path: Path) -> None:
    t = _chain()
    t2 = pa.Table.from_arrays([*t.columns, t["volume"]], names=[*t.column_names, "volume"])
    p = tmp_path / "c.parquet"
    pq.write_table(t2, p)
    with pytest.raises(InputError, match="appears twice"):
        read_all(p)


# ------------------------------------------------------------------ generic mapping


def test_duplicated_volume_header_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "iwm.csv"
    hdr = IWM_HEADER.replace("mean_price", "volume")
    p.write_text(hdr + iwm_row())
    with pytest.raises(InputError, match="'volume' appears twice"):
        read_all(p)


def test_mapping_pointing_at_a_missing_column_is_refused(tmp_path: Path) -> None:
    from chainlens.io._generic import shipped_mappings

    text = shipped_mappings()["iwm_eod"].read_text().replace('bid = "bid"', 'bid = "bid_px"')
    m = tmp_path / "m.toml"
    m.write_text(text)
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row())
    with pytest.raises(InputError, match="bid_px"):
        read_all(p, mapping=m)


def test_bad_underlying_name_in_a_generic_file(tmp_path: Path) -> None:
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row() + iwm_row(symbol="../../X", osi="IWM   191018C00101000"))
    t, rej, _ = read_all(p)
    assert t.num_rows == 1 and rej["column"].to_pylist() == ["symbol"]


# ------------------------------------------------------------------ OCC open-interest JSON


def _occ(tmp_path: Path, closes: object = None, oi: object = 10, strike: str = "500.0") -> Path:
    doc = {
        "ticker": "SPY",
        "closes": closes if closes is not None else {"10-8": 773.03},
        "days": {"10-8": {"2026-08-21": {strike: {"call_oi": oi, "put_oi": 5}}}},
        "updated_at": "2026-08-10T21:00:00Z",
    }
    p = tmp_path / "SPY_history.json"
    p.write_text(json.dumps(doc))
    return p


@pytest.mark.parametrize(
    "kw",
    [
        {"closes": {"10-8": -5}},
        {"closes": [1, 2]},
        {"oi": 10**23},
        {"oi": -3},
        {"strike": "1e25"},
        {"oi": "many"},
    ],
)
def test_occ_bad_values_fail_cleanly_or_reject(tmp_path: Path, kw: dict) -> None:
    p = _occ(tmp_path, **kw)
    try:
        t, rej, n = read_all(p)
    except InputError as e:
        assert str(p) in str(e)
        return
    assert n == t.num_rows + rej.num_rows
    assert rej.num_rows >= 1
    if t.num_rows:
        assert (t["spot"].to_numpy(zero_copy_only=False) > 0).all()
        assert t["open_interest"].to_pylist() != [10**23]


def test_occ_deep_nesting_fails_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "SPY_history.json"
    p.write_text('{"ticker":"SPY","days":' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError):
        read_all(p)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('expiry = "%m/%d/%Y"', 'expiry = "mm/dd/yyyy"', "not a strptime format"),
        ('symbol = "osi"', 'symbol = "osi"\ntimezone = "Mars/Phobos"', "not an IANA time zone"),
        ("multiplier = 100", 'multiplier = "hundred"', "constants.multiplier"),
        ('time = "15:45"', 'time = "25:99"', "HH:MM"),
    ],
)
def test_mapping_mistakes_are_reported_against_the_mapping(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    from chainlens.errors import ConfigError
    from chainlens.io._generic import shipped_mappings

    text = shipped_mappings()["iwm_eod"].read_text()
    assert old in text
    m = tmp_path / "m.toml"
    m.write_text(text.replace(old, new))
    p = tmp_path / "iwm.csv"
    p.write_text(IWM_HEADER + iwm_row())
    with pytest.raises(ConfigError, match=says) as e:
        read_all(p, mapping=m)
    assert str(m) in str(e.value)


@pytest.mark.parametrize("strike", ["1e300", "-1e300", "nan"])
def test_datashop_strike_beyond_osi_rejects_its_row(tmp_path: Path, strike: str) -> None:
    # found by the fuzz suite: a strike of 1e300 overflowed the OSI symbol writer
    from test_fuzz_inputs import DATASHOP_EOD

    lines = DATASHOP_EOD.split("\n")
    parts = lines[1].split(",")
    parts[4] = strike
    lines[1] = ",".join(parts)
    p = tmp_path / "UnderlyingOptionsEODCalcs_2016-06-01.csv"
    p.write_text("\n".join(lines))
    t, rej, n = read_all(p)
    assert (n, t.num_rows) == (2, 1)
    ((row, col, _why),) = reasons(rej)
    assert (row, col) == (2, "strike")
