"""Report-time views read from the store (issue 11): what a per-ticker report needs beyond the
stored document, attached to the :class:`~chainlens.results.ReportDoc` like the watch-list
follow-up (never stored):

* ``high_oi`` — volume vs the trailing average at each strike and the overnight OI change,
  the seed-002 replacement of Vol/OI for high-OI names (:func:`volume_vs_average`);
* ``dealer_profiles`` — dealer delta and gamma against spot under each dealer model
  (``classic``, ``short_all``), all expiries and the 0DTE expiry, with the seed-004
  sign-combination reading (:func:`dealer_profiles`);
* ``vol_curves`` — call IV and put IV by strike of the next six live expiries
  (:func:`vol_curves_from`);
* ``net_volume`` — contracts bought minus sold by strike for one expiry, from the stored
  ``flow_by_strike`` part (:func:`net_volume`);
* ``event_prepost`` — OI, volume and ATM IV of an event's expiry before and after the event,
  from the stored ``by_expiry`` parts (:func:`event_prepost`).

The pure functions take tables and records; :func:`report_extras` reads the store (its public
API: ``read_results``, ``read_docs``, ``chain``, ``session_dates``) and calls them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.market import INDEX_LIKE
from chainlens.report._readers import is_live, stored_part, threshold_reader

__all__ = [
    "EXTRA_THRESHOLDS",
    "HIGH_OI_NAMES",
    "MODELS",
    "dealer_profiles",
    "earlier_strike_volume",
    "earlier_strike_volumes",
    "event_prepost",
    "is_high_oi",
    "net_volume",
    "report_extras",
    "sign_reading",
    "vol_curves_from",
    "volume_vs_average",
    "zero_dte_candidates",
]

#: ``name -> (value, unit, where it lives)``; merged into :data:`chainlens.report.rules.THRESHOLDS`.
EXTRA_THRESHOLDS: Mapping[str, tuple[Any, str, str]] = MappingProxyType(
    {
        "high_oi_avg_sessions": (5, "earlier stored sessions in the volume average (seed 002: 5-day)", "report._extras"),
        "high_oi_spike_multiple": (3.0, "today's volume / trailing average at the strike", "report._extras"),
        "high_oi_min_volume": (100, "contracts traded at the strike today", "report._extras"),
        "high_oi_min_avg": (50, "contracts per session of trailing average volume at the strike (a smaller base reads as new activity, not a multiple)", "report._extras"),
        "vol_curve_expiries": (6, "live expiries in the volatility curves (seed 004: next 6)", "report._extras"),
        "event_after_sessions": (2, "stored sessions after an event read as its after side (seed 002: flush within two sessions)", "report._extras"),
        "net_volume_half_width": (0.10, "fraction of spot either side (net volume by strike)", "report._extras"),
    }
)  # fmt: skip

#: Seed 002 "High-OI names": index ETFs and index options, and the mega caps it names (AAPL,
#: NVDA) with the other mega caps of sustained institutional interest.
HIGH_OI_NAMES: frozenset[str] = frozenset(
    (*INDEX_LIKE, "AAPL", "NVDA", "MSFT", "AMZN", "GOOGL", "GOOG", "META", "TSLA", "AVGO", "AMD")
)

#: Dealer models the profiles are drawn under (seed 002 classic; every option short).
MODELS: tuple[str, ...] = ("classic", "short_all")

#: Seed 004 "Combinations": signs of (dealer delta, dealer gamma) -> what dealers are net of.
SIGN_WORDS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("+", "+"): "dealers net long calls",
        ("-", "-"): "dealers net short calls",
        ("-", "+"): "dealers net long puts",
        ("+", "-"): "dealers net short puts",
    }
)


_th = threshold_reader(EXTRA_THRESHOLDS)


def is_high_oi(ticker: str) -> bool:
    """True for a :data:`HIGH_OI_NAMES` ticker (seed 002: Vol/OI compressed there)."""
    return ticker.upper() in HIGH_OI_NAMES


_live = is_live


# --------------------------------------------------------------------------- high-OI names


def earlier_strike_volume(
    store: Any, ticker: str, session: dt.date, n: int
) -> tuple[list[dt.date], list[pa.Table]]:
    """The ``n`` stored sessions of ``ticker`` before ``session`` (oldest first) and, per
    session, ``strike, call_volume, put_volume``: the chain's volume summed over every expiry
    of the session's snapshot (contracts), the same columns as the ``by_strike`` part.

    Read from the stored chain, so the seed-002 "trailing 5-day average" has its 5 sessions
    whether or not ``chainlens run`` ran on them (a store run on its last two sessions only
    used to average over 1). :func:`earlier_strike_volumes` of one ticker."""
    return earlier_strike_volumes(store, [ticker], session, n)[ticker]


def earlier_strike_volumes(
    store: Any, tickers: Sequence[str], session: dt.date, n: int
) -> dict[str, tuple[list[dt.date], list[pa.Table]]]:
    """:func:`earlier_strike_volume` of each of ``tickers``, their chains read together
    (:meth:`chainlens.store.Store.chain_block`: each session's file once, not once per ticker).

    Per ticker: its own last ``n`` stored sessions before ``session`` (the default snapshot
    of each, :meth:`~chainlens.store.Store.chain_history`), and per session the call and put
    volume by strike summed over every expiry (contracts), sorted by strike; a ticker with no
    earlier session has ``([], [])``.
    """
    import polars as pl

    names = sorted({str(t) for t in tickers})
    out: dict[str, tuple[list[dt.date], list[pa.Table]]] = {t: ([], []) for t in names}
    if n <= 0 or not names:
        return out
    h = store.chain_block(
        names, end=session - dt.timedelta(days=1), n_sessions=n,
        columns=["underlying", "trade_date", "strike", "right", "volume"],
    )  # fmt: skip
    if not h.num_rows:
        return out
    df = pl.from_arrow(h)
    assert isinstance(df, pl.DataFrame)
    v = pl.col("volume").cast(pl.Float64).fill_null(0.0)
    agg = (
        df.group_by(["underlying", "trade_date", "strike"])
        .agg(
            v.filter(pl.col("right") == "C").sum().alias("call_volume"),
            v.filter(pl.col("right") == "P").sum().alias("put_volume"),
        )
        .sort(["underlying", "trade_date", "strike"])
    )
    # one table per (ticker, session): at most n sessions of each reported ticker
    for (t, d), g in agg.partition_by(["underlying", "trade_date"], as_dict=True).items():
        days, parts = out[str(t)]
        days.append(d)
        parts.append(g.drop(["underlying", "trade_date"]).to_arrow())
    for t, (days, parts) in out.items():
        order = sorted(range(len(days)), key=days.__getitem__)
        out[t] = ([days[i] for i in order], [parts[i] for i in order])
    return out


def volume_vs_average(
    today: Sequence[Mapping[str, Any]],
    earlier: Sequence[pa.Table],
    oi_change: Sequence[Mapping[str, Any]],
    spot: float | None,
    half_width_pct: float,
) -> list[dict[str, Any]]:
    """Volume vs the trailing average at each strike, and the overnight OI change (seed 002
    "High-OI names": "compare today's volume at a specific strike to the trailing 5-day
    average volume at that same strike", and "focus on overnight OI changes").

    ``today``: this session's rows ``strike, call_volume, put_volume`` (contracts, all live
    expiries); ``earlier``: the ``by_strike`` parts of the earlier sessions (same columns);
    ``oi_change``: ``strike, call_oi_change, put_oi_change`` (contracts, OI(D) − OI(D−1)).
    Per strike within ``half_width_pct`` % of spot and right:

    * ``{right}_avg`` = mean of the right's volume over the earlier sessions that list the
      strike (contracts per session; None when no earlier session lists it);
    * ``{right}_multiple`` = today's volume / ``{right}_avg`` (None when the average is 0);
    * ``{right}_oi_change`` = the overnight OI change (contracts).
    """
    import polars as pl

    if not spot or not today:
        return []
    cols = ["strike", "call_volume", "put_volume"]
    t = pl.DataFrame(
        [{k: r.get(k) for k in cols} for r in today], schema={k: pl.Float64 for k in cols}
    )
    t = t.filter(((pl.col("strike") / spot - 1).abs() * 100.0) <= half_width_pct)
    parts = [
        pl.from_arrow(e.select(cols)).with_columns(pl.all().cast(pl.Float64))  # type: ignore[union-attr]
        for e in earlier
        if e.num_rows and all(c in e.column_names for c in cols)
    ]
    if parts:
        avg = (
            pl.concat(parts)
            .group_by("strike")
            .agg(pl.col("call_volume").mean().alias("call_avg"), pl.col("put_volume").mean().alias("put_avg"))
        )  # fmt: skip
        t = t.join(avg, on="strike", how="left")
    else:
        t = t.with_columns(
            pl.lit(None, pl.Float64).alias("call_avg"), pl.lit(None, pl.Float64).alias("put_avg")
        )
    chg_cols = ["strike", "call_oi_change", "put_oi_change"]
    if oi_change:
        c = pl.DataFrame(
            [{k: r.get(k) for k in chg_cols} for r in oi_change],
            schema={k: pl.Float64 for k in chg_cols},
        )
        t = t.join(c, on="strike", how="left")
    else:
        t = t.with_columns(pl.lit(None, pl.Float64).alias(k) for k in chg_cols[1:])
    for side in ("call", "put"):
        a = pl.col(f"{side}_avg")
        t = t.with_columns(
            pl.when(a > 0)
            .then(pl.col(f"{side}_volume") / a)
            .otherwise(None)
            .alias(f"{side}_multiple")
        )
    order = ["strike", "call_volume", "call_avg", "call_multiple", "call_oi_change",
             "put_volume", "put_avg", "put_multiple", "put_oi_change"]  # fmt: skip
    return t.select(order).sort("strike").to_dicts()


def high_oi_reading(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The largest volume spike (today's volume ≥ ``high_oi_min_volume`` contracts and a
    trailing average ≥ ``high_oi_min_avg``, largest multiple of the trailing average) and the largest overnight OI increase among ``rows``
    (:func:`volume_vs_average`): ``{"spike": {strike, right, volume, avg, multiple} | None,
    "spike_is_large": multiple ≥ high_oi_spike_multiple, "oi_build": {strike, right,
    oi_change} | None}``."""
    spikes = [
        {"strike": r["strike"], "right": side[0].upper(), "volume": r[f"{side}_volume"],
         "avg": r[f"{side}_avg"], "multiple": r[f"{side}_multiple"]}
        for r in rows for side in ("call", "put")
        if r.get(f"{side}_multiple") is not None and (r.get(f"{side}_volume") or 0) >= _th("high_oi_min_volume")
        and (r.get(f"{side}_avg") or 0) >= _th("high_oi_min_avg")
    ]  # fmt: skip
    builds = [
        {"strike": r["strike"], "right": side[0].upper(), "oi_change": r[f"{side}_oi_change"]}
        for r in rows for side in ("call", "put")
        if (r.get(f"{side}_oi_change") or 0) > 0
    ]  # fmt: skip
    sp = max(spikes, key=lambda s: s["multiple"]) if spikes else None
    ob = max(builds, key=lambda s: s["oi_change"]) if builds else None
    return {"spike": sp, "spike_is_large": bool(sp and sp["multiple"] >= _th("high_oi_spike_multiple")),
            "oi_build": ob}  # fmt: skip


# --------------------------------------------------------------------------- dealer profiles


def sign_reading(delta: float | None, gamma: float | None) -> str | None:
    """Seed 004 "Combinations" of the dealer delta and gamma signs at spot; None when either
    is missing or zero."""
    if delta is None or gamma is None or delta == 0 or gamma == 0:
        return None
    return SIGN_WORDS[("+" if delta > 0 else "-", "+" if gamma > 0 else "-")]


def _at(levels: Sequence[float], values: Sequence[float] | None, x: float) -> float | None:
    """``values`` linearly interpolated at ``x`` on ``levels`` (None outside or empty)."""
    if not values or not levels or x < levels[0] or x > levels[-1]:
        return None
    return float(np.interp(x, np.asarray(levels, float), np.asarray(values, float)))


def zero_dte_candidates(expiries: Sequence[dt.date], session: dt.date) -> list[tuple[dt.date, str]]:
    """The expiries a 0DTE profile may be drawn for, in order, with how each reads: the
    session's own expiry (``"0DTE"``, live only in an intraday snapshot), then the nearest
    later expiry when it settles on the next session (``"0DTE at the next open"``: an
    after-close snapshot's 0DTE is tomorrow's). Empty when neither exists."""
    from chainlens import calendar as cal

    out = [(session, "0DTE")] if session in expiries else []
    later = sorted(e for e in expiries if e > session)
    if later and later[0] <= cal.next_session(session):
        out.append((later[0], "0DTE at the next open"))
    return out


NO_ZERO_DTE = "no live expiry settles on this session or the next"


def dealer_profiles(chain: pa.Table, doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """Dealer delta (shares) and gamma (shares per USD of underlying) against spot now, under
    each dealer model of :data:`MODELS`, for all expiries and for the 0DTE expiry
    (the first of :func:`zero_dte_candidates` with live contracts).

    Each profile is the snapshot-time slice of :func:`chainlens.exposure.dealer_surfaces`
    (``analysis.analyze_chain`` with that ``dealer_model``; the 0DTE one on the chain filtered
    to that expiry): :math:`DX(S) = \\sum_i w_i m_i \\Delta_i(S)`,
    :math:`GX(S) = \\sum_i w_i m_i \\Gamma_i(S)` with :math:`w_i` = +OI for calls and −OI for
    puts (``classic``) or −OI (``short_all``), sticky-strike IV. The seed-004 reading
    (:func:`sign_reading`) is taken at spot from each profile. Under ``classic`` dealer delta
    is never negative (long calls and short puts both carry positive delta) and under
    ``short_all`` dealer gamma is never positive: the model fixes that sign, the other one is
    what the data says.

    Returns ``{"levels", "spot", "zero_dte_expiry", "zero_dte_label", "models": {model:
    {"all": {...}, "zero_dte": {...} | None}}}`` with each profile ``{"dx_shares",
    "gx_shares_per_usd", "dx_at_spot", "gx_at_spot", "reading"}``; None when no profile can
    be drawn (no greeks).
    """
    from chainlens.analysis import analyze_chain
    from chainlens.exposure import AnalysisConfig

    a = doc["analysis"]
    st = a.get("settings") or {}
    session = dt.date.fromisoformat(str(doc["session"])[:10])
    exps = sorted(set(pc.unique(chain.column("expiry")).to_pylist()))
    kw: dict[str, Any] = {"profile": False, "vol": False, "surface_sessions": 0}
    if st.get("rate") is not None:
        kw["rate"] = float(st["rate"])
    if st.get("vendor_fallback") in ("exclude", "model"):
        kw["vendor_fallback"] = st["vendor_fallback"]
    out: dict[str, Any] = {"levels": None, "spot": a.get("spot"), "models": {},
                           "zero_dte_expiry": None, "zero_dte_label": NO_ZERO_DTE}  # fmt: skip
    sub = None
    for e0, label in zero_dte_candidates(exps, session):  # the first with live contracts
        cand = chain.filter(pc.equal(chain.column("expiry"), pa.scalar(e0, pa.date32())))
        got = analyze_chain(cand, AnalysisConfig(**kw))
        sf = got[0].surfaces if got else None
        if (
            sf
            and sf.get("dx_shares") is not None
            and np.any(np.asarray(sf["gx_shares_per_usd"][0]) != 0)
        ):
            sub, out["zero_dte_expiry"], out["zero_dte_label"] = cand, e0.isoformat(), label
            break
    for m in MODELS:
        cfg = AnalysisConfig(dealer_model=m, **kw)
        prof: dict[str, Any] = {}
        for name, tab in (("all", chain), ("zero_dte", sub)):
            if tab is None or tab.num_rows == 0:
                prof[name] = None
                continue
            got = analyze_chain(tab, cfg)
            ca = next(
                (x for x in got if x.underlying == doc["underlying"]), got[0] if got else None
            )
            sf = None if ca is None else ca.surfaces
            if not sf or sf.get("dx_shares") is None or not len(sf["dx_shares"]):
                prof[name] = None
                continue
            lv = [float(x) for x in sf["spot_levels"]]
            if out["levels"] is None:
                out["levels"] = lv
            if len(lv) != len(out["levels"]):  # same spot and grid by construction
                prof[name] = None
                continue
            dx = [float(x) for x in sf["dx_shares"][0]]
            gx = [float(x) for x in sf["gx_shares_per_usd"][0]]
            s = out["spot"] or (ca.spot if ca is not None else lv[len(lv) // 2])
            d0, g0 = _at(lv, dx, s), _at(lv, gx, s)
            prof[name] = {"dx_shares": dx, "gx_shares_per_usd": gx, "dx_at_spot": d0, "gx_at_spot": g0,
                          "reading": sign_reading(d0, g0)}  # fmt: skip
        out["models"][m] = prof
    if out["levels"] is None:
        return None
    return out


def vol_curves_from(smile: pa.Table | None, session: str, spot: float | None,
                    n: int | None = None, half_width: float = 0.25) -> list[dict[str, Any]]:  # fmt: skip
    """Call IV and put IV (decimal) by strike of the next ``n`` (``vol_curve_expiries``) live
    expiries, strikes within ``half_width`` of spot, from a smile table (``expiry, strike,
    call_iv, put_iv``: ``ChainAnalysis.vol["smile"]``). Seed 004 "volatility curves ... across
    the next 6 expiration dates"."""
    import polars as pl

    n = int(n or _th("vol_curve_expiries"))
    if smile is None or not smile.num_rows or not spot:
        return []
    df = pl.from_arrow(smile.select(["expiry", "strike", "call_iv", "put_iv"]))
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(pl.col("expiry").cast(pl.Utf8).str.slice(0, 10))
    df = df.filter(
        (pl.col("expiry") > str(session)[:10])
        & (((pl.col("strike") / spot) - 1).abs() <= half_width)
    )
    exps = sorted(df.get_column("expiry").unique().to_list())[:n]
    out = []
    for e in exps:  # at most n expiries
        g = df.filter(pl.col("expiry") == e).sort("strike")
        out.append({"expiry": e, "strikes": g.get_column("strike").to_list(),
                    "call_iv": g.get_column("call_iv").to_list(), "put_iv": g.get_column("put_iv").to_list()})  # fmt: skip
    return out


# --------------------------------------------------------------------------- net volume


def net_volume(
    flow_by_strike: pa.Table, doc: Mapping[str, Any], expiry: str | None = None
) -> dict[str, Any] | None:
    """Contracts bought minus sold by strike for one expiry (seed 004 "Buy/Sell Netted Volume
    Table"), from the ``flow_by_strike`` part's contract columns (classified single-leg trades;
    :data:`chainlens.flow.CONTRACT_COLUMNS`).

    ``expiry``: the expiry shown; default the live expiry with the most contracts bought plus
    sold. Rows: strikes within ``net_volume_half_width`` of spot, ``calls_bought_contracts,
    calls_sold_contracts, puts_bought_contracts, puts_sold_contracts, net_call_contracts,
    net_put_contracts, net_contracts`` (contracts). Returns ``{"expiry", "rows", "expiries"}``
    (``expiries``: every live expiry with its contracts traded) or None without the columns.
    """
    import polars as pl

    need = ["expiry", "strike", "calls_bought_contracts", "calls_sold_contracts",
            "puts_bought_contracts", "puts_sold_contracts", "net_call_contracts",
            "net_put_contracts", "net_contracts"]  # fmt: skip
    if (
        flow_by_strike is None
        or not flow_by_strike.num_rows
        or any(c not in flow_by_strike.column_names for c in need)
    ):
        return None
    df = pl.from_arrow(flow_by_strike.select(need))
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(pl.col("expiry").cast(pl.Utf8).str.slice(0, 10)).filter(
        pl.col("expiry") > str(doc["session"])[:10]
    )
    if df.height == 0 or df.get_column("calls_bought_contracts").null_count() == df.height:
        return None
    traded = (
        df.group_by("expiry")
        .agg((pl.col("calls_bought_contracts") + pl.col("calls_sold_contracts")
              + pl.col("puts_bought_contracts") + pl.col("puts_sold_contracts")).sum().alias("contracts"))
        .sort("expiry")
    )  # fmt: skip
    if expiry is None:
        expiry = traded.sort(["contracts", "expiry"], descending=[True, False]).get_column(
            "expiry"
        )[0]
    spot = doc["analysis"].get("spot")
    g = df.filter(pl.col("expiry") == expiry)
    if spot:
        g = g.filter(((pl.col("strike") / spot) - 1).abs() <= _th("net_volume_half_width"))
    g = g.group_by("strike").agg(pl.all().exclude("strike", "expiry").sum()).sort("strike")
    return {"expiry": expiry, "rows": g.to_dicts(), "expiries": traded.to_dicts()}


# --------------------------------------------------------------------------- events


def event_prepost(
    events: Sequence[Mapping[str, Any]],
    by_expiry: Mapping[str, pa.Table],
    session: str,
) -> list[dict[str, Any]]:
    """OI, volume and ATM IV before vs after each past event (seed 002 "Post-earnings OI flush
    and what it reveals": OI at the post-event strikes often falls 60-80 % within two
    sessions; implied volatility collapses once the event risk resolves).

    ``events``: ``{kind, date, target_expiry}`` (the target is the first expiry on or after
    the event); ``by_expiry``: ISO session -> that session's stored ``by_expiry`` part of the
    ticker. For an event dated on or before ``session``, ``before`` is the last stored
    session before the event date, ``after`` the ``event_after_sessions``-th stored session
    after it (seed 002: the flush comes "within two trading sessions"), or the last one up to
    ``session`` when fewer are stored. The expiry compared is the target when it is listed on
    both sides and still live after, else the first such expiry on or after the event (the
    post-event expiry). Per side, of that expiry: ``oi`` = call OI + put OI (contracts),
    ``volume`` = call + put volume (contracts), ``atm_iv`` (decimal); and over all expiries
    ``total_oi``. ``oi_change_pct`` = after / before − 1 of that expiry's OI (fraction),
    ``iv_change`` = after − before ATM IV (decimal).
    """
    days = sorted(by_expiry)
    out = []
    seen = set()
    for e in events:
        d, tgt = str(e.get("date") or "")[:10], str(e.get("target_expiry") or "")[:10]
        if not d or d > str(session)[:10] or (e.get("kind"), d) in seen:
            continue
        pre = [x for x in days if x < d]
        post = [x for x in days if x > d and x <= str(session)[:10]]
        if not pre or not post:
            continue
        seen.add((e.get("kind"), d))
        aft = post[: int(_th("event_after_sessions"))][-1]
        # the expiry compared: the target when it is listed on both sides, else the first
        # expiry on or after the event listed on both (an event on an expiry day, or an
        # earnings date without a target: the post-event expiry)
        both = sorted(  # live on the after session (an expiring one has no ATM IV then)
            x
            for x in set(pc.cast(by_expiry[pre[-1]].column("expiry"), pa.string()).to_pylist())
            & set(pc.cast(by_expiry[aft].column("expiry"), pa.string()).to_pylist())
            if x > aft
        )
        if tgt not in both:
            tgt = next((x for x in both if x >= d), tgt)
        rec: dict[str, Any] = {"kind": str(e.get("kind")), "date": d, "target_expiry": tgt or None,
                               "before_session": pre[-1], "after_session": aft}  # fmt: skip
        for side, day in (("before", pre[-1]), ("after", aft)):
            t = by_expiry[day]
            ex = pc.cast(t.column("expiry"), pa.string())
            row = t.filter(pc.equal(ex, tgt)).to_pylist() if tgt else []
            r = row[0] if row else {}
            oi = None if not r else float((r.get("call_oi") or 0) + (r.get("put_oi") or 0))
            vol = None if not r else float((r.get("call_volume") or 0) + (r.get("put_volume") or 0))
            rec[f"{side}_oi"], rec[f"{side}_volume"], rec[f"{side}_atm_iv"] = (
                oi,
                vol,
                r.get("atm_iv"),
            )
            tot = (
                pc.sum(pc.add(t.column("call_oi"), t.column("put_oi"))).as_py()
                if t.num_rows
                else None
            )
            rec[f"{side}_total_oi"] = None if tot is None else float(tot)
        b, a = rec["before_oi"], rec["after_oi"]
        rec["oi_change_pct"] = None if not b or a is None else a / b - 1.0
        bi, ai = rec["before_atm_iv"], rec["after_atm_iv"]
        rec["iv_change"] = None if bi is None or ai is None else ai - bi
        out.append(rec)
    return out


def _events_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    ev = [dict(e) for e in (doc.get("oi") or {}).get("events") or []]
    earn = doc.get("earnings") or {}
    for d in earn.get("past_dates") or []:
        ev.append({"kind": "earnings", "date": d, "target_expiry": None})
    return ev


# --------------------------------------------------------------------------- the store reader


def report_extras(
    store: Any,
    doc: Mapping[str, Any],
    lenses: Sequence[str],
    *,
    half_width_pct: float = 5.0,
    earlier_volume: tuple[list[dt.date], list[pa.Table]] | None = None,
) -> dict[str, Any]:
    """The ``ReportDoc`` keys of the report-time views (module notes) for a report of ``doc``
    with these lenses (``half_width_pct``: % of spot either side in the volume-vs-average
    table; the report step passes the rule table's ``vol_oi_table_half_width_pct``): ``high_oi``, ``event_prepost`` for the flow lens; ``dealer_profiles``,
    ``vol_curves``, ``net_volume`` for the premium and bias lenses. A view whose inputs are
    not stored is left out (the lens then says so or falls back to the document).
    ``earlier_volume``: :func:`earlier_strike_volume` of the ticker when already read (the
    report writer reads them for all its tickers at once)."""
    t = doc["underlying"]
    session = dt.date.fromisoformat(str(doc["session"])[:10])
    out: dict[str, Any] = {}
    res = set(store.result_sessions())
    own = [d for d in store.session_dates(t) if d in res]

    def part(day: dt.date, name: str) -> pa.Table | None:
        return stored_part(store, day, name, t)

    a = doc["analysis"]
    if {"flow", "premium"} & set(lenses):  # seed 004 multiples scanner (stored scan_unusual)
        from chainlens.report._unusual import ticker_unusual

        un = ticker_unusual(store, doc)
        if un is not None:
            out["unusual"] = un
    if "flow" in lenses:
        earlier, parts = (
            earlier_volume
            if earlier_volume is not None
            else earlier_strike_volume(store, t, session, int(_th("high_oi_avg_sessions")))
        )
        if not parts:  # no chain before the session: the stored by_strike parts, if any
            earlier = [d for d in own if d < session][-int(_th("high_oi_avg_sessions")) :]
            parts = [p for d in earlier if (p := part(d, "by_strike")) is not None]
        today = (
            a.get("by_strike_live") if a.get("by_strike_live") is not None else a.get("by_strike")
        )
        oi = doc.get("oi") or {}
        chg = (
            oi.get("change_by_strike_live")
            if oi.get("change_by_strike_live") is not None
            else oi.get("change_by_strike")
        )
        rows = volume_vs_average(today or [], parts, chg or [], a.get("spot"), half_width_pct)
        out["high_oi"] = {"high_oi_name": is_high_oi(t), "sessions": [d.isoformat() for d in earlier],
                          "rows": rows, **high_oi_reading(rows)}  # fmt: skip
        ev = _events_of(doc)
        if ev:
            lo = min(str(e.get("date"))[:10] for e in ev)
            days = [d for d in own if d <= session and d.isoformat() >= _minus(lo, 10)]
            bx = {d.isoformat(): p for d in days if (p := part(d, "by_expiry")) is not None}
            pp = event_prepost(ev, bx, doc["session"])
            if pp:
                out["event_prepost"] = pp
    if {"premium", "bias"} & set(lenses):
        try:
            chain = store.chain(t, session)
        except Exception:
            chain = None
        if chain is not None and chain.num_rows:
            try:
                prof = dealer_profiles(chain, doc)
            except Exception:  # no usable greeks: the lens says n/a
                prof = None
            if prof:
                out["dealer_profiles"] = prof
            from chainlens.analysis import analyze_chain
            from chainlens.exposure import AnalysisConfig

            try:
                got = analyze_chain(chain, AnalysisConfig(profile=False, surfaces=False))
                smile = got[0].vol.get("smile") if got else None
            except Exception:
                smile = None
            vc = vol_curves_from(smile, doc["session"], a.get("spot"))
            if vc:
                out["vol_curves"] = vc
        fb = part(session, "flow_by_strike")
        nv = net_volume(fb, doc) if fb is not None else None
        if nv:
            out["net_volume"] = nv
    return out


def _minus(iso: str, days: int) -> str:
    return (dt.date.fromisoformat(iso) - dt.timedelta(days=days)).isoformat()
