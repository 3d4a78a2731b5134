"""The data of every dashboard view, shared by the HTML pages and the JSON/CSV API.

Each builder takes a :class:`~chainlens.serve._data.StoreReader` and the view's validated
query state and returns plain JSON-ready data: :class:`TableView` tables (rows of records) and
Plotly figure specs (``{"data": [...], "layout": {...}}``). Nothing here renders HTML.

The numbers are the stored pipeline results (``chainlens run``): the per-underlying documents
(``analysis``: the ``chainlens analyze`` object of docs/analyze-json.md; ``flow``; ``oi``) and
the stored result parts (``notable``, ``oi_changes``, ``by_expiry``, ``accumulation``,
``rolls``). What ``chainlens run`` does not store is computed, cached per server (each view
says which in its ``source``):

* a ticker page with an expiry / DTE filter or the ``short_all`` model sums the stored
  ``by_strike_expiry`` and ``profile_by_expiry`` parts over the selected expiries (issue 15);
  only a session stored before those parts existed re-runs
  :func:`chainlens.analysis.analyze_chain` on the stored chain (``source: computed``);
* the four scanners read their stored parts (``scan_unusual``, ``scan_netdelta``,
  ``accumulation``, ``rolls``; a session with results but no such part found none); a session
  stored before the scanner parts existed runs :func:`chainlens.scan.store_scan`;
* the OI-change heatmap reads the stored OI history (``Store.oi_history``);
* the level history of sessions the pipeline has not run uses ``analyze_chain`` with the
  profile on and the vol views and surfaces off (``source = "chain"`` in its rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._jsonsafe import jsonable
from chainlens.errors import NotFoundError

__all__ = [
    "DEALER_MODELS",
    "FLOW_SORTS",
    "OVERVIEW_COLUMNS",
    "SCAN_KINDS",
    "Col",
    "TableView",
    "TickerFilter",
    "flow_view",
    "levels_view",
    "overview_view",
    "report_view",
    "scan_view",
    "status_view",
    "ticker_view",
]

#: Dealer models a ticker page can use from the stored chain (``flow`` needs the customer
#: positions column, which a stored chain does not carry).
DEALER_MODELS = ("classic", "short_all")
SCAN_KINDS = ("unusual", "netdelta", "accumulation", "rolls")
#: The stored results part of each scanner.
SCAN_PARTS = {
    "unusual": "scan_unusual",
    "netdelta": "scan_netdelta",
    "accumulation": "accumulation",
    "rolls": "rolls",
}


@dataclass(frozen=True, slots=True)
class Col:
    """One table column: record ``key``, header ``label`` and display ``fmt``.

    ``fmt``: ``str``, ``int``, ``num`` (2 decimals), ``usd`` (compact dollars), ``pct``
    (value already in percent), ``frac`` (fraction shown as percent), ``big`` (compact count).
    """

    key: str
    label: str
    fmt: str = "str"


@dataclass(slots=True)
class TableView:
    """A table of records with its columns; rendered as HTML, JSON or CSV."""

    id: str
    title: str
    columns: list[Col]
    rows: list[dict[str, Any]]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "columns": [{"key": c.key, "label": c.label, "fmt": c.fmt} for c in self.columns],
            "rows": [{c.key: _clean(r.get(c.key)) for c in self.columns} for r in self.rows],
        }


#: The JSON sanitiser of the API (one for the package: :func:`chainlens._jsonsafe.jsonable`).
_clean = jsonable


def _records(t: pa.Table, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    if columns is not None:
        t = t.select([c for c in columns if c in t.column_names])
    return [{k: _clean(v) for k, v in r.items()} for r in t.to_pylist()]


def _sort(rows: list[dict[str, Any]], key: str | None, desc: bool) -> list[dict[str, Any]]:
    """Rows sorted by ``key`` (nulls last either way)."""
    if not key:
        return rows
    present = [r for r in rows if r.get(key) is not None]
    absent = [r for r in rows if r.get(key) is None]
    try:
        present.sort(key=lambda r: r[key], reverse=desc)
    except TypeError:
        present.sort(key=lambda r: str(r[key]), reverse=desc)
    return present + absent


def _session_or_latest(reader: Any, session: dt.date | None) -> dt.date:
    days = reader.sessions()
    if not days:
        raise NotFoundError(
            f"the store at {reader.root} holds no pipeline results",
            hint="run `chainlens run --date D` (or `chainlens demo`) first",
        )
    if session is None:
        return days[-1]
    if session not in days:
        raise NotFoundError(
            f"no pipeline results for session {session}; stored: "
            + ", ".join(d.isoformat() for d in days),
            hint=f"run `chainlens run --date {session}` first",
        )
    return session


def _get(d: Any, *path: Any) -> Any:
    for p in path:
        if d is None:
            return None
        if isinstance(p, int):
            d = d[p] if isinstance(d, list) and len(d) > p else None
        else:
            d = d.get(p) if isinstance(d, dict) else None
    return d


# ---------------------------------------------------------------------- overview
OVERVIEW_COLUMNS = [
    Col("underlying", "Ticker"),
    Col("spot", "Spot", "num"),
    Col("zero_gamma", "Zero gamma", "num"),
    Col("call_wall", "Call wall", "num"),
    Col("put_wall", "Put wall", "num"),
    Col("max_pain", "Max pain (front)", "num"),
    Col("gex_usd_per_1pct", "GEX $/1%", "usd"),
    Col("dex_shares", "DEX shares", "big"),
    Col("net_premium_usd", "Net premium", "usd"),
    Col("total_premium_usd", "Total premium", "usd"),
    Col("flow_label", "Flow (side-adj.)"),
    Col("naive_label", "Naive label"),
    Col("em_pct", "Exp. move % (front)", "pct"),
    Col("em_status", "Exp.-move status"),
    Col("pc_oi_ratio", "P/C OI", "num"),
]


def overview_rows(reader: Any, session: dt.date) -> list[dict[str, Any]]:
    """One record per underlying of ``session`` from the stored documents."""

    def make() -> list[dict[str, Any]]:
        out = []
        for u, doc in sorted(reader.docs(session).items()):
            a = doc.get("analysis") or {}
            lv = a.get("levels") or {}
            tot = a.get("totals") or {}
            ft = _get(doc, "flow", "totals") or {}
            front = _get(a, "vol", "expiries", 0) or {}
            out.append(
                {
                    "underlying": u,
                    "spot": a.get("spot"),
                    "zero_gamma": lv.get("zero_gamma"),
                    "call_wall": lv.get("call_wall"),
                    "put_wall": lv.get("put_wall"),
                    "max_pain": _get(a, "max_pain_trend", 0, "max_pain"),
                    "max_pain_expiry": _get(a, "max_pain_trend", 0, "expiry"),
                    "gex_usd_per_1pct": tot.get("gex_usd_per_1pct"),
                    "dex_shares": tot.get("dex_shares"),
                    "net_premium_usd": ft.get("net_usd"),
                    "total_premium_usd": ft.get("total_usd"),
                    "flow_label": ft.get("side_label"),
                    "naive_label": ft.get("naive_label"),
                    "em_pct": front.get("expected_move_pct"),
                    "em_expiry": front.get("expiry"),
                    "em_status": _get(front, "zone", "status"),
                    "pc_oi_ratio": tot.get("pc_oi_ratio"),
                }
            )
        return out

    return reader.cached(("overview_rows", session), make)


def overview_view(
    reader: Any,
    session: dt.date | None,
    *,
    q: str = "",
    sort: str | None = None,
    desc: bool = False,
    label: str | None = None,
) -> dict[str, Any]:
    """Market overview: one row per ticker, filtered by ``q`` (ticker substring) and ``label``."""
    d = _session_or_latest(reader, session)
    rows = overview_rows(reader, d)
    if q:
        qq = q.upper()
        rows = [r for r in rows if qq in str(r["underlying"]).upper()]
    if label:
        rows = [r for r in rows if r.get("flow_label") == label]
    rows = _sort(rows, sort, desc)
    table = TableView("tickers", f"Every ticker — {d}", OVERVIEW_COLUMNS, rows)
    return {"session": d, "sessions": reader.sessions(), "table": table}


# ---------------------------------------------------------------------- ticker
@dataclass(frozen=True, slots=True)
class TickerFilter:
    """The expiry / DTE filter and dealer model of a ticker page."""

    expiry: dt.date | None = None
    dte_max: int | None = None
    model: str = "classic"

    @property
    def active(self) -> bool:
        return self.expiry is not None or self.dte_max is not None or self.model != "classic"


def _doc(reader: Any, ticker: str, d: dt.date) -> dict[str, Any]:
    docs = reader.docs(d)
    if ticker not in docs:
        raise NotFoundError(
            f"no pipeline results for ticker {ticker!r} on {d}",
            hint="pick a ticker from the market overview",
        )
    return docs[ticker]


def _expiries(doc: dict[str, Any]) -> list[dt.date]:
    return [dt.date.fromisoformat(r["expiry"]) for r in _get(doc, "analysis", "by_expiry") or []]


def _selected(all_exp: list[dt.date], d: dt.date, f: TickerFilter) -> list[dt.date]:
    sel = [e for e in all_exp if e >= d]
    if f.expiry is not None:
        sel = [e for e in sel if e == f.expiry]
    if f.dte_max is not None:
        sel = [e for e in sel if (e - d).days <= f.dte_max]
    return sel


#: The stored ``by_strike_expiry`` / ``profile_by_expiry`` columns of each dealer model, by
#: the ``by_strike`` column they stand for.
MODEL_COLUMNS: dict[str, dict[str, str]] = {
    "classic": {
        "gex_usd_per_1pct": "gex_usd_per_1pct",
        "dex_shares": "dex_shares",
        "vanna_usd_per_vol_pt": "vanna_usd_per_vol_pt",
        "charm_shares_per_day": "charm_shares_per_day",
    },
    "short_all": {
        "gex_usd_per_1pct": "gex_short_all_usd_per_1pct",
        "dex_shares": "dex_short_all_shares",
        "vanna_usd_per_vol_pt": "vanna_short_all_usd_per_vol_pt",
        "charm_shares_per_day": "charm_short_all_shares_per_day",
    },
}
_OI_VOL = ("call_oi", "put_oi", "call_volume", "put_volume")


def _analysis(reader: Any, ticker: str, d: dt.date, f: TickerFilter) -> dict[str, Any]:
    """The analysis document of the page: the stored one, or, for a filter or the
    ``short_all`` model, one assembled from the stored ``by_strike_expiry`` and
    ``profile_by_expiry`` parts (:func:`_stored_filtered`; cached). A session stored before
    those parts existed falls back to re-running the analysis on the stored chain."""
    doc = _doc(reader, ticker, d)
    if not f.active:
        return doc["analysis"]
    sel = _selected(_expiries(doc), d, f)

    def make() -> dict[str, Any]:
        stored = _stored_filtered(reader, ticker, d, f.model, sel)
        if stored is not None:
            return stored
        from chainlens.analysis import AnalysisConfig, analyze_chain

        if not sel:
            return {}
        ch = reader.chain(ticker, d)
        keep = pc.is_in(ch.column("expiry"), value_set=pa.array(sel, pa.date32()))
        res = analyze_chain(ch.filter(keep), AnalysisConfig(dealer_model=f.model))
        return {**jsonable(res[0].to_json()), "_source": "computed"} if res else {}

    return reader.cached(("analysis", ticker, d, tuple(sel), f.model), make)


def _stored_filtered(
    reader: Any, ticker: str, d: dt.date, model: str, sel: list[dt.date]
) -> dict[str, Any] | None:
    """The analysis document restricted to the expiries ``sel`` under ``model``, from the
    stored parts only (None when the session has no ``by_strike_expiry`` part).

    * ``by_strike``: the ``by_strike_expiry`` rows of ``sel`` summed per strike (the model's
      columns); ``totals``: their sums, ``contracts`` from the stored ``by_expiry`` part;
    * walls: the strike above (calls) / below (puts) spot with the largest dollar gamma
      ``|call_gex|`` / ``|put_gex|`` and OI (:func:`chainlens.exposure.wall_above`, as in the
      analysis: ``|w| = OI`` under both models, so the walls do not depend on the model);
    * profile and zero gamma: the ``profile_by_expiry`` rows of ``sel`` summed per spot
      level, zero gamma its sign change nearest spot (:func:`chainlens.exposure.zero_gamma`);
    * expected moves, ATM IV, skew and smiles: the stored document's per-expiry entries of
      ``sel`` (smiles are stored for the next three expiries only);
    * surfaces: :func:`_filtered_surfaces` (the one panel computed from the stored chain).
    """
    from chainlens.exposure import wall_above, wall_below, zero_gamma

    bse = reader.cached(
        ("rows_of", "by_strike_expiry", ticker, d),
        lambda: _rows_of(reader, d, "by_strike_expiry", ticker),
    )
    if bse is None:
        return None
    a0 = _doc(reader, ticker, d)["analysis"]
    S = a0.get("spot")
    cols = MODEL_COLUMNS[model]
    sel_a = pa.array(sel, pa.date32())
    t = bse.filter(pc.is_in(bse.column("expiry"), value_set=sel_a))
    sums = [*_OI_VOL, "call_gex_usd_per_1pct", "put_gex_usd_per_1pct", *cols.values()]
    g = t.group_by("strike").aggregate([(c, "sum") for c in sums]).sort_by("strike")
    g = g.rename_columns([c.removesuffix("_sum") for c in g.column_names])
    by_strike = []
    cg = {c: g.column(c).to_pylist() for c in g.column_names}
    for i, k in enumerate(cg["strike"]):  # output records (one per strike of the page)
        r = {"strike": k, **{c: int(cg[c][i]) for c in _OI_VOL}}
        r.update({out: cg[src][i] for out, src in cols.items()})
        by_strike.append(r)
    strikes = np.asarray(cg["strike"], dtype=np.float64)
    call_oi, put_oi = (np.asarray(cg[c], dtype=np.float64) for c in ("call_oi", "put_oi"))
    call_g = np.abs(np.asarray(cg["call_gex_usd_per_1pct"], dtype=np.float64))
    put_g = np.abs(np.asarray(cg["put_gex_usd_per_1pct"], dtype=np.float64))
    levels: dict[str, Any] = {
        "call_wall": wall_above(strikes, call_g, S) if strikes.size else None,
        "put_wall": wall_below(strikes, put_g, S) if strikes.size else None,
        "oi_call_wall": wall_above(strikes, call_oi, S) if strikes.size else None,
        "oi_put_wall": wall_below(strikes, put_oi, S) if strikes.size else None,
        "zero_gamma": None,
        "zero_gamma_reason": "no expiry selected" if not sel else None,
    }
    be = reader.cached(
        ("rows_of", "by_expiry", ticker, d), lambda: _rows_of(reader, d, "by_expiry", ticker)
    )
    n_contracts = None
    if be is not None:
        n_contracts = int(
            pc.sum(
                be.filter(pc.is_in(be.column("expiry"), value_set=sel_a)).column("contracts")
            ).as_py()
            or 0
        )
    c_oi, p_oi = int(call_oi.sum()), int(put_oi.sum())
    totals: dict[str, Any] = {
        "contracts": n_contracts,
        "call_oi": c_oi,
        "put_oi": p_oi,
        "call_volume": int(sum(cg["call_volume"])),
        "put_volume": int(sum(cg["put_volume"])),
        "pc_oi_ratio": (p_oi / c_oi) if c_oi else None,
        **{out: float(np.sum(np.asarray(cg[src], dtype=np.float64))) for out, src in cols.items()},
    }
    profile: dict[str, Any] = {}
    prof = reader.cached(
        ("rows_of", "profile_by_expiry", ticker, d),
        lambda: _rows_of(reader, d, "profile_by_expiry", ticker),
    )
    if prof is not None and sel:
        p = prof.filter(pc.is_in(prof.column("expiry"), value_set=sel_a))
        if p.num_rows:
            pg = p.group_by("spot_level").aggregate([(cols["gex_usd_per_1pct"], "sum")])
            pg = pg.sort_by("spot_level")
            lv = pg.column("spot_level").to_numpy()
            gex = pg.column(1).to_numpy()
            z = zero_gamma(lv, gex, S)
            levels["zero_gamma"], levels["zero_gamma_reason"] = z.level, z.reason
            profile = {
                "levels": lv.tolist(),
                "gex_usd_per_1pct": {"all": gex.tolist()},
                "zero_gamma": {"all": {"level": z.level, "reason": z.reason}},
            }
    keep = {e.isoformat() for e in sel}
    vol0 = a0.get("vol") or {}
    vol = {
        "expiries": [r for r in vol0.get("expiries") or [] if r.get("expiry") in keep],
        "atm_term_structure": [r for r in vol0.get("atm_term_structure") or [] if r[0] in keep],
        "skew_term_structure": [r for r in vol0.get("skew_term_structure") or [] if r[0] in keep],
        "smile": [r for r in vol0.get("smile") or [] if str(r.get("expiry"))[:10] in keep],
    }
    return jsonable(
        {
            "spot": S,
            "greeks": a0.get("greeks"),
            "dealer_model": model,
            "levels": levels,
            "totals": totals,
            "by_strike": by_strike,
            "profile": profile,
            "vol": vol,
            "surfaces": _filtered_surfaces(reader, ticker, d, model, sel),
            "_source": "stored",
        }
    )


def _filtered_surfaces(
    reader: Any, ticker: str, d: dt.date, model: str, sel: list[dt.date]
) -> dict[str, Any]:
    """The DX/GX surfaces (seed 004: dealer delta in shares and dealer gamma in shares per USD
    over spot × time) of the expiries ``sel`` under ``model``.

    A surface point sums every contract's delta or gamma at that spot and time, so the stored
    all-expiry surface cannot be split by expiry; storing one surface per expiry and model
    would multiply the part by the number of expiries for every underlying of the market. So
    this panel is computed on request: :func:`chainlens.analysis.analyze_chain` of the stored
    chain restricted to ``sel`` (vol views off), with the run's grid and greeks settings, and
    cached per store generation like every page part. ``{}`` when ``sel`` is empty.
    """

    def make() -> dict[str, Any]:
        from chainlens.analysis import AnalysisConfig, analyze_chain

        if not sel:
            return {}
        ch = reader.chain(ticker, d)
        keep = pc.is_in(ch.column("expiry"), value_set=pa.array(sel, pa.date32()))
        res = analyze_chain(ch.filter(keep), AnalysisConfig(dealer_model=model, vol=False))
        return dict(jsonable(res[0].to_json()).get("surfaces") or {}) if res else {}

    return reader.cached(("surfaces", ticker, d, tuple(sel), model), make)


BY_STRIKE_COLUMNS = [
    Col("strike", "Strike", "num"),
    Col("call_oi", "Call OI", "int"),
    Col("put_oi", "Put OI", "int"),
    Col("call_volume", "Call vol", "int"),
    Col("put_volume", "Put vol", "int"),
    Col("gex_usd_per_1pct", "GEX $/1%", "usd"),
    Col("dex_shares", "DEX shares", "big"),
    Col("vanna_usd_per_vol_pt", "Vanna $/vol pt", "usd"),
    Col("charm_shares_per_day", "Charm shares/day", "big"),
]
BY_EXPIRY_COLUMNS = [
    Col("expiry", "Expiry"),
    Col("dte", "DTE", "int"),
    Col("call_oi", "Call OI", "int"),
    Col("put_oi", "Put OI", "int"),
    Col("max_pain", "Max pain", "num"),
    Col("gex_usd_per_1pct", "GEX $/1%", "usd"),
    Col("atm_strike", "ATM", "num"),
    Col("straddle_mid", "Straddle", "num"),
    Col("expected_move_pct", "Exp. move %", "pct"),
    Col("atm_iv", "ATM IV", "frac"),
    Col("rr_25d", "RR 25Δ", "frac"),
]
EM_COLUMNS = [
    Col("expiry", "Expiry"),
    Col("dte", "DTE", "int"),
    Col("straddle_mid", "Straddle", "num"),
    Col("expected_move_pct", "Exp. move %", "pct"),
    Col("low", "Zone low", "num"),
    Col("high", "Zone high", "num"),
    Col("status", "Status"),
    Col("range_50", "50% range (25Δ)"),
    Col("range_70", "70% range (15Δ)"),
    Col("atm_iv", "ATM IV", "frac"),
    Col("rr_25d", "RR 25Δ", "frac"),
    Col("bf_25d", "BF 25Δ", "frac"),
]
OI_CHANGE_COLUMNS = [
    Col("strike", "Strike", "num"),
    Col("call_oi_change", "Call OI change", "int"),
    Col("put_oi_change", "Put OI change", "int"),
]


def _oi_change_by_strike(
    reader: Any, ticker: str, d: dt.date, sel: list[dt.date] | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Overnight OI change by strike (calls, puts) from the stored ``oi_changes`` part."""
    t = reader.cached(
        ("oi_changes_of", ticker, d), lambda: _rows_of(reader, d, "oi_changes", ticker)
    )
    if t is None:
        return [], None
    if sel is not None:
        t = t.filter(pc.is_in(t.column("expiry"), value_set=pa.array(sel, pa.date32())))
    if t.num_rows == 0:
        return [], None
    is_call = pc.equal(t.column("right"), "C")
    chg = pc.fill_null(t.column("oi_change").cast(pa.float64()), 0.0)
    zero = pa.scalar(0.0)
    g = (
        pa.table(
            {
                "strike": t.column("strike"),
                "call_oi_change": pc.if_else(is_call, chg, zero),
                "put_oi_change": pc.if_else(is_call, zero, chg),
            }
        )
        .group_by("strike")
        .aggregate([("call_oi_change", "sum"), ("put_oi_change", "sum")])
        .rename_columns(["strike", "call_oi_change", "put_oi_change"])
        .sort_by("strike")
    )
    nonzero = pc.or_(
        pc.not_equal(g.column("call_oi_change"), 0), pc.not_equal(g.column("put_oi_change"), 0)
    )
    doc = _doc(reader, ticker, d)
    return _records(g.filter(nonzero)), _get(doc, "oi", "change_session")


