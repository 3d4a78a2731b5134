"""Benchmark: the local runner's blocks (wall time and peak RSS of every pool worker).

    python benchmarks/bench_runner_blocks.py --store COPY_OF_A_STORE [--workers 2]
        [--dump DIR]   # also write every stored results part of the session to DIR

Runs :func:`chainlens.runners.local.run_local` once on the last session of ``--store`` (a
*copy*: the run writes its results there) and prints the wall time, the parent's peak RSS and
the peak RSS of every pool worker (``VmHWM`` of each process under the parent, polled from
``/proc`` every 50 ms: the kernel's high-water mark, so a poll missed at the end loses nothing
but a worker that exits between two polls).

**The stored scanner parts are left out here**: ``chainlens.scan._stored.scan_parts`` is
replaced by a function returning ``{}`` in this script only (never in the product), so the
figures are those of the runner's reading, kernel and writing, not of the scanners (which
another change batches). Say so when quoting them. ``--dump`` lets two runs (before and after
a runner change) be compared part by part.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_pipeline import _cpu_s, _status  # run from benchmarks/: /proc readers shared


class _Peaks(threading.Thread):
    """``VmHWM`` (peak RSS, KiB) and CPU seconds (last seen) of every descendant process of
    this one, by pid."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb: dict[str, int] = {}
        self.cpu: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self.stop.wait(0.05):
            st = {p: _status(p) for p in os.listdir("/proc") if p.isdigit()}
            parent = {p: s.get("PPid", "").strip() for p, s in st.items()}
            for p, s in st.items():
                q, hops = parent.get(p), 0
                while q and q != me and q != "0" and hops < 4:  # a descendant of this process
                    q, hops = parent.get(q), hops + 1
                if q == me and "VmHWM" in s:
                    self.peak_kb[p] = max(self.peak_kb.get(p, 0), int(s["VmHWM"].split()[0]))
                    self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_s(p))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dump", type=Path, default=None)
    ap.add_argument("--block-rows", type=int, default=None, help="override BLOCK_ROWS")
    ap.add_argument("--chunk-rows", type=int, default=None, help="override CHUNK_ROWS")
    a = ap.parse_args(argv)

    import pyarrow.parquet as pq

    import chainlens.scan._stored as stored
    from chainlens.results import RESULTS_NAME
    from chainlens.runners.local import run_local
    from chainlens.store import Store

    def no_scan(store: Any, session: Any, settings: Any = None) -> dict[str, Any]:
        return {}

    stored.scan_parts = no_scan  # benchmark only: the stored scanner parts left out
    import chainlens.runners.local as local

    if a.block_rows is not None:
        local.BLOCK_ROWS = a.block_rows
    if a.chunk_rows is not None:
        local.CHUNK_ROWS = a.chunk_rows

    with Store(a.store, create=False) as st:
        d = st.session_dates()[-1]
        peaks = _Peaks()
        peaks.start()
        t0, c0 = time.perf_counter(), time.process_time()
        out: dict[str, Any] = run_local(st, d, workers=a.workers)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        time.sleep(0.2)
        peaks.stop.set()
        peaks.join()
        if a.dump is not None:
            a.dump.mkdir(parents=True, exist_ok=True)
            for part in out["parts"]:
                pq.write_table(
                    st.read_results(RESULTS_NAME, d, part=part), a.dump / f"{part}.parquet"
                )
    parent_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    workers = sorted((v / 1024**2 for v in peaks.peak_kb.values()), reverse=True)
    print(
        f"{out['underlyings']} underlyings, session {d}, {out['workers']} worker(s): "
        f"{wall:.1f} s wall, CPU parent {cpu:.1f} s + under it "
        f"{sum(peaks.cpu.values()):.1f} s, failed {len(out['failed'])}; "
        f"load {os.getloadavg()[0]:.2f} (scan_parts stubbed out); "
        f"BLOCK_ROWS {getattr(local, 'BLOCK_ROWS', '-')}, CHUNK_ROWS {getattr(local, 'CHUNK_ROWS', '-')}"
    )
    print(
        f"   peak RSS: parent {parent_gb:.2f} GB; processes under it "
        f"[{', '.join(f'{x:.2f}' for x in workers)}] GB"
    )
    print(f"   parts: {out['parts']}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
