"""``chainlens fetch``: Cboe's free delayed-quotes JSON, saved raw under the store, then ingested.

One command from nothing to a stored chain::

    chainlens fetch SPY QQQ SPX --store chainlens-data
    chainlens fetch --watchlist watchlist.txt

For each symbol, ``<base-url>/api/global/delayed_quotes/options/<SYMBOL>.json`` is downloaded
(index symbols take Cboe's ``_`` form: ``SPX`` -> ``_SPX``), checked, saved byte for byte as
``<store>/raw/cboe_delayed/<SYMBOL>/<SYMBOL>_<UTC time>.json`` (re-ingestable and auditable),
then ingested with the ``cboe_delayed_json`` adapter.

Politeness: one request at a time, a pause between symbols, a timeout, and retries with
exponential back-off (honouring ``Retry-After``) on HTTP 429 and 5xx, timeouts and dropped
connections. A failed symbol leaves the store as it was: nothing is written before the
payload has been downloaded whole and read by the adapter with at least one accepted row.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainlens import __version__, conventions
from chainlens.cli._common import JsonOpt, StoreOpt, console, console_err, emit_json
from chainlens.errors import ChainlensError

__all__ = ["FetchError", "cboe_symbol", "cboe_url", "download", "read_watchlist", "register"]

#: Cboe's public CDN (delayed quotes, no key needed).
DEFAULT_BASE_URL = "https://cdn.cboe.com"
#: The path of one symbol's options payload (kept when ``--base-url`` replaces the host).
PATH_TEMPLATE = "/api/global/delayed_quotes/options/{symbol}.json"
#: Where raw payloads are saved, relative to the store root.
RAW_DIR = "raw/cboe_delayed"
_SYMBOL_RE = re.compile(r"^_?[A-Z0-9.]{1,10}$")
_MAX_RETRY_AFTER = 60.0


class FetchError(ChainlensError):
    """A download that did not give a usable payload (the message says why)."""


def cboe_symbol(symbol: str) -> str:
    """Cboe's URL form of a ticker: upper case, ``^``/``$`` dropped, indices as ``_SPX``.

    Examples
    --------
    >>> cboe_symbol("spx"), cboe_symbol("^RUT"), cboe_symbol("SPY"), cboe_symbol("_NDX")
    ('_SPX', '_RUT', 'SPY', '_NDX')
    """
    s = symbol.strip().upper().lstrip("^$")
    if not _SYMBOL_RE.match(s):
        raise FetchError(f"not a ticker: {symbol!r}", hint="use symbols like SPY, QQQ, SPX, ^RUT")
    return "_" + s if s in conventions.INDEX_UNDERLYINGS else s


def cboe_url(symbol: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """The payload URL of ``symbol``; ``base_url`` replaces the scheme and host only.

    Examples
    --------
    >>> cboe_url("SPX", "http://127.0.0.1:8123/")
    'http://127.0.0.1:8123/api/global/delayed_quotes/options/_SPX.json'
    """
    u = urllib.parse.urlsplit(base_url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise FetchError(
            f"--base-url must be an http(s) URL like https://cdn.cboe.com, not {base_url!r}"
        )
    return base_url.rstrip("/") + PATH_TEMPLATE.format(symbol=cboe_symbol(symbol))


def read_watchlist(path: Path) -> list[str]:
    """Symbols of a watchlist file: whitespace- or comma-separated, ``#`` starts a comment."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise FetchError(f"cannot read the watchlist {path}: {e.strerror or e}") from None
    out: list[str] = []
    for line in text.splitlines():
        out += [t for t in re.split(r"[\s,;]+", line.split("#", 1)[0]) if t]
    return out


def _html_title(body: bytes) -> str:
    m = re.search(rb"<title[^>]*>(.*?)</title>", body[:20000], re.I | re.S)
    txt = (m.group(1) if m else body[:120]).decode("utf-8", "replace")
    return " ".join(txt.split())[:100]


def _retry_after(headers: object, default: float) -> float:
    v = getattr(headers, "get", lambda _k: None)("Retry-After")
    try:
        return min(max(float(v), 0.0), _MAX_RETRY_AFTER) if v is not None else default
    except ValueError:
        return default