def _rows_of(reader: Any, d: dt.date, part: str, ticker: str) -> pa.Table | None:
    """The rows of ``ticker`` in a stored part (the part is sorted by underlying)."""
    t = reader.part(d, part)
    if t is None:
        return None
    return t.filter(pc.equal(t.column("underlying"), ticker))


def _oi_heatmap(
    reader: Any, ticker: str, d: dt.date, sel: list[dt.date] | None, spot: float | None
) -> dict[str, Any]:
    """OI change per strike and session over the stored history: ``OI(D+1) - OI(D)`` per
    contract (SPEC "Open-interest timing"), attributed to session D, summed per strike;
    strikes within ±15% of spot."""
    h = reader.oi_history(ticker, d)
    if h.num_rows == 0:
        return {"sessions": [], "strikes": [], "z": []}
    from chainlens.symbols import parse_osi_array

    parsed = reader.cached(("osi", ticker, d), lambda: parse_osi_array(h.column("symbol")))
    days = h.column("trade_date").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    exp = parsed.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    strike = np.nan_to_num(
        parsed.column("strike").to_numpy(zero_copy_only=False).astype(np.float64), nan=0.0
    )
    oi = np.nan_to_num(
        h.column("open_interest").to_numpy(zero_copy_only=False).astype(np.float64), nan=0.0
    )
    keep = np.ones(len(oi), bool)
    if sel is not None:
        keep &= np.isin(exp, np.array(sel, dtype="datetime64[D]"))
    if spot:
        keep &= (strike >= spot * 0.85) & (strike <= spot * 1.15)
    sessions = np.unique(days)
    if len(sessions) < 2 or not keep.any():
        return {"sessions": [], "strikes": [], "z": []}
    sym = h.column("symbol").to_numpy(zero_copy_only=False)[keep]
    days, strike, oi = days[keep], strike[keep], oi[keep]
    si = np.searchsorted(sessions, days)
    usym, ci = np.unique(sym, return_inverse=True)
    grid = np.full((len(sessions), len(usym)), np.nan)
    grid[si, ci] = oi
    change = grid[1:] - grid[:-1]  # row k: OI(session k+1) - OI(session k) -> session k
    cstrike = np.zeros(len(usym))
    cstrike[ci] = strike
    ustrikes, ki = np.unique(cstrike, return_inverse=True)
    z = np.zeros((len(sessions) - 1, len(ustrikes)))
    for k in range(len(sessions) - 1):  # one iteration per session
        row = np.nan_to_num(change[k], nan=0.0)
        z[k] = np.bincount(ki, weights=row, minlength=len(ustrikes))
    return {
        "sessions": [str(s) for s in sessions[:-1]],
        "strikes": ustrikes.tolist(),
        "z": z.tolist(),
    }


