"""The local runner: map :func:`chainlens.pipeline.analyze_underlying` over underlyings.

:class:`LocalRunner` implements :class:`chainlens.runners.base.Runner`; :func:`run_local` is
the one-session form the CLI (``chainlens run``) calls.

The parent reads the catalog (DuckDB allows one read-write process per store); pool workers
read their own chunk's rows straight from the stored Parquet files when that gives what the
store would (otherwise the parent reads and hands them Arrow tables), and the results are
written back by the parent in one atomic
:meth:`~chainlens.store.Store.write_results` per results name, so re-running a date replaces its
results. Workers use a ``forkserver`` (or ``spawn``) context: Numba's GNU OpenMP is not
fork-safe. Small runs stay in-process, where the pool start-up would cost more than it saves.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._dates import parse_date
from chainlens.errors import ChainlensError, NotFoundError
from chainlens.pipeline import (
    PipelineConfig,
    UnderlyingResult,
    UnderlyingWindow,
    analyze_underlyings,
)
from chainlens.results import MARKET_RESULTS, RESULTS_NAME, MarketDoc, UnderlyingDoc
from chainlens.runners.base import ProgressFn, RunSummary, result_parts
from chainlens.store import Store, read_partition

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
#: Pool workers read their own chunk's rows from the stored files (see :func:`run_local`).
WORKERS_READ = True
#: Below this many underlyings the runner stays in-process (on a busy 2-core machine the pool
#: start-up and pickling cost more than they save for the 30-underlying demo: 24 s vs 14 s).
MIN_PARALLEL = 200


#: Underlyings per process-pool task: one pickle and one future per chunk instead of per
#: underlying (at most this many; fewer so that every worker gets about four chunks).
CHUNK_MAX = 128


def _safe_many(
    windows: list[UnderlyingWindow], config: PipelineConfig
) -> list[UnderlyingResult | str]:
    """:func:`~chainlens.pipeline.analyze_underlying` over one chunk of windows (one pool
    task, or one in-process step), the OI step batched
    (:func:`chainlens.pipeline.analyze_underlyings`: the same results). A
    :class:`~chainlens.errors.ChainlensError` becomes ``"<underlying>: <message>"`` for that
    underlying only: a bad underlying does not stop the session."""
    got = analyze_underlyings(windows, config)
    return [
        f"{w.underlying}: {r.message}" if isinstance(r, ChainlensError) else r
        for w, r in zip(windows, got, strict=True)
    ]


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


def _chunks(n: int, workers: int) -> list[tuple[int, int]]:
    size = max(1, min(CHUNK_MAX, -(-n // (4 * max(1, workers)))))
    return [(a, min(n, a + size)) for a in range(0, n, size)]


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


def _filter_eq(t: pa.Table | None, col: str, values: Sequence[str]) -> pa.Table | None:
    if t is None or t.num_rows == 0:
        return None
    return _rows_eq(t, col, values)


def _rows_eq(t: pa.Table, col: str, values: Sequence[str]) -> pa.Table:
    return t.filter(pc.is_in(t.column(col), value_set=pa.array(list(values), pa.string())))


def _split(t: pa.Table, col: str) -> dict[str, pa.Table]:
    """Zero-copy slices of ``t`` per value of ``col``, each in the rows' order in ``t``
    (grouped first, by a stable sort of the value codes, unless already grouped)."""
    if t.num_rows == 0:
        return {}
    enc = pc.dictionary_encode(t.column(col)).combine_chunks()
    idx = enc.indices.to_numpy()
    if idx.size > 1 and not bool(np.all(np.diff(idx) >= 0)):
        order = np.argsort(idx, kind="stable")  # integer codes: no string sort
        t = t.take(pa.array(order))
        idx = idx[order]
    cuts = np.flatnonzero(np.diff(idx)) + 1
    starts = np.r_[0, cuts]
    ends = np.r_[cuts, idx.size]
    names = enc.dictionary.to_pylist()
    return {names[idx[a]]: t.slice(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True)}


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


def _read_planned(
    plan: dict[str, Any], us: Sequence[str]
) -> tuple[dict[str, pa.Table], dict[str, pa.Table], dict[str, pa.Table]]:
    """``(history, trades, prints)`` per underlying of ``us``, read from the plan's files
    (one read per file, restricted to ``us``: the files are sorted by underlying, so their
    row-group statistics skip the rest). Row order per underlying is that of the files."""
    from chainlens import schema

    root = Path(plan["root"])
    names = pa.array(list(us), pa.string())
    by_und = pc.field("underlying").isin(names)
    per_day = []
    for files in plan["chain"]:  # a loop over sessions
        t = pa.concat_tables([read_partition(root, f, "chain", by_und) for f in files])
        per_day.append(_split(t, "underlying"))
    hist = {u: pa.concat_tables([p[u] for p in per_day if u in p]) for u in us}
    tfiles = plan["trades"]
    trades = (
        _split(pa.concat_tables([read_partition(root, f, "trades", by_und) for f in tfiles]),
               "underlying")
        if tfiles
        else {}
    )  # fmt: skip
    by_tick = pc.field("ticker").isin(names)
    pparts = [read_partition(root, f, "prints", by_tick) for f in plan["prints"]]
    prints = _split(pa.concat_tables(pparts), "ticker") if pparts else {}
    empty_t = schema.TRADES.empty_table()
    empty_p = schema.PRINTS.empty_table()
    return (
        hist,
        {u: trades.get(u, empty_t) for u in us},
        {u: prints.get(u, empty_p) for u in us},
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
    """The windows of ``us`` built in a pool worker from the plan's files. ``bars`` and
    ``events`` are the store's tables restricted to ``us`` (events: and ``*``) by the parent,
    or ``None`` where the store has none; per underlying they filter as in
    :func:`iter_windows`."""
    hist, trades, prints = _read_planned(plan, us)
    return [
        UnderlyingWindow(
            underlying=u,
            session=session,
            history=hist[u],
            trades=trades[u],
            prints=prints[u],
            bars=None if bars is None else _rows_eq(bars, "ticker", [u]),
            events=None if events is None else _rows_eq(events, "ticker", [u, "*"]),
        )
        for u in us
    ]


def _safe_planned(
    plan: dict[str, Any],
    session: dt.date,
    us: list[str],
    bars: pa.Table | None,
    events: pa.Table | None,
    config: PipelineConfig,
) -> list[UnderlyingResult | str]:
    """One pool task: read this chunk's windows from the stored files, then analyse them
    (:func:`_safe_many`). A read failure (a catalogued file missing or unreadable: the store
    itself is damaged) stops the run, as when the parent reads."""
    return _safe_many(_planned_windows(plan, session, us, bars, events), config)


#: Underlyings per pool task when the workers read from the stored files (a *block*): the
#: worker reads the block's rows with one Parquet read per stored file, analyses them in chunks
#: of :data:`CHUNK_MAX` and returns the block's result parts already concatenated, with the
#: documents encoded as JSON (at most this many; fewer so that every worker gets two blocks).
BLOCK_MAX = 640


def _blocks(n: int, workers: int) -> list[tuple[int, int]]:
    size = max(1, min(BLOCK_MAX, -(-n // (2 * max(1, workers)))))
    return [(a, min(n, a + size)) for a in range(0, n, size)]


@dataclass(slots=True)
class _BlockOut:
    """What one pool task returns for a block of underlyings: per underlying, ``None`` (its
    result is in the parts) or its failure message; the block's result parts
    (:func:`~chainlens.runners.base.result_parts` of its results, in order); and the
    documents of its results (the market rollup's input)."""

    names: list[str]
    failed: list[str | None]
    parts: dict[str, pa.Table]
    docs: list[Any]


def _safe_block(
    plan: dict[str, Any],
    session: dt.date,
    us: list[str],
    bars: pa.Table | None,
    events: pa.Table | None,
    config: PipelineConfig,
    chunk: int,
) -> _BlockOut:
    """One pool task: read a block's windows from the stored files (one read per file), analyse
    them ``chunk`` at a time (:func:`_safe_many`), and build the block's result parts here, in
    the worker (the JSON encoding of the documents and the schema casts run in parallel, and
    the parent receives a few concatenated tables instead of one small table per
    underlying and part)."""
    windows = _planned_windows(plan, session, us, bars, events)
    results: list[UnderlyingResult] = []
    failed: list[str | None] = []
    for a in range(0, len(windows), max(1, chunk)):  # a loop over chunks of underlyings
        for r in _safe_many(windows[a : a + chunk], config):
            if isinstance(r, str):
                failed.append(r)
            else:
                failed.append(None)
                results.append(r)
    # fresh buffers: a part is a concatenation of slices of chunk-wide buffers, and a pickled
    # slice carries its whole buffer (see _compact)
    parts = {k: _own(t) for k, t in result_parts(results).items()}
    return _BlockOut(names=list(us), failed=failed, parts=parts, docs=[r.doc for r in results])


def _own(t: pa.Table) -> pa.Table:
    """``t`` copied into buffers of its own (one chunk per column)."""
    return t.take(pa.array(np.arange(t.num_rows, dtype=np.int64)))


def _merge_parts(blocks: Sequence[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """The parts of several blocks (each :func:`~chainlens.runners.base.result_parts` of its
    results), concatenated in block order: :func:`~chainlens.runners.base.result_parts` of all
    the results in that order."""
    names = sorted({k for b in blocks for k in b})
    out: dict[str, pa.Table] = {}
    for name in names:
        ts = [b[name] for b in blocks if name in b and (name == "docs" or b[name].num_rows)]
        if ts:
            out[name] = pa.concat_tables(ts)
    return out


def iter_windows(
    store: Any, session: dt.date, underlyings: Sequence[str], config: PipelineConfig
) -> Iterator[UnderlyingWindow]:
    """The :class:`~chainlens.pipeline.UnderlyingWindow` of each underlying, in order, as
    :func:`run_local` reads them (one Parquet read per stored file when possible)."""
    d, us = session, list(underlyings)
    bars_all = store.table("bars")
    events_all = store.table("events")
    bulk = _bulk_tables(store, d, us, config.n_sessions)
    if bulk is not None:
        hist, trades, prints = bulk
        for u in us:
            yield UnderlyingWindow(
                underlying=u,
                session=d,
                history=hist[u],
                trades=trades[u],
                prints=prints[u],
                bars=_filter_eq(bars_all, "ticker", [u]),
                events=_filter_eq(events_all, "ticker", [u, "*"]),
            )
        return
    for u in us:
        yield UnderlyingWindow(
            underlying=u,
            session=d,
            history=store.chain_history(u, end=d, n_sessions=config.n_sessions),
            trades=store.trades(u, d),
            prints=store.prints(u, d),
            bars=_filter_eq(bars_all, "ticker", [u]),
            events=_filter_eq(events_all, "ticker", [u, "*"]),
        )


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
        ``parts`` (rows per stored part), ``workers``, ``elapsed_s``.
    """
    s = LocalRunner(workers=workers, macro=macro).run_session(
        store, session, underlyings, config=config, progress=progress
    )
    out = s.to_json()
    return {k: out[k] for k in RUN_KEYS}


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
    from chainlens.market import market_rollup

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
    sectors = store.table("sectors")

    def windows() -> Iterator[UnderlyingWindow]:
        return iter_windows(store, d, us, cfg)

    results: list[UnderlyingResult] = []
    failed: list[str] = []
    block_parts: list[dict[str, pa.Table]] = []  # pool workers reading their blocks
    block_docs: list[Any] = []
    n = len(us)
    nw = (
        workers
        if workers is not None
        else (min(os.cpu_count() or 1, 8) if n >= MIN_PARALLEL else 1)
    )

    def take(r: UnderlyingResult | str, u: str, i: int) -> None:
        if isinstance(r, str):
            failed.append(r)
        else:
            results.append(r)
        if progress is not None:
            progress(i, n, u)

    if nw <= 1:
        it = windows()
        i = 0
        for a, b in _chunks(n, 1):  # chunks of CHUNK_MAX windows: the OI step batched
            chunk = [next(it) for _ in range(a, b)]
            for w, r in zip(chunk, _safe_many(chunk, cfg), strict=True):
                i += 1
                take(r, w.underlying, i)
    else:
        import dataclasses

        # MappingProxyType does not pickle: hand the workers a plain-dict copy of the config
        wcfg = dataclasses.replace(
            cfg,
            analysis=dataclasses.replace(
                cfg.analysis, futures_usd_per_point=dict(cfg.analysis.futures_usd_per_point)
            ),
        )
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        # Workers read their own chunk from the stored files when one read per file is what
        # the store would return (the parent then holds no session data); otherwise the
        # parent reads and pickles each chunk's windows.
        plan = _bulk_plan(store, d, us, cfg.n_sessions) if WORKERS_READ else None
        bars_all = store.table("bars") if plan is not None else None
        events_all = store.table("events") if plan is not None else None
        with ProcessPoolExecutor(
            max_workers=nw, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
        ) as ex:
            wit = windows() if plan is None else None

            def submit(a: int, b: int) -> tuple[list[str], Any]:
                if wit is None:
                    assert plan is not None
                    names = list(us[a:b])
                    tick = pa.array([*names, "*"], pa.string())
                    bars = (
                        None
                        if bars_all is None or bars_all.num_rows == 0
                        else bars_all.filter(pc.is_in(bars_all.column("ticker"), value_set=tick))
                    )
                    events = (
                        None
                        if events_all is None or events_all.num_rows == 0
                        else events_all.filter(
                            pc.is_in(events_all.column("ticker"), value_set=tick)
                        )
                    )
                    return names, ex.submit(
                        _safe_block, plan, d, names, bars, events, wcfg, CHUNK_MAX
                    )
                chunk = [_compact(next(wit)) for _ in range(a, b)]
                return [w.underlying for w in chunk], ex.submit(_safe_many, chunk, wcfg)

            def collect(names: list[str], f: Any) -> None:
                nonlocal i
                got = f.result()
                if isinstance(got, _BlockOut):
                    block_parts.append(got.parts)
                    block_docs.extend(got.docs)
                    for u, msg in zip(names, got.failed, strict=True):
                        i += 1
                        if msg is not None:
                            failed.append(msg)
                        if progress is not None:
                            progress(i, n, u)
                    return
                for u, r in zip(names, got, strict=True):
                    i += 1
                    take(r, u, i)

            # a bounded number of tasks in flight: memory stays that of a few tasks
            pending: deque[tuple[list[str], Any]] = deque()
            i = 0
            for a, b in _chunks(n, nw) if plan is None else _blocks(n, nw):
                pending.append(submit(a, b))
                while len(pending) > 2 * nw:
                    collect(*pending.popleft())
            while pending:
                collect(*pending.popleft())

    if block_parts:  # the workers built the parts of their blocks
        parts = _merge_parts(block_parts)
        docs = block_docs
    else:
        parts = result_parts(results)
        docs = [r.doc for r in results]
    from chainlens.scan._stored import scan_parts  # issue 15: the stored scanner parts

    parts.update(scan_parts(store, d))
    market = market_rollup(docs, session=d, sectors=sectors, macro=macro)
    store.write_session_results(d, parts, market)
    return RunSummary(
        session=d.isoformat(),
        underlyings=len(docs),
        failed=failed,
        parts={k: v.num_rows for k, v in parts.items()},
        workers=nw,
        elapsed_s=time.perf_counter() - t0,
        engine=LocalRunner.engine,
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
