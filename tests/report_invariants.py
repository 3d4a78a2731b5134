"""Invariants between the words of a report and its JSON model (issue 10, deliverable 4).

Each check reads the built report and the document it came from, independently of how the
lens code chose its words, and returns the list of violations (empty when the report holds).
Used by ``test_report_invariants.py`` (simulated seeds) and ``test_report_invariants_real.py``
(every real snapshot in ``../shared/data``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chainlens.analysis import analyze_chain
from chainlens.calendar import next_session
from chainlens.market import gex_at_spot
from chainlens.oi import VOL_OI_BANDS
from chainlens.report import LENSES, Report, build_daily, build_lens
from chainlens.report._charts import strike_in_axis
from chainlens.report.lenses.common import has_greeks
from chainlens.report.rules import RULES, th

_RULE_IDS = {r.id for r in RULES}
_ENUM = re.compile(r"\b[a-z0-9.]+_[a-z0-9_.]+\b|\d_\d")
#: Statements about the dealer gamma regime at spot (a print's own read-through says "the
#: dealer took the short-gamma side of this print", which is about the print, not the regime).
_SHORT = re.compile(r"short gamma at spot|dealers are short gamma")
_LONG = re.compile(r"long gamma at spot|dealers are long gamma")
_MULT = re.compile(r"(\d[\d,]*(?:\.\d+)?)×")
_TOP_VOL_OI = VOL_OI_BANDS[-1][0]
_BOUNDS = {b[0] for b in VOL_OI_BANDS}  # band names ("5×–10×", "above 10×") are not figures


def _texts(r: Report) -> list[tuple[str, str]]:
    out = [("header", s.text) for s in r.header]
    out += [(sec.id, s.text) for sec in r.sections for s in sec.sentences]
    return out


def _sentences(r: Report) -> list[Any]:
    return list(r.header) + [s for sec in r.sections for s in sec.sentences]


def _next(session: str) -> str:
    return str(next_session(dt.date.fromisoformat(session[:10])).isoformat())


def common_checks(r: Report) -> list[str]:
    """Rule ids, no enum values in prose or tables, no Vol/OI multiple above the top band."""
    bad = []
    for s in _sentences(r):
        if s.rule not in _RULE_IDS:
            bad.append(f"sentence without a rule: {s.text[:80]!r}")
    cells = [c for sec in r.sections for t in sec.tables for row in t.rows for c in row]
    scanner = {s.text for s in _sentences(r) if (s.rule or "").startswith("unusual.")}
    for where, text in [*_texts(r), *(("table", c) for c in cells)]:
        m = _ENUM.search(text)
        if m:
            bad.append(f"enum value {m.group(0)!r} in {where}: {text[:100]!r}")
        if text in scanner:  # premium/volume multiples of a rolling average, not Vol/OI
            continue
        for x in _MULT.findall(text):
            v = float(x.replace(",", ""))
            if v >= _TOP_VOL_OI and v not in _BOUNDS:
                bad.append(
                    f"Vol/OI multiple above the top band printed as a number: {text[:100]!r}"
                )
    return bad


def _expired_in_charts_and_tables(r: Report, session: str) -> list[str]:
    bad = []
    for sec in r.sections:
        for c in sec.charts:
            if c.x_label == "expiry" and any(str(x)[:10] <= session for x in c.x):
                bad.append(f"chart {c.id} plots an expiry on or before {session}")
            for s in c.series:
                if str(s.get("name", "")).startswith("IV ") and str(s["name"])[3:13] <= session:
                    bad.append(f"chart {c.id} plots expired smile {s['name']}")
        for t in sec.tables:
            cols = [c[0] for c in t.columns]
            if "expiry" in cols:
                i = cols.index("expiry")
                if any(row[i] is not None and str(row[i])[:10] <= session for row in t.values):
                    bad.append(f"table {t.id} lists an expiry on or before {session}")
    return bad


def lens_checks(r: Report, doc: Mapping[str, Any]) -> list[str]:
    """Invariants of a per-ticker lens against its pipeline document."""
    bad = common_checks(r)
    a, session = doc["analysis"], str(doc["session"])[:10]
    f = r.figures
    at = gex_at_spot(a) if has_greeks(doc) else None
    for _where, text in _texts(r):
        if _SHORT.search(text) and not (at is not None and at < 0):
            bad.append(f"'short gamma' while the profile at spot is {at}: {text[:100]!r}")
        if _LONG.search(text) and not (at is not None and at > 0):
            bad.append(f"'long gamma' while the profile at spot is {at}: {text[:100]!r}")
        if a.get("dealer_model") in ("classic", "short_all") and "DEX sign" in text:
            bad.append(f"DEX vote under the {a.get('dealer_model')} model: {text[:100]!r}")
    if not has_greeks(doc):
        for k, fig in f.items():
            if (
                "gex" in k or "dex" in k or fig.unit == "USD per 1% move"
            ) and fig.value is not None:
                bad.append(f"greeks-based figure {k} = {fig.display} on a store without greeks")
    rv = doc.get("realized_vol") or {}
    if "premium.rv" in f and (rv.get("returns") or 0) < th("realized_vol_min_returns"):
        if f["premium.rv"].value is not None:
            bad.append(f"realized vol stated from {rv.get('returns')} returns")
    for k, fig in f.items():  # a missing value prints n/a, never 0
        if fig.value is None and fig.display != "n/a":
            bad.append(f"missing {k} displayed {fig.display!r}")
    nxt = _next(session)
    for s in _sentences(r):
        if s.label == "Watch next session":
            for k in s.keys:
                if f[k].unit == "date" and str(f[k].value)[:10] <= nxt:
                    bad.append(
                        f"watch item expires on or before the next session: {s.text[:100]!r}"
                    )
    spot = a.get("spot")
    deep = th("deep_itm_pct")
    for right in "CP":
        for j in range(5):
            k = f.get(f"prem.{right}{j}.strike")
            if k is None or not spot:
                continue
            itm = ((spot - k.value) if right == "C" else (k.value - spot)) / spot * 100.0
            if itm > deep + 1e-9:
                bad.append(
                    f"premium concentration at {k.display} {right} is {itm:.1f}% in the money"
                )
    for sec in r.sections:
        for t in sec.tables:
            if t.id != "notable":
                continue
            cols = [c[0] for c in t.columns]
            for row in t.values:
                rec = dict(zip(cols, row, strict=True))
                if str(rec["expiry"])[:10] <= nxt:
                    bad.append(f"notable print expires on or before the next session: {rec}")
                d = rec.get("distance_frac")
                if d is not None:
                    itm = (-d if rec["right"] == "C" else d) * 100.0
                    if itm > deep + 0.5:  # trade spot vs snapshot spot
                        bad.append(f"notable print {itm:.1f}% in the money: {rec}")
    bad += _expired_in_charts_and_tables(r, session)
    bad += _strikes_in_axes(r)
    return [f"{r.title}: {b}" for b in bad]


def _strikes_in_axes(r: Report) -> list[str]:
    """Every strike (price figure) a section's sentences name lies inside the strike axis of
    every chart of that section."""
    bad = []
    for sec in r.sections:
        named = {
            r.figures[k].value
            for s in sec.sentences
            for k in s.keys
            if r.figures[k].fmt == "price" and isinstance(r.figures[k].value, (int, float))
        }
        for c in sec.charts:
            if not c.strike_axis:
                continue
            for v in sorted(named):
                if not strike_in_axis(c, v):
                    bad.append(
                        f"{sec.id}: ${v:,.2f} named in the text is outside chart {c.id} {c.strike_range}"
                    )
    return bad


def daily_checks(r: Report, m: Mapping[str, Any]) -> list[str]:
    """Invariants of the daily report against the market rollup."""
    bad = common_checks(r)
    session = str(m["session"])[:10]
    tilt = (m.get("convergence") or {}).get("tilt")
    for x in m.get("structures") or []:
        if tilt in ("bullish", "bearish") and x["direction"] != tilt:
            bad.append(f"{x['ticker']} {x['direction']} structure under a {tilt} tilt")
        if str(x["expiry"])[:10] <= _next(session):
            bad.append(
                f"{x['ticker']} structure on an expiry before the next session: {x['expiry']}"
            )
    dealers = {g["ticker"]: g for g in m.get("dealers") or []}
    for s in r.section("dealer_mechanics").sentences:
        t = s.text.split(":", 1)[0]
        at = (dealers.get(t) or {}).get("gex_at_spot_usd_per_1pct")
        if _SHORT.search(s.text) and not (at is not None and at < 0):
            bad.append(f"{t}: 'short gamma' with profile at spot {at}")
        if _LONG.search(s.text) and not (at is not None and at > 0):
            bad.append(f"{t}: 'long gamma' with profile at spot {at}")
    for k, fig in r.figures.items():
        if fig.value is None and fig.display != "n/a":
            bad.append(f"missing {k} displayed {fig.display!r}")
    for j, g in enumerate(m.get("dealers") or []):  # no greeks: n/a, never GEX $0
        if (
            gex_at_spot({"spot": g.get("spot"), "profile": {}}) is None
            and g.get("gex_at_spot_usd_per_1pct") is None
        ):
            z = r.figures.get(f"dealer.{j}.zone")
            if z is not None and z.value == 0.0:
                bad.append(f"{g['ticker']}: zone GEX printed as 0 without a gamma profile")
    return [f"{r.title}: {b}" for b in bad]


def _live_chain_by_strike(chain: pa.Table, session: str) -> dict[float, dict[str, float]]:
    """Call/put OI and volume per strike of the raw stored chain's contracts expiring after
    ``session`` (the reference the by-strike charts and tables of a report are held to)."""
    live = chain.filter(pc.greater(pc.cast(chain.column("expiry"), pa.date32()),
                                   pa.scalar(dt.date.fromisoformat(session), pa.date32())))  # fmt: skip
    out: dict[float, dict[str, float]] = {}
    for row in live.select(["strike", "right", "open_interest", "volume"]).to_pylist():
        side = "call" if row["right"] == "C" else "put"
        rec = out.setdefault(float(row["strike"]), {})
        for k in ("open_interest", "volume"):
            col = f"{side}_{'oi' if k == 'open_interest' else 'volume'}"
            v = row[k]
            rec[col] = rec.get(col, 0.0) + (0.0 if v is None or v != v else float(v))
    return out


def live_reference(doc: Mapping[str, Any], chain: pa.Table | None) -> dict[str, Any] | None:
    """The raw chain's live sums per strike (OI, volume) and the GEX by strike of the chain
    analysed with its live contracts only (``None`` without a chain)."""
    if chain is None or chain.num_rows == 0:
        return None
    session = str(doc["session"])[:10]
    live = chain.filter(
        pc.greater(pc.cast(chain.column("expiry"), pa.date32()),
                   pa.scalar(dt.date.fromisoformat(session), pa.date32()))
    )  # fmt: skip
    gex: dict[float, float] = {}
    if live.num_rows and has_greeks(doc):
        a = next(x for x in analyze_chain(live) if x.underlying == doc["underlying"])
        gex = dict(zip(a.by_strike.column("strike").to_pylist(),
                       a.by_strike.column("gex_usd_per_1pct").to_pylist(), strict=True))  # fmt: skip
    return {"oi": _live_chain_by_strike(chain, session), "gex": gex}


def by_strike_checks(r: Report, doc: Mapping[str, Any], lref: dict[str, Any] | None) -> list[str]:
    """No by-strike chart or table includes contracts expiring on or before the report's
    session: the OI chart and the OI/volume columns of the by-strike tables equal the raw
    chain's sums over ``expiry > session``; the GEX chart equals the GEX by strike of the
    chain analysed with its live contracts only; the OI change chart draws the live change."""
    if lref is None:
        return []
    session = str(doc["session"])[:10]
    ref, gex = lref["oi"], lref["gex"]
    bad = []

    def _cmp(where: str, k: float, col: str, got: Any) -> None:
        want = ref.get(float(k), {}).get(col, 0.0)
        if abs((got or 0) - want) > 0.5:
            bad.append(f"{where} {col} at {k} is {got}, live chain (expiry > {session}) {want}")

    for sec in r.sections:
        for c in sec.charts:
            if c.id == "oi_by_strike":
                for i, k in enumerate(c.x):
                    _cmp(c.id, k, "call_oi", c.series[0]["values"][i])
                    _cmp(c.id, k, "put_oi", -(c.series[1]["values"][i] or 0))
            elif c.id == "gex_by_strike":
                for i, k in enumerate(c.x):
                    got, want = c.series[0]["values"][i] or 0.0, gex.get(float(k), 0.0)
                    if abs(got - want) > 1e-6 * max(1.0, abs(want)):
                        bad.append(f"gex_by_strike at {k} is {got}, live chain {want}")
            elif c.id == "oi_change":
                o = doc.get("oi") or {}
                rows = o.get("change_by_strike_live")
                if rows is None and any(
                    str(x.get("expiry"))[:10] <= session for x in o.get("changes") or []
                ):
                    bad.append("oi_change plots a change session holding expired contracts")
                want = {x["strike"]: x for x in rows or o.get("change_by_strike") or []}
                for i, k in enumerate(c.x):
                    if c.series[0]["values"][i] != (want.get(k) or {}).get("call_oi_change"):
                        bad.append(f"oi_change at {k} is not the live change")
        for t in sec.tables:
            if t.id not in ("vol_oi_by_strike", "positioning_by_strike"):
                continue
            cols = [x[0] for x in t.columns]
            for row in t.values:
                rec = dict(zip(cols, row, strict=True))
                for col in ("call_oi", "put_oi", "call_volume", "put_volume"):
                    if col in rec:
                        _cmp(t.id, rec["strike"], col, rec[col])
    return [f"{r.title}: {b}" for b in bad]


def check_session(
    docs: list[Mapping[str, Any]],
    market: Mapping[str, Any],
    *,
    no_data: bool = False,
    chains: Mapping[str, pa.Table] | None = None,
) -> list[str]:
    """Every lens of every document and the daily report of one session (each built once);
    with ``no_data``, also no "no data" section the stored data could have filled; with
    ``chains`` (underlying -> the raw stored chain of the session), also the by-strike charts
    and tables against the chain's live contracts."""
    bad = []
    for doc in docs:
        lref = live_reference(doc, chains.get(doc["underlying"])) if chains is not None else None
        for lens in LENSES:
            r = build_lens(doc, lens)
            bad += lens_checks(r, doc)
            bad += by_strike_checks(r, doc, lref)
            if no_data:
                bad += _lens_no_data(r, doc)
    d = build_daily(market)
    bad += daily_checks(d, market)
    if no_data:
        bad += _daily_no_data(d, market)
    return bad