def ticker_view(
    reader: Any, ticker: str, session: dt.date | None, f: TickerFilter
) -> dict[str, Any]:
    """Every panel of a ticker page, all restricted to the expiries the filter selects
    (cached per ticker, session and filter)."""
    d = _session_or_latest(reader, session)
    return reader.cached(("ticker_view", ticker, d, f), lambda: _ticker_view(reader, ticker, d, f))


def _ticker_view(reader: Any, ticker: str, d: dt.date, f: TickerFilter) -> dict[str, Any]:
    doc = _doc(reader, ticker, d)
    all_exp = [e for e in _expiries(doc) if e >= d]
    sel = _selected(all_exp, d, f)
    a = _analysis(reader, ticker, d, f)
    sel_arg = sel if (f.expiry is not None or f.dte_max is not None) else None
    spot = a.get("spot") if a else _get(doc, "analysis", "spot")
    levels = dict(a.get("levels") or {})
    totals = dict(a.get("totals") or {})
    by_strike = list(a.get("by_strike") or [])
    by_exp = []
    exp_rows = a.get("by_expiry") or []
    stored_exp = None
    src = a.get("_source", "computed") if f.active else "stored"
    if f.active and (f.model == "classic" or src == "stored"):
        # per-expiry rows do not depend on the other expiries
        stored_exp = reader.cached(
            ("rows_of", "by_expiry", ticker, d), lambda: _rows_of(reader, d, "by_expiry", ticker)
        )
    if stored_exp is not None:
        keep = {e.isoformat() for e in sel}
        exp_rows = [r for r in _records(stored_exp) if r["expiry"] in keep]
        if f.model != "classic":  # the model's GEX per expiry from by_strike_expiry
            gex = _gex_by_expiry(reader, ticker, d, f.model)
            exp_rows = [{**r, "gex_usd_per_1pct": gex.get(r["expiry"])} for r in exp_rows]
    for r in exp_rows:
        e = dt.date.fromisoformat(r["expiry"])
        if e < d:
            continue
        by_exp.append({**r, "dte": (e - d).days})
    ems = []
    for r in _get(a, "vol", "expiries") or []:
        e = dt.date.fromisoformat(r["expiry"])
        z = r.get("zone") or {}
        ems.append(
            {
                **r,
                "dte": (e - d).days,
                "low": z.get("low"),
                "high": z.get("high"),
                "status": z.get("status"),
                "range_50": _range(r.get("range_50")),
                "range_70": _range(r.get("range_70")),
            }
        )
    key = (ticker, d, None if sel_arg is None else tuple(sel_arg))
    oi_rows, change_session = reader.cached(
        ("oi_change", *key), lambda: _oi_change_by_strike(reader, ticker, d, sel_arg)
    )
    heat = reader.cached(("heatmap", *key), lambda: _oi_heatmap(reader, ticker, d, sel_arg, spot))
    lenses = _lenses_for(doc)
    summary = {
        "spot": spot,
        "zero_gamma": levels.get("zero_gamma"),
        "zero_gamma_reason": levels.get("zero_gamma_reason"),
        "call_wall": levels.get("call_wall"),
        "put_wall": levels.get("put_wall"),
        "oi_call_wall": levels.get("oi_call_wall"),
        "oi_put_wall": levels.get("oi_put_wall"),
        "gex_usd_per_1pct": totals.get("gex_usd_per_1pct"),
        "dex_shares": totals.get("dex_shares"),
        "vanna_usd_per_vol_pt": totals.get("vanna_usd_per_vol_pt"),
        "charm_shares_per_day": totals.get("charm_shares_per_day"),
        "call_oi": totals.get("call_oi"),
        "put_oi": totals.get("put_oi"),
        "pc_oi_ratio": totals.get("pc_oi_ratio"),
        "contracts": totals.get("contracts"),
        "expiries": len(sel),
        "greeks": a.get("greeks") if a else None,
        "dealer_model": a.get("dealer_model", f.model) if a else f.model,
    }
    return {
        "ticker": ticker,
        "session": d,
        "sessions": reader.sessions(),
        "filter": {
            "expiry": f.expiry,
            "dte_max": f.dte_max,
            "model": f.model,
            "selected_expiries": [e.isoformat() for e in sel],
        },
        "expiries": [e.isoformat() for e in all_exp],
        "summary": summary,
        "tables": {
            "by_strike": TableView("by_strike", "Exposure by strike", BY_STRIKE_COLUMNS, by_strike),
            "by_expiry": TableView("by_expiry", "Max pain by expiry", BY_EXPIRY_COLUMNS, by_exp),
            "expected_moves": TableView("expected_moves", "Expected moves", EM_COLUMNS, ems),
            "oi_change": TableView(
                "oi_change",
                "Overnight OI change by strike"
                + (f" (session {change_session})" if change_session else ""),
                OI_CHANGE_COLUMNS,
                oi_rows,
            ),
        },
        "profile": a.get("profile") or {},
        "smile": _get(a, "vol", "smile") or [],
        "skew": _get(a, "vol", "skew_term_structure") or [],
        "atm_term": _get(a, "vol", "atm_term_structure") or [],
        "surfaces": a.get("surfaces") or {},
        "heatmap": heat,
        "lenses": lenses,
        "source": {
            "analysis": src,
            "by_expiry": "stored" if (stored_exp is not None or not f.active) else "computed",
            "oi_change": "stored",
            "heatmap": "chain history",
            "surfaces": "computed from the stored chain (selected expiries and model)"
            if f.active
            else "stored",
            "note": _ticker_source_note(f, src),
        },
    }


