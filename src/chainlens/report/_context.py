"""Market context of the daily report from stored data (issue 19): price context and regime
from bars (or the chain's spot per session), dealer gamma bands per index, dark-pool programs,
the sector deep-dive and the user's thesis checklist.

Computed in the report layer from the store (bars, chains, prints, earlier rollups), so the
per-underlying pipeline document is unchanged. :func:`market_context` returns one JSON-ready
dict that :func:`chainlens.report.daily.build_daily` reads as ``market["context"]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chainlens.market import DEFAULT_SECTORS, INDEX_TICKERS, gamma_bands, price_context

__all__ = [
    "CONTEXT_FIELDS",
    "DEEP_DIVE_RULES",
    "bar_closes",
    "closes_of",
    "market_context",
    "programs_of",
    "sector_deep_dive",
]

#: Sector deep-dive thresholds.
DEEP_DIVE_RULES: Mapping[str, Any] = {
    "history_sessions": 10,  # earlier stored rollups averaged for a sector's usual share
    "single_name_share": 0.6,  # one name holding this share of the sector's |dark-pool net|
    "skip_sectors": ("Index", "Volatility", "Other"),
}


#: The document keys :func:`market_context` reads of every document (the sector deep-dive);
#: the index tickers' documents it reads whole (:func:`chainlens.market.gamma_bands`).
CONTEXT_FIELDS: tuple[str, ...] = (
    "underlying", "flow.totals", "flow.darkpool", "analysis.darkpool_only",
)  # fmt: skip


def closes_of(
    store: Any, ticker: str, session: dt.date, bars: pa.Table | None = None
) -> tuple[list[dt.date], list[float], str]:
    """Closes of ``ticker`` up to ``session``: the stored daily bars when they cover the
    session, else the chain's last spot per stored session (``chain_spot``)."""
    if bars is not None and bars.num_rows:
        b = bars.filter(
            pc.and_(
                pc.equal(bars.column("ticker"), ticker),
                pc.less_equal(bars.column("trade_date"), pa.scalar(session, pa.date32())),
            )
        ).sort_by("trade_date")
        if b.num_rows and b.column("trade_date")[-1].as_py() == session:
            ds = b.column("trade_date").to_pylist()
            cs = b.column("close").to_pylist()
            # several sources may repeat a session: keep the last row of each
            last = {d: c for d, c in zip(ds, cs, strict=True)}
            return sorted(last), [last[d] for d in sorted(last)], "bars"
    try:
        h = store.chain_history(ticker, end=session)
    except Exception:
        return [], [], "chain_spot"
    if h.num_rows == 0:
        return [], [], "chain_spot"
    import polars as pl

    df = pl.from_arrow(h.select(["trade_date", "snapshot_ts", "spot"]))
    assert isinstance(df, pl.DataFrame)
    g = (
        df.sort("snapshot_ts")
        .group_by("trade_date")
        .agg(pl.col("spot").drop_nulls().last())
        .drop_nulls()
        .sort("trade_date")
    )
    return g["trade_date"].to_list(), [float(v) for v in g["spot"].to_list()], "chain_spot"


def bar_closes(bars: pa.Table, session: dt.date) -> dict[str, tuple[list[dt.date], list[float]]]:
    """The bar closes of every ticker whose stored daily bars cover ``session``: what
    :func:`closes_of` reads from the bars for each, in one pass (``ticker -> (sessions,
    closes)``, sessions up to ``session`` ascending, the last row of a repeated session)."""
    import polars as pl

    df = pl.from_arrow(bars.select(["ticker", "trade_date", "close"]))
    assert isinstance(df, pl.DataFrame)
    g = (
        df.filter(pl.col("trade_date") <= session)
        .group_by(["ticker", "trade_date"], maintain_order=True)
        .agg(pl.col("close").last())  # several sources may repeat a session: the last row
        .sort(["ticker", "trade_date"])
        .group_by("ticker", maintain_order=True)
        .agg(pl.col("trade_date"), pl.col("close"))
    )
    out = {}
    for t, ds, cs in g.iter_rows():  # a loop over tickers
        if ds and ds[-1] == session:
            out[t] = (list(ds), list(cs))
    return out


