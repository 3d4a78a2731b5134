"""Seed-002 OI signals read from a pipeline document, as records a report can name (issue 11).

Every function here is pure: it takes the ``oi``/``flow``/``analysis`` parts of a pipeline
document (:func:`chainlens.pipeline.analyze_underlying`) and returns plain records, one per
signal, with the same keys::

    kind        bullish_roll | bearish_roll | naked_close | accumulation | deep_otm_put_build
                | flush | event_build | opposite_build | term | pcr_divergence
                | call_selling_rally | max_pain_pin
    direction   bullish | bearish | exit_bullish | exit_bearish | mixed | neutral
    right, strike, expiry            the contract (None where the signal is per name)
    to_strike, to_expiry             a roll's target leg
    contracts                        contracts moved / built / flushed (>= 0)
    sessions                         sessions the signal spans
    watch                            what it means for a watch list (seed 002)
    seed                             the seed section it follows

The thresholds are :data:`SIGNAL_THRESHOLDS` (the report rule table lists them with the rest,
:mod:`chainlens.report.rules`). Records are sorted by contracts (largest first) inside a kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from chainlens._dates import doc_date
from chainlens.report._readers import is_live, threshold_reader

__all__ = [
    "DIRECTION_WORDS",
    "KIND_WORDS",
    "SIGNAL_FIELDS",
    "TERM_FIELDS",
    "direction_words",
    "SIGNAL_THRESHOLDS",
    "accumulation_signals",
    "all_signals",
    "event_signals",
    "flush_signals",
    "pcr_divergence",
    "roll_signals",
    "side_signals",
    "term_reading",
]

#: ``name -> (value, unit, where it lives)``; merged into :data:`chainlens.report.rules.THRESHOLDS`.
SIGNAL_THRESHOLDS: Mapping[str, tuple[Any, str, str]] = MappingProxyType(
    {
        "deep_otm_put_pct": (12.0, "% of spot below spot (deep-OTM put strike)", "report._signals"),
        "deep_otm_bypass_share": (0.25, "nearer-strike build / deep-strike build (same expiry)", "report._signals"),
        "flush_min_fraction": (0.40, "overnight OI decline / prior OI", "report._signals"),
        "flush_min_contracts": (100, "contracts of overnight OI decline", "report._signals"),
        "event_build_min_ratio": (1.5, "target-expiry build / baseline of other expiries", "report._signals"),
        "event_build_min_contracts": (100, "contracts built into the event's expiry", "report._signals"),
        "pcr_div_high": (1.0, "put/call OI ratio (put-heavy book)", "report._signals"),
        "pcr_div_low": (0.7, "put/call OI ratio (call-heavy book)", "report._signals"),
        "pcr_div_min_share": (0.60, "share of directional bought premium on one side", "report._signals"),
        "signals_max_rows": (5, "signals of one kind named in a report", "report._signals"),
        "pin_max_days": (5, "calendar days to the expiry of a pin reading", "report._signals"),
    }
)  # fmt: skip

#: How each kind reads in prose (kind -> words).
KIND_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "bullish_roll": "bullish roll",
        "bearish_roll": "bearish roll",
        "naked_close": "naked close",
        "accumulation": "accumulation",
        "deep_otm_put_build": "deep-OTM put build",
        "flush": "OI flush",
        "event_build": "event build",
        "opposite_build": "opposite-direction build",
        "term": "term structure",
        "pcr_divergence": "PCR vs call-flow divergence",
        "call_selling_rally": "call selling into strength",
        "max_pain_pin": "max-pain pin",
    }
)


#: Directions in prose.
DIRECTION_WORDS: Mapping[str, str] = MappingProxyType(
    {"exit_bullish": "bullish exit", "exit_bearish": "bearish exit"}
)


def direction_words(direction: str) -> str:
    """A direction as prose (``exit_bullish`` -> ``bullish exit``)."""
    return DIRECTION_WORDS.get(direction, direction)


#: Spot within this many % of a max pain is "near" it (the ``pin_near_pct`` threshold of
#: :data:`chainlens.report.rules.THRESHOLDS`, defined here so this module imports no rules).
PIN_NEAR_PCT = 3.0


_th = threshold_reader(SIGNAL_THRESHOLDS)

#: The document keys the signal readers of :func:`all_signals` read (its ``signals``); a
#: document pruned to them (:meth:`chainlens.store.Store.read_doc_fields`) gives the same
#: signals as the whole one (the daily report reads every document this way).
SIGNAL_FIELDS: tuple[str, ...] = (
    "underlying", "session", "analysis.spot", "analysis.totals", "analysis.max_pain_trend",
    "flow.totals", "oi.rolls", "oi.accumulation", "oi.spot_by_session", "oi.changes",
    "oi.events", "oi.opposite",
)  # fmt: skip
#: The document keys of :func:`term_reading` (the ``term`` of :func:`all_signals`).
TERM_FIELDS: tuple[str, ...] = ("session", "oi.term", "oi.term_signals")


def _rec(kind: str, direction: str, seed: str, watch: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": kind, "direction": direction, "right": None, "strike": None, "expiry": None,
        "to_strike": None, "to_expiry": None, "contracts": None, "sessions": None,
        "watch": watch, "seed": seed,
    }  # fmt: skip
    base.update(kw)
    return base


_live = is_live


def roll_signals(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rolls and naked closes of ``doc["oi"]["rolls"]`` (:func:`chainlens.oi.detect_rolls`).

    A roll moves ``contracts`` (the smaller of the near-month decline and the later-expiry
    rise, contracts) from ``from_expiry/from_strike`` to ``to_expiry/to_strike``: calls
    ``bullish_roll`` (thesis extended: keep on the watch list), puts ``bearish_roll``. A
    ``close`` with no pairing is a naked close: ``exit_bullish`` for calls (the call thesis
    is exited), ``exit_bearish`` for puts. Seed 002 "OI and option rolling patterns".
    """
    out = []
    for r in (doc.get("oi") or {}).get("rolls") or []:
        k = r.get("kind")
        right = r.get("right")
        common = dict(right=right, strike=r.get("from_strike"), expiry=r.get("from_expiry"),
                      symbol=r.get("from_symbol"), to_symbol=r.get("to_symbol"),
                      contracts=abs(float(r.get("contracts") or 0.0)),
                      sessions=_span(r.get("start_session"), r.get("end_session")))  # fmt: skip
        if k in ("bullish_roll", "bearish_roll"):
            out.append(_rec(k, "bullish" if k == "bullish_roll" else "bearish",
                            "002 OI and option rolling patterns", "thesis extended, keep",
                            to_strike=r.get("to_strike"), to_expiry=r.get("to_expiry"), **common))  # fmt: skip
        elif k == "close":
            out.append(_rec("naked_close", "exit_bullish" if right == "C" else "exit_bearish",
                            "002 OI and option rolling patterns", "exit", **common))  # fmt: skip
    return sorted(out, key=lambda s: -(s["contracts"] or 0.0))