def _ticker_source_note(f: TickerFilter, src: str = "stored") -> str:
    """Where the numbers of a ticker page come from (shown under its filters)."""
    if not f.active:
        return "Stored results of chainlens run."
    what = []
    if f.expiry is not None or f.dte_max is not None:
        what.append("the selected expiries")
    if f.model != "classic":
        what.append(f"the {f.model} dealer model")
    if src == "stored":
        return (
            "Stored results of chainlens run for "
            + " and ".join(what)
            + " (by_strike_expiry and profile_by_expiry parts summed over the selected"
            " expiries). The dealer surfaces are computed from the stored chain for the same"
            " expiries and model."
        )
    return (
        "Computed from the stored chain for "
        + " and ".join(what)
        + " (this session was stored without the by_strike_expiry part; re-run it to store it)."
    )


def _gex_by_expiry(reader: Any, ticker: str, d: dt.date, model: str) -> dict[str, float]:
    """Dealer GEX per expiry (ISO date -> USD per 1%) under ``model``, from the stored
    ``by_strike_expiry`` part."""

    def make() -> dict[str, float]:
        bse = _rows_of(reader, d, "by_strike_expiry", ticker)
        if bse is None:
            return {}
        col = MODEL_COLUMNS[model]["gex_usd_per_1pct"]
        g = bse.group_by("expiry").aggregate([(col, "sum")])
        return {
            e.isoformat(): v
            for e, v in zip(g.column(0).to_pylist(), g.column(1).to_pylist(), strict=True)
        }

    return reader.cached(("gex_by_expiry", ticker, d, model), make)


