"""Helpers shared by the lenses: document access, live expiries, missing-data sections and the
chart specs (rendered by :mod:`chainlens.report._charts`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chainlens._dates import doc_date
from chainlens.report import _charts as _c
from chainlens.report._charts import (
    max_pain_chart,
    side_chart,
    zones_chart,
)
from chainlens.report._model import Chart, FigureBook, Section, Sentence, fmt_value
from chainlens.report._narrative import MISSING
from chainlens.report.rules import say

__all__ = [
    "expired_note",
    "g",
    "gex_chart",
    "has_greeks",
    "heatmap_charts",
    "live",
    "live_after_next",
    "live_strikes",
    "max_pain_chart",
    "named_prices",
    "net_premium_chart",
    "no_data",
    "oi_change_chart",
    "oi_chart",
    "profile_chart",
    "side_chart",
    "skew_chart",
    "smile_chart",
    "zones_chart",
]


def g(d: Mapping[str, Any] | None, *path: str) -> Any:
    """``d[path[0]][path[1]]...`` or ``None`` where a level is missing."""
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def live(doc: Mapping[str, Any], expiry: Any) -> bool:
    """The expiry is after the report's session (on its expiry day a contract has expired at
    the close, so it leaves every chart and table of that report)."""
    return expiry is not None and str(expiry)[:10] > str(doc["session"])[:10]


def next_session_iso(session: str) -> str:
    """The session after ``session`` (ISO)."""
    from chainlens.calendar import next_session

    return str(next_session(doc_date(session)).isoformat())


def live_after_next(doc: Mapping[str, Any], expiry: Any) -> bool:
    """The contract still trades after the next session (a watch item must)."""
    return expiry is not None and str(expiry)[:10] > next_session_iso(doc["session"])


def has_greeks(doc: Mapping[str, Any]) -> bool:
    """The snapshot had contracts with usable greeks (an OI-only store has none)."""
    from chainlens.market import _has_greeks

    return _has_greeks(doc["analysis"])


def no_data(fb: FigureBook, sid: str, title: str, *reasons: str) -> Section:
    """A section whose inputs are missing, saying what is missing."""
    return Section(
        id=sid,
        title=title,
        sentences=[say(fb, "missing", text=MISSING[r]) for r in reasons],
        status="no_data",
    )


def live_strikes(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``analysis.by_strike`` over the live contracts only (expiry after the session; the
    pipeline's ``by_strike_live``, stored when some contract expires on the session day)."""
    a = doc["analysis"]
    rows = a.get("by_strike_live")
    return list(rows if rows is not None else a.get("by_strike") or [])


def expired_note(doc: Mapping[str, Any], what: str = "oi") -> str:
    """The words a by-strike chart or table title adds when contracts expiring on or before the
    session were left out: their expiry and share of open interest (``what="oi"``) or their
    net GEX beside the total (``what="gex"``, USD per 1% move); "" when none were."""
    a, s = doc["analysis"], str(doc["session"])[:10]
    gone = [r for r in a.get("by_expiry") or [] if str(r.get("expiry"))[:10] <= s]
    if not gone or a.get("by_strike_live") is None:
        return ""
    exps = ", ".join(sorted({str(r["expiry"])[:10] for r in gone}))
    if what == "gex":
        x = sum(r.get("gex_usd_per_1pct") or 0.0 for r in gone)
        tot = (a.get("totals") or {}).get("gex_usd_per_1pct")
        share = f"GEX {fmt_value(x, 'money_signed')} of {fmt_value(tot, 'money_signed')}"
    else:
        x = sum((r.get("call_oi") or 0) + (r.get("put_oi") or 0) for r in gone)
        t = a.get("totals") or {}
        tot = (t.get("call_oi") or 0) + (t.get("put_oi") or 0)
        share = f"{fmt_value(x / tot, 'pct')} of OI" if tot else "no OI"
    return f"; contracts expiring {exps} left out: {share}"


def oi_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """OI by strike of the live contracts (expired ones left out, said in the title)."""
    c = _c.oi_chart(_live_doc(doc), must_show_strikes=must_show_strikes)
    if c is not None and (n := expired_note(doc)):
        c.title = c.title[:-1] + n + ")"
    return c


def oi_change_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """OI change by strike of the live contracts (expired ones left out, said in the title)."""
    c = _c.oi_change_chart(_live_doc(doc), must_show_strikes=must_show_strikes)
    if c is not None and g(doc, "oi", "change_by_strike_live") is not None:
        c.title = c.title[:-1] + expired_note(doc) + ")"
    return c


def _live_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``doc`` whose smile and ATM/skew term structure hold live expiries
    only, and whose net premium by strike is the directional one (the chart builders of
    :mod:`chainlens.report._charts` read these keys)."""
    a = dict(doc["analysis"])
    v = dict(a.get("vol") or {})
    v["smile"] = [r for r in v.get("smile") or [] if live(doc, r.get("expiry"))]
    for k in ("atm_term_structure", "skew_term_structure"):
        v[k] = [x for x in v.get(k) or [] if live(doc, x[0])]
    a["vol"] = v
    a["by_strike"] = live_strikes(doc)
    out = {**doc, "analysis": a}
    o = doc.get("oi")
    if o and o.get("change_by_strike_live") is not None:
        out["oi"] = {**o, "change_by_strike": o["change_by_strike_live"]}
    f = doc.get("flow")
    if f:
        rows = [
            {**r, "net_usd": r.get("dir_net_usd", r.get("net_usd"))}
            for r in f.get("net_by_strike") or []
        ]
        out["flow"] = {**f, "net_by_strike": rows}
    return out


def gex_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """GEX by strike (none without greeks)."""
    if not has_greeks(doc):
        return None
    c = _c.gex_chart(_live_doc(doc), must_show_strikes=must_show_strikes)
    if c is not None and (n := expired_note(doc, "gex")):
        c.title = c.title[:-1] + n + ")"
    return c


def profile_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Dealer gamma profile (none without greeks)."""
    return _c.profile_chart(doc, must_show_strikes=must_show_strikes) if has_greeks(doc) else None


def heatmap_charts(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> list[Chart]:
    """Dealer DX/GX surfaces (none without greeks)."""
    return _c.heatmap_charts(doc, must_show_strikes=must_show_strikes) if has_greeks(doc) else []


def smile_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """Smile of the two nearest live expiries."""
    return _c.smile_chart(_live_doc(doc), must_show_strikes=must_show_strikes)


def skew_chart(doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()) -> Chart | None:
    """ATM IV and 25Δ risk reversal by live expiry."""
    return _c.skew_chart(_live_doc(doc), must_show_strikes=must_show_strikes)


def net_premium_chart(
    doc: Mapping[str, Any], *, must_show_strikes: Sequence[float] = ()
) -> Chart | None:
    """Directional net premium by strike (deep in the money and box/conversion-like left out)."""
    c = _c.net_premium_chart(_live_doc(doc), must_show_strikes=must_show_strikes)
    if c is not None:
        c.title = (
            "Directional net premium by strike (USD, bullish minus bearish, deep ITM excluded)"
        )
    return c


def named_prices(fb: FigureBook, sentences: Sequence[Sentence | None]) -> list[float]:
    """The price-level figures (strikes, walls, zero gamma, max pain) the sentences name: the
    strikes a chart of their section must show."""
    out = []
    for s in sentences:
        for k in s.keys if s is not None else []:
            f = fb.figures.get(k)
            if f is not None and f.fmt == "price" and isinstance(f.value, (int, float)):
                out.append(float(f.value))
    return out
