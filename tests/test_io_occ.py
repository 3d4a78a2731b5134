"""OCC OI history JSON against independent counts with the json module."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.compute as pc
import pytest

from chainlens.io import detect_format, read_file

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def occ(shared_data: Path) -> Path:
    d = shared_data / "occ_oi_history"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.mark.parametrize("ticker", ["SPX", "SPY", "QQQ", "IWM"])
def test_occ_totals(occ: Path, ticker: str) -> None:
    f = occ / f"{ticker}_history.json"
    assert detect_format(f) == "occ_oi_json"
    doc = json.loads(f.read_text())
    results = list(read_file(f))
    pulls = list(doc["days"])
    assert len(results) == len(pulls)
    for res, pull in zip(results, pulls, strict=True):
        d, m = (int(x) for x in pull.split("-"))
        session = dt.date(2026, m, d)
        leaves = [
            (dt.date.fromisoformat(e), float(k), v["call_oi"], v["put_oi"])
            for e, ks in doc["days"][pull].items()
            for k, v in ks.items()
        ]
        live = [x for x in leaves if x[0] >= session]
        assert res.rows_read == 2 * len(leaves)
        assert res.rows_read == res.table.num_rows + res.rejects.num_rows
        # Expired series still listed by OCC are rejected, with the reason.
        assert res.rejects.num_rows == 2 * (len(leaves) - len(live))
        assert set(res.rejects["reason"].to_pylist()) <= {"expiry before the session"}
        t = res.table
        assert t.num_rows == 2 * len(live)
        assert pc.sum(t["open_interest"]).as_py() == sum(c + p for _, _, c, p in live)
        calls = pc.filter(t, pc.equal(t["right"], "C"))
        assert pc.sum(calls["open_interest"]).as_py() == sum(c for _, _, c, _ in live)
        assert set(pc.unique(t["expiry"]).to_pylist()) == {x[0] for x in live}
        assert pc.unique(t["trade_date"]).to_pylist() == [session]
        assert t["volume"].null_count == t.num_rows and t["bid"].null_count == t.num_rows
    # Every pull but the last carries its session close as spot; the last repeats the
    # previous close (taken before its session closed): spot null.
    closes = list(doc["closes"].values())
    assert closes[-1] == closes[-2]
    for res, c in zip(results[:-1], closes[:-1], strict=True):
        assert pc.unique(res.table["spot"]).to_pylist() == [c]
    assert results[-1].table["spot"].null_count == results[-1].table.num_rows


def test_spx_roots_by_expiry_class(occ: Path) -> None:
    res = next(read_file(occ / "SPX_history.json"))
    t = res.table
    pairs = set(
        zip(
            t["expiry"].to_pylist(), t["root"].to_pylist(), t["settlement"].to_pylist(), strict=True
        )
    )
    # 2026-08-21 and 2026-09-18 are third Fridays (AM-settled SPX); 2026-08-20 is not.
    assert (dt.date(2026, 8, 21), "SPX", "AM") in pairs
    assert (dt.date(2026, 9, 18), "SPX", "AM") in pairs

    # Hand-worked: third Fridays, except June 2027 whose third Friday (06-18) is the observed
    # Juneteenth holiday, so the monthly moves to Thursday 2027-06-17.
    def monthly(e: dt.date) -> bool:
        return (
            e.weekday() == 4 and 15 <= e.day <= 21 and e != dt.date(2027, 6, 18)
        ) or e == dt.date(2027, 6, 17)

    assert all((r, s) == (("SPX", "AM") if monthly(e) else ("SPXW", "PM")) for e, r, s in pairs)
