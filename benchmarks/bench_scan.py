"""Benchmark: the stored scanner parts of ``chainlens run`` (:func:`chainlens.scan.scan_parts`)
and the four ``chainlens scan`` kinds over a simulated market (issue 13).

    python benchmarks/bench_scan.py --store /tmp/copy/store             # an existing store
    python benchmarks/bench_scan.py --underlyings 500                   # simulated, cached
    python benchmarks/bench_scan.py --store S --reference               # + the per-underlying path
    python benchmarks/bench_scan.py --store S --kinds unusual,netdelta  # store_scan per kind
    python benchmarks/bench_scan.py --store COPY --prime                # a daily run's scan_parts
    python benchmarks/bench_scan.py --store COPY --run-local            # + run_local, 1 worker
    python benchmarks/bench_scan.py --store S --blocks 500 --no-before  # the run's split

``--blocks N`` times what ``chainlens run`` does with the net-delta scanner now: the parent's
share (:func:`~chainlens.scan._stored.netdelta_run_task`, catalog only, and ``scan_parts``
without the net-delta parts) and, on a contiguous sample of N underlyings (one block), the
pool task's added work (:func:`~chainlens.scan._store_scans.netdelta_block` with the
session's trades already in memory, as a task holds them): CPU ms per underlying.
``--no-before`` skips the whole-session ``scan_parts`` (the parent's former share).

The store is opened read-only (nothing is written into it) unless ``--prime`` or
``--run-local`` is given: use a copy then. ``--prime`` first stores the
``scan_netdelta_daily`` part of every earlier session (what their ``chainlens run`` wrote),
so that the timed ``scan_parts`` is that of a daily run (it reads the session's trades
only); ``--run-local`` also times :func:`chainlens.runners.local.run_local` of the session
(one worker), the whole ``chainlens run``. A simulated market is generated
and ingested once into ``--cache`` (the layout of ``bench_pipeline.py``). For the store's last
session it times :func:`~chainlens.scan.scan_parts` (batched across underlyings), optionally
the same parts from the one-call-per-underlying reference
(:func:`chainlens.scan._store_scans.store_scan_per_underlying`), and ``store_scan`` per kind:
wall and CPU seconds, names/s, chain rows/s (contracts x sessions of the window read) and
trades/s (the session's trades), peak RSS, and the load average before and after (the
machine is shared). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from chainlens.scan import ScanSettings, store_scan
from chainlens.scan._store_scans import store_scan_per_underlying
from chainlens.scan._stored import _TINY, SCAN_PARTS, scan_parts
from chainlens.store import Store


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _market(a: argparse.Namespace) -> Path:
    if a.store:
        return Path(a.store)
    from chainlens.sim import SimConfig, simulate_market

    base = Path(a.cache) / f"u{a.underlyings}-s{a.sessions}-seed{a.seed}"
    if not (base / "READY").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        cfg = SimConfig(underlyings=a.underlyings, sessions=a.sessions, seed=a.seed,
                        scenarios=False)  # fmt: skip
        m = simulate_market(cfg, base / "sim")
        with Store(base / "store") as st:
            st.ingest_many(m.all_paths())
        shutil.rmtree(base / "sim", ignore_errors=True)
        (base / "READY").write_text(f"{m.n_contracts} contracts, {m.n_trades} trades\n")
    return base / "store"


def _timed(fn: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _say(label: str, wall: float, cpu: float, names: int, chain_rows: int, trades: int) -> None:
    print(
        f"{label:<34} {wall:7.2f} s wall {cpu:7.2f} s CPU  {names / wall:8.0f} names/s  "
        f"{chain_rows / wall / 1e6:6.2f} M chain rows/s  {trades / wall / 1e6:6.2f} M trades/s  "
        f"peak RSS {_rss_gb():.2f} GB  load {_load()}"
    )


def _reference_parts(st: Store, d: dt.date) -> dict[str, int]:
    """Row counts of the parts from the per-underlying reference (as scan_parts builds them)."""
    every = ScanSettings(unusual_min_multiple=_TINY, unusual_min_sessions=1)
    return {
        part: store_scan_per_underlying(
            st, kind, d, settings=every if kind == "unusual" else ScanSettings()
        ).num_rows
        for part, kind in SCAN_PARTS.items()
    }


def _run_split(
    st: Store, d: dt.date, names: list[str], n: int, chain_rows: int, trades: int
) -> None:
    """The parent's and one pool task's share of the net-delta scanner in ``chainlens run``."""
    from chainlens.scan._store_scans import netdelta_block
    from chainlens.scan._stored import netdelta_run_task

    task, wall, cpu = _timed(lambda: netdelta_run_task(st, d, names))
    assert task is not None
    _say(f"netdelta_run_task ({len(task.stored)} stored daily parts)", wall, cpu, len(names),
         chain_rows, trades)  # fmt: skip
    parts, wall, cpu = _timed(lambda: scan_parts(st, d, netdelta=False))
    _say(f"scan_parts without net delta {sorted(parts)}", wall, cpu, len(names), chain_rows,
         trades)  # fmt: skip
    a = max(0, (len(names) - n) // 2)
    sample = names[a : a + n]
    today = st.trades_block(sample, d)  # what the task's windows hold already (not timed)
    mine = task.restrict(sample)
    (rows, daily), wall, cpu = _timed(lambda: netdelta_block(mine, sample, today))
    print(f"netdelta_block of {len(sample)} names ({today.num_rows:,} trades today, "
          f"{len(mine.files.trade_files) - 1} past sessions read): {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU = {1e3 * cpu / len(sample):.2f} ms CPU per underlying; "
          f"{rows.num_rows} rows, {daily.num_rows} daily rows; load {_load()}")  # fmt: skip
    # steady state: every earlier session's daily part stored (here: built in memory first)
    import dataclasses

    past = [x for x in mine.files.trade_files if x < d]
    stored = dict(mine.stored)
    for x in past:  # a loop over sessions
        stored[x] = netdelta_block(dataclasses.replace(mine, session=x), sample)[1]
    primed = dataclasses.replace(mine, stored=stored)
    _, wall, cpu = _timed(lambda: netdelta_block(primed, sample, today))
    print(f"netdelta_block of {len(sample)} names, earlier sessions' parts stored: {wall:.2f} s "
          f"wall, {cpu:.2f} s CPU = {1e3 * cpu / len(sample):.2f} ms CPU per underlying")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="an existing store (opened read-only)")
    ap.add_argument("--underlyings", type=int, default=500)
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/chainlens-bench")
    ap.add_argument("--reference", action="store_true", help="also time the per-underlying path")
    ap.add_argument("--kinds", default="", help="comma-separated store_scan kinds to time")
    ap.add_argument("--prime", action="store_true", help="store earlier sessions' daily parts")
    ap.add_argument("--run-local", action="store_true", help="also time run_local (writes)")
    ap.add_argument("--blocks", type=int, default=0, help="time the run's split, N-name sample")
    ap.add_argument("--no-before", action="store_true", help="skip the whole scan_parts")
    a = ap.parse_args()
    root = _market(a)
    if a.prime:
        from chainlens.results import RESULTS_NAME
        from chainlens.scan._store_scans import DAILY_PART

        with Store(root) as st:
            for d in st.session_dates()[:-1]:  # a loop over sessions
                part = scan_parts(st, d).get(DAILY_PART)
                if part is not None:
                    st.write_results(RESULTS_NAME, d, {DAILY_PART: part})
        print(f"primed: {DAILY_PART} of every session before the last; load {_load()}")
    with Store(root, read_only=True) as st:
        d = st.session_dates()[-1]
        names = st.underlyings(d)
        first = d - dt.timedelta(days=30)
        window = st.default_snapshots(end=d, start=first)
        chain_rows = sum(window.column("contracts").to_pylist())
        trades = sum(pq.ParquetFile(root / f).metadata.num_rows
                     for f in st.dated_files("trades", d))  # fmt: skip
        print(f"store {root}: session {d}, {len(names)} underlyings, {chain_rows:,} chain rows "
              f"in the net-delta window, {trades:,} trades in the session; load {_load()}")  # fmt: skip
        if not a.no_before:
            parts, wall, cpu = _timed(lambda: scan_parts(st, d))
            rows = {k: v.num_rows for k, v in parts.items()}
            _say(f"scan_parts (batched) {rows}", wall, cpu, len(names), chain_rows, trades)
        if a.blocks:
            _run_split(st, d, names, a.blocks, chain_rows, trades)
        if a.reference:
            ref, wall, cpu = _timed(lambda: _reference_parts(st, d))
            _say(f"scan_parts (per underlying) {ref}", wall, cpu, len(names), chain_rows, trades)
        for kind in [k for k in a.kinds.split(",") if k]:
            t, wall, cpu = _timed(lambda k=kind: store_scan(st, k, d))
            _say(f"store_scan {kind} ({t.num_rows} rows)", wall, cpu, len(names), chain_rows,
                 trades)  # fmt: skip
    if a.run_local:
        from chainlens.runners.local import run_local

        with Store(root) as st:
            summary, wall, cpu = _timed(lambda: run_local(st, d, workers=1))
        _say(f"run_local (1 worker) {summary['underlyings']} names", wall, cpu, len(names),
             chain_rows, trades)  # fmt: skip


if __name__ == "__main__":
    main()
