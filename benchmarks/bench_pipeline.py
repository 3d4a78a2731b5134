"""Benchmark: the daily pipeline (``chainlens run``) over a simulated market.

    python benchmarks/bench_pipeline.py                  # quick: 150 underlyings
    python benchmarks/bench_pipeline.py --demo           # the demo market (target run <= 20 s)
    python benchmarks/bench_pipeline.py --underlyings 5000 --workers 2   # the whole market
                                                         # (goal <= 30 s, <= 8 GB)
    python benchmarks/bench_pipeline.py --underlyings 5000 --scaling 500,1000,2000,5000
    python benchmarks/bench_pipeline.py --underlyings 5000 --workers 2 --steady --reports
                                                         # the daily run: earlier sessions' runs
                                                         # stored their net-delta sums

The market (``chainlens.sim``: 5 sessions of history by default, ~280 contracts and ~3,000
trades per underlying and session, so 5,000 underlyings are ~1.4M contracts and ~20M trades
per session) is simulated and ingested once into ``--cache`` (reused by later runs: 5,000
names take several minutes to generate on a shared 2-core machine). Then, for the last
session:

1. **run**: :func:`chainlens.runners.local.run_local` from the stored Parquet to every result
   table and the market rollup, with ``--workers`` processes: wall time, CPU time of the parent
   and of every worker (``/proc`` sampled), peak RSS of the parent and of every worker;
2. **split**: the same pipeline in-process over ``--sample`` underlyings, CPU time per stage
   (read; chain: exposures, profiles, max pain, expected moves, IV; flow enrichment; OI; flow;
   per-name documents; market rollup) from :data:`chainlens.pipeline.STAGE_CPU`;
3. **baseline**: :func:`chainlens.pipeline.analyze_underlying` one underlying at a time over
   the same windows (the per-underlying reference path);
4. ``--reports``: the daily report and the per-ticker reports of the top 50 names by premium.

The machine is shared: every figure is given as CPU time as well as wall time, with the load
average. Nothing here is asserted; tests never time anything.
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
from typing import Any

from chainlens.runners.local import run_local
from chainlens.sim import SimConfig, build_demo_market, simulate_market
from chainlens.store import Store

CHUNK = 128  # underlyings per analyze_underlyings call (the local runner's CHUNK_MAX)


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
        self.peak_kb: dict[str, int] = {}
        self.cpu: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self.stop.wait(0.25):
            st = {p: _status(p) for p in os.listdir("/proc") if p.isdigit()}
            kids = {p for p, s in st.items() if s.get("PPid", "").strip() == me}
            for p, s in st.items():
                if (p in kids or s.get("PPid", "").strip() in kids) and "VmRSS" in s:
                    kb = int(s["VmRSS"].split()[0])
                    self.peak_kb[p] = max(self.peak_kb.get(p, 0), kb)
                    self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_s(p))


def _market(a: argparse.Namespace) -> tuple[Path, Any]:
    """The store of the benchmark market (cached), and its last session."""
    if a.demo:
        tmp = Path(tempfile.mkdtemp(prefix="bench_pipeline_demo_"))
        m = build_demo_market(tmp / "sim")
        with Store(tmp / "store") as st:
            st.ingest_many(m.all_paths())
        shutil.rmtree(tmp / "sim", ignore_errors=True)
        return tmp / "store", m.sessions[-1]
    key = f"u{a.underlyings}-s{a.sessions}-seed{a.seed}"
    base = Path(a.cache) / key
    if not (base / "READY").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        t0, c0 = time.perf_counter(), time.process_time()
        cfg = SimConfig(
            underlyings=a.underlyings, sessions=a.sessions, seed=a.seed, scenarios=False
        )
        m = simulate_market(cfg, base / "sim")
        t_sim = time.perf_counter() - t0
        with Store(base / "store") as st:
            st.ingest_many(m.all_paths())
        shutil.rmtree(base / "sim", ignore_errors=True)
        (base / "READY").write_text(f"{m.n_contracts} contracts, {m.n_trades} trades\n")
        print(
            f"generated {key}: {m.n_contracts:,} contracts, {m.n_trades:,} trades "
            f"(simulate {t_sim:.0f} s, simulate+ingest {time.perf_counter() - t0:.0f} s wall, "
            f"{time.process_time() - c0:.0f} s CPU) -> {base}"
        )
    with Store(base / "store") as st:
        d = st.session_dates()[-1]
    return base / "store", d


def _steady_copy(root: Path, d: Any) -> Path:
    """A copy of the store ``root`` as the daily runs of the sessions before ``d`` leave it:
    each earlier session's ``scan_netdelta_daily`` part stored (``chainlens run`` stores it,
    and the net-delta scanner of a later session reads it instead of that session's trades).
    The Parquet files are hard links (the store never rewrites a file in place); the catalog is
    copied. The caller removes the copy's parent directory."""
    from chainlens.results import RESULTS_NAME
    from chainlens.scan._store_scans import netdelta_scan
    from chainlens.scan._stored import netdelta_parts

    dst = Path(tempfile.mkdtemp(prefix="bench_pipeline_steady_")) / "store"
    shutil.copytree(root, dst, copy_function=os.link, ignore=shutil.ignore_patterns("catalog*"))
    for f in root.glob("catalog*"):
        shutil.copy2(f, dst / f.name)
    t0, c0 = time.perf_counter(), time.process_time()
    with Store(dst) as st:
        earlier = [x for x in st.session_dates() if x < d]
        for e in earlier:  # oldest first: each reads the parts stored before it
            rows, daily = netdelta_scan(st, e)
            parts = {
                k: v for k, v in netdelta_parts(rows, daily, e).items() if k != "scan_netdelta"
            }
            st.write_results(RESULTS_NAME, e, parts)
    print(
        f"steady state: the net-delta daily sums of {len(earlier)} earlier session(s) stored "
        f"({time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU, untimed)"
    )
    return dst


