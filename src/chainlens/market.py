"""Market-wide rollups over the per-underlying pipeline documents (seed 003).

:func:`market_rollup` is the cheap second step of the daily pipeline: it reads only the
documents :func:`chainlens.pipeline.analyze_underlying` produced and returns one JSON-ready
dict with the side decomposition of all option premium against the naive C/P ratio, the
top-flow table with naive and side-adjusted labels and the flip rate, the dark-pool
accumulation and distribution lists, the expected-move zone table, dealer mechanics near spot,
sector flow, the convergence count (each input with the rule that produced it), rule-based
trade structures with a conviction score, and a macro panel only when macro series are given.

Every threshold is data (:data:`RULES`), never a scattered ``if``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from chainlens._dates import doc_date

if TYPE_CHECKING:
    from chainlens.results import MarketFacts

__all__ = [
    "DEFAULT_SECTORS",
    "DISCLAIMER",
    "INDEX_LIKE",
    "INDEX_TICKERS",
    "NOTE_VERDICTS",
    "PCR_READING",
    "RULES",
    "agree_with_tilt",
    "chain_activity",
    "gex_at_spot",
    "name_type",
    "convergence",
    "market_facts",
    "market_rollup",
    "side_decomposition",
    "ticker_notes",
    "trade_structures",
]

#: Default sector map for common ETFs and large caps (a user ``sectors`` table overrides it).
DEFAULT_SECTORS: Mapping[str, str] = {
    **dict.fromkeys(("SPX", "SPY", "NDX", "QQQ", "RUT", "IWM", "DIA", "VOO", "IVV"), "Index"),
    "VIX": "Volatility",
    **dict.fromkeys(("AAPL", "MSFT", "NVDA", "AVGO", "AMD", "INTC", "ORCL", "CRM", "ADBE", "MU", "XLK", "PLTR"), "Technology"),
    **dict.fromkeys(("GOOGL", "GOOG", "META", "NFLX", "DIS", "XLC"), "Communication Services"),
    **dict.fromkeys(("AMZN", "TSLA", "HD", "NKE", "MCD", "XLY"), "Consumer Discretionary"),
    **dict.fromkeys(("JPM", "BAC", "C", "WFC", "GS", "MS", "BRK.B", "XLF"), "Financials"),
    **dict.fromkeys(("XOM", "CVX", "COP", "SLB", "OXY", "XLE", "USO"), "Energy"),
    **dict.fromkeys(("UNH", "LLY", "JNJ", "ABBV", "PFE", "MRK", "XLV"), "Health Care"),
    **dict.fromkeys(("GLD", "SLV", "GDX"), "Precious Metals"),
    **dict.fromkeys(("TLT", "IEF", "HYG", "LQD"), "Rates & Credit"),
    **dict.fromkeys(("XLU", "NEE", "DUK", "SO"), "Utilities"),
    **dict.fromkeys(("XLI", "CAT", "BA", "GE", "RTX"), "Industrials"),
    **dict.fromkeys(("PG", "KO", "PEP", "WMT", "COST", "XLP"), "Consumer Staples"),
}  # fmt: skip

#: The index products whose dealer mechanics and zones lead the report (seed 003).
INDEX_TICKERS: tuple[str, ...] = ("SPX", "SPY", "QQQ", "IWM", "NDX", "RUT")

#: Index options and index ETFs whose put/call OI reflects hedging, not direction (seed 002
#: "PCR for individual stocks carries more directional information"; SPY, QQQ, SPX named).
INDEX_LIKE: frozenset[str] = frozenset(
    (*INDEX_TICKERS, "DIA", "VOO", "IVV", "XSP", "SPXW", "NDXP", "MRUT", "DJX", "OEX", "XEO")
)


def name_type(ticker: str) -> str:
    """``index`` (index options and index ETFs: :data:`INDEX_LIKE`) or ``single`` (seed 002)."""
    return "index" if ticker.upper() in INDEX_LIKE else "single"


#: Seed 002 put/call OI bands read by name type: the directional vote (+1 bullish, -1 bearish,
#: 0 none) and the reading. Index products: hedging, 1.2-2.0 a possible near-term support;
#: single names: directional, extremes contrarian.
PCR_READING: Mapping[tuple[str, str], tuple[int, str]] = {
    ("index", "below_0.3"): (0, "extreme call dominance, minimal hedging (complacency watch)"),
    ("index", "0.3_0.7"): (0, "light hedging demand"),
    ("index", "0.7_1.2"): (0, "balanced hedging and speculation"),
    ("index", "1.2_2.0"): (0, "put-heavy hedging, a possible near-term support"),
    ("index", "above_2.0"): (0, "maximum protection in place (contrarian support watch)"),
    ("single", "below_0.3"): (0, "extreme call dominance (contrarian exhaustion watch)"),
    ("single", "0.3_0.7"): (1, "call-heavy positioning (directional confirmation)"),
    ("single", "0.7_1.2"): (0, "balanced (not useful)"),
    ("single", "1.2_2.0"): (-1, "put-heavy positioning (bearish)"),
    ("single", "above_2.0"): (0, "extreme put dominance (contrarian watch, not a bearish vote)"),
}


def _has_greeks(analysis: Mapping[str, Any]) -> bool:
    """The snapshot had contracts with usable greeks (the gamma profile used some)."""
    used = (analysis.get("profile") or {}).get("contracts_used")
    return bool(used) if used is not None else analysis.get("greeks") not in (None, "none")


def gex_at_spot(analysis: Mapping[str, Any]) -> float | None:
    """Dealer GEX (USD per 1 % move) of the gamma profile at spot, linearly interpolated
    between the two profile levels around spot (``None`` without a profile covering spot).
    The only input of "short/long gamma at spot" wording."""
    spot = _fin(analysis.get("spot"))
    prof = analysis.get("profile") or {}
    lv = prof.get("levels") or []
    g = (prof.get("gex_usd_per_1pct") or {}).get("all") or []
    if spot is None or len(lv) < 2 or len(lv) != len(g):
        return None
    if not _has_greeks(analysis):
        return None
    pts = [(float(x), float(y)) for x, y in zip(lv, g, strict=True) if _fin(y) is not None]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= spot <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (spot - x0) / (x1 - x0)
    return None


#: Thresholds of every market rule (data, not scattered ``if`` s).
RULES: Mapping[str, Any] = {
    "top_flow_n": 16,  # seed 003 "Top Flow": 16 names
    "extreme_directional_share": 0.5,  # |net| / total premium for an "extreme" ticker read
    "extreme_min_premium_usd": 1e6,
    "unknown_share_low_confidence": 0.35,  # above this, a ticker's options read is low confidence
    "darkpool_min_confidence": 0.5,  # placed share of dark-pool notional to count a label
    "gamma_zone_half_width_pct": 1.0,  # dealer mechanics: strikes within ±1% of spot
    "structure_min_signals": 2,  # aligned signals for a trade structure
    "structure_max": 6,
    "rr_not_directional": ("VIX",),  # volatility products carry structural call skew
    "side_confidence_high": 0.15,  # unknown share below this: high side confidence
    "structure_min_dte": 7,  # an expected-move horizon expiry is at least this far out
    "structure_max_dte": 120,  # a structure's horizon expiry is at most this far out (no LEAPS)
}

DISCLAIMER = (
    "Rule-based illustration generated from the aligned signals listed; not investment advice, "
    "not an execution recommendation. Validate liquidity, expected move and exposure before "
    "sizing risk."
)


def _num(x: Any) -> float:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return math.nan
    return f


def _fin(x: Any) -> float | None:
    f = _num(x)
    return f if math.isfinite(f) else None


_BUCKETS = (
    "calls_bought_usd", "calls_sold_usd", "puts_bought_usd", "puts_sold_usd", "mid_usd",
    "unknown_usd", "multileg_usd", "total_usd", "call_premium_usd", "put_premium_usd",
    "deep_itm_usd", "synthetic_usd", "excluded_usd", "dir_calls_bought_usd", "dir_calls_sold_usd",
    "dir_puts_bought_usd", "dir_puts_sold_usd", "dir_call_premium_usd", "dir_put_premium_usd",
    "delta_bullish_usd", "delta_bearish_usd",
)  # fmt: skip


def side_decomposition(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Market-wide side decomposition of option premium (seed 003, "Side decomposition").

    Notes
    -----
    Sums each ticker's buckets (USD), then
    bullish = calls bought + puts sold, bearish = calls sold + puts bought,
    net = bullish − bearish, naive C/P = call premium / put premium,
    unknown share = (mid + unknown) / total (SPEC "Aggressor side"). The same over the
    directional trades (``dir_*``: deep in the money and box/conversion-like premium left out,
    ``excluded_share`` = that premium / total) and the delta-adjusted notional
    (``delta_net_usd`` = Σ |Δ|·S·size·m bullish − bearish) sit beside the raw totals.
    ``None`` when no ticker has trades.
    """
    flows = [d["flow"]["totals"] for d in docs if d.get("flow")]
    if not flows:
        return None
    s: dict[str, Any] = {k: float(sum(_num(f.get(k, 0.0)) or 0.0 for f in flows)) for k in _BUCKETS}
    s["trades"] = int(sum(int(f.get("trades", 0) or 0) for f in flows))
    for k in _BUCKETS:  # documents written before the directional columns: raw = directional
        if k.startswith("dir_") and not any(k in f for f in flows):
            s[k] = s[k[4:]]
    s["bullish_usd"] = s["calls_bought_usd"] + s["puts_sold_usd"]
    s["bearish_usd"] = s["calls_sold_usd"] + s["puts_bought_usd"]
    s["net_usd"] = s["bullish_usd"] - s["bearish_usd"]
    tot = s["total_usd"]
    s["unknown_share"] = (s["mid_usd"] + s["unknown_usd"]) / tot if tot > 0 else None
    s["naive_cp_ratio"] = (
        s["call_premium_usd"] / s["put_premium_usd"] if s["put_premium_usd"] > 0 else None
    )
    s["naive_label"] = (
        "bullish"
        if s["call_premium_usd"] > s["put_premium_usd"]
        else "bearish"
        if s["call_premium_usd"] < s["put_premium_usd"]
        else "neutral"
    )
    s["side_label"] = (
        "bullish" if s["net_usd"] > 0 else "bearish" if s["net_usd"] < 0 else "neutral"
    )
    s["flip"] = s["naive_label"] != s["side_label"]
    s["dir_bullish_usd"] = s["dir_calls_bought_usd"] + s["dir_puts_sold_usd"]
    s["dir_bearish_usd"] = s["dir_calls_sold_usd"] + s["dir_puts_bought_usd"]
    s["dir_net_usd"] = s["dir_bullish_usd"] - s["dir_bearish_usd"]
    s["delta_net_usd"] = s["delta_bullish_usd"] - s["delta_bearish_usd"]
    s["excluded_share"] = s["excluded_usd"] / tot if tot > 0 else None
    s["dir_naive_cp_ratio"] = (
        s["dir_call_premium_usd"] / s["dir_put_premium_usd"]
        if s["dir_put_premium_usd"] > 0
        else None
    )
    s["dir_naive_label"] = _sign_label(s["dir_call_premium_usd"] - s["dir_put_premium_usd"])
    s["dir_side_label"] = _sign_label(s["dir_net_usd"])
    s["dir_flip"] = s["dir_naive_label"] != s["dir_side_label"]
    s["tickers"] = len(flows)
    return s