def _span(a: Any, b: Any) -> int | None:

    if not a or not b:
        return None
    from chainlens import calendar as cal

    d0, d1 = doc_date(a), doc_date(b)
    n, d = 0, d0
    while d < d1 and n < 1000:
        d = cal.next_session(d)
        n += 1
    return n


def accumulation_signals(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Multi-session accumulation streaks (``doc["oi"]["accumulation"]``) of live contracts,
    and the deep-OTM put builds among them.

    A streak is ``sessions`` consecutive sessions of above-baseline OI growth adding
    ``oi_change`` contracts (seed 002 "OI changes across multiple sessions", case 1): calls
    read bullish, puts bearish. A put streak at a strike at least ``deep_otm_put_pct`` % of
    spot below spot is a ``deep_otm_put_build`` when the nearer put strikes of the same
    expiry (between spot and it) built less than ``deep_otm_bypass_share`` of its contracts
    (seed 002 case 2: "bypassing nearer strikes"; tail hedge or informed downside).
    """
    oi, session = doc.get("oi") or {}, doc["session"]
    spot = (doc.get("analysis") or {}).get("spot")
    rows = [r for r in oi.get("accumulation") or [] if _live(session, r.get("expiry"))]
    out = []
    for r in rows:
        right, k, chg = r.get("right"), r.get("strike"), float(r.get("oi_change") or 0.0)
        kw = dict(right=right, strike=k, expiry=r.get("expiry"), contracts=chg, symbol=r.get("symbol"),
                  sessions=r.get("sessions"), oi_start=r.get("oi_start"), oi_end=r.get("oi_end"))  # fmt: skip
        s0 = (oi.get("spot_by_session") or {}).get(str(r.get("first_session"))[:10]) or spot
        deep = (
            right == "P" and s0 and k is not None
            and (s0 - k) / s0 * 100.0 >= _th("deep_otm_put_pct")
        )  # fmt: skip
        if deep and k is not None and s0:
            lo, hi = float(k), float(s0)
            nearer = sum(float(x.get("oi_change") or 0.0) for x in rows
                         if x.get("right") == "P" and x.get("expiry") == r.get("expiry")
                         and lo < float(x.get("strike") or 0.0) < hi)  # fmt: skip
            if nearer < _th("deep_otm_bypass_share") * chg:
                out.append(_rec("deep_otm_put_build", "bearish", "002 case 2 deep-OTM put build",
                                "tail hedge or informed downside: watch", nearer_build=nearer,
                                spot_at_start=s0, **kw))  # fmt: skip
                continue
        out.append(_rec("accumulation", "bullish" if right == "C" else "bearish",
                        "002 OI changes across multiple sessions", "watch for follow-through", **kw))  # fmt: skip
    return sorted(out, key=lambda s: -(s["contracts"] or 0.0))


def flush_signals(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Overnight OI declines of at least ``flush_min_fraction`` of the prior OI and
    ``flush_min_contracts`` contracts (``doc["oi"]["changes"]``: prior OI = OI − change).

    Seed 002 case 1: after a catalyst the accumulated OI is sold to close ("profit-taking:
    the move is done"). Calls flushed read ``exit_bullish``, puts ``exit_bearish``.
    """
    out = []
    for c in (doc.get("oi") or {}).get("changes") or []:
        chg, oi = c.get("oi_change"), c.get("open_interest")
        if chg is None or oi is None or chg >= 0:
            continue
        prior = float(oi) - float(chg)
        if (
            -chg >= _th("flush_min_contracts")
            and prior > 0
            and -chg / prior >= _th("flush_min_fraction")
        ):
            out.append(_rec("flush", "exit_bullish" if c.get("right") == "C" else "exit_bearish",
                            "002 case 1 OI flush after the catalyst", "exit",
                            right=c.get("right"), strike=c.get("strike"), expiry=c.get("expiry"),
                            contracts=float(-chg), sessions=1, prior_oi=prior, fraction=-chg / prior))  # fmt: skip
    return sorted(out, key=lambda s: -(s["contracts"] or 0.0))


def event_signals(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Builds into the first expiry after an event of the events input (``doc["oi"]["events"]``,
    :func:`chainlens.oi.event_oi_build`): ``build`` contracts over the lookback against the
    mean of the other expiries (``build_ratio``). A build of at least
    ``event_build_min_ratio`` × baseline and ``event_build_min_contracts`` is named; its
    direction is the larger of the call and put builds (seed 002 "OI changes around earnings
    and high-impact events": earnings, FOMC, CPI/PPI/NFP, PDUFA)."""
    out = []
    for e in (doc.get("oi") or {}).get("events") or []:
        if (
            not _live(doc["session"], e.get("target_expiry"))
            or str(e.get("date"))[:10] < str(doc["session"])[:10]
        ):
            continue  # the event has passed or its expiry has expired: a flush, not a build
        b, ratio = float(e.get("build") or 0.0), e.get("build_ratio")
        if (
            b < _th("event_build_min_contracts")
            or ratio is None
            or ratio < _th("event_build_min_ratio")
        ):
            continue
        cb, pb = float(e.get("call_build") or 0.0), float(e.get("put_build") or 0.0)
        out.append(_rec("event_build", "bullish" if cb > pb else "bearish" if pb > cb else "neutral",
                        "002 OI changes around earnings and high-impact events", "positioned for the event; watch the flush after it",
                        expiry=e.get("target_expiry"), contracts=b, event=str(e.get("kind")),
                        event_date=e.get("date"), build_ratio=ratio, call_build=cb, put_build=pb))  # fmt: skip
    return sorted(out, key=lambda s: -(s["contracts"] or 0.0))


def term_reading(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The seed-002 term-structure reading of ``doc["oi"]["term_signals"]`` and ``term``.

    Returns ``{"pattern", "reading", "expiries", "table"}``: ``pattern`` is the first of
    ``weekly_concentration`` (a weekly holds more than 2× the median expiry's OI),
    ``skipped_near_term`` (the two nearest expiries < 10% of OI each, one 60-150-day expiry
    ≥ 30%), ``leaps_building`` (LEAPS call OI +10% over the window) that holds, else
    ``evenly_spread``; ``table`` is OI by expiry (contracts, share) of live expiries.
    """
    oi = doc.get("oi") or {}
    ts = next(iter(oi.get("term_signals") or []), None)
    table = [
        {k: t.get(k) for k in ("expiry", "expiry_class", "dte_days", "call_oi", "put_oi", "oi", "oi_share")}
        for t in oi.get("term") or [] if _live(doc["session"], t.get("expiry"))
    ]  # fmt: skip
    if not table:
        return None
    ts = ts or {}
    weekly = [str(x)[:10] for x in ts.get("weekly_concentration_expiries") or []
              if _live(doc["session"], x)]  # fmt: skip
    if weekly:
        pat, exp = "weekly_concentration", weekly
        reading = "OI concentrated in a weekly expiry: positioning around a dated event"
    elif ts.get("skipped_near_term"):
        pat, exp = "skipped_near_term", [str(ts.get("far_expiry"))[:10]]
        reading = "near-term expiries skipped for a 2-5 month expiry: a longer-dated thesis"
    elif ts.get("leaps_building"):
        pat, exp = "leaps_building", []
        reading = "LEAPS call OI building: long-horizon conviction"
    else:
        pat, exp = "evenly_spread", []
        reading = "OI spread across expiries: no dated bet stands out"
    return {"pattern": pat, "reading": reading, "expiries": exp, "table": table,
            "leaps_call_growth": ts.get("leaps_call_growth")}  # fmt: skip


def pcr_divergence(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """PCR vs call-flow divergence (seed 002 PCR table, "divergence between PCR and flow").

    With trades: a put-heavy book (P/C OI ≥ ``pcr_div_high``) while directional calls bought
    are at least ``pcr_div_min_share`` of directional premium bought reads ``bullish`` (fresh
    call buying against an old hedge book); a call-heavy book (P/C OI ≤ ``pcr_div_low``) while
    puts bought are at least that share reads ``bearish``. None otherwise.
    """
    tot = (doc.get("analysis") or {}).get("totals") or {}
    f = (doc.get("flow") or {}).get("totals") or {}
    pcr = tot.get("pc_oi_ratio")
    cb = f.get("dir_calls_bought_usd", f.get("calls_bought_usd"))
    pb = f.get("dir_puts_bought_usd", f.get("puts_bought_usd"))
    if pcr is None or cb is None or pb is None or (cb + pb) <= 0:
        return None
    share = cb / (cb + pb)
    if pcr >= _th("pcr_div_high") and share >= _th("pcr_div_min_share"):
        d = "bullish"
    elif pcr <= _th("pcr_div_low") and 1 - share >= _th("pcr_div_min_share"):
        d = "bearish"
    else:
        return None
    return _rec("pcr_divergence", d, "002 PCR vs flow divergence", "fresh flow against the book: watch",
                pcr_oi=pcr, call_bought_share=share)  # fmt: skip


@lru_cache(maxsize=256)
def _monthly(year: int, month: int) -> dt.date:
    """:func:`chainlens.calendar.standard_monthly_expiry`, kept (the daily report asks it for
    every ticker's next expiries: a handful of months)."""
    from chainlens import calendar as cal

    return cal.standard_monthly_expiry(year, month)


def side_signals(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Seed-003 flow signals of the session: call selling into strength (the naive call/put
    premium read is bullish, the side-adjusted directional read bearish, and calls sold exceed
    calls bought); a max-pain pin (the next live standard monthly expiry within
    ``pin_max_days`` calendar days and spot within ``pin_near_pct`` % of its max pain)."""
    out = []
    f = (doc.get("flow") or {}).get("totals") or {}
    g = lambda k: f.get("dir_" + k, f.get(k))  # noqa: E731
    cs, cbought = g("calls_sold_usd") or 0.0, g("calls_bought_usd") or 0.0
    if g("flip") and str(g("side_label")).startswith("bear") and cs > cbought:
        out.append(_rec("call_selling_rally", "bearish", "003 side before signal",
                        "calls sold, not bought: do not chase", contracts=None,
                        calls_sold_usd=cs, calls_bought_usd=cbought))  # fmt: skip

    d0 = doc_date(doc["session"])
    for m in (doc.get("analysis") or {}).get("max_pain_trend") or []:
        e, dist = m.get("expiry"), m.get("spot_distance_pct")
        if not _live(doc["session"], e) or m.get("max_pain") is None or dist is None:
            continue
        ed = doc_date(e)
        if _monthly(ed.year, ed.month) != ed:
            continue  # the pin is read into the standard monthly expiry only (seed 002)
        if (ed - d0).days <= _th("pin_max_days") and abs(dist) <= PIN_NEAR_PCT:
            out.append(_rec("max_pain_pin", "neutral", "002 max pain pin", "pin pull into expiry",
                            expiry=e, strike=m.get("max_pain"), distance_pct=dist))  # fmt: skip
        break
    return out


def opposite_signals(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Calls and puts both accumulating on the name (``doc["oi"]["opposite"]``, ``mixed``):
    straddle construction, a second party hedging, or a partial hedge — seed 002: "reduce
    conviction" on a watch-listed name."""
    out = []
    for o in (doc.get("oi") or {}).get("opposite") or []:
        if o.get("mixed"):
            out.append(_rec("opposite_build", "mixed", "002 opposite-direction build", "reduce conviction",
                            contracts=float(o.get("call_build") or 0) + float(o.get("put_build") or 0),
                            call_build=o.get("call_build"), put_build=o.get("put_build")))  # fmt: skip
    return out


def all_signals(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Every signal of the document: ``{"signals": [...], "term": term_reading or None}``
    (``signals`` in the order rolls, accumulation/deep-OTM, flush, events, opposite, PCR
    divergence, side signals; each kind capped at ``signals_max_rows``)."""
    n = _th("signals_max_rows")
    sig: list[dict[str, Any]] = []
    by_kind: dict[str, int] = {}
    pcr = pcr_divergence(doc)
    for s in [*roll_signals(doc), *accumulation_signals(doc), *flush_signals(doc),
              *event_signals(doc), *opposite_signals(doc), *([pcr] if pcr else []), *side_signals(doc)]:  # fmt: skip
        if s.get("expiry") is not None and not _live(doc["session"], s["expiry"]):
            continue  # expired on or before the session: no report names it
        by_kind[s["kind"]] = by_kind.get(s["kind"], 0) + 1
        if by_kind[s["kind"]] <= n:
            sig.append(s)
    return {"signals": sig, "term": term_reading(doc)}
