"""The reads of one session's report run, made once and shared (issue 13: the daily report and
the top-50 ticker reports of 5,000 underlyings in a few seconds).

:func:`chainlens.report.write_session_reports` writes a daily report over every stored
document and per-ticker reports of a few tickers. Read naively, the daily report decodes every
document whole (660 MB of JSON at 5,000 underlyings: 17.6 s of CPU) and each ticker report
reads its rows of each results part and its chain history in a read of its own. Here:

* :func:`daily_docs`: every document pruned to the keys the daily readers use
  (:data:`DAILY_FIELDS`), the documents read whole only where a reader needs them whole
  (:meth:`chainlens.store.Store.read_doc_fields`);
* :class:`SessionReads`: the store as the per-ticker readers see it, with the results parts
  of the reported tickers read once for all of them, and the catalog look-ups and earlier
  documents they repeat kept.

Both give the readers exactly what the store gives them (the tests compare the reports).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chainlens._dates import parse_date
from chainlens.errors import NotFoundError
from chainlens.report._context import CONTEXT_FIELDS
from chainlens.report._signals import SIGNAL_FIELDS
from chainlens.results import RESULTS_NAME, SUMMARY_FIELDS, UnderlyingDoc

__all__ = ["DAILY_FIELDS", "SessionReads", "daily_docs"]


def _summary_rank(field: str) -> int:
    """A field's place in :data:`~chainlens.results.SUMMARY_FIELDS` (after them if not
    there): the daily keys in the summaries' order are read as the summaries are stored."""
    return SUMMARY_FIELDS.index(field) if field in SUMMARY_FIELDS else len(SUMMARY_FIELDS)


#: The document keys the daily report reads of every document: the OI signals
#: (:data:`chainlens.report._signals.SIGNAL_FIELDS`) and the market context
#: (:data:`chainlens.report._context.CONTEXT_FIELDS`). The scanner hits
#: (:func:`chainlens.report._unusual.market_unusual`) and the index gamma bands read their
#: documents whole.
DAILY_FIELDS: tuple[str, ...] = tuple(
    sorted(dict.fromkeys([*SIGNAL_FIELDS, *CONTEXT_FIELDS]), key=_summary_rank)
)


def daily_docs(store: Any, session: dt.date, whole: Collection[str] = ()) -> list[UnderlyingDoc]:
    """Every document of ``session`` as the daily report reads it: pruned to
    :data:`DAILY_FIELDS`, except the documents of ``whole``, of the index tickers and of the
    session's scanner hits, which come whole (in the order of ``store.read_docs``)."""
    from chainlens.market import INDEX_TICKERS
    from chainlens.report._unusual import hit_tickers

    full = {*whole, *INDEX_TICKERS, *hit_tickers(store, session)}
    docs: list[UnderlyingDoc] = store.read_doc_fields(session, DAILY_FIELDS, whole=full)
    return docs


class SessionReads:
    """``store`` as the per-ticker report readers of one run see it, for the ``tickers``
    reported (any other call goes to ``store`` unchanged).

    * :meth:`read_results` of a reported ticker: the part's rows of every reported ticker are
      read once (:meth:`chainlens.store.Store.read_results_of`), then this ticker's taken (a
      part never written raises the same :class:`~chainlens.errors.NotFoundError` each time,
      looked up once);
    * :meth:`read_docs` of a reported ticker (the watch follow-up reads the previous
      session's): the reported tickers' documents of that session read in one scan;
    * :meth:`session_dates`, :meth:`result_sessions`: kept after the first call.

    The run only reads: nothing it keeps can go stale while it runs. Documents and tables are
    shared between callers, which read them only.
    """

    def __init__(self, store: Any, tickers: Sequence[str]) -> None:
        self.store = store
        self.tickers = sorted({str(t) for t in tickers})
        self._mine = set(self.tickers)
        self._parts: dict[tuple[str, dt.date, str], pa.Table] = {}
        self._missing: dict[tuple[str, dt.date, str], NotFoundError] = {}
        self._docs: dict[dt.date, dict[str, Any]] = {}
        self._dates: dict[str | None, list[dt.date]] = {}
        self._results: dict[str, list[dt.date]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read_results(
        self, name: str, session: dt.date, part: str, *, underlying: str | None = None
    ) -> pa.Table:
        """:meth:`chainlens.store.Store.read_results`, one read per part for the tickers."""
        if underlying is None or underlying not in self._mine:
            return self.store.read_results(name, session, part, underlying=underlying)
        key = (name, parse_date(session), part)
        t = self._parts.get(key)
        if t is None:
            gone = self._missing.get(key)
            if gone is not None:  # a part never written: the same error, not another look-up
                raise NotFoundError(gone.message, hint=gone.hint)
            try:
                t = self._parts[key] = self.store.read_results_of(name, key[1], part, self.tickers)
            except NotFoundError as exc:
                self._missing[key] = exc
                raise
        if "underlying" not in t.column_names:
            return t
        return t.filter(pc.equal(t.column("underlying"), underlying))

    def read_docs(self, session: dt.date | str, underlying: str | None = None) -> list[Any]:
        """:meth:`chainlens.store.Store.read_docs`, one scan per session for the tickers."""
        if underlying is None or underlying not in self._mine:
            return list(self.store.read_docs(session, underlying))
        d = parse_date(session)
        got = self._docs.get(d)
        if got is None:
            docs = self.store.read_docs_of(d, self.tickers)
            got = self._docs[d] = {x["underlying"]: x for x in docs}
        return [got[underlying]] if underlying in got else []

    def session_dates(self, underlying: str | None = None) -> list[dt.date]:
        """:meth:`chainlens.store.Store.session_dates`, kept."""
        if underlying not in self._dates:
            self._dates[underlying] = self.store.session_dates(underlying)
        return list(self._dates[underlying])

    def result_sessions(self, name: str = RESULTS_NAME) -> list[dt.date]:
        """:meth:`chainlens.store.Store.result_sessions`, kept."""
        if name not in self._results:
            self._results[name] = self.store.result_sessions(name)
        return list(self._results[name])
