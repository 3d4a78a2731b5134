"""Watch list: the items a report of session D watches, their follow-up on D+1, and the
user's own list kept in the store (``chainlens watch add|list|remove``; issue 11, seed 002
"watch list": a roll extends the thesis, a close exits it, opposite builds reduce conviction).

Follow-up of an item watched with OI :math:`O_D` (contracts) against the next stored
session's OI :math:`O_{D+1}` of the same contract (OSI symbol):

* ``rolled``    a roll of that session starts from the contract (its OI moved to a later
  expiry; :func:`chainlens.oi.detect_rolls`);
* ``confirmed`` :math:`O_{D+1} \\ge h \\cdot O_D` (OI held; ``h`` = ``followup_hold_fraction``);
* ``closed``    :math:`O_{D+1} \\le c \\cdot O_D` (``c`` = ``followup_closed_fraction``) or
  the contract is gone from the chain;
* ``unwound``   in between (part of the position closed).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FOLLOWUP_THRESHOLDS",
    "add_watch",
    "classify",
    "list_watch",
    "remove_watch",
    "watch_followup",
    "watch_items",
]

#: ``name -> (value, unit, where)``.
FOLLOWUP_THRESHOLDS: Mapping[str, tuple[float, str, str]] = {
    "followup_hold_fraction": (0.90, "OI next session / OI watched (held)", "report._watch"),
    "followup_closed_fraction": (0.10, "OI next session / OI watched (closed)", "report._watch"),
}
WATCH_FILE = "watchlist.json"


def classify(oi_then: float | None, oi_now: float | None, rolled: bool) -> str:
    """Status of one watch item (module notes); ``oi_now`` None means the contract is gone."""
    if rolled:
        return "rolled"
    if oi_then is None or oi_then <= 0:
        return "confirmed" if (oi_now or 0) > 0 else "closed"
    now = float(oi_now or 0.0)
    if now >= FOLLOWUP_THRESHOLDS["followup_hold_fraction"][0] * oi_then:
        return "confirmed"
    if now <= FOLLOWUP_THRESHOLDS["followup_closed_fraction"][0] * oi_then:
        return "closed"
    return "unwound"


def watch_items(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The contracts a report of ``doc`` watches: accumulation and deep-OTM put builds (the
    contract, OI now) and the target leg of each roll (OI after the roll); one per symbol."""
    from chainlens.report._signals import accumulation_signals, roll_signals

    out: dict[str, dict[str, Any]] = {}
    for s in accumulation_signals(doc):
        if s.get("symbol"):
            out.setdefault(s["symbol"], {"symbol": s["symbol"], "right": s["right"], "strike": s["strike"],
                                         "expiry": s["expiry"], "source": s["kind"].replace("_", " "),
                                         "oi_then": s.get("oi_end")})  # fmt: skip
    for s in roll_signals(doc):
        if s["kind"] != "naked_close" and s.get("to_symbol"):
            out.setdefault(s["to_symbol"], {"symbol": s["to_symbol"], "right": s["right"], "strike": s["to_strike"],
                                            "expiry": s["to_expiry"], "source": s["kind"].replace("_", " "),
                                            "oi_then": s.get("to_oi")})  # fmt: skip
    return list(out.values())


def _path(store: Any) -> Path:
    return Path(store.root) / WATCH_FILE


def list_watch(store: Any) -> list[dict[str, Any]]:
    """The user's watch list: ``[{"symbol", "added"}]`` (OSI symbols; empty if none)."""
    p = _path(store)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        from chainlens.errors import StoreError

        raise StoreError(f"{p}: the watch list is not valid JSON ({exc})") from None
    return list(data.get("items") or [])


def _save(store: Any, items: Sequence[Mapping[str, Any]]) -> None:
    p = _path(store)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps({"items": list(items)}, indent=1, sort_keys=True))
    tmp.replace(p)


def add_watch(store: Any, symbol: str, *, added: dt.date | None = None) -> list[dict[str, Any]]:
    """Add an OSI option symbol to the user's watch list (validated; no duplicates)."""
    from chainlens.errors import InputError
    from chainlens.symbols import parse_osi

    sym = symbol.strip().upper()
    try:
        parse_osi(sym)
    except Exception as exc:
        raise InputError(
            f"not an OSI option symbol ({exc})", column="SYMBOL", value=symbol
        ) from None
    items = list_watch(store)
    if all(i["symbol"] != sym for i in items):
        items.append({"symbol": sym, "added": (added or dt.date.today()).isoformat()})
        _save(store, items)
    return items


def remove_watch(store: Any, symbol: str) -> list[dict[str, Any]]:
    """Remove a symbol from the user's watch list (an error names it when absent)."""
    from chainlens.errors import InputError

    sym = symbol.strip().upper()
    items = list_watch(store)
    keep = [i for i in items if i["symbol"] != sym]
    if len(keep) == len(items):
        raise InputError("not on the watch list", column="SYMBOL", value=symbol)
    _save(store, keep)
    return keep


def watch_followup(store: Any, doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """Yesterday's watch items of ``doc``'s ticker (the previous stored session's document, plus
    the user's list for this ticker) checked against this session's chain.

    Returns ``{"from_session", "items": [{symbol, right, strike, expiry, source, oi_then,
    oi_now, status}], "counts": {status: n}}`` or None when there is no earlier document.
    """
    from chainlens._dates import doc_date
    from chainlens.symbols import parse_osi

    t, session = doc["underlying"], doc_date(doc["session"])
    earlier = [d for d in store.session_dates(t) if d < session]
    if not earlier:
        return None
    prev_day = earlier[-1]
    try:
        prev = store.read_docs(prev_day, t)
    except Exception:
        prev = []
    items = watch_items(prev[0]) if prev else []
    seen = {i["symbol"] for i in items}
    for u in list_watch(store):
        try:
            p = parse_osi(u["symbol"])
        except Exception:
            continue
        if u["symbol"] in seen or str(getattr(p, "root", "")).upper() not in (t, t + "W"):
            continue
        items.append({"symbol": u["symbol"], "right": p.right, "strike": p.strike,
                      "expiry": p.expiry.isoformat(), "source": "user list", "oi_then": None})  # fmt: skip
    if not items:
        return {"from_session": prev_day.isoformat(), "items": [], "counts": {}}
    syms = [i["symbol"] for i in items]
    oi = store.oi_history(t, symbols=syms, start=prev_day, end=session)
    by: dict[tuple[str, str], float] = {}
    for r in oi.to_pylist():
        by[(r["symbol"], str(r["trade_date"])[:10])] = float(r["open_interest"] or 0.0)
    rolled_from = {
        (r.get("from_symbol") or "") for r in (doc.get("oi") or {}).get("rolls") or []
        if r.get("kind") in ("bullish_roll", "bearish_roll")
    }  # fmt: skip
    counts: dict[str, int] = {}
    for i in items:
        if i["oi_then"] is None:
            i["oi_then"] = by.get((i["symbol"], prev_day.isoformat()))
        i["oi_now"] = by.get((i["symbol"], session.isoformat()))
        i["status"] = classify(i["oi_then"], i["oi_now"], i["symbol"] in rolled_from)
        counts[i["status"]] = counts.get(i["status"], 0) + 1
    return {"from_session": prev_day.isoformat(), "items": items, "counts": counts}
