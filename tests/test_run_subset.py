"""A run over some underlyings of a session keeps the stored results of the others.

Before this, ``chainlens run -u AAPL`` replaced the whole session's stored results by AAPL's:
every other name vanished from the reports and the market rollup became AAPL's alone. The
reference is the whole-session run itself: after a subset rerun (same data), every stored
part and the market rollup must be what the whole-session run stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from _tables import same_rows
from chainlens.pipeline import RESULTS_NAME
from chainlens.runners.local import run_local
from chainlens.store import Store

pytestmark = pytest.mark.xdist_group("run_subset")


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    from chainlens.sim import SimConfig, simulate_market

    root = tmp_path_factory.mktemp("subset")
    m = simulate_market(
        SimConfig(underlyings=8, sessions=3, seed=11, trades_per_underlying=150), root / "sim"
    )
    with Store(root / "store") as st:
        st.ingest_many(m.all_paths())
    return root / "store", list(m.sessions)


def _stored(st: Store, d) -> tuple[dict[str, pa.Table], dict]:
    idx = st.results_index().to_pylist()
    parts = {
        r["part"]: st.read_results(RESULTS_NAME, d, r["part"])
        for r in idx
        if r["name"] == RESULTS_NAME and r["session"] == d
    }
    return parts, st.read_market(d)


def _copy(market: tuple[Path, list], tmp_path: Path, k: int) -> tuple[Path, Any, list[str]]:
    """A copy of the market's store, its session ``k`` and that session's underlyings."""
    import shutil

    root = tmp_path / "store"
    shutil.copytree(market[0], root)
    d = market[1][k]
    with Store(root, read_only=True) as st:
        return root, d, st.underlyings(d)


def test_subset_rerun_keeps_every_other_name_and_the_whole_market_rollup(
    market: tuple[Path, list], tmp_path: Path
) -> None:
    root, d, names = _copy(market, tmp_path, -1)
    with Store(root) as st:
        full = run_local(st, d, workers=1)
        assert full["kept_underlyings"] == 0 and full["underlyings"] == len(names)
        want_parts, want_market = _stored(st, d)
        some = [names[3], names[0]]  # not in store order
        out = run_local(st, d, some, workers=1)
        assert out["underlyings"] == 2
        assert out["kept_underlyings"] == len(names) - 2
        assert out["parts"] == full["parts"]
        got_parts, got_market = _stored(st, d)
    assert got_parts.keys() == want_parts.keys()
    for k, t in want_parts.items():
        assert same_rows(got_parts[k], t), k
    assert json.dumps(got_market, sort_keys=True) == json.dumps(want_market, sort_keys=True)
    docs = got_parts["docs"].column("underlying").to_pylist()
    assert docs == sorted(names)


def test_subset_run_of_a_session_without_results_stores_only_those_names(
    market: tuple[Path, list], tmp_path: Path
) -> None:
    root, d, names = _copy(market, tmp_path, -2)
    with Store(root) as st:
        out = run_local(st, d, [names[1]], workers=1)
        assert out["kept_underlyings"] == 0 and out["underlyings"] == 1
        assert [x["underlying"] for x in st.read_docs(d)] == [names[1]]
        assert st.results_except(d, [names[1]])["docs"].num_rows == 0
        assert st.results_except(d, [])["docs"].num_rows == 1


def test_cli_subset_run_says_what_it_kept(market: tuple[Path, list], tmp_path: Path) -> None:
    from chainlens.cli import app

    root, d, names = _copy(market, tmp_path, -1)
    runner = CliRunner()
    base = ["run", "--date", d.isoformat(), "--store", str(root), "--workers", "1"]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    assert "kept the stored results" not in r.output
    r = runner.invoke(app, [*base, "-u", names[2].lower()])
    assert r.exit_code == 0, r.output
    assert f"kept the stored results of {len(names) - 1} other underlyings" in r.output
    r = runner.invoke(app, [*base, "-u", names[2], "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["underlyings"] == 1 and got["kept_underlyings"] == len(names) - 1


def test_subset_run_over_a_damaged_stored_part_fails_clearly_and_changes_nothing(
    market: tuple[Path, list], tmp_path: Path
) -> None:
    """A stored part whose bytes changed (bit rot, an edit outside chainlens) is never merged
    as numbers: the run stops with an error naming the file, and the session keeps what it
    had."""
    from chainlens.errors import StoreError

    root, d, names = _copy(market, tmp_path, -1)
    with Store(root) as st:
        run_local(st, d, workers=1)
        before = st.results_index().to_pylist()
        rel = next(
            r[0]
            for r in st.con.execute(
                "SELECT file FROM results WHERE session = ? AND part = 'by_strike'", [d]
            ).fetchall()
        )
    with open(root / rel, "r+b") as f:  # flip one byte in the middle of the file
        f.seek((root / rel).stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    with Store(root) as st:
        with pytest.raises(StoreError, match="by_strike"):
            run_local(st, d, [names[0]], workers=1)
        assert st.results_index().to_pylist() == before
