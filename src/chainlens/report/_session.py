"""Reports of a session from a store: per-ticker lenses, the daily report and the index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainlens.report._index import chain_links, report_name, write_index, write_root_index
from chainlens.report._model import Report
from chainlens.report._render import write_report
from chainlens.report._shared import SessionReads
from chainlens.report.daily import build_daily
from chainlens.report.lenses import build_lens
from chainlens.report.rules import th

if TYPE_CHECKING:
    from chainlens.results import ReportDoc, UnderlyingDoc
    from chainlens.store import Store

__all__ = [
    "daily_report",
    "result_sessions",
    "ticker_report",
    "ticker_sessions",
    "write_session_reports",
]


def result_sessions(store: Store) -> list[dt.date]:
    """Sessions with stored pipeline results (:meth:`Store.result_sessions`)."""
    return store.result_sessions()


def ticker_sessions(
    store: Store, ticker: str, sessions: Sequence[dt.date] | None = None
) -> list[dt.date]:
    """Sessions with stored pipeline results that hold a chain of ``ticker`` (the report chain
    of a ticker links only its own dates)."""
    res = result_sessions(store) if sessions is None else list(sessions)
    own = set(store.session_dates(ticker.upper()))
    return [d for d in res if d in own]


def ticker_report(
    store: Store, ticker: str, session: dt.date, lens: str = "flow", fmt: str = "html"
) -> Report:
    """One per-ticker report from the stored pipeline results (NotFoundError if absent)."""
    from chainlens.errors import NotFoundError

    docs = store.read_docs(session, ticker.upper())
    if not docs:
        raise NotFoundError(
            f"no pipeline results for {ticker.upper()} on {session}",
            hint=f"run `chainlens run --date {session}` first",
        )
    links = chain_links(
        session, ticker_sessions(store, ticker), report_name(ticker.upper(), lens), fmt
    )
    doc: ReportDoc = {**docs[0]}
    if lens == "flow":  # issue 11: yesterday's watch items checked on this session
        from chainlens.report._watch import watch_followup

        doc = {**doc, "watch_followup": watch_followup(store, doc)}
    from chainlens.report._extras import report_extras  # issue 11: views read from the store

    hw = th("vol_oi_table_half_width_pct")
    doc = {**doc, **report_extras(store, doc, [lens], half_width_pct=hw)}  # type: ignore[typeddict-item]
    from chainlens.report._outcomes import session_outcomes  # issue 16

    oc = session_outcomes(store, session, [ticker.upper()])["by_ticker"]
    doc = {**doc, "outcomes": oc.get(ticker.upper())}
    return build_lens(doc, lens, links=links)


def daily_report(
    store: Store, session: dt.date, fmt: str = "html", *, thesis: Any = None
) -> Report:
    """The market daily report from the stored rollup (``thesis``: a
    :class:`chainlens.thesis.Thesis` evaluated on the session, issue 19)."""
    from chainlens.report._context import market_context
    from chainlens.report._shared import daily_docs  # issue 13: the keys the daily reads
    from chainlens.report.lenses.signals import market_signals

    links = chain_links(session, result_sessions(store), "daily", fmt)
    docs = daily_docs(store, session)
    market = {**store.read_market(session), "oi_signals": market_signals(docs)}
    from chainlens.report._unusual import market_unusual  # issue 11: seed 004 scanner hits

    market["unusual"] = market_unusual(store, session, docs)
    market["context"] = market_context(store, session, docs, market, thesis=thesis)
    from chainlens.report._outcomes import session_outcomes  # issue 16

    ww = session_outcomes(store, session, [d["underlying"] for d in docs])["what_worked"]
    return build_daily({**market, "what_worked": ww}, links=links)


def write_session_reports(
    store: Store,
    session: dt.date,
    out_root: Path,
    *,
    lenses: Mapping[str, Sequence[str]] | None = None,
    formats: Sequence[str] = ("html", "md", "json"),
    png_for: Sequence[str] | None = None,
    outcomes: bool = True,
    thesis: Any = None,
) -> list[Path]:
    """Write the daily report, the per-ticker reports and the index of ``session``.

    ``lenses`` maps a ticker to its lenses (default: every stored ticker, ``flow``). Files go
    to ``out_root/<YYYY-MM-DD>/``. ``png_for``: report names (``daily``, ``SPY-flow``) whose
    Markdown charts are PNG; the others get SVG files (default: all PNG). ``outcomes``: measure
    the reported tickers' outcome rules once (issue 16: reliability in each lens, level history
    chart, the daily "What Worked Yesterday" over the reported tickers). ``thesis``: a
    :class:`chainlens.thesis.Thesis` checklist for the daily report (issue 19).
    """
    day = out_root / session.isoformat()
    sessions = result_sessions(store)
    if lenses is None:  # every stored ticker: every document is read whole anyway
        docs: dict[str, ReportDoc] = {d["underlying"]: {**d} for d in store.read_docs(session)}
        plan: dict[str, Sequence[str]] = {t: ("flow",) for t in docs}
        every: list[UnderlyingDoc] = list(docs.values())
    else:  # the daily report's keys of every document, the reported tickers' whole
        from chainlens.report._shared import daily_docs

        plan = dict(lenses)
        every = daily_docs(store, session, whole=plan)
        docs = {d["underlying"]: {**d} for d in every if d["underlying"] in plan}
    # issue 13: the per-ticker readers' store reads made once and shared
    reads: Any = SessionReads(store, [t for t in plan if t in docs])
    written: list[Path] = []
    from chainlens.report.lenses.signals import market_signals  # issue 11

    market = {**store.read_market(session), "oi_signals": market_signals(every)}
    from chainlens.report._unusual import market_unusual  # issue 11: seed 004 scanner hits

    market["unusual"] = market_unusual(store, session, every)
    from chainlens.report._context import market_context  # issue 19

    market["context"] = market_context(store, session, every, market, thesis=thesis)
    del every
    oc: dict[str, Any] = {}
    if outcomes:  # issue 16: one measuring pass for the session's reports
        from chainlens.report._outcomes import session_outcomes

        measured = session_outcomes(store, session, [t for t in plan if t in docs])
        oc = measured["by_ticker"]
        market = {**market, "what_worked": measured["what_worked"]}
    for fmt in formats:
        r = build_daily(market, links=chain_links(session, sessions, "daily", fmt))
        written.append(
            write_report(r, day / f"daily.{fmt}", fmt, png=png_for is None or "daily" in png_for)
        )
    from chainlens.report._extras import earlier_strike_volumes, report_extras  # issue 11

    hw = th("vol_oi_table_half_width_pct")
    vols = earlier_strike_volumes(  # issue 13: the chains of every flow report read together
        store, [t for t, ls in plan.items() if t in docs and "flow" in ls], session,
        int(th("high_oi_avg_sessions")),
    )  # fmt: skip
    for t, ls in plan.items():
        if t not in docs:
            continue
        own = ticker_sessions(reads, t, sessions)
        if "flow" in ls:  # issue 11: yesterday's watch items checked on this session
            from chainlens.report._watch import watch_followup

            docs[t] = {**docs[t], "watch_followup": watch_followup(reads, docs[t])}
        # issue 11: views read from the store
        got = report_extras(reads, docs[t], ls, half_width_pct=hw, earlier_volume=vols.get(t))
        docs[t] = {**docs[t], **got}  # type: ignore[typeddict-item]
        for lens in ls:
            name = report_name(t, lens)
            for fmt in formats:
                d: ReportDoc = {**docs[t], "outcomes": oc[t]} if t in oc else docs[t]
                r = build_lens(d, lens, links=chain_links(session, own, name, fmt))
                png = png_for is None or name in png_for
                written.append(write_report(r, day / f"{name}.{fmt}", fmt, png=png))
    written.append(write_index(day, session, sessions))
    written.append(write_root_index(out_root))
    return written
