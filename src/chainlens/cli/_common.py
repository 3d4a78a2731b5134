"""Shared CLI plumbing: consoles, the ``--store`` and ``--json`` options, error guarding."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from chainlens.errors import ChainlensError
from chainlens.paths import DEFAULT_STORE

__all__ = ["StoreOpt", "JsonOpt", "console", "console_err", "emit_json", "run_guarded"]

console = Console()
console_err = Console(stderr=True)

StoreOpt = typer.Option(DEFAULT_STORE, "--store", help="Store directory.", file_okay=False)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def _default(o: Any) -> Any:
    import datetime as dt

    import numpy as np

    if isinstance(o, dt.datetime):
        if o.tzinfo is not None:
            o = o.astimezone(dt.UTC)
            return o.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"
        return o.isoformat()
    if isinstance(o, dt.date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        f = float(o)
        return None if f != f or f in (float("inf"), float("-inf")) else f
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o: Any) -> Any:
    """Replace NaN/inf floats by None so the output is strict JSON."""
    if isinstance(o, float):
        return None if o != o or o in (float("inf"), float("-inf")) else o
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def emit_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON (NaN -> null, dates ISO, timestamps UTC with Z)."""
    sys.stdout.write(json.dumps(_clean(obj), default=_default, allow_nan=False))
    sys.stdout.write("\n")
    sys.stdout.flush()


def run_guarded(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run the typer app; a ChainlensError prints as one clear message and exits with 2."""
    try:
        rc = app(args=argv, standalone_mode=False)
    except ChainlensError as exc:
        # soft_wrap: an error (and the paths in it) is printed on whole lines, never wrapped at
        # the terminal width, so it can be copied and matched whatever the console size.
        console_err.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        if exc.hint:
            console_err.print(
                f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True
            )
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        console_err.print("aborted")
        return 1
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.Exit):
            return int(exc.exit_code or 0)
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return int(rc) if isinstance(rc, int) else 0
