"""The chainlens store: a DuckDB catalog over immutable Parquet partitions.

See :class:`Store` for the guarantees (idempotent, atomic, locked) and the snapshot rules.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainlens import schema
from chainlens._dates import parse_date
from chainlens.errors import (
    ChainlensError,
    InputError,
    NotFoundError,
    StoreError,
    file_problem,
)
from chainlens.paths import DEFAULT_STORE
from chainlens.store._reading import NameRows, _read_errors, read_name_rows
from chainlens.store._results import ResultsMixin
from chainlens.store._sizes import SizesMixin
from chainlens.store._stage import (
    DATED_KINDS,
    PLAIN_KINDS,
    Staged,
    StagedFile,
    Stager,
    file_checksum,
    iter_files,
    sort_trades_by_dictionary,
    stage_results_file,
)

__all__ = [
    "IngestResult",
    "ProgressFn",
    "StagedFile",
    "Store",
    "file_checksum",
    "read_partition",
    "read_partition_rows",
]

CATALOG = "catalog.duckdb"
LOCKFILE = ".lock"
SCHEMA_VERSION = "1"
#: Rows per adapter batch during ingest: bounds peak memory (a few hundred MB) for any file size.
INGEST_BATCH_ROWS = 250_000
#: Rows per adapter batch while checking a verbatim candidate: nothing is sorted or written
#: then; smaller batches let the next read overlap the current validation, larger ones cost
#: less per row (fixed costs per batch; measured in bench_store.py: 128k beat 64k by ~10% CPU).
VERBATIM_BATCH_ROWS = 131_072
#: Files read, validated and staged at once by :meth:`Store.ingest_many` (the machine
#: class chainlens targets has 2 cores; publishing stays one file at a time).
INGEST_WORKERS = 2
#: Rows per block of the compiled clean-file proof of a verbatim chain file
#: (:mod:`chainlens.io._verify`): per-block costs are Python calls, per-row costs are compiled,
#: so blocks are larger (measured in bench_store.py: 256k rows ~10% faster than 128k).
VERIFY_BATCH_ROWS = 262_144
#: The canonical Parquet adapter's format name (``chainlens.io._parquet.FORMAT``).
_PARQUET_FORMAT = "canonical_parquet"
_DATA_DIRS = (*DATED_KINDS, *PLAIN_KINDS, "results", "rejects")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_TS = pa.timestamp("ns", tz="UTC")
_HINT_SESSIONS = "run `chainlens sessions` to see what the store holds"

#: ``progress(path, rows_read_so_far)``, called after every adapter batch.
ProgressFn = Callable[[str, int], None]

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS sources (
    source_id VARCHAR NOT NULL, seq BIGINT NOT NULL, sha256 VARCHAR, path VARCHAR NOT NULL,
    format VARCHAR NOT NULL, ingested_at TIMESTAMPTZ NOT NULL, rows_read BIGINT NOT NULL,
    accepted BIGINT NOT NULL, rejected BIGINT NOT NULL, rejects_file VARCHAR, kinds VARCHAR
);
CREATE TABLE IF NOT EXISTS files (
    file VARCHAR NOT NULL, source_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    trade_date DATE, rows BIGINT NOT NULL, checksum VARCHAR
);
CREATE TABLE IF NOT EXISTS snapshots (
    snapshot_id VARCHAR NOT NULL, source_id VARCHAR NOT NULL, seq BIGINT NOT NULL,
    file VARCHAR NOT NULL, underlying VARCHAR NOT NULL, trade_date DATE NOT NULL,
    snapshot_ns BIGINT NOT NULL, contracts BIGINT NOT NULL, kind VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    name VARCHAR NOT NULL, session DATE NOT NULL, part VARCHAR NOT NULL,
    file VARCHAR NOT NULL, rows BIGINT NOT NULL, checksum VARCHAR
);
ALTER TABLE files ADD COLUMN IF NOT EXISTS checksum VARCHAR;
ALTER TABLE results ADD COLUMN IF NOT EXISTS checksum VARCHAR;
"""

# Default snapshot per session: the latest quote snapshot (ties: the latest ingested), and
# beside it the latest OI-only snapshot whose OI fills the quote snapshot's missing OI.
_DEFAULT_SQL = """
WITH r AS (
    SELECT *, row_number() OVER (
        PARTITION BY trade_date, kind ORDER BY snapshot_ns DESC, seq DESC) AS rn
    FROM snapshots
    WHERE underlying = $u AND trade_date BETWEEN $start AND $end
),
q AS (SELECT * FROM r WHERE rn = 1 AND kind = 'quotes'),
o AS (SELECT * FROM r WHERE rn = 1 AND kind = 'oi_only')
SELECT coalesce(q.trade_date, o.trade_date) AS trade_date,
       coalesce(q.file, o.file) AS file,
       coalesce(q.snapshot_ns, o.snapshot_ns) AS snapshot_ns,
       CASE WHEN q.file IS NOT NULL THEN o.file END AS oi_file,
       CASE WHEN q.file IS NOT NULL THEN o.snapshot_ns END AS oi_ns
FROM q FULL OUTER JOIN o ON q.trade_date = o.trade_date
ORDER BY 1
"""


#: The default snapshot of every (underlying, session) in a window, for many underlyings at
#: once (the rule of ``_DEFAULT_SQL``), numbered from the latest session of each underlying.
_DEFAULT_MANY_SQL = """
WITH r AS (
    SELECT *, row_number() OVER (
        PARTITION BY underlying, trade_date, kind ORDER BY snapshot_ns DESC, seq DESC) AS rn
    FROM snapshots
    WHERE trade_date BETWEEN $start AND $end
      AND ($all OR underlying IN (SELECT unnest($names::VARCHAR[])))
),
q AS (SELECT * FROM r WHERE rn = 1 AND kind = 'quotes'),
o AS (SELECT * FROM r WHERE rn = 1 AND kind = 'oi_only'),
d AS (
    SELECT coalesce(q.underlying, o.underlying) AS underlying,
           coalesce(q.trade_date, o.trade_date) AS trade_date,
           coalesce(q.file, o.file) AS file,
           coalesce(q.snapshot_ns, o.snapshot_ns) AS snapshot_ns,
           CASE WHEN q.file IS NOT NULL THEN o.file END AS oi_file,
           CASE WHEN q.file IS NOT NULL THEN o.snapshot_ns END AS oi_ns,
           coalesce(q.contracts, o.contracts) AS contracts
    FROM q FULL OUTER JOIN o ON q.underlying = o.underlying AND q.trade_date = o.trade_date
)
SELECT *, row_number() OVER (PARTITION BY underlying ORDER BY trade_date DESC) AS back
FROM d ORDER BY underlying, trade_date
"""


