"""Cboe DataShop trades and EOD calcs against independent stdlib counts."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pytest

from chainlens.io import detect_format, read_chain, read_file
from chainlens.schema import CHAIN, TRADES

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def ds(shared_data: Path) -> Path:
    d = shared_data / "cboe_datashop_vix_2016-06-01"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def _key(root: str, exp: str, k: str, right: str) -> tuple:
    return (root, exp, round(float(k), 3), right)


def test_trades_sum_equals_eod_volume_exactly(ds: Path) -> None:
    tf, ef = (
        ds / "UnderlyingOptionsTrades_2016-06-01.csv",
        ds / "UnderlyingOptionsEODCalcs_2016-06-01.csv",
    )
    assert detect_format(tf) == "datashop_trades" and detect_format(ef) == "datashop_eod"
    # Independent reference: the csv module.
    with open(tf, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    ref = Counter()
    cancelled = 0
    for r in rows:
        if r[11] != "0":
            cancelled += 1
            continue
        ref[_key(r[3], r[4], r[5], r[6])] += int(r[8])
    with open(ef, newline="") as fh:
        eod_rows = list(csv.reader(fh))[1:]
    eod_vol = {_key(r[2], r[3], r[4], r[5]): int(r[10]) for r in eod_rows if int(r[10]) > 0}
    assert len(eod_vol) == 230 and sum(eod_vol.values()) == 306_319 and dict(ref) == eod_vol

    res = list(read_file(tf))
    t = res[0].table
    assert t.schema.equals(TRADES)
    assert sum(r.rows_read for r in res) == len(rows) == 2295
    rej = res[0].rejects
    assert rej.num_rows == cancelled == 2
    assert set(rej["reason"].to_pylist()) == {"cancelled print"}
    got = Counter()
    for sym, size in zip(t["symbol"].to_pylist(), t["size"].to_pylist(), strict=True):
        got[sym] += size
    eod = read_chain(ef)
    assert eod.schema.equals(CHAIN) and eod.num_rows == 724 == len(eod_rows)
    eod_by_sym = {
        s: v
        for s, v in zip(eod["symbol"].to_pylist(), eod["volume"].to_pylist(), strict=True)
        if v > 0
    }
    assert dict(got) == eod_by_sym
    assert set(pc.unique(t["underlying"]).to_pylist()) == {"VIX"}


def test_trade_times_are_utc_from_eastern(ds: Path) -> None:
    res = next(read_file(ds / "UnderlyingOptionsTrades_2016-06-01.csv"))
    first = res.table.slice(0, 1).to_pylist()[0]
    # Line 2: 2016-06-01 13:57:58.175 ET (EDT, UTC-4) -> 17:57:58.175 UTC
    assert first["ts"].isoformat() == "2016-06-01T17:57:58.175000+00:00"
    assert first["bid"] == 2.15 and first["ask"] == 2.6 and first["spot"] == 14.75
    assert first["trade_id"] == 78677916 and first["symbol"] == "VIX160608C00012500"


def test_eod_snapshot_is_close_and_spot_is_mid(ds: Path) -> None:
    t = read_chain(ds / "UnderlyingOptionsEODCalcs_2016-06-01.csv")
    assert pc.unique(t["snapshot_ts"]).to_pylist()[0].isoformat() == "2016-06-01T20:00:00+00:00"
    assert pc.unique(t["spot"]).to_pylist() == [14.2]  # (14.20 + 14.20) / 2
    assert set(pc.unique(t["settlement"]).to_pylist()) == {"AM"}


def test_zip_sample_is_read_as_a_zip_of_datashop_eod(ds: Path) -> None:
    # Contents and counts are checked in tests/test_io_zip.py.
    assert detect_format(ds / "OptionEODSummary_Sample_2016-06-01.zip") == "zip"
