"""Databento DBN OPRA files: the real samples (``databento_opra_sample``) and small DBN files
written here with databento-dbn's own record classes.

The expected figures come from decoding the records one by one with ``databento_dbn.DBNDecoder``
(record objects, not the adapter's CSV route): 4 AAPL 250221C00250000 prints on 2025-02-20 from
14:30:00.817657088 UTC (09:30 ET), prices 0.24, 0.20, 0.19, 0.19, sizes 1, 2, 1, 4; tbbo bid/ask
0.24/0.25, 0.18/0.22, 0.18/0.22, 0.19/0.21; OI 57,924 repeated by 4 publishers at 11:30:08 UTC
(06:30 ET, before the open); cbbo-1s last quote 0.22/0.24 at 14:30:02.913821952 UTC.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace as NS

import pyarrow as pa
import pytest

import chainlens.io._databento as dbn_io
from chainlens.errors import InputError
from chainlens.io import detect_format, read_file

dbn = pytest.importorskip("databento_dbn")

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def opra(shared_data: Path) -> Path:
    d = shared_data / "databento_opra_sample"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def _records(path: Path) -> list:
    dec = dbn.DBNDecoder(has_metadata=True, compression=dbn.Compression.ZSTD)
    dec.write(path.read_bytes())
    return dec.decode()[1:]


def _read(path: Path, **kw: object) -> tuple[str, pa.Table, pa.Table, int]:
    res = list(read_file(path, **kw))  # type: ignore[arg-type]
    assert all(r.format == "databento_dbn" for r in res)
    kinds = {r.kind for r in res}
    assert len(kinds) == 1
    rows = sum(r.rows_read for r in res)
    t = pa.concat_tables([r.table for r in res])
    rej = pa.concat_tables([r.rejects for r in res])
    assert rows == t.num_rows + rej.num_rows
    return kinds.pop(), t, rej, rows


def _utc(ns: int) -> dt.datetime:
    return pa.scalar(ns, pa.timestamp("ns", tz="UTC")).as_py()


@pytest.mark.parametrize("schema", ["trades", "tbbo"])
def test_trades_and_tbbo(opra: Path, schema: str) -> None:
    f = opra / f"test_data.{schema}.dbn.zst"
    assert detect_format(f) == "databento_dbn"
    kind, t, rej, rows = _read(f)
    recs = _records(f)
    assert kind == "trades" and rows == len(recs) == 4 and rej.num_rows == 0
    assert t["price"].to_pylist() == [0.24, 0.20, 0.19, 0.19]
    assert t["size"].to_pylist() == [1, 2, 1, 4] == [r.size for r in recs]
    assert t["ts"].to_pylist() == [_utc(r.ts_event) for r in recs]
    assert set(t["trade_date"].to_pylist()) == {dt.date(2025, 2, 20)}
    assert set(t["symbol"].to_pylist()) == {"AAPL250221C00250000"}
    assert set(t["underlying"].to_pylist()) == {"AAPL"}
    assert t["exchange"].to_pylist() == ["EMLD", "XISX", "XISX", "MXOP"]
    assert t["trade_id"].to_pylist() == [r.sequence for r in recs]
    if schema == "tbbo":
        assert t["bid"].to_pylist() == [0.24, 0.18, 0.18, 0.19]
        assert t["ask"].to_pylist() == [0.25, 0.22, 0.22, 0.21]
    else:
        assert t["bid"].null_count == 4 and t["ask"].null_count == 4


def test_statistics_give_the_sessions_oi(opra: Path) -> None:
    kind, t, rej, rows = _read(opra / "test_data.statistics.dbn.zst")
    assert kind == "chain" and rows == 4
    # published 06:30 ET on 2025-02-20, before the open: that session's OI, one snapshot at
    # the open (14:30 UTC); the 3 other publishers repeat it
    (row,) = t.to_pylist()
    assert row["open_interest"] == 57_924 and row["trade_date"] == dt.date(2025, 2, 20)
    assert row["snapshot_ts"] == dt.datetime(2025, 2, 20, 14, 30, tzinfo=dt.UTC)
    assert row["bid"] is None and row["volume"] is None  # an OI-only snapshot
    assert rej["row"].to_pylist() == [2, 3, 4]
    assert set(rej["reason"].to_pylist()) == {"duplicate contract in snapshot (first at row 1)"}


def test_cbbo_last_quote(opra: Path) -> None:
    kind, t, rej, rows = _read(opra / "test_data.cbbo-1s.dbn.zst")
    assert kind == "chain" and rows == 4
    (row,) = t.to_pylist()
    assert (row["bid"], row["ask"]) == (0.22, 0.24)
    assert row["snapshot_ts"] == _utc(1740061802913821952)
    assert row["trade_date"] == dt.date(2025, 2, 20)
    assert rej["row"].to_pylist() == [1, 2, 3]


def test_mbp1_sample_has_an_empty_book(opra: Path) -> None:
    # the sample's 4 mbp-1 records (08:00 ET, 4 venues) carry no price at all
    assert all(
        r.levels[0].pretty_bid_px != r.levels[0].pretty_bid_px
        for r in _records(opra / "test_data.mbp-1.dbn.zst")
    )
    kind, t, rej, rows = _read(opra / "test_data.mbp-1.dbn.zst")
    assert (rows, t.num_rows) == (4, 0)
    assert "no bid and no offer at the snapshot (empty book)" in rej["reason"].to_pylist()


@pytest.mark.parametrize(
    ("schema", "words"),
    [("definition", "names instruments only"), ("ohlcv-1d", "'ohlcv-1d' is not read")],
)
def test_unread_schemas_refused_clearly(opra: Path, schema: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        list(read_file(opra / f"test_data.{schema}.dbn.zst"))


def test_streamed_in_tiny_blocks_same_result(opra: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = {
        s: _read(opra / f"test_data.{s}.dbn.zst")[1] for s in ("tbbo", "statistics", "cbbo-1s")
    }
    monkeypatch.setattr(dbn_io, "_READ_BYTES", 40)  # records cut across blocks
    for s, t in whole.items():
        res = list(read_file(opra / f"test_data.{s}.dbn.zst", batch_rows=1))
        assert len(res) >= 2
        assert pa.concat_tables([r.table for r in res]).equals(t)


# --------------------------------------------------------------------------------------------
# small DBN files written with databento-dbn's classes

SYMS = ["SPY   250221C00600000", "SPY   250221P00600000"]
T0 = 1740069000000000000  # 2025-02-20 16:30:00 UTC, during the session


def _write(path: Path, schema: object, records: list, mapped: bool = True) -> Path:
    day = [NS(start_date=dt.date(2025, 2, 20), end_date=dt.date(2025, 2, 21))]
    mp = (
        [
            NS(raw_symbol=s, intervals=[NS(**vars(day[0]), symbol=str(11 + i))])
            for i, s in enumerate(SYMS)
        ]
        if mapped
        else []
    )
    md = dbn.Metadata(
        dataset="OPRA.PILLAR",
        start=T0 - 10**13,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema,
        symbols=SYMS,
        mappings=mp,
        end=T0 + 10**13,
    )
    path.write_bytes(md.encode() + b"".join(bytes(r) for r in records))
    return path


def _quote(pub: int, iid: int, ts: int, bid: float, ask: float) -> object:
    px = dbn.BidAskPair(bid_px=round(bid * 1e9), ask_px=round(ask * 1e9), bid_sz=1, ask_sz=1)
    return dbn.MBP1Msg(
        publisher_id=pub, instrument_id=iid, ts_event=ts, price=2**63 - 1, size=0,
        action=dbn.Action.ADD, side=dbn.Side.NONE, depth=0, ts_recv=ts + 1000, levels=px,
    )  # fmt: skip


def test_mbp1_nbbo_over_venues(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "q.dbn",
        dbn.Schema.MBP_1,
        [
            _quote(23, 11, T0, 1.00, 1.20),  # EMLD
            _quote(26, 11, T0 + 10**9, 1.05, 1.30),  # XISX: best bid
            _quote(23, 11, T0 + 2 * 10**9, 0.95, 1.15),  # EMLD again: best ask, supersedes row 1
            _quote(26, 12, T0 + 3 * 10**9, 2.00, 2.10),  # the put, one venue
        ],
    )
    kind, t, rej, rows = _read(f)
    assert kind == "chain" and rows == 4
    got = {r["symbol"]: (r["bid"], r["ask"]) for r in t.to_pylist()}
    assert got == {"SPY250221C00600000": (1.05, 1.15), "SPY250221P00600000": (2.00, 2.10)}
    assert set(t["snapshot_ts"].to_pylist()) == {_utc(T0 + 3 * 10**9)}
    assert set(t["trade_date"].to_pylist()) == {dt.date(2025, 2, 20)}
    reasons = dict(zip(rej["row"].to_pylist(), rej["reason"].to_pylist(), strict=True))
    assert reasons == {
        1: "superseded by a later quote of the same contract",
        2: "another venue's quote of the same contract: merged into the NBBO row",
    }


def test_unmapped_instrument_is_named(tmp_path: Path) -> None:
    f = _write(tmp_path / "u.dbn", dbn.Schema.MBP_1, [_quote(23, 11, T0, 1.0, 1.2)], mapped=False)
    kind, t, rej, rows = _read(f)
    assert (rows, t.num_rows) == (1, 0)
    (r,) = rej.to_pylist()
    assert r["row"] == 1 and r["column"] == "symbol"
    assert r["reason"].startswith("instrument not mapped to an OSI option symbol")


def test_truncated_dbn(tmp_path: Path) -> None:
    f = _write(tmp_path / "t.dbn", dbn.Schema.MBP_1, [_quote(23, 11, T0, 1.0, 1.2)] * 3)
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(f.read_bytes()[:-20])
    with pytest.raises(InputError, match="truncated"):
        list(read_file(cut))
