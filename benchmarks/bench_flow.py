"""Benchmark: classify + aggregate N synthetic trades by ticker/expiry/strike/side/right.

Target (issue 5): 20M trades <= 2 s on 2 cores, peak memory <= 6 GB. Run:
``.venv/bin/python benchmarks/bench_flow.py [N]``.

Contract keys are integer dictionary indices (what :func:`chainlens.flow.dict_codes` gives for
string columns, or a dictionary-encoded Parquet column directly); the side comes from the
compiled quote rule (:func:`chainlens.flow.quote_rule`) and the group-by is
:func:`chainlens.flow.group_sum` (compiled radix-partitioned group-by over the dense mixed-radix
key space). Wall and CPU times are both printed: the machine is shared, so CPU time is the
steadier figure. Every compiled kernel of the timed region is called once beforehand, and the
cost of those cold first calls (Numba cache load) is printed on its own line.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from chainlens.flow import group_sum, quote_rule
from chainlens.flow._aggregate import COMPILED_MIN_ROWS
from chainlens.flow._side import COMPILED_MIN_TRADES


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
    # cold first calls, in this fresh process, on a small slice with the dtypes of the timed
    # calls: Numba loads each kernel from its on-disk cache (compiles it if there is none) and
    # starts its thread pool. A per-process start-up cost like the imports, kept out of the
    # timed region below but printed.
    m = max(COMPILED_MIN_ROWS, COMPILED_MIN_TRADES)  # long enough for the compiled paths
    cold = []
    for warm_up in (
        lambda: quote_rule(price[:m], bid[:m], ask[:m]),
        lambda: group_sum(
            [tick[:m], expiry[:m], strike[:m], right[:m], right[:m]],  # int8 like side_code
            [500, 20, 200, 2, 4],
            {"premium_usd": price[:m]},
        ),
    ):
        wc, cc = time.perf_counter(), time.process_time()
        warm_up()
        cold.append((time.perf_counter() - wc, time.process_time() - cc))
    w0, c0 = time.perf_counter(), time.process_time()
    side = quote_rule(price, bid, ask)
    w1, c1 = time.perf_counter(), time.process_time()
    prem = price * size * 100.0
    side_code = np.where(side == 2, 3, side + 1).astype(np.int8)  # sell 0, mid 1, buy 2, unk 3
    keys, counts, sums = group_sum(
        [tick, expiry, strike, right, side_code], [500, 20, 200, 2, 4], {"premium_usd": prem}
    )
    w2, c2 = time.perf_counter(), time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    assert counts.sum() == n and abs(sums["premium_usd"].sum() - prem.sum()) < 1e-6 * prem.sum()
    print(f"trades: {n:,}  groups: {len(counts):,}")
    print(f"classify {w1 - w0:.2f} s  aggregate {w2 - w1:.2f} s  total {w2 - w0:.2f} s wall "
          f"({n / (w2 - w0) / 1e6:.1f} M trades/s; target 20M <= 2 s)")  # fmt: skip
    print(f"CPU time: classify {c1 - c0:.2f} s  aggregate {c2 - c1:.2f} s  total {c2 - c0:.2f} s")
    (wq, cq), (wg, cg) = cold
    print(f"cold first call (fresh process, Numba cache load): quote_rule {wq:.2f} s "
          f"(CPU {cq:.2f} s)  group_sum {wg:.2f} s (CPU {cg:.2f} s)")  # fmt: skip
    print(f"peak RSS {rss:.2f} GB (target <= 6 GB)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000)