#: Sections that may say "no data", with the input whose absence allows it.
_MAY_BE_EMPTY = {
    "notable_prints": "trades",
    "earnings_setup": "earnings",
    "iv_vs_realized": "iv",
    "expected_move": "straddle",
    "smile_skew": "iv",
    "dealer_surfaces": "greeks",
}
_DAILY_MAY_BE_EMPTY = {
    "side_decomposition": "trades",
    "top_flow": "trades",
    "ticker_notes": "single",
    "sector_flow": "trades",
    "darkpool": "prints",
    "dealer_mechanics": "index",
    "zones": "iv",
}


def _live_iv(doc: Mapping[str, Any]) -> bool:
    s = str(doc["session"])[:10]
    exps = (doc["analysis"].get("vol") or {}).get("expiries") or []
    return any(str(e.get("expiry"))[:10] > s and e.get("atm_iv") is not None for e in exps)


def _lens_no_data(r: Report, doc: Mapping[str, Any]) -> list[str]:
    absent = {
        "trades": doc.get("flow") is None,
        "earnings": not (doc.get("earnings") or {}).get("next_date"),
        "iv": not _live_iv(doc),
        "greeks": not has_greeks(doc),
        "straddle": not any(
            str(e.get("expiry"))[:10] > str(doc["session"])[:10]
            and e.get("expected_move_pct") is not None
            for e in (doc["analysis"].get("vol") or {}).get("expiries") or []
        ),
    }
    return [
        f"{r.title}: section {sec.id} says no data"
        for sec in r.sections
        if sec.status == "no_data" and not absent.get(_MAY_BE_EMPTY.get(sec.id, ""), False)
    ]


def _daily_no_data(d: Report, market: Mapping[str, Any]) -> list[str]:
    absent = {
        "trades": market.get("side") is None,
        "prints": market.get("darkpool") is None,
        "index": not market.get("dealers"),
        "iv": not market.get("zones"),
        "single": not market.get("ticker_notes"),
    }
    return [
        f"{d.title}: section {sec.id} says no data"
        for sec in d.sections
        if sec.status == "no_data" and not absent.get(_DAILY_MAY_BE_EMPTY.get(sec.id, ""), False)
    ]
