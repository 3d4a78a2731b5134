"""Throughput of the exposure kernels and of ``chainlens analyze`` (issue 3 speed table).

Run: ``.venv/bin/python benchmarks/bench_exposure.py``. Prints each figure beside its target.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from chainlens.exposure import gamma_profile, max_pain, profile_terms, spot_grid
from chainlens.paths import shared_data_dir


def best_of(fn, n: int = 5) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_profile() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    K = rng.uniform(3000, 5000, n)
    t = rng.uniform(1 / 365, 2.0, n)
    sigma = rng.uniform(0.1, 0.6, n)
    q = np.zeros(n)
    w = rng.normal(0, 1000, n) * 100
    terms = profile_terms(K, t, 0.05, q, sigma, w)
    levels = spot_grid(4000.0, 0.25, 0.0025)[:200]
    gamma_profile(terms, levels, engine="numba")  # compile / load cache
    for engine in ("numba", "numpy"):
        s = best_of(lambda e=engine: gamma_profile(terms, levels, engine=e))
        print(
            f"profile 100k x 200 [{engine:5s}]: {s * 1e3:7.1f} ms  (target <= 60 ms)"
            f"  {n * 200 / s / 1e6:6.0f}M contract-levels/s"
        )


def bench_max_pain() -> None:
    rng = np.random.default_rng(1)
    n = 1_500_000
    groups = rng.integers(0, 3000, n)  # e.g. 100 underlyings x 30 expiries
    strike = np.round(rng.uniform(10, 600, n))
    is_call = rng.random(n) < 0.5
    oi = rng.integers(0, 5000, n).astype(float)
    s = best_of(lambda: max_pain(groups, strike, is_call, oi, 3000), 3)
    print(
        f"max pain 1.5M contracts, 3000 groups: {s:6.3f} s  (target <= 0.3 s)"
        f"  {n / s / 1e6:5.1f}M contracts/s"
    )


def bench_gex_vs_pandas_apply() -> None:
    """Vectorized per-contract GEX + strike group-by vs a hobby-style row-wise ``df.apply``."""
    import pandas as pd

    from chainlens.exposure import contract_exposures, dealer_contracts, group_by, group_sum

    rng = np.random.default_rng(2)
    n = 200_000
    df = pd.DataFrame(
        {
            "strike": np.round(rng.uniform(3000, 5000, n) / 5) * 5,
            "is_call": rng.random(n) < 0.5,
            "gamma": rng.uniform(0, 0.01, n),
            "oi": rng.integers(0, 5000, n).astype(float),
        }
    )
    spot = 4000.0
    small = df.iloc[:20_000]
    t0 = time.perf_counter()
    g = small.apply(
        lambda r: (1 if r["is_call"] else -1) * r["gamma"] * r["oi"] * 100 * spot**2 * 0.01, axis=1
    )
    small.assign(g=g).groupby("strike")["g"].sum()
    per_row_apply = (time.perf_counter() - t0) / len(small)

    k, c, gm, oi = (df[x].to_numpy() for x in ("strike", "is_call", "gamma", "oi"))

    def vec() -> None:
        e = contract_exposures(dealer_contracts(c, oi, "classic"), np.full(n, 100.0), spot, gm, gm)
        group_sum(group_by(k), e.gex_usd_per_1pct)

    per_row_vec = best_of(vec) / n
    print(
        f"GEX + by-strike: vectorized {1 / per_row_vec / 1e6:6.1f}M contracts/s vs pandas apply "
        f"{1 / per_row_apply / 1e3:6.1f}k contracts/s  -> {per_row_apply / per_row_vec:,.0f}x "
        "(target >= 1,000x)"
    )


def bench_cli() -> None:
    f = shared_data_dir() / "cboe_quotedata/SPX/SPX_2023-04-10_2051ET__ayour.csv"
    if not f.is_file():
        print("analyze end-to-end: skipped (real SPX file absent)")
        return
    exe = Path(sys.executable).with_name("chainlens")
    cmd = [str(exe), "analyze", str(f), "--json"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the numba cache and page cache
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(
        f"chainlens analyze SPX 2023-04-10 (18k contracts), process start to JSON: "
        f"best {min(times):.2f} s, median {sorted(times)[1]:.2f} s  (target <= 1.5 s)"
    )


if __name__ == "__main__":
    import os

    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (figures scale with it)"
    )
    bench_profile()
    bench_max_pain()
    bench_gex_vs_pandas_apply()
    bench_cli()
