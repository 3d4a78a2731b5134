"""``chainlens serve`` notices new and replaced results: a real ``chainlens run`` while a real
server process is up on 127.0.0.1.

The server must not hold the store while idle (the run opens it read-write and must not wait
for the server), and the first requests after the run must show the run's results: a new
session, and a session whose results were replaced by a run over one ticker only.
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

        # 2. the latest session's results replaced by a run over one ticker
        r = _run(store, "--date", before[-1], "-u", "SPY")
        assert r.returncode == 0, r.stderr
        code, ov2 = _get(f"{base}/api/v1/overview")  # same URL as the cached response above
        assert code == 200
        assert {r["underlying"] for r in ov2["table"]["rows"]} == {"SPY"}
        code, page = _get(f"{base}/")
        assert code == 200 and "/ticker/QQQ" not in page and "/ticker/SPY" in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            err = proc.stderr.read()
            proc.stderr.close()
            assert "Traceback" not in err, err