def _range(v: Any) -> str | None:
    if isinstance(v, list) and len(v) == 2 and None not in v:
        return f"{v[0]:g} – {v[1]:g}"
    return None


def _lenses_for(doc: dict[str, Any]) -> list[str]:
    from chainlens.report import LENSES

    out = ["flow", "bias", "premium"]
    if doc.get("earnings"):
        out.append("earnings")
    return [x for x in out if x in LENSES]


# ---------------------------------------------------------------------- level history
LEVEL_COLUMNS = [
    Col("session", "Session"),
    Col("spot", "Spot", "num"),
    Col("zero_gamma", "Zero gamma", "num"),
    Col("call_wall", "Call wall", "num"),
    Col("put_wall", "Put wall", "num"),
    Col("max_pain", "Max pain (front)", "num"),
    Col("max_pain_expiry", "Front expiry"),
    Col("gex_usd_per_1pct", "GEX $/1%", "usd"),
    Col("source", "Source"),
]


def _level_row(a: dict[str, Any], source: str) -> dict[str, Any]:
    lv = a.get("levels") or {}
    return {
        "session": a.get("session"),
        "spot": a.get("spot"),
        "zero_gamma": lv.get("zero_gamma"),
        "call_wall": lv.get("call_wall"),
        "put_wall": lv.get("put_wall"),
        "max_pain": _get(a, "max_pain_trend", 0, "max_pain"),
        "max_pain_expiry": _get(a, "max_pain_trend", 0, "expiry"),
        "gex_usd_per_1pct": _get(a, "totals", "gex_usd_per_1pct"),
        "source": source,
    }


