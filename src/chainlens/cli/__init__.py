"""The ``chainlens`` command line: a thin layer over the library.

Each command family lives in its own private module with a ``register(app)`` function; this
module only assembles them and turns :class:`~chainlens.errors.ChainlensError` into a clear
message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import sys

import typer

from chainlens import __version__
from chainlens.cli import (
    _analyze,
    _fetch,
    _ingest,
    _outcomes,
    _pipeline,
    _scan,
    _serve,
    _sim,
    _watch,
)
from chainlens.cli._common import run_guarded

__all__ = ["app", "main"]

app = typer.Typer(
    name="chainlens",
    help="End-of-day options positioning and flow analytics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chainlens {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """chainlens: who bought, who sold, where OI builds, where dealers are short gamma."""


for _module in (_ingest, _analyze, _sim, _scan, _pipeline, _serve):
    _module.register(app)
_fetch.register(app)
_outcomes.register(app)
_watch.register(app)


def main(argv: list[str] | None = None, *, prog_name: str | None = None) -> None:
    """Entry point of the ``chainlens`` script (``prog_name``: the program name usage and help
    lines show; default: the script's name)."""
    sys.exit(run_guarded(app, argv, prog_name=prog_name))


if __name__ == "__main__":  # pragma: no cover
    main()
