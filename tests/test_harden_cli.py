"""Issue 18 items 1, 2 and 9: usage errors, rich markup in data, readers that never create."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from _harden import cli
from test_store import D1, chain_table, utc


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["show"], "Missing argument"),
        (["ingest", "--bogus"], "No such option"),
        (["show", "AMD", "--date", "x"], "not an ISO date"),
        (["levels", "SPX", "--date", "2023-13-01"], "YYYY-MM-DD"),
        (["analyze"], "Missing argument"),
        (["run", "--date", "2023-09-13", "--workers", "two"], "valid integer"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_give_a_message_and_exit_2(argv: list[str], says: str) -> None:
    r = cli(argv)
    assert r.rc == 2, r
    assert says in r.err
    assert not r.traceback, r.err


def test_help_and_version_exit_0() -> None:
    assert cli(["--version"]).rc == 0
    r = cli(["show", "--help"])
    assert r.rc == 0 and "Usage" in r.out


def test_markup_in_a_file_name_and_error_prints_literally(tmp_path: Path) -> None:
    # a header with rich markup: the error names it, and rich must not parse it
    bad = tmp_path / "in" / "x[bold]y[red].csv"
    bad.parent.mkdir()
    bad.write_text("a[/],b[/bold]\n1,2\n")
    r = cli(["ingest", str(bad), "--store", str(tmp_path / "st")])
    assert not r.traceback, r.err
    assert "x[bold]y[red].csv" in r.out


def test_markup_in_an_error_message_prints_literally(tmp_path: Path) -> None:
    r = cli(["show", "[/]", "--date", "2023-09-13", "--store", str(tmp_path / "nostore")])
    assert r.rc == 2 and not r.traceback
    assert "no chainlens store" in r.err


def test_levels_on_a_typo_store_does_not_create_it(tmp_path: Path) -> None:
    typo = tmp_path / "typo_store"
    r = cli(["levels", "SPX", "--date", "2023-09-13", "--store", str(typo)])
    assert r.rc == 2 and "no chainlens store" in r.err
    assert not typo.exists()
    r = cli(["show", "SPX", "--date", "2023-09-13", "--store", str(typo)])
    assert r.rc == 2 and not typo.exists()


def test_sessions_human_output_with_data(tmp_path: Path) -> None:
    f = tmp_path / "spy.parquet"
    pq.write_table(chain_table("SPY", D1, utc(D1, 20), [100.0, 101.0]), f)
    st = tmp_path / "st"
    assert cli(["ingest", str(f), "--store", str(st)]).rc == 0
    r = cli(["sessions", "--store", str(st)])
    assert r.rc == 0 and "SPY" in r.out
