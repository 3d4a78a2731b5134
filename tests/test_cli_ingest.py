"""The store-facing CLI: ``ingest``, ``sessions``, ``show`` (CliRunner and one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chainlens.cli import app
from test_store import D1, chain_table, utc

runner = CliRunner()
SPEC_INGEST_KEYS = {
    "path",
    "format",
    "status",
    "rows_read",
    "accepted",
    "rejected",
    "rejects_path",
    "error",
}


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "in" / "spy.parquet"
    good.parent.mkdir()
    # hand-set OI and volume: calls 100/101 OI 10, 20; puts OI 30, 40; volumes 1..4
    pq.write_table(chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0]), good)
    bad = tmp_path / "in" / "readme.txt"
    bad.write_text("not market data\n")
    return good, bad


def test_ingest_json_contract_and_exit_code(tmp_path: Path) -> None:
    good, bad = _files(tmp_path)
    store = tmp_path / "store"
    res = runner.invoke(app, ["ingest", str(good.parent), "--store", str(store), "--json"])
    assert res.exit_code != 0  # one file failed
    out = json.loads(res.stdout)
    assert [Path(o["path"]).name for o in out] == ["readme.txt", "spy.parquet"]
    for o in out:
        assert SPEC_INGEST_KEYS <= set(o)
        assert o["rows_read"] == o["accepted"] + o["rejected"]
    assert out[0]["status"] == "failed" and "unknown format" in out[0]["error"]
    assert (out[1]["status"], out[1]["accepted"]) == ("ingested", 4)
    res = runner.invoke(app, ["ingest", str(good), "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["status"] == "unchanged"


def test_ingest_human_output_prints_counts(tmp_path: Path) -> None:
    good, _ = _files(tmp_path)
    res = runner.invoke(app, ["ingest", str(good), "--store", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "ingested" in res.stdout and "rows read 4 = accepted 4 + rejected 0" in res.stdout


def test_sessions_and_show(tmp_path: Path) -> None:
    good, _ = _files(tmp_path)
    store = tmp_path / "store"
    assert runner.invoke(app, ["ingest", str(good), "--store", str(store)]).exit_code == 0
    res = runner.invoke(app, ["sessions", "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [
        {
            "underlying": "SPY",
            "session": "2023-09-13",
            "snapshot_ts": "2023-09-13T20:00:00Z",
            "contracts": 4,
            "kind": "quotes",
            "snapshot_id": json.loads(res.stdout)[0]["snapshot_id"],
            "default": True,
        }
    ]
    res = runner.invoke(
        app, ["show", "spy", "--date", "2023-09-13", "--store", str(store), "--json"]
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    # hand-computed from chain_table's defaults: calls OI 10+20, puts 30+40; volume 1+2 / 3+4
    assert (s["contracts"], s["expiries"], s["spot"]) == (4, 1, 100.0)
    assert (s["call_oi"], s["put_oi"], s["call_volume"], s["put_volume"]) == (30, 70, 3, 7)
    assert s["pc_oi_ratio"] == pytest.approx(70 / 30) and s["pc_volume_ratio"] == pytest.approx(
        7 / 3
    )
    assert s["top_call_oi_strikes"] == [
        {"strike": 101.0, "open_interest": 20},
        {"strike": 100.0, "open_interest": 10},
    ]
    assert s["top_put_oi_strikes"][0] == {"strike": 101.0, "open_interest": 40}
    human = runner.invoke(app, ["show", "SPY", "--date", "2023-09-13", "--store", str(store)])
    assert human.exit_code == 0 and "P/C" in human.stdout


def test_show_empty_chain_summary_is_well_defined() -> None:
    from chainlens import schema
    from chainlens.cli._ingest import chain_summary

    s = chain_summary(schema.CHAIN.empty_table())
    assert s["contracts"] == 0 and s["pc_oi_ratio"] is None and s["top_call_oi_strikes"] == []
    assert isinstance(pa.table({"x": [1]}), pa.Table)


def test_real_subprocess_errors_are_clear(tmp_path: Path) -> None:
    """The installed script: missing session -> exit 2 with a hint, no traceback."""
    good, _ = _files(tmp_path)
    exe = Path(sys.executable).with_name("chainlens")
    store = tmp_path / "store"
    r = subprocess.run(
        [exe, "ingest", str(good), "--store", str(store), "--json"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["status"] == "ingested"
    r = subprocess.run(
        [exe, "show", "SPY", "--date", "2023-09-14", "--store", str(store)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "no SPY chain for session 2023-09-14" in r.stderr and "chainlens sessions" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run(
        [exe, "sessions", "--store", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert r.returncode == 2 and "no chainlens store" in r.stderr
    assert not (tmp_path / "nowhere").exists()
    r = subprocess.run(
        [exe, "ingest", str(tmp_path / "nofile.csv"), "--store", str(store), "--json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "failed to ingest" in r.stderr
    assert json.loads(r.stdout)[0]["error"].endswith("no such file")