def _run(root: Path, d: Any, us: list[str] | None, workers: int | None) -> dict[str, Any]:
    """One ``run_local`` with its wall, CPU and peak RSS figures."""
    with Store(root) as st:
        peak = _WorkerPeak()
        peak.start()
        t0, c0 = time.perf_counter(), time.process_time()
        ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = run_local(st, d, us, workers=workers)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak.stop.set()
        peak.join()
    reaped = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    return {
        "n": out["underlyings"],
        "failed": len(out["failed"]),
        "workers": out["workers"],
        "wall": wall,
        "cpu_parent": cpu,
        "cpu_workers": max(sum(peak.cpu.values()), reaped),
        "rss_parent": _rss_gb(resource.RUSAGE_SELF),
        "rss_workers": sorted((v / 1024**2 for v in peak.peak_kb.values()), reverse=True),
    }


def _say_run(label: str, r: dict[str, Any]) -> None:
    n = max(r["n"], 1)
    cpu = r["cpu_parent"] + r["cpu_workers"]
    rss = ", ".join(f"{x:.2f}" for x in r["rss_workers"][:8]) or "-"
    print(
        f"{label}: {r['n']} underlyings in {r['wall']:.1f} s wall with {r['workers']} worker(s) "
        f"-> {r['n'] / r['wall']:.1f} underlyings/s; CPU parent {r['cpu_parent']:.1f} s + "
        f"workers {r['cpu_workers']:.1f} s = {cpu / n * 1000:.1f} ms per underlying; "
        f"failed {r['failed']}; load {os.getloadavg()[0]:.1f}"
    )
    print(f"   peak RSS: parent {r['rss_parent']:.2f} GB, workers [{rss}] GB")


def _split(root: Path, d: Any, sample: int, baseline: bool) -> dict[str, float]:
    """CPU seconds per stage in-process over the first ``sample`` underlyings."""
    import chainlens.pipeline as pipe
    from chainlens.market import market_rollup
    from chainlens.runners.local import iter_windows

    cfg = pipe.PipelineConfig()
    with Store(root) as st:
        us = st.underlyings(d)[:sample]
        c0 = time.process_time()
        ws = list(iter_windows(st, d, us, cfg))
        c_read = time.process_time() - c0
        sectors = st.table("sectors")
    pipe.analyze_underlyings(ws[:CHUNK], cfg)  # warm-up: imports, Numba compilation
    pipe.STAGE_CPU = {}
    c0, t0 = time.process_time(), time.perf_counter()
    res: list[Any] = []
    for a in range(0, len(ws), CHUNK):
        res += pipe.analyze_underlyings(ws[a : a + CHUNK], cfg)
    c_batched, w_batched = time.process_time() - c0, time.perf_counter() - t0
    stages = dict(pipe.STAGE_CPU)
    pipe.STAGE_CPU = None
    docs = [r.doc for r in res if isinstance(r, pipe.UnderlyingResult)]
    c0 = time.process_time()
    market_rollup(docs, session=d, sectors=sectors)
    c_market = time.process_time() - c0
    n = len(ws)
    ms = 1000.0 / max(n, 1)
    print(
        f"split over {n} underlyings in-process (CPU ms per underlying): read {c_read * ms:.1f}, "
        + ", ".join(f"{k} {v * ms:.1f}" for k, v in stages.items())
        + f", market rollup {c_market * ms:.1f}; analyze total {c_batched * ms:.1f} "
        f"({w_batched:.1f} s wall)"
    )
    g = {  # the split: read, flow, exposures, OI, market (reports: --reports)
        "read": c_read,
        "flow": stages.get("flow_enrich", 0.0) + stages.get("flow", 0.0),
        "exposures (chain analysis)": stages.get("chain", 0.0),
        "OI": stages.get("oi", 0.0),
        "documents": stages.get("docs", 0.0),
        "market": c_market,
    }
    print(
        "   split (CPU ms per underlying): " + ", ".join(f"{k} {v * ms:.1f}" for k, v in g.items())
    )
    out = {"batched_ms": c_batched * ms}
    if baseline:
        c0, t0 = time.process_time(), time.perf_counter()
        for w in ws:  # the per-underlying reference path, one underlying at a time
            try:
                pipe.analyze_underlying(w, cfg)
            except pipe.ChainlensError:
                pass
        c_one = time.process_time() - c0
        print(
            f"baseline (analyze_underlying one at a time, same {n} windows): "
            f"{c_one * ms:.1f} ms CPU per underlying ({time.perf_counter() - t0:.1f} s wall); "
            f"batched/baseline CPU = {c_batched / max(c_one, 1e-9):.2f}"
        )
        out["baseline_ms"] = c_one * ms
    return out