def programs_of(store: Any, session: dt.date) -> list[dict[str, Any]]:
    """Dark-pool programs of the session (:func:`chainlens.flow._darkpool.detect_programs`),
    with ``interval_min`` (minutes) and ``start_hm`` / ``end_hm`` (UTC, HH:MM)."""
    from chainlens.flow._darkpool import detect_programs

    pr = store.prints(None, session)
    if pr.num_rows == 0:
        return []
    out = []
    for r in detect_programs(pr).to_pylist():
        r["interval_min"] = r["interval_s"] / 60.0
        for k in ("start", "end"):
            v = r.get(k)
            r[k + "_hm"] = None if v is None else v.strftime("%H:%M")
            r[k] = None if v is None else v.isoformat()
        out.append(r)
    return out


def _dp(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    f = doc.get("flow") or {}
    return f.get("darkpool") or (doc.get("analysis") or {}).get("darkpool_only")


def sector_deep_dive(
    market: Mapping[str, Any],
    docs: Sequence[Mapping[str, Any]],
    earlier: Sequence[Mapping[str, Any]],
    prices: Mapping[str, Mapping[str, Any]],
    sector_map: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The sector with the most unusual flow of the session and its per-name split (seed 003
    "Energy sector — did they buy the dip?").

    Notes
    -----
    Unusual = the largest :math:`|s_t - \\bar s|` where :math:`s` is the sector's share of
    market option premium (fraction) and :math:`\\bar s` its mean over the earlier stored
    rollups (up to ``history_sessions``); with no earlier rollup, the largest
    :math:`|\\text{net}|/\\text{premium}` (directional net over premium). Sectors of
    ``skip_sectors`` are not candidates. Per name: options directional net premium (USD),
    dark-pool net notional (at ask − at bid, USD) and the change on the day (%).
    Reading: ``conviction`` when every name with dark-pool flow has the same sign and the
    sector's options net agrees; ``split`` when the names agree in the dark pool but the
    options net does not (or is zero); ``single`` when one name holds at least
    ``single_name_share`` of the sector's summed :math:`|\\text{dark-pool net}|` and the
    names' signs differ; else ``mixed``.
    """
    secs = [
        s
        for s in market.get("sectors") or []
        if s.get("sector") not in DEEP_DIVE_RULES["skip_sectors"] and s.get("net_usd") is not None
    ]
    if not secs:
        return None
    hist: dict[str, list[float]] = {}
    for m in earlier:
        for s in m.get("sectors") or []:
            if s.get("share_of_market") is not None:
                hist.setdefault(s["sector"], []).append(float(s["share_of_market"]))
    if any(s["sector"] in hist for s in secs):
        basis = "share"

        def score(s: Mapping[str, Any]) -> float:
            h = hist.get(s["sector"])
            avg = sum(h) / len(h) if h else 0.0
            return abs(float(s.get("share_of_market") or 0.0) - avg)
    else:
        basis = "net"

        def score(s: Mapping[str, Any]) -> float:
            p = float(s.get("premium_usd") or 0.0)
            return abs(float(s["net_usd"])) / p if p > 0 else 0.0

    best = max(secs, key=score)
    h = hist.get(best["sector"])
    smap = dict(DEFAULT_SECTORS)
    smap.update(sector_map or {})
    by_u = {d["underlying"]: d for d in docs}
    names = []
    for t in best.get("tickers") or []:
        d = by_u.get(t)
        if d is None:
            continue
        tot = (d.get("flow") or {}).get("totals") or {}
        dp = _dp(d)
        pcx = prices.get(t) or {}
        names.append(
            {
                "ticker": t,
                "premium_usd": tot.get("total_usd"),
                "options_net_usd": tot.get("dir_net_usd", tot.get("net_usd")),
                "darkpool_net_usd": None if not dp else dp.get("net_usd"),
                "darkpool_notional_usd": None if not dp else dp.get("notional_usd"),
                "change_pct": pcx.get("change_pct"),
            }
        )
    names.sort(key=lambda r: -abs(float(r["darkpool_net_usd"] or 0.0)))
    dps = [float(r["darkpool_net_usd"]) for r in names if r["darkpool_net_usd"]]
    tot_abs = sum(abs(x) for x in dps)
    signs = {x > 0 for x in dps}
    opt = float(best["net_usd"])
    if dps and len(signs) == 1 and (opt > 0) == (dps[0] > 0) and opt != 0:
        reading = "conviction"
    elif dps and len(signs) == 1:
        reading = "split"
    elif dps and len(signs) > 1 and abs(dps[0]) >= DEEP_DIVE_RULES["single_name_share"] * tot_abs:
        reading = "single"
    else:
        reading = "mixed"
    return {
        "sector": best["sector"],
        "basis": basis,
        "share": best.get("share_of_market"),
        "share_avg": (sum(h) / len(h)) if h else None,
        "history_sessions": len(h) if h else 0,
        "premium_usd": best.get("premium_usd"),
        "net_usd": best.get("net_usd"),
        "names": names,
        "darkpool_net_usd": sum(dps) if dps else None,
        "top_share": abs(dps[0]) / tot_abs if dps and tot_abs > 0 else None,
        "reading": reading,
    }


def market_context(
    store: Any,
    session: dt.date,
    docs: Sequence[Mapping[str, Any]],
    market: Mapping[str, Any],
    *,
    thesis: Any = None,
) -> dict[str, Any]:
    """Everything issue 19 adds to the daily report, from the store.

    Returns
    -------
    dict
        ``prices`` (per index of the session and per ticker the thesis reads:
        :func:`chainlens.market.price_context`), ``gamma`` (per index:
        :func:`chainlens.market.gamma_bands`), ``programs`` (:func:`programs_of`),
        ``prints_stored`` (bool), ``deep_dive`` (:func:`sector_deep_dive`), ``thesis``
        (:func:`chainlens.thesis.evaluate_thesis`, None without a thesis).
    """

    by_u = {d["underlying"]: d for d in docs}
    idx = [t for t in INDEX_TICKERS if t in by_u]
    want = list(idx)
    if thesis is not None:
        from chainlens.thesis import tickers_needed

        want += [t for t in tickers_needed(thesis) if t not in want]
    try:
        bars = store.table("bars")
    except Exception:
        bars = None
    prices: dict[str, dict[str, Any]] = {}
    for t in want:
        ds, cs, src = closes_of(store, t, session, bars)
        if ds and ds[-1] == session:
            prices[t] = price_context(ds, cs, ticker=t, source=src)
    # change on the day of the other names (for the deep-dive), from bars only
    if bars is not None and bars.num_rows:
        covered = bar_closes(bars, session)  # closes_of of every name, from the bars only
        for t in by_u:
            if t in prices or t not in covered:
                continue
            ds, cs = covered[t]
            if len(cs) >= 2:
                prices[t] = {
                    "ticker": t,
                    "close": cs[-1],
                    "change_pct": (cs[-1] / cs[-2] - 1) * 100,
                }
    gamma = [g for t in idx if (g := gamma_bands(by_u[t])) is not None]
    prints_stored = market.get("darkpool") is not None
    programs = programs_of(store, session) if prints_stored else []
    earlier = []
    try:
        prev = [d for d in store.result_sessions() if d < session]
        for d in prev[-int(DEEP_DIVE_RULES["history_sessions"]) :]:
            earlier.append(store.read_market(d))
    except Exception:
        earlier = []
    smap = None
    try:
        st = store.table("sectors")
        if st.num_rows:
            smap = dict(
                zip(st.column("ticker").to_pylist(), st.column("sector").to_pylist(), strict=True)
            )
    except Exception:
        smap = None
    deep = sector_deep_dive(market, docs, earlier, prices, smap) if market.get("side") else None
    th = None
    if thesis is not None:
        from chainlens.thesis import evaluate_thesis

        th = evaluate_thesis(thesis, market, prices)
    return {
        "prices": [prices[t] for t in want if t in prices],
        "price_missing": [t for t in want if t not in prices],
        "gamma": gamma,
        "programs": programs,
        "prints_stored": prints_stored,
        "deep_dive": deep,
        "deep_dive_missing": None if market.get("side") else "trades",
        "thesis": th,
    }
