"""Read-only access to a store's results for the dashboard (public APIs only).

:class:`StoreReader` opens a :class:`chainlens.store.Store` read-only and reads what the daily
pipeline stored (``chainlens run``) through public functions only:
:meth:`~chainlens.store.Store.results_index`, :meth:`~chainlens.store.Store.read_results`,
:meth:`~chainlens.store.Store.read_docs` / :meth:`~chainlens.store.Store.read_market`,
:meth:`~chainlens.store.Store.chain`, :meth:`~chainlens.store.Store.oi_history`,
:meth:`~chainlens.store.Store.sessions`. It never writes. Everything it reads is cached in
memory for the life of the server, keyed by session (stored results do not change under a
read-only reader; restart ``chainlens serve`` after a new ``chainlens run``).

DuckDB connections are not safe to share between threads, so every store call holds one
store lock; the cache has its own lock, held only to look up and to insert, so a slow first
computation (a scanner over the store) never blocks requests whose data is already cached.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

if TYPE_CHECKING:
    from chainlens.store import Store

__all__ = ["StoreReader", "result_sessions"]

T = TypeVar("T")


def result_sessions(store: Store) -> list[dt.date]:
    """Sessions with stored pipeline results (:meth:`Store.result_sessions`)."""
    return store.result_sessions()


class StoreReader:
    """A read-only, cached view of one store's stored results.

    Parameters
    ----------
    root
        The store directory (``--store``). It must exist: a reader never creates a store.
    """

    def __init__(self, root: str | Path) -> None:
        from chainlens.store import Store

        self.root = Path(root).resolve()
        self._store = Store(self.root, create=False, read_only=True)
        self._lock = threading.RLock()  # the cache dict
        self._store_lock = threading.RLock()  # the DuckDB connection
        self._cache: dict[tuple[Any, ...], Any] = {}

    def close(self) -> None:
        """Close the store connection."""
        with self._store_lock:
            self._store.close()

    # ------------------------------------------------------------------ cache
    def cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """The cached value of ``key``, made by ``make()`` on first use (bounded cache)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = make()  # outside the cache lock: other requests go on meanwhile
        with self._lock:
            if key in self._cache:  # made meanwhile by another thread: keep one
                return self._cache[key]
            if len(self._cache) > 512:  # bounded: drop the oldest entries
                for k in list(self._cache)[:128]:
                    del self._cache[k]
            self._cache[key] = value
            return value

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._store_lock:
            return fn()

    def peek(self, key: tuple[Any, ...]) -> Any:
        """The cached value of ``key``, or None."""
        with self._lock:
            return self._cache.get(key)

    # ------------------------------------------------------------------ results
    def sessions(self) -> list[dt.date]:
        """Sessions with pipeline results, ascending."""
        return self.cached(
            ("sessions",), lambda: self._locked(lambda: result_sessions(self._store))
        )

    def docs(self, session: dt.date) -> dict[str, dict[str, Any]]:
        """The per-underlying pipeline documents of ``session`` (underlying -> doc)."""

        def make() -> dict[str, dict[str, Any]]:
            docs: list[Any] = self._locked(lambda: self._store.read_docs(session))
            return {d["underlying"]: d for d in docs}

        return self.cached(("docs", session), make)

    def market(self, session: dt.date) -> dict[str, Any]:
        """The stored market-wide rollup of ``session``."""
        return self.cached(
            ("market", session),
            lambda: self._locked(lambda: dict(self._store.read_market(session))),
        )

    def parts(self, session: dt.date) -> set[str]:
        """Names of the stored pipeline result parts of ``session``."""
        from chainlens.results import RESULTS_NAME

        def make() -> set[str]:
            idx = self._locked(self._store.results_index)
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
            return self._locked(lambda: self._store.read_results(RESULTS_NAME, session, part))

        return self.cached(("part", session, part), make)

    # ------------------------------------------------------------------ raw store
    def chain(self, underlying: str, session: dt.date) -> pa.Table:
        """The default chain snapshot of ``underlying`` in ``session``."""
        return self.cached(
            ("chain", underlying, session),
            lambda: self._locked(lambda: self._store.chain(underlying, session)),
        )

    def oi_history(self, underlying: str, end: dt.date) -> pa.Table:
        """OI and volume per contract and session up to ``end`` (``Store.oi_history``)."""
        return self.cached(
            ("oi_history", underlying, end),
            lambda: self._locked(lambda: self._store.oi_history(underlying, end=end)),
        )

    def snapshots(self) -> pa.Table:
        """Every stored chain snapshot (``Store.sessions``)."""
        return self.cached(("snapshots",), lambda: self._locked(self._store.sessions))

    def results_index(self) -> pa.Table:
        """Every stored results part (``Store.results_index``)."""
        return self.cached(("results_index",), lambda: self._locked(self._store.results_index))

    def store_scan(self, kind: str, session: dt.date) -> pa.Table:
        """One scanner over the store on ``session`` (:func:`chainlens.scan.store_scan`)."""
        from chainlens.scan import store_scan

        return self.cached(
            ("scan", kind, session),
            lambda: self._locked(lambda: store_scan(self._store, kind, session)),
        )

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