def levels_view(reader: Any, ticker: str) -> dict[str, Any]:
    """Zero gamma, walls, max pain and spot over every stored session of ``ticker``."""
    from chainlens.analysis import AnalysisConfig, analyze_chain

    snaps = reader.snapshots()
    days = sorted(
        set(
            snaps.filter(pc.equal(snaps.column("underlying"), ticker)).column("session").to_pylist()
        )
    )
    if not days:
        raise NotFoundError(f"the store holds no chain of ticker {ticker!r}")
    stored = set(reader.sessions())
    rows = []
    for d in days:  # one iteration per session
        if d in stored and ticker in reader.docs(d):
            rows.append(_level_row(reader.docs(d)[ticker]["analysis"], "results"))
            continue

        def make(d: dt.date = d) -> dict[str, Any]:
            cfg = AnalysisConfig(vol=False, surfaces=False)
            res = analyze_chain(reader.chain(ticker, d), cfg)
            return _level_row(jsonable(res[0].to_json()), "chain") if res else {}

        row = reader.cached(("level_row", ticker, d), make)
        if row:
            rows.append(row)
    return {
        "ticker": ticker,
        "table": TableView("levels", f"Level history — {ticker}", LEVEL_COLUMNS, rows),
    }


# ---------------------------------------------------------------------- flow tape
FLOW_COLUMNS = [
    Col("underlying", "Ticker"),
    Col("ts", "Time (UTC)", "ts"),
    Col("symbol", "Contract"),
    Col("expiry", "Expiry"),
    Col("strike", "Strike", "num"),
    Col("right", "C/P"),
    Col("side", "Side"),
    Col("size", "Size", "int"),
    Col("price", "Price", "num"),
    Col("premium_usd", "Premium", "usd"),
    Col("dte_days", "DTE", "int"),
    Col("otm_pct", "OTM %", "pct"),
    Col("vol_oi", "Vol/OI", "num"),
    Col("vol_oi_band", "Vol/OI band"),
    Col("is_sweep", "Sweep"),
    Col("multileg", "Multi-leg"),
    Col("score", "Score", "num"),
]
FLOW_SORTS = tuple(c.key for c in FLOW_COLUMNS)


