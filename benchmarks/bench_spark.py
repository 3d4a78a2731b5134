"""Benchmark: the Spark runner on ``local[2]`` against the local runner, in one run.

    python benchmarks/bench_spark.py                        # 500 underlyings, 5-session backfill
    python benchmarks/bench_spark.py --underlyings 100 --backfill 3     # quick

Simulates a market (``chainlens.sim``, 6 sessions by default), ingests it into a temporary
store and copies it, then times on the same inputs:

1. the local runner (:func:`chainlens.runners.local.run_local`) on the last session;
2. the Spark runner (``local[2]``, UI off) on the same session, in a Spark session already
   started (the start-up is printed apart) and warmed by the backfill of step 3 run first:
   the JIT-compiled kernels of the Python workers are compiled once per worker;
3. a backfill of the last ``--backfill`` sessions with the Spark runner (one Spark job).

Prints both times, their ratio, rows per second, and the results' equality (row counts per
part). docs/spark.md turns these figures into a year of the whole market on 16 and 64 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chainlens.runners.local import run_local
from chainlens.runners.spark import SparkOptions, run_spark, spark_session
from chainlens.sim import SimConfig, simulate_market
from chainlens.store import Store


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--underlyings", type=int, default=500)
    ap.add_argument("--backfill", type=int, default=5)
    ap.add_argument("--trades", type=int, default=3000, help="trades per underlying")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--workers", type=int, default=None, help="local runner workers (auto)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the stores here")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-")) if a.keep is None else a.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        cfg = SimConfig(
            underlyings=a.underlyings, sessions=a.backfill + 1, seed=7,
            trades_per_underlying=a.trades, scenarios=False,
        )  # fmt: skip
        m = simulate_market(cfg, tmp / "sim")
        with Store(tmp / "local") as st:
            st.ingest_many(m.all_paths())
            days = st.session_dates()[-a.backfill :]
            contracts = int(sum(st.sessions().column("contracts").to_pylist()))
        shutil.rmtree(tmp / "sim")
        shutil.copytree(tmp / "local", tmp / "spark")
        print(f"market: {a.underlyings} underlyings x {len(m.sessions)} sessions, "
              f"{contracts:,} chain rows, {m.n_trades:,} trades; built in "
              f"{time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
        d = days[-1]
        t = time.perf_counter()
        with Store(tmp / "local") as st:
            loc = run_local(st, d, workers=a.workers)
        t_local = time.perf_counter() - t
        print(f"local runner, {d}: {t_local:.1f} s ({loc['workers']} workers, "
              f"{loc['underlyings']} underlyings)", flush=True)  # fmt: skip

        t = time.perf_counter()
        spark = spark_session(a.master, {"spark.sql.shuffle.partitions": "8"})
        t_start = time.perf_counter() - t
        cores = spark.sparkContext.defaultParallelism
        print(f"spark session ({a.master}, {cores} cores): started in {t_start:.1f} s", flush=True)
        t = time.perf_counter()
        with Store(tmp / "spark") as st:
            back = run_spark(st, days, spark=spark, options=SparkOptions())
        t_back = time.perf_counter() - t
        print(f"spark backfill of {len(days)} sessions (one job, first use of the workers): "
              f"{t_back:.1f} s = {t_back / len(days):.1f} s/session; groups per session "
              f"{[b['groups'] for b in back]}", flush=True)  # fmt: skip
        t = time.perf_counter()
        with Store(tmp / "spark") as st:
            one = run_spark(st, [d], spark=spark)[0]
        t_spark = time.perf_counter() - t
        print(f"spark runner, {d} (warm workers): {t_spark:.1f} s, {one['groups']} groups, "
              f"outsized {len(one['outsized'])}, largest group {one.get('max_group_input_rows')} "
              f"input rows, Python worker peak RSS {one.get('worker_peak_rss_mb')} MB")  # fmt: skip
        same = one["parts"] == loc["parts"] and one["underlyings"] == loc["underlyings"]
        print(f"ratio spark/local: {t_spark / t_local:.2f} (same parts and row counts: {same})")
        rate = a.underlyings / t_spark
        print(f"spark: {rate:.1f} underlyings/s on {cores} cores = "
              f"{rate / cores:.2f} underlyings/s/core (warm); backfill "
              f"{a.underlyings * len(days) / t_back / cores:.2f} underlyings/s/core")  # fmt: skip
        spark.stop()
        return 0 if same else 1
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sys.exit(main())
