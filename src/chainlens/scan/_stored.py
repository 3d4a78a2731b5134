"""The unusual and net-delta scanners as stored results parts (issue 15).

Both look further back than the pipeline's per-underlying window (the unusual scanner
averages 20 sessions; the net-delta scanner cumulates 30 days of classified trades), so they
are not computed per underlying in :mod:`chainlens.pipeline`: the runner computes them once
per session over the store, after the session's chains and trades exist, with the default
thresholds of ``chainlens scan`` (:class:`~chainlens.scan.ScanSettings`), and stores them
with the other parts (``scan_unusual``, ``scan_netdelta``: docs/results.md). The rows are
what ``chainlens scan netdelta --date D --json`` prints, plus ``session``; the unusual part
holds every underlying with a rolling average, and :func:`unusual_selected` gives exactly the
rows ``chainlens scan unusual --date D --json`` prints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from chainlens.scan._settings import ScanSettings
from chainlens.scan._store_scans import (
    DAILY_PART,
    NetDeltaTask,
    netdelta_scan,
    netdelta_task,
    store_scan,
    unusual_from_flows,
)

__all__ = [
    "NETDELTA_PARTS",
    "SCAN_PARTS",
    "netdelta_parts",
    "netdelta_run_task",
    "scan_parts",
    "unusual_selected",
]

_log = logging.getLogger(__name__)
#: A multiple every underlying with a positive premium or volume reaches.
_TINY = 1e-300

#: Stored part name -> scanner kind (:func:`chainlens.scan.store_scan`).
SCAN_PARTS = {"scan_unusual": "unusual", "scan_netdelta": "netdelta"}
#: The parts the net-delta scanner stores (:func:`netdelta_parts`).
NETDELTA_PARTS = ("scan_netdelta", DAILY_PART)


def netdelta_parts(rows: pa.Table, daily: pa.Table, session: dt.date) -> dict[str, pa.Table]:
    """The ``scan_netdelta`` and ``scan_netdelta_daily`` parts of ``session`` from the
    scanner's rows and daily sums (:func:`chainlens.scan._store_scans.netdelta_scan`, or
    :func:`~chainlens.scan._store_scans.netdelta_block` of a block), with ``session`` and
    conformed to :data:`chainlens.results.PART_SCHEMAS`; a part with no row is left out.
    The parts of the blocks of a session's sorted underlyings, concatenated in order, are
    those of the whole session."""

    out: dict[str, pa.Table] = {}
    for part, t in (("scan_netdelta", rows), (DAILY_PART, daily)):
        if t.num_rows:
            out[part] = _session_part(part, t, session)
    return out


def _session_part(part: str, t: pa.Table, session: dt.date) -> pa.Table:
    """``t`` with a ``session`` column (when it has none), conformed to the stored ``part``'s
    schema (:data:`chainlens.results.PART_SCHEMAS`)."""
    from chainlens.results import conform

    if "session" not in t.column_names:
        t = t.append_column("session", pa.array([session] * t.num_rows, pa.date32()))
    return conform(part, t)


def netdelta_run_task(
    store: Any, session: dt.date, names: Sequence[str], settings: ScanSettings | None = None
) -> NetDeltaTask | None:
    """The net-delta scanner's task for the blocks of a run of ``names``
    (:func:`~chainlens.scan._store_scans.netdelta_task`, default thresholds), or None when the
    run's blocks cannot give the session's parts: ``names`` are not every underlying with a
    chain on ``session`` in sorted order (the scanner covers the whole store), or the
    catalog cannot resolve the task (the parent's scanner then reports it)."""
    from chainlens.errors import ChainlensError

    if list(names) != store.underlyings(session):
        return None
    try:
        return netdelta_task(store, session, settings=settings)
    except ChainlensError:
        return None


def scan_parts(
    store: Any,
    session: dt.date,
    settings: ScanSettings | None = None,
    *,
    netdelta: bool = True,
    unusual_flows: pa.Table | None = None,
) -> dict[str, pa.Table]:
    """The ``scan_unusual``, ``scan_netdelta`` and ``scan_netdelta_daily`` parts of ``session``
    (a part with no row is left out, as the pipeline leaves out an empty part).

    ``scan_netdelta_daily`` holds the session's trade-based net-delta sums per underlying and
    expiry: the net-delta scanner of a later session reads them instead of the session's
    trades (:func:`chainlens.scan._store_scans.netdelta_scan`).

    Parameters
    ----------
    store
        An open :class:`chainlens.store.Store` holding the session's chains and trades.
    session
        The as-of session.
    settings
        Thresholds (default: those of ``chainlens scan``).
    netdelta
        False: leave the net-delta parts out (``chainlens run`` built them in its pool tasks,
        :func:`netdelta_parts` of each block).
    unusual_flows
        The daily flows ``chainlens run``'s blocks computed
        (:func:`~chainlens.scan._store_scans.unusual_block_flows` of every underlying with a
        chain on ``session``): the unusual scanner reads only the chain of the sessions
        before them (:func:`~chainlens.scan._store_scans.unusual_from_flows`, the same rows);
        None scans the store.

    Returns
    -------
    dict
        Part name -> table conformed to :data:`chainlens.results.PART_SCHEMAS`.
    """
    from chainlens.errors import ChainlensError

    out: dict[str, pa.Table] = {}
    st = settings or ScanSettings()
    # the unusual part keeps every underlying with a rolling average (its multiples are the
    # measure; the thresholds only select): a reader selects with :func:`unusual_selected`
    every = dataclasses.replace(st, unusual_min_multiple=_TINY, unusual_min_sessions=1)
    for part, kind in SCAN_PARTS.items():
        try:
            if kind == "netdelta":  # with the session's daily sums, for later sessions' runs
                if netdelta:
                    out.update(netdelta_parts(*netdelta_scan(store, session, settings=st), session))
                continue
            got = None
            if unusual_flows is not None:
                got = unusual_from_flows(store, session, unusual_flows, settings=every)
            t = store_scan(store, kind, session, settings=every) if got is None else got
        except ChainlensError as exc:  # a scanner's input problem never fails the run
            _log.warning("chainlens run %s: scanner %s not stored: %s", session, kind, exc)
            continue
        if t.num_rows:
            out[part] = _session_part(part, t, session)
    return out


def unusual_selected(table: pa.Table, settings: ScanSettings | None = None) -> pa.Table:
    """The rows of a stored ``scan_unusual`` part that ``chainlens scan unusual`` reports
    with ``settings`` (default thresholds): ``sessions_in_average >= unusual_min_sessions``,
    ``premium_usd >= unusual_min_premium_usd`` (null counts as 0), and a premium or volume
    multiple ``>= unusual_min_multiple``; ordered by premium multiple, largest first."""
    import pyarrow.compute as pc

    st = settings or ScanSettings()
    if table.num_rows == 0:
        return table
    m = st.unusual_min_multiple
    keep = pc.and_(
        pc.and_(
            pc.greater_equal(table.column("sessions_in_average"), st.unusual_min_sessions),
            pc.greater_equal(
                pc.fill_null(table.column("premium_usd"), 0.0), st.unusual_min_premium_usd
            ),
        ),
        pc.or_(
            pc.fill_null(pc.greater_equal(table.column("premium_multiple"), m), False),
            pc.fill_null(pc.greater_equal(table.column("volume_multiple"), m), False),
        ),
    )
    out = table.filter(pc.fill_null(keep, False))
    return out.sort_by([("premium_multiple", "descending")])
