"""Premium/volume multiple scanner hits as report records (seed 004 "Screener Explanation:
Premium/Volume Multiples", issue 11).

The scanner (:func:`chainlens.scan.scan_unusual`) is run once per session by ``chainlens run``
and stored as the ``scan_unusual`` part (every underlying's multiples; the default thresholds
select the hits: :func:`chainlens.scan._stored.unusual_selected`). A hit alone says "this name
traded N times its usual premium"; a flow trader acts on *what* traded. :func:`unusual_record`
joins the stored row with the ticker's stored flow (aggressor side mix and premium by strike
and expiry) and the earlier hits of the ticker, so one sentence can say how much, how unusual,
which way, where and whether it is a repeat. Every figure is the stored one:

* ``premium_usd``, ``avg_premium_usd``, ``premium_multiple``, ``volume``, ``avg_volume``,
  ``volume_multiple``, ``sessions_in_average``: the ``scan_unusual`` row (USD, contracts,
  ratios; the average is over the earlier sessions of the rolling window);
* ``bought_share``: premium traded on the buy side (at or near the ask) / all premium of the
  session, from the flow document's ``side_mix.buy_premium_share`` (fraction);
* ``direction``: the side-adjusted label of the directional premium (``flow.totals``
  ``dir_side_label``: calls bought and puts sold bullish, the reverse bearish; deep ITM and
  box-like premium left out), ``mixed`` for neutral, None without trades;
* ``contracts``: the largest live contracts by premium (``flow.top_strikes`` split by right), each
  with ``premium_usd``, ``share`` = its premium / ``premium_usd`` and ``bought_share`` = bought
  premium / its premium; ``top_share`` = the named contracts' premium / ``premium_usd``;
* ``earlier``: the ticker's hits in the (up to) ``unusual_history_sessions`` stored sessions
  before (``session``, ``premium_multiple``, ``volume_multiple``); ``history_sessions`` how
  many earlier sessions were searched (seed 004: "first hit ... 2nd hit [when I wrote the
  trade]").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from chainlens.report._readers import is_live, stored_part, threshold_reader
from chainlens.scan._settings import ScanSettings

__all__ = [
    "UNUSUAL_THRESHOLDS",
    "hit_tickers",
    "market_unusual",
    "spike_contracts",
    "ticker_unusual",
    "unusual_record",
]

_SCAN = ScanSettings()

#: ``name -> (value, unit, where it lives)``; merged into :data:`chainlens.report.rules.THRESHOLDS`.
UNUSUAL_THRESHOLDS: Mapping[str, tuple[Any, str, str]] = MappingProxyType(
    {
        "unusual_min_multiple": (_SCAN.unusual_min_multiple, "premium or volume / its rolling average (seed 004: 3-5x, 11x, 13x)", "scan.ScanSettings"),
        "unusual_min_sessions": (_SCAN.unusual_min_sessions, "earlier sessions in the rolling average", "scan.ScanSettings"),
        "unusual_top_contracts": (3, "contracts named in a scanner-hit sentence", "report._unusual"),
        "unusual_min_contract_share": (0.10, "a named contract's premium / the session's premium", "report._unusual"),
        "unusual_history_sessions": (5, "earlier stored sessions searched for earlier hits of the ticker", "report._unusual"),
        "unusual_max_rows": (5, "scanner hits with a sentence in the daily report", "report._unusual"),
    }
)  # fmt: skip

_th = threshold_reader(UNUSUAL_THRESHOLDS)


def spike_contracts(
    flow: Mapping[str, Any] | None,
    premium_usd: float | None,
    spot: float | None = None,
    session: str | None = None,
) -> list[dict[str, Any]]:
    """The session's contracts by premium, largest first, from the flow document's
    ``top_strikes`` (premium by expiry and strike, calls and puts apart): ``expiry, strike,
    right, premium_usd, share, bought_share, otm_pct`` (module notes; ``otm_pct`` = K / spot − 1
    for a call, 1 − K / spot for a put, a fraction, negative in the money), at most
    ``unusual_top_contracts``, each holding at least ``unusual_min_contract_share`` of
    ``premium_usd`` (the first one always). With ``session``, only contracts live after it (the
    session's expiring contracts are left out, as in every report table)."""
    rows: list[dict[str, Any]] = []
    for r in (flow or {}).get("top_strikes") or []:
        if session is not None and not is_live(session, r.get("expiry")):
            continue
        for right, word in (("C", "call"), ("P", "put")):
            p = float(r.get(f"{word}_premium_usd") or 0.0)
            if p <= 0:
                continue
            b = float(r.get(f"{word}s_bought_usd") or 0.0)
            k = r.get("strike")
            otm = (
                None
                if not spot or k is None
                else (k / spot - 1.0 if right == "C" else 1.0 - k / spot)
            )
            rows.append({"expiry": str(r.get("expiry"))[:10], "strike": k, "right": right,
                         "premium_usd": p, "bought_share": b / p, "otm_pct": otm})  # fmt: skip
    rows.sort(key=lambda x: (-x["premium_usd"], x["expiry"], x["strike"] or 0.0, x["right"]))
    tot = float(premium_usd or 0.0)
    out = []
    for i, x in enumerate(rows[: int(_th("unusual_top_contracts"))]):
        x["share"] = x["premium_usd"] / tot if tot > 0 else None
        if i and (x["share"] is None or x["share"] < _th("unusual_min_contract_share")):
            break
        out.append(x)
    return out


def unusual_record(
    row: Mapping[str, Any],
    flow: Mapping[str, Any] | None,
    earlier: Sequence[Mapping[str, Any]] = (),
    history_sessions: int = 0,
    spot: float | None = None,
) -> dict[str, Any]:
    """One scanner hit as a report record (module notes): the stored ``scan_unusual`` row,
    the ticker's flow document (``doc["flow"]``; None without trades), its earlier hits and
    the number of earlier stored sessions searched for them (``spot``: the session's close,
    for the contracts' distance from it)."""
    m = _th("unusual_min_multiple")
    pm, vm = row.get("premium_multiple"), row.get("volume_multiple")
    kind = "premium" if pm is not None and pm >= m else "volume"
    tot = (flow or {}).get("totals") or {}
    mix = (flow or {}).get("side_mix") or {}
    lab = tot.get("dir_side_label") or tot.get("side_label")
    direction = (
        None if not flow else {"bullish": "bullish", "bearish": "bearish"}.get(str(lab), "mixed")
    )
    cs = spike_contracts(flow, row.get("premium_usd"), spot, str(row.get("session"))[:10])
    shares = [c["share"] for c in cs if c.get("share") is not None]
    return {
        "underlying": row["underlying"],
        "session": str(row.get("session"))[:10],
        "kind": kind,
        "direction": direction,
        "premium_usd": row.get("premium_usd"),
        "avg_premium_usd": row.get("avg_premium_usd"),
        "premium_multiple": pm,
        "volume": row.get("volume"),
        "avg_volume": row.get("avg_volume"),
        "volume_multiple": vm,
        "sessions_in_average": row.get("sessions_in_average"),
        "bought_share": mix.get("buy_premium_share") if flow else None,
        "contracts": cs,
        "top_share": sum(shares) if shares else None,
        "earlier": [dict(e) for e in earlier],
        "history_sessions": history_sessions,
    }


# --------------------------------------------------------------------------- store readers


def _hits(store: Any, day: dt.date, underlying: str | None = None) -> list[dict[str, Any]]:
    from chainlens.scan._stored import unusual_selected

    t = stored_part(store, day, "scan_unusual", underlying)
    return [] if t is None or t.num_rows == 0 else unusual_selected(t).to_pylist()


def hit_tickers(store: Any, session: dt.date) -> list[str]:
    """The tickers of the session's scanner hits: the documents :func:`market_unusual`
    reads (whole; it reads no other document)."""
    return [h["underlying"] for h in _hits(store, session)]


def _earlier(
    store: Any, session: dt.date, underlying: str | None
) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """Earlier hits by ticker over the (up to) ``unusual_history_sessions`` stored sessions
    before ``session``, and how many sessions were searched."""
    days = [d for d in store.result_sessions() if d < session][
        -int(_th("unusual_history_sessions")) :
    ]
    out: dict[str, list[dict[str, Any]]] = {}
    for d in days:  # a loop over a few sessions
        for h in _hits(store, d, underlying):
            out.setdefault(h["underlying"], []).append(
                {
                    "session": d.isoformat(),
                    "premium_multiple": h.get("premium_multiple"),
                    "volume_multiple": h.get("volume_multiple"),
                }  # fmt: skip
            )
    return len(days), out


def ticker_unusual(store: Any, doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ticker's scanner reading of the document's session: ``{"hit": True, **record}``
    when the default thresholds select it (:func:`unusual_record`), ``{"hit": False, ...}``
    with the stored multiples when not, None when the part is not stored for the ticker."""
    t = doc["underlying"]
    session = dt.date.fromisoformat(str(doc["session"])[:10])
    tab = stored_part(store, session, "scan_unusual", t)
    if tab is None or tab.num_rows == 0:
        return None
    hits = _hits(store, session, t)
    row = hits[0] if hits else tab.to_pylist()[0]
    n, earlier = _earlier(store, session, t) if hits else (0, {})
    spot = (doc.get("analysis") or {}).get("spot")
    rec = unusual_record(row, doc.get("flow"), earlier.get(t, []), n, spot)
    return {"hit": bool(hits), **rec}


def market_unusual(
    store: Any, session: dt.date, docs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]] | None:
    """Every scanner hit of the session (largest premium multiple first) as records, with the
    flow of each ticker's document; None when the session has no stored ``scan_unusual`` part."""
    if stored_part(store, session, "scan_unusual") is None:
        return None
    hits = _hits(store, session)
    if not hits:
        return []
    by = {d["underlying"]: d for d in docs}
    n, earlier = _earlier(store, session, None)
    out = []
    for h in hits:  # a loop over the few hits
        d = by.get(h["underlying"]) or {}
        spot = (d.get("analysis") or {}).get("spot")
        out.append(unusual_record(h, d.get("flow"), earlier.get(h["underlying"], []), n, spot))
    return out
