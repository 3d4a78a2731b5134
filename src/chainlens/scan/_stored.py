"""The unusual and net-delta scanners as stored results parts (issue 15).

Both look further back than the pipeline's per-underlying window (the unusual scanner
averages 20 sessions; the net-delta scanner cumulates 30 days of classified trades), so they
are not computed per underlying in :mod:`chainlens.pipeline`: the runner computes them once
per session over the store, after the session's chains and trades exist, with the default
thresholds of ``chainlens scan`` (:class:`~chainlens.scan.ScanSettings`), and stores them
with the other parts (``scan_unusual``, ``scan_netdelta``: docs/results.md). The rows are
exactly what ``chainlens scan unusual|netdelta --date D --json`` prints, plus ``session``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pyarrow as pa

from chainlens.scan._settings import ScanSettings
from chainlens.scan._store_scans import store_scan

__all__ = ["SCAN_PARTS", "scan_parts"]

_log = logging.getLogger(__name__)

#: Stored part name -> scanner kind (:func:`chainlens.scan.store_scan`).
SCAN_PARTS = {"scan_unusual": "unusual", "scan_netdelta": "netdelta"}


def scan_parts(
    store: Any, session: dt.date, settings: ScanSettings | None = None
) -> dict[str, pa.Table]:
    """The ``scan_unusual`` and ``scan_netdelta`` parts of ``session`` (a part with no row is
    left out, as the pipeline leaves out an empty part).

    Parameters
    ----------
    store
        An open :class:`chainlens.store.Store` holding the session's chains and trades.
    session
        The as-of session.
    settings
        Thresholds (default: those of ``chainlens scan``).

    Returns
    -------
    dict
        Part name -> table conformed to :data:`chainlens.results.PART_SCHEMAS`.
    """
    from chainlens.errors import ChainlensError
    from chainlens.results import conform

    out: dict[str, pa.Table] = {}
    for part, kind in SCAN_PARTS.items():
        try:
            t = store_scan(store, kind, session, settings=settings or ScanSettings())
        except ChainlensError as exc:  # a scanner's input problem never fails the run
            _log.warning("chainlens run %s: scanner %s not stored: %s", session, kind, exc)
            continue
        if t.num_rows == 0:
            continue
        if "session" not in t.column_names:
            t = t.append_column("session", pa.array([session] * t.num_rows, pa.date32()))
        out[part] = conform(part, t)
    return out
