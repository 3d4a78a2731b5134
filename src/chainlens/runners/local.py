"""The local runner: map :func:`chainlens.pipeline.analyze_underlyings` over underlyings.

:class:`LocalRunner` implements :class:`chainlens.runners.base.Runner`; :func:`run_local` is
the one-session form the CLI (``chainlens run``) calls.

A session's underlyings are cut into *blocks* sized by the rows each brings (chain window +
trades + prints, :meth:`~chainlens.store.Store.window_rows`; :mod:`chainlens.runners._blocks`),
and every block goes through :func:`~chainlens.runners._blocks.analyze_block`, the helper the
Spark runner's groups use too: the kernel in chunks sized by rows, failures as messages, the
block's result parts built where it ran. The parent reads the catalog (DuckDB allows one
read-write process per store); pool workers read their own block's rows straight from the
stored Parquet files (one filtered read per file) when that gives what the store would
(otherwise the parent reads the block and hands them Arrow tables). On a whole-session run
the workers write their blocks' per-underlying parts as Parquet files in a staging directory
of the store (:data:`STAGE_PARTS`); the parent merges the scanner parts and the market rollup
and commits everything in one atomic :meth:`~chainlens.store.Store.write_results` per results
name (the staged files taken as the parts, one per block), so re-running a date replaces its
results and a failed run leaves none of its files. Workers are forked by a ``forkserver`` that
imported the kernel's modules once (:data:`FORKSERVER_PRELOAD`; ``spawn`` where there is no
fork server): Numba's GNU OpenMP is not fork-safe. Small runs stay in-process (blocks one
after the other), where the pool start-up would cost more than it saves.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._dates import parse_date
from chainlens.errors import NotFoundError
from chainlens.pipeline import PipelineConfig, UnderlyingWindow
from chainlens.results import MARKET_RESULTS, RESULTS_NAME, MarketDoc, UnderlyingDoc
from chainlens.runners._blocks import (
    BLOCK_MAX,
    BLOCK_ROWS,
    CHUNK_MAX,
    CHUNK_ROWS,
    BlockOut,
    analyze_block,
    merge_blocks,
    ranges_by_rows,
)
from chainlens.runners.base import ProgressFn, RunSummary, with_other_results
from chainlens.store import Store, read_partition_rows

if TYPE_CHECKING:
    from chainlens.scan._store_scans import NetDeltaTask

__all__ = [
    "MARKET_RESULTS",
    "RESULTS_NAME",
    "LocalRunner",
    "iter_windows",
    "load_window",
    "read_docs",
    "read_market",
    "run_local",
    "run_session",
]
#: Pool workers read their own block's rows from the stored files (see :func:`run_local`).
WORKERS_READ = True
#: Pool workers write their blocks' per-underlying parts as Parquet files the store then
#: takes (:meth:`~chainlens.store.Store.write_results` ``files=``) instead of pickling the
#: tables back to the parent (see :func:`run_local`).
STAGE_PARTS = True
#: Below this many underlyings the runner stays in-process (on a busy 2-core machine the pool
#: start-up and pickling cost more than they save for the 30-underlying demo: 24 s vs 14 s).
MIN_PARALLEL = 200
# The block and chunk limits (BLOCK_ROWS, BLOCK_MAX, CHUNK_ROWS, CHUNK_MAX, imported from
# chainlens.runners._blocks) are read from this module's globals at each run.


def _worker_init(main_pid: int | None = None) -> None:
    """Pool-worker set-up: one compute thread per worker process, and no orphan.

    The pool already runs one process per core; Polars' and Numba's own thread pools on top
    only oversubscribe the cores (and spin). Set before either library starts its pool; a
    value the user exported is kept. Results do not depend on it (no reduction is split
    across threads differently: the Numba profile kernel parallelises over spot levels).

    A ``kill -9`` of the main process runs no cleanup, so each worker watches it: the kernel
    kills the worker when its parent dies (``PR_SET_PDEATHSIG``), and a daemon thread exits
    the worker within half a second once ``main_pid`` is gone (a forkserver worker's parent
    is the fork server, not the main process). The fork server and the resource tracker then
    lose their last client and exit on their own.
    """
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import gc

    # the modules' objects (imported by the fork server or here) are never garbage: keep the
    # collector's full passes over the worker's many small documents from walking them again
    gc.freeze()
    if main_pid is None:
        return
    try:  # Linux: SIGKILL when the parent goes
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    import threading
    import time

    def watch() -> None:
        while True:
            try:
                os.kill(main_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except OSError:
                pass
            time.sleep(0.5)

    threading.Thread(target=watch, name="chainlens-orphan-watch", daemon=True).start()


#: What the fork server imports once, before it forks any pool worker: each worker then starts
#: with the kernel's modules (Polars, Numba, PyArrow, chainlens) loaded, instead of importing
#: them itself (measured: ~0.9 s of CPU per worker saved, 0.005 s left). ``__main__`` is the
#: fork server's default preload, kept. Neither Polars nor Numba starts a thread pool at
#: import, so forking after the import is safe; :func:`_worker_init` still caps both pools.
FORKSERVER_PRELOAD = (
    "__main__",
    "chainlens.runners.local",
    "chainlens.runners._blocks",
    "chainlens.scan._store_scans",
    "chainlens.scan._stored",
)


def _pool_context() -> Any:
    """The pool's multiprocessing context: ``forkserver`` (with :data:`FORKSERVER_PRELOAD`)
    where the platform has it, else ``spawn`` (Numba's GNU OpenMP is not fork-safe).

    The fork server is one per process and keeps the environment it started with: it is
    started here with one Polars and one Numba thread per worker (the values a user exported
    are kept), so the workers it forks inherit that."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(FORKSERVER_PRELOAD))
    from multiprocessing import forkserver

    keys = ("POLARS_MAX_THREADS", "NUMBA_NUM_THREADS")
    unset = [k for k in keys if k not in os.environ]
    for k in unset:
        os.environ[k] = "1"
    try:
        forkserver.ensure_running()
    finally:
        for k in unset:
            os.environ.pop(k, None)
    return ctx


def _warm() -> int:
    """A no-op pool task: submitted first, it starts the workers while the parent plans."""
    return os.getpid()


def _compact(w: UnderlyingWindow) -> UnderlyingWindow:
    """Copy the window's tables out of the shared session tables before pickling.

    Pickling a zero-copy slice of an Arrow table serialises the parent's whole buffers
    (measured: 17.9 MB for a 100-row slice of a 1M-row table, 1.8 KB after a copy), which made
    the process pool 10x slower than in-process runs.
    """

    def c(t: pa.Table | None) -> pa.Table | None:
        return None if t is None else t.take(pa.array(np.arange(t.num_rows, dtype=np.int64)))

    return UnderlyingWindow(
        underlying=w.underlying,
        session=w.session,
        history=c(w.history),
        trades=c(w.trades),
        prints=c(w.prints),
        bars=c(w.bars),
        events=c(w.events),
    )


def _rows_eq(t: pa.Table, col: str, values: Sequence[str]) -> pa.Table:
    return t.filter(pc.is_in(t.column(col), value_set=pa.array(list(values), pa.string())))


def _rows_each(
    t: pa.Table | None, col: str, names: Sequence[str], shared: str | None = None
) -> list[pa.Table | None]:
    """Per name of ``names``, the rows of ``t`` whose ``col`` is that name (or ``shared``), in
    the rows' order in ``t``: ``_rows_eq(t, col, [name, shared])`` of every name, with one
    grouping of ``t`` and one ``take`` of every name's rows, each name's table a zero-copy
    slice of it (a ``take`` per name cost ~30 us: ~0.04 ms per underlying with the events).
    ``None`` for each name when ``t`` is None."""
    if t is None:
        return [None] * len(names)
    enc = pc.dictionary_encode(t.column(col)).combine_chunks()
    vals = enc.dictionary.to_pylist()
    ix = enc.indices
    if ix.null_count:  # a null never matches a name
        ix = pc.fill_null(ix, pa.scalar(len(vals), ix.type))
    idx = ix.to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(idx, kind="stable")  # the rows of each value together, in row order
    bounds = np.r_[0, np.cumsum(np.bincount(idx, minlength=len(vals) + 1))]
    code = {v: i for i, v in enumerate(vals)}
    none = np.empty(0, dtype=np.int64)

    def rows(v: str | None) -> np.ndarray:
        c = None if v is None else code.get(v)
        return none if c is None else order[bounds[c] : bounds[c + 1]]

    star = rows(shared)
    own = [rows(u) for u in names]  # a loop over names (underlyings), not rows
    lens = np.fromiter((r.size for r in own), dtype=np.int64, count=len(own))
    sel = np.concatenate(own) if own else none
    if star.size:  # each name's rows and the shared ones, merged in row order
        who = np.repeat(np.arange(len(own), dtype=np.int64), lens)
        sel = np.r_[sel, np.tile(star, len(own))]
        who = np.r_[who, np.repeat(np.arange(len(own), dtype=np.int64), star.size)]
        sel = sel[np.lexsort((sel, who))]
        lens = lens + star.size
    starts = np.r_[0, np.cumsum(lens)[:-1]] if lens.size else lens
    picked = t.take(pa.array(sel, pa.int64()))
    return [picked.slice(a, n) for a, n in zip(starts.tolist(), lens.tolist(), strict=True)]


def _bulk_plan(store: Any, d: dt.date, us: Sequence[str], n_sessions: int) -> dict[str, Any] | None:
    """The stored files holding the window of every underlying in ``us`` (no data read).

    Valid only when one read per stored file gives exactly what :meth:`Store.chain_history`
    would return: every (underlying, session) in the window has one snapshot, a quote
    snapshot (so the default snapshot is that one and no OI-only merge applies), and every
    underlying has every session. Returns ``{"root", "chain": [[rel, ...] per session],
    "trades": [rel, ...], "prints": [rel, ...]}`` or ``None``.
    """
    days = [x for x in store.session_dates() if x <= d][-n_sessions:]
    snaps = store.sessions()
    sel = snaps.filter(
        pc.and_(
            pc.is_in(snaps.column("session"), value_set=pa.array(days, pa.date32())),
            pc.is_in(snaps.column("underlying"), value_set=pa.array(list(us), pa.string())),
        )
    )
    if sel.num_rows != len(days) * len(us):
        return None
    if pc.any(pc.not_equal(sel.column("kind"), "quotes")).as_py():
        return None
    keys = pc.binary_join_element_wise(
        sel.column("underlying"), pc.cast(sel.column("session"), pa.string()), "|"
    )
    if pc.count_distinct(keys).as_py() != sel.num_rows:
        return None
    chain = [store.dated_files("chain", day) for day in days]
    if any(not files for files in chain):
        return None
    return {
        "root": str(store.root),
        "chain": chain,
        "trades": store.dated_files("trades", d),
        "prints": store.dated_files("prints", d),
    }


def _by_name(parts: Sequence[dict[str, list[pa.Table]]]) -> dict[str, list[pa.Table]]:
    """Per name, its pieces of ``parts`` (one dict per file, in order) in order: what one
    ``pa.concat_tables`` per name joins (``NameRows.pieces_by_name`` of :func:`chainlens.store.read_partition_rows`)."""
    if len(parts) == 1:
        return parts[0]
    out: dict[str, list[pa.Table]] = {}
    for p in parts:  # a loop over files
        for u, ts in p.items():  # a loop over names (underlyings)
            out.setdefault(u, []).extend(ts)
    return out


def _joined(pieces: list[pa.Table]) -> pa.Table:
    """The pieces of one name concatenated (zero-copy; one piece: itself)."""
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def _read_planned(
    plan: dict[str, Any], us: Sequence[str]
) -> tuple[dict[str, pa.Table], dict[str, pa.Table], dict[str, pa.Table]]:
    """``(history, trades, prints)`` per underlying of ``us``, read from the plan's files
    (one read per file, restricted to ``us``: the files are sorted by underlying, so their
    row-group statistics skip the rest, and each name's rows are runs of the read:
    :func:`~chainlens.store.read_partition_rows`). Row order per underlying is that of the
    files. Each name's rows of every file (and, for the history, every session) are joined
    by one concatenation of their pieces (the same chunks as joining per file, then per
    session)."""
    from chainlens import schema

    root = Path(plan["root"])
    names = pa.array(list(us), pa.string())

    def read(kind: str, files: Sequence[str], col: str) -> dict[str, list[pa.Table]]:
        return _by_name(
            [read_partition_rows(root, f, kind, col, names).pieces_by_name() for f in files]
        )

    per_day = [read("chain", files, "underlying") for files in plan["chain"]]  # per session
    hist = {u: pa.concat_tables([t for p in per_day if u in p for t in p[u]]) for u in us}
    trades = read("trades", plan["trades"], "underlying")
    prints = read("prints", plan["prints"], "ticker")
    empty_t = schema.TRADES.empty_table()
    empty_p = schema.PRINTS.empty_table()
    return (
        hist,
        {u: _joined(trades[u]) if u in trades else empty_t for u in us},
        {u: _joined(prints[u]) if u in prints else empty_p for u in us},
    )


def _bulk_tables(store: Any, d: dt.date, us: Sequence[str], n_sessions: int) -> Any:
    """Read the window of every underlying with one Parquet read per stored file
    (:func:`_bulk_plan`); ``None`` when that would not be what the store returns."""
    plan = _bulk_plan(store, d, us, n_sessions)
    return None if plan is None else _read_planned(plan, us)


def _planned_windows(
    plan: dict[str, Any],
    session: dt.date,
    us: Sequence[str],
    bars: pa.Table | None,
    events: pa.Table | None,
) -> list[UnderlyingWindow]:
    """The windows of ``us`` read from the plan's files (in a pool worker, or in the parent).
    ``bars`` and ``events`` are the store's tables restricted to ``us`` (events: and ``*``,
    :meth:`_Reader.side`), or ``None`` where the store has none."""
    hist, trades, prints = _read_planned(plan, us)
    return [
        UnderlyingWindow(
            underlying=u,
            session=session,
            history=hist[u],
            trades=trades[u],
            prints=prints[u],
            bars=b,
            events=e,
        )
        for u, b, e in zip(
            us, _rows_each(bars, "ticker", us), _rows_each(events, "ticker", us, "*"), strict=True
        )
    ]


class _Reader:
    """The parent's view of one session: the windows of any run of its underlyings.

    ``plan`` (:func:`_bulk_plan` of every underlying run) is valid for any subset of them;
    when it is ``None`` each window is read through the store's per-underlying methods.
    """

    def __init__(self, store: Any, d: dt.date, us: Sequence[str], config: PipelineConfig) -> None:
        self.store, self.d, self.n_sessions = store, d, config.n_sessions
        self.plan = _bulk_plan(store, d, us, config.n_sessions)
        self.bars_all = store.table("bars")
        self.events_all = store.table("events")

    def side(self, names: Sequence[str]) -> tuple[pa.Table | None, pa.Table | None]:
        """``(bars, events)`` restricted to ``names`` (events: and ``*``), ``None`` where the
        store holds none."""
        tick = [*names, "*"]
        bars, events = self.bars_all, self.events_all
        return (
            None if bars is None or bars.num_rows == 0 else _rows_eq(bars, "ticker", tick),
            None if events is None or events.num_rows == 0 else _rows_eq(events, "ticker", tick),
        )

    def windows(self, names: Sequence[str]) -> list[UnderlyingWindow]:
        """The windows of ``names``, in order (one Parquet read per stored file when the plan
        allows it)."""
        bars, events = self.side(names)
        if self.plan is not None:
            return _planned_windows(self.plan, self.d, names, bars, events)
        st, d = self.store, self.d
        return [
            UnderlyingWindow(
                underlying=u,
                session=d,
                history=st.chain_history(u, end=d, n_sessions=self.n_sessions),
                trades=st.trades(u, d),
                prints=st.prints(u, d),
                bars=b,
                events=e,
            )
            for u, b, e in zip(
                names,
                _rows_each(bars, "ticker", names),
                _rows_each(events, "ticker", names, "*"),
                strict=True,
            )
        ]


def iter_windows(
    store: Any, session: dt.date, underlyings: Sequence[str], config: PipelineConfig
) -> Iterator[UnderlyingWindow]:
    """The :class:`~chainlens.pipeline.UnderlyingWindow` of each underlying, in order, as
    :func:`run_local` reads them (one Parquet read per stored file when possible)."""
    us = list(underlyings)
    yield from _Reader(store, session, us, config).windows(us)


def _read_block(
    plan: dict[str, Any],
    session: dt.date,
    us: list[str],
    bars: pa.Table | None,
    events: pa.Table | None,
    config: PipelineConfig,
    chunk_rows: int,
    chunk_max: int,
    netdelta: NetDeltaTask | None = None,
    stage: tuple[str, int] | None = None,
) -> BlockOut:
    """One pool task: read a block's windows from the stored files (one read per file), then
    :func:`~chainlens.runners._blocks.analyze_block` them (the parts are built here, in the
    worker, in buffers of their own, or written to ``stage``). A read failure (a catalogued
    file missing or unreadable: the store itself is damaged) stops the run, as when the
    parent reads."""
    windows = _planned_windows(plan, session, us, bars, events)
    return analyze_block(windows, config, chunk_rows=chunk_rows, chunk_max=chunk_max, copy=True,
                         netdelta=netdelta, stage=stage)  # fmt: skip


def _block_ranges(
    store: Any, d: dt.date, us: Sequence[str], n_sessions: int, workers: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """``(ranges, rows)``: the blocks of ``us`` (contiguous ``[a, b)``) sized by the rows each
    underlying brings (:meth:`Store.window_rows`), at most :data:`BLOCK_ROWS` rows and
    :data:`BLOCK_MAX` names each, and with ``workers`` > 1 at most ``1 / (2 workers)`` of the
    session's rows (every worker gets two blocks at least); ``rows`` the input rows per
    underlying (one underlying: no count, one block)."""
    if len(us) <= 1:
        return [(0, len(us))], [0] * len(us)
    t = store.window_rows(d, n_sessions)
    tot = pc.add(pc.add(t.column("chain_rows"), t.column("trade_rows")), t.column("print_rows"))
    size = dict(zip(t.column("underlying").to_pylist(), tot.to_pylist(), strict=True))
    rows = [int(size.get(u, 0)) for u in us]
    budget = BLOCK_ROWS
    if workers <= 1:
        return ranges_by_rows(rows, budget, BLOCK_MAX), rows
    budget = max(1, min(BLOCK_ROWS, -(-sum(rows) // (2 * workers))))
    return _short_tail(rows, ranges_by_rows(rows, budget, BLOCK_MAX), budget, workers), rows


def _short_tail(
    rows: Sequence[int], ranges: list[tuple[int, int]], budget: int, workers: int
) -> list[tuple[int, int]]:
    """``ranges`` with its last ``2 * workers`` blocks cut again at half the ``budget``
    (when there are more than ``4 * workers`` blocks): a worker that finishes early waits
    for the others' last blocks, so the shorter those are, the less it waits (on average
    half a block of one worker's time). The blocks stay contiguous and in order.

    >>> _short_tail([4] * 10, [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)], 8, 1)
    [(0, 2), (2, 4), (4, 6), (6, 7), (7, 8), (8, 9), (9, 10)]
    """
    tail = 2 * workers
    if len(ranges) <= 2 * tail:
        return ranges
    a0 = ranges[-tail][0]
    half = ranges_by_rows(rows[a0:], max(1, budget // 2), BLOCK_MAX)
    return ranges[:-tail] + [(a0 + a, a0 + b) for a, b in half]


#: The keys of :func:`run_local`'s dict (the pinned ``chainlens run --json`` object).
RUN_KEYS = ("session", "underlyings", "failed", "parts", "workers", "elapsed_s")


def run_local(
    store: Any,
    session: dt.date | str,
    underlyings: Sequence[str] | None = None,
    *,
    config: PipelineConfig | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    macro: pa.Table | None = None,
) -> dict[str, Any]:
    """Run the daily pipeline of ``session`` and store its results (:class:`LocalRunner` for
    one session; parameters as there).

    Returns
    -------
    dict
        :data:`RUN_KEYS`: ``session``, ``underlyings`` (analysed), ``failed`` (messages),
        ``parts`` (rows per stored part), ``workers``, ``elapsed_s``; and
        ``kept_underlyings``: on a run over some names, how many other underlyings' stored
        results the session kept (``parts`` then counts the merged rows).
    """
    s = LocalRunner(workers=workers, macro=macro).run_session(
        store, session, underlyings, config=config, progress=progress
    )
    out = s.to_json()
    return {**{k: out[k] for k in RUN_KEYS}, "kept_underlyings": out["kept_underlyings"]}


def _run_one(
    store: Any,
    session: dt.date | str,
    underlyings: Sequence[str] | None = None,
    *,
    config: PipelineConfig | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    macro: pa.Table | None = None,
) -> RunSummary:
    """Run the daily pipeline of ``session`` and store its results.

    Parameters
    ----------
    store
        An open read-write :class:`chainlens.store.Store`.
    session
        Session date.
    underlyings
        Restrict to these tickers (default: every underlying with a chain that session).
    config
        :class:`~chainlens.pipeline.PipelineConfig`.
    workers
        Worker processes; ``None`` = one per core for large runs, in-process for small ones.
    progress
        ``progress(done, total, underlying)`` after each underlying.
    macro
        Optional user macro series for the market regime panel (see :mod:`chainlens.market`).

    Returns
    -------
    RunSummary
        What was analysed, what failed, the rows per stored part, the workers and the time.
    """
    t0 = time.perf_counter()
    cfg = config or PipelineConfig()
    d = parse_date(session, "date")
    available = store.underlyings(d)
    if not available:
        raise NotFoundError(
            f"the store at {store.root} holds no chain for session {d}",
            hint="list the stored sessions with `chainlens sessions`",
        )
    if underlyings:
        want = [u.upper() for u in underlyings]
        unknown = sorted(set(want) - set(available))
        if unknown:
            raise NotFoundError(
                f"no chain for {', '.join(unknown)} on {d}",
                hint=f"stored that day: {', '.join(available[:20])}",
            )
        us = want
    else:
        us = available
    n = len(us)
    nw = (
        workers
        if workers is not None
        else (min(os.cpu_count() or 1, 8) if n >= MIN_PARALLEL else 1)
    )
    ex: ProcessPoolExecutor | None = None
    stage: Path | None = None
    if nw > 1:  # the workers start (fork server, imports) while the parent plans the blocks
        ex = ProcessPoolExecutor(max_workers=nw, mp_context=_pool_context(),
                                 initializer=_worker_init, initargs=(os.getpid(),))  # fmt: skip
        for _ in range(nw):
            ex.submit(_warm)
        # the workers write their blocks' per-underlying parts as files when those, in block
        # order, are the session's parts as stored: the names in order, a whole-session run
        # (a run over some names merges its rows with the stored ones instead)
        if STAGE_PARTS and us == sorted(us) and us == available:
            stage = store.stage_dir()
    try:
        return _run_pooled(store, d, us, available, cfg, nw, ex, stage, progress, macro, t0)
    finally:
        if ex is not None:  # a no-op when _run_pooled has shut it down
            ex.shutdown(wait=True, cancel_futures=True)
        if stage is not None:  # taken by the write, or left by a failed run
            import shutil

            shutil.rmtree(stage, ignore_errors=True)


def _run_pooled(
    store: Any,
    d: dt.date,
    us: list[str],
    available: list[str],
    cfg: PipelineConfig,
    nw: int,
    ex: ProcessPoolExecutor | None,
    stage: Path | None,
    progress: ProgressFn | None,
    macro: pa.Table | None,
    t0: float,
) -> RunSummary:
    """:func:`_run_one` once the workers are starting (``ex``; ``None``: in-process); with a
    ``stage`` directory the workers write their blocks' per-underlying parts there."""
    from chainlens.market import market_rollup
    from chainlens.scan._store_scans import UNUSUAL_FLOWS
    from chainlens.scan._stored import NETDELTA_PARTS, netdelta_run_task, scan_parts

    sectors = store.table("sectors")
    blocks, _rows = _block_ranges(store, d, us, cfg.n_sessions, nw)
    reader = _Reader(store, d, us, cfg)
    # the net-delta scanner per block, in the tasks (None: in the parent, after the pool)
    nd = netdelta_run_task(store, d, us)
    outs: list[BlockOut] = []
    failed: list[str] = []
    n = len(us)
    done = 0

    def nd_of(names: list[str]) -> NetDeltaTask | None:
        return None if nd is None else nd.restrict(names)

    def take(out: BlockOut) -> None:
        nonlocal done
        outs.append(out)
        for u, msg in zip(out.names, out.failed, strict=True):
            done += 1
            if msg is not None:
                failed.append(msg)
            if progress is not None:
                progress(done, n, u)

    if nw <= 1:
        for a, b in blocks:  # a loop over blocks
            take(analyze_block(reader.windows(us[a:b]), cfg, chunk_rows=CHUNK_ROWS,
                               chunk_max=CHUNK_MAX, netdelta=nd_of(us[a:b])))  # fmt: skip
    else:
        import dataclasses

        # MappingProxyType does not pickle: hand the workers a plain-dict copy of the config
        wcfg = dataclasses.replace(
            cfg,
            analysis=dataclasses.replace(
                cfg.analysis, futures_usd_per_point=dict(cfg.analysis.futures_usd_per_point)
            ),
        )
        assert ex is not None
        pool = ex

        def submit(names: list[str]) -> Any:
            # Workers read their own block from the stored files when one read per file is
            # what the store would return (the parent then holds no session data);
            # otherwise the parent reads the block and pickles its windows.
            at = None if stage is None else (str(stage), len(started))
            started.append(names)
            if WORKERS_READ and reader.plan is not None:
                bars, events = reader.side(names)
                return pool.submit(_read_block, reader.plan, d, names, bars, events, wcfg,
                                   CHUNK_ROWS, CHUNK_MAX, nd_of(names), at)  # fmt: skip
            windows = [_compact(w) for w in reader.windows(names)]
            return pool.submit(analyze_block, windows, wcfg, chunk_rows=CHUNK_ROWS,
                               chunk_max=CHUNK_MAX, copy=True, netdelta=nd_of(names),
                               stage=at)  # fmt: skip

        started: list[list[str]] = []

        # a bounded number of tasks in flight: memory stays that of a few blocks
        pending: deque[Any] = deque()
        for a, b in blocks:  # a loop over blocks
            pending.append(submit(list(us[a:b])))
            while len(pending) > 2 * nw:
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
        pool.shutdown(wait=True)  # the workers' memory goes before the parent merges and writes

    parts = merge_blocks([o.parts for o in outs])
    files = {
        k: [o.files[k] for o in outs if k in o.files]
        for k in sorted({k for o in outs for k in o.files})
    }
    facts = [f for o in outs for f in o.facts]
    nd_done = nd is not None and all(o.netdelta for o in outs)
    if not nd_done:  # some block could not: the whole scanner in the parent
        for k in NETDELTA_PARTS:
            parts.pop(k, None)
    flows = parts.pop(UNUSUAL_FLOWS, None)  # the blocks' unusual-scanner flows (not stored)
    if not all(UNUSUAL_FLOWS in o.parts for o in outs):
        flows = None
    parts.update(scan_parts(store, d, netdelta=not nd_done, unusual_flows=flows))  # issue 15
    analysed = len(facts)
    kept = 0
    if set(us) != set(available):  # some names: the session keeps the others' stored results
        parts, others = with_other_results(store, d, us, parts)
        kept = len(others)
        facts = sorted([*facts, *others], key=lambda f: str(f.get("underlying")))
    market = market_rollup(facts, session=d, sectors=sectors, macro=macro)
    store.write_session_results(d, parts, market, files=files)
    return RunSummary(
        session=d.isoformat(),
        underlyings=analysed,
        failed=failed,
        parts={
            **{k: v.num_rows for k, v in parts.items()},
            **{k: sum(f.rows for f in fs) for k, fs in files.items()},
        },
        workers=nw,
        elapsed_s=time.perf_counter() - t0,
        engine=LocalRunner.engine,
        extra={
            "blocks": len(blocks),
            "max_block_input_rows": max((o.input_rows for o in outs), default=0),
            "worker_peak_rss_mb": round(max((o.peak_rss_kb for o in outs), default=0) / 1024, 1),
            "kept_underlyings": kept,
        },
    )


def read_docs(store: Store, session: dt.date, underlying: str | None = None) -> list[UnderlyingDoc]:
    """The stored per-underlying documents of a session (:meth:`Store.read_docs`)."""
    return store.read_docs(session, underlying)


def read_market(store: Store, session: dt.date) -> MarketDoc:
    """The stored market-wide rollup of a session (:meth:`Store.read_market`)."""
    return store.read_market(session)


def load_window(
    store: Store, underlying: str, session: dt.date, config: PipelineConfig
) -> UnderlyingWindow:
    """Read one underlying's :class:`~chainlens.pipeline.UnderlyingWindow` from a store
    (chain history, trades and prints; no bars or events)."""
    hist = store.chain_history(underlying, end=session, n_sessions=config.n_sessions)
    trades = store.trades(underlying, session)
    prints = store.prints(underlying, session)
    return UnderlyingWindow(
        underlying=underlying, session=session, history=hist, trades=trades, prints=prints
    )


def run_session(
    store: Store,
    session: dt.date,
    underlyings: Sequence[str] | None = None,
    *,
    config: PipelineConfig | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run the daily pipeline for ``session`` over the store (:func:`run_local`)."""
    return run_local(store, session, underlyings, config=config, workers=workers, progress=progress)


class LocalRunner:
    """The :class:`~chainlens.runners.base.Runner` of one machine: :func:`run_local` per
    session, oldest first, on an open read-write :class:`~chainlens.store.Store`.

    Parameters
    ----------
    workers
        Worker processes (``None``: one per core for large runs, in-process for small ones).
    macro
        Optional user macro series for the market regime panel.

    Examples
    --------
    >>> from chainlens.runners.base import Runner
    >>> isinstance(LocalRunner(), Runner)
    True
    """

    engine = "local"

    def __init__(self, *, workers: int | None = None, macro: pa.Table | None = None) -> None:
        self.workers = workers
        self.macro = macro

    def run(
        self,
        source: Any,
        sessions: Sequence[dt.date],
        config: Any = None,
        *,
        underlyings: Sequence[str] | None = None,
        progress: ProgressFn | None = None,
    ) -> list[RunSummary]:
        """Run ``sessions`` (oldest first) over the store ``source``; each session's results
        are stored atomically before the next starts."""
        days = sorted(parse_date(x, "date") for x in sessions)
        return [
            self.run_session(source, d, underlyings, config=config, progress=progress) for d in days
        ]

    def run_session(
        self,
        store: Store,
        session: dt.date | str,
        underlyings: Sequence[str] | None = None,
        *,
        config: PipelineConfig | None = None,
        progress: ProgressFn | None = None,
    ) -> RunSummary:
        """One session: read the windows, map the kernel, store the parts and the rollup.

        Parameters
        ----------
        store
            An open read-write :class:`chainlens.store.Store`.
        session
            Session date.
        underlyings
            Restrict to these tickers (default: every underlying with a chain that session).
        config
            :class:`~chainlens.pipeline.PipelineConfig`.
        progress
            ``progress(done, total, underlying)`` after each underlying.
        """
        return _run_one(
            store, session, underlyings, config=config, workers=self.workers,
            progress=progress, macro=self.macro,
        )  # fmt: skip
