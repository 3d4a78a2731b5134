"""Measure every rule of :data:`chainlens.outcomes.RULES` on the stored history.

One event builder per rule ``kind``; each returns the events of one underlying as a list of
dicts with at least ``session`` and ``hit`` (and ``baseline_hit`` where the baseline is paired
with the event). The definitions are those of :mod:`chainlens.outcomes._rules` (also in
``docs/outcomes.md``).

Only the sessions in ``[start, end]`` are read: an event counts when its signal session *and*
its outcome session lie in the range (``--to`` is a hard edge, so a range is reproducible).
The store is read through its public API only (``session_dates``, ``underlyings``,
``chain_history``, ``trades``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import InputError
from chainlens.outcomes._levels import LevelHistory, levels_from_history
from chainlens.outcomes._rules import RULE_NAMES, RULES, OutcomeRule, rule_by_name
from chainlens.outcomes._stats import wilson_interval

if TYPE_CHECKING:
    from chainlens.analysis import AnalysisConfig
    from chainlens.store import Store

__all__ = [
    "MIN_EVENTS",
    "OutcomeResult",
    "measure_outcomes",
    "measure_underlying",
    "oi_signal_events",
    "flow_labels",
    "stored_docs",
    "stored_flow_labels",
]

#: Below this many events a rate is stated with its n but called too small to judge.
MIN_EVENTS = 10
#: Contracts with less OI than this are left out of the OI-held baselines (contracts).
BASELINE_MIN_OI = 50
#: Contracts expiring within this many calendar days are left out of the OI-held baselines
#: (the accumulation streaks' own ``min_dte``, :class:`chainlens.oi.OIConfig`).
BASELINE_MIN_DTE = 10


@dataclass(slots=True)
class OutcomeResult:
    """One rule measured on one underlying over a range of sessions.

    ``hit_rate = hits / n``; ``baseline_rate = baseline_hits / baseline_n``; ``ci95_*`` is the
    Wilson 95% interval of ``hit_rate``. Every rate is ``None`` when its n is 0.
    """

    rule: str
    underlying: str
    start: dt.date | None
    end: dt.date | None
    n: int
    hits: int
    baseline_n: int
    baseline_hits: float
    noun: str = "sessions"
    events: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline_hits / self.baseline_n if self.baseline_n else None

    def to_json(self, *, detail: bool = False) -> dict[str, Any]:
        """The ``chainlens outcomes --json`` object (SPEC keys first, then additions)."""
        lo, hi = wilson_interval(self.hits, self.n)
        bh: float | int = self.baseline_hits
        if float(bh).is_integer():
            bh = int(bh)
        out: dict[str, Any] = {
            "rule": self.rule,
            "underlying": self.underlying,
            "from": None if self.start is None else self.start.isoformat(),
            "to": None if self.end is None else self.end.isoformat(),
            "n": self.n,
            "hits": self.hits,
            "hit_rate": self.hit_rate,
            "baseline_hits": bh,
            "baseline_rate": self.baseline_rate,
            "ci95_low": lo,
            "ci95_high": hi,
            "baseline_n": self.baseline_n,
            "enough": self.n >= MIN_EVENTS,
            **self.extra,
        }
        if detail:
            out["events"] = [
                {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in e.items()}
                for e in self.events
            ]
        return out

    def sentence(self) -> str:
        """One line for a report: "max_pain_pin: 9 of 31 expiries hit (29%), baseline 5 of 31"."""
        if self.n == 0:
            return f"{self.rule}: no {self.noun} to measure yet."
        bh = self.baseline_hits
        bhs = f"{bh:.0f}" if float(bh).is_integer() else f"{bh:.1f}"
        s = (
            f"{self.rule}: {self.hits} of {self.n} {self.noun} hit ({100 * self.hits / self.n:.0f}%), "
            f"baseline {bhs} of {self.baseline_n}"
        )
        if self.n < MIN_EVENTS:
            s += f"; n={self.n} is too small to say anything"
        return s + "."


# --------------------------------------------------------------------------- the context


@dataclass(slots=True)
class _Ctx:
    """What the builders share for one underlying: sessions, closes, levels, OI panel."""

    underlying: str
    sessions: list[dt.date]
    close: np.ndarray  # close per session (spot of the default snapshot)
    lv: LevelHistory
    hist: pa.Table
    store: Store
    _oi: tuple[dict[str, int], np.ndarray, pa.Table] | None = None

    def idx(self, d: dt.date) -> int:
        return self.sessions.index(d)

    def oi_panel(self) -> tuple[dict[str, int], np.ndarray, pa.Table]:
        """(symbol -> row, OI matrix [symbol, session] with NaN where not listed, contracts)."""
        if self._oi is None:
            h = self.hist
            enc = pc.dictionary_encode(h.column("symbol")).combine_chunks()
            codes = enc.indices.to_numpy(zero_copy_only=False)
            syms = enc.dictionary.to_pylist()
            sess = np.asarray(self.sessions, dtype="datetime64[D]")
            td = h.column("trade_date").to_numpy(zero_copy_only=False).astype("datetime64[D]")
            col = np.searchsorted(sess, td)
            oi = pc.fill_null(h.column("open_interest").cast(pa.float64()), np.nan).to_numpy()
            mat = np.full((len(syms), len(sess)), np.nan)
            mat[codes, col] = oi
            # one row per symbol: its contract terms (first occurrence)
            first = np.unique(codes, return_index=True)[1]
            terms = h.take(pa.array(first)).select(["symbol", "expiry", "strike", "right"])
            self._oi = ({s: i for i, s in enumerate(syms)}, mat, terms)
        return self._oi


def _ret(close: np.ndarray, i: int, j: int) -> float:
    return float(close[j] / close[i] - 1.0)


def _sign_hit(label: str, r: float) -> bool:
    return (label == "bullish" and r > 0) or (label == "bearish" and r < 0)


# --------------------------------------------------------------------------- builders


def _pin(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    """max_pain_pin: each expiry E that is a stored session, MP(E) from the session before."""
    tol = float(params["tol"])
    ex = ctx.lv.expiries
    s_col = ex.column("session").to_pylist()
    e_col = ex.column("expiry").to_pylist()
    mp_col = ex.column("max_pain").to_pylist()
    both = [
        (c or 0) > 0 and (p or 0) > 0
        for c, p in zip(
            ex.column("call_oi").to_pylist(), ex.column("put_oi").to_pylist(), strict=True
        )
    ]
    mp_of = {(s, e): (m, b) for s, e, m, b in zip(s_col, e_col, mp_col, both, strict=True)}
    events = []
    for j in range(1, len(ctx.sessions)):  # one iteration per session
        e = ctx.sessions[j]
        before = ctx.sessions[j - 1]
        mp, two_sided = mp_of.get((before, e), (None, False))
        if mp is None or not math.isfinite(mp):
            continue
        if not two_sided:
            params["_one_sided"].append(e)
            continue
        c, pc_ = float(ctx.close[j]), float(ctx.close[j - 1])
        events.append(
            {
                "session": e,
                "outcome_session": e,
                "expiry": e,
                "max_pain": mp,
                "max_pain_session": before,
                "close": c,
                "prev_close": pc_,
                "distance_pct": 100 * (c / mp - 1),
                "hit": abs(c - mp) <= tol * mp,
                "baseline_hit": abs(c - pc_) <= tol * pc_,
            }
        )
    return events


def _walls(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    lv = ctx.lv.levels
    cw = lv.column("call_wall").to_pylist()
    pw = lv.column("put_wall").to_pylist()
    events = []
    for i in range(len(ctx.sessions) - 1):
        if cw[i] is None or pw[i] is None:
            continue
        s0, s1 = float(ctx.close[i]), float(ctx.close[i + 1])
        half = (cw[i] - pw[i]) / 2
        events.append(
            {
                "session": ctx.sessions[i],
                "outcome_session": ctx.sessions[i + 1],
                "put_wall": pw[i],
                "call_wall": cw[i],
                "close": s0,
                "next_close": s1,
                "hit": pw[i] <= s1 <= cw[i],
                "baseline_hit": abs(s1 - s0) <= half,
            }
        )
    return events


def _gamma(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    zg = ctx.lv.levels.column("zero_gamma").to_pylist()
    c = ctx.close
    idx = [i for i in range(1, len(c) - 1) if zg[i] is not None]
    if not idx:
        return []
    nxt = np.array([abs(_ret(c, i, i + 1)) for i in idx])
    prv = np.array([abs(_ret(c, i - 1, i)) for i in idx])
    m = float(np.median(nxt))
    events = []
    for k, i in enumerate(idx):
        below = bool(c[i] < zg[i])
        big = bool(nxt[k] > m)
        events.append(
            {
                "session": ctx.sessions[i],
                "outcome_session": ctx.sessions[i + 1],
                "zero_gamma": zg[i],
                "close": float(c[i]),
                "regime": "below" if below else "above",
                "next_abs_return_pct": 100 * float(nxt[k]),
                "median_abs_return_pct": 100 * m,
                "hit": below == big,
                "baseline_hit": bool(prv[k] > m) == big,
            }
        )
    return events


def _gamma_extra(events: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for reg in ("below", "above"):
        xs = [e["next_abs_return_pct"] for e in events if e["regime"] == reg]
        out[f"n_{reg}"] = len(xs)
        out[f"mean_abs_return_{reg}_pct"] = float(np.mean(xs)) if xs else None
    return out


#: ``{session: (naive label, side label)}`` of one underlying: the whole-day flow labels of the
#: sessions whose stored document gives them (:func:`stored_flow_labels`).
FlowLabels = Mapping[dt.date, tuple[str, str]]


def _flow_rows(ctx: _Ctx, known: FlowLabels | None = None) -> list[tuple[int, str, str]]:
    """(session index, naive label, side label) for every session with trades and a next one.

    The labels are those of :func:`chainlens.flow.decompose_premium` over the session's trades
    enriched under the default rules (``by=()``: the whole day). A session in ``known`` takes
    its labels from there (the stored document's ``flow.totals``, the same figures:
    :func:`stored_flow_labels`); the others read and classify the session's trades.
    """
    from chainlens.flow import decompose_premium, enrich_trades

    out = []
    for i in range(len(ctx.sessions) - 1):  # one iteration per session
        if known is not None and ctx.sessions[i] in known:
            naive, side = known[ctx.sessions[i]]
            out.append((i, naive, side))
            continue
        t = ctx.store.trades(ctx.underlying, ctx.sessions[i])
        if t.num_rows == 0:
            continue
        d = decompose_premium(enrich_trades(t), by=())
        row = d.to_pylist()[0]
        out.append((i, str(row["naive_label"]), str(row["side_label"])))
    return out


#: The document keys the outcome measures read from a stored document: the flow rules' daily
#: labels (:func:`_flow_rows`) and what a report watched (:func:`_watch_docs`: the contracts
#: :func:`chainlens.report._watch.watch_items` reads, and the walls :func:`_watch` checks).
_DOC_FIELDS = (
    "underlying", "session", "flow.totals.trades", "flow.totals.naive_label",
    "flow.totals.side_label", "analysis.spot", "analysis.levels.call_wall",
    "analysis.levels.put_wall", "oi.accumulation", "oi.rolls", "oi.spot_by_session",
)  # fmt: skip


def stored_docs(
    store: Store, sessions: Sequence[dt.date], underlyings: Collection[str]
) -> dict[str, dict[dt.date, dict[str, Any] | None]]:
    """The stored documents of ``underlyings`` on the ``sessions`` with stored pipeline
    documents, pruned to what the outcome measures read (:data:`_DOC_FIELDS`):
    ``{underlying: {session: doc or None}}``, None where that session's run stored no document
    of the name. One pruned scan of each session's documents
    (:meth:`~chainlens.store.Store.read_doc_fields`) instead of reading every name's whole
    document of every session (and classifying its trades again) one by one.

    A session without stored documents is absent (the measures then read the chain and the
    trades, as before).
    """
    from chainlens.results import RESULTS_NAME

    want = set(underlyings)
    idx = store.results_index().to_pylist()
    have = {r["session"] for r in idx if r["name"] == RESULTS_NAME and r["part"] == "docs"}
    days = sorted(set(sessions) & have)
    out: dict[str, dict[dt.date, dict[str, Any] | None]] = {u: dict.fromkeys(days) for u in want}
    for d in days:  # one scan per session
        for doc in store.read_doc_fields(d, list(_DOC_FIELDS)):
            u = doc.get("underlying")
            if u in want:
                out[str(u)][d] = dict(doc)
    return out


def flow_labels(docs: Mapping[dt.date, Mapping[str, Any] | None]) -> dict[dt.date, tuple[str, str]]:
    """The whole-day flow labels ``{session: (naive_label, side_label)}`` of one underlying's
    stored documents (:func:`stored_docs`).

    A session is given only where the document holds totals over at least one trade
    (``flow.totals.trades > 0``): the pipeline's flow totals are
    ``decompose_premium(enrich_trades(trades), by=())`` under the default rules, the labels
    :func:`_flow_rows` computes (tested name by name against it). Anything else (no stored
    document, no trades) is left to :func:`_flow_rows` to compute.
    """
    out: dict[dt.date, tuple[str, str]] = {}
    for d, doc in docs.items():
        flow: Mapping[str, Any] = (doc or {}).get("flow") or {}
        tot: Mapping[str, Any] = flow.get("totals") or {}
        naive, side = tot.get("naive_label"), tot.get("side_label")
        if (tot.get("trades") or 0) > 0 and naive and side:
            out[d] = (str(naive), str(side))
    return out


def stored_flow_labels(
    store: Store, sessions: Sequence[dt.date], underlyings: Collection[str]
) -> dict[str, dict[dt.date, tuple[str, str]]]:
    """:func:`flow_labels` of each of ``underlyings`` (``{underlying: {session: labels}}``;
    names with none left out)."""
    docs = stored_docs(store, sessions, underlyings)
    return {u: lab for u, ds in docs.items() if (lab := flow_labels(ds))}


def _flow(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    for i, naive, side in params["_flow_rows"]:
        r = _ret(ctx.close, i, i + 1)
        if rule.kind == "flow":
            if side == "neutral":
                continue
        elif side == naive or "neutral" in (side, naive):
            continue  # flow_divergence: only days whose two labels disagree
        events.append(
            {
                "session": ctx.sessions[i],
                "outcome_session": ctx.sessions[i + 1],
                "side_label": side,
                "naive_label": naive,
                "next_return_pct": 100 * r,
                "hit": _sign_hit(side, r),
                "baseline_hit": _sign_hit(naive, r),
            }
        )
    return events


def _horizon(ctx: _Ctx, i: int, horizon: int, expiry: dt.date | None) -> int | None:
    """Index of the outcome session: i + min(horizon, stored sessions left [before expiry])."""
    j = min(i + horizon, len(ctx.sessions) - 1)
    if expiry is not None:
        while j > i and ctx.sessions[j] > expiry:
            j -= 1
    return j if j > i else None


def oi_signal_events(hist: pa.Table, source: str) -> dict[str, list[dict[str, Any]]]:
    """Accumulation streaks or rolls as first reported, per underlying, over a chain history
    of one or many underlyings (one OI call per session for all of them).

    Every row reported on every session: the row of :func:`chainlens.oi.accumulation` or
    :func:`chainlens.oi.detect_rolls` (``OIConfig`` defaults) plus ``session`` (the session
    that reported it) and ``first``: True on the first session of a run of consecutive
    sessions in which the same contract (``accumulation``) or the same kind/from/to pair
    (``rolls``) is reported. The signal rules count the ``first`` rows (one event per run);
    ``watch_items`` reads every row (what each session's report listed).
    """
    from chainlens.oi import OIConfig, accumulation_of, detect_rolls

    cfg = OIConfig()
    out: dict[str, list[dict[str, Any]]] = {}
    if hist.num_rows == 0:
        return out
    # enough snapshots for the longest test (a streak of min_sessions changes; a roll window)
    span = max(cfg.streak_min_sessions, cfg.roll_window) + 3
    td = hist.column("trade_date")
    days = sorted(pc.unique(td).to_pylist())
    prev: set[tuple[Any, ...]] = set()
    for i, d in enumerate(days):  # one iteration per session (all underlyings at once)
        lo = days[max(0, i - span + 1)]
        w = hist.filter(
            pc.and_(
                pc.greater_equal(td, pa.scalar(lo, pa.date32())),
                pc.less_equal(td, pa.scalar(d, pa.date32())),
            )
        )
        if source == "rolls":
            t = detect_rolls(w, as_of=d, config=cfg)
            t = t.filter(pc.is_valid(t.column("to_symbol"))) if t.num_rows else t
            keys = ["underlying", "kind", "from_symbol", "to_symbol"]
        else:
            t = accumulation_of(w, d, cfg)
            keys = ["underlying", "symbol"]
        now: set[tuple[Any, ...]] = set()
        for r in t.to_pylist():
            key = tuple(r[k] for k in keys)
            now.add(key)
            out.setdefault(r["underlying"], []).append(
                {**r, "session": d, "first": key not in prev}
            )
        prev = now
    return out


def _oi_sources(ctx: _Ctx, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach the per-underlying session index ``i`` to events of :func:`oi_signal_events`."""
    pos = {d: i for i, d in enumerate(ctx.sessions)}
    return [
        {"i": pos[e["session"]], **e}
        for e in events
        if e["session"] in pos and e.get("first", True)
    ]


def _deep(right: Any, strike: Any, spot: np.ndarray | float, otm: float) -> Any:
    return np.where(right == "C", strike >= (1 + otm) * spot, strike <= (1 - otm) * spot)


def _oi_held(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    source = str(params["source"])
    horizon, frac = int(params["horizon"]), float(params["hold_fraction"])
    otm = float(params.get("otm_pct", 0.0))
    rows, mat, _ = ctx.oi_panel()
    events = []
    src = params["_rolls"] if source == "rolls" else params["_acc"]
    for r in src:
        i = r["i"]
        sym = r["to_symbol"] if source == "rolls" else r["symbol"]
        expiry = r["to_expiry"] if source == "rolls" else r["expiry"]
        strike = r["to_strike"] if source == "rolls" else r["strike"]
        if source == "deep_otm" and not _deep(r["right"], strike, float(ctx.close[i]), otm):
            continue
        j = _horizon(ctx, i, horizon, expiry)
        k = rows.get(sym)
        if j is None or k is None:
            continue
        o0, o1 = mat[k, i], mat[k, j]
        if not (math.isfinite(o0) and math.isfinite(o1)) or o0 <= 0:
            continue
        ev = {
            "session": ctx.sessions[i],
            "symbol": sym,
            "expiry": expiry,
            "strike": strike,
            "right": r["right"],
            "oi": int(o0),
            "outcome_session": ctx.sessions[j],
            "oi_after": int(o1),
            "hit": bool(o1 >= frac * o0),
        }
        if source == "rolls":
            ev["kind"] = r["kind"]
        events.append(ev)
    return events


def _oi_baseline(
    ctx: _Ctx, params: dict[str, Any], events: list[dict[str, Any]]
) -> tuple[int, int]:
    """Share of all contracts (OI >= 50, >= 10 days to expiry) whose OI held, on the same
    signal sessions and horizons as the events (each contract once per session)."""
    rows, mat, terms = ctx.oi_panel()
    frac = float(params["hold_fraction"])
    otm = params.get("otm_pct") if params["source"] == "deep_otm" else None
    exp = terms.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    strike = terms.column("strike").to_numpy(zero_copy_only=False)
    right = np.asarray(terms.column("right").to_pylist(), dtype=object)
    n = hits = 0
    for i, j in sorted({(ctx.idx(e["session"]), ctx.idx(e["outcome_session"])) for e in events}):
        d = np.datetime64(ctx.sessions[i], "D")
        o0, o1 = mat[:, i], mat[:, j]
        ok = (
            np.isfinite(o0)
            & np.isfinite(o1)
            & (o0 >= BASELINE_MIN_OI)
            & ((exp - d).astype(int) >= BASELINE_MIN_DTE)
            & (exp >= np.datetime64(ctx.sessions[j], "D"))
        )
        if otm is not None:
            ok &= _deep(right, strike, float(ctx.close[i]), float(otm))
        n += int(ok.sum())
        hits += int((o1[ok] >= frac * o0[ok]).sum())
    return n, hits


def _held_share(ctx: _Ctx, i: int, j: int, frac: float) -> float | None:
    """Share of every contract (OI >= 50 on session i, >= 10 days to expiry, listed on j)
    whose OI(j) >= frac * OI(i); None when there is no such contract."""
    _, mat, terms = ctx.oi_panel()
    exp = terms.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    d = np.datetime64(ctx.sessions[i], "D")
    o0, o1 = mat[:, i], mat[:, j]
    ok = (
        np.isfinite(o0)
        & np.isfinite(o1)
        & (o0 >= BASELINE_MIN_OI)
        & ((exp - d).astype(int) >= BASELINE_MIN_DTE)
        & (exp >= np.datetime64(ctx.sessions[j], "D"))
    )
    return float((o1[ok] >= frac * o0[ok]).mean()) if ok.any() else None


def _watch_docs(ctx: _Ctx, params: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The document each session's report watched from: the stored pipeline document where
    ``chainlens run`` stored one, else one made of the same signals from the chain history
    (the OI rows reported that session, the chain's levels), so that
    :func:`chainlens.report._watch.watch_items` reads both the same way."""
    from chainlens._jsonsafe import jsonable
    from chainlens.results import RESULTS_NAME

    idx = ctx.store.results_index()
    stored = {
        d
        for n, d, p in zip(
            idx.column("name").to_pylist(),
            idx.column("session").to_pylist(),
            idx.column("part").to_pylist(),
            strict=True,
        )
        if n == RESULTS_NAME and p == "docs"
    }
    acc: dict[dt.date, list[dict[str, Any]]] = {}
    rolls: dict[dt.date, list[dict[str, Any]]] = {}
    for r in params["_acc_all"]:
        acc.setdefault(r["session"], []).append(r)
    for r in params["_rolls_all"]:
        rolls.setdefault(r["session"], []).append(r)
    lv = ctx.lv.levels
    cw, pw = lv.column("call_wall").to_pylist(), lv.column("put_wall").to_pylist()
    out: dict[int, dict[str, Any]] = {}
    given: Mapping[dt.date, Mapping[str, Any] | None] = params.get("_docs") or {}
    for i, d in enumerate(ctx.sessions[:-1]):  # one iteration per session
        doc = None
        if d in given:  # read already (stored_docs), pruned to what watch_items reads
            g = given[d]
            doc = {**g, "_from": "report"} if g is not None else None
        elif d in stored:
            docs = ctx.store.read_docs(d, ctx.underlying)
            doc = {**docs[0], "_from": "report"} if docs else None
        if doc is None:
            doc = {
                "session": d.isoformat(),
                "_from": "chain",
                "analysis": {
                    "spot": float(ctx.close[i]),
                    "levels": {"call_wall": cw[i], "put_wall": pw[i]},
                },
                "oi": jsonable({"accumulation": acc.get(d, []), "rolls": rolls.get(d, [])}),
            }
        out[i] = doc
    return out


def _watch(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    """watch_items: every watch item of every session, checked over the next k sessions."""
    from chainlens.report._watch import FOLLOWUP_THRESHOLDS, classify, watch_items

    horizon = int(params["horizon"])
    frac = FOLLOWUP_THRESHOLDS["followup_hold_fraction"][0]
    rows, mat, _ = ctx.oi_panel()
    rolled_from: dict[int, set[str]] = {}
    pos = {d: i for i, d in enumerate(ctx.sessions)}
    for r in params["_rolls_all"]:
        if r.get("kind") in ("bullish_roll", "bearish_roll") and r["session"] in pos:
            rolled_from.setdefault(pos[r["session"]], set()).add(str(r.get("from_symbol")))
    share: dict[tuple[int, int], float | None] = {}
    events: list[dict[str, Any]] = []
    for i, doc in _watch_docs(ctx, params).items():  # one iteration per session
        d = ctx.sessions[i]
        for it in watch_items(doc):  # a handful of items per session
            exp = dt.date.fromisoformat(str(it["expiry"])[:10])
            j = _horizon(ctx, i, horizon, exp)
            k = rows.get(str(it["symbol"]))
            if j is None:
                continue
            o0 = it.get("oi_then")
            if o0 is None and k is not None and math.isfinite(mat[k, i]):
                o0 = float(mat[k, i])
            o1 = None if k is None or not math.isfinite(mat[k, j]) else float(mat[k, j])
            rolled = any(it["symbol"] in rolled_from.get(x, ()) for x in range(i + 1, j + 1))
            status = classify(None if o0 is None else float(o0), o1, rolled)
            if (i, j) not in share:
                share[(i, j)] = _held_share(ctx, i, j, frac)
            base = share[(i, j)]
            events.append(
                {
                    "session": d,
                    "outcome_session": ctx.sessions[j],
                    "item": "contract",
                    "symbol": it["symbol"],
                    "right": it["right"],
                    "strike": it["strike"],
                    "expiry": exp,
                    "source": it["source"],
                    "from": doc["_from"],
                    "oi": o0,
                    "oi_after": o1,
                    "status": status,
                    "hit": status in ("confirmed", "rolled"),
                    "baseline_hit": 0.0 if base is None else base,
                }
            )
        lv = (doc.get("analysis") or {}).get("levels") or {}
        cw, pw = lv.get("call_wall"), lv.get("put_wall")
        if cw is None or pw is None:
            continue
        j = _horizon(ctx, i, horizon, None)
        if j is None:
            continue
        s0 = float(ctx.close[i])
        path = ctx.close[i + 1 : j + 1]
        for name, level, holds in (
            ("call_wall", float(cw), lambda x, lvl: bool(np.all(x <= lvl))),
            ("put_wall", float(pw), lambda x, lvl: bool(np.all(x >= lvl))),
        ):
            mirror = 2 * s0 - level
            mirror_holds = np.all(path >= mirror) if name == "call_wall" else np.all(path <= mirror)
            held = holds(path, level)
            events.append(
                {
                    "session": d,
                    "outcome_session": ctx.sessions[j],
                    "item": name,
                    "level": level,
                    "source": "flow verdict",
                    "from": doc["_from"],
                    "close": s0,
                    "outcome_close": float(ctx.close[j]),
                    "status": "held" if held else "broken",
                    "hit": held,
                    "baseline_hit": bool(mirror_holds),
                }
            )
    return events


def _watch_extra(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per status and the hit rates of contracts and of walls."""
    status: dict[str, int] = {}
    for e in events:
        status[e["status"]] = status.get(e["status"], 0) + 1
    out: dict[str, Any] = {"status_counts": status}
    for kind, sel in (("contracts", "contract"), ("walls", None)):
        xs = [e for e in events if (e["item"] == sel if sel else e["item"] != "contract")]
        h = sum(bool(e["hit"]) for e in xs)
        out[f"n_{kind}"] = len(xs)
        out[f"{kind}_hits"] = h
        out[f"{kind}_hit_rate"] = h / len(xs) if xs else None
    out["from_report"] = sum(e["from"] == "report" for e in events)
    return out


def _toward(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    horizon = int(params["horizon"])
    events = []
    for r in params["_acc"]:
        i = r["i"]
        j = _horizon(ctx, i, horizon, None)
        if j is None:
            continue
        k = float(r["strike"])
        s0, s1 = float(ctx.close[i]), float(ctx.close[j])
        mirror = 2 * s0 - k
        events.append(
            {
                "session": ctx.sessions[i],
                "symbol": r["symbol"],
                "strike": k,
                "right": r["right"],
                "close": s0,
                "outcome_session": ctx.sessions[j],
                "outcome_close": s1,
                "hit": abs(s1 - k) < abs(s0 - k),
                "baseline_hit": abs(s1 - mirror) < abs(s0 - mirror),
            }
        )
    return events


def _roll_direction(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    horizon = int(params["horizon"])
    events = []
    for r in params["_rolls"]:
        if r["kind"] not in ("bullish_roll", "bearish_roll"):
            continue
        i = r["i"]
        j = _horizon(ctx, i, horizon, None)
        if j is None:
            continue
        ret = _ret(ctx.close, i, j)
        label = "bullish" if r["kind"] == "bullish_roll" else "bearish"
        events.append(
            {
                "session": ctx.sessions[i],
                "kind": r["kind"],
                "from_symbol": r["from_symbol"],
                "to_symbol": r["to_symbol"],
                "contracts": r["contracts"],
                "outcome_session": ctx.sessions[j],
                "return_pct": 100 * ret,
                "hit": _sign_hit(label, ret),
                "baseline_hit": _sign_hit("bearish" if label == "bullish" else "bullish", ret),
            }
        )
    return events


def _zone(ctx: _Ctx, rule: OutcomeRule, params: dict[str, Any]) -> list[dict[str, Any]]:
    from chainlens.calendar import next_session, sessions_in_range

    ex = ctx.lv.expiries
    by_session: dict[dt.date, list[tuple[dt.date, float | None]]] = {}
    for s, e, m in zip(
        ex.column("session").to_pylist(),
        ex.column("expiry").to_pylist(),
        ex.column("straddle_mid").to_pylist(),
        strict=True,
    ):
        by_session.setdefault(s, []).append((e, m))
    events = []
    for i in range(1, len(ctx.sessions)):
        set_on = ctx.sessions[i - 1]
        later = [(e, m) for e, m in by_session.get(set_on, []) if e > set_on]
        if not later:
            continue
        e, m = min(later, key=lambda em: em[0])
        if m is None or not math.isfinite(m) or m <= 0:
            continue
        s0, s1 = float(ctx.close[i - 1]), float(ctx.close[i])
        n_to_exp = len(sessions_in_range(next_session(set_on), e))
        nominal = math.erf(math.sqrt(2 / math.pi) * math.sqrt(max(n_to_exp, 1)) / math.sqrt(2))
        events.append(
            {
                "session": ctx.sessions[i],
                "outcome_session": ctx.sessions[i],
                "set_on": set_on,
                "expiry": e,
                "straddle_mid": m,
                "low": s0 - m,
                "high": s0 + m,
                "close": s1,
                "sessions_to_expiry": n_to_exp,
                "nominal_probability": nominal,
                "hit": s0 - m <= s1 <= s0 + m,
                "baseline_hit": nominal,
            }
        )
    return events


_BUILDERS = {
    "pin": _pin,
    "walls": _walls,
    "gamma": _gamma,
    "flow": _flow,
    "flow_divergence": _flow,
    "oi_held": _oi_held,
    "toward": _toward,
    "roll_direction": _roll_direction,
    "zone": _zone,
    "watch": _watch,
}


# --------------------------------------------------------------------------- drivers


def _rules(rules: Sequence[str] | None) -> list[OutcomeRule]:
    if rules is None:
        return list(RULES)
    out = []
    for name in rules:
        try:
            out.append(rule_by_name(name))
        except KeyError:
            raise InputError(
                f"unknown rule {name!r}; known rules: {', '.join(RULE_NAMES)}",
                column="rule",
                value=name,
            ) from None
    return out


def measure_underlying(
    store: Store,
    underlying: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    rules: Sequence[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    config: AnalysisConfig | None = None,
    hist: pa.Table | None = None,
    oi_events: dict[str, dict[str, list[dict[str, Any]]]] | None = None,
    levels: LevelHistory | None = None,
    docs: Mapping[dt.date, Mapping[str, Any] | None] | None = None,
) -> list[OutcomeResult]:
    """Every requested rule measured on one underlying (see :func:`measure_outcomes`).

    ``docs`` (this underlying's entry of :func:`stored_docs`) gives the stored documents of
    the sessions it covers: the flow rules take those sessions' whole-day labels from them
    (:func:`flow_labels`) and the watch rule what those reports watched; the other sessions'
    trades and documents are read here.

    ``levels`` (:func:`chainlens.outcomes.levels_from_history` of ``hist``) may be given too,
    so a caller that also charts the level history computes the levels once.

    ``hist`` (the underlying's chain history in the range) and ``oi_events``
    (``{"accumulation": ..., "rolls": ...}`` of :func:`oi_signal_events`) may be given when
    already computed; otherwise they are read and computed here.
    """
    from chainlens.analysis import AnalysisConfig

    chosen = _rules(rules)
    have = [
        d
        for d in store.session_dates(underlying)
        if (start is None or d >= start) and (end is None or d <= end)
    ]
    if not have:
        return [
            OutcomeResult(r.name, underlying, start, end, 0, 0, 0, 0, noun=r.noun) for r in chosen
        ]
    lo, hi = have[0], have[-1]
    if hist is None:
        hist = store.chain_history(underlying, start=lo, end=hi)
    lv = (
        levels
        if levels is not None
        else levels_from_history(hist, underlying, config or AnalysisConfig())
    )
    sessions = lv.levels.column("session").to_pylist()
    close = np.asarray(lv.levels.column("spot").to_pylist(), dtype=float)
    ctx = _Ctx(underlying, sessions, close, lv, hist, store)
    shared: dict[str, Any] = {}
    if docs is not None:
        shared["_docs"] = docs
    kinds = {r.kind for r in chosen}
    srcs = {r.params.get("source") for r in chosen}
    if kinds & {"flow", "flow_divergence"}:
        shared["_flow_rows"] = _flow_rows(ctx, None if docs is None else flow_labels(docs))
    if "accumulation" in srcs or "deep_otm" in srcs or "toward" in kinds or "watch" in kinds:
        acc = (
            oi_events["accumulation"]
            if oi_events is not None
            else oi_signal_events(hist, "accumulation")
        )
        shared["_acc"] = _oi_sources(ctx, acc.get(underlying, []))
        shared["_acc_all"] = acc.get(underlying, [])
    if "rolls" in srcs or "roll_direction" in kinds or "watch" in kinds:
        rl = oi_events["rolls"] if oi_events is not None else oi_signal_events(hist, "rolls")
        shared["_rolls"] = _oi_sources(ctx, rl.get(underlying, []))
        shared["_rolls_all"] = rl.get(underlying, [])
    out = []
    for rule in chosen:
        p = {**rule.params, **(params or {}).get(rule.name, {}), **shared, "_one_sided": []}
        events = _BUILDERS[rule.kind](ctx, rule, p)
        n = len(events)
        hits = sum(bool(e["hit"]) for e in events)
        extra: dict[str, Any] = {}
        if rule.kind == "oi_held":
            bn, bh = _oi_baseline(ctx, p, events)
            baseline_n, baseline_hits = bn, float(bh)
        else:
            baseline_n = n
            baseline_hits = float(sum(float(e["baseline_hit"]) for e in events))
        if rule.kind == "gamma":
            extra = _gamma_extra(events)
        if rule.kind == "watch":
            extra = _watch_extra(events)
            extra["horizon"] = int(p["horizon"])
        if rule.kind in ("flow", "flow_divergence"):
            extra["sessions_with_trades"] = len(shared["_flow_rows"])
        if rule.kind == "pin":
            extra["tol"] = float(p["tol"])
            extra["skipped_one_sided"] = len(p["_one_sided"])
        out.append(
            OutcomeResult(
                rule=rule.name,
                underlying=underlying,
                start=lo,
                end=hi,
                n=n,
                hits=hits,
                baseline_n=baseline_n,
                baseline_hits=baseline_hits,
                noun=rule.noun,
                events=events,
                extra=extra,
            )
        )
    return out


def measure_outcomes(
    store: Store,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    underlyings: Sequence[str] | None = None,
    rules: Sequence[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    config: AnalysisConfig | None = None,
) -> list[OutcomeResult]:
    """Every rule's hits and baseline per underlying over the stored sessions in a range.

    Parameters
    ----------
    store
        An open :class:`chainlens.store.Store`.
    start, end
        Inclusive session range (``None`` = open). Events need their outcome in the range.
    underlyings
        Tickers (all stored underlyings when ``None``).
    rules
        Rule names (:data:`chainlens.outcomes.RULE_NAMES`; all when ``None``).
    params
        Per-rule overrides of :attr:`OutcomeRule.params`, e.g. ``{"max_pain_pin": {"tol": 0.005}}``.
    config
        Analysis settings for the levels (:class:`chainlens.analysis.AnalysisConfig`).

    Returns
    -------
    list of OutcomeResult
        Ordered by underlying, then by rule in :data:`RULES` order.

    Raises
    ------
    InputError
        For an unknown rule, or ``end < start``.
    """
    if start is not None and end is not None and end < start:
        raise InputError(f"--to {end} is before --from {start}", column="to", value=str(end))
    chosen = _rules(rules)  # validate before reading anything
    tickers = list(underlyings) if underlyings else store.underlyings()
    hists: dict[str, pa.Table] = {}
    for u in tickers:  # one iteration per underlying
        days = [
            d
            for d in store.session_dates(u)
            if (start is None or d >= start) and (end is None or d <= end)
        ]
        if days:
            hists[u] = store.chain_history(u, start=days[0], end=days[-1])
    # the OI signals of every underlying at once: one OI call per session, not per ticker
    srcs = {r.params.get("source") for r in chosen} | {r.kind for r in chosen}
    oi_events: dict[str, dict[str, list[dict[str, Any]]]] = {"accumulation": {}, "rolls": {}}
    if hists and srcs & {"accumulation", "deep_otm", "toward", "watch"}:
        oi_events["accumulation"] = oi_signal_events(_concat(hists), "accumulation")
    if hists and srcs & {"rolls", "roll_direction", "watch"}:
        oi_events["rolls"] = oi_signal_events(_concat(hists), "rolls")
    out: list[OutcomeResult] = []
    for u in tickers:  # one iteration per underlying
        out += measure_underlying(
            store, u, start=start, end=end, rules=rules, params=params, config=config,
            hist=hists.get(u), oi_events=oi_events,
        )  # fmt: skip
    return out


def _concat(hists: dict[str, pa.Table]) -> pa.Table:
    return pa.concat_tables(list(hists.values()))
