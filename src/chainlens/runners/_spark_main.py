"""The spark-submit entry point: ``chainlens run --engine spark`` as a Spark application.

    spark-submit [spark options] .../chainlens/runners/_spark_main.py --store S --from D1 --to D2

The arguments are those of ``chainlens run`` (``--engine spark`` is implied). A file of its
own, so that :mod:`chainlens.runners.spark` never imports the CLI (which imports the runners):
the package's import graph stays acyclic even counting script blocks.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run ``chainlens run --engine spark ARGV`` (default: this process's arguments)."""
    from chainlens.cli import main as cli_main

    args = sys.argv[1:] if argv is None else list(argv)
    # usage and help lines name the command the arguments belong to, not this file
    cli_main(["run", "--engine", "spark", *args], prog_name="chainlens")


if __name__ == "__main__":
    main()
