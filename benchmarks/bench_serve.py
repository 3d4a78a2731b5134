"""Benchmark: ``chainlens serve`` page and API times on the demo store, and a loopback load test.

    python benchmarks/bench_serve.py                       # builds the demo store in a temp dir
    python benchmarks/bench_serve.py --store chainlens-data  # an existing store (read-only)
    python benchmarks/bench_serve.py --quick               # 8 underlyings x 5 sessions
    python benchmarks/bench_serve.py --store S --copy      # a temporary copy of S (and a run)

Starts the real server (uvicorn, 127.0.0.1, a free port) in this process and requests every
view over HTTP with keep-alive connections (stdlib ``http.client``). It prints

* the first (cold) request of every URL: what a view costs before its data is cached
  (the expiry-filtered ticker pages and the level history compute from the stored chain once;
  the unusual / net-delta scanners run their kernels once);
* p50 / p95 per URL and over all pages (target p95 <= 150 ms) and over all API calls
  (target p95 <= 50 ms), from ``--repeat`` sequential requests each, after the cold one;
* a bounded load test: ``--load`` requests from ``--clients`` concurrent clients over the same
  URLs, with p95 and the number of errors (target: none);
* the cost of the per-request freshness check, and, on a store of its own (built, or a
  ``--copy``), a real ``chainlens run`` while serving and the first request after it.

Only loopback traffic; every loop is bounded by a count.
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(conn: http.client.HTTPConnection, url: str) -> tuple[int, float, int]:
    t = time.perf_counter()
    conn.request("GET", url)
    r = conn.getresponse()
    body = r.read()
    return r.status, time.perf_counter() - t, len(body)


def _urls(store: Path) -> tuple[list[str], list[str]]:
    from chainlens.serve import StoreReader

    rd = StoreReader(store)
    days = rd.sessions()
    d = days[-1]
    tickers = sorted(rd.docs(d))
    rd.close()
    t = "SPY" if "SPY" in tickers else tickers[0]
    u = "QQQ" if "QQQ" in tickers else tickers[-1]
    old = days[0].isoformat()
    pages = [
        "/", "/?sort=gex_usd_per_1pct&desc=true", "/?q=S&label=bearish", f"/?date={old}",
        f"/ticker/{t}", f"/ticker/{u}", f"/ticker/{t}?dte_max=7", f"/ticker/{u}?dte_max=30",
        f"/ticker/{t}?model=short_all", f"/ticker/{u}?dte_max=7&model=short_all", f"/levels/{t}",
        "/flow", "/flow?side=buy&min_premium=100000", "/scan/accumulation", "/scan/rolls",
        "/scan/netdelta", "/scan/unusual", "/status", "/report/daily",
        f"/report/{t}?lens=flow",
    ]  # fmt: skip
    api = [
        "/api/v1/sessions", "/api/v1/overview", "/api/v1/overview?sort=spot&desc=true",
        "/api/v1/daily", f"/api/v1/ticker/{t}", f"/api/v1/ticker/{u}?dte_max=7",
        f"/api/v1/ticker/{t}?format=csv&table=by_strike", f"/api/v1/levels/{t}", "/api/v1/flow",
        "/api/v1/flow?side=sell&format=csv", "/api/v1/scan/rolls", "/api/v1/scan/netdelta",
        f"/api/v1/ticker/{t}?model=short_all&dte_max=30", "/api/v1/status",
        f"/api/v1/report/{t}",
    ]  # fmt: skip
    return pages, api


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def _run_while_serving(store: Path, port: int, url: str) -> tuple[float, float] | None:
    """``chainlens run`` of the latest session over one ticker while the server is up (a
    subprocess, as a user would), then the time of the first request after it."""
    import json
    import subprocess

    from chainlens.store import Store

    with Store(store, create=False, read_only=True) as st:
        last = st.session_dates()[-1]
        ticker = st.underlyings(last)[0]
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", "from chainlens.cli import main; main()", "run", "--store",
         str(store), "--date", last.isoformat(), "-u", ticker],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    run_s = time.perf_counter() - t
    if r.returncode != 0:
        print("chainlens run failed while serving:", r.stderr[-500:], file=sys.stderr)
        return None
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t = time.perf_counter()
    c.request("GET", "/api/v1/overview")
    body = json.loads(c.getresponse().read())
    first = time.perf_counter() - t
    c.close()
    got = {row["underlying"] for row in body["table"]["rows"]}
    if got != {ticker}:
        print(f"stale overview after the run: {sorted(got)[:5]}", file=sys.stderr)
        return None
    return run_s, first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, help="existing store (default: build the demo store)")
    ap.add_argument("--quick", action="store_true", help="small demo store (8 x 5)")
    ap.add_argument(
        "--copy",
        action="store_true",
        help="serve a temporary copy of --store, and time a `chainlens run` while serving",
    )
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per URL")
    ap.add_argument("--load", type=int, default=600, help="requests in the load test")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients in the load test")
    args = ap.parse_args()

    import uvicorn

    from chainlens.demo import run_demo
    from chainlens.serve import create_app

    tmp = None
    store = args.store
    if store is not None and args.copy:
        tmp = Path(tempfile.mkdtemp(prefix="chainlens-bench-serve-"))
        shutil.copytree(store, tmp / "store")
        store = tmp / "store"
    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="chainlens-bench-serve-"))
        store = tmp / "store"
        n, s = (8, 5) if args.quick else (30, 10)
        t = time.perf_counter()
        run_demo(store, underlyings=n, sessions=s)
        print(
            f"demo store: {n} underlyings x {s} sessions built in {time.perf_counter() - t:.1f} s"
        )
    try:
        pages, api = _urls(store)
        port = _free_port()
        t = time.perf_counter()
        app = create_app(store, warm=True)
        print(f"app created (latest session's documents read) in {time.perf_counter() - t:.2f} s")
        srv = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        th = threading.Thread(target=srv.run, daemon=True)
        th.start()
        for _ in range(400):
            if srv.started:
                break
            time.sleep(0.05)
        if not srv.started:
            print("server did not start", file=sys.stderr)
            return 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        print("\ncold (first request of each URL):")
        for url in pages + api:
            status, sec, size = _get(conn, url)
            print(f"  {status} {sec * 1000:8.1f} ms {size / 1024:8.1f} KiB  {url}")
            if status != 200:
                print(f"unexpected status {status} for {url}", file=sys.stderr)
                return 1
        # "What Worked Yesterday" is measured in a background thread after start-up: wait for
        # it (bounded), so that the warm figures are the steady state
        t = time.perf_counter()
        for _ in range(600):
            c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c2.request("GET", "/api/v1/daily")
            r2 = c2.getresponse()
            done = b'"pending":[]' in r2.read()
            c2.close()
            if done:
                break
            time.sleep(0.5)
        print(
            f"\nWhat Worked Yesterday measured {time.perf_counter() - t:.1f} s after the cold pass"
        )
        conn.close()  # idle meanwhile: the server may have closed the keep-alive connection
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        results: dict[str, dict[str, list[float]]] = {
            "page": {}, "api": {}, "api-nc": {}, "page-nc": {},
        }  # fmt: skip
        for kind, urls in (("page", pages), ("api", api)):
            for url in urls:
                results[kind][url] = [_get(conn, url)[1] for _ in range(args.repeat)]
        # the API again with a unique (ignored) parameter: misses the response cache, so each
        # call builds and serialises its JSON/CSV from the cached view data
        for url in api:
            sep = "&" if "?" in url else "?"
            results["api-nc"][url] = [
                _get(conn, f"{url}{sep}_nc={i}")[1] for i in range(args.repeat)
            ]
        # the pages again, missing the response cache the same way: each one renders its
        # template from the cached view data and figure JSON
        for url in pages:
            sep = "&" if "?" in url else "?"
            results["page-nc"][url] = [
                _get(conn, f"{url}{sep}_nc={i}")[1] for i in range(args.repeat)
            ]
        conn.close()
        print(f"\nwarm ({args.repeat} sequential requests per URL), ms:")
        for kind in ("page", "page-nc", "api", "api-nc"):
            for url, xs in results[kind].items():
                print(f"  {kind:6s} p50 {_pct(xs, 50):7.1f}  p95 {_pct(xs, 95):7.1f}  {url}")
        allp = [x for xs in results["page"].values() for x in xs]
        alla = [x for xs in results["api"].values() for x in xs]
        p95p, p95a = _pct(allp, 95), _pct(alla, 95)
        print(f"\npages: p50 {_pct(allp, 50):.1f} ms, p95 {p95p:.1f} ms (target <= 150 ms)")
        print(f"API:   p50 {_pct(alla, 50):.1f} ms, p95 {p95a:.1f} ms (target <= 50 ms)")
        allpnc = [x for xs in results["page-nc"].values() for x in xs]
        print(
            f"pages without the response cache (template rendered per call): p50 "
            f"{_pct(allpnc, 50):.1f} ms, p95 {_pct(allpnc, 95):.1f} ms (target <= 150 ms)"
        )
        allnc = [x for xs in results["api-nc"].values() for x in xs]
        print(
            f"API without the response cache: p50 {_pct(allnc, 50):.1f} ms, "
            f"p95 {_pct(allnc, 95):.1f} ms (target <= 50 ms)"
        )

        # bounded load test: a fixed number of requests from concurrent clients
        rng = random.Random(7)
        plan = [rng.choice(pages + api) for _ in range(args.load)]
        chunks = [plan[i :: args.clients] for i in range(args.clients)]
        lat: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def client(urls: list[str]) -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for u in urls:
                try:
                    status, sec, _ = _get(c, u)
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        errors.append(f"{u}: {exc!r}")
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    continue
                with lock:
                    lat.append(sec)
                    if status != 200:
                        errors.append(f"{u}: HTTP {status}")
            c.close()

        t = time.perf_counter()
        workers = [threading.Thread(target=client, args=(ch,)) for ch in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - t
        print(
            f"\nload test: {len(plan)} requests, {args.clients} concurrent clients, "
            f"{wall:.1f} s ({len(plan) / wall:.0f} req/s): p50 {_pct(lat, 50):.1f} ms, "
            f"p95 {_pct(lat, 95):.1f} ms, errors {len(errors)} (target 0)"
        )
        for e in errors[:10]:
            print("  error:", e)

        # freshness: the per-request catalog check, and a run while serving (own store only)
        from chainlens.serve._data import catalog_fingerprint

        n_fp = 20_000
        t = time.perf_counter()
        for _ in range(n_fp):  # bounded
            catalog_fingerprint(Path(store))
        print(
            f"\nfreshness check (stat of the catalog, every request): "
            f"{(time.perf_counter() - t) / n_fp * 1e6:.1f} us per request"
        )
        if tmp is not None:
            fresh = _run_while_serving(Path(store), port, api[0])
            if fresh is not None:
                print(
                    f"chainlens run while serving: run {fresh[0]:.1f} s, then the first "
                    f"request after it {fresh[1] * 1000:.0f} ms (store reopened, new results)"
                )
        srv.should_exit = True
        th.join(10)
        return 0 if not errors else 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
