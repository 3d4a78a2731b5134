"""Premium/volume multiple scanner hits in the reports (seed 004, issue 11): the
``unusual_activity`` section of the flow and premium lenses and of the daily report.

Records come from :mod:`chainlens.report._unusual` (stored ``scan_unusual`` row + the
ticker's stored flow); every sentence is an ``unusual.*`` rule of
:mod:`chainlens.report.rules`, with the figures in the report's figure book.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chainlens.report._model import FigureBook, Section, Sentence, fmt_value
from chainlens.report.lenses.common import next_session_iso
from chainlens.report.rules import say, th

__all__ = ["daily_unusual_section", "unusual_section", "unusual_sentence", "unusual_summary"]

_TITLE = "Unusual Premium / Volume (seed 004 multiples scanner)"
_CONTRACT_COLS = [
    ("expiry", "expiry", "date", "date"), ("strike", "strike", "USD", "price"), ("right", "C/P", "", "text"),
    ("premium_usd", "premium", "USD", "money"), ("share", "share of the day's premium", "fraction", "pct"),
    ("bought_share", "bought (at the ask)", "fraction", "pct"), ("otm_pct", "out of the money", "fraction of spot", "pct_signed"),
]  # fmt: skip


def _contract_words(
    fb: FigureBook, p: str, cs: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str]]:
    """``", concentrated in the 2024-04-19 $250 C (48% of premium, 95% bought, 3.1% OTM), ..."``
    and its keys."""
    parts, keys = [], []
    for j, c in enumerate(cs):
        ks = [fb.add(f"{p}.c{j}.expiry", c["expiry"], "date", "date", "contract expiry"),
              fb.add(f"{p}.c{j}.strike", c["strike"], "USD", "price", "contract strike"),
              fb.add(f"{p}.c{j}.share", c.get("share"), "fraction of the session's premium", "pct", "contract's share of premium"),
              fb.add(f"{p}.c{j}.bought", c.get("bought_share"), "fraction of the contract's premium", "pct", "contract premium bought")]  # fmt: skip
        keys += ks
        tail = f"{fb.d(ks[2])} of premium, {fb.d(ks[3])} bought" if j == 0 else f"{fb.d(ks[2])}"
        if j == 0 and c.get("otm_pct") is not None:
            ko = fb.add(
                f"{p}.c0.otm", c["otm_pct"], "fraction of spot", "pct", "contract out of the money"
            )
            keys.append(ko)
            v = c["otm_pct"]
            tail += f", {fb.d(ko)} OTM" if v >= 0 else f", {fmt_value(-v, 'pct')} ITM"
        parts.append(f"{fb.d(ks[0])} {fb.d(ks[1])} {c['right']} ({tail})")
    if not parts:
        return "", keys
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f", concentrated in the {body}", keys


def _repeat_words(fb: FigureBook, p: str, rec: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``"; a repeat: also a hit on 2024-03-14 (4.68×)"`` or ``"; no hit in its previous 1
    stored session(s)"`` (seed 004: the second hit is the one traded)."""
    earlier = rec.get("earlier") or []
    n = rec.get("history_sessions") or 0
    if not earlier:
        return (
            "" if not n else f"; no hit in its previous {n} stored session{'s' if n > 1 else ''}"
        ), []
    keys = [fb.add(f"{p}.e{j}", e.get("premium_multiple"), "ratio", "ratio", f"premium multiple on {e['session']}")
            for j, e in enumerate(earlier)]  # fmt: skip
    then = ", ".join(f"{e['session']} ({fb.d(k)}×)" for e, k in zip(earlier, keys, strict=True))
    return f"; a repeat: also a hit on {then}", keys


def unusual_sentence(fb: FigureBook, rec: Mapping[str, Any], p: str = "un") -> Sentence:
    """The scanner-hit sentence of one record (rule ``unusual.hit``, or ``unusual.hit_chain``
    when the session has no trades: no aggressor sides then)."""
    keys = [fb.add(f"{p}.premium", rec.get("premium_usd"), "USD", "money", "option premium of the session"),
            fb.add(f"{p}.premium_multiple", rec.get("premium_multiple"), "ratio", "ratio", "premium / rolling average"),
            fb.add(f"{p}.sessions", rec.get("sessions_in_average"), "sessions", "int", "sessions in the average"),
            fb.add(f"{p}.avg_premium", rec.get("avg_premium_usd"), "USD", "money", "average premium of the earlier sessions"),
            fb.add(f"{p}.volume", rec.get("volume"), "contracts", "int", "option volume of the session"),
            fb.add(f"{p}.volume_multiple", rec.get("volume_multiple"), "ratio", "ratio", "volume / rolling average"),
            fb.add(f"{p}.avg_volume", rec.get("avg_volume"), "contracts", "int", "average volume of the earlier sessions")]  # fmt: skip
    kind = "Premium" if rec.get("kind") == "premium" else "Volume"
    conc, ck = _contract_words(fb, p, rec.get("contracts") or [])
    rep, rk = _repeat_words(fb, p, rec)
    cs = rec.get("contracts") or []
    # the contract to follow: the largest one still trading after the next session
    nxt = next_session_iso(str(rec.get("session")))
    w = next((j for j, c in enumerate(cs) if str(c["expiry"]) > nxt), None)
    main = (
        None
        if w is None
        else f"{fb.d(f'{p}.c{w}.expiry')} {fb.d(f'{p}.c{w}.strike')} {cs[w]['right']}"
    )
    if rec.get("direction") is None:
        s = say(
            fb,
            "unusual.hit_chain",
            *keys,
            kind=kind,
            t=rec["underlying"],
            repeat=rep,
            label="Unusual activity",
        )
        s.keys += rk
        return s
    kb = fb.add(
        f"{p}.bought",
        rec.get("bought_share"),
        "fraction of premium",
        "pct",
        "premium bought at the ask",
    )
    if main is None:
        watch = (
            "no contract of it trades after the next session: a short-dated bet, no OI to follow"
        )
    elif rec["direction"] in ("bullish", "bearish"):
        watch = f"watch list: add ({rec['direction']}); tomorrow's OI at the {main} tells new positions (OI up) from day trades"
    else:
        watch = f"direction unclear: tomorrow's OI at the {main} says which side opened"
    s = say(fb, "unusual.hit", *keys, kb, kind=kind, direction=rec["direction"], t=rec["underlying"],
            conc=conc, repeat=rep, watch=watch, label="Unusual activity")  # fmt: skip
    s.keys += ck + rk
    return s


