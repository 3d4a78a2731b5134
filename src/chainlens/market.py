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
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

__all__ = [
    "DEFAULT_SECTORS",
    "DISCLAIMER",
    "INDEX_TICKERS",
    "NOTE_VERDICTS",
    "RULES",
    "convergence",
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
)  # fmt: skip


def side_decomposition(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Market-wide side decomposition of option premium (seed 003, "Side decomposition").

    Notes
    -----
    Sums each ticker's buckets (USD), then
    bullish = calls bought + puts sold, bearish = calls sold + puts bought,
    net = bullish − bearish, naive C/P = call premium / put premium,
    unknown share = (mid + unknown) / total (SPEC "Aggressor side").
    ``None`` when no ticker has trades.
    """
    flows = [d["flow"]["totals"] for d in docs if d.get("flow")]
    if not flows:
        return None
    s: dict[str, Any] = {k: float(sum(_num(f.get(k, 0.0)) or 0.0 for f in flows)) for k in _BUCKETS}
    s["trades"] = int(sum(int(f.get("trades", 0) or 0) for f in flows))
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
    s["tickers"] = len(flows)
    return s


def _top_flow(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Top-flow table (seed 003 "Top Flow Decomposition"): the ``top_flow_n`` tickers by total
    premium with naive and side-adjusted labels; flip rate = flips / names (6/16 = 37.5 % in
    the seed), also over every ticker; ``directional_share`` = |net| / total premium."""
    rows = []
    for d in docs:
        f = d.get("flow")
        if not f:
            continue
        t = f["totals"]
        tot = _num(t.get("total_usd"))
        if not tot > 0:
            continue
        net = _num(t.get("net_usd"))
        unk = _fin(t.get("unknown_share"))
        directional = abs(net) / tot
        if (
            (t.get("naive_label") != t.get("side_label"))
            and t.get("naive_label") == "bullish"
            and net < 0
        ):
            signal = "call selling masquerade"
        elif (
            t.get("naive_label") != t.get("side_label")
            and t.get("naive_label") == "bearish"
            and net > 0
        ):
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
                "naive_label": t.get("naive_label"),
                "side_label": t.get("side_label"),
                "premium_usd": tot,
                "net_usd": net,
                "unknown_share": unk,
                "directional_share": directional,
                "flip": bool(t.get("flip")),
                "signal": signal,
            }
        )
    rows.sort(key=lambda r: -r["premium_usd"])
    top = rows[: RULES["top_flow_n"]]
    flips = sum(r["flip"] for r in top)
    all_flips = sum(r["flip"] for r in rows)
    return {
        "rows": top,
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
    levels = prof.get("levels") or []
    g = (prof.get("gex_usd_per_1pct") or {}).get("all") or []
    nearest_pos = None
    at_spot = None
    if levels and g and len(levels) == len(g):
        i0 = min(range(len(levels)), key=lambda i: abs(levels[i] - spot))
        at_spot = _fin(g[i0])
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


def _sectors(
    docs: Sequence[Mapping[str, Any]], sector_map: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Sector flow (seed 003): total premium and side-adjusted net summed per sector of the
    map (unmapped tickers under "Other"); direction = sign of net; share = sector premium /
    market premium."""
    agg: dict[str, dict[str, Any]] = {}
    for d in docs:
        f = d.get("flow")
        if not f:
            continue
        sec = sector_map.get(d["underlying"], "Other")
        a = agg.setdefault(sec, {"sector": sec, "premium_usd": 0.0, "net_usd": 0.0, "tickers": []})
        a["premium_usd"] += _num(f["totals"].get("total_usd"))
        a["net_usd"] += _num(f["totals"].get("net_usd"))
        a["tickers"].append(d["underlying"])
    total = sum(a["premium_usd"] for a in agg.values())
    for a in agg.values():
        a["direction"] = (
            "bullish" if a["net_usd"] > 0 else "bearish" if a["net_usd"] < 0 else "neutral"
        )
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

    if side is not None and side["net_usd"] != 0:
        add(side["net_usd"] > 0, "market_net_premium", "market side-adjusted net premium sign")
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


def trade_structures(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rule-based trade structures where several independent signals align.

    Signals per ticker (each +1 toward its direction): side-adjusted options net premium with
    unknown share below the low-confidence threshold, the dark-pool label (when placed), the
    put/call OI band (``1.2_2.0``/``above_2.0`` bearish, ``below_0.3``/``0.3_0.7`` bullish) and
    the 25-delta risk reversal sign of the nearest expiry. Conviction = aligned signals out of
    the four; a structure needs :data:`RULES` ``structure_min_signals`` and no opposing signal.
    The strikes are the 25-delta range of the nearest expiry with a zone (seed 004).
    """
    out = []
    for d in docs:
        sig: list[tuple[int, str]] = []
        f = d.get("flow")
        if f:
            t = f["totals"]
            unk = _fin(t.get("unknown_share"))
            if (
                unk is not None
                and unk <= RULES["unknown_share_low_confidence"]
                and _num(t.get("net_usd")) != 0
            ):
                sig.append(
                    (1 if _num(t["net_usd"]) > 0 else -1, "options net premium (side-adjusted)")
                )
            dp = f.get("darkpool")
            if (
                dp
                and _num(dp.get("confidence")) >= RULES["darkpool_min_confidence"]
                and dp.get("label") in ("accumulation", "distribution")
            ):
                sig.append((1 if dp["label"] == "accumulation" else -1, f"dark-pool {dp['label']}"))
        pcr = (d.get("oi") or {}).get("pcr") or {}
        band = pcr.get("pcr_oi_band")
        if band in ("1.2_2.0", "above_2.0"):
            sig.append((-1, f"put/call OI band {band}"))
        elif band in ("below_0.3", "0.3_0.7"):
            sig.append((1, f"put/call OI band {band}"))
        exps = d.get("analysis", {}).get("vol", {}).get("expiries") or []
        e0 = next((e for e in exps if e.get("range_50")), None)
        rr = (
            _fin(e0.get("rr_25d"))
            if e0 and d["underlying"] not in RULES["rr_not_directional"]
            else None
        )
        if rr is not None and rr != 0:
            sig.append((1 if rr > 0 else -1, "25-delta risk reversal sign"))
        if not sig or e0 is None:
            continue
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
        net = _num(t.get("net_usd"))
        confident = unk is not None and unk <= RULES["unknown_share_low_confidence"]
        o = (1 if net > 0 else -1 if net < 0 else 0) if confident else 0
        dp = f.get("darkpool") or {}
        placed = _num(dp.get("confidence")) >= RULES["darkpool_min_confidence"]
        p = {"accumulation": 1, "distribution": -1}.get(dp.get("label") or "", 0) if placed else 0
        pz = d.get("prior_zone") or {}
        chg = (pz["price"] / pz["mid"] - 1.0) * 100.0 if pz.get("price") and pz.get("mid") else None
        px = 0 if chg is None else (1 if chg > 0 else -1 if chg < 0 else 0)
        gex = _fin(d.get("analysis", {}).get("totals", {}).get("gex_usd_per_1pct"))
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
        ``UnderlyingResult.doc`` of every underlying of the session.
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
        "convergence": convergence(side, top, dp, zones, dealers),
        "structures": trade_structures(docs),
        "ticker_notes": ticker_notes(docs),
        "macro": _macro(macro),
        "rules": dict(RULES),
        "missing": missing,
    }
