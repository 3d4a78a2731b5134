"""Reliability sentences for the reports ("Signal vs Noise", "what worked yesterday").

Both are public functions over :func:`chainlens.outcomes.measure_underlying`, so a report
lens or the daily report can state them through its rule layer without reading any stored
result directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainlens.store import Store

__all__ = [
    "LENS_RULES",
    "YESTERDAY_RULES",
    "reliability_by_ticker",
    "reliability_for",
    "what_worked",
]

#: Rules checked by "what worked yesterday" (the claims about the session that just closed).
YESTERDAY_RULES = (
    "max_pain_pin",
    "walls",
    "expected_move_zone",
    "flow_label",
    "accumulation_held",
    "rolls_held",
    "watch_items",
)
#: The outcome rules each report lens fires (its "Signal vs Noise" states their reliability).
LENS_RULES: dict[str, tuple[str, ...]] = {
    "flow": ("flow_label", "flow_divergence", "walls", "accumulation_held", "max_pain_pin"),
    "bias": ("flow_label", "gamma_regime", "rolls_direction"),
    "premium": ("expected_move_zone", "walls", "max_pain_pin"),
    "earnings": ("expected_move_zone",),
}
#: Sessions read before the checked session: the longest horizon (5) plus the streak look-back.
_LOOKBACK_SESSIONS = 12


def reliability_for(
    ticker: str,
    rules: Sequence[str],
    store: Store,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[str]:
    """One sentence per rule: its measured hits, n and baseline for ``ticker`` up to ``end``.

    A rule with fewer than :data:`chainlens.outcomes.MIN_EVENTS` events says that n is too small
    to say anything; a rule with none says so. Meant for each lens's "Signal vs Noise" section
    (the rules that lens fires).

    Examples
    --------
    The sentence for a measured rule reads
    ``"max_pain_pin: 9 of 31 expiries hit (29%), baseline 5 of 31."``
    """
    from chainlens.outcomes._measure import measure_underlying

    if not rules:
        return []
    res = measure_underlying(store, ticker, start=start, end=end, rules=list(rules))
    return [r.sentence() for r in res]


def reliability_by_ticker(
    store: Store,
    session: dt.date,
    tickers: Sequence[str],
    rules: Sequence[str] | None = None,
) -> dict[str, dict[str, str]]:
    """``{ticker: {rule: sentence}}`` measured on the stored history up to ``session`` (every
    rule of :data:`LENS_RULES` by default), in one :func:`measure_outcomes` pass."""
    from chainlens.outcomes._measure import measure_outcomes

    chosen = rules or sorted({r for rs in LENS_RULES.values() for r in rs})
    out: dict[str, dict[str, str]] = {}
    for r in measure_outcomes(store, end=session, underlyings=list(tickers), rules=chosen):
        out.setdefault(r.underlying, {})[r.rule] = r.sentence()
    return out


def _fmt(x: Any) -> str:
    return f"{x:,.2f}" if isinstance(x, float) else str(x)


def _text(rule: str, e: dict[str, Any]) -> str:
    ok = "right" if e["hit"] else "wrong"
    if rule == "max_pain_pin":
        return (
            f"max pain {_fmt(e['max_pain'])} (expiry {e['expiry']}): close {_fmt(e['close'])}, "
            f"{e['distance_pct']:+.2f}% away: {'pinned' if e['hit'] else 'not pinned'}"
        )
    if rule == "walls":
        return (
            f"walls {_fmt(e['put_wall'])}-{_fmt(e['call_wall'])} set {e['session']}: close "
            f"{_fmt(e['next_close'])} {'inside' if e['hit'] else 'outside'}"
        )
    if rule == "expected_move_zone":
        return (
            f"expected-move zone {_fmt(e['low'])}-{_fmt(e['high'])} set {e['set_on']}: close "
            f"{_fmt(e['close'])} {'inside' if e['hit'] else 'outside'}"
        )
    if rule == "flow_label":
        return (
            f"flow label {e['side_label']} on {e['session']}: next return "
            f"{e['next_return_pct']:+.2f}%: {ok}"
        )
    if rule in ("accumulation_held", "rolls_held", "deep_otm_build_held"):
        return (
            f"{e['symbol']} OI {e['oi']:,} on {e['session']} -> {e['oi_after']:,}: "
            f"{'held' if e['hit'] else 'unwound'}"
        )
    if rule == "watch_items":
        if e["item"] == "contract":
            oi_after = "gone" if e["oi_after"] is None else f"{e['oi_after']:,.0f}"
            oi = "?" if e["oi"] is None else f"{e['oi']:,.0f}"
            return (
                f"watched {e['symbol']} ({e['source']}, {e['session']}): OI {oi} -> "
                f"{oi_after}: {e['status']}"
            )
        side = "call" if e["item"] == "call_wall" else "put"
        return (
            f"watched {side} wall {_fmt(e['level'])} ({e['session']}): close "
            f"{_fmt(e['outcome_close'])}: {e['status']}"
        )
    return f"{rule} from {e['session']}: {ok}"


def what_worked(
    store: Store,
    session: dt.date,
    *,
    underlyings: Sequence[str] | None = None,
    rules: Sequence[str] = YESTERDAY_RULES,
) -> list[dict[str, Any]]:
    """Yesterday's reads checked against ``session``'s close: every event whose outcome is
    ``session`` (pins of the expiry settling that day, the walls and zone set the session
    before, the flow label of the session before, OI streaks and rolls whose horizon ends that
    day), per underlying.

    Returns
    -------
    list of dict
        ``{"underlying", "rule", "session" (the signal session), "outcome_session", "hit",
        "text"}``, ordered by underlying then rule.
    """
    from chainlens.outcomes._measure import measure_underlying, stored_docs

    out: list[dict[str, Any]] = []
    tickers = list(underlyings) if underlyings else store.underlyings(session)
    # the stored documents' flow labels and watched contracts, one scan per session
    recent = [d for d in store.session_dates() if d <= session][-_LOOKBACK_SESSIONS:]
    docs = stored_docs(store, recent, tickers)
    for u in tickers:  # one iteration per underlying
        days = [d for d in store.session_dates(u) if d <= session]
        if not days or days[-1] != session:
            continue
        start = days[max(0, len(days) - _LOOKBACK_SESSIONS)]
        for r in measure_underlying(
            store, u, start=start, end=session, rules=list(rules), docs=docs.get(u)
        ):
            for e in r.events:
                if e.get("outcome_session") != session:
                    continue
                out.append(
                    {
                        "underlying": u,
                        "rule": r.rule,
                        "session": e["session"],
                        "outcome_session": session,
                        "hit": bool(e["hit"]),
                        "text": _text(r.rule, e),
                    }
                )
    return out
