"""Read-only access to a store's results for the dashboard (public APIs only).

:class:`StoreReader` reads a :class:`chainlens.store.Store` read-only through public functions
only: :meth:`~chainlens.store.Store.results_index`, :meth:`~chainlens.store.Store.read_results`,
:meth:`~chainlens.store.Store.read_docs` / :meth:`~chainlens.store.Store.read_market`,
:meth:`~chainlens.store.Store.chain`, :meth:`~chainlens.store.Store.oi_history`,
:meth:`~chainlens.store.Store.sessions`. It never writes.

**Freshness.** Everything read is cached in memory, in one *generation*. Each request first
compares a fingerprint of the store's catalog (``stat`` of ``catalog.duckdb`` and its
write-ahead log, the layout of docs/store.md: a few microseconds) with the fingerprint of the
current generation (:meth:`StoreReader.refresh_if_changed`). When it changed (a ``chainlens
run`` or ``ingest`` committed), the reader reopens the store and starts a new, empty
generation, so the next page shows the new or replaced results. While another process holds
the store for writing the reopening waits for it (DuckDB lets no reader in meanwhile); the
request waits at most :data:`REFRESH_WAIT_S` and is served from the previous generation if
the writer is still busy (later requests wait only :data:`REFRESH_GRACE_S` while that
writer runs, so the first request after it lets go sees its commit).

**Connections.** The catalog connection is opened on the first store read of a request and
closed when no request is in flight (:meth:`StoreReader.request`), so a ``chainlens run``
can open the store read-write while the server is up. DuckDB connections are not safe to
share between threads, so every store call holds one store lock; the cache has its own lock,
held only to look up and to insert, so a slow first computation (a scanner over the store)
never blocks requests whose data is already cached.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

if TYPE_CHECKING:
    from chainlens.store import Store

__all__ = [
    "REFRESH_GRACE_S",
    "REFRESH_WAIT_S",
    "StoreReader",
    "catalog_fingerprint",
    "result_sessions",
]

T = TypeVar("T")

#: The catalog file of a store and its DuckDB write-ahead log (Store layout, docs/store.md).
CATALOG_FILES = ("catalog.duckdb", "catalog.duckdb.wal")
#: Seconds a request waits for a changed store to be reopened before it is served from the
#: previous generation (a writer still holds the store).
REFRESH_WAIT_S = 2.0
#: Seconds every request waits for a refresh that is still waiting for a writer, after the
#: first :data:`REFRESH_WAIT_S`: the store is polled every 0.2 s, so a request made just
#: after the writer lets go sees its commit instead of the previous generation.
REFRESH_GRACE_S = 0.5


def catalog_fingerprint(root: Path) -> tuple[Any, ...]:
    """``(inode, size, mtime_ns)`` of the catalog and its write-ahead log (None if absent):
    any commit to the store changes it."""
    out: list[Any] = []
    for name in CATALOG_FILES:
        try:
            s = os.stat(root / name)
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((s.st_ino, s.st_size, s.st_mtime_ns))
    return tuple(out)


def result_sessions(store: Store) -> list[dt.date]:
    """Sessions with stored pipeline results (:meth:`Store.result_sessions`)."""
    return store.result_sessions()


class StoreReader:
    """A read-only, cached view of one store's stored results (refreshed when it changes).

    Parameters
    ----------
    root
        The store directory (``--store``). It must exist: a reader never creates a store.
    """

    def __init__(self, root: str | Path) -> None:
        from chainlens.store import Store

        self.root = Path(root).resolve()
        self._lock = threading.RLock()  # the cache dict and the generation
        self._store_lock = threading.RLock()  # the DuckDB connection
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.generation = 0
        self._in_flight = 0
        self._refreshing: threading.Thread | None = None
        self._refresh_started = 0.0
        self._measuring: dict[tuple[Any, ...], threading.Thread] = {}
        self._stopping = False
        self._fp = catalog_fingerprint(self.root)
        # fail now (no store, unreadable catalog) rather than on the first request
        self._store: Any = Store(self.root, create=False, read_only=True)
        self._release_if_idle()

    def close(self) -> None:
        """Close the store connection (it is reopened on the next read)."""
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the background measurements (their next store call raises) and wait for
        them at most ``timeout`` seconds in all, then close the connection: the server's
        shutdown, so that no thread is inside DuckDB when the process exits."""
        self._stopping = True
        end = time.monotonic() + timeout
        for th in list(self._measuring.values()):
            th.join(max(0.0, end - time.monotonic()))
        self.close()

    # ------------------------------------------------------------------ freshness
    def changed(self) -> bool:
        """Whether the catalog changed since the current generation was read (one ``stat``)."""
        return catalog_fingerprint(self.root) != self._fp

    def refresh_if_changed(self, wait: float = REFRESH_WAIT_S) -> bool:
        """Start a new generation if the catalog changed since the current one was read;
        wait up to ``wait`` seconds for it. Returns whether the current generation is fresh."""
        if not self.changed():
            return True
        with self._lock:
            t = self._refreshing
            if t is None or not t.is_alive():
                t = threading.Thread(target=self._refresh, name="chainlens-serve-refresh")
                t.daemon = True
                self._refreshing = t
                self._refresh_started = time.monotonic()
                t.start()
            # a writer still holds the store: the first ``wait`` seconds of requests wait,
            # later ones REFRESH_GRACE_S (one or two 0.2 s polls of the store)
            left = wait - (time.monotonic() - self._refresh_started)
        t.join(max(min(wait, REFRESH_GRACE_S), left))
        return not t.is_alive()

    def _refresh(self) -> None:
        from chainlens.store import Store

        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            try:
                # waits while a writer holds the store (Store's bounded wait)
                st = Store(self.root, create=False, read_only=True)
            except Exception:  # still busy or gone: the next request tries again
                return
            fp = catalog_fingerprint(self.root)  # no writer now: the state we will read
            self._store = st
            with self._lock:
                self._cache = {}
                self._fp = fp
                self.generation += 1
            if self._in_flight == 0:
                self.close()

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Bracket one request: the connection is closed when no request is in flight."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
            self._release_if_idle()

    def _release_if_idle(self) -> None:
        # never wait here: a refresh may hold the store lock while a writer runs (it closes
        # the connection itself when it ends with no request in flight)
        if not self._store_lock.acquire(blocking=False):
            return
        try:
            with self._lock:
                if self._in_flight == 0 and self._store is not None:
                    self._store.close()
                    self._store = None
        finally:
            self._store_lock.release()

    # ------------------------------------------------------------------ cache
    def cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """The cached value of ``key``, made by ``make()`` on first use (bounded cache)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            gen = self.generation
        value = make()  # outside the cache lock: other requests go on meanwhile
        with self._lock:
            if gen != self.generation:  # made from a store state that has been replaced
                return value
            if key in self._cache:  # made meanwhile by another thread: keep one
                return self._cache[key]
            if len(self._cache) > 512:  # bounded: drop the oldest entries
                for k in list(self._cache)[:128]:
                    del self._cache[k]
            self._cache[key] = value
            return value

    def _locked(self, fn: Callable[[Any], T]) -> T:
        from chainlens.store import Store

        with self._store_lock:
            if self._store is None:
                self._store = Store(self.root, create=False, read_only=True)
            return fn(self._store)

    def peek(self, key: tuple[Any, ...]) -> Any:
        """The cached value of ``key``, or None."""
        with self._lock:
            return self._cache.get(key)

    # ------------------------------------------------------------------ results
    def sessions(self) -> list[dt.date]:
        """Sessions with pipeline results, ascending."""
        return self.cached(("sessions",), lambda: self._locked(result_sessions))

    def docs(self, session: dt.date) -> dict[str, dict[str, Any]]:
        """The per-underlying pipeline documents of ``session`` (underlying -> doc)."""

        def make() -> dict[str, dict[str, Any]]:
            docs: list[Any] = self._locked(lambda st: st.read_docs(session))
            return {d["underlying"]: d for d in docs}

        return self.cached(("docs", session), make)

    def market(self, session: dt.date) -> dict[str, Any]:
        """The stored market-wide rollup of ``session``."""
        return self.cached(
            ("market", session), lambda: self._locked(lambda st: dict(st.read_market(session)))
        )

    def parts(self, session: dt.date) -> set[str]:
        """Names of the stored pipeline result parts of ``session``."""
        from chainlens.results import RESULTS_NAME

        def make() -> set[str]:
            idx = self._locked(lambda st: st.results_index())
            rows = zip(
                idx.column("name").to_pylist(),
                idx.column("session").to_pylist(),
                idx.column("part").to_pylist(),
                strict=True,
            )
            return {p for n, d, p in rows if n == RESULTS_NAME and d == session}

        return self.cached(("parts", session), make)

    def part(self, session: dt.date, part: str) -> pa.Table | None:
        """One stored pipeline results part of ``session`` (all underlyings), or None."""
        from chainlens.results import RESULTS_NAME

        def make() -> pa.Table | None:
            if part not in self.parts(session):
                return None
            return self._locked(lambda st: st.read_results(RESULTS_NAME, session, part))

        return self.cached(("part", session, part), make)

    # ------------------------------------------------------------------ raw store
    def chain(self, underlying: str, session: dt.date) -> pa.Table:
        """The default chain snapshot of ``underlying`` in ``session``."""
        return self.cached(
            ("chain", underlying, session),
            lambda: self._locked(lambda st: st.chain(underlying, session)),
        )

    def oi_history(self, underlying: str, end: dt.date) -> pa.Table:
        """OI and volume per contract and session up to ``end`` (``Store.oi_history``)."""
        return self.cached(
            ("oi_history", underlying, end),
            lambda: self._locked(lambda st: st.oi_history(underlying, end=end)),
        )

    def snapshots(self) -> pa.Table:
        """Every stored chain snapshot (``Store.sessions``)."""
        return self.cached(("snapshots",), lambda: self._locked(lambda st: st.sessions()))

    def results_index(self) -> pa.Table:
        """Every stored results part (``Store.results_index``)."""
        return self.cached(("results_index",), lambda: self._locked(lambda st: st.results_index()))

    def store_scan(self, kind: str, session: dt.date) -> pa.Table:
        """One scanner over the store on ``session`` (:func:`chainlens.scan.store_scan`)."""
        from chainlens.scan import store_scan

        return self.cached(
            ("scan", kind, session),
            lambda: self._locked(lambda st: store_scan(st, kind, session)),
        )

    def what_worked(self, session: dt.date, *, wait: float = 0.0) -> list[dict[str, Any]] | None:
        """ "What Worked Yesterday" of ``session`` (issue 16: the outcome rules measured on the
        store, :func:`chainlens.report._outcomes.session_outcomes` over the session's
        underlyings), or None while it is being measured.

        The measurement re-analyses every stored session of every underlying (seconds to
        tens of seconds on the demo store), so it runs once per cache generation in a
        background thread; it reaches the store one call at a time through the shared
        connection (:class:`_PerCallStore`: the connection is released after each call when
        no request is in flight, so a ``chainlens run`` is not held up), and no request waits
        for it beyond ``wait`` seconds."""
        key = ("what_worked", session)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            th = self._measuring.get(key)
            if th is None or not th.is_alive():
                gen = self.generation
                th = threading.Thread(
                    target=self._measure_what_worked, args=(key, session, gen),
                    name="chainlens-serve-outcomes", daemon=True,
                )  # fmt: skip
                self._measuring[key] = th
                th.start()
        if wait > 0:
            th.join(wait)
            return self.peek(key)
        return None

    def _measure_what_worked(self, key: tuple[Any, ...], session: dt.date, gen: int) -> None:
        import logging

        from chainlens.report._outcomes import session_outcomes

        try:
            tickers = sorted(self.docs(session))
            ww = session_outcomes(_PerCallStore(self), session, tickers)["what_worked"]
        except Exception:  # logged; the page says it could not be measured
            if self._stopping:
                return
            logging.getLogger("chainlens.serve").exception("what worked %s", session)
            ww = None
        with self._lock:
            if gen == self.generation:
                self._cache[key] = ww if ww is not None else []

    def rejects(self) -> list[dict[str, Any]]:
        """The rejects files of the store: ``name``, ``bytes``, ``modified`` (UTC ISO)."""

        def make() -> list[dict[str, Any]]:
            d = self.root / "rejects"
            out = []
            if d.is_dir():
                for p in sorted(d.glob("*.csv")):
                    st = p.stat()
                    ts = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
                    out.append({"name": p.name, "bytes": st.st_size, "modified": ts.isoformat()})
            return out

        return self.cached(("rejects",), make)

    @functools.cached_property
    def is_demo(self) -> bool:
        """Whether the store was made by ``chainlens demo``."""
        return (self.root / ".chainlens-demo").exists()


class _PerCallStore:
    """A :class:`~chainlens.store.Store` stand-in for background work: every method call goes
    through the reader's store lock and connection, which is released after the call when no
    request is in flight (a writer can take the store between two calls)."""

    def __init__(self, reader: StoreReader) -> None:
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._reader._stopping:
                raise RuntimeError("the server is shutting down")
            try:
                return self._reader._locked(lambda st: getattr(st, name)(*args, **kwargs))
            finally:
                self._reader._release_if_idle()

        return call
