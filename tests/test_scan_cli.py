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


def test_scan_terminal_cells_are_formatted_by_unit() -> None:
    """The terminal table (not ``--json``): USD compact, multiples with ×, the increase as a
    signed %, contracts with separators, strikes as prices, the first of a top-3 list."""
    from chainlens.cli._scan import _cell

    assert _cell("premium_usd", 6_867_600.0) == "$6.87M"
    assert _cell("avg_premium_usd", 985_940.0) == "$985.94K"
    assert _cell("premium_usd", 512.0) == "$512"
    assert _cell("premium_multiple", 6.9655) == "6.97×"
    assert _cell("increase", 5.045) == "+504.5%"
    assert _cell("volume", 13395.0) == "13,395"
    assert _cell("to_strike", 4655.0) == "4655" and _cell("from_strike", 117.5) == "117.5"
    assert _cell("top_symbols", ["AMD240322C00275000", "X"]) == "AMD240322C00275000"
    assert _cell("top_net_contracts", [-876.0, 3.0]) == "-876"
    assert _cell("increase", None) == "" and _cell("kind", "bullish_roll") == "bullish_roll"
