"""``chainlens serve`` from the command line: a real server process on a loopback address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _serve_store import serve_store

pytest.importorskip("fastapi")

CLI = [sys.executable, "-c", "from chainlens.cli import main; main()"]


def test_public_names() -> None:
    import chainlens.serve as s

    assert sorted(s.__all__) == ["API_VERSION", "CSP", "StoreReader", "create_app",
                                 "result_sessions"]  # fmt: skip


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    r = subprocess.run(
        [*CLI, "serve", "--store", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "no chainlens store" in r.stderr and "Traceback" not in r.stderr


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_warns_off_the_default_host_and_serves() -> None:
    """127.0.0.2 is loopback but not the default address: the command warns, then serves."""
    host = "127.0.0.2"
    try:
        port = _free_port(host)
    except OSError:
        pytest.skip("127.0.0.2 is not usable here")
    store = serve_store()
    proc = subprocess.Popen(
        [*CLI, "serve", "--store", str(store), "--host", host,
         "--port", str(port)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        text = " ".join(lines)
        assert "warning" in text and "no authentication" in text, text
        body = b""
        for _ in range(100):  # bounded wait for the server to listen
            try:
                with urllib.request.urlopen(
                    f"http://{host}:{port}/api/v1/sessions", timeout=5
                ) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"sessions" in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
