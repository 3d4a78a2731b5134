"""The daily pipeline: one pure kernel per underlying, then a store-level driver.

:func:`analyze_underlying` is a pure function of one underlying's history window (chain
snapshots of the last N sessions, that session's trades and dark-pool prints, optional bars and
events). It does no I/O, so the local runner (:mod:`chainlens.runners.local`) maps it over
underlyings with a process pool and a Spark runner can map the very same function with
``groupBy("underlying").applyInArrow`` (SPEC "Architecture").

Its :class:`UnderlyingResult` holds

* ``doc``: a JSON-ready document (the ``chainlens analyze`` object of the session's chain plus
  the flow, open-interest, realized-volatility and earnings facts the reports state), and
* ``tables``: Arrow tables, each with an ``underlying`` column, that a runner concatenates
  across underlyings (:func:`chainlens.runners.base.result_parts`) and stores under the
  results name :data:`RESULTS_NAME`.

Both follow the results contract of :mod:`chainlens.results` (the document is a
:class:`~chainlens.results.UnderlyingDoc`; every table has a declared schema). This module
does no I/O: reading windows and writing results are the runners' and the store's
(:mod:`chainlens.runners.local`, :mod:`chainlens.store`).

Examples
--------
>>> from chainlens.pipeline import PipelineConfig
>>> PipelineConfig().n_sessions
5
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._jsonsafe import jsonable as _jsonable
from chainlens.errors import ChainlensError, InputError
from chainlens.results import DOC_VERSION, RESULTS_NAME, UnderlyingDoc, docs_to_table

if TYPE_CHECKING:
    from chainlens.exposure._config import AnalysisConfig
    from chainlens.flow import FlowConfig
    from chainlens.oi import OIConfig, OIResult

__all__ = [
    "DOC_VERSION",
    "RESULTS_NAME",
    "PipelineConfig",
    "UnderlyingResult",
    "UnderlyingWindow",
    "analyze_underlying",
    "analyze_underlyings",
    "docs_to_table",
    "realized_vol",
]

#: Trading sessions per year used to annualise realized volatility (close-to-close).
SESSIONS_PER_YEAR = 252.0
#: CPU seconds (``time.process_time``) per stage of :func:`analyze_underlyings` in this
#: process, accumulated when a caller sets it to a dict (``benchmarks/bench_pipeline.py``):
#: ``chain`` (exposures, profiles, max pain, expected moves, IV, surfaces), ``flow_enrich``
#: (sides, premium, packages, bursts, premium per ticker), ``oi``, ``flow`` (moneyness,
#: decompositions, prints, notable, dark pool) and ``docs`` (the per-name document and tables).
STAGE_CPU: dict[str, float] | None = None


def _stage(name: str, t0: float) -> float:
    """Add the CPU time since ``t0`` to :data:`STAGE_CPU` (when set); the new ``t0``."""
    import time

    t1 = time.process_time()
    if STAGE_CPU is not None:
        STAGE_CPU[name] = STAGE_CPU.get(name, 0.0) + (t1 - t0)
    return t1


@dataclass(frozen=True, slots=True)
class UnderlyingWindow:
    """One underlying's inputs for one session (canonical Arrow tables, see :mod:`schema`).

    Parameters
    ----------
    underlying
        Ticker.
    session
        The as-of session.
    history
        Chain snapshots (``schema.CHAIN``) of the last N sessions up to and including
        ``session``, oldest first; the snapshot of ``session`` must be present.
    trades
        That session's option trades (may be empty).
    prints
        That session's off-exchange prints of the ticker (may be empty or None).
    bars
        Daily bars of the ticker up to ``session`` (optional; realized vol and earnings moves).
    events
        Events calendar rows of the ticker and of ``*`` (optional).
    """

    underlying: str
    session: dt.date
    history: pa.Table
    trades: pa.Table
    prints: pa.Table | None = None
    bars: pa.Table | None = None
    events: pa.Table | None = None


def _analysis_default() -> AnalysisConfig:
    from chainlens.analysis import AnalysisConfig

    return AnalysisConfig()


@dataclass(frozen=True, kw_only=True, slots=True)
class PipelineConfig:
    """Settings of the daily pipeline.

    Parameters
    ----------
    n_sessions
        Chain snapshots in each window (the session and the N-1 before it).
    bar_sessions
        Daily bars kept for realized volatility (close-to-close, ``bar_sessions - 1`` returns).
    analysis, flow, oi
        Settings handed to :func:`chainlens.analysis.analyze_chain`,
        :func:`chainlens.flow.analyze_flow` and :func:`chainlens.oi.analyze_oi`.
    notable_top_n
        Notable prints kept per underlying.
    """

    n_sessions: int = 5
    bar_sessions: int = 21
    analysis: AnalysisConfig = field(default_factory=_analysis_default)
    flow: FlowConfig | None = None
    oi: OIConfig | None = None
    notable_top_n: int = 10

    def __post_init__(self) -> None:
        if self.n_sessions < 1 or self.bar_sessions < 2 or self.notable_top_n < 1:
            raise InputError(
                "n_sessions >= 1, bar_sessions >= 2 and notable_top_n >= 1 are required",
                column="PipelineConfig",
            )


@dataclass(slots=True)
class UnderlyingResult:
    """What :func:`analyze_underlying` computes for one underlying and session.

    Attributes
    ----------
    doc
        The per-underlying document (:class:`chainlens.results.UnderlyingDoc`, strict JSON).
    tables
        ``part -> table``; each table matches ``chainlens.results.PART_SCHEMAS[part]``
        (:func:`chainlens.results.conform` casts it when stored).
    """

    underlying: str
    session: dt.date
    doc: UnderlyingDoc
    tables: dict[str, pa.Table]


# --------------------------------------------------------------------------- helpers


def realized_vol(closes: Sequence[float] | np.ndarray) -> float:
    """Annualised close-to-close realized volatility (decimal, 0.20 = 20 %).

    Notes
    -----
    .. math:: \\sigma_R = \\sqrt{252}\\,\\operatorname{sd}(\\ln(C_t/C_{t-1}))

    with the sample standard deviation (``ddof=1``), Hull, *Options, Futures and Other
    Derivatives*, "Estimating volatility from historical data". NaN with fewer than two
    returns.

    Examples
    --------
    >>> round(realized_vol([100.0, 101.0, 100.0, 101.0]), 4)
    0.1824
    """
    c = np.asarray(closes, dtype=np.float64)
    c = c[np.isfinite(c) & (c > 0)]
    if c.size < 3:
        return math.nan
    r = np.diff(np.log(c))
    return float(np.std(r, ddof=1) * math.sqrt(SESSIONS_PER_YEAR))


def _records(t: pa.Table | None, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    if t is None or t.num_rows == 0:
        return []
    if columns is not None:
        have = set(t.column_names)
        t = t.select([c for c in columns if c in have])
    from chainlens.analysis import json_records

    return json_records(t, _jsonable)


def _with_underlying(t: pa.Table, underlying: str, session: dt.date) -> pa.Table:
    names = t.column_names
    if "underlying" not in names:
        t = t.append_column("underlying", pa.repeat(pa.scalar(underlying, pa.string()), t.num_rows))
    if "session" not in names:
        t = t.append_column("session", pa.repeat(pa.scalar(session, pa.date32()), t.num_rows))
    # large_string and string mix badly across underlyings: normalise to string (only those
    # columns are cast; the others are reused as they are, under the same fields). The table
    # is rebuilt from its fields, so it carries no schema-level metadata.
    if pa.large_string() not in t.schema.types:
        return t if t.schema.metadata is None else t.replace_schema_metadata(None)
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in t.schema
    ]
    cols = [c.cast(pa.string()) if pa.types.is_large_string(c.type) else c for c in t.columns]
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


_NOTABLE_COLUMNS = (
    "ts", "symbol", "expiry", "strike", "right", "side", "size", "premium_usd", "price", "spot",
    "is_sweep", "multileg", "n_exchanges", "distance_pct", "otm_pct", "dte_days", "expiry_class",
    "open_interest", "size_to_oi", "vol_oi", "avg_volume_5d", "size_to_avg_volume",
    "oi_change_next", "held_fraction", "dealer_gex_usd_per_1pct", "score", "rank",
)  # fmt: skip


def _bars_for(window: UnderlyingWindow, n: int) -> pa.Table | None:
    b = window.bars
    if b is None or b.num_rows == 0:
        return None
    td = b.column("trade_date")
    if not pa.types.is_date32(td.type) or td.null_count:
        b = b.filter(pc.less_equal(td, pa.scalar(window.session, pa.date32())))
        b = b.sort_by("trade_date")
        return b.slice(max(0, b.num_rows - n))
    # NumPy on the dates: the rows up to the session, in a stable ascending order, last n
    days = _days(td)
    rows = np.flatnonzero(days <= (window.session - _EPOCH).days)
    rows = rows[np.argsort(days[rows], kind="stable")][max(0, rows.size - n) :]
    if (
        rows.size
        and int(rows[-1]) - int(rows[0]) + 1 == rows.size
        and bool((np.diff(rows) == 1).all())
    ):
        return b.slice(int(rows[0]), int(rows.size))
    return b.take(pa.array(rows, pa.int64()))


@functools.cache
def _oi_change_defaults() -> tuple[Any, Any]:
    """``avg_window`` and ``drop_stale`` defaults of :func:`chainlens.oi.oi_changes`."""
    from chainlens.oi import oi_changes

    p = inspect.signature(oi_changes).parameters
    return p["avg_window"].default, p["drop_stale"].default


def _ends_at(history: pa.Table, session: dt.date) -> bool:
    """No snapshot of ``history`` is later than ``session``."""
    last = pc.max(history.column("trade_date")).as_py() if history.num_rows else None
    return last is None or last <= session


def _spot_series(history: pa.Table) -> tuple[list[dt.date], list[float]]:
    """Last spot per session of the chain history (a proxy close when no bars are given).

    Per ``trade_date`` (ascending), the spot of the latest ``snapshot_ts`` among the rows with
    a spot (a null spot is skipped; NaN is a value); NaN when the session has none. NumPy on
    the window's few rows (no DataFrame round trip: a fixed cost per underlying)."""
    if history.num_rows == 0:
        return [], []
    tdc = history.column("trade_date")
    if pa.types.is_date32(tdc.type) and tdc.null_count == 0:
        td = _days(tdc)
    else:
        td = tdc.cast(pa.int32()).to_numpy()
    ts = history.column("snapshot_ts").cast(pa.int64()).to_numpy()
    sp = history.column("spot")
    if pa.types.is_float64(sp.type) and sp.null_count == 0:
        val = np.asarray(sp.to_numpy(), dtype=np.float64)
        sel = np.arange(val.size)
    else:
        ok = _valid(sp)
        val = np.asarray(pc.fill_null(sp.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
        sel = np.flatnonzero(ok)
    days = np.unique(td)
    spots = np.full(days.size, np.nan)
    if sel.size:
        o = sel[np.lexsort((ts[sel], td[sel]))]  # by session, then snapshot time (stable)
        tdo = td[o]
        last = np.r_[tdo[1:] != tdo[:-1], True]
        spots[np.searchsorted(days, tdo[last])] = val[o[last]]
    return [_EPOCH + dt.timedelta(days=x) for x in days.tolist()], spots.tolist()


def _oi_by_session(history: pa.Table, expiry: dt.date) -> tuple[list[dt.date], list[Any]]:
    """Sessions (ascending) of the rows of ``history`` expiring on ``expiry`` and their summed
    ``open_interest`` (contracts; Arrow's grouped sum: nulls skipped, null when a session has
    none). NumPy on the window's rows for an integer column without nulls (an exact sum), an
    Arrow group-by otherwise."""
    exp = history.column("expiry")
    oi_col = history.column("open_interest")
    if (
        pa.types.is_date32(exp.type)
        and pa.types.is_date32(history.schema.field("trade_date").type)
        and pa.types.is_integer(oi_col.type)
        and oi_col.null_count == 0
        and exp.null_count == 0
    ):
        if history.column("trade_date").null_count == 0:
            return _oi_sums(
                _days(history.column("trade_date")), _days(exp),
                np.asarray(oi_col.to_numpy(), np.int64), expiry,
            )  # fmt: skip
    h = history.filter(pc.equal(exp, pa.scalar(expiry, pa.date32())))
    per = h.group_by("trade_date").aggregate([("open_interest", "sum")]).sort_by("trade_date")
    return per.column("trade_date").to_pylist(), per.column("open_interest_sum").to_pylist()


def _oi_sums(
    td: np.ndarray, ex: np.ndarray, oi: np.ndarray, expiry: dt.date
) -> tuple[list[dt.date], list[Any]]:
    """:func:`_oi_by_session` from a window's session days, expiry days and integer OI
    (NumPy arrays, no nulls): the exact per-session sums of the rows expiring on ``expiry``."""
    m = ex == (expiry - _EPOCH).days
    d, v = td[m], oi[m]
    if (
        d.size
        and int(d.max()) - int(d.min()) < 4096
        and d.size < 2**21
        and (v.dtype.kind in "iu" and int(v.max()) < 2**31 and int(v.min()) > -(2**31))
    ):  # one np.bincount per sum: integer sums below 2**52, exact in float64
        lo = int(d.min())
        cnt = np.bincount(d - lo)
        got = np.flatnonzero(cnt)
        sums = np.bincount(d - lo, weights=v)[got].astype(np.int64)
        days = got + lo
    else:
        days, code = np.unique(d, return_inverse=True)
        sums = np.zeros(days.size, np.int64)
        np.add.at(sums, code.reshape(-1), v)
    return [_EPOCH + dt.timedelta(days=x) for x in days.tolist()], sums.tolist()


def _earnings(
    window: UnderlyingWindow,
    analysis_doc: dict[str, Any],
    history: pa.Table,
    oi_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any] | None:
    """Earnings setup facts (the ``earnings`` lens).

    Notes
    -----
    * post-earnings expiry: the first unsettled expiry that settles after the report (on or
      after the date for a "before open" event, after it when the note says "after" close);
      implied move = its ATM straddle / spot · 100 (seed 004), skew = its 25Δ risk reversal;
    * term-structure-kink move (issue 19): with :math:`\\sigma_1` the ATM IV of that expiry,
      :math:`\\sigma_0` the ATM IV of the last expiry settling before the report (the
      ordinary volatility) and :math:`T_1` = calendar days to the post-event expiry / 365, the
      event variance :math:`v_E = (\\sigma_1^2 - \\sigma_0^2)\\,T_1` (``kink_method``
      ``pre_post``) and the expected absolute event move
      :math:`\\sqrt{2/\\pi}\\,\\sqrt{v_E}\\cdot 100` (%, comparable to a straddle). With no
      expiry before the report, the first two post-event expiries (``two_post``): ordinary
      variance rate :math:`\\sigma_d^2 = (\\sigma_2^2 T_2 - \\sigma_1^2 T_1)/(T_2 - T_1)` and
      :math:`v_E = (\\sigma_1^2 - \\sigma_d^2)\\,T_1`. None with ``kink_reason`` when
      :math:`v_E \\le 0` or an expiry is missing;
    * call/put OI of the post-event expiry from ``analysis.by_expiry`` (seed 002: the call/put
      OI ratio accumulating in that expiry is the directional lean into the report);
    * OI build = Σ OI of that expiry in the last snapshot − the same in the first snapshot of
      the window (contracts; seed 002 "event-driven OI"); ``oi_arrays``: the history's
      session days, expiry days and OI as NumPy arrays when the chunk has them
      (:func:`_oi_sums`), else :func:`_oi_by_session` reads ``history``;
    * historical move (%) = mean over past earnings dates of :math:`|C_1/C_0 - 1|\\cdot 100`
      where :math:`C_0, C_1` are the closes before and after the report: (D−1, D) for a
      "before open" event, (D, D+1) when the note says "after" (close).
    """
    ev = window.events
    if ev is None or ev.num_rows == 0:
        return None
    # the window's few event rows as Python values (no Arrow call per step); Arrow's
    # utf8_lower when a kind is not ASCII (its case mapping is not str.lower's there)
    kinds = ev.column("kind").to_pylist()
    tickers = ev.column("ticker").to_pylist()
    if all(k is None or k.isascii() for k in kinds):
        keep = [
            t == window.underlying and k is not None and k.lower() == "earnings"
            for t, k in zip(tickers, kinds, strict=True)
        ]
    else:
        keep = pc.fill_null(
            pc.and_(
                pc.equal(ev.column("ticker"), window.underlying),
                pc.equal(pc.utf8_lower(ev.column("kind")), "earnings"),
            ),
            False,
        ).to_pylist()
    if not any(keep):
        return None
    e_dates = [d for d, k in zip(ev.column("date").to_pylist(), keep, strict=True) if k]
    dates = sorted(e_dates)
    notes = (
        [n for n, k in zip(ev.column("note").to_pylist(), keep, strict=True) if k]
        if "note" in ev.column_names
        else [None] * len(e_dates)
    )
    after = {d for d, n in zip(e_dates, notes, strict=True) if n and "after" in n.lower()}
    upcoming = [d for d in dates if d >= window.session]
    past = [d for d in dates if d < window.session]
    out: dict[str, Any] = {"next_date": upcoming[0] if upcoming else None, "past_dates": past}
    nxt = out["next_date"]
    if nxt is not None:
        # issue 19: an expiry dated on the event day holds the event only when the report
        # comes before the open; after the close it settles first (pre-event).
        out["event_timing"] = "after_close" if nxt in after else "before_open"
        first_post = nxt + dt.timedelta(days=1) if nxt in after else nxt
        exps = [r for r in analysis_doc.get("vol", {}).get("expiries", []) if r.get("expiry")]
        post = [r for r in exps if r["expiry"] >= first_post.isoformat()]
        pre = [r for r in exps if r["expiry"] < first_post.isoformat()]
        pe = post[0] if post else None
        p0 = pre[-1] if pre else None
        out["post_expiry"] = pe.get("expiry") if pe else None
        out["implied_move_pct"] = pe.get("expected_move_pct") if pe else None
        out["rr_25d"] = pe.get("rr_25d") if pe else None
        out["atm_iv"] = pe.get("atm_iv") if pe else None
        out["pre_expiry"] = p0.get("expiry") if p0 else None
        out["pre_atm_iv"] = p0.get("atm_iv") if p0 else None
        t1 = (
            (dt.date.fromisoformat(pe["expiry"]) - window.session).days / 365.0
            if pe is not None
            else None
        )
        out["days_to_post_expiry"] = None if t1 is None else round(t1 * 365.0)
        s1 = None if pe is None else pe.get("atm_iv")
        s0 = None if p0 is None else p0.get("atm_iv")
        kink, why, method = None, None, None
        p2 = post[1] if len(post) > 1 else None
        if p0 is None and p2 is not None and pe is not None and t1:
            # no pre-event expiry: two post-event expiries share the event variance
            t2 = (dt.date.fromisoformat(p2["expiry"]) - window.session).days / 365.0
            s2 = p2.get("atm_iv")
            out["second_post_expiry"] = p2.get("expiry")
            out["second_post_atm_iv"] = s2
            if s1 is None or s2 is None or not (s1 == s1 and s2 == s2) or t2 <= t1:
                why = "ATM IV missing on one of the two post-event expiries"
            else:
                d2 = (s2 * s2 * t2 - s1 * s1 * t1) / (t2 - t1)
                v_e = s1 * s1 * t1 - d2 * t1
                method = "two_post"
                if v_e > 0 and d2 > 0:
                    kink = math.sqrt(2.0 / math.pi) * math.sqrt(v_e) * 100.0
                else:
                    why = "no term-structure kink between the two post-event expiries"
        elif pe is None:
            why = "no listed expiry after the event"
        elif p0 is None:
            why = "no listed expiry before the event to measure ordinary volatility"
        elif s1 is None or s0 is None or not (s1 == s1 and s0 == s0) or not t1:
            why = "ATM IV missing on one of the two expiries"
        else:
            v_e = (s1 * s1 - s0 * s0) * t1
            method = "pre_post"
            if v_e > 0:
                kink = math.sqrt(2.0 / math.pi) * math.sqrt(v_e) * 100.0
            else:
                why = "no term-structure kink: post-event ATM IV is not above the pre-event one"
        out["kink_move_pct"] = kink
        out["kink_reason"] = why
        out["kink_method"] = method
        if pe is not None:
            by_e = {str(r.get("expiry"))[:10]: r for r in analysis_doc.get("by_expiry", []) or []}
            be = by_e.get(pe["expiry"]) or {}
            out["post_expiry_call_oi"] = be.get("call_oi")
            out["post_expiry_put_oi"] = be.get("put_oi")
            exp_d = dt.date.fromisoformat(pe["expiry"])
            sessions, oi = (
                _oi_by_session(history, exp_d) if oi_arrays is None else _oi_sums(*oi_arrays, exp_d)
            )
            out["post_expiry_oi_by_session"] = [
                {"session": d, "oi": v} for d, v in zip(sessions, oi, strict=True)
            ]
            out["post_expiry_oi_build"] = (oi[-1] - oi[0]) if len(oi) >= 2 else None
    # historical earnings moves from bars: |close(d) / close(d-1) - 1| on past earnings dates
    b = window.bars
    moves: list[float] = []
    if b is not None and b.num_rows and past:
        for i, bc, d in _bar_rows(b, past):
            i0, i1 = (i, i + 1) if d in after else (i - 1, i)
            if 0 <= i0 and i1 < len(bc):
                moves.append(abs(bc[i1] / bc[i0] - 1.0) * 100.0)
    out["historical_moves_pct"] = moves
    out["historical_mean_move_pct"] = float(np.mean(moves)) if moves else None
    return out


def _bar_rows(bars: pa.Table, dates: Sequence[dt.date]) -> list[tuple[int, list[Any], dt.date]]:
    """``(i, closes, d)`` per date ``d`` of ``dates`` that has a bar: ``closes`` the bars'
    closes by trade date (a stable sort), ``i`` the position of the last bar dated ``d``.

    Float64 closes and ``date32`` days without nulls (the stored bars) are searched with
    NumPy; other bars as Python values (``sort_by``, ``to_pylist``), the same positions."""
    tdc, cc = bars.column("trade_date"), bars.column("close")
    if (
        pa.types.is_date32(tdc.type)
        and pa.types.is_float64(cc.type)
        and not tdc.null_count
        and not cc.null_count
        and all(type(d) is dt.date for d in dates)
    ):
        days = _days(tdc)
        order = np.argsort(days, kind="stable")
        sd = days[order]
        closes = np.asarray(cc.to_numpy(), np.float64)[order].tolist()
        out = []
        for d in dates:
            x = (d - _EPOCH).days
            i = int(np.searchsorted(sd, x, side="right")) - 1
            if i >= 0 and sd[i] == x:
                out.append((i, closes, d))
        return out
    b = bars.sort_by("trade_date")
    bc = b.column("close").to_pylist()
    idx = {d: i for i, d in enumerate(b.column("trade_date").to_pylist())}
    return [(idx[d], bc, d) for d in dates if d in idx]


def prior_zone(history: pa.Table, session: dt.date, close: float | None) -> dict[str, Any] | None:
    """The expected-move zone set at the previous session's close, and where ``close`` ended.

    Notes
    -----
    Seed 003 "Expected moves — zone table": on the previous session :math:`D_{-1}`, take the
    first expiry after :math:`D_{-1}`, the listed strike nearest its spot :math:`S_{-1}` (ties
    to the lower), and the straddle :math:`M = mid_C + mid_P` (mid = (bid+ask)/2 where
    ask > 0 and 0 <= bid <= ask; several roots averaged). Zone = :math:`[S_{-1} - M,
    S_{-1} + M]`, mid :math:`S_{-1}`; upside room :math:`= (high/close - 1)\\cdot 100`,
    downside room :math:`= (low/close - 1)\\cdot 100`. ``None`` without a previous session or
    a valid straddle.
    """
    if close is None or not math.isfinite(close) or history.num_rows == 0:
        return None
    sch = history.schema
    types = {n: sch.field(n).type for n in _ZONE_TYPES if n in sch.names}
    if any(types.get(n) is None or not ok(types[n]) for n, ok in _ZONE_TYPES.items()) or any(
        history.column(n).null_count for n in ("trade_date", "snapshot_ts", "expiry", "strike")
    ):
        return _prior_zone_arrow(history, session, close)
    # NumPy on each column once (a handful of rows per name: no Arrow call per step)
    td = _days(history.column("trade_date"))
    s_day = (session - _EPOCH).days
    before = td < s_day
    if not before.any():
        return None
    pd_i = int(td[before].max())
    rows = np.flatnonzero(td == pd_i)
    ts = np.asarray(history.column("snapshot_ts").cast(pa.int64()).to_numpy(), np.int64)[rows]
    rows = rows[ts == ts.max()]
    sp = history.column("spot")
    sp_v = np.asarray(sp.to_numpy(zero_copy_only=False), np.float64)
    have = rows if sp.null_count == 0 else rows[_valid(sp)[rows]]
    if have.size == 0:
        return None
    s_prev = float(sp_v[have[-1]])
    ex = _days(history.column("expiry"))[rows]
    if not (ex > pd_i).any():
        return None
    exp_i = int(ex[ex > pd_i].min())
    erows = rows[ex == exp_i]
    strike = np.asarray(history.column("strike").to_numpy(), np.float64)
    ks = np.unique(strike[erows])
    k = float(ks[np.lexsort((ks, np.abs(ks - s_prev)))[0]])
    at = erows[strike[erows] == k]

    def f64(name: str) -> tuple[np.ndarray, np.ndarray]:
        col = history.column(name)
        v = np.asarray(col.to_numpy(zero_copy_only=False), np.float64)[at]
        if col.null_count == 0:
            return v, np.ones(at.size, bool)
        ok = _valid(col)[at]
        return np.where(ok, v, 0.0), ok

    rights = np.asarray(
        history.column("right").take(pa.array(at)).to_numpy(zero_copy_only=False), dtype=object
    )
    return _zone(f64("bid"), f64("ask"), rights, s_prev, close, {
        "set_on": _EPOCH + dt.timedelta(days=pd_i), "expiry": _EPOCH + dt.timedelta(days=exp_i),
        "atm_strike": k,
    })  # fmt: skip


_EPOCH = dt.date(1970, 1, 1)

# the columns of prior_zone's NumPy path and the types it reads them as (else the Arrow path)
_ZONE_TYPES = {
    "trade_date": pa.types.is_date32, "snapshot_ts": pa.types.is_timestamp,
    "expiry": pa.types.is_date32, "strike": pa.types.is_float64, "spot": pa.types.is_float64,
    "bid": pa.types.is_float64, "ask": pa.types.is_float64,
    "right": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
}  # fmt: skip


def _days(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A date32 column as int64 days since 1970-01-01 (nulls as the minimum date)."""
    return np.asarray(col.to_numpy(zero_copy_only=False), "datetime64[D]").view(np.int64)


def _valid(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The validity of ``col`` as a NumPy bool array."""
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


def _quote_valid(
    bid: np.ndarray, bid_ok: np.ndarray, ask: np.ndarray, ask_ok: np.ndarray
) -> np.ndarray:
    """The rows whose quote the prior zone uses: bid and ask present, ask > 0, bid >= 0 and
    bid <= ask, with NaN ordered above every number (Polars' total order: a NaN ask passes the
    first and last tests, a NaN bid with a number ask fails the last)."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (
            bid_ok
            & ask_ok
            & ((ask > 0) | np.isnan(ask))
            & ((bid >= 0) | np.isnan(bid))
            & np.where(np.isnan(ask), True, np.where(np.isnan(bid), False, bid <= ask))
        )
    return out


def _zone(
    bid_: tuple[np.ndarray, np.ndarray],
    ask_: tuple[np.ndarray, np.ndarray],
    rights: np.ndarray,
    s_prev: float,
    close: float,
    head: dict[str, Any],
) -> dict[str, Any] | None:
    """:func:`prior_zone` from the ATM rows' bids and asks (null-filled with 0, validity), their
    rights, the previous spot and ``close``; ``head``: ``set_on``, ``expiry``, ``atm_strike``."""
    (bid, bid_ok), (ask, ask_ok) = bid_, ask_
    valid = _quote_valid(bid, bid_ok, ask, ask_ok)
    mid = (bid + ask) / 2
    mids: dict[str, float] = {}
    for r in ("C", "P"):  # mean mid of the valid rows of each right (several roots)
        m = mid[valid & (rights == r)]
        if m.size:
            mids[r] = float(m.sum() / m.size)
    if "C" not in mids or "P" not in mids:
        return None
    return _zone_doc(float(mids["C"] + mids["P"]), s_prev, close, head)


def _zone_doc(straddle: float, s_prev: float, close: float, head: dict[str, Any]) -> dict[str, Any]:
    """The :func:`prior_zone` document from the straddle mid (USD), the previous spot and
    ``close``; ``head``: ``set_on``, ``expiry``, ``atm_strike``."""
    lo, hi = s_prev - straddle, s_prev + straddle
    up, down = (hi / close - 1) * 100, (lo / close - 1) * 100
    status = (
        "at_or_above_ceiling" if close >= hi else "at_or_below_floor" if close <= lo
        else "upper_half" if close >= s_prev else "lower_half"
    )  # fmt: skip
    return {
        **head, "straddle_mid": straddle,
        "low": lo, "mid": s_prev, "high": hi, "price": close,
        "upside_room_pct": up, "downside_room_pct": down, "status": status,
    }  # fmt: skip


def _prior_zone_arrow(history: pa.Table, session: dt.date, close: float) -> dict[str, Any] | None:
    """:func:`prior_zone` with Arrow calls (any column types, nulls anywhere)."""
    td = history.column("trade_date")
    prev = pc.filter(td, pc.less(td, pa.scalar(session, pa.date32())))
    if len(prev) == 0:
        return None
    pd_ = pc.max(prev).as_py()
    p = history.filter(pc.equal(td, pa.scalar(pd_, pa.date32())))
    p = p.filter(pc.equal(p.column("snapshot_ts"), pc.max(p.column("snapshot_ts"))))
    spot = p.column("spot").drop_null()
    if len(spot) == 0:
        return None
    s_prev = float(spot[-1].as_py())
    ex = p.column("expiry")
    later = pc.filter(ex, pc.greater(ex, pa.scalar(pd_, pa.date32())))
    if len(later) == 0:
        return None
    exp0 = pc.min(later).as_py()
    e = p.filter(pc.equal(ex, pa.scalar(exp0, pa.date32())))
    ks = np.unique(e.column("strike").to_numpy(zero_copy_only=False))
    k = float(ks[np.lexsort((ks, np.abs(ks - s_prev)))[0]])
    at = e.filter(pc.equal(e.column("strike"), pa.scalar(k, e.schema.field("strike").type)))

    def f64(name: str) -> tuple[np.ndarray, np.ndarray]:
        col = at.column(name)
        return pc.fill_null(col.cast(pa.float64()), 0.0).to_numpy(), pc.is_valid(col).to_numpy(
            zero_copy_only=False
        )

    rights = np.asarray(at.column("right").to_numpy(zero_copy_only=False), dtype=object)
    return _zone(f64("bid"), f64("ask"), rights, s_prev, close,
                 {"set_on": pd_, "expiry": exp0, "atm_strike": k})  # fmt: skip


@dataclass(slots=True)
class _Facts:
    """A window's history and bar facts as :func:`_history_facts` computes them for a chunk.

    ``spot_series``: :func:`_spot_series` of the history (``None``: left to the window).
    ``zone``: what :func:`prior_zone` needs besides the close, ``(straddle, previous spot,
    head)`` or ``None`` (no zone whatever the close); valid when ``zone_done``. ``bars``:
    the closes of :func:`_bars_for` (``n`` last bars up to the session, ascending) and
    whether the last of them is the session's, ``None`` without bars; valid when
    ``bars_done``. ``oi_arrays``: the history's session days, expiry days and integer OI
    (:func:`_oi_sums`; ``None``: :func:`_oi_by_session` reads the history)."""

    spot_series: tuple[list[dt.date], list[float]] | None = None
    zone: tuple[float, float, dict[str, Any]] | None = None
    zone_done: bool = False
    bars: tuple[np.ndarray, bool] | None = None
    bars_done: bool = False
    oi_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


#: the most ATM rows of one right that the chunk's zone averages itself: NumPy sums fewer
#: than 8 values one after the other (as ``np.bincount`` does), more in blocks
_ZONE_MAX_ROWS = 7


def _history_facts(windows: Sequence[UnderlyingWindow], n_bars: int) -> list[_Facts]:
    """:func:`_spot_series`, the close-independent part of :func:`prior_zone` and
    :func:`_bars_for` (``n_bars``) of every window of one session, as segmented NumPy passes
    over the chunk's concatenated histories and bars (the rows of a window are one segment).

    Each fact equals the per-window function's (the same values in the same order; the zone
    averages at most :data:`_ZONE_MAX_ROWS` mids per right, summed in row order as NumPy sums
    so few values). What the chunk pass cannot take (schemas that differ, other column types,
    nulls in the keys, an empty history, more ATM rows) is left to each window (``None`` /
    not ``done``)."""
    out = [_Facts() for _ in windows]
    n = len(windows)
    if not n or any(w.session != windows[0].session for w in windows):
        return out
    s_day = (windows[0].session - _EPOCH).days
    try:
        _history_part(windows, s_day, out)
    except (pa.ArrowException, KeyError, ValueError, TypeError):  # each window computes its own
        for f in out:
            f.spot_series, f.zone_done, f.oi_arrays = None, False, None
    try:
        _bars_part(windows, s_day, n_bars, out)
    except (pa.ArrowException, KeyError, ValueError, TypeError):
        for f in out:
            f.bars_done = False
    return out


def _history_part(windows: Sequence[UnderlyingWindow], s_day: int, out: list[_Facts]) -> None:
    """The spot series and zones of :func:`_history_facts`."""
    n = len(windows)
    hs = [w.history for w in windows]
    lens = np.fromiter((h.num_rows for h in hs), np.int64, n)
    if (lens == 0).any():
        return
    cat = pa.concat_tables(hs)
    tdc, tsc = cat.column("trade_date"), cat.column("snapshot_ts")
    if not pa.types.is_date32(tdc.type) or tdc.null_count or tsc.null_count:
        return
    td = _days(tdc)
    ts = np.asarray(tsc.cast(pa.int64()).to_numpy(), np.int64)
    sp = cat.column("spot")
    if pa.types.is_float64(sp.type) and sp.null_count == 0:
        val = np.asarray(sp.to_numpy(), dtype=np.float64)
        sp_ok: np.ndarray | None = None  # every row has a spot
    else:
        sp_ok = _valid(sp)
        val = np.asarray(pc.fill_null(sp.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
    seg = np.repeat(np.arange(n, dtype=np.int64), lens)
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    # ---- spot series: per (window, session), the spot of the latest snapshot with one
    t0 = int(td.min())
    span = int(td.max()) - t0 + 1
    key = seg * span + (td - t0)
    if n * span > 1 << 24:  # too wide for a presence array: the windows alone
        return
    present = np.zeros(n * span, bool)
    present[key] = True
    ukey = np.flatnonzero(present)  # the (window, session) pairs, ascending
    spots = np.full(ukey.size, np.nan)
    sel = None if sp_ok is None else np.flatnonzero(sp_ok)  # None: every row
    if sel is None or sel.size:
        # per pair, the last row (in row order) of the latest snapshot with a spot: what a
        # stable sort by (pair, time) puts last
        neg = np.iinfo(np.int64).min
        ks, t_sel = (key, ts) if sel is None else (key[sel], ts[sel])
        t_max = np.full(n * span, neg, np.int64)
        np.maximum.at(t_max, ks, t_sel)
        top = t_sel == t_max[ks]
        c = np.flatnonzero(top) if sel is None else sel[top]
        last = np.full(n * span, -1, np.int64)
        np.maximum.at(last, key[c], c)
        got = ukey[last[ukey] >= 0]
        spots[np.searchsorted(ukey, got)] = val[last[got]]
    uday = (ukey % span + t0).tolist()
    bounds = np.searchsorted(ukey // span, np.arange(n + 1)).tolist()
    dates = {x: _EPOCH + dt.timedelta(days=x) for x in set(uday)}
    sl = spots.tolist()
    for k in range(n):  # a loop over underlyings: each one's lists
        a, b = bounds[k], bounds[k + 1]
        out[k].spot_series = ([dates[x] for x in uday[a:b]], sl[a:b])
    # ---- the OI arrays of the earnings facts (_oi_by_session's NumPy path)
    sch = cat.schema
    ex_days: np.ndarray | None = None  # the expiry days when read here (the zones reuse them)
    exc = cat.column("expiry") if "expiry" in sch.names else None
    oic = cat.column("open_interest") if "open_interest" in sch.names else None
    if (
        exc is not None
        and oic is not None
        and pa.types.is_date32(exc.type)
        and pa.types.is_integer(oic.type)
    ):
        if exc.null_count == 0 and oic.null_count == 0:
            ex_all, oi_all = _days(exc), np.asarray(oic.to_numpy(), np.int64)
            ex_days = ex_all
            for k, (a, b) in enumerate(zip(starts.tolist(), (starts + lens).tolist(), strict=True)):
                out[k].oi_arrays = (td[a:b], ex_all[a:b], oi_all[a:b])
    # ---- zones (prior_zone's NumPy path, per segment)
    if any(nm not in sch.names or not ok(sch.field(nm).type) for nm, ok in _ZONE_TYPES.items()):
        return
    exc, stc = cat.column("expiry"), cat.column("strike")
    if exc.null_count or stc.null_count:
        return
    neg, pos = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    prev = np.maximum.reduceat(np.where(td < s_day, td, neg), starts)  # previous session
    has = prev != neg
    m = td == prev[seg]
    ts_max = np.maximum.reduceat(np.where(m, ts, neg), starts)  # its latest snapshot
    m &= ts == ts_max[seg]
    with_spot = m if sp_ok is None else m & sp_ok
    at_spot = np.maximum.reduceat(np.where(with_spot, np.arange(td.size), -1), starts)
    has &= at_spot >= 0  # the last row (in row order) with a spot
    s_prev = np.where(at_spot >= 0, val[np.maximum(at_spot, 0)], np.nan)
    ex = _days(exc) if ex_days is None else ex_days
    exp0 = np.minimum.reduceat(np.where(m & (ex > prev[seg]), ex, pos), starts)
    has &= exp0 != pos  # the first expiry after the previous session
    m &= (ex == exp0[seg]) & has[seg]
    strike = np.asarray(stc.to_numpy(), np.float64)
    r = np.flatnonzero(m)
    sr, kr = seg[r], strike[r]
    o = np.lexsort((kr, np.abs(kr - s_prev[sr]), sr))  # nearest strike, ties to the lower
    first = o[np.r_[True, sr[o][1:] != sr[o][:-1]]] if o.size else o
    k_atm = np.full(n, np.nan)
    k_atm[sr[first]] = kr[first]
    # the quotes of the ATM rows only (a few per window), gathered in row order: the same
    # values, summed in the same order, as over the whole chunk's rows
    at_rows = np.flatnonzero(m & (strike == k_atm[seg]))
    take = pa.array(at_rows, pa.int64())
    sa = seg[at_rows]

    def f64(name: str) -> tuple[np.ndarray, np.ndarray]:
        col = cat.column(name).take(take)
        v = np.asarray(col.to_numpy(zero_copy_only=False), np.float64)
        if col.null_count == 0:
            return v, np.ones(v.size, bool)
        ok = _valid(col)
        return np.where(ok, v, 0.0), ok

    (bid, bid_ok), (ask, ask_ok) = f64("bid"), f64("ask")
    valid = _quote_valid(bid, bid_ok, ask, ask_ok)
    mid = (bid + ask) / 2
    right = cat.column("right").take(take)
    mean: list[np.ndarray] = []
    cnt: list[np.ndarray] = []
    for rt in ("C", "P"):
        is_r = np.asarray(pc.fill_null(pc.equal(right, rt), False).to_numpy(zero_copy_only=False))
        w = valid & is_r
        c = np.bincount(sa[w], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean.append(np.bincount(sa[w], weights=mid[w], minlength=n) / c)
        cnt.append(c)
    ok_n = (cnt[0] <= _ZONE_MAX_ROWS) & (cnt[1] <= _ZONE_MAX_ROWS)
    straddle = (mean[0] + mean[1]).tolist()
    got = (has & (cnt[0] > 0) & (cnt[1] > 0)).tolist()
    prev_l, exp_l, k_l, s_l = prev.tolist(), exp0.tolist(), k_atm.tolist(), s_prev.tolist()
    for k in np.flatnonzero(ok_n).tolist():  # a loop over underlyings: each one's zone
        f = out[k]
        f.zone_done = True
        if got[k]:
            f.zone = (straddle[k], s_l[k], {
                "set_on": _EPOCH + dt.timedelta(days=prev_l[k]),
                "expiry": _EPOCH + dt.timedelta(days=exp_l[k]), "atm_strike": k_l[k],
            })  # fmt: skip


def _bars_part(
    windows: Sequence[UnderlyingWindow], s_day: int, n_bars: int, out: list[_Facts]
) -> None:
    """The bars of :func:`_history_facts`."""
    bw = [k for k, w in enumerate(windows) if w.bars is not None and w.bars.num_rows]
    for k, w in enumerate(windows):
        if w.bars is None or w.bars.num_rows == 0:
            out[k].bars, out[k].bars_done = None, True
    if not bw:
        return
    bs = [windows[k].bars for k in bw]
    cat = pa.concat_tables(bs)
    tdc = cat.column("trade_date")
    if not pa.types.is_date32(tdc.type) or tdc.null_count:
        return
    lens = np.fromiter((b.num_rows for b in bs), np.int64, len(bs))  # type: ignore[union-attr]
    seg = np.repeat(np.arange(len(bs), dtype=np.int64), lens)
    days = _days(tdc)
    rows = np.flatnonzero(days <= s_day)
    rows = rows[np.lexsort((days[rows], seg[rows]))]  # by window, then date (stable)
    sg = seg[rows]
    per = np.bincount(sg, minlength=len(bs))
    end = np.cumsum(per)
    rows = rows[end[sg] - np.arange(rows.size) <= n_bars]  # the last n of each window
    per = np.minimum(per, n_bars)
    at = np.r_[0, np.cumsum(per)].tolist()
    closes = cat.column("close").to_numpy(zero_copy_only=False)[rows]
    is_d = (days[rows] == s_day).tolist()
    for j, k in enumerate(bw):  # a loop over underlyings
        a, b = at[j], at[j + 1]
        out[k].bars = (closes[a:b], b > a and is_d[b - 1])
        out[k].bars_done = True


# --------------------------------------------------------------------------- the kernel


@dataclass(slots=True)
class _Prepared:
    """What :func:`analyze_underlying` computes before the OI step (one window)."""

    window: UnderlyingWindow
    today: pa.Table
    ca: Any
    adoc: dict[str, Any]
    missing: list[str]
    tables: dict[str, pa.Table]
    prints: pa.Table | None
    n_sessions: int
    ocfg: OIConfig
    fcfg: FlowConfig | None
    enriched: pa.Table | None
    by_ticker: pa.Table | None


def _today(window: UnderlyingWindow) -> pa.Table:
    """The window's chain snapshot of its session (the latest one when there are several)."""
    u, d = window.underlying, window.session
    hist = window.history
    tdc, tsc = hist.column("trade_date"), hist.column("snapshot_ts")
    if not (
        pa.types.is_date32(tdc.type)
        and pa.types.is_timestamp(tsc.type)
        and tdc.null_count == 0
        and tsc.null_count == 0
    ):
        today = hist.filter(pc.equal(tdc, pa.scalar(d, pa.date32())))
        if today.num_rows == 0:
            raise InputError(f"the window of {u} holds no chain snapshot of {d}", column="history")
        if pc.count_distinct(today.column("snapshot_ts")).as_py() > 1:  # the latest snapshot
            last = pc.max(today.column("snapshot_ts"))
            today = today.filter(pc.equal(today.column("snapshot_ts"), last))
        return today
    # NumPy on the two columns (no nulls): the rows of the session's latest snapshot, a
    # zero-copy slice when they are contiguous (the stored order), else one take
    rows = np.flatnonzero(_days(tdc) == (d - _EPOCH).days)
    if rows.size == 0:
        raise InputError(f"the window of {u} holds no chain snapshot of {d}", column="history")
    ts = np.asarray(tsc.cast(pa.int64()).to_numpy(), np.int64)[rows]
    if ts.min() != ts.max():  # keep the latest snapshot
        rows = rows[ts == ts.max()]
    if int(rows[-1]) - int(rows[0]) + 1 == rows.size:
        return hist.slice(int(rows[0]), int(rows.size))
    return hist.take(pa.array(rows))


def _todays(
    windows: Sequence[UnderlyingWindow],
) -> list[tuple[pa.Table, int] | ChainlensError] | None:
    """``(_today(w), distinct sessions of w.history)`` of every window (or the
    :class:`~chainlens.errors.InputError` ``_today`` raises), in one NumPy pass over the
    chunk's concatenated ``trade_date`` and ``snapshot_ts`` columns; each snapshot a zero-copy
    slice of the window's history when its rows are contiguous, else one ``take`` (as
    :func:`_today`). ``None`` (each window alone) unless every history has ``date32``
    sessions and timestamps without nulls and the windows share one session."""
    n = len(windows)
    if not n or any(w.session != windows[0].session for w in windows):
        return None
    hs = [w.history for w in windows]
    if any(
        not pa.types.is_date32(h.schema.field("trade_date").type)
        or not pa.types.is_timestamp(h.schema.field("snapshot_ts").type)
        for h in hs
    ):
        return None
    tdc = pa.chunked_array([c for h in hs for c in h.column("trade_date").chunks], pa.date32())
    tss = [h.column("snapshot_ts") for h in hs]
    if tdc.null_count or any(c.null_count for c in tss):
        return None
    td = _days(tdc)
    ts = np.concatenate([np.asarray(c.cast(pa.int64()).to_numpy(), np.int64) for c in tss])
    lens = np.fromiter((h.num_rows for h in hs), np.int64, n)
    seg = np.repeat(np.arange(n, dtype=np.int64), lens)
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    nz = lens > 0
    s_day = (windows[0].session - _EPOCH).days
    # distinct sessions per window: a (window, day) presence count
    cnt = np.zeros(n, np.int64)
    if td.size:
        t0 = int(td.min())
        span = int(td.max()) - t0 + 1
        if n * span <= 1 << 24:
            present = np.zeros(n * span, bool)
            present[seg * span + (td - t0)] = True
            cnt = present.reshape(n, span).sum(axis=1)
        else:
            cnt = np.bincount(seg[np.unique(seg * span + (td - t0), return_index=True)[1]],
                              minlength=n)  # fmt: skip
    neg = np.iinfo(np.int64).min
    m = td == s_day
    st = starts[nz]  # segment starts of the non-empty windows (reduceat needs rows in each)

    def per_window(ufunc: np.ufunc, v: np.ndarray, empty: int) -> np.ndarray:
        r = np.full(n, empty, np.int64)
        if st.size:
            r[nz] = ufunc.reduceat(v, st)
        return r

    ts_max = per_window(np.maximum, np.where(m, ts, neg), neg)
    m &= ts == ts_max[seg]  # the latest snapshot of the session
    k_rows = np.bincount(seg[m], minlength=n)
    idx = np.arange(td.size)
    first = per_window(np.minimum, np.where(m, idx, td.size), td.size)
    last = per_window(np.maximum, np.where(m, idx, -1), -1)
    out: list[tuple[pa.Table, int] | ChainlensError] = []
    for k, w in enumerate(windows):  # a loop over underlyings: each one's slice
        if not nz[k] or k_rows[k] == 0:
            out.append(InputError(
                f"the window of {w.underlying} holds no chain snapshot of {w.session}",
                column="history",
            ))  # fmt: skip
            continue
        a, c = int(first[k]), int(k_rows[k])
        if int(last[k]) - a + 1 == c:
            today = w.history.slice(a - int(starts[k]), c)
        else:
            rows = np.flatnonzero(m[starts[k] : starts[k] + lens[k]])
            today = w.history.take(pa.array(rows))
        out.append((today, int(cnt[k])))
    return out


def _prepare(
    window: UnderlyingWindow,
    config: PipelineConfig,
    *,
    trades: bool = True,
    records: bool = True,
    today: pa.Table | None = None,
    analyses: list[Any] | None = None,
    n_sessions: int | None = None,
) -> _Prepared:
    """The chain analysis and the trades' side decomposition: the steps before the OI step.

    ``trades=False`` leaves the trades out (``enriched`` and ``by_ticker`` ``None``): the
    batched path enriches a whole chunk's trades at once (:func:`_enrich_chunk`), or
    :func:`_enrich_one` does it for this window. ``records=False`` leaves the analysis
    document's ``by_expiry``, ``by_strike`` (and ``by_strike_live``) records ``None``:
    :func:`_chain_records` builds them for the chunk, and the chain result ``tables`` are
    left empty: :func:`_chain_tables` builds them for the chunk. ``today`` and ``analyses``: the
    window's :func:`_today` and its ``analyze_chain(today, config.analysis)`` when computed
    already (:func:`chainlens.analysis.analyze_chains` over the chunk)."""
    from chainlens.analysis import analyze_chain

    u, d = window.underlying, window.session
    hist = window.history
    if today is None:
        today = _today(window)
    if analyses is None:
        analyses = analyze_chain(today, config.analysis)
    ca = next((a for a in analyses if a.underlying == u), analyses[0])
    adoc = ca.to_json(tables=records)
    if ca.by_strike_live is not None:  # issue 10: the charts of an expiry day show live strikes
        from chainlens.analysis import _row_value, json_records

        adoc["by_strike_live"] = json_records(ca.by_strike_live, _row_value) if records else None
    missing: list[str] = []
    if n_sessions is None:
        n_sessions = int(pc.count_distinct(hist.column("trade_date")).as_py())
    if n_sessions < 2:
        missing.append("history")
    iv_ok = "iv" in today.column_names and today.column("iv").null_count < today.num_rows
    if not iv_ok and not ca.vol.get("expiries"):
        missing.append("iv")

    tables: dict[str, pa.Table] = {}
    if records:
        for key, t in _chain_tables_of(ca):
            tables[key] = _with_underlying(t, u, d)

    # ---------------------------------------------------------------- flow
    prints = window.prints if window.prints is not None and window.prints.num_rows else None
    if prints is None:
        missing.append("prints")
    # ---------------------------------------------------------------- open interest
    # OI first, on the premium per ticker of the enriched trades; the flow then reuses OI's
    # per-contract changes instead of building the same OI panel a second time.
    from chainlens.oi import OIConfig

    ocfg = config.oi or OIConfig()
    pr = _Prepared(
        window=window, today=today, ca=ca, adoc=adoc, missing=missing, tables=tables,
        prints=prints, n_sessions=n_sessions, ocfg=ocfg, fcfg=None, enriched=None,
        by_ticker=None,
    )  # fmt: skip
    if trades:
        _enrich_one(pr, config)
    return pr


def _chain_tables_of(ca: Any) -> list[tuple[str, pa.Table]]:
    """The result tables of an analysis, in their order: ``by_strike``, ``by_expiry`` and
    (issue 15: the (expiry, strike) and (expiry, spot level) grains, so that a view filtered to
    some expiries, or under short_all, sums stored rows instead of re-running the analysis)
    ``by_strike_expiry`` and ``profile_by_expiry`` when there are."""
    out = [("by_strike", ca.by_strike), ("by_expiry", ca.by_expiry)]
    for key in ("by_strike_expiry", "profile_by_expiry"):
        t = getattr(ca, key)
        if t is not None:
            out.append((key, t))
    return out


def _with_underlying_many(
    ts: Sequence[pa.Table],
    underlyings: Sequence[str],
    sessions: Sequence[dt.date],
    columns: Sequence[str] | None = None,
) -> list[pa.Table]:
    """``[_with_underlying(t, u, d) ...]`` with one column append per schema over the
    concatenated tables, then a slice per table (equal tables); ``columns``: of each
    ``_selected(t, columns)`` instead, selected once per schema."""
    out: list[pa.Table | None] = [None] * len(ts)
    groups: dict[pa.Schema, list[int]] = {}
    for i, t in enumerate(ts):  # a loop over underlyings: group by schema
        for sch, idx in groups.items():
            if sch.equals(t.schema, check_metadata=True):
                idx.append(i)
                break
        else:
            groups[t.schema] = [i]
    for idx in groups.values():
        sizes = np.fromiter((ts[i].num_rows for i in idx), np.int64, len(idx))
        cat = pa.concat_tables([ts[i] for i in idx])
        if columns is not None:
            cat = _selected(cat, columns)
        names = cat.column_names
        if "underlying" not in names:
            # one string per name, repeated by index (no Python object per row)
            und = pa.array([underlyings[i] for i in idx], pa.string())
            code = np.repeat(np.arange(len(idx), dtype=np.int32), sizes)
            cat = cat.append_column("underlying", und.take(pa.array(code)))
        if "session" not in names:
            ses = np.repeat(np.asarray([sessions[i] for i in idx], dtype="datetime64[D]"), sizes)
            cat = cat.append_column("session", pa.array(ses, pa.date32()))
        if pa.large_string() in cat.schema.types:  # one cast per column, not one per table
            # (a column of 2 GiB or more stays in its chunks: string's 32-bit offsets)
            big = 2**31
            cat = pa.Table.from_arrays(
                [c.combine_chunks() if pa.types.is_large_string(c.type) and c.nbytes < big
                 else c for c in cat.columns],
                schema=cat.schema,
            )  # fmt: skip
        cat = _with_underlying(cat, "", dt.date.min)  # the string normalisation only
        at = np.r_[0, np.cumsum(sizes)].tolist()
        for k, i in enumerate(idx):
            out[i] = cat.slice(at[k], at[k + 1] - at[k])
    return [t for t in out if t is not None]


def _chain_tables(ready: Sequence[_Prepared]) -> None:
    """The chain result tables (:func:`_chain_tables_of` with the ``underlying`` and
    ``session`` columns) of the windows prepared with ``records=False``, for the chunk at once
    (:func:`_with_underlying_many`)."""
    parts = [_chain_tables_of(p.ca) for p in ready]
    for key in ("by_strike", "by_expiry", "by_strike_expiry", "profile_by_expiry"):
        idx, ts = [], []
        for k, ps in enumerate(parts):
            for name, t in ps:
                if name == key:
                    idx.append(k)
                    ts.append(t)
        us = [ready[k].window.underlying for k in idx]
        ds = [ready[k].window.session for k in idx]
        for k, t in zip(idx, _with_underlying_many(ts, us, ds), strict=True):
            ready[k].tables[key] = t


def _chain_records(ready: Sequence[_Prepared]) -> None:
    """The ``by_expiry``, ``by_strike``, ``by_strike_live`` and ``vol.smile`` records of the
    analysis documents left out by ``_prepare(..., records=False)``, one records pass per table kind
    over the chunk (:func:`_records_many`: the records ``ChainAnalysis.to_json`` builds)."""
    from chainlens.analysis import _row_value

    for key in ("by_expiry", "by_strike", "by_strike_live"):
        idx = [k for k, p in enumerate(ready) if getattr(p.ca, key) is not None]
        recs = _records_many([getattr(ready[k].ca, key) for k in idx], fallback=_row_value)
        for k, r in zip(idx, recs, strict=True):
            ready[k].adoc[key] = r
    # the vol document's smile records (ChainAnalysis.smile_shown) the same way
    shown = [p.ca.smile_shown() for p in ready]
    idx = [k for k, t in enumerate(shown) if t is not None]
    recs = _records_many([shown[k] for k in idx], fallback=_row_value)
    for k, r in zip(idx, recs, strict=True):
        ready[k].adoc["vol"]["smile"] = r


def _enrich_one(pr: _Prepared, config: PipelineConfig) -> None:
    """The window's trades enriched (sides, premium, packages, bursts) and their premium
    decomposition per ticker (the OI step's premium put/call ratio); nothing without trades."""
    if pr.window.trades.num_rows:
        from chainlens.flow import FlowConfig, decompose_premium, enrich_trades

        pr.fcfg = config.flow or FlowConfig()
        pr.enriched = enrich_trades(pr.window.trades, pr.fcfg)
        pr.by_ticker = decompose_premium(
            pr.enriched, by=("underlying",), label_epsilon=pr.fcfg.label_epsilon
        )


def _enrich_chunk(ready: Sequence[_Prepared], config: PipelineConfig) -> None:
    """:func:`_enrich_one` of every window with trades, in one pass over the chunk
    (:func:`chainlens.batched.enrich_many` and :func:`chainlens.batched.decompose_segmented`);
    when that pass fails (a bad window), each window is enriched alone by the caller."""
    from chainlens.batched import decompose_segmented, enrich_many, segment_ids
    from chainlens.flow import FlowConfig

    fcfg = config.flow or FlowConfig()
    with_trades = [p for p in ready if p.window.trades.num_rows]
    if not with_trades:
        return
    for p in with_trades:  # each window's trades are of its own underlying (segment key)
        und = p.window.trades.column("underlying")
        if und.null_count or not pc.all(pc.equal(und, p.window.underlying)).as_py():
            raise InputError("trades of another underlying in the window", column="underlying")
    enriched = enrich_many([p.window.trades for p in with_trades], fcfg)
    sizes = [t.num_rows for t in enriched]
    bt, off = decompose_segmented(
        pa.concat_tables(enriched), segment_ids(sizes), len(sizes), ("underlying",),
        label_epsilon=fcfg.label_epsilon,
    )  # fmt: skip
    for i, (p, e) in enumerate(zip(with_trades, enriched, strict=True)):
        p.fcfg, p.enriched = fcfg, e
        p.by_ticker = bt.slice(int(off[i]), int(off[i + 1] - off[i]))


def _change_by_strike(c: pa.Table) -> list[dict[str, Any]]:
    """Call and put OI change (contracts) summed per strike over the rows of ``c``
    (``strike``, ``right``, ``oi_change``; null changes are skipped), strikes ascending:
    ``[{"strike", "call_oi_change", "put_oi_change"}]`` (a side without rows sums to 0)."""
    if c.num_rows == 0:
        return []
    strike = c.column("strike").cast(pa.float64()).to_numpy()
    right = c.column("right")
    chg = c.column("oi_change")
    ok = np.asarray(pc.is_valid(chg).to_numpy(zero_copy_only=False), dtype=bool)
    fill = 0 if pa.types.is_integer(chg.type) else 0.0
    v = pc.fill_null(chg, fill).to_numpy()
    keys, code = np.unique(strike, return_inverse=True)
    code = code.reshape(-1)
    out: dict[str, np.ndarray] = {}
    for name, r in (("call_oi_change", "C"), ("put_oi_change", "P")):
        m = ok & np.asarray(pc.fill_null(pc.equal(right, r), False).to_numpy(zero_copy_only=False))
        acc = np.zeros(keys.size, dtype=v.dtype)
        np.add.at(acc, code[m], v[m])
        out[name] = acc
    return _jsonable(
        [
            {"strike": k, "call_oi_change": ci, "put_oi_change": pi}
            for k, ci, pi in zip(
                keys.tolist(), out["call_oi_change"].tolist(), out["put_oi_change"].tolist(),
                strict=True,
            )
        ]
    )  # fmt: skip


def _oi_changes_for_flow(pr: _Prepared, orr: OIResult) -> pa.Table | None:
    """``OIResult.changes`` when it is what the flow's ``oi_changes(history)`` would give."""
    ocfg, hist, d = pr.ocfg, pr.window.history, pr.window.session
    # OIResult.changes is oi_changes(history ≤ d, avg_window, drop_stale): the flow's
    # oi_changes(history) when those settings are its defaults and the window ends at d
    same = _oi_change_defaults() == (ocfg.avg_window, ocfg.drop_stale)
    return orr.changes if same and _ends_at(hist, d) else None


def _flow_chunk(group: Sequence[_Prepared], orrs: Sequence[OIResult]) -> list[Any | None]:
    """The flow of every window of a chunk with trades (:func:`chainlens.batched.flow_many`),
    ``None`` for the others."""
    from chainlens.batched import flow_many

    idx = [k for k, p in enumerate(group) if p.enriched is not None]
    out: list[Any | None] = [None] * len(group)
    if not idx:
        return out
    fcfg = group[idx[0]].fcfg
    frs = flow_many(
        [group[k].enriched for k in idx],
        [group[k].today for k in idx],
        histories=[group[k].window.history for k in idx],
        prints=[group[k].prints for k in idx],
        changes=[_oi_changes_for_flow(group[k], orrs[k]) for k in idx],
        config=fcfg,
    )
    for k, fr in zip(idx, frs, strict=True):
        out[k] = fr
    return out


def _records_many(
    ts: Sequence[pa.Table | None],
    columns: Sequence[str] | None = None,
    fallback: Any = _jsonable,
) -> list[list[dict[str, Any]]]:
    """``[_records(t, columns) for t in ts]`` (``json_records(t, fallback)`` of each), one
    :func:`~chainlens.analysis.json_records` pass over the concatenated tables (its records
    are built column by column, each row from its own values only, so a slice of the chunk's
    records is the table's). Tables of one schema (the usual chunk) are concatenated as they
    are and ``columns`` selected once; else one pass per schema of the selected tables."""
    from chainlens.analysis import json_records

    out: list[list[dict[str, Any]]] = [[] for _ in ts]
    idx = [i for i, t in enumerate(ts) if t is not None and t.num_rows]
    if not idx:
        return out
    tabs: list[pa.Table] = [ts[i] for i in idx]
    try:  # one schema: the chunk at once, its chunks kept (json_records reads them in turn)
        cat = pa.concat_tables(tabs)
        groups = [(idx, tabs, cat if columns is None else _selected(cat, columns))]
    except pa.ArrowInvalid:  # schemas differ: one pass per schema of the selected tables
        by_schema: list[tuple[pa.Schema, list[int], list[pa.Table]]] = []
        for i, t in zip(idx, tabs, strict=True):  # a loop over underlyings: group by schema
            if columns is not None:
                t = _selected(t, columns)
            for sch, g_idx, g_tabs in by_schema:
                if sch.equals(t.schema, check_metadata=True):
                    g_idx.append(i)
                    g_tabs.append(t)
                    break
            else:
                by_schema.append((t.schema, [i], [t]))
        groups = [(g_idx, g_tabs, pa.concat_tables(g_tabs)) for _, g_idx, g_tabs in by_schema]
    for g_idx, g_tabs, cat in groups:
        recs = json_records(cat, fallback)
        at = 0
        for i, t in zip(g_idx, g_tabs, strict=True):
            out[i] = recs[at : at + t.num_rows]
            at += t.num_rows
    return out


_NET_BY_STRIKE = (
    "net_usd", "total_usd", "call_premium_usd", "put_premium_usd", "dir_net_usd",
    "dir_call_premium_usd", "dir_put_premium_usd", "excluded_usd",
)  # fmt: skip


def _net_by_strike(by_strike: pa.Table) -> pa.Table:
    """The flow document's ``net_by_strike`` table: :data:`_NET_BY_STRIKE` summed per strike,
    strikes ascending (the per-underlying reference of :func:`_net_by_strike_many`)."""
    agg = (
        by_strike.group_by("strike")
        .aggregate([(c, "sum") for c in _NET_BY_STRIKE])
        .sort_by("strike")
    )
    return agg.rename_columns(["strike", *_NET_BY_STRIKE])


def _net_by_strike_many(tables: Sequence[pa.Table]) -> list[pa.Table]:
    """:func:`_net_by_strike` of every table in one segmented pass.

    Group ids of (table, strike) pairs in (table, strike) order, then one ``np.bincount`` per
    column: each group is summed in row order, as Arrow's grouped sum adds it. Falls back to
    :func:`_net_by_strike` per table unless every column is a float64 without nulls or NaN
    strikes.
    """
    cols = ["strike", *_NET_BY_STRIKE]
    # the checks on the concatenation: each column float64 without nulls in every table
    # (tables whose selected columns differ in type do not concatenate)
    try:
        cat = pa.concat_tables([t.select(cols) for t in tables]) if tables else None
    except (KeyError, pa.ArrowInvalid):
        cat = None
    if cat is not None and not all(
        pa.types.is_float64(cat.schema.field(c).type) and cat.column(c).null_count == 0
        for c in cols
    ):
        cat = None
    strike = cat.column("strike").to_numpy() if cat is not None else None
    if cat is None or strike is None or np.isnan(strike).any():
        return [_net_by_strike(t) for t in tables]
    lens = np.fromiter((t.num_rows for t in tables), np.int64, len(tables))
    tab = np.repeat(np.arange(len(tables), dtype=np.int64), lens)
    order = np.lexsort((strike, tab))
    st, tb = strike[order], tab[order]
    new = np.r_[True, (st[1:] != st[:-1]) | (tb[1:] != tb[:-1])] if len(st) else np.zeros(0, bool)
    gid_sorted = np.cumsum(new) - 1
    n_g = int(gid_sorted[-1]) + 1 if len(st) else 0
    gid = np.empty_like(gid_sorted)
    gid[order] = gid_sorted
    data = {"strike": pa.array(st[new], pa.float64())}
    for c in _NET_BY_STRIKE:
        data[c] = pa.array(
            np.bincount(gid, weights=cat.column(c).to_numpy(), minlength=n_g), pa.float64()
        )
    out = pa.table(data)
    per = np.bincount(tb[new], minlength=len(tables))
    at = np.r_[0, np.cumsum(per)]
    return [out.slice(int(at[i]), int(per[i])) for i in range(len(tables))]


_CHANGE_COLUMNS = ("symbol", "expiry", "strike", "right", "oi_change", "open_interest", "volume",
                   "vol_oi")  # fmt: skip
_VOL_OI_COLUMNS = ("symbol", "expiry", "strike", "right", "volume", "open_interest", "vol_oi",
                   "vol_oi_band", "volume_multiple")  # fmt: skip
_CHANGES_TABLE = ("symbol", "expiry", "strike", "right", "oi_change", "volume", "vol_oi")


def _top_rows(seg: np.ndarray, key: np.ndarray, rows: np.ndarray, n_top: int) -> np.ndarray:
    """The first ``n_top`` of ``rows`` per segment ordered by ``key`` descending, ties in row
    order (Arrow's stable ``sort_by(descending)`` of each segment, then ``slice(0, n_top)``);
    segments ascending."""
    order = np.lexsort((-key, seg))  # stable: equal keys keep their row order
    s = seg[order]
    start = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1] if s.size else np.zeros(0, np.int64)
    rank = np.arange(s.size) - np.repeat(start, np.diff(np.r_[start, s.size]))
    return rows[order[rank < n_top]]


def _change_by_strike_many(
    seg: np.ndarray, strike: np.ndarray, is_call: np.ndarray, is_put: np.ndarray,
    chg: np.ndarray, n_seg: int,
) -> list[list[dict[str, Any]]]:  # fmt: skip
    """:func:`_change_by_strike` of every segment of rows (rows already restricted to valid
    changes; finite strikes and integer changes, so the records need no JSON cleaning): one
    sort by (segment, strike), one ``np.add.at`` per side, each group summed in row order as
    the per-name version sums it."""
    out: list[list[dict[str, Any]]] = [[] for _ in range(n_seg)]
    if seg.size == 0:
        return out
    order = np.lexsort((strike, seg))
    st, sg = strike[order], seg[order]
    new = np.r_[True, (st[1:] != st[:-1]) | (sg[1:] != sg[:-1])]
    gid = np.empty(seg.size, np.int64)
    gid[order] = np.cumsum(new) - 1
    n_g = int(new.sum())
    sums = []
    for m in (is_call, is_put):
        acc = np.zeros(n_g, dtype=chg.dtype)
        np.add.at(acc, gid[m], chg[m])
        sums.append(acc.tolist())
    keys, gseg = st[new].tolist(), sg[new]
    bounds = np.searchsorted(gseg, np.arange(n_seg + 1))
    for k in np.unique(gseg).tolist():  # a loop over underlyings: the record lists
        a, b = int(bounds[k]), int(bounds[k + 1])
        out[k] = [  # finite float strikes, integer sums: what _jsonable would return
            {"strike": x, "call_oi_change": ci, "put_oi_change": pi}
            for x, ci, pi in zip(keys[a:b], sums[0][a:b], sums[1][a:b], strict=True)
        ]
    return out


def _oi_change_parts(chs: Sequence[pa.Table], session: dt.date) -> list[dict[str, Any]] | None:
    """The overnight-OI-change parts of the documents (what :func:`_finish` builds from
    ``OIResult.changes`` per name), for every changes table of a chunk in one pass.

    Per table: the change session (the second-last session present), its rows with a change
    (``oi.changes_table``), the 40 largest absolute changes (``oi.changes``), the change per
    strike (:func:`_change_by_strike`, also over live expiries only when some expire on or
    before ``session``) and the 15 largest Vol/OI of ``session`` (``oi.vol_oi_top``).
    ``None`` (each name builds its own) unless the tables share one schema with integer
    changes and non-null dates and expiries, finite strikes and Vol/OI without NaN.
    """
    n = len(chs)
    if not n or any(t.schema != chs[0].schema for t in chs):
        return None
    # the columns read below, in one Arrow chunk: the casts, gathers and record slices then
    # run once over the chunk instead of once per table
    cols = list(dict.fromkeys(("trade_date", *_CHANGE_COLUMNS, *_VOL_OI_COLUMNS)))
    cat = pa.concat_tables(chs).select(cols).combine_chunks()
    if cat.num_rows == 0 or not pa.types.is_integer(cat.schema.field("oi_change").type):
        return None
    td_c, exp_c = cat.column("trade_date"), cat.column("expiry")
    if td_c.null_count or exp_c.null_count or cat.column("strike").null_count:
        return None
    strike = cat.column("strike").cast(pa.float64()).to_numpy()
    vol_oi = cat.column("vol_oi").cast(pa.float64())
    vo = pc.fill_null(vol_oi, 0.0).to_numpy()
    if not np.isfinite(strike).all() or np.isnan(vo).any():
        return None
    lens = np.fromiter((t.num_rows for t in chs), np.int64, n)
    seg = np.repeat(np.arange(n, dtype=np.int64), lens)
    td = td_c.cast(pa.int32()).to_numpy()
    # the distinct sessions of each table, ascending: the change session is the second-last
    # (a (table, day) presence matrix; a sort when the days span too far for one)
    t0 = int(td.min())
    span = int(td.max()) - t0 + 1
    cs = np.full(n, np.iinfo(np.int32).min, np.int64)
    if n * span <= 1 << 24:
        present = np.zeros((n, span), bool)
        present[seg, td - t0] = True
        cnt = present.sum(axis=1)
        has = cnt >= 2
        after = np.cumsum(present[:, ::-1], axis=1)[:, ::-1]  # present days on or after
        cs[has] = t0 + np.argmax(present & (after == 2), axis=1)[has]
    else:
        o = np.lexsort((td, seg))
        s_, t_ = seg[o], td[o]
        first = np.r_[True, (s_[1:] != s_[:-1]) | (t_[1:] != t_[:-1])]
        us, ut = s_[first], t_[first]
        cnt = np.bincount(us, minlength=n)
        last = np.cumsum(cnt) - 1
        has = cnt >= 2
        cs[has] = ut[last[has] - 1]
    chg_c = cat.column("oi_change")
    valid = np.asarray(pc.is_valid(chg_c).to_numpy(zero_copy_only=False), bool)
    chg = pc.fill_null(chg_c, 0).to_numpy()
    in_c = (td == cs[seg]) & valid & has[seg]
    rows_c = np.flatnonzero(in_c)
    c_seg = seg[rows_c]
    # the rights and expiries of the change rows only (the rows read below)
    take_c = pa.array(rows_c, pa.int64())
    right = cat.column("right").take(take_c)
    is_call = np.asarray(pc.fill_null(pc.equal(right, "C"), False).to_numpy(zero_copy_only=False))
    is_put = np.asarray(pc.fill_null(pc.equal(right, "P"), False).to_numpy(zero_copy_only=False))
    d32 = int(pa.scalar(session, pa.date32()).cast(pa.int32()).as_py())
    live = exp_c.take(take_c).cast(pa.int32()).to_numpy() > d32
    chg_r = chg[rows_c]
    by_strike = _change_by_strike_many(c_seg, strike[rows_c], is_call, is_put, chg_r, n)
    by_strike_live = _change_by_strike_many(
        c_seg[live], strike[rows_c[live]], is_call[live], is_put[live], chg_r[live], n
    )
    some_expired = np.bincount(c_seg[~live], minlength=n) > 0
    top_c = _top_rows(c_seg, np.abs(chg_r), rows_c, 40)
    hot_rows = np.flatnonzero((td == d32) & np.asarray(pc.is_valid(vol_oi).to_numpy(
        zero_copy_only=False), bool))  # fmt: skip
    top_v = _top_rows(seg[hot_rows], vo[hot_rows], hot_rows, 15)

    def per_seg(rows: np.ndarray, cols: Sequence[str]) -> list[list[dict[str, Any]]]:
        # the records of the gathered rows in one pass, sliced per table (records are built
        # row by row from each row's own values: the slices are _records_many's lists)
        from chainlens.analysis import json_records

        recs = json_records(cat.select(list(cols)).take(pa.array(rows, pa.int64())), _jsonable)
        at = np.searchsorted(seg[rows], np.arange(n + 1)).tolist()
        return [recs[at[k] : at[k + 1]] for k in range(n)]

    changes = per_seg(top_c, _CHANGE_COLUMNS)
    hot = per_seg(top_v, _VOL_OI_COLUMNS)
    c_tab = cat.select(list(_CHANGES_TABLE)).take(take_c)
    at = np.searchsorted(c_seg, np.arange(n + 1))
    dates = (
        pa.array(np.where(has, cs, 0).astype(np.int32), pa.int32()).cast(pa.date32()).to_pylist()
    )
    out: list[dict[str, Any]] = []
    for k in range(n):  # a loop over underlyings: each name's slices
        if not has[k]:
            out.append({"oi.change_session": None, "oi.vol_oi_top": hot[k]})
            continue
        out.append(
            {
                "oi.change_session": dates[k],
                "oi.changes_table": c_tab.slice(int(at[k]), int(at[k + 1] - at[k])),
                "oi.changes": changes[k],
                "oi.change_by_strike": by_strike[k],
                "oi.change_by_strike_live": by_strike_live[k] if some_expired[k] else None,
                "oi.vol_oi_top": hot[k],
            }
        )
    return out


def _doc_parts(
    group: Sequence[_Prepared],
    orrs: Sequence[Any],
    frs: Sequence[Any | None],
    config: PipelineConfig,
) -> list[dict[str, Any]]:
    """The record lists of the per-name documents that are slices of result tables, built once
    per chunk (:func:`_records_many`, :func:`_net_by_strike_many`); keyed as in
    :func:`_finish`, which uses them instead of building each name's own."""
    n = len(group)
    parts: list[dict[str, Any]] = [{} for _ in range(n)]
    for k, f in enumerate(_history_facts([p.window for p in group], config.bar_sessions)):
        parts[k]["window.facts"] = f
    oi_k = [k for k in range(n) if not isinstance(orrs[k], ChainlensError)]
    oi_parts = {
        "clusters": (lambda o: o.clusters.slice(0, 10)),
        "accumulation": (lambda o: o.accumulation.slice(0, 20)),
        "rolls": (lambda o: o.rolls.slice(0, 20)),
        "opposite": (lambda o: o.opposite.slice(0, 10)),
        "term": (lambda o: o.term),
        "term_signals": (lambda o: o.term_signals),
        "pcr": (lambda o: o.pcr),
        "events": (lambda o: o.events),
    }
    for key, get in oi_parts.items():
        recs = _records_many([get(orrs[k]) for k in oi_k])
        for k, r in zip(oi_k, recs, strict=True):
            parts[k]["oi." + key] = r
    sessions = {group[k].window.session for k in oi_k}
    if len(sessions) == 1:
        got = _oi_change_parts([orrs[k].changes for k in oi_k], sessions.pop())
        for k, extra in zip(oi_k, got or [], strict=False):
            parts[k].update(extra)
    # the result tables of the documents with their underlying and session columns, one
    # _with_underlying_many per table kind over the chunk (the tables _finish would tag)
    tagged: list[tuple[str, list[int], list[pa.Table]]] = [
        ("oi_changes", *_unzip([(k, parts[k]["oi.changes_table"]) for k in oi_k
                                if parts[k].get("oi.changes_table") is not None])),
    ]  # fmt: skip
    for name in ("accumulation", "rolls", "clusters"):
        tagged.append((name, *_unzip([(k, getattr(orrs[k], name)) for k in oi_k
                                      if getattr(orrs[k], name).num_rows])))  # fmt: skip
    fl_k = [k for k in range(n) if frs[k] is not None and group[k].enriched is not None]
    if fl_k:
        fs: list[Any] = [frs[k] for k in fl_k]
        nb = _records_many(_net_by_strike_many([f.by_strike for f in fs]))
        # sort_by(...).slice(0, 40) without copying every row first: the 40 first indices
        top = _sorted_records([f.by_strike for f in fs], "total_usd", descending=True, n_top=40)
        if top is None:
            top = _records_many(
                [
                    f.by_strike.take(
                        pc.sort_indices(f.by_strike, sort_keys=[("total_usd", "descending")])[:40]
                    )
                    for f in fs
                ]
            )
        notable = _records_many(
            [f.notable.slice(0, config.notable_top_n) for f in fs], _NOTABLE_COLUMNS
        )
        by_exp = _sorted_records([f.by_expiry for f in fs], "expiry")
        if by_exp is None:
            by_exp = _records_many([f.by_expiry.sort_by("expiry") for f in fs])
        dark = _records_many([f.darkpool for f in fs])
        twap = _records_many([f.twap for f in fs])
        for j, k in enumerate(fl_k):
            parts[k].update(
                {
                    "flow.net_by_strike": nb[j],
                    "flow.top_strikes": top[j],
                    "flow.notable": notable[j],
                    "flow.by_expiry": by_exp[j],
                    "flow.darkpool": dark[j][0] if dark[j] else None,
                    "flow.twap": twap[j],
                }
            )
        tagged.append(("flow_by_strike", fl_k, [f.by_strike for f in fs]))
        tagged.append(("notable", fl_k, [f.notable for f in fs]))
    for name, idx, ts in tagged:
        us = [group[k].window.underlying for k in idx]
        ds = [group[k].window.session for k in idx]
        cols = _NOTABLE_COLUMNS if name == "notable" else None
        for k, t in zip(idx, _with_underlying_many(ts, us, ds, cols), strict=True):
            parts[k]["tables." + name] = t
    return parts


def _unzip(pairs: list[tuple[int, pa.Table]]) -> tuple[list[int], list[pa.Table]]:
    """``([k...], [t...])`` of ``[(k, t)...]``."""
    return [k for k, _ in pairs], [t for _, t in pairs]


def _selected(t: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``t`` with those of ``columns`` it has, in that order."""
    have = set(t.column_names)
    return t.select([c for c in columns if c in have])


def _sorted_cat(
    tables: Sequence[pa.Table], key: str, *, descending: bool = False, n_top: int | None = None
) -> tuple[pa.Table, np.ndarray] | None:
    """The rows of :func:`_sorted_many`'s tables, table after table, as one table, and the
    number of rows of each table in it; ``None`` when :func:`_sorted_many` declines."""
    if not tables or any(t.schema != tables[0].schema for t in tables):
        return None
    cat = pa.concat_tables(tables)
    col = cat.column(key)
    ty = col.type
    if col.null_count:
        return None
    if pa.types.is_date32(ty):
        k = col.cast(pa.int32()).to_numpy().astype(np.float64)
    elif pa.types.is_floating(ty) or pa.types.is_integer(ty):
        k = col.to_numpy().astype(np.float64)
        if pa.types.is_integer(ty) and k.size and np.abs(k).max() > 2**53:
            return None
    else:
        return None
    if np.isnan(k).any():
        return None
    lens = np.fromiter((t.num_rows for t in tables), np.int64, len(tables))
    seg = np.repeat(np.arange(len(tables), dtype=np.int64), lens)
    order = np.lexsort((-k if descending else k, seg))  # stable: ties keep their row order
    if n_top is not None:
        start = np.r_[0, np.cumsum(lens)[:-1]]
        keep = np.arange(order.size) - start[seg] < n_top  # seg[order] == seg: sorted by table
        order = order[keep]
        lens = np.minimum(lens, n_top)
    return cat.take(pa.array(order, pa.int64())), lens


def _sorted_many(
    tables: Sequence[pa.Table], key: str, *, descending: bool = False, n_top: int | None = None
) -> list[pa.Table] | None:
    """``t.sort_by([(key, order)]).slice(0, n_top)`` of every table (Arrow's stable sort: ties
    in row order) in one NumPy sort by (table, key) and one ``take`` (:func:`_sorted_cat`).

    ``None`` (sort each table) unless the tables share one schema and ``key`` is a float,
    integer or ``date32`` column without nulls or NaN (where Arrow's and NumPy's orders are
    the same; integers beyond 2**53 are left to Arrow).
    """
    got = _sorted_cat(tables, key, descending=descending, n_top=n_top)
    if got is None:
        return None
    out, lens = got
    at = np.r_[0, np.cumsum(lens)]
    return [out.slice(int(at[i]), int(lens[i])) for i in range(len(tables))]


def _sorted_records(
    tables: Sequence[pa.Table], key: str, *, descending: bool = False, n_top: int | None = None
) -> list[list[dict[str, Any]]] | None:
    """``_records_many(_sorted_many(tables, ...))``: the records of the sorted rows of the
    chunk in one :func:`~chainlens.analysis.json_records` pass over :func:`_sorted_cat`'s
    table (no slice per table, no second concatenation; each record is built from its own
    row's values only, so a slice of the records is the table's). ``None`` when
    :func:`_sorted_many` declines."""
    got = _sorted_cat(tables, key, descending=descending, n_top=n_top)
    if got is None:
        return None
    from chainlens.analysis import json_records

    out, lens = got
    recs = json_records(out, _jsonable) if out.num_rows else []
    at = np.r_[0, np.cumsum(lens)].tolist()
    return [recs[at[i] : at[i + 1]] for i in range(len(tables))]


def _oi_change_one(
    changes: pa.Table, tables: dict[str, pa.Table], u: str, d: dt.date
) -> tuple[dt.date | None, list[dict[str, Any]], list[dict[str, Any]],
           list[dict[str, Any]] | None, list[dict[str, Any]]]:  # fmt: skip
    """The overnight-OI-change parts of one document from ``OIResult.changes`` (the
    per-name reference of :func:`_oi_change_parts`): ``(change_session, changes,
    change_by_strike, change_by_strike_live, vol_oi_top)``; the ``oi_changes`` table is put
    in ``tables``."""
    ch = changes
    sessions = sorted(pc.unique(ch.column("trade_date")).to_pylist()) if ch.num_rows else []
    last_change: list[dict[str, Any]] = []
    change_by_strike: list[dict[str, Any]] = []
    change_by_strike_live: list[dict[str, Any]] | None = None
    change_session = None
    if len(sessions) >= 2:
        change_session = sessions[-2]  # OI(D) - OI(D-1): the change attributed to D-1 (SPEC)
        c = ch.filter(pc.equal(ch.column("trade_date"), pa.scalar(change_session, pa.date32())))
        c = c.filter(pc.is_valid(c.column("oi_change")))
        tables["oi_changes"] = _with_underlying(
            c.select(["symbol", "expiry", "strike", "right", "oi_change", "volume", "vol_oi"]), u, d
        )
        cc = c.append_column("abs_change", pc.abs(c.column("oi_change"))).sort_by(
            [("abs_change", "descending")]
        )
        change_by_strike = _change_by_strike(c)
        live = pc.greater(c.column("expiry"), pa.scalar(d, pa.date32()))
        if not pc.all(live).as_py():  # contracts expiring on or before d: a live-only version
            change_by_strike_live = _change_by_strike(c.filter(live))
        last_change = _records(
            cc.slice(0, 40),
            [
                "symbol",
                "expiry",
                "strike",
                "right",
                "oi_change",
                "open_interest",
                "volume",
                "vol_oi",
            ],
        )
    today_vol = (
        ch.filter(pc.equal(ch.column("trade_date"), pa.scalar(d, pa.date32())))
        if ch.num_rows
        else ch
    )
    hot = []
    if today_vol.num_rows:
        tv = today_vol.filter(pc.is_valid(today_vol.column("vol_oi"))).sort_by(
            [("vol_oi", "descending")]
        )
        hot = _records(
            tv.slice(0, 15),
            [
                "symbol",
                "expiry",
                "strike",
                "right",
                "volume",
                "open_interest",
                "vol_oi",
                "vol_oi_band",
                "volume_multiple",
            ],
        )
    return change_session, last_change, change_by_strike, change_by_strike_live, hot


def _finish(
    pr: _Prepared,
    config: PipelineConfig,
    orr: OIResult,
    fr: Any | None = None,
    pre: dict[str, Any] | None = None,
) -> UnderlyingResult:
    """The steps after the OI step (flow, OI document, realized vol), and the result.

    ``fr``: the window's :class:`~chainlens.flow.FlowResult` when the batched path computed
    it (:func:`_flow_chunk`), else it is computed here. ``pre``: record lists of the document
    built for the whole chunk (:func:`_doc_parts`, keys ``"flow.<part>"`` and ``"oi.<part>"``);
    a part not in it is built here."""
    pre = pre or {}

    def part(key: str, build: Any) -> Any:
        return pre[key] if key in pre else build()

    window = pr.window
    u, d, hist = window.underlying, window.session, window.history
    today, ca, adoc, missing, tables = pr.today, pr.ca, pr.adoc, pr.missing, pr.tables
    prints, n_sessions, fcfg, enriched = (
        pr.prints, pr.n_sessions, pr.fcfg, pr.enriched,
    )  # fmt: skip
    flow_doc: dict[str, Any] | None = None

    # ---------------------------------------------------------------- flow
    if enriched is not None:
        if fr is None:
            from chainlens.flow import analyze_flow

            fr = analyze_flow(
                enriched,
                today,
                history=hist,
                prints=prints,
                config=fcfg,
                contract_views=False,
                changes=_oi_changes_for_flow(pr, orr),
                enriched=True,
            )
        f = fr
        flow_doc = {
            "totals": _jsonable(fr.totals),
            "side_mix": _jsonable(fr.side_mix),
            "notable": part(
                "flow.notable",
                lambda: _records(f.notable.slice(0, config.notable_top_n), _NOTABLE_COLUMNS),
            ),
            "by_expiry": part("flow.by_expiry", lambda: _records(f.by_expiry.sort_by("expiry"))),
            "top_strikes": part(
                "flow.top_strikes",
                lambda: _records(f.by_strike.sort_by([("total_usd", "descending")]).slice(0, 40)),
            ),
            "darkpool": part(
                "flow.darkpool",
                lambda: (
                    _records(f.darkpool)[0]
                    if f.darkpool is not None and f.darkpool.num_rows
                    else None
                ),
            ),
            "twap": part("flow.twap", lambda: _records(f.twap) if f.twap is not None else []),
        }
        flow_doc["net_by_strike"] = part(
            "flow.net_by_strike", lambda: _records(_net_by_strike(f.by_strike))
        )
        tables["flow_by_strike"] = part(
            "tables.flow_by_strike", lambda: _with_underlying(f.by_strike, u, d)
        )
        tables["notable"] = part(
            "tables.notable",
            lambda: _with_underlying(_selected(f.notable, _NOTABLE_COLUMNS), u, d),
        )
    else:
        missing.append("trades")
        if prints is not None:
            from chainlens.flow import darkpool_summary

            dp = darkpool_summary(prints)
            flow_doc = None
            adoc["darkpool_only"] = _records(dp)[0] if dp.num_rows else None

    facts: _Facts = pre.get("window.facts") or _Facts()
    spot_series = facts.spot_series if facts.spot_series is not None else _spot_series(hist)
    last_change: list[dict[str, Any]] = []
    change_by_strike: list[dict[str, Any]] = []
    change_by_strike_live: list[dict[str, Any]] | None = None
    change_session = None
    hot: list[dict[str, Any]] = []
    if "oi.change_session" in pre:  # built for the whole chunk (_oi_change_parts)
        change_session = pre["oi.change_session"]
        if change_session is not None:
            tables["oi_changes"] = part(
                "tables.oi_changes", lambda: _with_underlying(pre["oi.changes_table"], u, d)
            )
            last_change = pre["oi.changes"]
            change_by_strike = pre["oi.change_by_strike"]
            change_by_strike_live = pre["oi.change_by_strike_live"]
        hot = pre["oi.vol_oi_top"]
    else:
        change_session, last_change, change_by_strike, change_by_strike_live, hot = _oi_change_one(
            orr.changes, tables, u, d
        )
    oi_doc = {
        "sessions": n_sessions,
        "change_session": None if change_session is None else change_session.isoformat(),
        "changes": last_change,
        "change_by_strike": change_by_strike,
        **(
            {}
            if change_by_strike_live is None
            else {"change_by_strike_live": change_by_strike_live}
        ),
        "vol_oi_top": hot,
        "clusters": part("oi.clusters", lambda: _records(orr.clusters.slice(0, 10))),
        "accumulation": part("oi.accumulation", lambda: _records(orr.accumulation.slice(0, 20))),
        "rolls": part("oi.rolls", lambda: _records(orr.rolls.slice(0, 20))),
        "opposite": part("oi.opposite", lambda: _records(orr.opposite.slice(0, 10))),
        "term": part("oi.term", lambda: _records(orr.term)),
        "term_signals": part("oi.term_signals", lambda: _records(orr.term_signals)),
        "pcr": next(iter(part("oi.pcr", lambda: _records(orr.pcr))), None),
        "events": part("oi.events", lambda: _records(orr.events)),
        "summary": _jsonable(orr.summary),
        # issue 11: spot per stored session (ISO date -> USD), for signals dated in the past
        "spot_by_session": {k.isoformat(): v for k, v in zip(*spot_series, strict=True) if v == v},
    }
    for name in ("accumulation", "rolls", "clusters"):
        t = getattr(orr, name)
        if t.num_rows:
            key = "tables." + name
            tables[name] = pre[key] if key in pre else _with_underlying(t, u, d)

    # ---------------------------------------------------------------- realized vol
    if facts.bars_done:
        got = facts.bars
    else:
        bars = _bars_for(window, config.bar_sessions)
        got = None if bars is None else (
            bars.column("close").to_numpy(zero_copy_only=False),
            bars.num_rows > 0 and bars.column("trade_date")[-1].as_py() == d,
        )  # fmt: skip
    if got is not None and got[0].size >= 3:
        closes = got[0]
        rv = {"value": realized_vol(closes), "source": "bars", "returns": int(closes.size - 1)}
        close = float(closes[-1]) if got[1] else None
    else:
        if got is None:
            missing.append("bars")
        spots = spot_series[1]
        rv = {
            "value": realized_vol(spots),
            "source": "chain_spot",
            "returns": max(0, len(spots) - 1),
        }
        close = None
    doc: Any = {  # the UnderlyingDoc (chainlens.results), built as JSON-ready parts
        "doc_version": DOC_VERSION,
        "underlying": u,
        "session": d.isoformat(),
        "close": close,
        "analysis": adoc,
        "flow": flow_doc,
        "oi": oi_doc,  # built from _records/_jsonable parts: JSON already
        "realized_vol": rv,
        "earnings": _earnings(window, adoc, hist, facts.oi_arrays),
        "prior_zone": _prior_zone_of(facts, hist, d, close if close is not None else ca.spot),
        "missing": missing,
    }
    # the large parts (analysis, flow, oi) are JSON-ready already; clean only the small ones
    big = ("analysis", "flow", "oi")
    doc = {**_jsonable({k: v for k, v in doc.items() if k not in big}), **{k: doc[k] for k in big}}
    return UnderlyingResult(underlying=u, session=d, doc=doc, tables=tables)


def _prior_zone_of(
    facts: _Facts, history: pa.Table, session: dt.date, close: float | None
) -> dict[str, Any] | None:
    """``prior_zone(history, session, close)``, from the chunk's facts when it has them."""
    if not facts.zone_done:
        return prior_zone(history, session, close)
    if close is None or not math.isfinite(close) or facts.zone is None:
        return None
    straddle, s_prev, head = facts.zone
    return _zone_doc(straddle, s_prev, close, dict(head))


def analyze_underlying(window: UnderlyingWindow, config: PipelineConfig) -> UnderlyingResult:
    """Analyze one underlying for one session. Pure: no I/O.

    Parameters
    ----------
    window
        The underlying's inputs (:class:`UnderlyingWindow`).
    config
        :class:`PipelineConfig`.

    Returns
    -------
    UnderlyingResult
        ``doc`` keys: ``doc_version``, ``underlying``, ``session``, ``analysis`` (the
        ``chainlens analyze`` object, docs/analyze-json.md), ``flow`` (``None`` without
        trades: totals of the side decomposition, side mix, notable prints, dark pool, top
        strikes by premium), ``oi`` (put/call ratios with seed-002 bands, last overnight OI
        changes, clusters, accumulation streaks, rolls, term structure; ``sessions`` = number of
        snapshots in the window), ``realized_vol`` (annualised, decimal; with its source and
        number of returns), ``earnings`` (``None`` without an earnings event), ``missing``
        (list of what the inputs lacked: ``trades``, ``prints``, ``history``, ``iv``, ``bars``).

    Raises
    ------
    InputError
        When the window holds no snapshot of ``session``.
    """
    from chainlens.oi import analyze_oi

    pr = _prepare(window, config)
    orr = analyze_oi(
        window.history, window.session, events=window.events, premium=pr.by_ticker,
        config=pr.ocfg,
    )  # fmt: skip
    return _finish(pr, config, orr)


def analyze_underlyings(
    windows: Sequence[UnderlyingWindow],
    config: PipelineConfig,
    *,
    enriched: list[pa.Table | None] | None = None,
) -> list[UnderlyingResult | ChainlensError]:
    """:func:`analyze_underlying` of several windows, the OI step batched. Pure: no I/O.

    Parameters
    ----------
    windows
        Inputs of distinct underlyings (:class:`UnderlyingWindow`).
    config
        :class:`PipelineConfig`.
    enriched
        A list to receive, per window in order, its trades as enriched by the flow step
        (:func:`chainlens.flow.enrich_trades` under ``config.flow``; None: no trades, or the
        window failed before): the run's net-delta scanner reuses their sides.

    Returns
    -------
    list
        Per window, in order: what ``analyze_underlying(window, config)`` returns (an equal
        :class:`UnderlyingResult`: every table and document), or the
        :class:`~chainlens.errors.ChainlensError` it raises.

    Notes
    -----
    The windows of one session go through :func:`chainlens.oi.analyze_oi_many` together
    (one pass of the OI kernels instead of one per underlying; each result equal to
    :func:`chainlens.oi.analyze_oi` of that window). When the batched call fails, the OI step
    runs per window, so a bad window fails alone.

    The flow runs once per chunk (:mod:`chainlens.batched`): one enrichment pass over the
    concatenated trades (sides, premium, packages, bursts), one moneyness pass, and the premium
    decompositions (whole, per ticker, per expiry, per strike) as segmented ``np.bincount``
    sums keyed by (underlying, expiry, strike). Those sums add each group's premiums in row
    order where ``decompose_premium`` uses Polars' blocked sum: floats agree to 1e-12 relative
    (measured ~1e-13 at worst), everything else exactly (``tests/test_batched_kernels.py``).
    The print events, notable prints, dark pool and TWAP programs of the chunk are one call
    each too (:func:`chainlens.batched.print_events_many`, :func:`~chainlens.batched.notable_many`,
    :func:`~chainlens.batched.darkpool_many`). When the chunk pass fails, each window's flow
    runs alone. The chain analysis runs once per chunk too
    (:func:`chainlens.analysis.analyze_chains`: contract-level greeks and exposures, gamma
    profiles and surfaces batched; each analysis bit for bit that of the window alone); its
    aggregates and the per-name document stay per window; :data:`STAGE_CPU` measures every
    stage.
    """
    import time

    from chainlens.oi import analyze_oi, analyze_oi_many

    t0 = time.process_time()
    out: list[UnderlyingResult | ChainlensError | None] = [None] * len(windows)
    ready: list[tuple[int, _Prepared]] = []
    todays: list[tuple[int, pa.Table]] = []
    counts: dict[int, int] = {}
    snaps = _todays(windows)
    for i, w in enumerate(windows):  # a loop over underlyings: each one's snapshot
        try:
            if snaps is None:
                todays.append((i, _today(w)))
                continue
            g = snaps[i]
            if isinstance(g, ChainlensError):
                raise g
            todays.append((i, g[0]))
            counts[i] = g[1]
        except ChainlensError as exc:
            out[i] = exc
    # the contract-level step (greeks, exposures) of the chunk's snapshots in one pass
    from chainlens.analysis import analyze_chains

    chains = analyze_chains([t for _, t in todays], config.analysis)
    for (i, today), an in zip(todays, chains, strict=True):  # a loop over underlyings
        try:
            if isinstance(an, ChainlensError):
                raise an
            p = _prepare(windows[i], config, trades=False, records=False, today=today, analyses=an,
                         n_sessions=counts.get(i))  # fmt: skip
            ready.append((i, p))
        except ChainlensError as exc:
            out[i] = exc
    _chain_records([p for _, p in ready])
    _chain_tables([p for _, p in ready])
    t0 = _stage("chain", t0)
    # the trades of the whole chunk enriched in one pass; a failure: each window alone
    try:
        _enrich_chunk([p for _, p in ready], config)
        batched_flow = True
    except Exception:  # any failure: the per-window path decides
        batched_flow = False
        left: list[tuple[int, _Prepared]] = []
        for i, p in ready:  # a loop over underlyings
            try:
                _enrich_one(p, config)
                left.append((i, p))
            except ChainlensError as exc:
                out[i] = exc
        ready = left
    t0 = _stage("flow_enrich", t0)
    if enriched is not None:
        enriched[:] = [None] * len(windows)
        for i, p in ready:
            enriched[i] = p.enriched
    by_session: dict[tuple[dt.date, OIConfig], list[tuple[int, _Prepared]]] = {}
    for i, p in ready:
        by_session.setdefault((p.window.session, p.ocfg), []).append((i, p))
    for (d, ocfg), group in by_session.items():
        orrs: list[OIResult | ChainlensError] | None = None
        if len(group) > 1:
            try:
                orrs = list(
                    analyze_oi_many(
                        [p.window.history for _, p in group], d,
                        events=[p.window.events for _, p in group],
                        premiums=[p.by_ticker for _, p in group], config=ocfg,
                    )
                )  # fmt: skip
            except Exception:  # any failure: the per-window path decides
                orrs = None
        if orrs is None:
            orrs = []
            for _, p in group:  # a loop over underlyings
                w = p.window
                try:
                    orrs.append(
                        analyze_oi(w.history, d, events=w.events, premium=p.by_ticker, config=ocfg)
                    )
                except ChainlensError as exc:
                    orrs.append(exc)
        t0 = _stage("oi", t0)
        ok = [k for k, o in enumerate(orrs) if not isinstance(o, ChainlensError)]
        frs: list[Any | None] = [None] * len(group)
        if batched_flow:
            try:
                got = _flow_chunk([group[k][1] for k in ok], [orrs[k] for k in ok])  # type: ignore[misc]
                for k, fr in zip(ok, got, strict=True):
                    frs[k] = fr
            except Exception:  # any failure: the per-window path decides
                frs = [None] * len(group)
        t0 = _stage("flow", t0)
        try:  # the table slices of the documents, once per chunk
            pre = _doc_parts([p for _, p in group], orrs, frs, config)
        except Exception:  # any failure: each document builds its own parts
            pre = [{} for _ in group]
        for k, (i, p) in enumerate(group):  # a loop over underlyings: the documents
            orr = orrs[k]
            if isinstance(orr, ChainlensError):
                out[i] = orr
                continue
            try:
                out[i] = _finish(p, config, orr, frs[k], pre[k])
            except ChainlensError as exc:
                out[i] = exc
        t0 = _stage("docs", t0)
    return [r for r in out if r is not None]
