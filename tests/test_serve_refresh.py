"""``chainlens serve`` notices new and replaced results: a real ``chainlens run`` while a real
server process is up on 127.0.0.1.

The server must not hold the store while idle (the run opens it read-write and must not wait
for the server), and the first requests after the run must show the run's results: a new
session, and a session rerun over one ticker only (whose other tickers' results are kept).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from _serve_store import serve_store

pytest.importorskip("fastapi")

CLI = [sys.executable, "-c", "from chainlens.cli import main; main()"]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
            ctype = r.headers.get("content-type", "")
            return r.status, json.loads(body) if "json" in ctype else body.decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _run(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", "--store", str(store), "--workers", "1", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CHAINLENS_LOCK_TIMEOUT": "20"},
    )


def test_a_run_while_serving_shows_new_and_replaced_results(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(serve_store(), store)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*CLI, "serve", "--store", str(store), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for _ in range(300):  # bounded wait for the server to listen
            try:
                code, body = _get(f"{base}/api/v1/sessions")
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        before = body["sessions"]
        assert len(before) == 2
        # warm the caches the run will make stale: pages and API responses
        code, ov = _get(f"{base}/api/v1/overview")
        tickers = {r["underlying"] for r in ov["table"]["rows"]}
        assert code == 200 and len(tickers) > 2
        assert _get(f"{base}/")[0] == 200 and _get(f"{base}/status")[0] == 200
        # the server measures "What Worked Yesterday" in the background from start-up, opening
        # the store per call: it is idle (holds nothing) once that is done
        for _ in range(600):  # bounded wait: ~120 s
            if not _get(f"{base}/api/v1/daily")[1].get("pending"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the server still measures What Worked Yesterday after 120 s")

        # 1. a new session, run while the server is up: the run is not blocked by the server
        from chainlens.store import Store

        with Store(store, create=False, read_only=True) as st:
            days = [d.isoformat() for d in st.session_dates()]
        new = days[days.index(before[0]) - 1]
        r = _run(store, "--date", new)
        assert r.returncode == 0, r.stderr
        assert "in use by another process" not in r.stderr  # never waited for the server
        code, body = _get(f"{base}/api/v1/sessions")
        assert body["sessions"] == sorted([new, *before])  # the first request after the run
        code, ov_new = _get(f"{base}/api/v1/overview?date={new}")
        assert code == 200 and {r["underlying"] for r in ov_new["table"]["rows"]} == tickers
        code, page = _get(f"{base}/?date={new}")
        assert code == 200 and new in page
        code, status = _get(f"{base}/api/v1/status?format=json")
        res = {(r["session"], r["results"]) for r in status["tables"]["sessions"]["rows"]}
        assert (new, True) in res

        # 2. the latest session rerun over one ticker: SPY's results are replaced and every
        # other ticker's are kept (a subset run used to drop them all)
        r = _run(store, "--date", before[-1], "-u", "SPY")
        assert r.returncode == 0, r.stderr
        assert "kept the stored results of" in r.stdout
        code, ov2 = _get(f"{base}/api/v1/overview")  # same URL as the cached response above
        assert code == 200
        assert {r["underlying"] for r in ov2["table"]["rows"]} == tickers
        code, page = _get(f"{base}/")
        assert code == 200 and "/ticker/QQQ" in page and "/ticker/SPY" in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            err = proc.stderr.read()
            proc.stderr.close()
            assert "Traceback" not in err, err


WRITER = """
import datetime as dt, sys, time
import pyarrow as pa
from chainlens.store import Store
st = Store(sys.argv[1], create=False)
st.write_results("probe", dt.date.fromisoformat(sys.argv[2]), {"t": pa.table({"x": [1]})})
print("written", flush=True)
sys.stdin.readline()  # hold the store (read-write) until told to go
st.close()
"""


def test_cached_pages_are_served_while_a_writer_holds_the_store(tmp_path: Path) -> None:
    """A writer holding the store read-write after a commit: pages already read are served
    (from the previous generation) while it holds it; once it lets go, the next request shows
    what it wrote."""
    store = tmp_path / "store"
    shutil.copytree(serve_store(), store)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*CLI, "serve", "--store", str(store), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    writer = None
    try:
        for _ in range(300):  # bounded wait for the server to listen
            try:
                code, sessions = _get(f"{base}/api/v1/sessions")
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        urls = ["/api/v1/status", "/", "/api/v1/overview"]
        before = {u: _get(base + u) for u in urls}
        assert all(c == 200 for c, _ in before.values())
        names = {r["name"] for r in before["/api/v1/status"][1]["tables"]["results"]["rows"]}
        assert "probe" not in names
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store), sessions["sessions"][-1]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "written"
        for u in urls:  # the writer still holds the store: served from memory, as before
            assert _get(base + u) == before[u], u
        assert writer.poll() is None  # all of the above while the writer held the store
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.wait(timeout=60) == 0
        # the refresh polls the store every 0.2 s and a request waits REFRESH_GRACE_S for it;
        # on a loaded machine reopening can take longer, so allow a few requests (bounded)
        for _ in range(20):
            code, status = _get(f"{base}/api/v1/status")
            assert code == 200
            if "probe" in {r["name"] for r in status["tables"]["results"]["rows"]}:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the writer's commit never showed after it let go of the store")
    finally:
        if writer is not None:
            if writer.poll() is None:
                writer.kill()
            writer.wait()
            for f in (writer.stdin, writer.stdout):
                if f is not None:
                    f.close()
        proc.terminate()
        proc.wait(timeout=30)
