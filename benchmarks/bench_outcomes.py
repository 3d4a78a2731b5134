"""Outcome tracking over a whole history, one command per store (issue 16: < 1 minute each).

Measures ``chainlens outcomes --json`` (every rule, every underlying, the whole stored range)
as a subprocess, wall and CPU time, on

* the demo store: 30 simulated underlyings x 10 sessions with trades (``chainlens demo``),
* the SPX history: ``../shared/data/spx_daily_barchart`` (71 files, 69 sessions).

Run: ``.venv/bin/python benchmarks/bench_outcomes.py [--demo-store DIR] [--spx-store DIR]``.
Without a store argument the store is built first in a temporary folder (not timed). The
machine is shared, so CPU seconds (user + system of the child) are printed beside wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chainlens.paths import shared_data_dir

TARGET_S = 60.0
CLI = [str(Path(sys.executable).with_name("chainlens"))]


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one subprocess, and its stdout."""
    c0, t0 = _child_cpu(), time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, _child_cpu() - c0, out


def build_demo(root: Path) -> None:
    subprocess.run(
        [*CLI, "demo", "--store", str(root), "--run-sessions", "1", "--json"],
        check=True, capture_output=True,
    )  # fmt: skip


def build_spx(root: Path) -> None:
    src = shared_data_dir() / "spx_daily_barchart"
    files = sorted(str(p) for p in src.glob("SPX_*.json"))
    # two holiday files are refused (exit 2): expected, the other 69 are stored
    subprocess.run([*CLI, "ingest", *files, "--store", str(root), "--json"], capture_output=True)


def measure(label: str, root: Path) -> None:
    wall, cpu, out = timed([*CLI, "outcomes", "--store", str(root), "--json"])
    rows = json.loads(out)
    sessions = json.loads(
        subprocess.run(
            [*CLI, "sessions", "--store", str(root), "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    n_u = len({r["underlying"] for r in sessions})
    n_s = len({r["session"] for r in sessions})
    events = sum(r["n"] for r in rows)
    ok = "OK" if wall < TARGET_S else "OVER"
    print(
        f"{label:<12} {n_u:>3} underlyings x {n_s:>3} sessions: {len(rows):>4} rule rows, "
        f"{events:>6} events  wall {wall:6.1f} s  cpu {cpu:6.1f} s  "
        f"(target < {TARGET_S:.0f} s wall: {ok})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-store", type=Path)
    ap.add_argument("--spx-store", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_outcomes_") as tmp:
        demo = args.demo_store
        if demo is None:
            demo = Path(tmp) / "demo"
            print("building the demo store (not timed) ...", flush=True)
            build_demo(demo)
        spx = args.spx_store
        if spx is None:
            if not (shared_data_dir() / "spx_daily_barchart").is_dir():
                print("spx_daily_barchart absent: SPX line skipped")
            else:
                spx = Path(tmp) / "spx"
                print("ingesting the SPX history (not timed) ...", flush=True)
                build_spx(spx)
        measure("demo", demo)
        if spx is not None:
            measure("SPX history", spx)


if __name__ == "__main__":
    main()
