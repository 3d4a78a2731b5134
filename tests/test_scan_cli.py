"""``chainlens scan`` over a store: exact SPEC JSON keys for accumulation and rolls."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from test_oi_core import S, _history


def test_scan_json_keys(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chainlens.cli import app
    from chainlens.cli._common import run_guarded
    from chainlens.store import Store

    with Store(store_dir) as st:
        h = _history()
        for d in S:
            day = h.filter(pc.equal(h.column("trade_date"), pa.scalar(d, pa.date32())))
            st.add_tables({"chain": day}, source=f"test-{d}")
    capsys.readouterr()
    assert (
        run_guarded(
            app, ["scan", "rolls", "--date", S[-1].isoformat(), "--store", str(store_dir), "--json"]
        )
        == 0
    )
    rolls = json.loads(capsys.readouterr().out)
    assert [list(r) for r in rolls] == [
        [
            "underlying",
            "kind",
            "right",
            "from_expiry",
            "from_strike",
            "to_expiry",
            "to_strike",
            "contracts",
        ]
    ] * 2
    assert {r["kind"] for r in rolls} == {"bullish_roll", "close"}
    close = [r for r in rolls if r["kind"] == "close"][0]
    assert close["to_expiry"] is None and close["to_strike"] is None
    assert (
        run_guarded(
            app,
            [
                "scan",
                "accumulation",
                "--date",
                S[-1].isoformat(),
                "--store",
                str(store_dir),
                "--json",
            ],
        )
        == 0
    )
    acc = json.loads(capsys.readouterr().out)
    assert acc == [
        {
            "underlying": "XYZ",
            "expiry": "2024-04-19",
            "strike": 105.0,
            "right": "C",
            "sessions": 3,
            "oi_change": 1900,
        }
    ]
    assert (
        run_guarded(app, ["scan", "bogus", "--date", "2024-03-08", "--store", str(store_dir)]) == 2
    )
