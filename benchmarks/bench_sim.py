"""Benchmark: one simulated session of the whole market.

    python benchmarks/bench_sim.py            # 5,000 underlyings (target: ~1.5M contracts,
                                              # ~20M trades, <= 60 s, peak RSS < 6 GB)
    python benchmarks/bench_sim.py --quick    # 500 underlyings

Prints contracts/s, trades/s and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chainlens.sim import SimConfig, simulate_market


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="500 underlyings instead of 5,000")
    ap.add_argument("--underlyings", type=int, default=None)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the files")
    a = ap.parse_args(argv)
    n = a.underlyings or (500 if a.quick else 5000)
    out = a.keep or Path(tempfile.mkdtemp(prefix="bench_sim_"))
    cfg = SimConfig(underlyings=n, sessions=a.sessions, seed=1)
    t0 = time.perf_counter()
    m = simulate_market(cfg, out)
    dt = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    size_mb = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
    print(f"underlyings={n} sessions={a.sessions} elapsed={dt:.1f}s")
    print(f"contracts={m.n_contracts:,} ({m.n_contracts / dt:,.0f}/s)")
    print(f"trades={m.n_trades:,} ({m.n_trades / dt:,.0f}/s)")
    print(f"prints={m.n_prints:,}  parquet={size_mb:,.0f} MB  peak_rss={rss_gb:.2f} GB")
    print(
        f"target (5,000 underlyings, 1 session): <= 60 s, < 6 GB -> {'OK' if dt <= 60 and rss_gb < 6 else 'MISSED'}"
    )
    if a.keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
