"""Throughput of the vectorized OSI and calendar kernels on adapter-sized columns.

Run: ``.venv/bin/python benchmarks/bench_symbols.py`` (prints rows/s; well under a minute).
Timings are the best of three runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from chainlens import calendar as cal
from chainlens.symbols import format_osi_array, parse_osi_array


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench(n: int, rng: np.random.Generator) -> None:
    roots = pa.array(rng.choice(["SPX", "SPXW", "QQQ", "AAPL1", "NDXP"], n))
    sessions = cal.sessions_in_range("2023-01-01", "2025-12-31")
    expiry = pa.array(rng.choice(sessions, n).astype("datetime64[D]"), pa.date32())
    right = pa.array(rng.choice(["C", "P"], n))
    strike = rng.integers(1, 1_000_000, n) * 5 / 1000
    syms = format_osi_array(roots, expiry, right, strike)
    settle = cal.settlement_of_root(roots)
    session = np.datetime64("2023-01-03")
    ts = np.datetime64("2023-01-03T14:30", "ns") + rng.integers(0, 10**15, n).astype(
        "timedelta64[ns]"
    )
    timings = [
        ("parse_osi_array", _best(lambda: parse_osi_array(syms))),
        ("format_osi_array", _best(lambda: format_osi_array(roots, expiry, right, strike))),
        ("settlement_of_root", _best(lambda: cal.settlement_of_root(roots))),
        ("settlement_instants", _best(lambda: cal.settlement_instants(expiry, settle))),
        ("expiry_class", _best(lambda: cal.expiry_class(expiry, session, roots))),
        ("sessions_of_snapshots", _best(lambda: cal.sessions_of_snapshots(ts))),
    ]
    print(f"n = {n:,}")
    for name, t in timings:
        print(f"  {name:<22} {t * 1e3:8.1f} ms  {n / t / 1e6:6.2f} M rows/s")


def main() -> None:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    cal.is_session(np.datetime64("2023-01-03"))
    print(f"calendar build (first use): {(time.perf_counter() - t0) * 1e3:.0f} ms")
    for n in (20_000, 1_500_000):
        bench(n, rng)


if __name__ == "__main__":
    main()
