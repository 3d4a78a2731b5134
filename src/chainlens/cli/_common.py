"""Shared CLI plumbing: consoles, the ``--store`` and ``--json`` options, error guarding."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from chainlens._jsonsafe import jsonable
from chainlens.errors import ChainlensError
from chainlens.paths import DEFAULT_STORE

__all__ = [
    "JsonOpt",
    "StoreOpt",
    "console",
    "console_err",
    "emit_json",
    "esc",
    "run_guarded",
]

console = Console()
console_err = Console(stderr=True)

StoreOpt = typer.Option(DEFAULT_STORE, "--store", help="Store directory.", file_okay=False)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def esc(value: object) -> str:
    """``value`` as text safe to print through rich markup (data may hold ``[`` ``]``)."""
    return escape(str(value))


def _click_kind(exc: BaseException) -> str | None:
    """``"exit" | "abort" | "usage"`` for click's exceptions, whichever copy of click raised
    them (typer ships its own click: ``import click`` may name another module or none)."""
    for cls in type(exc).__mro__:
        if "click" not in cls.__module__:
            continue
        if cls.__name__ == "Exit":
            return "exit"
        if cls.__name__ == "Abort":
            return "abort"
        if cls.__name__ == "ClickException":
            return "usage"
    return None


def _print_error(message: str, hint: str | None = None) -> None:
    # soft_wrap: an error (and the paths in it) is printed on whole lines, never wrapped at
    # the terminal width, so it can be copied and matched whatever the console size.
    console_err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console_err.print(f"[yellow]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def _default(o: Any) -> Any:
    """Values :func:`~chainlens._jsonsafe.jsonable` leaves as they are (paths)."""
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON (NaN -> null, dates ISO, timestamps UTC with Z)."""
    sys.stdout.write(json.dumps(jsonable(obj), default=_default, allow_nan=False))
    sys.stdout.write("\n")
    sys.stdout.flush()


def run_guarded(
    app: typer.Typer, argv: list[str] | None = None, *, prog_name: str | None = None
) -> int:
    """Run the typer app and return its exit code; no traceback reaches the user.

    * a :class:`ChainlensError` prints as one clear message (and its hint): exit 2;
    * a usage error (unknown option, missing argument, bad value) prints click's usage
      message: exit 2;
    * an operating-system error (disk full, permission denied, read-only file system) prints
      its reason and the path: exit 2;
    * anything else is a bug: one line saying so, exit 3 (``CHAINLENS_DEBUG=1`` re-raises it
      with its traceback).

    ``prog_name`` names the program in usage and help lines (default: the script's name).
    """
    import os

    try:
        rc = app(args=argv, prog_name=prog_name, standalone_mode=False)
    except ChainlensError as exc:
        _print_error(exc.message, exc.hint)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        console_err.print("aborted")
        return 1
    except KeyboardInterrupt:
        console_err.print("interrupted")
        return 130
    except Exception as exc:
        kind = _click_kind(exc)
        if kind == "exit":
            return int(getattr(exc, "exit_code", 0) or 0)
        if kind == "abort":
            console_err.print("aborted")
            return 1
        if kind == "usage":
            exc.show()  # type: ignore[attr-defined]
            return int(getattr(exc, "exit_code", 2))
        if os.environ.get("CHAINLENS_DEBUG"):
            raise
        if isinstance(exc, OSError):
            _print_error(_os_message(exc), _os_hint(exc))
            return 2
        _print_error(
            f"internal error: {type(exc).__name__}: {exc}".replace("\n", " "),
            "this is a bug in chainlens: rerun with CHAINLENS_DEBUG=1 for the traceback and "
            "report it",
        )
        return 3
    return int(rc) if isinstance(rc, int) else 0


def _os_message(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    why = exc.strerror or str(exc)
    return f"{where}: {why}" if where else why


def _os_hint(exc: OSError) -> str | None:
    import errno

    return {
        errno.ENOSPC: "free some disk space (the store was left as it was), then retry",
        errno.EDQUOT: "free some disk space (the store was left as it was), then retry",
        errno.EROFS: "the file system is read-only: choose a writable --store or --out",
        errno.EACCES: "check the permissions of that path",
        errno.EPERM: "check the permissions of that path",
    }.get(exc.errno or 0)
