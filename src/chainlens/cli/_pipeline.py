"""``chainlens run | report | daily | demo``: the daily pipeline and the reports.

Thin wrappers over :mod:`chainlens.runners.local`, :mod:`chainlens.report` and
:mod:`chainlens.demo`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from chainlens.cli._common import JsonOpt, StoreOpt

__all__ = ["register"]


def _parse_date(value: str) -> dt.date:
    from chainlens._dates import parse_date

    return parse_date(value, "--date")


def _progress_bar(label: str):
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


def _read_macro(path: Path | None):
    """User macro series (CSV or Parquet with columns ``series``, ``date``, ``value``)."""
    if path is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    from chainlens.errors import InputError

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            t = pq.read_table(path)
        else:
            from pyarrow import csv

            t = csv.read_csv(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read the macro series: {exc}", path=str(path)) from None
    for col in ("series", "date", "value"):
        if col not in t.column_names:
            raise InputError(
                "macro series need columns series, date, value", path=str(path), column=col
            )
    try:
        return pa.table(
            {
                "series": pc.cast(t.column("series"), pa.string()),
                "date": pc.cast(t.column("date"), pa.date32()),
                "value": pc.cast(t.column("value"), pa.float64()),
            }
        )
    except pa.ArrowException as exc:
        raise InputError(f"bad macro value: {exc}", path=str(path)) from None


def _run(
    store: Path, d: dt.date, underlyings: list[str] | None, workers: int | None, macro=None
) -> dict:
    from chainlens.runners.local import run_local
    from chainlens.store import Store

    with Store(store, create=False) as st, _progress_bar(f"run {d}") as bar:
        task = bar.add_task("run", total=None, u="")

        def prog(i: int, n: int, u: str) -> None:
            bar.update(task, completed=i, total=n, u=u)

        return run_local(st, d, underlyings or None, workers=workers, progress=prog, macro=macro)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``report``, ``daily`` and ``demo`` to ``app``."""

    @app.command("run")
    def run(
        date: str | None = typer.Option(None, "--date", help="Session YYYY-MM-DD."),
        underlyings: list[str] = typer.Option(
            None, "--underlyings", "-u", help="Only these tickers (repeat or comma-separate)."
        ),
        engine: str = typer.Option("local", "--engine", help="local or spark (docs/spark.md)."),
        date_from: str | None = typer.Option(None, "--from", help="Backfill: first session."),
        date_to: str | None = typer.Option(None, "--to", help="Backfill: last session."),
        dataset: str | None = typer.Option(
            None, "--dataset", help="Spark: where Spark reads the store's files (s3a://...)."
        ),
        workers: int | None = typer.Option(
            None, "--workers", help="Worker processes (default auto)."
        ),
        macro: Path | None = typer.Option(
            None, "--macro", help="CSV/Parquet of user macro series (series,date,value)."
        ),
        store: Path = StoreOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """The daily pipeline over the store: every underlying of the session, then market rollups."""
        from chainlens.cli._common import console, emit_json, esc

        us = [x.strip().upper() for u in (underlyings or []) for x in u.split(",") if x.strip()]
        if engine != "local" or date is None or date_from is not None or date_to is not None:
            from chainlens.runners._cli import run_sessions

            outs = run_sessions(
                store, engine=engine, date=date, date_from=date_from, date_to=date_to,
                underlyings=us, workers=workers, macro=_read_macro(macro), dataset=dataset,
            )  # fmt: skip
            if as_json:
                emit_json(outs[0] if date is not None else outs)
                return
            for out in outs:
                console.print(
                    f"[bold]run {out['session']}[/] ({out['engine']}): {out['underlyings']} "
                    f"underlyings in {out['elapsed_s']:.1f} s; parts: "
                    + ", ".join(f"{k}={v}" for k, v in out["parts"].items()),
                    highlight=False,
                )
                for msg in out["failed"]:
                    console.print(f"[yellow]skipped[/] {esc(msg)}", highlight=False)
                for o in out.get("outsized", []):
                    console.print(f"[yellow]outsized group[/] {o['underlying']}: {o['rows']} rows")
            return
        out = _run(store, _parse_date(date), us, workers, _read_macro(macro))
        if as_json:
            emit_json(out)
            return
        console.print(
            f"[bold]run {out['session']}[/]: {out['underlyings']} underlyings in "
            f"{out['elapsed_s']:.1f} s ({out['workers']} worker(s)); parts: "
            + ", ".join(f"{k}={v}" for k, v in out["parts"].items()),
            highlight=False,
        )
        if out.get("kept_underlyings"):
            console.print(
                f"kept the stored results of {out['kept_underlyings']} other underlyings of "
                f"{out['session']}; the market rollup covers all of them",
                highlight=False,
            )
        for msg in out["failed"]:
            console.print(f"[yellow]skipped[/] {esc(msg)}", highlight=False)

    @app.command("report")
    def report(
        ticker: str = typer.Argument(..., help="Underlying ticker."),
        date: str = typer.Option(..., "--date", help="Session YYYY-MM-DD."),
        lens: str = typer.Option("flow", "--lens", help="flow, bias, premium or earnings."),
        fmt: str = typer.Option("md", "--format", help="json, md or html."),
        out: Path | None = typer.Option(
            None, "--out", help="Write to this file (default: stdout)."
        ),
        store: Path = StoreOpt,
    ) -> None:
        """A per-ticker report from the stored pipeline results."""
        from chainlens.errors import InputError
        from chainlens.report import LENSES, render, write_report
        from chainlens.report._session import ticker_report
        from chainlens.store import Store

        # Arguments are checked before the store is opened: a typo gets its own message.
        if lens not in LENSES:
            raise InputError(
                f"lens must be one of {', '.join(LENSES)}", column="--lens", value=lens
            )
        with Store(store, create=False, read_only=True) as st:
            r = ticker_report(st, ticker, _parse_date(date), lens, fmt)
        _emit(r, fmt, out, render, write_report)

    @app.command("daily")
    def daily(
        date: str = typer.Option(..., "--date", help="Session YYYY-MM-DD."),
        fmt: str = typer.Option("md", "--format", help="json, md or html."),
        out: Path | None = typer.Option(
            None, "--out", help="Write to this file (default: stdout)."
        ),
        store: Path = StoreOpt,
        thesis: Path | None = typer.Option(
            None,
            "--thesis",
            help="TOML thesis checklist evaluated on the session (examples/thesis.toml).",
        ),
    ) -> None:
        """The market-wide daily report (side decomposition, top flow, dark pool, zones...)."""
        from chainlens.report import render, write_report
        from chainlens.report._session import daily_report
        from chainlens.store import Store
        from chainlens.thesis import load_thesis

        th = None if thesis is None else load_thesis(thesis)
        with Store(store, create=False, read_only=True) as st:
            r = daily_report(st, _parse_date(date), fmt, thesis=th)
        _emit(r, fmt, out, render, write_report)

    @app.command("demo")
    def demo(
        store: Path = StoreOpt,
        seed: int = typer.Option(7, "--seed", help="Simulator seed."),
        sessions: int = typer.Option(10, "--sessions", help="Simulated sessions."),
        underlyings: int = typer.Option(33, "--underlyings", help="Simulated underlyings."),
        run_sessions: int = typer.Option(
            2, "--run-sessions", help="Last sessions run through the pipeline."
        ),
        as_json: bool = JsonOpt,
    ) -> None:
        """Simulate a market into a fresh store, run the pipeline, write the reports."""
        from chainlens.cli._common import console, emit_json
        from chainlens.demo import run_demo

        def say(msg: str) -> None:
            console.print(msg, highlight=False)

        out = run_demo(
            store, seed=seed, sessions=sessions, underlyings=underlyings,
            run_sessions=run_sessions, say=None if as_json else say,
        )  # fmt: skip
        if as_json:
            emit_json(out)
        else:
            _print_demo(console, out)


def _print_demo(console: Any, out: dict[str, Any]) -> None:
    """The demo's summary table: one row per report, then the store, index and timings."""
    from rich.table import Table

    day_dir = Path(out["reports_dir"])
    tab = Table(title=f"chainlens demo — {day_dir.name}")
    for c in ("report", "lenses", f"files in {day_dir}"):
        tab.add_column(c, overflow="fold")
    tab.add_row("Market daily report", "market", "daily.html / .md / .json")
    for u, ls in out["ticker_reports"].items():
        tab.add_row(u, ", ".join(ls), ", ".join(f"{u}-{x}.html" for x in ls))
    console.print(tab)
    console.print(
        f"store: {out['store']}\nindex: {out['index']}\n"
        + "timings: "
        + ", ".join(f"{k} {v:.1f}" for k, v in out["timings"].items()),
        highlight=False,
    )


def _emit(r, fmt: str, out: Path | None, render, write_report) -> None:
    import sys

    from chainlens.cli._common import console_err, esc

    if out is None:
        sys.stdout.write(render(r, fmt))
        sys.stdout.flush()
    else:
        write_report(r, out, fmt)
        console_err.print(f"wrote {esc(out)}", highlight=False)
