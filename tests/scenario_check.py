"""Planted scenarios vs the reports (issue 11): every scenario of ``scenarios.json`` is named in
its ticker's flow report on or after its first session, with the right kind and direction,
in a sentence that also names one of its strikes (dark-pool distribution: the daily report's
distribution table names the ticker on the rally day)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from chainlens.report._session import daily_report, ticker_report
from chainlens.symbols import parse_osi

#: scenario kind -> the words its sentence starts with (direction in brackets follows).
PHRASES: Mapping[str, str] = {
    "accumulation": "Accumulation",
    "deep_otm_put_build": "Deep-OTM put build",
    "bullish_roll": "Bullish roll",
    "bearish_roll": "Bearish roll",
    "naked_close": "Naked close",
    "call_selling_rally": "Call selling into strength",
    "earnings_ramp": "Earnings build",
    "max_pain_pin": "Max-pain pin",
    "premium_spike": "Premium spike",
}
DIRECTIONS: Mapping[str, str] = {"exit_bullish": "bullish exit", "exit_bearish": "bearish exit"}


def _strikes(sc: Mapping[str, Any]) -> set[str]:
    out = set()
    for c in sc.get("contracts") or []:
        k = parse_osi(c).strike
        out.add(f"${k:,.0f}" if k == int(k) else f"${k:,.2f}".rstrip("0"))
    return out


def missed(store: Any, scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    """Scenarios no report names (messages), checking the stored sessions on or after each
    scenario's first session."""
    bad = []
    cache: dict[tuple[str, dt.date], list[str]] = {}
    for sc in scenarios:
        first = dt.date.fromisoformat(sc["sessions"][0])
        t, kind = sc["ticker"], sc["kind"]
        if kind == "darkpool_distribution":
            r = daily_report(store, dt.date.fromisoformat(sc["sessions"][-1]))
            rows = [
                row for s in r.sections for tb in s.tables if tb.id == "dp_dist" for row in tb.rows
            ]
            if not any(t in map(str, row) for row in rows):
                bad.append(f"{kind} {t} {sc['sessions']}: not in the daily distribution table")
            continue
        phrase = f"{PHRASES[kind]} ({DIRECTIONS.get(sc['direction'], sc['direction'])})"
        strikes = (
            _strikes(sc)
            if kind not in ("call_selling_rally", "earnings_ramp", "max_pain_pin")
            else set()
        )
        found = False
        for d in [x for x in store.session_dates(t) if x >= first]:
            if (t, d) not in cache:
                try:
                    rep = ticker_report(store, t, d)
                except Exception:
                    cache[(t, d)] = []
                    continue
                cache[(t, d)] = [x.text for s in rep.sections for x in s.sentences]
            for text in cache[(t, d)]:
                if text.startswith(phrase) and (not strikes or any(k in text for k in strikes)):
                    found = True
                    break
            if found:
                break
        if not found:
            bad.append(
                f"{kind} {t} {sc['direction']} {sc['sessions']} {sorted(strikes)}: not named"
            )
    return bad
