"""Bad input: a clear error or a counted reject, never a traceback, nothing lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainlens.io as cio
from chainlens.errors import InputError, UnknownFormatError
from chainlens.io import KNOWN_FORMATS, detect_format, read_chain, read_file
from chainlens.schema import CHAIN, REJECTS

PRE = (
    "\n"
    "Invesco QQQ,Last: 370.5,Change: 1\n"
    '"Date: September 14, 2023 at 4:31 PM EDT",Bid: 370.4,Ask: 370.6\n'
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,"
    "Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest\n"
)


def row(k: int = 370, exp: str = "Fri Sep 15 2023", ymd: str = "230915", **kw: str) -> str:
    sym_k = kw.pop("sym_k", f"{k * 1000:08d}")
    f = {
        "cbid": "1.0",
        "cask": "1.2",
        "cvol": "10",
        "civ": "0.2",
        "coi": "100",
        "pbid": "0.9",
        "pask": "1.1",
        "pvol": "5",
        "piv": "0.25",
        "poi": "50",
        "strike": f"{k}.00",
    }
    f.update(kw)
    return (
        f"{exp},QQQ{ymd}C{sym_k},1.1,0,{f['cbid']},{f['cask']},{f['cvol']},{f['civ']},0.5,0.01,{f['coi']},"
        f"{f['strike']},QQQ{ymd}P{sym_k},1.0,0,{f['pbid']},{f['pask']},{f['pvol']},{f['piv']},-0.5,0.01,{f['poi']}\n"
    )


def write(tmp_path: Path, text: str | bytes, name: str = "q.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def read_all(p: Path, **kw: object) -> tuple[pa.Table, pa.Table, int]:
    res = list(read_file(p, **kw))  # type: ignore[arg-type]
    for r in res:
        assert r.rows_read == r.table.num_rows + r.rejects.num_rows
        assert r.rejects.schema.equals(REJECTS)
        assert r.table.schema.equals(cio._common.SCHEMAS[r.kind])
    t = pa.concat_tables([r.table for r in res])
    rej = pa.concat_tables([r.rejects for r in res])
    return t, rej, sum(r.rows_read for r in res)


def test_public_api_is_exact() -> None:
    assert sorted(cio.__all__) == sorted(
        ["AdapterResult", "KNOWN_FORMATS", "detect_format", "read_chain", "read_file"]
    )
    assert "cboe_quotes" in KNOWN_FORMATS and "canonical_parquet" in KNOWN_FORMATS


def test_good_file_baseline(tmp_path: Path) -> None:
    t, rej, n = read_all(write(tmp_path, PRE + row(370) + row(375)))
    assert (t.num_rows, rej.num_rows, n) == (4, 0, 4)
    assert t["symbol"].to_pylist()[:2] == ["QQQ230915C00370000", "QQQ230915C00375000"]


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty") as e:
        list(read_file(write(tmp_path, b"")))
    assert "q.csv" in str(e.value)


def test_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no data rows"):
        list(read_file(write(tmp_path, PRE)))
    g = write(
        tmp_path,
        "date,symbol,option_symbol,option_expiration,strike,call_put,bid,ask,volume,"
        "open_interest,stock_price_for_iv\n",
        "g.csv",
    )
    with pytest.raises(InputError, match="no data rows"):
        list(read_file(g))


def test_truncated_last_line(tmp_path: Path) -> None:
    p = write(tmp_path, PRE + row(370) + row(375)[:40])
    t, rej, n = read_all(p)
    assert (t.num_rows, rej.num_rows, n) == (2, 2, 4)
    assert set(rej["row"].to_pylist()) == {6}
    assert all("truncated" in r for r in rej["reason"].to_pylist())


def test_non_utf8_bytes_in_a_line(tmp_path: Path) -> None:
    data = (
        (PRE + row(370)).encode()
        + row(375).encode().replace(b"1.0,0,", b"1.0,\xff\xfe,", 1)
        + row(380).encode()
    )
    t, rej, n = read_all(write(tmp_path, data))
    assert (t.num_rows, rej.num_rows, n) == (4, 2, 6)
    assert rej["row"].to_pylist() == [6, 6] and "UTF-8" in rej["reason"][0].as_py()


def test_binary_garbage_is_clear_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    p = write(tmp_path, rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "junk.bin")
    with pytest.raises(InputError) as e:
        list(read_file(p))
    assert "junk.bin" in str(e.value)


def test_unknown_format_lists_known(tmp_path: Path) -> None:
    p = write(tmp_path, "a,b,c\n1,2,3\n", "x.csv")
    with pytest.raises(UnknownFormatError) as e:
        detect_format(p)
    for f in KNOWN_FORMATS:
        assert f in str(e.value)


@pytest.mark.parametrize(
    ("kw", "column", "reason"),
    [
        ({"cvol": "abc"}, "Volume (calls)", "not a number"),
        ({"coi": "-5"}, "Open Interest (calls)", "negative value"),
        ({"cvol": "2.5"}, "Volume (calls)", "not a whole number"),
        ({"cbid": "nan"}, "Bid (calls)", "NaN or inf"),
        ({"cask": "inf"}, "Ask (calls)", "NaN or inf"),
    ],
)
def test_bad_call_values_reject_only_the_call(
    tmp_path: Path, kw: dict, column: str, reason: str
) -> None:
    t, rej, n = read_all(write(tmp_path, PRE + row(370, **kw) + row(375)))
    assert (t.num_rows, rej.num_rows, n) == (3, 1, 4)
    r = rej.to_pylist()[0]
    assert (r["row"], r["column"], r["reason"]) == (5, column, reason)
    assert r["path"].endswith("q.csv")


def test_strike_not_positive(tmp_path: Path) -> None:
    t, rej, _ = read_all(
        write(tmp_path, PRE + row(370, strike="0.00", sym_k="00000000") + row(375))
    )
    assert t.num_rows == 2 and rej.num_rows == 2
    assert set(rej["reason"].to_pylist()) == {"strike must be > 0"}


def test_expiry_before_session(tmp_path: Path) -> None:
    t, rej, _ = read_all(
        write(tmp_path, PRE + row(370, exp="Wed Sep 13 2023", ymd="230913") + row(375))
    )
    assert t.num_rows == 2 and set(rej["reason"].to_pylist()) == {"expiry before the session"}
    assert rej["value"][0].as_py() == "2023-09-13"


def test_symbol_mismatch(tmp_path: Path) -> None:
    t, rej, _ = read_all(write(tmp_path, PRE + row(370, sym_k="00375000") + row(380, ymd="230922")))
    assert t.num_rows == 0 and rej.num_rows == 4
    reasons = rej["reason"].to_pylist()
    assert reasons.count("symbol does not match the strike column") == 2
    assert reasons.count("symbol does not match the expiry column") == 2


def test_crossed_quote_kept_and_flagged(tmp_path: Path) -> None:
    t, rej, _ = read_all(
        write(tmp_path, PRE + row(370, cbid="1.3", cask="1.2") + row(375, pbid="0.5", pask="0"))
    )
    assert rej.num_rows == 0
    crossed = dict(zip(t["symbol"].to_pylist(), t["crossed"].to_pylist(), strict=True))
    assert crossed["QQQ230915C00370000"] is True
    assert crossed["QQQ230915P00375000"] is False  # ask 0: no quote, not crossed
    assert sum(crossed.values()) == 1


def test_duplicate_contract_later_rejected(tmp_path: Path) -> None:
    t, rej, n = read_all(write(tmp_path, PRE + row(370) + row(375) + row(370, cbid="2.0")))
    assert (t.num_rows, rej.num_rows, n) == (4, 2, 6)
    assert rej["row"].to_pylist() == [7, 7]
    assert all(
        r == "duplicate contract in snapshot (first at row 5)" for r in rej["reason"].to_pylist()
    )
    assert pc.sum(t["bid"]).as_py() == pytest.approx(1.0 + 0.9 + 1.0 + 0.9)  # the first one kept


def test_trailing_commas_on_data_lines(tmp_path: Path) -> None:
    body = row(370).rstrip("\n") + ",,,\n" + row(375).rstrip("\n") + ",,x\n"
    t, rej, n = read_all(write(tmp_path, PRE + body))
    assert (t.num_rows, rej.num_rows, n) == (2, 2, 4)
    assert rej["row"].to_pylist() == [6, 6] and "too many fields" in rej["reason"][0].as_py()


def test_bad_date_line_names_the_line(tmp_path: Path) -> None:
    pre = PRE.replace("September 14, 2023 at 4:31 PM EDT", "someday soon")
    with pytest.raises(InputError) as e:
        list(read_file(write(tmp_path, pre + row(370))))
    assert "row 3" in str(e.value) and "date line" in str(e.value)


# ------------------------------------------------------------------ canonical Parquet


def _chain(n: int = 6) -> pa.Table:
    k = 100.0 + np.arange(n)
    sym = [f"QQQ230915C{int(x * 1000):08d}" for x in k]
    return pa.table(
        {
            "trade_date": pa.array([dt.date(2023, 9, 14)] * n, pa.date32()),
            "snapshot_ts": pa.array(
                [dt.datetime(2023, 9, 14, 20, 31, tzinfo=dt.UTC)] * n, pa.timestamp("ns", "UTC")
            ),
            "underlying": ["QQQ"] * n,
            "root": ["QQQ"] * n,
            "symbol": sym,
            "expiry": pa.array([dt.date(2023, 9, 15)] * n, pa.date32()),
            "settlement": ["PM"] * n,
            "strike": k,
            "right": ["C"] * n,
            "multiplier": pa.array([100] * n, pa.int32()),
            "bid": np.full(n, 1.0),
            "ask": np.full(n, 1.2),
            "volume": pa.array(np.arange(n), pa.int64()),
            "open_interest": pa.array(np.arange(n) * 10, pa.int64()),
            "spot": np.full(n, 370.0),
        }
    )


def test_parquet_validation_and_batches(tmp_path: Path) -> None:
    t = _chain(8).to_pydict()
    t["bid"][1] = float("nan")
    t["volume"][2] = -1
    t["strike"][3] = -5.0
    t["symbol"][4] = t["symbol"][0]  # duplicate of row 1 (and mismatching its strike)
    t["strike"][4] = t["strike"][0]
    t["ask"][5], t["bid"][5] = 0.5, 0.7  # crossed: kept
    p = tmp_path / "c.parquet"
    pq.write_table(pa.table(t, schema=_chain(8).schema), p, row_group_size=3)
    assert detect_format(p) == "canonical_parquet"
    res = list(read_file(p, batch_rows=3))
    assert len(res) == 3
    tab, rej, n = read_all(p, batch_rows=3)
    assert (n, tab.num_rows, rej.num_rows) == (8, 4, 4)
    by_row = {r["row"]: r["reason"] for r in rej.to_pylist()}
    assert by_row == {
        2: "NaN or inf",
        3: "negative value",
        4: "strike must be > 0",
        5: "duplicate contract in snapshot (first at row 1)",
    }
    assert tab.schema.equals(CHAIN)
    assert tab.filter(pc.equal(tab["crossed"], True)).num_rows == 1


def test_parquet_missing_columns_is_clear(tmp_path: Path) -> None:
    p = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"foo": [1, 2]}), p)
    with pytest.raises(UnknownFormatError):
        detect_format(p)
    with pytest.raises(InputError, match="no canonical schema"):
        list(read_file(p, format="canonical_parquet"))


def test_read_chain_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "ok.parquet"
    pq.write_table(_chain(5), p)
    got = read_chain(p)
    assert got.num_rows == 5 and got["crossed"].to_pylist() == [False] * 5


# ------------------------------------------------------------------ Hypothesis: broken files

_GOOD_LINES = [row(360 + 5 * i) for i in range(6)]

_corruption = st.one_of(
    st.tuples(
        st.just("field"),
        st.integers(0, 21),
        st.sampled_from(["", "x", "-1", "nan", "1e999", "0", "  ", '"a,b"']),
    ),
    st.tuples(st.just("cut"), st.integers(0, 120), st.just("")),
    st.tuples(st.just("bytes"), st.integers(0, 120), st.sampled_from(["\xff", "\xc3", "\x00"])),
    st.tuples(st.just("dup"), st.integers(0, 5), st.just("")),
    st.tuples(st.just("blank"), st.integers(0, 5), st.just("")),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.tuples(st.integers(0, 5), _corruption), max_size=6))
def test_conservation_on_broken_files(tmp_path: Path, plan: list) -> None:
    lines = [ln.encode() for ln in _GOOD_LINES]
    for i, (kind, a, v) in plan:
        ln = lines[i]
        if kind == "field":
            parts = ln.rstrip(b"\n").split(b",")
            parts[a % len(parts)] = v.encode()
            lines[i] = b",".join(parts) + b"\n"
        elif kind == "cut":
            lines[i] = ln[: a % max(1, len(ln))] + b"\n"
        elif kind == "bytes":
            pos = a % max(1, len(ln) - 1)
            lines[i] = ln[:pos] + v.encode("latin-1") + ln[pos:]
        elif kind == "dup":
            lines.append(lines[a])
        elif kind == "blank":
            lines.insert(a, b"\n")
    data = PRE.encode() + b"".join(lines)
    p = tmp_path / "h.csv"
    p.write_bytes(data)
    expected = 2 * sum(1 for ln in data.split(b"\n")[4:] if ln.strip())
    try:
        t, rej, n = read_all(p)
    except InputError:
        assert expected == 0
        return
    assert n == t.num_rows + rej.num_rows == expected
    assert rej["row"].to_numpy().min(initial=5) >= 5
