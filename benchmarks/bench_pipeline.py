"""Benchmark: the daily pipeline (``chainlens run``) over a simulated market.

    python benchmarks/bench_pipeline.py                  # quick: 150 underlyings, 2 sessions
    python benchmarks/bench_pipeline.py --demo           # the demo market (target run <= 20 s)
    python benchmarks/bench_pipeline.py --underlyings 5000 --workers 2   # the whole market
                                                         # (goal <= 30 s, <= 8 GB)

Simulates (``chainlens.sim``), ingests into a temporary store, then times
:func:`chainlens.runners.local.run_local` for the last session (the part the goal is about),
and prints underlyings/s, the extrapolated time for 5,000 underlyings and the peak RSS of
this process and of its worker processes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from chainlens.runners.local import run_local
from chainlens.sim import SimConfig, build_demo_market, simulate_market
from chainlens.store import Store


def _rss_gb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024**2  # KiB on Linux


def _status(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return {}


def _cpu_s(pid: str) -> float:
    """utime + stime of a process, seconds (``/proc/<pid>/stat`` fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class _WorkerPeak(threading.Thread):
    """Polls the RSS and CPU time of this process's pool workers (children of its forkserver
    child): RUSAGE_CHILDREN does not see them. CPU is the last value seen per worker."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0
        self.cpu: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self.stop.wait(0.5):
            st = {p: _status(p) for p in os.listdir("/proc") if p.isdigit()}
            kids = {p for p, s in st.items() if s.get("PPid", "").strip() == me}
            for p, s in st.items():
                if s.get("PPid", "").strip() in kids and "VmRSS" in s:
                    self.peak_kb = max(self.peak_kb, int(s["VmRSS"].split()[0]))
                    self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_s(p))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--underlyings", type=int, default=150)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument(
        "--workers", type=int, default=None, help="default: auto (in-process below 200)"
    )
    ap.add_argument("--demo", action="store_true", help="the 30-underlying demo market instead")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        t0 = time.perf_counter()
        if a.demo:
            m = build_demo_market(tmp / "sim")
        else:
            cfg = SimConfig(underlyings=a.underlyings, sessions=a.sessions, seed=1, scenarios=False)
            m = simulate_market(cfg, tmp / "sim")
        t_sim = time.perf_counter() - t0
        t0 = time.perf_counter()
        with Store(tmp / "store") as st:
            st.ingest_many(m.all_paths())
            t_ing = time.perf_counter() - t0
            shutil.rmtree(tmp / "sim", ignore_errors=True)
            d = m.sessions[-1]
            rss0 = _rss_gb(resource.RUSAGE_SELF)
            peak = _WorkerPeak()
            peak.start()
            t0, c0 = time.perf_counter(), time.process_time()
            out = run_local(st, d, workers=a.workers)
            t_run, c_run = time.perf_counter() - t0, time.process_time() - c0
            peak.stop.set()
            peak.join()
        n = out["underlyings"]
        load = os.getloadavg()[0]
        print(f"market: {len(m.underlyings)} underlyings x {len(m.sessions)} sessions, {m.n_contracts:,} contracts, "
              f"{m.n_trades:,} trades (simulate {t_sim:.1f} s, ingest {t_ing:.1f} s)")  # fmt: skip
        print(f"run {d}: {n} underlyings in {t_run:.1f} s with {out['workers']} worker(s) "
              f"-> {n / t_run:.1f} underlyings/s; failed {len(out['failed'])}; load average {load:.1f}")  # fmt: skip
        c_workers = sum(peak.cpu.values())
        print(f"CPU: parent {c_run:.1f} s + workers {c_workers:.1f} s (sampled every 0.5 s) "
              f"= {(c_run + c_workers) / max(n, 1) * 1000:.0f} ms per underlying")  # fmt: skip
        print(f"extrapolated 5,000 underlyings: {5000 / (n / t_run):.0f} s (goal <= 30 s)")
        print(f"peak RSS: parent {_rss_gb(resource.RUSAGE_SELF):.2f} GB (before run {rss0:.2f} GB), "
              f"largest worker {peak.peak_kb / 1024**2:.2f} GB x {out['workers']} (goal <= 8 GB in all)")  # fmt: skip
        if a.demo:
            print(
                f"demo market run: {t_run:.1f} s (target <= 20 s) -> {'OK' if t_run <= 20 else 'MISSED'}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