def flow_view(
    reader: Any,
    session: dt.date | None,
    *,
    ticker: str | None = None,
    side: str | None = None,
    right: str | None = None,
    min_premium: float | None = None,
    dte_max: int | None = None,
    moneyness: str | None = None,
    vol_oi_band: str | None = None,
    multileg: str | None = None,
    sort: str | None = "premium_usd",
    desc: bool = True,
    limit: int | None = None,
) -> dict[str, Any]:
    """The notable prints of a session (stored ``notable`` part) with filters and sorting;
    the first ``limit`` rows if given (``total`` says how many matched).

    ``moneyness``: ``otm`` (``otm_pct > 0``), ``itm`` (``otm_pct < 0``) or ``atm``
    (``|otm_pct| <= 1``); ``vol_oi_band``: a seed-002 band key (:data:`chainlens.oi.VOL_OI_BANDS`);
    ``multileg``: ``only`` or ``exclude``.
    """
    from chainlens.oi import VOL_OI_BANDS, band_of

    d = _session_or_latest(reader, session)
    t = reader.part(d, "notable")
    rows: list[dict[str, Any]] = []
    if t is not None and t.num_rows:
        t = t.append_column("vol_oi_band", band_of(t.column("vol_oi"), VOL_OI_BANDS))
        mask = pa.array(np.ones(t.num_rows, bool))
        conds = []
        if ticker:
            conds.append(pc.equal(t.column("underlying"), ticker))
        if side:
            conds.append(pc.equal(t.column("side"), side))
        if right:
            conds.append(pc.equal(t.column("right"), right))
        if min_premium is not None:
            conds.append(pc.greater_equal(t.column("premium_usd"), min_premium))
        if dte_max is not None:
            conds.append(pc.less_equal(t.column("dte_days"), dte_max))
        if moneyness == "otm":
            conds.append(pc.greater(t.column("otm_pct"), 0))
        elif moneyness == "itm":
            conds.append(pc.less(t.column("otm_pct"), 0))
        elif moneyness == "atm":
            conds.append(pc.less_equal(pc.abs(t.column("otm_pct")), 1.0))
        if vol_oi_band:
            conds.append(pc.equal(t.column("vol_oi_band"), vol_oi_band))
        if multileg == "only":
            conds.append(pc.equal(t.column("multileg"), True))
        elif multileg == "exclude":
            conds.append(pc.invert(pc.equal(t.column("multileg"), True)))
        for c in conds:
            mask = pc.and_(mask, pc.fill_null(c, False))
        t = t.filter(mask)
        if sort and sort in t.column_names and t.num_rows:
            t = t.sort_by([(sort, "descending" if desc else "ascending")])
        total = t.num_rows
        if limit is not None:
            t = t.slice(0, limit)
        rows = _records(t, [c.key for c in FLOW_COLUMNS])
    else:
        total = 0
    return {
        "total": total,
        "session": d,
        "sessions": reader.sessions(),
        "tickers": sorted(reader.docs(d)),
        "bands": [b[1] for b in VOL_OI_BANDS],
        "table": TableView(
            "flow",
            f"Notable prints — {d}",
            FLOW_COLUMNS,
            rows,
            note="" if total == len(rows) else f"first {len(rows)} of {total} rows (CSV: all)",
        ),
    }


