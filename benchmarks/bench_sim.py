"""Benchmark: one simulated session of the whole market.

    python benchmarks/bench_sim.py            # 5,000 underlyings (target: ~1.5M contracts,
                                              # ~20M trades, <= 60 s, peak RSS < 6 GB)
    python benchmarks/bench_sim.py --quick    # 500 underlyings
    python benchmarks/bench_sim.py --profile 25   # and the 25 hottest functions (cProfile)

Prints contracts/s, trades/s, the peak RSS of the process, wall time and CPU time (user +
system of the process and its children, ``os.times()``), and the load average before and
after: on a shared machine the wall time depends on the load, the CPU time much less (the
generator runs two chunks at a time on threads, so CPU time can exceed wall time).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chainlens.sim import SimConfig, simulate_market


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="500 underlyings instead of 5,000")
    ap.add_argument("--underlyings", type=int, default=None)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the files")
    ap.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N hottest functions"
    )
    a = ap.parse_args(argv)
    n = a.underlyings or (500 if a.quick else 5000)
    out = a.keep or Path(tempfile.mkdtemp(prefix="bench_sim_"))
    cfg = SimConfig(underlyings=n, sessions=a.sessions, seed=1)
    load0 = os.getloadavg()
    c0 = os.times()
    t0 = time.perf_counter()
    prof = cProfile.Profile() if a.profile else None
    profs: list[cProfile.Profile] = []
    if prof is not None:  # chunks run on worker threads: profile each chunk call there too
        from chainlens.sim import _market

        orig = _market._Market.chunk

        def chunk(self: Any, *args: Any, **kw: Any) -> Any:
            p = cProfile.Profile()
            p.enable()
            try:
                return orig(self, *args, **kw)
            finally:
                p.disable()
                profs.append(p)

        setattr(_market._Market, "chunk", chunk)  # noqa: B010 (patched for the profile)
        prof.enable()
    m = simulate_market(cfg, out)
    if prof is not None:
        prof.disable()
    dt = time.perf_counter() - t0
    c1 = os.times()
    cpu = sum(getattr(c1, f) - getattr(c0, f) for f in ("user", "system"))
    cpu_children = sum(
        getattr(c1, f) - getattr(c0, f) for f in ("children_user", "children_system")
    )
    load1 = os.getloadavg()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    size_mb = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
    print(f"underlyings={n} sessions={a.sessions} elapsed={dt:.1f}s")
    print(
        f"cpu={cpu + cpu_children:.1f}s (process {cpu:.1f}s, children {cpu_children:.1f}s; "
        f"cpu/wall {(cpu + cpu_children) / dt:.2f}) cores={os.cpu_count()}"
    )
    print(
        "load average before "
        + "/".join(f"{x:.1f}" for x in load0)
        + ", after "
        + "/".join(f"{x:.1f}" for x in load1)
        + " (1/5/15 min)"
    )
    print(f"contracts={m.n_contracts:,} ({m.n_contracts / dt:,.0f}/s)")
    print(f"trades={m.n_trades:,} ({m.n_trades / dt:,.0f}/s)")
    print(f"prints={m.n_prints:,}  parquet={size_mb:,.0f} MB  peak_rss={rss_gb:.2f} GB")
    if n >= 5000 and a.sessions == 1:
        ok = "OK" if dt <= 60 and rss_gb < 6 else "MISSED"
        ok_cpu = "OK" if cpu + cpu_children <= 60 and rss_gb < 6 else "MISSED"
        print(
            f"target (5,000 underlyings, 1 session): <= 60 s, < 6 GB -> wall {ok}, "
            f"CPU time {ok_cpu} (on a loaded machine judge by CPU time)"
        )
    else:
        print("target: set for 5,000 underlyings and 1 session (run without --quick)")
    if prof is not None:
        st = pstats.Stats(prof)
        for p in profs:
            st.add(p)
        st.sort_stats("tottime").print_stats(a.profile)
    if a.keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
