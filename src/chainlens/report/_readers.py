"""The prologue shared by the report's reader modules (:mod:`chainlens.report._signals`,
:mod:`chainlens.report._extras`, :mod:`chainlens.report._unusual`, :mod:`chainlens.report._views`):
a threshold table's value lookup, the live-expiry test and the stored-part read.

Each reader keeps its own threshold table (``name -> (value, unit, where it lives)``, merged
into :data:`chainlens.report.rules.THRESHOLDS`) so that it imports no rules (the import graph
runs rules -> readers, never back); this module imports nothing from the report package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ThresholdTable", "is_live", "stored_part", "threshold_reader"]

#: ``name -> (value, unit, where it lives)``.
ThresholdTable = Mapping[str, tuple[Any, str, str]]


def threshold_reader(table: ThresholdTable) -> Callable[[str], Any]:
    """The value lookup of a threshold table: ``th(name) -> value`` (KeyError if absent).

    Examples
    --------
    >>> th = threshold_reader({"x": (3.0, "ratio", "here")})
    >>> th("x")
    3.0
    """

    def th(name: str) -> Any:
        return table[name][0]

    return th


def is_live(session: Any, expiry: Any) -> bool:
    """True when ``expiry`` (a date or ISO string) settles after ``session``: an expiry on the
    session itself is expiring, not live.

    Examples
    --------
    >>> is_live("2024-03-15", "2024-03-15"), is_live("2024-03-15", "2024-04-19"), is_live("2024-03-15", None)
    (False, True, False)
    """
    return expiry is not None and str(expiry)[:10] > str(session)[:10]


def stored_part(store: Any, day: Any, name: str, underlying: str | None = None) -> Any:
    """One stored pipeline results part of ``day`` (a :class:`pyarrow.Table`; only the rows of
    ``underlying`` when given), or None when the part was never written (an older store, or
    a session whose part had no row): the view that needs it is left out."""
    from chainlens.results import RESULTS_NAME

    try:
        return store.read_results(RESULTS_NAME, day, name, underlying=underlying)
    except Exception:  # a part never written: the view is left out
        return None
