"""``chainlens run | report | daily | demo``: the daily pipeline and the reports.

Thin wrappers over :mod:`chainlens.runners.local`, :mod:`chainlens.report` and
:mod:`chainlens.sim`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from chainlens.cli._common import JsonOpt, StoreOpt

__all__ = ["register"]


def _parse_date(value: str) -> dt.date:
    from chainlens.errors import InputError

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(
            "--date must be an ISO date YYYY-MM-DD", column="--date", value=value
        ) from None


def _progress_bar(label: str):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chainlens.cli._common import console_err

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[u]}"),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    )


def _run(store: Path, d: dt.date, underlyings: list[str] | None, workers: int | None) -> dict:  # type: ignore[type-arg]
    from chainlens.runners.local import run_local
    from chainlens.store import Store

    with Store(store, create=False) as st, _progress_bar(f"run {d}") as bar:
        task = bar.add_task("run", total=None, u="")

        def prog(i: int, n: int, u: str) -> None:
            bar.update(task, completed=i, total=n, u=u)

        return run_local(st, d, underlyings or None, workers=workers, progress=prog)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``report``, ``daily`` and ``demo`` to ``app``."""

    @app.command("run")
    def run(
        date: str = typer.Option(..., "--date", help="Session YYYY-MM-DD."),
        underlyings: list[str] = typer.Option(
            None, "--underlyings", "-u", help="Only these tickers (repeat or comma-separate)."
        ),
        workers: int | None = typer.Option(
            None, "--workers", help="Worker processes (default auto)."
        ),
        store: Path = StoreOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """The daily pipeline over the store: every underlying of the session, then market rollups."""
        from chainlens.cli._common import console, emit_json

        us = [x.strip().upper() for u in (underlyings or []) for x in u.split(",") if x.strip()]
        out = _run(store, _parse_date(date), us, workers)
        if as_json:
            emit_json(out)
            return
        console.print(
            f"[bold]run {out['session']}[/]: {out['underlyings']} underlyings in "
            f"{out['elapsed_s']:.1f} s ({out['workers']} worker(s)); parts: "
            + ", ".join(f"{k}={v}" for k, v in out["parts"].items()),
            highlight=False,
        )
        for msg in out["failed"]:
            console.print(f"[yellow]skipped[/] {msg}", highlight=False)
