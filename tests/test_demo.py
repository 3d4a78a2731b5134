"""``chainlens demo`` end to end on a small simulated market (slow: simulate + ingest + run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chainlens.demo import run_demo
from chainlens.errors import StoreError


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "demo-store"
    out = run_demo(root, underlyings=8, sessions=3, run_sessions=2)
    day = Path(out["reports_dir"])
    assert (day / "index.html").is_file()
    for f in out["daily"].values():
        assert Path(f).is_file()
    for u in ("SPX", "SPY", "QQQ", "IWM"):
        assert (day / f"{u}-flow.html").is_file() and (day / f"{u}-flow.md").is_file()
        doc = json.loads((day / f"{u}-flow.json").read_text())
        assert doc["ticker"] == u and doc["sections"]
    # the report chain links resolve to files written for the previous session
    html = (day / "SPY-flow.html").read_text()
    older = re.search(r'href="(\.\./[^"]+/SPY-flow\.html)"', html)
    assert older is not None and (day / older.group(1)).resolve().is_file()
    index = (day / "index.html").read_text()
    assert "SPY-flow.html" in index and "daily.html" in index
    # re-running replaces the earlier demo store; a foreign directory is refused
    run_demo(root, underlyings=8, sessions=3, run_sessions=1)
    other = tmp_path / "not-a-demo"
    other.mkdir()
    (other / "keep.txt").write_text("user data")
    with pytest.raises(StoreError, match="not a chainlens demo store"):
        run_demo(other, underlyings=8, sessions=3)
    assert (other / "keep.txt").read_text() == "user data"