@dataclass
class IngestResult:
    """What happened to one input file (the ``chainlens ingest --json`` object).

    ``rows_read == accepted + rejected`` always holds. ``status`` is ``"ingested"``,
    ``"unchanged"`` (same content already stored; counts are those of the first ingest) or
    ``"failed"`` (nothing was stored; ``error`` says why).
    """

    path: str
    format: str
    status: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    error: str | None = None
    kinds: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the SPEC key order (extra keys after the stable ones)."""
        return asdict(self)


class _NotVerbatim(Exception):
    """A canonical Parquet file turned out not to be publishable byte for byte."""


#: Errors of one input file that make its ingest "failed" (the store is left unchanged).
_INGEST_ERRORS = (
    ChainlensError,
    OSError,
    ValueError,
    UnicodeError,
    pa.ArrowException,
    duckdb.Error,
)


def _failed(res: IngestResult, path: str | Path, exc: BaseException) -> IngestResult:
    res.status = "failed"
    res.error = (
        str(exc) if isinstance(exc, ChainlensError) else f"{path}: {type(exc).__name__}: {exc}"
    )
    res.rows_read = res.accepted = res.rejected = 0
    res.kinds = {}
    return res


@dataclass
class _Prepared:
    """One input file read, validated and staged, waiting to be published (or a final result)."""

    res: IngestResult
    source_id: str | None = None
    stager: Stager | None = None
    path: Path | None = None
    sha256: str | None = None
    staged: list[Staged] | None = None

    def discard(self) -> None:
        """Close the stager and delete its staging directory (idempotent)."""
        if self.stager is not None:
            self.stager.close()
            shutil.rmtree(self.stager.dir, ignore_errors=True)
            self.stager = None


def _warm_shared_state() -> None:
    """Load what adapters share lazily (trading calendar, adapters' modules) before threads
    start, so no two threads build the same cache."""
    import chainlens.io  # noqa: F401
    from chainlens import calendar

    calendar.is_session(dt.date(2024, 1, 2))  # builds (or loads) the session table


@dataclass
class _Counts:
    """Row accounting of one staged input file."""

    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    first_reject: str | None = None
    format: str | None = None


#: Seconds a process waits for another one holding the store (``CHAINLENS_LOCK_TIMEOUT``).
LOCK_TIMEOUT_S = 120.0


def _lock_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("CHAINLENS_LOCK_TIMEOUT", LOCK_TIMEOUT_S)))
    except ValueError:
        return LOCK_TIMEOUT_S


def _connect(catalog: Path, root: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the catalog; while another process holds it, wait (bounded, saying so once on
    stderr), then fail with "store is busy". A read-only file system or missing permission
    is reported as such, never as "busy"."""
    import errno
    import sys
    import time

    deadline = time.monotonic() + _lock_timeout()
    said = False
    while True:
        try:
            return duckdb.connect(str(catalog), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            text = str(exc).replace("\n", " ")
            low = text.lower()
            if "read-only file system" in low or (
                not read_only and not os.access(root, os.W_OK) and "lock" not in low
            ):
                raise StoreError(
                    f"the store {root} is on a read-only file system ({text})",
                    hint="read commands (sessions, show, levels, report) work there; "
                    "ingest and run need a writable --store",
                ) from None
            if "permission denied" in low:
                raise StoreError(
                    f"permission denied opening the store catalog {catalog} ({text})",
                    hint="check the permissions of the store directory",
                ) from None
            if "lock" not in low and "conflicting" not in low:
                raise StoreError(f"cannot open the store catalog {catalog}: {text}") from None
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"store is busy: {root} is held by another chainlens process ({text})",
                    hint="wait for the other ingest or pipeline run to finish, then retry "
                    "(CHAINLENS_LOCK_TIMEOUT sets how long to wait, in seconds)",
                ) from None
            if not said:
                print(
                    f"chainlens: the store {root} is in use by another process; waiting up to "
                    f"{_lock_timeout():.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                said = True
            time.sleep(0.2)
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise StoreError(
                    f"the store {root} is on a read-only file system",
                    hint="ingest and run need a writable --store",
                ) from None
            raise
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store catalog {catalog}: {exc}") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _as_date(value: dt.date | str, what: str = "session") -> dt.date:
    return parse_date(value, what)


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InputError(f"{what} must match {_NAME_RE.pattern}", column=what, value=value)
    return value


def _empty(kind: str) -> pa.Table:
    return schema.SCHEMAS[kind].empty_table()


class Store(ResultsMixin, SizesMixin):
    """A local chainlens store: DuckDB catalog + Parquet partitions under ``root``.

    Parameters
    ----------
    root
        Store directory (``--store``; default ``./chainlens-data``).
    create
        Create an empty store if ``root`` holds none; otherwise :class:`NotFoundError`.
    read_only
        Open the catalog read-only: several read-only processes may share a store, but not
        while a writer holds it.

    Notes
    -----
    **Guarantees.**

    * *Idempotent*: the SHA-256 of each ingested file is recorded; ingesting the same bytes
      again (from any path) is a no-op reported as ``"unchanged"``.
    * *Atomic*: new data is written to ``<root>/tmp/<id>/``, re-read to validate its row
      counts, then published in one step: the files are renamed into place and their catalog
      rows committed in a single DuckDB transaction. Readers only ever open files listed in
      the catalog. Opening a store read-write removes staging leftovers and any file the
      catalog does not list, so a crash, ``kill -9`` or bad file midway leaves the store
      exactly as it was.
    * *Locked*: DuckDB's file lock lets one process at a time open the store read-write
      (another one gets :class:`StoreError` "store is busy"); inside a process, writes are
      serialised by an exclusive ``flock`` on ``<root>/.lock``.

    **Snapshots.** Every chain snapshot of an (underlying, session) is kept. The *default*
    snapshot of a session is the last snapshot at or after the session close, else the last
    one; as any snapshot after the close is later than all those before it, this is simply
    the quote snapshot with the latest ``snapshot_ts`` (ties: the one ingested last).
    OI-only snapshots (OCC open-interest files) are not quote snapshots: where a session has
    both, :meth:`chain` returns the quote snapshot with ``open_interest`` filled, contract by
    contract (same OSI ``symbol``), from the latest OI-only snapshot wherever the quote
    snapshot has none. A session with only an OI-only snapshot returns that snapshot.

    **Layout** (relative to ``root``)::

        catalog.duckdb                                  the catalog (sources, files, snapshots, results)
        chain/trade_date=YYYY-MM-DD/<source>.parquet    sorted by underlying, snapshot_ts, expiry, strike, right
        trades/trade_date=YYYY-MM-DD/<source>.parquet   sorted by underlying, ts
        prints/trade_date=YYYY-MM-DD/<source>.parquet   sorted by ticker, ts
        bars/ events/ sectors/<source>.parquet
        results/<name>/session=YYYY-MM-DD/<part>-<id>.parquet
        rejects/<stamp>_<source>_<file>.rejects.csv     path,row,column,value,reason (schema.REJECTS)

    Examples
    --------
    >>> import tempfile
    >>> with Store(tempfile.mkdtemp()) as st:
    ...     st.session_dates()
    []
    """

    def __init__(
        self, root: str | Path = DEFAULT_STORE, *, create: bool = True, read_only: bool = False
    ) -> None:
        self.root = Path(root).resolve()
        self.read_only = read_only
        catalog = self.root / CATALOG
        if not catalog.exists():
            if not create or read_only:
                raise NotFoundError(
                    f"no chainlens store at {self.root}",
                    hint="check --store, or create one with `chainlens ingest PATH`",
                )
            self.root.mkdir(parents=True, exist_ok=True)
        self._con = _connect(catalog, self.root, read_only)
        self._con.execute("SET TimeZone = 'UTC'")
        self._lock_fd: int | None = None
        if not read_only:
            self._con.execute(_DDL)
            if not self._con.execute(
                "SELECT count(*) FROM meta WHERE key = 'schema_version'"
            ).fetchall()[0][0]:
                self._con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            for d in (*_DATA_DIRS, "tmp"):
                (self.root / d).mkdir(exist_ok=True)
            with self._write_lock(wait=False, quiet=True) as got:
                if got:
                    self._cleanup()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the catalog connection (idempotent)."""
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
            self._con = None  # type: ignore[assignment]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, read_only={self.read_only})"

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError("the store is closed")
        return self._con

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(
                f"store {self.root} is open read-only", hint="open it with read_only=False"
            )

    class _Lock:
        def __init__(self, store: Store, wait: bool, quiet: bool) -> None:
            self.store, self.wait, self.quiet, self.fd = store, wait, quiet, -1

        def __enter__(self) -> bool:
            self.fd = os.open(self.store.root / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(self.fd)
                self.fd = -1
                if self.quiet:
                    return False
                raise StoreError(
                    f"store is busy: another writer is using {self.store.root}",
                    hint="wait for it to finish, then retry",
                ) from None
            return True

        def __exit__(self, *exc: object) -> None:
            if self.fd >= 0:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)

    def _write_lock(self, *, wait: bool = False, quiet: bool = False) -> Store._Lock:
        return Store._Lock(self, wait, quiet)

    def _cleanup(self) -> None:
        """Remove staging leftovers and every data file the catalog does not reference."""
        tmp = self.root / "tmp"
        for p in tmp.iterdir() if tmp.is_dir() else ():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        referenced = {
            r[0]
            for r in self.con.execute(
                "SELECT file FROM files UNION ALL SELECT file FROM results "
                "UNION ALL SELECT rejects_file FROM sources WHERE rejects_file IS NOT NULL"
            ).fetchall()
        }
        for p in iter_files(self.root, _DATA_DIRS):
            if p.relative_to(self.root).as_posix() not in referenced:
                p.unlink(missing_ok=True)
        for d in _DATA_DIRS:  # drop empty partition directories, deepest first
            base = self.root / d
            for sub in sorted(
                (p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
            ):
                if not any(sub.iterdir()):
                    sub.rmdir()

    # ------------------------------------------------------------------ publishing
    def _publish(
        self,
        *,
        source_id: str,
        sha256: str | None,
        path: str,
        fmt: str,
        staged: list[Staged],
        rejects: Path | None,
        rows_read: int,
        accepted: int,
        rejected: int,
        kinds: dict[str, int],
    ) -> tuple[bool, str | None]:
        """Rename staged files into place and commit their catalog rows in one transaction.

        Returns ``(published, rejects_rel)``; ``published`` is False when the same content was
        committed meanwhile (then nothing is changed).
        """
        con = self.con
        moved: list[Path] = []
        rejects_rel: str | None = None
        if rejects is not None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", Path(path).name)[:80] or "input"
            rejects_rel = f"rejects/{stamp}_{source_id[:12]}_{safe}.rejects.csv"
        con.execute("BEGIN TRANSACTION")
        try:
            same, seq = con.execute(
                "SELECT count(*) FILTER (WHERE sha256 = ?), coalesce(max(seq), 0) + 1 FROM sources",
                [sha256],
            ).fetchall()[0]
            if sha256 is not None and same:
                con.execute("ROLLBACK")
                return False, None
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?)",
                [
                    source_id,
                    seq,
                    sha256,
                    path,
                    fmt,
                    rows_read,
                    accepted,
                    rejected,
                    rejects_rel,
                    json.dumps(kinds),
                ],
            )
            file_rows = [
                [s.rel, source_id, s.kind, s.trade_date, s.rows, s.checksum] for s in staged
            ]
            _insert(con, "files", file_rows)
            # Snapshot ids: 12 random hex digits of the (uuid4) source id + a 4-digit counter.
            snap_rows = [
                [
                    f"{source_id[:12]}{i:04x}",
                    source_id,
                    seq,
                    s.rel,
                    u,
                    s.trade_date,
                    ns,
                    stat.contracts,
                    "quotes" if stat.quoted else "oi_only",
                ]
                for i, (s, (u, ns), stat) in enumerate(
                    (s, key, stat) for s in staged for key, stat in sorted(s.snapshots.items())
                )
            ]
            _insert(con, "snapshots", snap_rows)
            moves = [(s.staged, self.root / s.rel) for s in staged]
            if rejects is not None and rejects_rel is not None:
                moves.append((rejects, self.root / rejects_rel))
            _move_into_place(moves, moved)
            con.execute("COMMIT")
        except BaseException:
            _abort(con, moved)
            raise
        return True, rejects_rel

    def _new_stage(self) -> tuple[str, Stager]:
        source_id = uuid.uuid4().hex
        return source_id, Stager(self.root / "tmp" / source_id, source_id)

    # ------------------------------------------------------------------ ingest
    def ingest(
        self,
        path: str | Path,
        *,
        format: str | None = None,
        mapping: str | Path | None = None,
        progress: ProgressFn | None = None,
    ) -> IngestResult:
        """Ingest one file: detect its format, validate, store atomically.

        Input problems never raise: they come back as ``status="failed"`` with ``error`` set,
        and the store is left unchanged. Rejected rows go to a CSV under ``rejects/`` with
        columns ``path,row,column,value,reason``; its absolute path is ``rejects_path``.
        A file whose every row is rejected is ``"failed"`` (the reasons are summarised in
        ``error``; nothing is written). Raises :class:`StoreError` only for store problems
        (read-only, busy).
        """
        self._check_writable()
        with self._write_lock():
            return self._commit(
                self._prepare(path, format=format, mapping=mapping, progress=progress, con=self.con)
            )

    def ingest_many(
        self,
        paths: Iterable[str | Path],
        *,
        format: str | None = None,
        mapping: str | Path | None = None,
        progress: ProgressFn | None = None,
        on_file: Callable[[IngestResult], None] | None = None,
        workers: int = INGEST_WORKERS,
    ) -> list[IngestResult]:
        """Ingest several files; directories are expanded (recursively, sorted, hidden files skipped).

        Files inside the store itself are skipped. With ``workers > 1``, that many files are
        read, validated and staged at once on threads (Parquet decoding, the compiled checks,
        hashing and file I/O release the GIL) while the main thread publishes the finished
        ones one at a time, in input order, each in its own catalog transaction: the results
        and the store are the same as ingesting the files one by one. ``on_file`` is called
        with each result as it is published.
        """
        files = [p for p in expand_paths(paths) if not _inside(p, self.root)]
        self._check_writable()
        out: list[IngestResult] = []

        def done(r: IngestResult) -> None:
            out.append(r)
            if on_file is not None:
                on_file(r)

        with self._write_lock():
            if workers <= 1 or len(files) < 2:
                for f in files:
                    prep = self._prepare(
                        f, format=format, mapping=mapping, progress=progress, con=self.con
                    )
                    done(self._commit(prep))
                return out
            _warm_shared_state()
            todo = iter(files)
            pending: deque[tuple[Future[_Prepared], duckdb.DuckDBPyConnection]] = deque()
            with ThreadPoolExecutor(workers, thread_name_prefix="chainlens-ingest") as ex:

                def submit_next() -> None:
                    f = next(todo, None)
                    if f is not None:
                        cur = self.con.cursor()  # one connection per task (catalog lookups)
                        fut = ex.submit(
                            self._prepare,
                            f,
                            format=format,
                            mapping=mapping,
                            progress=progress,
                            con=cur,
                        )
                        pending.append((fut, cur))

                try:
                    for _ in range(workers):
                        submit_next()
                    while pending:
                        fut, cur = pending.popleft()
                        prep = fut.result()
                        cur.close()
                        submit_next()  # keep `workers` files in flight while this one publishes
                        done(self._commit(prep))
                finally:  # interrupted: discard what the threads staged
                    for fut, cur in pending:
                        try:
                            fut.result().discard()
                        except BaseException:  # already failing; an orphan is cleaned on open
                            pass
                        cur.close()
        return out

    def _prepare(
        self,
        path: str | Path,
        *,
        format: str | None,
        mapping: str | Path | None,
        progress: ProgressFn | None,
        con: duckdb.DuckDBPyConnection,
    ) -> _Prepared:
        """Read, validate and stage one file (no catalog change; ``con`` only looks up hashes).

        Safe to run on a worker thread with its own ``con`` (a cursor of the catalog)."""
        p = Path(path)
        res = IngestResult(path=str(path), format=format or "unknown", status="failed")
        if not p.is_file():
            res.error = f"{path}: {file_problem(p) or 'no such file'}"
            return _Prepared(res)
        from chainlens import io as cio  # the adapters (imported lazily: optional at import time)

        try:
            fmt = format or cio.detect_format(p)
        except ChainlensError as exc:
            res.error = _with_formats(str(exc), getattr(cio, "KNOWN_FORMATS", ()))
            return _Prepared(res)
        res.format = fmt
        source_id, stager = self._new_stage()
        prep = _Prepared(res, source_id=source_id, stager=stager, path=p)
        try:
            # A verbatim candidate is hashed from its staged copy; any other file on its own.
            verbatim = None
            if fmt == _PARQUET_FORMAT and mapping is None:
                verbatim = self._verbatim_candidate(p, stager)
            sha = stager.verbatim_sha256 if verbatim is not None else None
            if sha is None:
                sha = _sha256(p)
            prep.sha256 = sha
            unchanged = self._unchanged(con, str(path), sha)
            if unchanged is not None:
                prep.discard()
                return _Prepared(unchanged)
            # 1. a verbatim copy proved clean; 2. a canonical chain or trades file proved
            # clean, re-encoded;
            # 3. every rule, row by row (which names each bad row)
            counts: _Counts | None = None
            try_proof = fmt == _PARQUET_FORMAT and mapping is None
            if verbatim is not None:
                try:
                    counts = self._stage_batches(
                        verbatim,
                        fmt=fmt,
                        mapping=None,
                        stager=stager,
                        progress=progress,
                        label=str(path),
                        verbatim=True,
                    )
                except _NotVerbatim as exc:  # only the stored crossed flags wrong: re-encode
                    from chainlens.io._verify import VERBATIM_ONLY_REASONS

                    try_proof = bool(exc.args) and exc.args[0] in VERBATIM_ONLY_REASONS
                except (ChainlensError, OSError, ValueError, pa.ArrowException):
                    try_proof = False  # the normal path below reports any real problem
                if counts is None:
                    stager.abandon_verbatim()
            provable = self._provable_kind(p) if counts is None and try_proof else None
            if provable is not None:
                stage = (
                    self._stage_proved_chain if provable == "chain" else self._stage_proved_trades
                )
                try:
                    counts = stage(
                        p, stager=stager, progress=progress, label=str(path), verbatim=False
                    )
                except (_NotVerbatim, ChainlensError, OSError, ValueError, pa.ArrowException):
                    counts = None  # the full validation below says what is wrong
                    stager.reset()
            if counts is None:
                counts = self._stage_batches(
                    p,
                    fmt=fmt,
                    mapping=mapping,
                    stager=stager,
                    progress=progress,
                    label=str(path),
                    verbatim=False,
                )
            rows_read, accepted, rejected = counts.rows_read, counts.accepted, counts.rejected
            res.format = counts.format or fmt
            res.rows_read, res.accepted, res.rejected, res.kinds = (
                rows_read,
                accepted,
                rejected,
                counts.kinds,
            )
            if rows_read != accepted + rejected:
                raise StoreError(
                    f"{path}: rows read ({rows_read}) != accepted ({accepted}) + rejected ({rejected}); nothing stored"
                )
            if accepted == 0:
                if rejected == 0:
                    res.error = f"{path}: no data rows"
                else:
                    top = "; ".join(
                        f"{k} ({v})"
                        for k, v in sorted(counts.reasons.items(), key=lambda kv: -kv[1])[:5]
                    )
                    res.error = (
                        f"{path}: all {rejected} rows rejected: {top}. First: {counts.first_reject}"
                    )
                prep.discard()
                return _Prepared(res)
            prep.staged = stager.finish()
            return prep
        except _INGEST_ERRORS as exc:
            prep.discard()
            return _Prepared(_failed(res, path, exc))
        except BaseException:
            prep.discard()
            raise

    def _unchanged(
        self, con: duckdb.DuckDBPyConnection, path: str, sha: str | None
    ) -> IngestResult | None:
        """The "unchanged" result of content already stored (its first ingest's counts)."""
        found = con.execute(
            "SELECT format, rows_read, accepted, rejected, rejects_file, kinds "
            "FROM sources WHERE sha256 = ? ORDER BY seq LIMIT 1",
            [sha],
        ).fetchall()
        if not found:
            return None
        prev = found[0]
        return IngestResult(
            path=path,
            format=prev[0],
            status="unchanged",
            rows_read=prev[1],
            accepted=prev[2],
            rejected=prev[3],
            rejects_path=None if prev[4] is None else str(self.root / prev[4]),
            kinds=json.loads(prev[5] or "{}"),
        )

    def _commit(self, prep: _Prepared) -> IngestResult:
        """Publish a prepared file (rename into place + one catalog transaction) and clean up."""
        res = prep.res
        if prep.stager is None or prep.staged is None:
            return res
        try:
            assert prep.source_id is not None and prep.path is not None
            ok, rejects_rel = self._publish(
                source_id=prep.source_id,
                sha256=prep.sha256,
                path=str(prep.path.resolve()),
                fmt=res.format,
                staged=prep.staged,
                rejects=prep.stager.rejects_staged,
                rows_read=res.rows_read,
                accepted=res.accepted,
                rejected=res.rejected,
                kinds=res.kinds,
            )
            if not ok:  # the same content was published meanwhile (an earlier file of a batch)
                unchanged = self._unchanged(self.con, res.path, prep.sha256)
                return unchanged if unchanged is not None else res
            res.status = "ingested"
            res.rejects_path = None if rejects_rel is None else str(self.root / rejects_rel)
            return res
        except _INGEST_ERRORS as exc:
            return _failed(res, res.path, exc)
        finally:
            prep.discard()

    @staticmethod
    def _verbatim_candidate(p: Path, stager: Stager) -> Path | None:
        """The staged copy of ``p`` if its footer allows a verbatim publish, else None."""
        from chainlens.io._parquet import kind_of_schema

        try:
            names = pq.read_schema(p).names
        except (pa.ArrowInvalid, OSError):
            return None
        kind = kind_of_schema(names)
        if kind is None:
            return None
        return stager.begin_verbatim(p, kind)

    @staticmethod
    def _stage_batches(
        src: Path,
        *,
        fmt: str,
        mapping: str | Path | None,
        stager: Stager,
        progress: ProgressFn | None,
        label: str,
        verbatim: bool,
    ) -> _Counts:
        """Read ``src`` through its adapter and stage every batch; returns the counts.

        With ``verbatim`` (``src`` is the stager's verbatim copy of a canonical Parquet file),
        batches are validated and accounted but not re-encoded; the first batch that is not
        ``verbatim`` (a reject, a cast, out of order...) raises :class:`_NotVerbatim` and the
        caller stages the original file again the normal way. Rejects name ``label``.
        """
        from chainlens import io as cio

        if verbatim and stager.verbatim_kind in ("chain", "trades"):
            from chainlens.io import _verify

            if _verify.available():
                stage = (
                    Store._stage_proved_chain
                    if stager.verbatim_kind == "chain"
                    else Store._stage_proved_trades
                )
                return stage(src, stager=stager, progress=progress, label=label, verbatim=True)
        c = _Counts()
        batch_rows = VERBATIM_BATCH_ROWS if verbatim else INGEST_BATCH_ROWS
        for batch in cio.read_file(
            src,
            format=fmt,
            mapping=None if mapping is None else Path(mapping),
            batch_rows=batch_rows,
        ):
            if verbatim:
                if not batch.verbatim or not stager.add_verbatim(batch.kind, batch.table):
                    raise _NotVerbatim
                n_ok, n_bad = batch.table.num_rows, 0
            else:
                n_ok = stager.add(batch.kind, batch.table)
                n_bad = stager.add_rejects(batch.rejects)
            if batch.rejects.num_rows:
                counts = pc.value_counts(batch.rejects.column("reason"))
                for item in counts.to_pylist():  # one per distinct reason
                    c.reasons[item["values"]] = c.reasons.get(item["values"], 0) + item["counts"]
                if c.first_reject is None:
                    r0 = batch.rejects.slice(0, 1).to_pylist()[0]
                    c.first_reject = str(
                        InputError(
                            r0["reason"],
                            path=Path(label),
                            row=r0["row"],
                            column=r0["column"],
                            value=r0["value"],
                        )
                    )
            c.rows_read += batch.rows_read
            c.accepted += n_ok
            c.rejected += n_bad
            c.kinds[batch.kind] = c.kinds.get(batch.kind, 0) + n_ok
            c.format = batch.format or fmt
            if progress is not None:
                progress(label, c.rows_read)
        if verbatim:
            expect = pq.ParquetFile(src).metadata.num_rows
            if c.rows_read != expect or c.accepted != expect:
                raise _NotVerbatim
        return c

    @staticmethod
    def _stage_proved_chain(
        src: Path, *, stager: Stager, progress: ProgressFn | None, label: str, verbatim: bool
    ) -> _Counts:
        """Stage a canonical chain file proved clean block by block by the compiled check
        (:mod:`chainlens.io._verify`) instead of running every rule.

        With ``verbatim``, ``src`` is the stager's verbatim copy and is only accounted (rows
        in the store's order); otherwise rows may come in any order (keys hashed for
        duplicates) and each proved block is written, sorted first if it is not (no rule left
        to apply). Raises :class:`_NotVerbatim` at the first block the check cannot prove clean
        (the caller then runs the full validation, which names the bad rows).
        """
        from chainlens.io._parquet import FORMAT, iter_tables
        from chainlens.io._verify import DICTIONARY_COLUMNS, MAX_HASHED_ROWS, ChainVerifier

        pf = pq.ParquetFile(src, read_dictionary=list(DICTIONARY_COLUMNS))
        rows = pf.metadata.num_rows
        ver = ChainVerifier(
            stager.verbatim_day if verbatim else None,
            verbatim=verbatim,
            # re-encoding: any row order (each block sorted here, keys hashed for duplicates)
            ordered=verbatim or rows > MAX_HASHED_ROWS,
            expected_rows=rows,
        )
        c = _Counts(format=FORMAT)
        for table in iter_tables(pf, schema.CHAIN.names, VERIFY_BATCH_ROWS):
            # one block per batch: row groups' dictionaries merged, chunks concatenated
            for rb in table.unify_dictionaries().combine_chunks().to_batches():
                runs = ver.check(rb)
                if runs is None:
                    raise _NotVerbatim(ver.reason)
                if verbatim:
                    stager.add_verbatim_checked("chain", rb.num_rows, runs)
                else:
                    assert ver.day is not None
                    block = pa.Table.from_batches([rb]).cast(schema.CHAIN)  # strings decoded
                    i = schema.CHAIN.get_field_index("crossed")
                    block = block.set_column(i, schema.CHAIN.field(i), ver.crossed)
                    if ver.in_order:
                        stager.add_checked(ver.day, block, runs)
                    else:  # sorted, and its snapshots counted, by the stager
                        stager.add("chain", block)
                c.rows_read += rb.num_rows
            if progress is not None:
                progress(label, c.rows_read)
        if c.rows_read != pf.metadata.num_rows:
            raise _NotVerbatim("rows read differ from the footer's count")
        c.accepted = c.rows_read
        c.kinds["chain"] = c.rows_read
        return c

    @staticmethod
    def _stage_proved_trades(
        src: Path, *, stager: Stager, progress: ProgressFn | None, label: str, verbatim: bool
    ) -> _Counts:
        """Stage a canonical trades file proved clean block by block by the compiled check
        (:class:`chainlens.io._verify.TradesVerifier`) instead of running every rule.

        With ``verbatim``, ``src`` is the stager's verbatim copy and is only accounted (rows
        of its session, in the store's order); otherwise each proved block is staged as the
        full validation stages its batches (same batch size and stable sort, done here on
        the dictionary indices). Raises
        :class:`_NotVerbatim` at the first block the check cannot prove clean (the caller then
        runs the full validation, which names the bad rows).
        """
        from chainlens.io._parquet import FORMAT, iter_tables
        from chainlens.io._verify import TRADES_DICTIONARY_COLUMNS, TradesVerifier

        pf = pq.ParquetFile(src, read_dictionary=list(TRADES_DICTIONARY_COLUMNS))
        ver = TradesVerifier(stager.verbatim_day if verbatim else None, ordered=verbatim)
        c = _Counts(format=FORMAT)
        batch_rows = VERIFY_BATCH_ROWS if verbatim else INGEST_BATCH_ROWS
        for table in iter_tables(pf, schema.TRADES.names, batch_rows):
            # one block per batch: row groups' dictionaries merged, chunks concatenated
            for rb in table.unify_dictionaries().combine_chunks().to_batches():
                if not ver.check(rb):
                    raise _NotVerbatim(ver.reason)
                if verbatim:
                    stager.add_verbatim_checked("trades", rb.num_rows, [])
                else:  # sorted here through the dictionary (then only checked by the stager)
                    block = pa.Table.from_batches([rb])
                    if not ver.in_order:
                        block = sort_trades_by_dictionary(block)
                    stager.add("trades", block.cast(schema.TRADES))  # split by session
                c.rows_read += rb.num_rows
            if progress is not None:
                progress(label, c.rows_read)
        if c.rows_read != pf.metadata.num_rows:
            raise _NotVerbatim("rows read differ from the footer's count")
        c.accepted = c.rows_read
        c.kinds["trades"] = c.rows_read
        return c

    @staticmethod
    def _provable_kind(p: Path) -> str | None:
        """``"chain"`` or ``"trades"`` when ``p`` is a Parquet file with exactly that kind's
        canonical columns and types (then the compiled proof may stage it without the
        per-rule validation), else None."""
        from chainlens.io import _verify

        if not _verify.available():
            return None
        try:
            sch = pq.read_schema(p)
        except (pa.ArrowInvalid, OSError):
            return None
        for kind in ("chain", "trades"):
            want = schema.SCHEMAS[kind]
            if sch.names == want.names and all(sch.field(f.name).type == f.type for f in want):
                return kind
        return None

    def add_tables(self, tables: Mapping[str, pa.Table], *, source: str) -> None:
        """Atomically publish canonical tables (``{"chain": t, "trades": t, ...}``).

        For the simulator and tests. Each table is conformed to ``schema.SCHEMAS[kind]``
        (an :class:`InputError` names the offending kind/column). Not deduplicated: adding the
        same tables twice stores them twice (two snapshots with equal content).
        """
        self._check_writable()
        for kind in tables:
            if kind not in schema.SCHEMAS:
                raise InputError(
                    f"unknown table kind; expected one of {sorted(schema.SCHEMAS)}", value=kind
                )
        with self._write_lock():
            source_id, stager = self._new_stage()
            try:
                kinds: dict[str, int] = {}
                for kind, table in tables.items():
                    try:
                        kinds[kind] = stager.add(kind, table)
                    except (KeyError, pa.ArrowException) as exc:
                        raise InputError(
                            f"table {kind!r} does not conform to the canonical schema: {exc}",
                            path=source,
                        ) from None
                n = sum(kinds.values())
                staged = stager.finish()
                self._publish(
                    source_id=source_id,
                    sha256=None,
                    path=source,
                    fmt="tables",
                    staged=staged,
                    rejects=None,
                    rows_read=n,
                    accepted=n,
                    rejected=0,
                    kinds=kinds,
                )
            finally:
                stager.close()
                shutil.rmtree(stager.dir, ignore_errors=True)

    # ------------------------------------------------------------------ catalog queries
    def sessions(self, underlying: str | None = None) -> pa.Table:
        """Every stored chain snapshot.

        Columns: ``underlying``, ``session`` (date), ``snapshot_ts`` (UTC), ``contracts``,
        ``kind`` (``'quotes'`` | ``'oi_only'``), ``snapshot_id``, ``default`` (the snapshot
        :meth:`chain` returns by default; for an OI-only snapshot merged into a quote snapshot
        it is False), ``source`` (the input file), ``ingested_at``. Sorted by underlying,
        session, snapshot_ts.
        """
        rel = self.con.sql(
            """
            WITH r AS (
                SELECT s.*, src.path AS source, src.ingested_at,
                       row_number() OVER (PARTITION BY s.underlying, s.trade_date
                           ORDER BY (s.kind = 'quotes') DESC, s.snapshot_ns DESC, s.seq DESC) AS rn
                FROM snapshots s JOIN sources src USING (source_id)
                WHERE $u IS NULL OR s.underlying = $u
            )
            SELECT underlying, trade_date AS session, snapshot_ns, contracts, kind, snapshot_id,
                   rn = 1 AS "default", source, ingested_at
            FROM r ORDER BY underlying, session, snapshot_ns, seq
            """,
            params={"u": underlying},
        ).to_arrow_table()
        ts = rel.column("snapshot_ns").cast(pa.int64()).cast(_TS)
        return rel.set_column(
            rel.schema.get_field_index("snapshot_ns"), pa.field("snapshot_ts", _TS), ts
        )

    def underlyings(self, session: dt.date | None = None) -> list[str]:
        """Underlyings with at least one chain snapshot (in ``session`` if given), sorted."""
        rows = self.con.execute(
            "SELECT DISTINCT underlying FROM snapshots WHERE $d IS NULL OR trade_date = $d ORDER BY 1",
            {"d": None if session is None else _as_date(session)},
        ).fetchall()
        return [r[0] for r in rows]

    def session_dates(self, underlying: str | None = None) -> list[dt.date]:
        """Sessions with at least one chain snapshot (of ``underlying`` if given), ascending."""
        rows = self.con.execute(
            "SELECT DISTINCT trade_date FROM snapshots WHERE $u IS NULL OR underlying = $u ORDER BY 1",
            {"u": underlying},
        ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ reading chains
    def _read(
        self,
        rel: str,
        kind: str,
        filt: pc.Expression | None,
        columns: Sequence[str] | None = None,
        *,
        names: pa.Array | None = None,
    ) -> pa.Table:
        """:func:`read_partition` of a catalogued file, its checksum checked first;
        ``names``: only the rows of these underlyings (instead of ``filt``)."""
        self.check_file(rel)
        by = None if names is None else ("underlying", names)
        return read_partition(self.root, rel, kind, filt, columns, names=by)

    # ------------------------------------------------------------------ integrity
    def _checksum_of(self, rel: str) -> tuple[bool, str | None]:
        """(catalogued, recorded checksum) of a stored file (checksum None: stored before
        checksums were recorded)."""
        try:
            rows = self.con.execute(
                "SELECT checksum FROM files WHERE file = ? UNION ALL "
                "SELECT checksum FROM results WHERE file = ?",
                [rel, rel],
            ).fetchall()
        except duckdb.BinderException:  # a catalog from before checksums, opened read-only
            return True, None
        return (bool(rows), rows[0][0] if rows else None)

    def _origin(self, rel: str) -> str:
        """What to do about a damaged file: re-ingest its source, or re-run the pipeline."""
        row = self.con.execute(
            "SELECT s.path FROM files f JOIN sources s USING (source_id) WHERE f.file = ?", [rel]
        ).fetchall()
        drop = f"`chainlens verify --store {self.root} --drop-damaged`"
        if row:
            return f"run {drop}, then re-ingest its source {row[0][0]}"
        return f"run {drop}, then re-run `chainlens run` for that session"

    def check_file(self, rel: str) -> None:
        """Verify a stored file against the checksum the catalog recorded for it, once per
        file per process (a file is re-checked if its size or mtime changes).

        Raises
        ------
        StoreError
            The file is missing, or its bytes differ from what was stored (bit rot, a
            truncated or padded copy, an edit outside chainlens): it is never read as numbers.
        """
        path = self.root / rel
        try:
            st = path.stat()
        except FileNotFoundError:
            raise StoreError(
                f"catalogued file {rel} is missing from {self.root}", hint=self._origin(rel)
            ) from None
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key in _VERIFIED:
            return
        _, expected = self._checksum_of(rel)
        if expected is not None and file_checksum(path) != expected:
            raise StoreError(
                f"damaged store file {path}: its bytes do not match the checksum recorded "
                "when it was stored",
                hint=self._origin(rel),
            )
        _VERIFIED.add(key)

    def verify(self) -> list[dict[str, Any]]:
        """Check every stored file (``chainlens verify``): one dict per problem found
        (``file``, ``problem``, ``action``); an empty list means the store is intact."""
        rows = self.con.execute(
            "SELECT file, checksum, rows FROM files UNION ALL SELECT file, checksum, rows FROM results"
        ).fetchall()
        problems: list[dict[str, Any]] = []
        for rel, expected, _n in rows:  # a loop over stored files, not rows
            path = self.root / rel
            why = None
            if not path.is_file():
                why = "missing"
            elif expected is None:
                why = None  # stored before checksums were recorded: nothing to compare
            elif file_checksum(path) != expected:
                why = "checksum mismatch (damaged, truncated or modified)"
            if why is not None:
                problems.append({"file": rel, "problem": why, "action": self._origin(rel)})
            else:
                st = path.stat()
                _VERIFIED.add((str(path), st.st_size, st.st_mtime_ns))
        return problems

    def drop_damaged(self) -> list[dict[str, Any]]:
        """Remove what :meth:`verify` reports from the store, so it can be re-ingested: every
        file and catalog row of a damaged file's source (or the damaged results part).
        Returns the problems that were dropped."""
        self._check_writable()
        problems = self.verify()
        if not problems:
            return []
        with self._write_lock():
            con = self.con
            con.execute("BEGIN TRANSACTION")
            try:
                for p in problems:  # a loop over damaged files
                    src = con.execute(
                        "SELECT source_id FROM files WHERE file = ?", [p["file"]]
                    ).fetchall()
                    if src:
                        sid = src[0][0]
                        con.execute("DELETE FROM files WHERE source_id = ?", [sid])
                        con.execute("DELETE FROM snapshots WHERE source_id = ?", [sid])
                        con.execute("DELETE FROM sources WHERE source_id = ?", [sid])
                    con.execute("DELETE FROM results WHERE file = ?", [p["file"]])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._cleanup()  # unreferenced files go
        return problems

    def _snapshot(
        self, rel: str, underlying: str, ns: int, columns: Sequence[str] | None = None
    ) -> pa.Table:
        filt = (pc.field("underlying") == underlying) & (
            pc.field("snapshot_ts") == pa.scalar(ns, pa.int64()).cast(_TS)
        )
        return self._read(rel, "chain", filt, columns)

    def _default_rows(self, underlying: str, start: dt.date, end: dt.date) -> list[tuple[Any, ...]]:
        return self.con.execute(
            _DEFAULT_SQL, {"u": underlying, "start": start, "end": end}
        ).fetchall()

    def _assemble(
        self, row: tuple[Any, ...], underlying: str, columns: Sequence[str] | None = None
    ) -> pa.Table:
        _, rel, ns, oi_rel, oi_ns = row
        cols = (
            None if columns is None else list(dict.fromkeys([*columns, "symbol", "open_interest"]))
        )
        t = self._snapshot(rel, underlying, ns, cols)
        if oi_rel is not None and t.num_rows:
            oi = self._snapshot(oi_rel, underlying, oi_ns, ["symbol", "open_interest"])
            t = _fill_oi(t, oi)
        return t if columns is None else t.select(list(columns))

    def chain(
        self, underlying: str, session: dt.date, *, snapshot: str | dt.datetime = "default"
    ) -> pa.Table:
        """One underlying's chain for a session (``schema.CHAIN``).

        Parameters
        ----------
        snapshot
            ``"default"`` (the rule in the class Notes, with OI-only OI merged in), ``"all"``
            (every snapshot of the session, by ``snapshot_ts``, nothing merged), a
            ``snapshot_id`` from :meth:`sessions`, or a ``datetime`` (tz-aware; naive = UTC)
            equal to a ``snapshot_ts``.

        Raises
        ------
        NotFoundError
            When the store holds no such session or snapshot.
        """
        d = _as_date(session)
        if isinstance(snapshot, str) and snapshot == "default":
            rows = self._default_rows(underlying, d, d)
            if not rows:
                raise self._not_found(underlying, d)
            return self._assemble(rows[0], underlying)
        base = (
            "SELECT file, snapshot_ns FROM snapshots WHERE underlying = $u AND trade_date = $d AND "
        )
        params: dict[str, Any] = {"u": underlying, "d": d}
        if isinstance(snapshot, dt.datetime):
            ts = snapshot if snapshot.tzinfo else snapshot.replace(tzinfo=dt.UTC)
            params["v"] = pa.scalar(ts, _TS).cast(pa.int64()).as_py()
            sql = base + "snapshot_ns = $v ORDER BY snapshot_ns, seq"
        elif snapshot == "all":
            sql = base + "true ORDER BY snapshot_ns, seq"
        else:
            params["v"] = snapshot
            sql = base + "snapshot_id = $v ORDER BY snapshot_ns, seq"
        found = self.con.execute(sql, params).fetchall()
        if not found:
            if snapshot == "all":
                raise self._not_found(underlying, d)
            raise NotFoundError(
                f"no snapshot {snapshot!s} of {underlying} on {d}", hint=_HINT_SESSIONS
            )
        parts = [self._snapshot(rel, underlying, ns) for rel, ns in found]
        return pa.concat_tables(parts)

    def _not_found(self, underlying: str, d: dt.date) -> NotFoundError:
        have = self.session_dates(underlying)
        if not have:
            return NotFoundError(
                f"the store at {self.root} holds no chain of {underlying}", hint=_HINT_SESSIONS
            )
        return NotFoundError(
            f"no {underlying} chain for session {d} (stored: {have[0]} .. {have[-1]}, {len(have)} sessions)",
            hint=_HINT_SESSIONS,
        )

    def _window(
        self, underlying: str, start: dt.date | None, end: dt.date, n_sessions: int | None
    ) -> list[tuple[Any, ...]]:
        lo = dt.date.min if start is None else _as_date(start, "start")
        rows = self._default_rows(underlying, lo, _as_date(end, "end"))
        if n_sessions is not None:
            if n_sessions < 1:
                raise InputError("n_sessions must be >= 1", column="n_sessions", value=n_sessions)
            rows = rows[-n_sessions:]
        return rows

    def chain_history(
        self,
        underlying: str,
        *,
        end: dt.date,
        n_sessions: int | None = None,
        start: dt.date | None = None,
    ) -> pa.Table:
        """The default snapshot of every session of ``underlying`` in a window, oldest first.

        The window is the sessions in ``[start, end]`` (``start`` open if None), of which the
        last ``n_sessions`` if given. Sessions missing from the store are simply absent. An
        empty window gives an empty ``schema.CHAIN`` table.
        """
        rows = self._window(underlying, start, end, n_sessions)
        if not rows:
            return _empty("chain")
        return pa.concat_tables([self._assemble(r, underlying) for r in rows])

    def oi_history(
        self,
        underlying: str,
        *,
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pa.Table:
        """Open interest and volume per contract and session, from the default snapshots.

        Columns ``trade_date``, ``symbol``, ``open_interest``, ``volume`` (contracts), sorted by
        session then file order. ``symbols`` restricts to those OSI symbols. OI in a row dated D
        is the OCC figure before D opens (SPEC "Open-interest timing").
        """
        rows = self._window(underlying, start, dt.date.max if end is None else end, None)
        cols = ["trade_date", "symbol", "open_interest", "volume"]
        if not rows:
            return _empty("chain").select(cols)
        parts = []
        wanted = None if symbols is None else pa.array(list(symbols), pa.string())
        for r in rows:  # one iteration per session
            t = self._assemble(r, underlying, cols)
            if wanted is not None:
                t = t.filter(pc.is_in(t.column("symbol"), value_set=wanted))
            parts.append(t)
        return pa.concat_tables(parts)

    # ------------------------------------------------------------------ many underlyings
    def default_snapshots(
        self,
        *,
        end: dt.date,
        n_sessions: int | None = None,
        start: dt.date | None = None,
        underlyings: Sequence[str] | None = None,
    ) -> pa.Table:
        """The catalog rows of the default snapshots :meth:`chain_history` reads, for many
        underlyings at once (all if ``underlyings`` is None); no data file is opened.

        Per underlying, the sessions in ``[start, end]`` of which its last ``n_sessions``
        (each underlying's own sessions: a name listed later, or missing a session, reaches
        further back). Columns ``underlying``, ``trade_date``, ``contracts`` (rows of the
        snapshot), ``file``, ``snapshot_ns``, ``oi_file``, ``oi_ns`` (the OI-only snapshot merged
        in, null if none); sorted by underlying, session.
        """
        lo = dt.date.min if start is None else _as_date(start, "start")
        if n_sessions is not None and n_sessions < 1:
            raise InputError("n_sessions must be >= 1", column="n_sessions", value=n_sessions)
        names = [] if underlyings is None else [str(u) for u in underlyings]
        t = self.con.sql(
            _DEFAULT_MANY_SQL,
            params={
                "start": lo, "end": _as_date(end, "end"), "all": underlyings is None, "names": names,
            },
        ).to_arrow_table()  # fmt: skip
        if n_sessions is not None:
            t = t.filter(pc.less_equal(t.column("back"), n_sessions))
        return t.select(
            ["underlying", "trade_date", "contracts", "file", "snapshot_ns", "oi_file", "oi_ns"]
        )

    def _chain_rows(
        self, snaps: pa.Table, file_col: str, ns_col: str, columns: Sequence[str] | None
    ) -> list[pa.Table]:
        """The rows of the snapshots ``snaps`` (catalog rows of one session) name in
        ``file_col`` / ``ns_col``: each file read once for all its underlyings."""
        return _chain_rows(self._read_chain, snaps, file_col, ns_col, columns)

    def _read_chain(
        self, rel: str, names: pa.Array | None, columns: Sequence[str] | None
    ) -> pa.Table:
        return self._read(rel, "chain", None, columns, names=names)

    def chain_block(
        self,
        underlyings: Sequence[str] | None,
        *,
        end: dt.date,
        n_sessions: int | None = None,
        start: dt.date | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """:meth:`chain_history` of many underlyings (all if None) in one table: each
        session's files are read once for all of them.

        Equal to ``concat(chain_history(u, ...) for u in sorted(underlyings))``: rows sorted by
        underlying, then session, each snapshot in its file order; each underlying has its own
        window (:meth:`default_snapshots`). ``columns``: only these ``schema.CHAIN`` columns
        (cast to their canonical types); all if None.
        """
        snaps = self.default_snapshots(
            end=end, n_sessions=n_sessions, start=start, underlyings=underlyings
        )
        return _chain_block(self._read_chain, snaps, columns)

    def trades_block(
        self,
        underlyings: Sequence[str] | None,
        session: dt.date,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """:meth:`trades` of many underlyings (all if None) in ``session``, each file read
        once: the rows of each underlying are those of :meth:`trades`, in the same order
        (underlyings interleave only where several sources hold the session). ``columns``:
        only these ``schema.TRADES`` columns (canonical types); all if None."""
        return _trades_block(
            lambda rel, names, cols: self._read(rel, "trades", None, cols, names=names),
            self.dated_files("trades", session),
            underlyings,
            columns,
        )

    # ------------------------------------------------------------------ other tables
    def trades(self, underlying: str, session: dt.date) -> pa.Table:
        """Option trades of ``underlying`` in ``session`` (``schema.TRADES``), by source then time.

        Empty (not an error) when none are stored.
        """
        parts = [
            self._read(f, "trades", pc.field("underlying") == underlying)
            for f in self.dated_files("trades", session)
        ]
        return pa.concat_tables(parts) if parts else _empty("trades")

    def prints(self, ticker: str | None, session: dt.date) -> pa.Table:
        """Off-exchange equity prints of ``ticker`` (all tickers if None) in ``session``."""
        filt = None if ticker is None else pc.field("ticker") == ticker
        parts = [self._read(f, "prints", filt) for f in self.dated_files("prints", session)]
        return pa.concat_tables(parts) if parts else _empty("prints")

    def table(self, kind: str, session: dt.date | None = None) -> pa.Table:
        """All stored rows of an optional table: ``bars``, ``events`` or ``sectors``.

        With ``session``, bars are those of that session and events those dated that day
        (sectors ignore it). Rows of every source are concatenated in ingest order.
        """
        if kind not in PLAIN_KINDS:
            raise InputError(
                f"table kind must be one of {list(PLAIN_KINDS)}", column="kind", value=kind
            )
        rows = self.con.execute(
            "SELECT f.file FROM files f JOIN sources s USING (source_id) WHERE f.kind = ? ORDER BY s.seq",
            [kind],
        ).fetchall()
        filt = None
        if session is not None and kind != "sectors":
            col = "trade_date" if kind == "bars" else "date"
            filt = pc.field(col) == pa.scalar(_as_date(session), pa.date32())
        parts = [self._read(r[0], kind, filt) for r in rows]
        return pa.concat_tables(parts) if parts else _empty(kind)

    # ------------------------------------------------------------------ results
    def stage_dir(self) -> Path:
        """A new directory under the store's ``tmp`` where a writer (a pool worker) may stage
        results files for :meth:`write_results` (``files=``). It is removed by the write that
        takes its files, and any leftover by the next read-write open of the store."""
        self._check_writable()
        stage = self.root / "tmp" / uuid.uuid4().hex
        stage.mkdir(parents=True)
        return stage

    def write_results(
        self,
        name: str,
        session: dt.date,
        tables: Mapping[str, pa.Table],
        *,
        files: Mapping[str, Sequence[StagedFile]] | None = None,
    ) -> None:
        """Atomically replace the results ``(name, session)`` by ``tables`` (``part -> table``)
        and ``files``.

        Each part of ``tables`` is stored as one Parquet file (sorted by ``underlying`` when it
        has one, so :meth:`read_results` with ``underlying=`` prunes row groups). Each part of
        ``files`` is the Parquet files a writer staged (:func:`stage_results_file`, in a
        :meth:`stage_dir`), in order: the part's rows are theirs, concatenated in that order
        (the local runner's pool workers write their blocks' parts so). Each staged file's
        rows are checked against its footer. Parts of an earlier write that are absent are
        removed too.
        """
        self._check_writable()
        _check_name(name, "name")
        d = _as_date(session)
        staged_parts = dict(files or {})
        for part in [*tables, *staged_parts]:
            _check_name(part, "part")
        both = set(tables) & set(staged_parts)
        if both:
            raise InputError(
                f"results part {sorted(both)[0]!r} given both as a table and as files",
                column="part",
                value=sorted(both)[0],
            )
        for part, fs in staged_parts.items():
            for f in fs:
                _check_staged(name, part, f)
        with self._write_lock():
            stage = self.root / "tmp" / uuid.uuid4().hex
            stage.mkdir(parents=True)
            moved: list[Path] = []
            try:

                def stage_part(item: tuple[str, pa.Table]) -> tuple[str, Path, int, str]:
                    part, t = item
                    rel = f"results/{name}/session={d.isoformat()}/{part}-{uuid.uuid4().hex[:12]}.parquet"
                    f = stage_results_file(t, stage, part)
                    _check_staged(name, part, f)
                    return (rel, Path(f.path), f.rows, f.checksum)

                # the parts are encoded on threads (pyarrow's writer releases the GIL)
                items = list(tables.items())
                if len(items) > 1:
                    with ThreadPoolExecutor(
                        max_workers=min(len(items), os.cpu_count() or 1, 4),
                        thread_name_prefix="chainlens-results",
                    ) as ex:
                        new = list(ex.map(stage_part, items))
                else:
                    new = [stage_part(x) for x in items]
                rows = [
                    [name, d, part, rel, n, ck]
                    for (rel, _, n, ck), part in zip(new, tables, strict=True)
                ]
                moves = [(staged, self.root / rel) for rel, staged, _, _ in new]
                for part, fs in staged_parts.items():
                    key = uuid.uuid4().hex[:12]
                    for i, f in enumerate(fs):  # the order of the files is in their names
                        rel = f"results/{name}/session={d.isoformat()}/{part}-{key}-{i:05d}.parquet"
                        rows.append([name, d, part, rel, f.rows, f.checksum])
                        moves.append((Path(f.path), self.root / rel))
                con = self.con
                con.execute("BEGIN TRANSACTION")
                try:
                    old = [
                        r[0]
                        for r in con.execute(
                            "SELECT file FROM results WHERE name = ? AND session = ?", [name, d]
                        ).fetchall()
                    ]
                    con.execute("DELETE FROM results WHERE name = ? AND session = ?", [name, d])
                    if rows:
                        con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)", rows)
                    _move_into_place(moves, moved)
                    con.execute("COMMIT")
                except BaseException:
                    _abort(con, moved)
                    raise
                for rel in old:  # now unreferenced; a crash here is cleaned on next open
                    (self.root / rel).unlink(missing_ok=True)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
                for d_ in {Path(f.path).parent for fs in staged_parts.values() for f in fs}:
                    shutil.rmtree(d_, ignore_errors=True)

    def read_results(
        self, name: str, session: dt.date, part: str, *, underlying: str | None = None
    ) -> pa.Table:
        """One stored results part, optionally only the rows of ``underlying``.

        Raises
        ------
        NotFoundError
            If ``(name, session, part)`` was never written.
        """
        return self._read_results_files(
            self._results_files(name, _as_date(session), part),
            None if underlying is None else [underlying],
        )

    def _read_results_files(self, rels: Sequence[str], names: Sequence[str] | None) -> pa.Table:
        """The rows of a results part stored as the files ``rels`` (checked), in order; only
        those of the underlyings ``names`` when given and the part has an ``underlying``
        column."""
        from chainlens.store._reading import names_filter

        out = []
        for rel in rels:  # a loop over a part's files (one, or one per block)
            path = self.root / rel
            with _read_errors(rel):
                filt = None
                if names is not None and "underlying" in pq.read_schema(path).names:
                    filt = (
                        pc.field("underlying") == names[0]
                        if len(names) == 1
                        else names_filter("underlying", [str(u) for u in names])
                    )
                out.append(pq.read_table(path, filters=filt))
        return out[0] if len(out) == 1 else pa.concat_tables(out)

    def results_index(self) -> pa.Table:
        """Every stored results part: ``name``, ``session``, ``part``, ``rows``."""
        return self.con.sql(
            "SELECT name, session, part, CAST(sum(rows) AS BIGINT) AS rows FROM results "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).to_arrow_table()


_INSERT_SQL = {
    t: f"INSERT INTO {t} SELECT * FROM _chainlens_new_rows"
    for t in ("files", "snapshots", "results")
}


#: One-row inserts into the catalog tables (column counts fixed by ``_DDL``).
_INSERT_ROW_SQL = {
    "files": "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
    "snapshots": "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "results": "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)",
}
#: Column names of the catalog tables (fixed by ``_DDL``), looked up once per process.
_COLUMNS: dict[str, list[str]] = {}


#: ``read(rel, names, columns)``: one stored partition of a fixed kind, only the rows of the
#: underlyings ``names`` (all if None), through :func:`read_partition`.
_ReadFn = Callable[[str, "pa.Array | None", "Sequence[str] | None"], pa.Table]


def _chain_rows(
    read: _ReadFn, snaps: pa.Table, file_col: str, ns_col: str, columns: Sequence[str] | None
) -> list[pa.Table]:
    """:meth:`Store._chain_rows` with the partition reader ``read``."""
    out = []
    files = snaps.column(file_col)
    for rel in pc.unique(files.drop_null()).to_pylist():  # a loop over files
        mine = snaps.filter(pc.equal(files, rel))
        names = mine.column("underlying").combine_chunks()
        cols = (
            None
            if columns is None
            else list(dict.fromkeys(["underlying", "snapshot_ts", *columns]))
        )
        t = read(rel, names, cols)
        # the rows of each underlying's own snapshot (a file may hold several)
        want = pc.take(mine.column(ns_col), pc.index_in(t.column("underlying"), names))
        got = t.column("snapshot_ts").cast(_TS).cast(pa.int64())
        out.append(t.filter(pc.fill_null(pc.equal(got, want), False)))
    return out


def _file_reader(root: Path, kind: str) -> _ReadFn:
    """The :data:`_ReadFn` of ``kind`` files under ``root`` read without the catalog
    (:func:`read_partition`, the ``names`` by their ``underlying``)."""

    def read(rel: str, names: pa.Array | None, cols: Sequence[str] | None) -> pa.Table:
        return read_partition(
            root, rel, kind, columns=cols, names=None if names is None else ("underlying", names)
        )

    return read


def _chain_block(read: _ReadFn, snaps: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    """:meth:`Store.chain_block` of the default-snapshot catalog rows ``snaps``
    (:meth:`Store.default_snapshots`), read with ``read``."""
    chain = schema.SCHEMAS["chain"]
    keep = list(chain.names) if columns is None else list(columns)
    if not snaps.num_rows:
        return _empty("chain").select(keep)
    # the OI-only snapshots are merged into open_interest only: not read without it
    with_oi = columns is None or "open_interest" in columns
    oi_cols = ["symbol", "open_interest"] if with_oi else []
    read_cols = (
        None
        if columns is None
        else list(dict.fromkeys([*columns, "underlying", "trade_date", *oi_cols]))
    )
    parts: list[pa.Table] = []
    days = snaps.column("trade_date")
    for d in pc.unique(days).to_pylist():  # a loop over sessions
        day = snaps.filter(pc.equal(days, pa.scalar(d, pa.date32())))
        qs = _chain_rows(read, day, "file", "snapshot_ns", read_cols)
        t = pa.concat_tables([_conform_cols(q, chain) for q in qs])
        fill = day.filter(pc.is_valid(day.column("oi_file")))
        if with_oi and fill.num_rows and t.num_rows:
            ois = _chain_rows(
                read, fill, "oi_file", "oi_ns", ["underlying", "symbol", "open_interest"]
            )
            oi = pa.concat_tables([_conform_cols(o, chain) for o in ois])
            t = _fill_oi_many(t, oi, fill.column("underlying"))
        parts.append(t.select(list(dict.fromkeys([*keep, "underlying", "trade_date"]))))
    out = pa.concat_tables(parts)
    # per underlying then session; the sort is stable (each snapshot keeps its file order)
    order = pc.sort_indices(
        out, sort_keys=[("underlying", "ascending"), ("trade_date", "ascending")]
    )
    return out.take(order).select(keep)


def _trades_block(
    read: _ReadFn,
    files: Sequence[str],
    underlyings: Sequence[str] | None,
    columns: Sequence[str] | None,
) -> pa.Table:
    """:meth:`Store.trades_block` of the session's trade ``files``, read with ``read``."""
    names = None
    if underlyings is not None:
        names = pa.array(sorted(str(u) for u in underlyings), pa.string())
        if not len(names):
            return _empty("trades").select(list(columns or schema.SCHEMAS["trades"].names))
    tr = schema.SCHEMAS["trades"]
    parts = [read(f, names, columns) for f in files]
    if columns is not None:
        parts = [_conform_cols(p, tr) for p in parts]
    if not parts:
        return _empty("trades").select(list(columns or tr.names))
    return pa.concat_tables(parts)


@dataclass(frozen=True)
class FileBlocks:
    """:meth:`Store.chain_block` and :meth:`Store.trades_block` without the catalog: the
    stored files read straight from ``root`` (:func:`read_partition`), for pool workers while
    the parent holds the store open for writing.

    The parent resolves the catalog once: ``snaps`` are the rows of
    :meth:`Store.default_snapshots` (one window, any underlyings) and ``trade_files`` the
    :meth:`Store.dated_files` of each session's trades. A block's reads then give what the
    store's methods give for those underlyings (the same code, another reader); no
    checksum is verified (as :func:`read_partition`).
    """

    root: str
    snaps: pa.Table
    trade_files: dict[dt.date, list[str]]

    def restrict(self, underlyings: Sequence[str]) -> FileBlocks:
        """The same reader holding only the catalog rows of ``underlyings`` (a task's share)."""
        names = pa.array([str(u) for u in underlyings], pa.string())
        snaps = self.snaps.filter(pc.is_in(self.snaps.column("underlying"), value_set=names))
        return FileBlocks(self.root, snaps, self.trade_files)

    def chain_block(
        self,
        underlyings: Sequence[str] | None,
        *,
        end: dt.date,
        start: dt.date | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """:meth:`Store.chain_block` of the window of ``snaps`` cut to ``[start, end]``."""
        s = self.snaps
        days = s.column("trade_date")
        keep = pc.less_equal(days, pa.scalar(end, pa.date32()))
        if start is not None:
            keep = pc.and_(keep, pc.greater_equal(days, pa.scalar(start, pa.date32())))
        if underlyings is not None:
            names = pa.array([str(u) for u in underlyings], pa.string())
            keep = pc.and_(keep, pc.is_in(s.column("underlying"), value_set=names))
        return _chain_block(_file_reader(Path(self.root), "chain"), s.filter(keep), columns)

    def trades_block(
        self,
        underlyings: Sequence[str] | None,
        session: dt.date,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """:meth:`Store.trades_block` of ``session`` (a session without ``trade_files``
        holds no trade)."""
        return _trades_block(
            _file_reader(Path(self.root), "trades"),
            self.trade_files.get(session, []),
            underlyings,
            columns,
        )


def _check_staged(name: str, part: str, f: StagedFile) -> None:
    """A staged results file holds the rows its writer counted (its footer says so), else
    :class:`StoreError`."""
    n = pq.ParquetFile(f.path).metadata.num_rows
    if n != f.rows:
        raise StoreError(
            f"results {name}/{part}: staged file {f.path} holds {n} rows, not {f.rows}"
        )


def read_partition(
    root: Path,
    rel: str,
    kind: str,
    filt: pc.Expression | None = None,
    columns: Sequence[str] | None = None,
    *,
    names: tuple[str, Sequence[str] | pa.Array] | None = None,
) -> pa.Table:
    """One stored Parquet partition (``rel`` under ``root``), filtered, as the canonical table
    of ``kind`` (or just ``columns``). Reads files only, never the catalog: pool workers call
    it while the parent holds the store open for writing.

    ``names=(column, values)`` (instead of ``filt``) keeps the rows whose ``column`` is one of
    ``values``, reading only the row groups that can hold them (:func:`read_names`)."""
    if names is not None:
        return read_partition_rows(root, rel, kind, names[0], names[1], columns).table
    path = Path(root) / rel
    try:
        with _read_errors(str(path)):
            t = pq.read_table(path, filters=filt, columns=list(columns) if columns else None)
    except FileNotFoundError:
        raise _missing(root, rel) from None
    if columns:
        return t
    return schema.conform(t, schema.SCHEMAS[kind])


def read_partition_rows(
    root: Path,
    rel: str,
    kind: str,
    column: str,
    values: Sequence[str] | pa.Array,
    columns: Sequence[str] | None = None,
) -> NameRows:
    """:func:`read_partition` of the rows whose ``column`` is one of ``values``, with where
    each value's rows are (:func:`~chainlens.store._reading.read_name_rows`;
    :meth:`~chainlens.store._reading.NameRows.by_name` splits them per value)."""
    path = Path(root) / rel
    try:
        with _read_errors(str(path)):
            rows = read_name_rows(path, column, values, columns)
    except FileNotFoundError:
        raise _missing(root, rel) from None
    if columns:
        return rows
    return rows.with_table(schema.conform(rows.table, schema.SCHEMAS[kind]))


def _missing(root: Path, rel: str) -> StoreError:
    return StoreError(
        f"catalogued file {rel} is missing from {root}",
        hint="the store was modified outside chainlens; re-ingest the source",
    )


#: Stored files verified against their checksum in this process: (path, size, mtime_ns).
_VERIFIED: set[tuple[str, int, int]] = set()


def _move_into_place(moves: list[tuple[Path, Path]], moved: list[Path]) -> None:
    """The publish step's file half: rename each staged file to its final path (recording it
    in ``moved``), inside the open catalog transaction that the caller then commits."""
    for staged, final in moves:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        moved.append(final)


def _abort(con: duckdb.DuckDBPyConnection, moved: list[Path]) -> None:
    """Undo a publish that failed before COMMIT: roll the catalog back and remove the files
    already moved into place (a kill here leaves files the catalog does not list; the next
    read-write open deletes them)."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass
    for f in moved:
        f.unlink(missing_ok=True)


#: Up to this many rows, a catalog insert is one parameterised statement per row (about
#: 0.8 ms each); more go through one registered Arrow table (a fixed ~5 ms, then ~free).
_FEW_ROWS = 4


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[list[Any]]) -> None:
    """Insert catalog rows: a few one statement each, many at once through Arrow."""
    if not rows:
        return
    if len(rows) <= _FEW_ROWS:
        sql = _INSERT_ROW_SQL[table]  # the catalog's own tables only; values are bound
        for r in rows:  # a loop over at most _FEW_ROWS catalog rows
            con.execute(sql, r)
        return
    names = _COLUMNS.get(table)
    if names is None:
        names = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = current_schema() "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
        ]
        _COLUMNS[table] = names
    arrow = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    con.register("_chainlens_new_rows", arrow)
    try:
        con.execute(_INSERT_SQL[table])
    finally:
        con.unregister("_chainlens_new_rows")


def _fill_oi(quotes: pa.Table, oi: pa.Table) -> pa.Table:
    """``open_interest`` of ``quotes`` where present, else that of the same ``symbol`` in ``oi``."""
    idx = pc.index_in(quotes.column("symbol"), value_set=oi.column("symbol"))
    other = pc.take(oi.column("open_interest"), idx)
    filled = pc.coalesce(quotes.column("open_interest"), other)
    i = quotes.schema.get_field_index("open_interest")
    return quotes.set_column(i, quotes.schema.field(i), filled)


def _conform_cols(t: pa.Table, canonical: pa.Schema) -> pa.Table:
    """The columns of ``t`` cast to their types in ``canonical`` (a subset read)."""
    return pa.table(
        {c: t.column(c).cast(canonical.field(c).type) for c in t.column_names},
    )


def _fill_oi_many(quotes: pa.Table, oi: pa.Table, filled: pa.Array | pa.ChunkedArray) -> pa.Table:
    """:func:`_fill_oi` for many underlyings: ``open_interest`` of the quote rows of the
    underlyings in ``filled`` completed from the first row of the same (underlying, symbol)
    in ``oi``."""
    sep = "\x1f"  # never in a symbol or an underlying
    qk = pc.binary_join_element_wise(quotes.column("underlying"), quotes.column("symbol"), sep)
    ok = pc.binary_join_element_wise(oi.column("underlying"), oi.column("symbol"), sep)
    other = pc.take(oi.column("open_interest"), pc.index_in(qk, value_set=ok))
    names = filled.combine_chunks() if isinstance(filled, pa.ChunkedArray) else filled
    mine = pc.is_in(quotes.column("underlying"), value_set=names)
    cur = quotes.column("open_interest")
    new = pc.if_else(mine, pc.coalesce(cur, other), cur)
    i = quotes.schema.get_field_index("open_interest")
    return quotes.set_column(i, quotes.schema.field(i), new)


def _with_formats(message: str, formats: Sequence[str]) -> str:
    if formats and not any(f in message for f in formats):
        return f"{message} (known formats: {', '.join(formats)})"
    return message


def _inside(p: Path, root: Path) -> bool:
    """Whether ``p`` lies in ``root`` (a symbolic-link loop does not: it fails, named)."""
    try:
        return p.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named by ``paths``; directories expand recursively (sorted, hidden entries skipped)."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel):
                    yield f
        else:
            yield p
