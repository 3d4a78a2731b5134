"""Generic TOML-mapped adapter: the IWM EOD layout (both files) vs independent csv counts."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from chainlens.errors import ConfigError
from chainlens.io import detect_format, read_chain, read_file
from chainlens.io._generic import load_mapping


@pytest.fixture(scope="module")
def iwm(shared_data: Path) -> Path:
    d = shared_data / "iwm_eod_2019-10-15"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "snap"), [("NBBO.csv", "20:00"), ("NBBO_1545.csv", "19:45")])
def test_iwm_files(iwm: Path, name: str, snap: str) -> None:
    f = iwm / name
    assert detect_format(f) == "generic:iwm_eod"
    with open(f, newline="") as fh:
        rows = list(csv.DictReader(fh))
    res = list(read_file(f))
    t = pa.concat_tables([r.table for r in res])
    assert sum(r.rows_read for r in res) == len(rows) == 2976 == t.num_rows
    assert pc.sum(t["open_interest"]).as_py() == sum(int(r["open_interest"]) for r in rows)
    assert pc.sum(t["volume"]).as_py() == sum(int(r["volume"]) for r in rows)
    exp = {dt.datetime.strptime(r["option_expiration"], "%m/%d/%Y").date() for r in rows}
    assert set(pc.unique(t["expiry"]).to_pylist()) == exp
    assert pc.unique(t["spot"]).to_pylist() == [float(rows[0]["stock_price_for_iv"])]
    assert pc.unique(t["trade_date"]).to_pylist() == [dt.date(2019, 10, 15)]
    assert pc.unique(t["snapshot_ts"]).to_pylist()[0].strftime("%H:%M") == snap
    assert t["symbol"][0].as_py() == rows[0]["option_symbol"].replace(" ", "")
    asks = sum(float(r["ask"]) for r in rows)
    assert abs(pc.sum(t["ask"]).as_py() - asks) < 1e-6


def test_user_mapping_csv_and_parquet(tmp_path: Path) -> None:
    m = tmp_path / "mine.toml"
    m.write_text(
        """
[mapping]
kind = "chain"
signature = ["Day", "Und", "Exp", "K", "CP", "OI"]
[columns]
trade_date = "Day"
underlying = "Und"
expiry = "Exp"
strike = "K"
right = "CP"
open_interest = "OI"
[formats]
trade_date = "%Y%m%d"
expiry = "%Y%m%d"
[options]
right_values = { CALL = "C", PUT = "P" }
"""
    )
    f = tmp_path / "x.csv"
    f.write_text(
        "Day,Und,Exp,K,CP,OI\n20230914,QQQ,20230915,370,call,12\n20230914,QQQ,20230915,370,put,7\n"
    )
    t = read_chain(f, mapping=m)
    assert t["symbol"].to_pylist() == ["QQQ230915C00370000", "QQQ230915P00370000"]
    assert t["open_interest"].to_pylist() == [12, 7] and t["settlement"].to_pylist() == ["PM", "PM"]
    p = tmp_path / "x.parquet"
    pq.write_table(pa.csv.read_csv(f), p)
    assert (
        read_chain(p, mapping=m)
        .select(["symbol", "open_interest"])
        .equals(t.select(["symbol", "open_interest"]))
    )


def test_bad_mapping_is_config_error(tmp_path: Path) -> None:
    m = tmp_path / "bad.toml"
    m.write_text('[mapping]\nkind = "chain"\n[columns]\nnot_a_column = "x"\n')
    with pytest.raises(ConfigError, match="not_a_column"):
        load_mapping(m)