def download(
    url: str,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    on_event: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """GET ``url`` politely and return the whole body.

    Retries (at most ``retries`` times, waiting ``backoff * 2**k`` seconds or the server's
    ``Retry-After``) on HTTP 429 and 5xx, timeouts and dropped or truncated connections.

    Raises
    ------
    FetchError
        With a one-line reason: offline / unreachable host, HTTP status, HTML error page,
        timeout, truncated body (after the retries).
    """
    host = urllib.parse.urlsplit(url).netloc
    req = urllib.request.Request(
        url,
        headers={"User-Agent": f"chainlens/{__version__}", "Accept": "application/json"},
    )
    attempt = 0
    while True:
        wait = backoff * 2**attempt
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                ctype = resp.headers.get("Content-Type", "")
                expected = resp.headers.get("Content-Length")
                try:
                    body = resp.read()
                except http.client.IncompleteRead as e:
                    got = len(e.partial)
                    why = f"truncated response from {host}: got {got:,} of {expected or '?'} bytes"
                    raise _Transient(why) from None
                if expected is not None and expected.isdigit() and len(body) < int(expected):
                    raise _Transient(
                        f"truncated response from {host}: got {len(body):,} of {int(expected):,} bytes"
                    )
                if "html" in ctype.lower() or body.lstrip()[:1] == b"<":
                    raise FetchError(
                        f"{host} answered with an HTML page, not the JSON payload "
                        f"(HTTP {resp.status}, {_html_title(body)!r}): an error or block page",
                        hint="try again later; if it persists, check the symbol and --base-url",
                    )
                return body
        except urllib.error.HTTPError as e:
            body = e.read() if e.fp is not None else b""
            detail = f" ({_html_title(body)!r})" if body.lstrip()[:1] == b"<" else ""
            msg = f"HTTP {e.code} {e.reason} from {host}{detail}"
            if e.code == 404:
                raise FetchError(
                    f"{msg}: no delayed quotes for this symbol at {url}",
                    hint="check the ticker (indices are fetched as _SPX, _NDX, _RUT, _VIX)",
                ) from None
            if not (e.code == 429 or 500 <= e.code < 600):
                raise FetchError(msg) from None
            why, wait = msg, _retry_after(e.headers, wait)
        except _Transient as e:
            why = str(e)
        except TimeoutError:
            why = f"timed out after {timeout:g} s waiting for {host}"
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                why = f"timed out after {timeout:g} s waiting for {host}"
            elif isinstance(reason, ConnectionResetError | ConnectionAbortedError):
                why = f"connection to {host} dropped ({reason})"
            else:
                raise FetchError(
                    f"cannot reach {host}: {getattr(reason, 'strerror', None) or reason}",
                    hint="are you offline? check the network, or --base-url",
                ) from None
        except (ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected) as e:
            why = f"connection to {host} dropped ({e})"
        if attempt >= retries:
            tries = f" (after {attempt + 1} tries)" if attempt else ""
            raise FetchError(f"{why}{tries}", hint="try again later") from None
        if on_event is not None:
            on_event(f"{why}; retry {attempt + 1}/{retries} in {wait:g} s")
        sleep(wait)
        attempt += 1


class _Transient(Exception):
    """A retryable failure with its message."""


def _check_payload(body: bytes, symbol: str, url: str) -> None:
    """The body must be a Cboe options payload for ``symbol`` (not an error document)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FetchError(
            f"the answer from {url} is not valid JSON ({e}): a truncated or garbled body",
            hint="try again later",
        ) from None
    data = doc.get("data", doc) if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("options"), list):
        keys = list(doc)[:6] if isinstance(doc, dict) else type(doc).__name__
        raise FetchError(f"the answer from {url} is JSON but not an options payload ({keys})")
    got = str(data.get("symbol") or "").upper().lstrip("^$_")
    want = cboe_symbol(symbol).lstrip("_")
    if got and got != want:
        raise FetchError(f"the payload from {url} is for {got}, not {want}")


@dataclass
class FetchResult:
    """One symbol's outcome (the ``chainlens fetch --json`` object)."""

    symbol: str
    url: str
    status: str  # "ingested" | "unchanged" | "failed"
    raw_path: str | None = None
    session: str | None = None
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    error: str | None = None


def _probe(body: bytes, symbol: str) -> tuple[str | None, str | None]:
    """Read the payload with the adapter before anything touches the store.

    Returns (session, None) when at least one row is accepted, else (None, reason)."""
    from chainlens.io import read_file

    with tempfile.TemporaryDirectory(prefix="chainlens-fetch-") as d:
        p = Path(d) / f"{symbol}.json"
        p.write_bytes(body)
        try:
            acc, first, session = 0, None, None
            for res in read_file(p, format="cboe_delayed_json"):
                acc += res.table.num_rows
                if res.table.num_rows and session is None:
                    session = str(res.table["trade_date"][0].as_py())
                if first is None and res.rejects.num_rows:
                    first = res.rejects["reason"][0].as_py()
        except ChainlensError as e:
            return None, e.message
    if acc == 0:
        return None, f"every row rejected: {first}"
    return session, None


def _save(store: Path, symbol: str, body: bytes, when: dt.datetime) -> Path:
    folder = store / RAW_DIR / symbol
    folder.mkdir(parents=True, exist_ok=True)
    stamp = when.strftime("%Y-%m-%dT%H%M%SZ")
    final = folder / f"{symbol}_{stamp}.json"
    k = 1
    while final.exists():
        k += 1
        final = folder / f"{symbol}_{stamp}_{k}.json"
    part = final.with_suffix(".json.part")
    with open(part, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, final)
    return final


def _unsave(store: Path, path: Path) -> None:
    path.unlink(missing_ok=True)
    for d in (path.parent, path.parent.parent, path.parent.parent.parent):
        if d != store and d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def fetch_symbols(
    symbols: Iterable[str],
    store: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    pause: float = 1.0,
    on_event: Callable[[str, str], None] | None = None,
) -> list[FetchResult]:
    """Download, save and ingest each symbol in turn (see the module docstring)."""
    from chainlens.store import Store

    out: list[FetchResult] = []
    st: Store | None = None
    try:
        for i, sym in enumerate(symbols):
            plain = cboe_symbol(sym).lstrip("_")
            url = cboe_url(sym, base_url)
            r = FetchResult(symbol=plain, url=url, status="failed")
            out.append(r)
            if i and pause > 0:
                time.sleep(pause)

            def note(msg: str, _s: str = plain) -> None:
                if on_event is not None:
                    on_event(_s, msg)

            note("downloading")
            try:
                when = dt.datetime.now(dt.UTC)
                body = download(
                    url, timeout=timeout, retries=retries, backoff=backoff, on_event=note
                )
                _check_payload(body, sym, url)
                note("checking")
                session, why = _probe(body, plain)
                if why is not None:
                    raise FetchError(f"payload from {url} not stored: {why}")
            except FetchError as e:
                r.error = e.message + (f" ({e.hint})" if e.hint else "")
                note("failed")
                continue
            note("ingesting")
            if st is None:
                st = Store(store)
            raw = _save(st.root, plain, body, when)
            res = st.ingest(raw, format="cboe_delayed_json")
            r.status, r.rows_read, r.accepted, r.rejected = (
                res.status,
                res.rows_read,
                res.accepted,
                res.rejected,
            )
            r.session = session
            if res.status == "failed":
                _unsave(st.root, raw)
                r.error = res.error
            else:
                r.raw_path = str(raw)
            note(r.status)
    finally:
        if st is not None:
            st.close()
    return out


def register(app: typer.Typer) -> None:
    """Add ``fetch`` to ``app``."""

    @app.command()
    def fetch(
        symbols: list[str] = typer.Argument(
            None, help="Tickers (SPY QQQ SPX ...); indices are fetched as _SPX etc."
        ),
        store: Path = StoreOpt,
        base_url: str = typer.Option(
            DEFAULT_BASE_URL,
            "--base-url",
            help="Replace the scheme and host (mirrors, tests); the API path is kept.",
        ),
        watchlist: Path | None = typer.Option(
            None,
            "--watchlist",
            help="File of symbols (one per line or comma-separated; # comments).",
        ),
        timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for an answer."),
        retries: int = typer.Option(
            3, "--retries", help="Retries on 429/5xx, timeouts and dropped connections."
        ),
        pause: float = typer.Option(1.0, "--pause", help="Seconds between two symbols."),
        json_out: bool = JsonOpt,
    ) -> None:
        """Download Cboe's delayed quotes for each symbol, save the raw JSON under the store and ingest it.

        Exit code 2 if any symbol failed; the others are stored, a failed one leaves the store as it was.
        """
        wanted = list(symbols or [])
        if watchlist is not None:
            wanted += read_watchlist(watchlist)
        seen: dict[str, str] = {}
        for s in wanted:
            seen.setdefault(cboe_symbol(s), s)
        if not seen:
            raise FetchError(
                "no symbol to fetch",
                hint="give tickers (chainlens fetch SPY QQQ) or --watchlist FILE",
            )
        if retries < 0 or timeout <= 0:
            raise FetchError("--retries must be >= 0 and --timeout > 0")
        cboe_url("X", base_url)  # validate the base URL once, before any request
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]fetch[/] {task.description}"),
            TimeElapsedColumn(),
            console=console_err,
            transient=True,
            disable=not console_err.is_terminal,
        )
        with progress:
            task = progress.add_task("", total=len(seen))

            def on_event(sym: str, msg: str) -> None:
                progress.update(task, description=f"{sym}: {msg}")
                if "retry" in msg:
                    console_err.print(f"[yellow]{sym}[/]: {msg}", highlight=False)

            results = fetch_symbols(
                list(seen.values()),
                store,
                base_url=base_url,
                timeout=timeout,
                retries=retries,
                pause=pause,
                on_event=on_event,
            )
        if json_out:
            emit_json([asdict(r) for r in results])
        else:
            _print(results)
        failed = sum(r.status == "failed" for r in results)
        if failed:
            raise ChainlensError(
                f"{failed} of {len(results)} symbol(s) failed; the store keeps none of their data"
            )


def _print(results: list[FetchResult]) -> None:
    t = Table(title="fetch")
    for c in ("symbol", "session", "status", "contracts", "rejected"):
        t.add_column(c, justify="right" if c in ("contracts", "rejected") else "left")
    style = {"ingested": "green", "unchanged": "cyan", "failed": "bold red"}
    for r in results:
        t.add_row(
            r.symbol,
            r.session or "—",
            f"[{style.get(r.status, '')}]{r.status}[/]",
            f"{r.accepted:,}",
            f"{r.rejected:,}",
        )
    console.print(t)
    for r in results:
        if r.error:
            console.print(f"[red]{r.symbol}[/]: {r.error}", highlight=False, soft_wrap=True)
        elif r.raw_path:
            console.print(f"{r.symbol}: raw payload {r.raw_path}", highlight=False, soft_wrap=True)
