"""``chainlens fetch`` against a local HTTP server on 127.0.0.1 serving the real saved payloads.

No test touches the internet: every URL is ``http://127.0.0.1:<port>``. The server also plays
the failures users meet: HTTP 500, a 429 then success, a timeout, an HTML error page, a
truncated body, an all-zero payload, a connection refused (offline).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chainlens.cli import app
from chainlens.cli._common import run_guarded
from chainlens.cli._fetch import FetchError, cboe_symbol, cboe_url, download, read_watchlist
from chainlens.store import Store

pytestmark = pytest.mark.realdata

API = "/api/global/delayed_quotes/options/"


class _Server:
    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                path = self.path
                srv.hits[path] += 1
                name = path.removeprefix(API).removesuffix(".json")
                if not path.startswith(API):
                    return self._send(404, b"not found", "text/plain")
                if name == "FAIL":
                    return self._send(500, b"Internal Server Error", "text/plain")
                if name == "BUSY" and srv.hits[path] == 1:
                    self.send_response(429)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if name == "SLOW":
                    time.sleep(2.0)
                    return self._send(200, b"{}", "application/json")
                if name == "HTML":
                    page = b"<html><head><title>Access Denied</title></head><body>Reference #18</body></html>"
                    return self._send(200, page, "text/html")
                if name == "CUT":
                    body = srv.routes["SPY"]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                key = "TSLA" if name == "BUSY" else name
                if key not in srv.routes:
                    return self._send(
                        404, b"<html><title>404 Not Found</title></html>", "text/html"
                    )
                return self._send(200, srv.routes[key], "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(shared_data: Path) -> Iterator[_Server]:
    d = shared_data / "cboe_delayed_json"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")

    def one(prefix: str) -> bytes:
        (f,) = sorted(d.glob(prefix + "*.json"))
        return f.read_bytes()

    srv = _Server(
        {
            "SPY": one("SPY_2022-04-01"),
            "TSLA": one("TSLA_2024-07-15"),
            "_RUT": one("RUT_2024-07-15"),
            "COIN": one("COIN_2024-06-24_1344UTC_ALL-ZERO"),
        }
    )
    yield srv
    srv.close()


def _state(store: Path) -> dict[str, int]:
    """Every file under the store with its size (the catalog included)."""
    if not store.exists():
        return {}
    return {
        p.relative_to(store).as_posix(): p.stat().st_size
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _fetch(args: list[str], server: _Server, store: Path) -> int:
    return run_guarded(
        app,
        ["fetch", *args, "--base-url", server.url, "--store", str(store), "--pause", "0", "--json"],
    )


def test_symbols_and_urls() -> None:
    assert [cboe_symbol(s) for s in ("spy", "SPX", "^RUT", "$VIX", "_NDX")] == [
        "SPY",
        "_SPX",
        "_RUT",
        "_VIX",
        "_NDX",
    ]
    # --base-url replaces scheme and host; the API path is kept
    assert cboe_url("rut", "http://127.0.0.1:9/") == "http://127.0.0.1:9" + API + "_RUT.json"
    with pytest.raises(FetchError, match="http"):
        cboe_url("SPY", "ftp://mirror")
    with pytest.raises(FetchError, match="not a ticker"):
        cboe_symbol("SPY; rm -rf /")


def test_fetch_stores_each_chain(
    server: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert _fetch(["SPY", "TSLA", "RUT"], server, store) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["symbol"], r["status"], r["session"]) for r in out] == [
        ("SPY", "ingested", "2022-04-01"),
        ("TSLA", "ingested", "2024-07-15"),
        ("RUT", "ingested", "2024-07-15"),
    ]
    # contract counts: jq '.data.options|length' (SPY's older schema: '.options|length')
    assert [r["accepted"] for r in out] == [9798, 3340, 8962]
    assert server.hits[API + "_RUT.json"] >= 1  # the index went out as _RUT
    with Store(store) as st:
        assert st.underlyings() == ["RUT", "SPY", "TSLA"]
    # the raw payload is saved byte for byte under the store, and re-ingestable
    for r, name in zip(out, ("SPY", "TSLA", "_RUT"), strict=True):
        raw = Path(r["raw_path"])
        assert raw.is_relative_to(store / "raw" / "cboe_delayed" / r["symbol"])
        assert raw.read_bytes() == server.routes[name]
    # the same payload again: unchanged, nothing new stored
    before = _state(store)
    assert _fetch(["TSLA"], server, store) == 0
    (again,) = json.loads(capsys.readouterr().out)
    assert again["status"] == "unchanged"
    after = _state(store)
    assert {k: v for k, v in after.items() if not k.startswith("raw/")} == {
        k: v for k, v in before.items() if not k.startswith("raw/")
    }


def test_watchlist(server: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wl = tmp_path / "watchlist.txt"
    wl.write_text("# my names\nspy, tsla\n\nTSLA  # twice: fetched once\n")
    assert read_watchlist(wl) == ["spy", "tsla", "TSLA"]
    assert _fetch(["--watchlist", str(wl)], server, tmp_path / "s") == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["symbol"] for r in out] == ["SPY", "TSLA"]
    assert run_guarded(app, ["fetch", "--store", str(tmp_path / "s")]) == 2
    assert "no symbol to fetch" in capsys.readouterr().err


FAILURES = [
    # (symbol, extra args, words the error must hold)
    ("FAIL", ["--retries", "1"], ["HTTP 500", "after 2 tries"]),
    ("SLOW", ["--timeout", "0.3", "--retries", "0"], ["timed out after 0.3 s"]),
    ("HTML", [], ["HTML page", "Access Denied"]),
    ("CUT", ["--retries", "0"], ["truncated response"]),
    ("COIN", [], ["every quote number in the payload is 0"]),
    ("NOPE", [], ["HTTP 404", "no delayed quotes"]),
]


@pytest.mark.parametrize(("sym", "extra", "words"), FAILURES)
def test_failures_leave_the_store_as_it_was(
    server: _Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sym: str,
    extra: list[str],
    words: list[str],
) -> None:
    fresh = tmp_path / "fresh"
    assert _fetch([sym, *extra], server, fresh) == 2
    (r,) = json.loads(capsys.readouterr().out)
    assert r["status"] == "failed" and r["raw_path"] is None
    for w in words:
        assert w in r["error"]
    assert not fresh.exists()  # a failure on a new store creates nothing
    store = tmp_path / "store"
    assert _fetch(["SPY"], server, store) == 0
    capsys.readouterr()
    before = _state(store)
    assert _fetch([sym, *extra], server, store) == 2
    capsys.readouterr()
    assert _state(store) == before


def test_retry_on_429_then_success(
    server: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # BUSY answers 429 (Retry-After: 0) once, then TSLA's payload... whose symbol is TSLA
    assert _fetch(["BUSY"], server, tmp_path / "s") == 2
    (r,) = json.loads(capsys.readouterr().out)
    assert server.hits[API + "BUSY.json"] == 2
    assert "is for TSLA, not BUSY" in r["error"]


def test_offline_is_a_clear_message(tmp_path: Path) -> None:
    # nothing listens on port 9 of 127.0.0.1: connection refused, no retry
    with pytest.raises(FetchError, match="cannot reach 127.0.0.1:9") as e:
        download("http://127.0.0.1:9" + API + "SPY.json", timeout=2, retries=3, backoff=0)
    assert e.value.hint is not None and "offline" in e.value.hint


def test_backoff_waits(server: _Server) -> None:
    waits: list[float] = []
    with pytest.raises(FetchError, match="HTTP 500"):
        download(server.url + API + "FAIL.json", retries=3, backoff=0.5, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]