def _reports(root: Path, d: Any, top: int) -> None:
    """The daily report and the per-ticker reports of the ``top`` names by premium."""
    from chainlens.report import write_session_reports

    with Store(root) as st:
        # the ranking reads two keys per document, not every document whole
        docs = st.read_doc_fields(d, ["underlying", "flow.totals.total_usd"])
        prem = {
            x["underlying"]: float(
                ((x.get("flow") or {}).get("totals") or {}).get("total_usd") or 0
            )
            for x in docs
        }
        names = sorted(prem, key=lambda u: -prem[u])[:top]
        out = Path(tempfile.mkdtemp(prefix="bench_reports_"))
        c0, t0 = time.process_time(), time.perf_counter()
        paths = write_session_reports(
            st, d, out, lenses={u: ("flow",) for u in names}, formats=("html",), outcomes=False
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    shutil.rmtree(out, ignore_errors=True)
    print(
        f"reports: daily + {len(names)} ticker reports (html) -> {len(paths)} files in "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU; peak RSS {_rss_gb(resource.RUSAGE_SELF):.2f} GB"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--underlyings", type=int, default=150)
    ap.add_argument("--sessions", type=int, default=5, help="sessions of history (default 5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--cache",
        default=os.environ.get("CHAINLENS_BENCH_CACHE")
        or str(Path(tempfile.gettempdir()) / "chainlens_bench_cache"),
        help="where the simulated stores are kept and reused",
    )
    ap.add_argument(
        "--workers", type=int, default=None, help="default: auto (in-process below 200)"
    )
    ap.add_argument(
        "--scaling",
        default="",
        help="comma-separated underlying counts run on the first N names of the market",
    )
    ap.add_argument("--sample", type=int, default=300, help="underlyings of the split/baseline")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-split", action="store_true")
    ap.add_argument("--reports", action="store_true", help="also the daily + top-50 reports")
    ap.add_argument("--demo", action="store_true", help="the 30-underlying demo market instead")
    ap.add_argument(
        "--steady",
        action="store_true",
        help="run on a copy of the store where the earlier sessions' net-delta sums are stored, "
        "as the daily runs of those sessions leave it (default: a cold store, where the run "
        "classifies every earlier session's trades too)",
    )
    a = ap.parse_args(argv)
    print(f"load average {os.getloadavg()} on {os.cpu_count()} cores")
    root, d = _market(a)
    try:
        with Store(root) as st:
            names = st.underlyings(d)
        print(f"market: {len(names)} underlyings, session {d}, store {root}")
        if not a.no_split:
            _split(root, d, min(a.sample, len(names)), baseline=not a.no_baseline)
        sizes = [int(x) for x in a.scaling.split(",") if x.strip()] or [len(names)]
        runs = []
        for k, n in enumerate(sizes):
            # each size is a market of its own (the scanners cover the whole store, so the
            # first n names of a larger store would not be an n-name market)
            rt, dn = (root, d) if n >= len(names) else _market(
                argparse.Namespace(**{**vars(a), "underlyings": n, "demo": False}))  # fmt: skip
            if a.steady:  # in a child process: its memory is not the run's peak RSS
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
                    rt = ex.submit(_steady_copy, rt, dn).result()
            try:
                r = _run(rt, dn, None, a.workers)
                _say_run(f"run {n}" + (" (steady state)" if a.steady else " (cold store)"), r)
                runs.append(r)
                if a.reports and k == len(sizes) - 1:
                    _reports(rt, dn, 50)
            finally:
                if a.steady:
                    shutil.rmtree(rt.parent, ignore_errors=True)
        if len(runs) > 1:
            print("scaling (wall s / CPU s per 1,000 underlyings):")
            for r in runs:
                cpu = r["cpu_parent"] + r["cpu_workers"]
                print(
                    f"   {r['n']:>6}: {r['wall']:7.1f} s wall, {cpu:7.1f} s CPU, "
                    f"{r['wall'] / r['n'] * 1000:6.1f} / {cpu / r['n'] * 1000:6.1f}"
                )
        last = runs[-1]
        print(
            f"extrapolated 5,000 underlyings: {5000 / (last['n'] / last['wall']):.0f} s wall "
            f"(goal <= 30 s) at load {os.getloadavg()[0]:.1f}"
        )
        if a.demo:
            print(f"demo market run: {last['wall']:.1f} s (target <= 20 s)")
    finally:
        if a.demo:
            shutil.rmtree(root.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
