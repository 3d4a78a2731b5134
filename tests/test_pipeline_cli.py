"""``chainlens run | report | daily`` through the CLI guard (exit codes, outputs, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlens.cli import app
from chainlens.cli._common import run_guarded
from test_pipeline_fixtures import D2, build_tiny_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny store with the pipeline already run for D2, so that every test stands alone
    (pytest-xdist may run this module's tests on different workers, in any order)."""
    path = build_tiny_store(tmp_path_factory.mktemp("cli") / "store")
    assert run_guarded(app, ["run", "--date", D2.isoformat(), "--store", str(path)]) == 0
    return path


def test_run_report_daily(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = ["--store", str(store)]
    assert run_guarded(app, ["run", "--date", D2.isoformat(), *s, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["underlyings"] == 2 and out["parts"]["docs"] == 2
    assert (
        run_guarded(app, ["report", "TST", "--date", D2.isoformat(), "--format", "json", *s]) == 0
    )
    rep = json.loads(capsys.readouterr().out)
    assert rep["ticker"] == "TST" and rep["lens"] == "flow"
    assert rep["figures"]["flow.net_usd"] == {
        "key": "flow.net_usd", "value": 4500.0, "unit": "USD", "fmt": "money_signed",
        "label": "directional net premium (bullish − bearish)", "display": "+$4.5K",
    }  # fmt: skip
    assert (
        run_guarded(app, ["report", "tst", "--date", D2.isoformat(), "--lens", "premium", *s]) == 0
    )
    assert "## IV vs Realized" in capsys.readouterr().out
    html = tmp_path / "d.html"
    assert (
        run_guarded(
            app, ["daily", "--date", D2.isoformat(), "--format", "html", "--out", str(html), *s]
        )
        == 0
    )
    assert "<svg" in html.read_text()


def test_cli_errors_exit_2(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = ["--store", str(store)]
    assert run_guarded(app, ["run", "--date", "2024-13-01", *s]) == 2
    assert "--date must be an ISO date" in capsys.readouterr().err
    assert run_guarded(app, ["report", "TST", "--date", D2.isoformat(), "--lens", "nope", *s]) == 2
    assert "lens must be one of" in capsys.readouterr().err
    assert run_guarded(app, ["report", "ZZZ", "--date", D2.isoformat(), *s]) == 2
    assert run_guarded(app, ["daily", "--date", "2020-01-02", *s]) == 2
    assert "no results" in capsys.readouterr().err


def test_macro_panel_from_user_series(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "macro.csv"
    csv.write_text("series,date,value\nDXY,2024-03-04,100.0\nDXY,2024-03-05,99.1\n")
    s = ["--store", str(store)]
    assert run_guarded(app, ["run", "--date", D2.isoformat(), "--macro", str(csv), *s]) == 0
    capsys.readouterr()
    assert run_guarded(app, ["daily", "--date", D2.isoformat(), "--format", "md", *s]) == 0
    md = capsys.readouterr().out
    assert (
        "## Macro Regime Panel (user-supplied series)" in md
        and "| DXY | 2024-03-05 | 99.10 | -0.90 |" in md
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("name,date,value\nDXY,2024-03-05,1\n")
    assert run_guarded(app, ["run", "--date", D2.isoformat(), "--macro", str(bad), *s]) == 2
    assert "series" in capsys.readouterr().err
    # without --macro the panel disappears again
    assert run_guarded(app, ["run", "--date", D2.isoformat(), *s]) == 0
    assert run_guarded(app, ["daily", "--date", D2.isoformat(), "--format", "md", *s]) == 0
    assert "Macro Regime Panel" not in capsys.readouterr().out