def _sign_label(x: float) -> str:
    return "bullish" if x > 0 else "bearish" if x < 0 else "neutral"


def _dir(t: Mapping[str, Any], key: str) -> Any:
    """The directional version of a flow-totals key (``dir_<key>``) when the document has it
    (deep in the money and box/conversion-like premium left out), else the raw key."""
    return t.get("dir_" + key, t.get(key))


def _top_flow(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Top-flow table (seed 003 "Top Flow Decomposition"): the ``top_flow_n`` tickers by total
    premium with naive and side-adjusted labels; flip rate = flips / names (6/16 = 37.5 % in
    the seed), also over every ticker; ``directional_share`` = |net| / total premium. Labels,
    net and flips are directional (deep in the money and box/conversion-like premium left
    out); the raw ones are kept beside them (``raw_*``)."""
    rows = []
    for d in docs:
        f = d.get("flow")
        if not f:
            continue
        t = f["totals"]
        tot = _num(t.get("total_usd"))
        if not tot > 0:
            continue
        net = _num(_dir(t, "net_usd"))
        unk = _fin(t.get("unknown_share"))
        directional = abs(net) / tot
        naive, sidel = _dir(t, "naive_label"), _dir(t, "side_label")
        if naive != sidel and naive == "bullish" and net < 0:
            signal = "call selling masquerade"
        elif naive != sidel and naive == "bearish" and net > 0:
            signal = "put selling masquerade"
        elif directional >= RULES["extreme_directional_share"]:
            signal = f"extreme {'bullish' if net > 0 else 'bearish'}"
        elif unk is not None and unk > RULES["unknown_share_low_confidence"]:
            signal = "low confidence (high unknown share)"
        else:
            signal = "consistent"
        rows.append(
            {
                "ticker": d["underlying"],
                "naive_label": naive,
                "side_label": sidel,
                "raw_naive_label": t.get("naive_label"),
                "raw_side_label": t.get("side_label"),
                "premium_usd": tot,
                "net_usd": net,
                "raw_net_usd": _num(t.get("net_usd")),
                "excluded_share": _fin(t.get("excluded_share")),
                "unknown_share": unk,
                "directional_share": directional,
                "flip": bool(_dir(t, "flip")),
                "raw_flip": bool(t.get("flip")),
                "signal": signal,
            }
        )
    rows.sort(key=lambda r: -r["premium_usd"])
    top = rows[: RULES["top_flow_n"]]
    flips = sum(r["flip"] for r in top)
    all_flips = sum(r["flip"] for r in rows)
    raw_flips = sum(r["raw_flip"] for r in top)
    return {
        "rows": top,
        "raw_flips": raw_flips,
        "raw_flip_rate": raw_flips / len(top) if top else None,
        "flips": flips,
        "names": len(top),
        "flip_rate": flips / len(top) if top else None,
        "all_tickers": len(rows),
        "all_flips": all_flips,
        "all_flip_rate": all_flips / len(rows) if rows else None,
    }


def _darkpool(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Dark-pool accumulation and distribution lists (seed 003) from each ticker's
    :func:`chainlens.flow.darkpool_summary`: labelled tickers whose placed share of notional
    (confidence) is at least ``darkpool_min_confidence``, sorted by net USD."""
    rows = []
    for d in docs:
        f = d.get("flow") or {}
        dp = f.get("darkpool") or d.get("analysis", {}).get("darkpool_only")
        if dp:
            rows.append({"ticker": d["underlying"], **{k: dp.get(k) for k in (
                "notional_usd", "net_usd", "pct_at_ask", "pct_at_bid", "label", "confidence",
                "prints")}})  # fmt: skip
    if not rows:
        return None
    conf = RULES["darkpool_min_confidence"]
    acc = [r for r in rows if r["label"] == "accumulation" and (_num(r["confidence"]) >= conf)]
    dist = [r for r in rows if r["label"] == "distribution" and (_num(r["confidence"]) >= conf)]
    acc.sort(key=lambda r: -_num(r["net_usd"]))
    dist.sort(key=lambda r: _num(r["net_usd"]))
    return {
        "total_notional_usd": float(sum(_num(r["notional_usd"]) for r in rows)),
        "tickers": len(rows),
        "accumulation": acc,
        "distribution": dist,
        "low_confidence": sorted(r["ticker"] for r in rows if not _num(r["confidence"]) >= conf),
    }


def _zones(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Expected-move zone table (seed 003): the zone set at the previous close
    (:func:`chainlens.pipeline.prior_zone`) where available, else the snapshot's own nearest
    expiry zone (``basis`` says which); downside/upside ratio = |downside room| / |upside room|."""
    out = []
    for d in docs:
        pz = d.get("prior_zone")
        if pz:  # the zone set at the previous close, against today's close (seed 003)
            z, zone, basis = pz, pz, "previous close"
        else:
            exps = d.get("analysis", {}).get("vol", {}).get("expiries") or []
            z = next((e for e in exps if e.get("zone") and e["zone"].get("low") is not None), None)
            if z is None:
                continue
            zone, basis = z["zone"], "same snapshot"
        up, down = _fin(zone.get("upside_room_pct")), _fin(zone.get("downside_room_pct"))
        ratio = abs(down) / abs(up) if up not in (None, 0.0) and down is not None else None
        out.append(
            {
                "ticker": d["underlying"],
                "expiry": z.get("expiry"),
                "low": zone.get("low"),
                "mid": zone.get("mid"),
                "high": zone.get("high"),
                "close": zone.get("price"),
                "upside_room_pct": up,
                "downside_room_pct": down,
                "downside_upside_ratio": ratio,
                "change_pct": (
                    (zone["price"] / zone["mid"] - 1.0) * 100.0
                    if basis == "previous close" and zone.get("mid") and zone.get("price")
                    else None
                ),
                "status": zone.get("status"),
                "expected_move_pct": z.get("expected_move_pct"),
                "basis": basis,
            }
        )
    order = {t: i for i, t in enumerate(INDEX_TICKERS)}
    out.sort(key=lambda r: (order.get(r["ticker"], 99), r["ticker"]))
    return out


def _dealer(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """Dealer mechanics near spot (seed 003 "Dealer mechanics"): GEX summed over strikes within
    ±``gamma_zone_half_width_pct`` of spot (USD per 1 % move, classic dealer signs), the
    profile's GEX at the grid level nearest spot, and the nearest profile level with positive
    GEX (the "nearest positive gamma") with its distance from spot in %."""
    a = doc.get("analysis", {})
    spot = _fin(a.get("spot"))
    strikes = a.get("by_strike") or []
    if spot is None or not strikes:
        return None
    hw = RULES["gamma_zone_half_width_pct"] / 100.0
    near = [s for s in strikes if abs(s["strike"] / spot - 1.0) <= hw]
    zone_gex = float(
        sum(
            _num(s.get("gex_usd_per_1pct"))
            for s in near
            if _fin(s.get("gex_usd_per_1pct")) is not None
        )
    )
    prof = a.get("profile") or {}
    if not _has_greeks(a):  # an OI-only snapshot: gamma figures do not exist (n/a, not 0)
        zone_gex = None  # type: ignore[assignment]
    levels = prof.get("levels") or []
    g = (prof.get("gex_usd_per_1pct") or {}).get("all") or []
    nearest_pos = None
    at_spot = None
    if levels and g and len(levels) == len(g):
        at_spot = gex_at_spot(a)
        pos = [i for i in range(len(levels)) if _fin(g[i]) is not None and g[i] > 0]
        if pos:
            j = min(pos, key=lambda i: abs(levels[i] - spot))
            nearest_pos = {"level": levels[j], "distance_pct": (levels[j] / spot - 1.0) * 100.0}
    return {
        "ticker": doc["underlying"],
        "spot": spot,
        "zone_low": spot * (1 - hw),
        "zone_high": spot * (1 + hw),
        "zone_gex_usd_per_1pct": zone_gex,
        "gex_at_spot_usd_per_1pct": at_spot,
        "total_gex_usd_per_1pct": _fin(a.get("totals", {}).get("gex_usd_per_1pct")),
        "zero_gamma": _fin(a.get("levels", {}).get("zero_gamma")),
        "nearest_positive_gamma": nearest_pos,
    }


def chain_activity(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-ticker activity from the chain alone (no trades): call and put premium estimated as
    Σ volume · mid · multiplier (:func:`chainlens.oi.put_call_ratios`), their total, the naive
    call/put label and ratio, by total premium. Sides need trades, so there is no net."""
    rows = []
    for d in docs:
        p = (d.get("oi") or {}).get("pcr") or {}
        c, q = _fin(p.get("call_premium_usd")), _fin(p.get("put_premium_usd"))
        if c is None or q is None or c + q <= 0:
            continue
        rows.append({"ticker": d["underlying"], "call_premium_usd": c, "put_premium_usd": q,
                     "premium_usd": c + q, "naive_cp_ratio": c / q if q > 0 else None,
                     "naive_label": _sign_label(c - q), "pcr_volume": _fin(p.get("pcr_volume"))})  # fmt: skip
    rows.sort(key=lambda r: -r["premium_usd"])
    return rows[: RULES["top_flow_n"]]


def _sectors(
    docs: Sequence[Mapping[str, Any]], sector_map: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Sector flow (seed 003): total premium and side-adjusted net summed per sector of the
    map (unmapped tickers under "Other"); direction = sign of net; share = sector premium /
    market premium."""
    agg: dict[str, dict[str, Any]] = {}
    chain_only = not any(d.get("flow") for d in docs)
    for d in docs:
        f = d.get("flow")
        p = (d.get("oi") or {}).get("pcr") or {}
        if chain_only:  # premium from the chain (volume x mid); no sides, so no net
            prem = _num(p.get("call_premium_usd")) + _num(p.get("put_premium_usd"))
            if not prem > 0:
                continue
            net: float | None = None
        elif f:
            prem, net = _num(f["totals"].get("total_usd")), _num(_dir(f["totals"], "net_usd"))
        else:
            continue
        sec = sector_map.get(d["underlying"], "Other")
        a = agg.setdefault(sec, {"sector": sec, "premium_usd": 0.0, "net_usd": 0.0, "tickers": []})
        a["premium_usd"] += prem
        a["net_usd"] = None if net is None else a["net_usd"] + net
        a["tickers"].append(d["underlying"])
    total = sum(a["premium_usd"] for a in agg.values())
    for a in agg.values():
        n = a["net_usd"]
        a["direction"] = None if n is None else _sign_label(n)
        a["basis"] = "chain volume x mid" if chain_only else "trades"
        a["share_of_market"] = a["premium_usd"] / total if total > 0 else None
    return sorted(agg.values(), key=lambda a: -a["premium_usd"])


#: Rules whose per-index inputs count once (seed 003: "Universal negative gamma", "Zone
#: exhaustion" are single inputs however many indexes show them).
_MERGED_RULES: Mapping[str, str] = {
    "zone_exhaustion": "{} at or above the expected-move ceiling (zone exhaustion)",
    "zone_floor": "{} at or below the expected-move floor",
    "negative_gamma_at_spot": "dealers short gamma at spot in {} (moves amplified)",
    "positive_gamma_at_spot": "dealers long gamma at spot in {} (moves dampened)",
    "index_darkpool": "{}",
    "single_name_darkpool_accumulation": "dark-pool accumulation in {}",
    "single_name_darkpool_distribution": "dark-pool distribution in {}",
}


def _merge_inputs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One input per merged rule, listing its tickers; other inputs unchanged, order kept."""
    out: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for x in items:
        tmpl = _MERGED_RULES.get(x["rule"])
        if tmpl is None or x["rule"] == "index_darkpool":
            out.append(x)
            continue
        t = x["text"].split(" ", 1)[0]
        if x["rule"] in seen:
            seen[x["rule"]]["tickers"].append(t)
        else:
            seen[x["rule"]] = {"rule": x["rule"], "tickers": [t]}
            out.append(seen[x["rule"]])
    for x in out:
        if "tickers" in x:
            x["text"] = _MERGED_RULES[x["rule"]].format(", ".join(x["tickers"]))
    return out


def convergence(
    side: Mapping[str, Any] | None,
    top_flow: Mapping[str, Any],
    darkpool: Mapping[str, Any] | None,
    zones: Sequence[Mapping[str, Any]],
    dealers: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Bullish and bearish inputs, each with the rule that produced it (seed 003 "Convergence")."""
    bull: list[dict[str, Any]] = []
    bear: list[dict[str, Any]] = []

    def add(is_bull: bool, rule: str, text: str) -> None:
        (bull if is_bull else bear).append({"rule": rule, "text": text})

    if side is not None and _dir(side, "net_usd") != 0:
        add(
            _dir(side, "net_usd") > 0,
            "market_net_premium",
            "market directional net premium sign (side-adjusted, deep ITM excluded)",
        )
    for r in top_flow.get("rows", []):
        if (
            r["directional_share"] >= RULES["extreme_directional_share"]
            and r["premium_usd"] >= RULES["extreme_min_premium_usd"]
        ):
            add(
                r["net_usd"] > 0, "extreme_ticker_flow", f"{r['ticker']} extreme side-adjusted flow"
            )
    if darkpool:
        for r in darkpool["accumulation"]:
            if r["ticker"] in INDEX_TICKERS:
                add(True, "index_darkpool", f"{r['ticker']} dark-pool accumulation")
            else:
                add(True, "single_name_darkpool_accumulation", r["ticker"])
        for r in darkpool["distribution"]:
            if r["ticker"] in INDEX_TICKERS:
                add(False, "index_darkpool", f"{r['ticker']} dark-pool distribution")
            else:
                add(False, "single_name_darkpool_distribution", r["ticker"])
    for z in zones:
        if z["ticker"] not in INDEX_TICKERS:
            continue
        if z["status"] == "at_or_above_ceiling":
            add(False, "zone_exhaustion", f"{z['ticker']} at or above its expected-move ceiling")
        elif z["status"] == "at_or_below_floor":
            add(True, "zone_floor", f"{z['ticker']} at or below its expected-move floor")
    for g in dealers:
        v = g.get("gex_at_spot_usd_per_1pct")
        if v is not None and v < 0:
            add(
                False,
                "negative_gamma_at_spot",
                f"{g['ticker']} dealers short gamma at spot (moves amplified)",
            )
        elif v is not None and v > 0:
            add(
                True,
                "positive_gamma_at_spot",
                f"{g['ticker']} dealers long gamma at spot (moves dampened)",
            )
    bull, bear = _merge_inputs(bull), _merge_inputs(bear)
    tilt = (
        "bullish" if len(bull) > len(bear) else "bearish" if len(bear) > len(bull) else "balanced"
    )
    return {
        "bullish": bull,
        "bearish": bear,
        "bullish_count": len(bull),
        "bearish_count": len(bear),
        "tilt": tilt,
    }


def _live_expiries(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's vol expiries that expire after the next session (a structure is never
    put on a contract that expires before it can be traded)."""
    d = doc.get("session")
    nxt, last = _live_window(str(d), RULES["structure_max_dte"]) if d else ("", "9999")
    exps = doc.get("analysis", {}).get("vol", {}).get("expiries") or []
    return [e for e in exps if nxt < str(e.get("expiry"))[:10] <= last and e.get("range_50")]


@functools.lru_cache(maxsize=64)
def _live_window(session: str, max_dte: float) -> tuple[str, str]:
    """``(next session, session + max_dte days)`` as ISO dates: the live expiries' bounds
    (one calendar look-up per session, not per document: every name shares its session)."""
    from chainlens.calendar import next_session

    d = doc_date(session)
    return next_session(d).isoformat(), (d + dt.timedelta(days=max_dte)).isoformat()


def _horizon(doc: Mapping[str, Any], live: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """The expiry a structure uses and why: the expiry holding the largest multi-session OI
    accumulation, else the one with the largest directional net premium, else the first
    expiry at least ``structure_min_dte`` days out (its expected move is the horizon)."""
    by = {str(e["expiry"]): e for e in live}
    acc = [a for a in (doc.get("oi") or {}).get("accumulation") or [] if str(a.get("expiry")) in by]
    if acc:
        a = max(acc, key=lambda a: abs(_num(a.get("oi_change"))))
        return by[
            str(a["expiry"])
        ], "the expiry where open interest accumulated over several sessions"
    f = doc.get("flow") or {}
    be = [r for r in f.get("by_expiry") or [] if str(r.get("expiry")) in by]
    if be:
        r = max(be, key=lambda r: abs(_num(_dir(r, "net_usd"))))
        if _num(_dir(r, "net_usd")) != 0:
            return by[str(r["expiry"])], "the expiry carrying the largest directional net premium"
    d0 = doc_date(doc.get("session") or live[0]["expiry"])
    far = [e for e in live if (doc_date(e["expiry"]) - d0).days
           >= RULES["structure_min_dte"]]  # fmt: skip
    e = far[0] if far else live[-1]
    return e, "the first expiry whose expected move spans at least a week"


def _pcr_signal(doc: Mapping[str, Any]) -> tuple[int, str] | None:
    """The put/call OI vote of a name (seed 002, by name type): ``(sign, words)``."""
    band = ((doc.get("oi") or {}).get("pcr") or {}).get("pcr_oi_band")
    if band is None:
        return None
    vote, words = PCR_READING[(name_type(doc["underlying"]), band)]
    return (vote, f"put/call OI: {words}") if vote else None


def trade_structures(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rule-based trade structures where several independent signals align.

    Signals per ticker (each +1 toward its direction): the directional net premium
    (side-adjusted, deep in the money left out) with unknown share below the low-confidence
    threshold, the dark-pool label (when placed), the put/call OI band read by name type
    (:data:`PCR_READING`: index products hedge, so their PCR never votes; single names
    0.3-0.7 bullish, 1.2-2.0 bearish) and the 25-delta risk reversal sign. Conviction =
    aligned signals out of the four; a structure needs :data:`RULES` ``structure_min_signals``
    and no opposing signal. The expiry is the signal's horizon (:func:`_horizon`: OI
    accumulation, else directional premium, else the expected move), never one expiring on or
    before the next session nor more than ``structure_max_dte`` days out; strikes are that
    expiry's ATM and 25-delta range (seed 004).
    """
    out = []
    for d in docs:
        sig: list[tuple[int, str]] = []
        f = d.get("flow")
        if f:
            t = f["totals"]
            unk = _fin(t.get("unknown_share"))
            net = _num(_dir(t, "net_usd"))
            if unk is not None and unk <= RULES["unknown_share_low_confidence"] and net != 0:
                sig.append((1 if net > 0 else -1, "options directional net premium"))
            dp = f.get("darkpool")
            if (
                dp
                and _num(dp.get("confidence")) >= RULES["darkpool_min_confidence"]
                and dp.get("label") in ("accumulation", "distribution")
            ):
                sig.append((1 if dp["label"] == "accumulation" else -1, f"dark-pool {dp['label']}"))
        p = _pcr_signal(d)
        if p:
            sig.append(p)
        live = _live_expiries(d)
        if not sig or not live:
            continue
        e0, why = _horizon(d, live)
        rr = _fin(e0.get("rr_25d")) if d["underlying"] not in RULES["rr_not_directional"] else None
        if rr is not None and rr != 0:
            sig.append((1, "25-delta risk reversal positive in that expiry (calls richer)") if rr > 0
                       else (-1, "25-delta risk reversal negative in that expiry (puts richer)"))  # fmt: skip
        ups = [s for s in sig if s[0] > 0]
        downs = [s for s in sig if s[0] < 0]
        if ups and downs:
            continue
        aligned = ups or downs
        if len(aligned) < RULES["structure_min_signals"]:
            continue
        bullish = bool(ups)
        lo, hi = e0["range_50"]
        atm = e0.get("atm_strike")
        out.append(
            {
                "ticker": d["underlying"],
                "direction": "bullish" if bullish else "bearish",
                "expiry": e0.get("expiry"),
                "expiry_reason": why,
                "structure": (
                    f"buy {atm:g}C / sell {hi:g}C call spread"
                    if bullish
                    else f"buy {atm:g}P / sell {lo:g}P put spread"
                ),
                "long_strike": atm,
                "short_strike": hi if bullish else lo,
                "conviction": len(aligned),
                "conviction_of": 4,
                "signals": [s[1] for s in aligned],
                "disclaimer": DISCLAIMER,
            }
        )
    out.sort(key=lambda r: (-r["conviction"], r["ticker"]))
    return out[: RULES["structure_max"]]


def agree_with_tilt(
    structures: list[dict[str, Any]], tilt: str
) -> tuple[list[dict[str, Any]], int]:
    """Structures whose direction agrees with the convergence tilt (all when ``balanced``) and
    the number withheld for opposing it: the daily report never lists a bearish structure
    under a bullish tilt."""
    if tilt not in ("bullish", "bearish"):
        return structures, 0
    keep = [x for x in structures if x["direction"] == tilt]
    return keep, len(structures) - len(keep)


#: Per-ticker note verdicts: (options sign, dark-pool sign, price sign) patterns, first match.
#: Signs: +1 bullish/accumulation/up, -1 bearish/distribution/down, 0 unknown or neutral.
NOTE_VERDICTS: tuple[tuple[str, str], ...] = (
    ("aligned_up", "accumulation: options and dark pool agree on demand"),
    ("aligned_down", "distribution: options and dark pool agree on supply"),
    ("distribution_into_strength", "distribution into strength: price up, flow bearish"),
    ("accumulation_into_weakness", "accumulation into weakness: price down, flow bullish"),
    ("contested", "contested: options and dark pool disagree"),
    ("options_only", "options-led read; no confirming dark-pool label"),
    ("no_signal", "no directional flow signal"),
)


def _note_verdict(o: int, p: int, px: int) -> str:
    if o and p and o == p:
        return "aligned_up" if o > 0 else "aligned_down"
    if o and p and o != p:
        return "contested"
    flow = o or p
    if flow < 0 and px > 0:
        return "distribution_into_strength"
    if flow > 0 and px < 0:
        return "accumulation_into_weakness"
    return "options_only" if o else "no_signal"


def ticker_notes(docs: Sequence[Mapping[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """Per-ticker notes (seed 003 "Top individual tickers"): the largest single names by option
    premium, each with its close and change vs the previous close, side-adjusted options net
    and unknown share, dark-pool net and label, dealer GEX sign, and a verdict from
    :data:`NOTE_VERDICTS` (options confidence below :data:`RULES` thresholds counts as no sign).
    """
    rows = []
    for d in docs:
        f = d.get("flow")
        if not f or d["underlying"] in INDEX_TICKERS or d["underlying"] == "VIX":
            continue
        t = f["totals"]
        unk = _fin(t.get("unknown_share"))
        net = _num(_dir(t, "net_usd"))
        confident = unk is not None and unk <= RULES["unknown_share_low_confidence"]
        o = (1 if net > 0 else -1 if net < 0 else 0) if confident else 0
        dp = f.get("darkpool") or {}
        placed = _num(dp.get("confidence")) >= RULES["darkpool_min_confidence"]
        p = {"accumulation": 1, "distribution": -1}.get(dp.get("label") or "", 0) if placed else 0
        pz = d.get("prior_zone") or {}
        chg = (pz["price"] / pz["mid"] - 1.0) * 100.0 if pz.get("price") and pz.get("mid") else None
        px = 0 if chg is None else (1 if chg > 0 else -1 if chg < 0 else 0)
        a_ = d.get("analysis", {})
        gex = _fin(a_.get("totals", {}).get("gex_usd_per_1pct")) if _has_greeks(a_) else None
        v = _note_verdict(o, p, px)
        rows.append(
            {
                "ticker": d["underlying"],
                "close": pz.get("price") if pz else d.get("analysis", {}).get("spot"),
                "change_pct": chg,
                "premium_usd": _num(t.get("total_usd")),
                "options_net_usd": net,
                "unknown_share": unk,
                "options_confident": confident,
                "darkpool_net_usd": _fin(dp.get("net_usd")),
                "darkpool_label": dp.get("label") if placed else None,
                "gex_usd_per_1pct": gex,
                "verdict": v,
                "verdict_text": dict(NOTE_VERDICTS)[v],
            }
        )
    rows.sort(key=lambda r: -r["premium_usd"])
    return rows[:n]


def _macro(macro: pa.Table | None) -> list[dict[str, Any]] | None:
    """Latest value and change per user-supplied macro series (``series, date, value``)."""
    if macro is None or macro.num_rows == 0:
        return None
    rows = macro.sort_by([("series", "ascending"), ("date", "ascending")]).to_pylist()
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["series"], []).append(r)
    out = []
    for s, rs in by.items():
        last = rs[-1]
        prev = rs[-2] if len(rs) > 1 else None
        out.append(
            {
                "series": s,
                "date": last["date"].isoformat()
                if isinstance(last["date"], dt.date)
                else last["date"],
                "value": last["value"],
                "change": (last["value"] - prev["value"]) if prev else None,
            }
        )
    return out


def _keys(src: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The entries of ``src`` under ``keys`` that it holds (same values, same order)."""
    return {k: src[k] for k in keys if k in src}


_FACT_EXPIRY_KEYS = ("expiry", "atm_strike", "expected_move_pct", "zone", "range_50", "rr_25d")


def market_facts(doc: Mapping[str, Any]) -> MarketFacts:
    """The part of one per-underlying document that :func:`market_rollup` reads
    (:class:`chainlens.results.MarketFacts`): ``market_rollup(facts) == market_rollup(docs)``.

    Runner tasks return these (a few KB a name) instead of whole documents (~300 KB of
    Python objects a name): the parent then holds the session's rollup inputs, not every
    document. Each kept key has the document's path and value: the flow totals and dark
    pool, the flow's per-expiry net premium, the put/call ratios and OI accumulation
    (expiry, change), the prior zone, and from the analysis the spot, greeks, total GEX,
    whether the profile used contracts, the dark pool without trades and each vol expiry's
    zone, expected move, 25-delta range and risk reversal and ATM strike. The index tickers
    of :data:`INDEX_TICKERS` keep their whole analysis (the dealer mechanics read their
    strikes and gamma profile).
    """
    a = doc.get("analysis") or {}
    if doc.get("underlying") in INDEX_TICKERS:
        analysis: dict[str, Any] = dict(a)
    else:
        analysis = _keys(a, ("spot", "greeks", "darkpool_only"))
        if "totals" in a:
            analysis["totals"] = _keys(a["totals"] or {}, ("gex_usd_per_1pct",))
        if "profile" in a:
            prof = a["profile"]
            analysis["profile"] = (
                {"contracts_used": prof["contracts_used"]}
                if prof and "contracts_used" in prof
                else None
            )
        if "vol" in a:
            exps = (a["vol"] or {}).get("expiries") or []
            analysis["vol"] = {"expiries": [_keys(e, _FACT_EXPIRY_KEYS) for e in exps]}
    f = doc.get("flow")
    flow: dict[str, Any] | None = f
    if f:
        flow = _keys(f, ("totals", "darkpool"))
        if "by_expiry" in f:
            flow["by_expiry"] = [
                _keys(r, ("expiry", "net_usd", "dir_net_usd")) for r in f["by_expiry"] or []
            ]
    o = doc.get("oi") or {}
    oi = _keys(o, ("pcr",))
    if "accumulation" in o:
        oi["accumulation"] = [_keys(r, ("expiry", "oi_change")) for r in o["accumulation"] or []]
    out: Any = {
        "underlying": doc.get("underlying"),
        "session": doc.get("session"),
        "flow": flow,
        "analysis": analysis,
        "prior_zone": doc.get("prior_zone"),
        "oi": oi,
    }
    return out


def market_rollup(
    docs: Sequence[Mapping[str, Any]],
    *,
    session: dt.date,
    sectors: pa.Table | None = None,
    macro: pa.Table | None = None,
) -> dict[str, Any]:
    """The market-wide daily rollup (seed 003) over the per-underlying documents.

    Parameters
    ----------
    docs
        ``UnderlyingResult.doc`` of every underlying of the session, or their
        :func:`market_facts` (the same rollup).
    session
        The session.
    sectors
        Optional ``schema.SECTORS`` table; it overrides :data:`DEFAULT_SECTORS` ticker by ticker.
    macro
        Optional macro series (``series``, ``date``, ``value``); the regime panel exists only
        with it.

    Returns
    -------
    dict
        JSON-ready: ``session``, ``underlyings``, ``side`` (None without trades), ``top_flow``,
        ``darkpool`` (None without prints), ``zones``, ``dealers``, ``sectors``,
        ``convergence``, ``structures``, ``macro`` (None without input), ``rules``, ``missing``.
    """
    smap = dict(DEFAULT_SECTORS)
    if sectors is not None and sectors.num_rows:
        smap.update(
            zip(
                sectors.column("ticker").to_pylist(),
                sectors.column("sector").to_pylist(),
                strict=True,
            )
        )
    side = side_decomposition(docs)
    top = _top_flow(docs)
    dp = _darkpool(docs)
    zones = _zones(docs)
    by_u = {d["underlying"]: d for d in docs}
    dealers = [g for t in INDEX_TICKERS if t in by_u and (g := _dealer(by_u[t])) is not None]
    missing = []
    if side is None:
        missing.append("trades")
    if dp is None:
        missing.append("prints")
    spots = {d["underlying"]: d.get("analysis", {}).get("spot") for d in docs}
    conv = convergence(side, top, dp, zones, dealers)
    structs, withheld = agree_with_tilt(trade_structures(docs), conv["tilt"])
    return {
        "session": session.isoformat(),
        "underlyings": len(docs),
        "tickers": sorted(by_u),
        "spots": spots,
        "side": side,
        "top_flow": top,
        "darkpool": dp,
        "zones": zones,
        "dealers": dealers,
        "sectors": _sectors(docs, smap),
        "chain_activity": chain_activity(docs) if side is None else [],
        "convergence": conv,
        "structures": structs,
        "structures_withheld": withheld,
        "ticker_notes": ticker_notes(docs),
        "macro": _macro(macro),
        "rules": dict(RULES),
        "missing": missing,
    }


# ---------------------------------------------------------------------------- price context
#: Price-context windows and the trend/range regime thresholds (issue 19, seed 003 "Range
#: regime": "Range values above 40 indicate DOMINANT trends").
CONTEXT_RULES: Mapping[str, Any] = {
    "sma_windows": (20, 50, 200),  # sessions
    "rv_windows": (5, 20, 60),  # daily returns
    "regime_window": 20,  # sessions of the efficiency ratio
    "regime_dominant": 40.0,  # trend score at or above: dominant trend
    "regime_trend": 25.0,  # trend score at or above (below dominant): trending; below: range
}


def _sma_block(c: Any, n: int) -> dict[str, Any]:
    """Distance to the ``n``-session simple average and the run of sessions on that side."""
    import numpy as np

    have = int(c.size)
    if have < n:
        return {
            "window": n,
            "sma": None,
            "distance_pct": None,
            "side": None,
            "sessions_on_side": None,
            "reason": f"needs {n} sessions of closes, {have} stored",
        }
    cs = np.concatenate([[0.0], np.cumsum(c)])
    sma = (cs[n:] - cs[:-n]) / n  # sma[k] = mean(c[k .. k+n-1]), aligned to close c[k+n-1]
    above = c[n - 1 :] > sma
    below = c[n - 1 :] < sma
    last_above, last_below = bool(above[-1]), bool(below[-1])
    run = 0
    ref = above if last_above else below
    if last_above or last_below:
        flips = np.flatnonzero(~ref[::-1])
        run = int(flips[0]) if flips.size else int(ref.size)
    return {
        "window": n,
        "sma": float(sma[-1]),
        "distance_pct": float((c[-1] / sma[-1] - 1.0) * 100.0),
        "side": "above" if last_above else ("below" if last_below else "at"),
        "sessions_on_side": run,
        "sessions_counted": int(ref.size),
        "reason": None,
    }


def trend_score(closes: Sequence[float] | Any, window: int | None = None) -> dict[str, Any]:
    """Trend/range regime measure: Kaufman's efficiency ratio over ``window`` sessions × 100.

    Notes
    -----
    .. math:: T = 100\\cdot\\frac{|C_t - C_{t-n}|}{\\sum_{i=t-n+1}^{t} |C_i - C_{i-1}|}

    with :math:`n` = :data:`CONTEXT_RULES` ``regime_window`` (20 sessions) of closes (USD; bars,
    or the chain's spot per session when no bars are stored). :math:`T` is unitless in
    [0, 100]: 100 is a straight line, a random walk averages about :math:`100/\\sqrt{n}`
    (≈ 22 for 20 sessions). Regime: ``dominant trend`` when :math:`T \\ge` ``regime_dominant``
    (40, seed 003's "above 40 indicate DOMINANT trends"), ``trend`` when :math:`T \\ge`
    ``regime_trend`` (25), else ``range``; direction ``up`` when :math:`C_t > C_{t-n}`, ``down``
    when lower. Kaufman, *Trading Systems and Methods*, "Efficiency ratio". ``None`` score with
    a reason when fewer than :math:`n+1` closes are stored.
    """
    import numpy as np

    n = int(window or CONTEXT_RULES["regime_window"])
    c = np.asarray(closes, dtype=np.float64)
    c = c[np.isfinite(c) & (c > 0)]
    if c.size < n + 1:
        return {
            "window": n,
            "score": None,
            "regime": None,
            "direction": None,
            "reason": f"needs {n + 1} sessions of closes, {c.size} stored",
        }
    seg = c[-(n + 1) :]
    path = float(np.abs(np.diff(seg)).sum())
    net = float(seg[-1] - seg[0])
    score = 100.0 * abs(net) / path if path > 0 else 0.0
    if score >= CONTEXT_RULES["regime_dominant"]:
        regime = "dominant trend"
    elif score >= CONTEXT_RULES["regime_trend"]:
        regime = "trend"
    else:
        regime = "range"
    return {
        "window": n,
        "score": score,
        "regime": regime,
        "direction": "up" if net > 0 else ("down" if net < 0 else "flat"),
        "reason": None,
    }


def price_context(
    dates: Sequence[dt.date], closes: Sequence[float], *, ticker: str, source: str
) -> dict[str, Any]:
    """Price context of one ticker from its closes (seed 003 "Price action summary", "200DMA
    status", "Range regime").

    Parameters
    ----------
    dates, closes
        Sessions ascending and their closes (USD), the last being the report's session.
    ticker
        The ticker.
    source
        ``bars`` (the daily-bars input) or ``chain_spot`` (the chain's spot per stored session).

    Returns
    -------
    dict
        ``ticker``, ``source``, ``session``, ``sessions`` (closes used), ``close``,
        ``change_pct`` (:math:`(C_t/C_{t-1}-1)\\cdot 100`, None with one close), ``sma``: per
        window of :data:`CONTEXT_RULES` ``sma_windows`` the simple average
        :math:`\\bar C_n = \\frac1n\\sum_{i=0}^{n-1} C_{t-i}` (USD), ``distance_pct``
        :math:`(C_t/\\bar C_n - 1)\\cdot 100`, ``side`` (above/below/at) and
        ``sessions_on_side`` (consecutive sessions, today included, whose close sat on the
        same side of that day's own n-session average; only days with n closes behind them
        count), or a ``reason`` when fewer than n closes are stored; ``regime``
        (:func:`trend_score`); ``realized_vol``: per window of ``rv_windows`` the annualised
        close-to-close volatility :math:`\\sqrt{252}\\,\\operatorname{sd}(\\ln C_i/C_{i-1})`
        (decimal, ddof 1) over the last n returns, or a reason; ``closes`` (the closes used).
    """
    import numpy as np

    c = np.asarray(closes, dtype=np.float64)
    ok = np.isfinite(c) & (c > 0)
    c = c[ok]
    ds = [d for d, k in zip(dates, ok.tolist(), strict=True) if k]
    out: dict[str, Any] = {
        "ticker": ticker,
        "source": source,
        "session": ds[-1].isoformat() if ds else None,
        "sessions": int(c.size),
        "close": float(c[-1]) if c.size else None,
        "change_pct": float((c[-1] / c[-2] - 1.0) * 100.0) if c.size >= 2 else None,
    }
    out["sma"] = [_sma_block(c, n) for n in CONTEXT_RULES["sma_windows"]]
    out["regime"] = trend_score(c)
    rets = np.diff(np.log(c)) if c.size >= 2 else np.zeros(0)
    rvs = []
    for n in CONTEXT_RULES["rv_windows"]:
        if rets.size >= n:
            rvs.append(
                {
                    "window": n,
                    "value": float(np.std(rets[-n:], ddof=1) * math.sqrt(252.0)),
                    "reason": None,
                }
            )
        else:
            rvs.append(
                {
                    "window": n,
                    "value": None,
                    "reason": f"needs {n} daily returns, {rets.size} stored",
                }
            )
    out["realized_vol"] = rvs
    out["closes"] = c.tolist()
    return out


def gamma_bands(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """0DTE GEX zone and the nearest positive-gamma band of one index (seed 003 "Dealer
    mechanics": "SPX 0DTE GEX -$3B to -$5B zone at 6770-6800 ... Nearest positive gamma:
    5800-5850").

    Notes
    -----
    From the document's gamma profile (``analysis.profile``: dealer GEX in USD per 1 % move at
    each spot level of the grid, classic dealer signs):

    * 0DTE GEX at a level :math:`= G_{all}(L) - G_{ex\\,next}(L)`: the contracts of the next
      unsettled expiry when it settles on the next session, i.e. tomorrow's 0DTE (an
      end-of-day snapshot holds the session's own 0DTE contracts already expired, gamma 0).
      The **0DTE zone** is the levels within ±``gamma_zone_half_width_pct`` of spot,
      reported as its low/high level and the min/max 0DTE GEX over them; ``None`` with a
      reason when the next expiry settles later (no 0DTE tomorrow) or without greeks;
    * the **positive-gamma band** is the run of consecutive grid levels with
      :math:`G_{all}(L) > 0` that holds the positive level nearest spot; its distance is
      :math:`(L_{edge}/S - 1)\\cdot 100` to the band's edge nearest spot (0 when spot is
      inside). ``band`` is ``None`` when no level of the grid (default ±15 %) is positive.
    """
    import numpy as np

    a = doc.get("analysis", {})
    spot = _fin(a.get("spot"))
    prof = a.get("profile") or {}
    lv = np.asarray(prof.get("levels") or [], dtype=np.float64)
    gg = prof.get("gex_usd_per_1pct") or {}
    g_all = np.asarray([np.nan if v is None else v for v in gg.get("all") or []], np.float64)
    if spot is None or lv.size < 2 or lv.size != g_all.size or not _has_greeks(a):
        return None
    out: dict[str, Any] = {
        "ticker": doc.get("underlying"),
        "spot": spot,
        "grid_low": float(lv[0]),
        "grid_high": float(lv[-1]),
    }
    from chainlens.calendar import next_session

    nx = prof.get("next_expiry")
    session = str(doc.get("session") or "")[:10]
    ex = gg.get("ex_next_expiry")
    zone = None
    reason = None
    try:
        tomorrow = next_session(dt.date.fromisoformat(session)).isoformat()
    except ValueError:
        tomorrow = None
    if nx is None or ex is None or len(ex) != lv.size:
        reason = "no unsettled expiry in the profile"
    elif tomorrow is None or str(nx)[:10] > tomorrow:
        reason = f"the next expiry {str(nx)[:10]} does not settle on the next session {tomorrow}"
    else:
        g0 = g_all - np.asarray([np.nan if v is None else v for v in ex], np.float64)
        hw = RULES["gamma_zone_half_width_pct"] / 100.0
        m = (np.abs(lv / spot - 1.0) <= hw) & np.isfinite(g0)
        if m.any():
            k = int(np.argmin(np.abs(lv - spot)))
            zone = {
                "expiry": str(nx)[:10],
                "low": float(lv[m].min()),
                "high": float(lv[m].max()),
                "gex_min": float(g0[m].min()),
                "gex_max": float(g0[m].max()),
                "gex_at_spot": float(g0[k]) if np.isfinite(g0[k]) else None,
            }
        else:
            reason = "no profile level within the zone"
    out["zero_dte"] = zone
    out["zero_dte_reason"] = reason
    pos = np.isfinite(g_all) & (g_all > 0)
    band = None
    if pos.any():
        idx = np.flatnonzero(pos)
        j = int(idx[np.argmin(np.abs(lv[idx] - spot))])
        lo = j
        while lo > 0 and pos[lo - 1]:
            lo -= 1
        hi = j
        while hi < lv.size - 1 and pos[hi + 1]:
            hi += 1
        blo, bhi = float(lv[lo]), float(lv[hi])
        if blo <= spot <= bhi:
            dist = 0.0
        else:
            edge = bhi if bhi < spot else blo
            dist = (edge / spot - 1.0) * 100.0
        band = {"low": blo, "high": bhi, "distance_pct": dist}
    out["positive_band"] = band
    at = gex_at_spot(a)
    out["gex_at_spot_usd_per_1pct"] = at
    return out