def unusual_summary(fb: FigureBook, rec: Mapping[str, Any] | None) -> Sentence | None:
    """The ticker's multiples when the scanner does not select it (rule ``unusual.below``), for
    the flow summary; None when it is a hit or the part is not stored."""
    if not rec or rec.get("hit"):
        return None
    keys = [fb.add("un.premium", rec.get("premium_usd"), "USD", "money", "option premium of the session"),
            fb.add("un.premium_multiple", rec.get("premium_multiple"), "ratio", "ratio", "premium / rolling average"),
            fb.add("un.sessions", rec.get("sessions_in_average"), "sessions", "int", "sessions in the average"),
            fb.add("un.avg_premium", rec.get("avg_premium_usd"), "USD", "money", "average premium of the earlier sessions"),
            fb.add("un.volume_multiple", rec.get("volume_multiple"), "ratio", "ratio", "volume / rolling average"),
            fb.add("un.min_multiple", th("unusual_min_multiple"), "ratio", "ratio", "scanner multiple threshold")]  # fmt: skip
    return say(fb, "unusual.below", *keys)


def unusual_section(fb: FigureBook, doc: Mapping[str, Any]) -> Section | None:
    """The ticker's scanner hit (``doc["unusual"]``, attached by the report writer): its
    sentence and the contracts table; None when the ticker is not a hit."""
    rec = doc.get("unusual")
    if not rec or not rec.get("hit"):
        return None
    tables = []
    if rec.get("contracts"):
        tables.append(fb.table("unusual_contracts", f"{rec['underlying']}: the session's largest contracts by premium",
                               _CONTRACT_COLS, [dict(c) for c in rec["contracts"]]))  # fmt: skip
    return Section(
        id="unusual_activity", title=_TITLE, sentences=[unusual_sentence(fb, rec)], tables=tables
    )


def daily_unusual_section(fb: FigureBook, m: Mapping[str, Any]) -> Section | None:
    """The daily report's scanner hits (``m["unusual"]``, attached by the report writer): a
    count, one sentence per hit (at most ``unusual_max_rows``) and the table; None when the
    session has no stored scanner part."""
    rows = m.get("unusual")
    if rows is None:
        return None
    km = fb.add(
        "daily.unusual.min_multiple",
        th("unusual_min_multiple"),
        "ratio",
        "ratio",
        "scanner multiple threshold",
    )
    kn = fb.add("daily.unusual.min_sessions", th("unusual_min_sessions"), "sessions", "int", "sessions needed in the average")  # fmt: skip
    if not rows:
        return Section(
            id="unusual_activity", title=_TITLE, sentences=[say(fb, "unusual.none", km, kn)]
        )
    kc = fb.add("daily.unusual.count", len(rows), "tickers", "int", "scanner hits")
    names = ", ".join(r["underlying"] for r in rows)
    sents = [say(fb, "unusual.daily", kc, km, names=names)]
    for r in rows[: int(th("unusual_max_rows"))]:
        sents.append(unusual_sentence(fb, r, p=f"daily.unusual.{r['underlying']}"))
    recs = [{**r, "top": (f"{c['expiry']} {c['strike']:g} {c['right']}" if (c := (r.get("contracts") or [None])[0]) else None),
             "direction": r.get("direction") or "n/a"} for r in rows]  # fmt: skip
    cols = [("underlying", "ticker", "", "text"), ("direction", "direction", "", "text"),
            ("premium_usd", "premium", "USD", "money"), ("avg_premium_usd", "avg premium", "USD", "money"),
            ("premium_multiple", "premium ×avg", "ratio", "ratio"), ("volume_multiple", "volume ×avg", "ratio", "ratio"),
            ("bought_share", "bought", "fraction", "pct"), ("top", "largest contract", "", "text"),
            ("top_share", "named contracts' share", "fraction", "pct")]  # fmt: skip
    return Section(id="unusual_activity", title=_TITLE, sentences=sents,
                   tables=[fb.table("unusual_hits", "Scanner hits: premium or volume at least the multiple of the rolling average", cols, recs)])  # fmt: skip
