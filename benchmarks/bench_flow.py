"""Benchmark: classify + aggregate N synthetic trades by ticker/expiry/strike/side/right.

Target (issue 5): 20M trades <= 2 s. Run: ``.venv/bin/python benchmarks/bench_flow.py [N]``.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import polars as pl

from chainlens.flow import quote_rule


def main(n: int = 20_000_000) -> None:
    rng = np.random.default_rng(7)
    tick = rng.integers(0, 500, n).astype(np.int32)
    expiry = rng.integers(0, 20, n).astype(np.int16)
    strike = rng.integers(0, 200, n).astype(np.int16)
    right = rng.integers(0, 2, n).astype(np.int8)
    bid = rng.uniform(0.05, 20, n)
    ask = bid + rng.uniform(0.01, 0.5, n)
    price = bid + (ask - bid) * rng.uniform(-0.1, 1.1, n)
    size = rng.integers(1, 50, n).astype(np.int32)
    t0 = time.perf_counter()
    side = quote_rule(price, bid, ask)
    t1 = time.perf_counter()
    prem = price * size * 100.0
    df = pl.DataFrame({"u": tick, "e": expiry, "k": strike, "r": right, "s": side, "p": prem})
    agg = df.group_by(["u", "e", "k", "r", "s"]).agg(pl.col("p").sum(), pl.len())
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"trades: {n:,}  groups: {agg.height:,}")
    print(f"classify {t1 - t0:.2f} s  aggregate {t2 - t1:.2f} s  total {t2 - t0:.2f} s "
          f"({n / (t2 - t0) / 1e6:.1f} M trades/s; target 20M <= 2 s)")  # fmt: skip
    print(f"peak RSS {rss:.2f} GB (target <= 6 GB)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000)