# ---------------------------------------------------------------------- scanners
def scan_view(
    reader: Any,
    kind: str,
    session: dt.date | None,
    *,
    ticker: str | None = None,
    sort: str | None = None,
    desc: bool = True,
) -> dict[str, Any]:
    """One scanner over every underlying of a session (:func:`chainlens.scan.store_scan`;
    accumulation and rolls from the stored results parts when present)."""
    d = _session_or_latest(reader, session)
    t: pa.Table | None = None
    part = SCAN_PARTS[kind]
    t = reader.part(d, part)
    # chainlens run stores these parts when it finds any: a session with results but without
    # the part found none (an empty table, not a scan over the store). A session stored
    # before the runner stored the unusual / net-delta parts (no by_strike_expiry part
    # either) is scanned over the store instead.
    if t is None and (kind in ("accumulation", "rolls") or "by_strike_expiry" in reader.parts(d)):
        t = _empty_part(reader, part)
    if t is not None:
        source = "stored"
        note = f"stored by chainlens run (results part {part})"
        if kind == "unusual":  # the part holds every underlying: the scanner's thresholds
            from chainlens.scan._stored import unusual_selected

            t = unusual_selected(t)
            note += ", default thresholds (multiple >= 3, >= 3 sessions in the average)"
    else:
        t = reader.store_scan(kind, d)
        source = "computed"
        note = f"computed over the store: this session was stored without the {part} part"
    if ticker and t.num_rows and "underlying" in t.column_names:
        t = t.filter(pc.equal(t.column("underlying"), ticker))
    cols = [c for c in t.column_names if c not in ("session",)]
    rows = _records(t, cols)
    if sort is None:
        for cand in ("premium_multiple", "score", "contracts", "oi_change", "increase"):
            if cand in cols:
                sort = cand
                break
    if sort in cols:
        rows = _sort(rows, sort, desc)
    fmts = {f.name: _fmt_of(f.type, f.name) for f in t.schema}
    columns = [Col(c, c.replace("_", " "), fmts[c]) for c in cols]
    return {
        "session": d,
        "sessions": reader.sessions(),
        "kind": kind,
        "source": source,
        "table": TableView(
            f"scan_{kind}", f"Scanner: {kind} — {d}", columns, rows,
            note=f"{len(rows)} row{'' if len(rows) == 1 else 's'}, {note}" if rows else note,
        ),
    }  # fmt: skip


def _empty_part(reader: Any, part: str) -> pa.Table:
    """An empty table with the declared columns of ``part``
    (:data:`chainlens.results.PART_SCHEMAS`)."""
    from chainlens.results import PART_SCHEMAS

    return PART_SCHEMAS[part].empty_table()


def _fmt_of(t: pa.DataType, name: str) -> str:
    """Display format of a scanner column by its unit suffix (docs/results.md): contracts and
    shares whole (stored as float sums), ``increase`` a fraction shown as %."""
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        if name.endswith("_usd"):
            return "usd"
        if name == "volume" or name.endswith(("_contracts", "_shares")):
            return "int"
        return "frac" if name == "increase" else "num"
    return "str"


# ---------------------------------------------------------------------- store status
def status_view(reader: Any) -> dict[str, Any]:
    """Sessions, snapshots, results, rejects files and the last ingest of the store."""
    snaps = reader.snapshots()
    by_session: dict[Any, dict[str, Any]] = {}
    if snaps.num_rows:
        g = (
            snaps.group_by("session")
            .aggregate(
                [
                    ("underlying", "count_distinct"),
                    ("snapshot_id", "count"),
                    ("contracts", "sum"),
                    ("ingested_at", "max"),
                ]
            )
            .sort_by("session")
        )
        for r in g.to_pylist():
            by_session[r["session"]] = {
                "session": r["session"],
                "underlyings": r["underlying_count_distinct"],
                "snapshots": r["snapshot_id_count"],
                "contracts": r["contracts_sum"],
                "last_ingest": r["ingested_at_max"],
                "results": False,
            }
    for d in reader.sessions():
        by_session.setdefault(d, {"session": d})["results"] = True
    rows = [{k: _clean(v) for k, v in r.items()} for _, r in sorted(by_session.items())]
    last = None
    if snaps.num_rows:
        last = _clean(pc.max(snaps.column("ingested_at")).as_py())
    ri = reader.results_index()
    return {
        "root": str(reader.root),
        "last_ingest": last,
        "tables": {
            "sessions": TableView(
                "sessions",
                "Sessions",
                [
                    Col("session", "Session"),
                    Col("underlyings", "Underlyings", "int"),
                    Col("snapshots", "Snapshots", "int"),
                    Col("contracts", "Contracts", "int"),
                    Col("last_ingest", "Last ingest (UTC)"),
                    Col("results", "Pipeline results"),
                ],
                rows,
            ),
            "results": TableView(
                "results",
                "Stored results parts",
                [
                    Col("name", "Name"),
                    Col("session", "Session"),
                    Col("part", "Part"),
                    Col("rows", "Rows", "int"),
                ],
                _records(ri),
            ),
            "rejects": TableView(
                "rejects",
                "Rejects files",
                [Col("name", "File"), Col("bytes", "Bytes", "int"), Col("modified", "Modified")],
                reader.rejects(),
            ),
        },
    }


# ---------------------------------------------------------------------- reports
def report_view(
    reader: Any, session: dt.date | None, ticker: str | None, lens: str
) -> dict[str, Any]:
    """A report (the daily report when ``ticker`` is None) as the report JSON document, with
    the older / newer links of its chain given as dates."""
    import json

    from chainlens.report import build_lens, chain_links, render, report_name

    d = _session_or_latest(reader, session)
    days = reader.sessions()
    if ticker is None:
        ww = reader.what_worked(d)  # None while the outcome rules are being measured

        def make() -> dict[str, Any]:
            # the daily report as ``chainlens report`` writes it (report._session.daily_report):
            # the stored rollup and the OI signals, the market context of issue 19 (prices,
            # gamma bands, programs, sector deep dive) and "What Worked Yesterday" (issue 16)
            from chainlens.report import build_daily
            from chainlens.report._context import market_context
            from chainlens.report.lenses.signals import market_signals

            docs = list(reader.docs(d).values())
            market = {**reader.market(d), "oi_signals": market_signals(docs)}
            market["context"] = reader._locked(lambda st: market_context(st, d, docs, market))
            if ww is not None:
                market["what_worked"] = ww
            links = chain_links(d, days, "daily", "html")
            out = json.loads(render(build_daily(market, links=links), "json"))
            out["pending"] = [] if ww is not None else ["what_worked_yesterday"]
            return out

        return reader.cached(("daily", d, ww is not None), make)
    doc = _doc(reader, ticker, d)
    links = chain_links(d, days, report_name(ticker, lens), "html")

    def make_t() -> dict[str, Any]:
        return json.loads(render(build_lens(doc, lens, links=links), "json"))

    return reader.cached(("report", ticker, d, lens), make_t)
