"""Per-snapshot positioning analysis: one canonical chain in, one result per underlying out.

:func:`analyze_chain` is pure (no I/O). It computes, per underlying (SPEC "Command line",
issue 3 deliverables 2-7):

* totals, by expiry (expiration *date* across roots) and by strike: OI, volume, put/call
  ratios, dealer GEX/DEX/vanna/charm exposures (:mod:`chainlens.exposure`);
* levels: zero gamma from the gamma profile, call/put walls by dollar gamma and by OI;
* max pain per expiry and its trend; the ATM straddle expected move per expiry
  (:mod:`chainlens.vol`), 25/15-delta ranges, smiles, skew and ATM term structures;
* the dealer DX/GX surfaces over spot × time.

``totals`` and ``by_expiry`` count every contract listed; ``excluded`` counts the contracts
the greek-based computations left out, by reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._jsonsafe import instants_iso, iso_dates
from chainlens._jsonsafe import jsonable as _nulls
from chainlens._typing import BoolArray, Float64Array
from chainlens.conventions import DEFAULT_DIVIDEND_YIELD, GEX_MOVE_FRACTION, SECONDS_PER_YEAR
from chainlens.errors import ChainlensError, InputError
from chainlens.exposure._by_expiry_strike import (
    by_strike_expiry,
    by_strike_expiry_many,
    profile_by_expiry,
)
from chainlens.exposure._config import AnalysisConfig
from chainlens.exposure._exposure import (
    Groups,
    contract_exposures,
    dealer_contracts,
    group_by,
    group_sum,
    lex_groups,
)
from chainlens.exposure._maxpain import max_pain, max_pain_trend
from chainlens.exposure._profile import gamma_profile, profile_terms, spot_grid, zero_gamma
from chainlens.exposure._walls import wall_above, wall_below
from chainlens.vol._expected_move import (
    DeltaStrikes,
    Straddles,
    atm_straddles,
    delta_strikes,
    expected_move_zones,
    quote_mid,
)
from chainlens.vol._smile import smile_table, smile_table_many, term_structure

__all__ = ["SCHEMA_VERSION", "AnalysisConfig", "ChainAnalysis", "analyze_chain", "analyze_chains"]

#: Version of the ``chainlens analyze --json`` document (docs/analyze-json.md).
SCHEMA_VERSION = "1"

_REQUIRED = ("underlying", "expiry", "strike", "right", "snapshot_ts", "trade_date")


@dataclass(slots=True)
class ChainAnalysis:
    """The analysis of one underlying's chain snapshot.

    Tables carry units in their column names; :meth:`to_json` gives the SPEC document.
    """

    underlying: str
    session: dt.date
    snapshot_ts: dt.datetime
    spot: float
    greeks: str
    dealer_model: str
    totals: dict[str, Any]
    levels: dict[str, Any]
    by_expiry: pa.Table
    by_strike: pa.Table
    excluded: dict[str, int]
    contracts: pa.Table
    profile: dict[str, Any] = field(default_factory=dict)
    max_pain_trend: list[dict[str, Any]] = field(default_factory=list)
    vol: dict[str, Any] = field(default_factory=dict)
    surfaces: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    #: ``by_strike`` of the contracts expiring after the session only (the report's charts and
    #: tables of a session that is an expiry day); ``None`` when no contract expires on or
    #: before the session (then it equals ``by_strike``)
    by_strike_live: pa.Table | None = None
    #: ``by_strike`` at the (expiry, strike) grain with the ``short_all`` exposures too (the
    #: stored ``by_strike_expiry`` part, :func:`chainlens.exposure._by_expiry_strike.by_strike_expiry`)
    by_strike_expiry: pa.Table | None = None
    #: the gamma profile per expiry and spot level under the run's model and ``short_all``
    #: (the stored ``profile_by_expiry`` part); None without a profile
    profile_by_expiry: pa.Table | None = None

    def to_json(self, *, tables: bool = True) -> dict[str, Any]:
        """The ``chainlens analyze --json`` object (SPEC keys first, then the extra ones).

        NaN stays a float here; the CLI's ``emit_json`` turns it into ``null``. ``tables=False``:
        ``by_expiry`` and ``by_strike`` are left ``None`` (in their place), for a caller that
        builds their records for many analyses at once.
        """
        return {
            "schema_version": SCHEMA_VERSION,
            "underlying": self.underlying,
            "session": self.session.isoformat(),
            "snapshot_ts": _iso_z(self.snapshot_ts),
            "spot": self.spot,
            "greeks": self.greeks,
            "dealer_model": self.dealer_model,
            "totals": _nulls(self.totals),
            "levels": _nulls(self.levels),
            "by_expiry": json_records(self.by_expiry, _row_value) if tables else None,
            "by_strike": json_records(self.by_strike, _row_value) if tables else None,
            "excluded": dict(self.excluded),
            "max_pain_trend": _nulls(self.max_pain_trend),
            "profile": _nulls(self.profile),
            "vol": self._vol_json(records=tables),
            "surfaces": _nulls(self.surfaces),
            "settings": _nulls(self.settings),
        }

    def _vol_json(self, *, records: bool = True) -> dict[str, Any]:
        """The vol views, JSON-ready, with the smiles of the next expiries only
        (:meth:`smile_shown`); ``records=False``: the ``smile`` records left ``None`` (in their
        place) for a caller that builds them for many analyses at once."""
        out = dict(self.vol)
        smile = out.pop("smile", None)
        out = _nulls(out)
        if smile is not None:  # json_records are JSON-ready already
            out["smile"] = json_records(self.smile_shown(), _row_value) if records else None
        return out

    def smile_shown(self, n_smiles: int = 3) -> pa.Table | None:
        """The ``smile`` rows of the next ``n_smiles`` live expiries (the document's, size)."""
        smile = self.vol.get("smile")
        if smile is None:
            return None
        exps = [r["expiry"] for r in self.vol.get("expiries", [])][:n_smiles]
        col = smile.column("expiry")
        if pa.types.is_date32(col.type) and col.null_count == 0:
            # NumPy on the dates (ISO dates of the expiries); a slice when the rows are
            # contiguous (the smile is sorted by expiry)
            days = np.asarray(col.to_numpy(), "datetime64[D]")
            keep = np.flatnonzero(np.isin(days, np.asarray(exps, dtype="datetime64[D]")))
            if keep.size == 0:
                return smile.slice(0, 0)
            if int(keep[-1]) - int(keep[0]) + 1 == keep.size:
                return smile.slice(int(keep[0]), int(keep.size))
            return smile.take(pa.array(keep))
        keep_ = pc.is_in(pc.cast(col, pa.string()), pa.array(exps, pa.string()))
        return smile.filter(keep_)


def _iso_z(ts: dt.datetime) -> str:
    ts = ts.astimezone(dt.UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def _records(t: pa.Table) -> list[dict[str, Any]]:
    out = t.to_pylist()
    for rec in out:
        for k, v in rec.items():
            if isinstance(v, dt.date):
                rec[k] = v.isoformat()
    return out


def _row_value(v: Any) -> Any:
    """One value of ``_nulls(_records(t))``: dates (and datetimes) to ISO, NaN to None."""
    return _nulls(v.isoformat() if isinstance(v, dt.date) else v)


def json_records(t: pa.Table, fallback: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """``t.to_pylist()`` made strict-JSON column by column (the fast path of the JSON docs).

    Float columns: NaN/inf (and nulls) -> ``None`` (one NumPy pass over the column);
    ``date32`` columns -> ISO strings (:func:`~chainlens._jsonsafe.iso_dates`); integer, bool
    and string columns as they are; every other column (timestamps, nested types) goes value
    by value through ``fallback``, but timestamps when ``fallback`` is
    :func:`~chainlens._jsonsafe.jsonable` (formatted in one pass, the same texts:
    :func:`~chainlens._jsonsafe.instants_iso`). Same records as applying ``fallback`` to
    ``t.to_pylist()`` with a ``fallback`` that maps dates to ISO strings and non-finite
    floats to ``None``, without a Python call per value.
    """
    if t.num_rows == 0 or t.num_columns == 0:
        return []
    cols: list[list[Any]] = []
    for col in t.columns:
        ty = col.type
        if pa.types.is_float64(ty) or pa.types.is_float32(ty):
            cols.append(_json_floats(col))
        elif pa.types.is_floating(ty):
            col = pc.if_else(pc.is_finite(col), col, pa.scalar(None, ty))
            cols.append(col.to_pylist())
        elif pa.types.is_date32(ty):
            cols.append(iso_dates(col))  # pc.cast(col, pa.string()).to_pylist()'s texts
        elif (
            pa.types.is_integer(ty)
            or pa.types.is_boolean(ty)
            or pa.types.is_string(ty)
            or pa.types.is_large_string(ty)
            or pa.types.is_null(ty)
        ):
            cols.append(col.to_pylist())
        else:
            got = instants_iso(col) if fallback is _nulls else None
            cols.append(got if got is not None else [fallback(v) for v in col.to_pylist()])
    names = tuple(t.column_names)
    if len(names) > 32:  # wide records (flow.top_strikes): dict(zip(...)) builds them faster
        from itertools import repeat

        return list(map(dict, map(zip, repeat(names, t.num_rows), zip(*cols, strict=True))))
    return _row_dicts(names)(cols)


def _json_floats(col: pa.ChunkedArray | pa.Array) -> list[Any]:
    """The values of a float32/float64 column as Python floats, NaN, inf and nulls as
    ``None`` (``to_pylist`` of ``if_else(is_finite(col), col, null)``, without Arrow compute
    calls: a float column's nulls are NaN in ``to_numpy``)."""
    a = col.to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(a)
    if not bad.any():
        return a.tolist()
    o = a.astype(object)
    o[bad] = None
    return o.tolist()


@functools.lru_cache(maxsize=256)
def _row_dicts(names: tuple[str, ...]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    """``lambda cols: [dict(zip(names, row)) for row in zip(*cols)]`` for these ``names``,
    compiled once per column list as a dict display (``{'strike': v0, ...}``), which builds
    each record ~3x faster than ``dict(zip(...))``. Every name enters as its ``repr`` (a
    string literal), so any column name is safe; a repeated name keeps its last value, as
    ``dict(zip(...))`` does."""
    vs = [f"v{i}" for i in range(len(names))]
    body = ", ".join(f"{n!r}: {v}" for n, v in zip(names, vs, strict=True))
    fn: Callable[[list[list[Any]]], list[dict[str, Any]]] = eval(
        f"lambda cols: [{{{body}}} for ({', '.join(vs)},) in zip(*cols)]"
    )
    return fn


# ----------------------------------------------------------------------------- columns


def _f64(t: pa.Table, name: str) -> Float64Array:
    if name not in t.column_names:
        return np.full(t.num_rows, np.nan)
    col = pc.cast(t.column(name), pa.float64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _time_to_expiry(
    snapshot_ns: int, expiry: np.ndarray, settlement: np.ndarray, floor: float | None
) -> Float64Array:
    """Years (ACT/365 seconds) from the snapshot to each settlement instant (SPEC)."""
    from chainlens.pricing import time_to_expiry  # the calendar-aware owner (early closes)

    snap = np.datetime64(snapshot_ns, "ns")
    return np.asarray(time_to_expiry(snap, expiry, settlement, floor_years=floor), dtype=np.float64)


# ----------------------------------------------------------------------------- greeks


@dataclass(slots=True)
class _Greeks:
    source: str
    gamma: Float64Array
    delta: Float64Array
    sigma: Float64Array
    q: Float64Array
    reason: np.ndarray  # object array: None or an exclusion reason


def _resolve_greeks(
    cfg: AnalysisConfig,
    *,
    S: Float64Array,
    K: Float64Array,
    t: Float64Array,
    is_call: BoolArray,
    expiry: np.ndarray,
    bid: Float64Array,
    ask: Float64Array,
    v_iv: Float64Array,
    v_gamma: Float64Array,
    v_delta: Float64Array,
    seg: np.ndarray,
    n_seg: int,
) -> tuple[list[str], _Greeks]:
    """The greeks of every contract of ``n_seg`` snapshots at once (``seg``: the snapshot of
    each row, ``S``: its spot per row); the source (``vendor``/``model``) of each snapshot.

    Everything is per contract except the source under ``greeks="auto"`` (``vendor`` when the
    snapshot has any vendor greek) and the carry (per snapshot and expiry), so one snapshot
    alone (``seg`` all 0) gives the rows of that snapshot in a chunk."""
    n = K.size
    has_vendor = np.isfinite(v_gamma) & np.isfinite(v_delta) & ((v_gamma != 0) | (v_delta != 0))
    if cfg.greeks == "auto":
        seg_vendor = np.bincount(seg, weights=has_vendor, minlength=n_seg) > 0
    else:
        seg_vendor = np.full(n_seg, cfg.greeks == "vendor")
    sources = ["vendor" if v else "model" for v in seg_vendor.tolist()]
    vend = seg_vendor[seg]  # rows of the snapshots whose greeks are the vendor's
    expired = ~(t > 0)
    reason = np.full(n, None, dtype=object)
    q = _carry_per_contract(
        cfg, S=S, K=K, t=t, is_call=is_call, expiry=expiry, bid=bid, ask=ask, seg=seg
    )
    vendor_iv = np.where(np.isfinite(v_iv) & (v_iv > 0), v_iv, np.nan)
    # vendor snapshots
    gamma = np.where(has_vendor, v_gamma, np.nan)
    delta = np.where(has_vendor, v_delta, np.nan)
    no_v = vend & ~has_vendor
    reason[no_v] = "no_vendor_greeks"
    reason[no_v & expired] = "expired"
    sigma = vendor_iv.copy()
    need = no_v & ~expired if cfg.vendor_fallback == "model" else np.zeros(n, dtype=bool)
    # model snapshots: every live contract; vendor snapshots: the fallback rows
    live = ~vend & ~expired
    reason[~vend & expired] = "expired"
    rows = live | need
    if rows.any():
        m = _model(
            cfg, S=S, K=K, t=t, q=q, is_call=is_call, bid=bid, ask=ask, iv=vendor_iv, rows=rows,
            seg=seg,
        )  # fmt: skip
        gamma = np.where(rows, m[0], np.where(vend, gamma, np.nan))
        delta = np.where(rows, m[1], np.where(vend, delta, np.nan))
        sigma = np.where(rows, m[2], np.where(vend, sigma, np.nan))
        reason[rows] = m[3][rows]
    else:
        gamma = np.where(vend, gamma, np.nan)
        delta = np.where(vend, delta, np.nan)
        sigma = np.where(vend, sigma, np.nan)
    src = sources[0] if n_seg == 1 else "chunk"
    return sources, _Greeks(src, gamma, delta, sigma, q, reason)


def _carry_per_contract(
    cfg: AnalysisConfig,
    *,
    S: Float64Array,
    K: Float64Array,
    t: Float64Array,
    is_call: BoolArray,
    expiry: np.ndarray,
    bid: Float64Array,
    ask: Float64Array,
    seg: np.ndarray,
) -> Float64Array:
    """Carry yield ``q`` per contract from the forward implied per (snapshot, expiry)
    (:func:`chainlens.pricing.forwards_by_group` on the live contracts, ``t > 0``), else the
    default dividend yield."""
    from chainlens.pricing._forward import forwards_by_group

    q = np.full(K.size, DEFAULT_DIVIDEND_YIELD)
    ok = t > 0
    if not ok.any():
        return q
    key = seg.astype(np.int64) * 10_000_000 + expiry.astype("datetime64[D]").astype(np.int64)
    uk, first, g = np.unique(key, return_index=True, return_inverse=True)
    g = g.reshape(-1)
    _, _, carry, _ = forwards_by_group(
        g[ok], uk.size, K[ok], is_call[ok], bid[ok], ask[ok], S[first], t[ok], cfg.rate
    )
    vals = carry[g]
    return np.where(np.isfinite(vals), vals, q)


def _model(
    cfg: AnalysisConfig,
    *,
    S: Float64Array,
    K: Float64Array,
    t: Float64Array,
    q: Float64Array,
    is_call: BoolArray,
    bid: Float64Array,
    ask: Float64Array,
    iv: Float64Array,
    rows: BoolArray,
    seg: np.ndarray,
) -> tuple[Float64Array, Float64Array, Float64Array, np.ndarray]:
    """Model gamma/delta (BSM) on ``rows``: IV from the file, else solved from the mid
    (``seg``: the snapshot of each row, :func:`_greeks_per_snapshot`)."""
    n = K.size
    reason = np.full(n, None, dtype=object)
    sigma = np.where(rows, iv, np.nan)
    need = rows & ~np.isfinite(sigma)
    if need.any():
        mid = quote_mid(bid, ask)
        zero_q = need & ~((np.nan_to_num(bid) > 0) | (np.nan_to_num(ask) > 0))
        reason[zero_q] = "zero_bid_ask"
        solve = need & ~zero_q & np.isfinite(mid)
        reason[need & ~zero_q & ~np.isfinite(mid)] = "no_mid"
        if solve.any():
            from chainlens.pricing import IV_REASONS, implied_vol

            ivs, why = implied_vol(
                mid[solve], S[solve], K[solve], t[solve], cfg.rate, q[solve], is_call[solve]
            )
            ivs = np.asarray(ivs, dtype=np.float64)
            sigma[solve] = ivs
            bad = ~np.isfinite(ivs)
            names = np.array(
                [f"iv_not_solved:{IV_REASONS.get(c, c)}" for c in range(max(IV_REASONS) + 1)],
                dtype=object,
            )  # reason code -> name table (a handful of codes)
            codes = np.clip(np.asarray(why, dtype=np.int64)[bad], 0, names.size - 1)
            reason[np.flatnonzero(solve)[bad]] = names[codes]
    ok = rows & np.isfinite(sigma) & (sigma > 0)
    g = _greeks_per_snapshot(
        seg,
        S,
        K,
        np.where(ok, t, 1.0),
        cfg.rate,
        q,
        np.where(ok, sigma, 0.2),
        is_call,
        ("gamma", "delta"),
    )
    gamma = np.where(ok, g["gamma"], np.nan)
    delta = np.where(ok, g["delta"], np.nan)
    return gamma, delta, np.where(ok, sigma, np.nan), reason


# ----------------------------------------------------------------------------- analysis


def analyze_chain(chain: pa.Table, config: AnalysisConfig | None = None) -> list[ChainAnalysis]:
    """Analyze a canonical chain snapshot: one :class:`ChainAnalysis` per underlying.

    Parameters
    ----------
    chain
        A table in the canonical ``chain`` schema (:data:`chainlens.schema.CHAIN`); an optional
        ``dealer_position_contracts`` column feeds the ``flow`` dealer model.
    config
        Settings (:class:`AnalysisConfig`); defaults: greeks ``auto``, dealer model ``classic``.

    Returns
    -------
    list of ChainAnalysis
        Sorted by underlying.

    Raises
    ------
    InputError
        A required column is missing, or an underlying has no spot.
    """
    cfg = config or AnalysisConfig()
    missing = [c for c in _REQUIRED if c not in chain.column_names]
    if missing:
        raise InputError(
            "chain table lacks required column(s): " + ", ".join(missing), column=missing[0]
        )
    if chain.num_rows == 0:
        return []
    und = chain.column("underlying").to_numpy(zero_copy_only=False).astype(str)
    out = []
    for u in np.unique(und).tolist():  # a handful of underlyings, not contracts
        sub = chain.filter(pa.array(und == u)) if len(set(und)) > 1 else chain
        out.append(_analyze_one(u, sub, cfg))
    return out


def analyze_chains(
    chains: Sequence[pa.Table], config: AnalysisConfig | None = None
) -> list[list[ChainAnalysis] | ChainlensError]:
    """:func:`analyze_chain` of several snapshots, the contract-level step batched.

    Parameters
    ----------
    chains
        Canonical chain tables (each normally one underlying's snapshot).
    config
        :class:`AnalysisConfig`.

    Returns
    -------
    list
        Per table, in order: what ``analyze_chain(table, config)`` returns (equal analyses),
        or the :class:`~chainlens.errors.ChainlensError` it raises.

    Notes
    -----
    The tables of one underlying each with the same columns go through :func:`_contracts`
    together, in batches of fewer than ``pricing._bsm.COMPILED_MIN_SIZE`` rows (so the
    pricing kernels run on the engine they run on for one table: the same digits): time to
    expiry, carry, implied vols, greeks, vanna/charm and exposures are one vectorized pass
    per batch instead of one per underlying. The aggregation of each snapshot
    (:func:`_analyze_one`) runs on views of the batch's arrays. Any other table, or a batch
    that fails, goes through :func:`analyze_chain` alone.
    """
    from chainlens.pricing._bsm import COMPILED_MIN_SIZE

    cfg = config or AnalysisConfig()
    out: list[list[ChainAnalysis] | ChainlensError | None] = [None] * len(chains)
    batches: dict[tuple[str, ...], list[list[tuple[int, str]]]] = {}
    rows: dict[tuple[str, ...], int] = {}
    spots: dict[int, float] = {}
    for i, t in enumerate(chains):  # a loop over snapshots: which ones batch together
        us = _single_underlying(t)
        if us is None:
            continue
        u, spots[i] = us
        names = tuple(t.column_names)
        open_ = batches.setdefault(names, [[]])
        if open_[-1] and rows[names] + t.num_rows >= COMPILED_MIN_SIZE:
            open_.append([])
            rows[names] = 0
        open_[-1].append((i, u))
        rows[names] = rows.get(names, 0) + t.num_rows
    for group in batches.values():
        for batch in group:
            if not batch:
                continue
            try:
                cs = _contracts(
                    [u for _, u in batch], [chains[i] for i, _ in batch], cfg,
                    [spots[i] for i, _ in batch],
                )  # fmt: skip
                cv = _curves_many(cs, cfg)
                res = [
                    [_analyze_one(u, chains[i], cfg, c, v)]
                    for (i, u), c, v in zip(batch, cs, cv, strict=True)
                ]
            except Exception:  # any failure: each table alone decides
                continue
            for (i, _), r in zip(batch, res, strict=True):
                out[i] = r
    for i, t in enumerate(chains):  # the tables left: one by one
        if out[i] is None:
            try:
                out[i] = analyze_chain(t, cfg)
            except ChainlensError as exc:
                out[i] = exc
    return [r for r in out if r is not None]


def _single_underlying(t: pa.Table) -> tuple[str, float] | None:
    """The underlying and spot (:func:`_spot`) of a non-empty chain table of one underlying
    with a spot, else None."""
    if t.num_rows == 0 or not set(_REQUIRED).issubset(t.schema.names):
        return None
    und = t.column("underlying")
    if und.null_count:
        return None
    if _is_text(und.type):
        mm = pc.min_max(und)  # one distinct value: its least equals its greatest
        if mm["min"].as_py() != mm["max"].as_py():
            return None
    elif pc.count_distinct(und).as_py() != 1:
        return None
    try:
        spot = _spot(t, "")
    except InputError:
        return None
    return str(und[0].as_py()), spot


def _live_strike_table(
    gs: Any, live: np.ndarray, is_call: np.ndarray, oi: np.ndarray, vol: np.ndarray, ex: Any
) -> pa.Table:
    """The ``by_strike`` columns of the live rows summed per group of ``gs`` (the groups of
    the live rows: strikes, or snapshot and strike), in :func:`_by_strike_live`'s units."""
    c, p = is_call[live], ~is_call[live]
    gex = ex.gex_usd_per_1pct[live]
    return pa.table(
        {
            "strike": gs.keys.astype(np.float64),
            "call_oi": group_sum(gs, oi[live], c).astype(np.int64),
            "put_oi": group_sum(gs, oi[live], p).astype(np.int64),
            "gex_usd_per_1pct": group_sum(gs, gex),
            "dex_shares": group_sum(gs, ex.dex_shares[live]),
            "call_volume": group_sum(gs, vol[live], c).astype(np.int64),
            "put_volume": group_sum(gs, vol[live], p).astype(np.int64),
            "call_gex_usd_per_1pct": group_sum(gs, gex, c),
            "put_gex_usd_per_1pct": group_sum(gs, gex, p),
            "vanna_usd_per_vol_pt": group_sum(gs, ex.vanna_usd_per_vol_pt[live]),
            "charm_shares_per_day": group_sum(gs, ex.charm_shares_per_day[live]),
        }
    )


def _by_strike_live(
    live: np.ndarray, K: np.ndarray, is_call: np.ndarray, oi: np.ndarray, vol: np.ndarray, ex: Any
) -> pa.Table | None:
    """The ``by_strike`` columns summed over the live contracts only (``live``: expiry after
    the session), strikes with no live contract left out; ``None`` when every contract is live.

    Same formulas and units as ``by_strike`` (OI and volume in contracts, GEX in USD per 1%
    move, DEX in shares, vanna in USD per vol point, charm in shares per day); source: the
    snapshot's contracts with ``expiry > session`` (a contract expiring on the session day has
    expired at its close)."""
    if bool(live.all()):
        return None
    gs = group_by(K[live])
    return _live_strike_table(gs, live, is_call, oi, vol, ex)


@dataclass(slots=True)
class _Contracts:
    """The per-contract arrays of one underlying's snapshot: inputs, time to expiry, greeks,
    dealer positions and exposures (the contract-level step of the analysis; the rest
    aggregates them). Units as in the ``contracts`` table."""

    S: float
    snap: dt.datetime
    snap_ns: int
    session: dt.date
    K: Float64Array
    is_call: BoolArray
    expiry: np.ndarray
    mult: Float64Array
    oi: Float64Array
    vol: Float64Array
    mid: Float64Array
    last: Float64Array
    t_years: Float64Array
    gk: _Greeks
    w: Float64Array
    vanna: Float64Array
    charm: Float64Array
    ex: Any
    #: the expiry and strike groups, their sums and per-expiry figures, when computed with
    #: other snapshots' (:func:`_groups_many`)
    groups: tuple[Groups, Groups, dict[str, Any]] | None = None
    #: the ``contracts`` table, when built with other snapshots' (a slice of the chunk's)
    table: pa.Table | None = None


def _spot(t: pa.Table, underlying: str) -> float:
    """The snapshot's spot: the first finite positive ``spot`` of the table (USD)."""
    spot_col = _f64(t, "spot")
    finite_spot = spot_col[np.isfinite(spot_col) & (spot_col > 0)]
    if finite_spot.size == 0:
        raise InputError(f"no spot price for underlying {underlying}", column="spot")
    return float(finite_spot[0])


def _instants(
    tables: list[pa.Table], cat: pa.Table, off: np.ndarray
) -> tuple[list[int], list[Any], list[Any]]:
    """Per table (non-empty; ``cat`` their rows, ``off`` the offsets of each): the snapshot
    instant (the latest ``snapshot_ts``, as an integer in the column's unit and as Python),
    and the session (the earliest ``trade_date``). Null-free columns reduced per table in
    NumPy (the same integers as ``pc.max``/``pc.min``), else per table in Arrow."""
    ts, td = cat.column("snapshot_ts"), cat.column("trade_date")
    starts = off[:-1]
    if (
        len(tables) > 1
        and ts.null_count == 0
        and td.null_count == 0
        and pa.types.is_timestamp(ts.type)
        and pa.types.is_date32(td.type)
        and bool((np.diff(off) > 0).all())
    ):
        ns = np.maximum.reduceat(pc.cast(ts, pa.int64()).to_numpy(), starts)
        days = np.minimum.reduceat(pc.cast(td, pa.int32()).to_numpy(), starts)
        return (
            [int(v) for v in ns.tolist()],
            pa.array(ns, ts.type).to_pylist(),
            pa.array(days, pa.date32()).to_pylist(),
        )
    return (
        [int(pc.max(pc.cast(t.column("snapshot_ts"), pa.int64())).as_py()) for t in tables],
        [pc.max(t.column("snapshot_ts")).as_py() for t in tables],
        [pc.min(t.column("trade_date")).as_py() for t in tables],
    )


def _is_text(ty: pa.DataType) -> bool:
    return bool(pa.types.is_string(ty) or pa.types.is_large_string(ty))


def _equals(col: pa.ChunkedArray, value: str) -> BoolArray:
    """Per row: the column's text equals ``value`` (nulls: False), as ``astype(str) == value``
    on its NumPy values, compared in Arrow for a string column (no Python strings)."""
    if _is_text(col.type):
        eq = pc.fill_null(pc.equal(col, pa.scalar(value, col.type)), False)
        return np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(col.to_numpy(zero_copy_only=False).astype(str) == value)


def _contracts(
    underlyings: list[str],
    tables: list[pa.Table],
    cfg: AnalysisConfig,
    spots: list[float] | None = None,
) -> list[_Contracts]:
    """:class:`_Contracts` of several snapshots (one underlying each) in one pass over their
    concatenated rows: every step is per contract (time to expiry, greeks, vanna/charm,
    exposures, with each row's own spot and snapshot instant), or per snapshot and expiry
    (the implied carry, :func:`_carry_per_contract`), so each result equals that of the
    snapshot alone. The tables must have the same columns; ``spots``: each one's
    :func:`_spot` when found already."""
    from chainlens.pricing import time_to_expiry

    if spots is None:  # else found already (_single_underlying)
        spots = [_spot(t, u) for u, t in zip(underlyings, tables, strict=True)]
    sizes = np.fromiter((t.num_rows for t in tables), np.int64, len(tables))
    off = np.r_[0, np.cumsum(sizes)]
    cat = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    n = cat.num_rows
    seg = np.repeat(np.arange(len(tables), dtype=np.int64), sizes)
    snap_ns_seg, snaps, sessions = _instants(tables, cat, off)
    S = np.asarray(spots, dtype=np.float64)[seg]
    K = _f64(cat, "strike")
    is_call = _equals(cat.column("right"), "C")
    expiry = cat.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    settlement: Any = np.full(n, "PM")
    if "settlement" in cat.column_names:
        col = cat.column("settlement")
        if _is_text(col.type) and col.null_count == 0:
            settlement = col  # compared in Arrow (calendar.settlement_instants)
        else:
            settlement = col.to_numpy(zero_copy_only=False).astype(str)
    mult = np.nan_to_num(_f64(cat, "multiplier"), nan=100.0)
    oi = np.nan_to_num(_f64(cat, "open_interest"), nan=0.0)
    vol = np.nan_to_num(_f64(cat, "volume"), nan=0.0)
    bid, ask = _f64(cat, "bid"), _f64(cat, "ask")
    mid = quote_mid(bid, ask)
    last = _f64(cat, "last")

    snap_rows = np.asarray(snap_ns_seg, dtype=np.int64)[seg].astype("datetime64[ns]")
    t_years = np.asarray(
        time_to_expiry(snap_rows, expiry, settlement, floor_years=cfg.t_floor_years),
        dtype=np.float64,
    )
    sources, gk = _resolve_greeks(
        cfg,
        S=S,
        K=K,
        t=t_years,
        is_call=is_call,
        expiry=expiry,
        bid=bid,
        ask=ask,
        v_iv=_f64(cat, "iv"),
        v_gamma=_f64(cat, "gamma"),
        v_delta=_f64(cat, "delta"),
        seg=seg,
        n_seg=len(tables),
    )
    pos = (
        _f64(cat, "dealer_position_contracts")
        if "dealer_position_contracts" in cat.column_names
        else None
    )
    w = dealer_contracts(is_call, oi, cfg.dealer_model, pos)
    vanna, charm = _vanna_charm(cfg, S, K, t_years, gk, is_call, seg)
    ex = contract_exposures(w, mult, S, gk.gamma, gk.delta, vanna, charm)

    groups = (
        _groups_many(
            seg,
            len(tables),
            expiry,
            K,
            is_call,
            oi,
            vol,
            ex,
            _RowsOf(
                np.asarray(spots, dtype=np.float64),
                mid,
                last,
                t_years,
                gk.delta,
                gk.sigma,
                contract_exposures(-oi, mult, S, gk.gamma, gk.delta, vanna, charm),
                expiry > np.asarray(sessions, dtype="datetime64[D]")[seg],
                cfg.vol,
            ),
        )  # fmt: skip
        if len(tables) > 1
        else None
    )
    ctab = _contracts_table(cat, K, t_years, gk, w, ex) if len(tables) > 1 else None
    out = []
    for k in range(len(tables)):  # a loop over snapshots: views of the chunk's arrays
        sl = slice(int(off[k]), int(off[k + 1]))
        gks = _Greeks(sources[k], gk.gamma[sl], gk.delta[sl], gk.sigma[sl], gk.q[sl], gk.reason[sl])
        out.append(
            _Contracts(
                S=spots[k],
                snap=snaps[k],
                snap_ns=snap_ns_seg[k],
                session=sessions[k],
                K=K[sl],
                is_call=is_call[sl],
                expiry=expiry[sl],
                mult=mult[sl],
                oi=oi[sl],
                vol=vol[sl],
                mid=mid[sl],
                last=last[sl],
                t_years=t_years[sl],
                gk=gks,
                w=w[sl],
                vanna=vanna[sl],
                charm=charm[sl],
                ex=type(ex)(*(a[sl] for a in ex)),
                groups=None if groups is None else groups[k],
                table=None if ctab is None else ctab.slice(int(off[k]), int(sizes[k])),
            )  # fmt: skip
        )
    return out


def _contracts_table(
    t: pa.Table, K: Float64Array, t_years: Float64Array, gk: _Greeks, w: Float64Array, ex: Any
) -> pa.Table:
    """The ``contracts`` table of the rows of ``t`` (its symbol, expiry and right columns)
    and their arrays: strike (USD), time to expiry (years), IV, gamma, delta, dealer
    contracts, the exposures (units in the names) and the exclusion reason."""
    return pa.table(
        {
            "symbol": t.column("symbol")
            if "symbol" in t.column_names
            else pa.nulls(t.num_rows, pa.string()),
            "expiry": t.column("expiry"),
            "strike": K,
            "right": t.column("right"),
            "t_years": t_years,
            "sigma": gk.sigma,
            "gamma": gk.gamma,
            "delta": gk.delta,
            "dealer_contracts": w,
            "gex_usd_per_1pct": ex.gex_usd_per_1pct,
            "dex_shares": ex.dex_shares,
            "vanna_usd_per_vol_pt": ex.vanna_usd_per_vol_pt,
            "charm_shares_per_day": ex.charm_shares_per_day,
            "excluded_reason": pa.array(gk.reason.tolist(), pa.string()),
        }
    )


def _group_sums(
    ge: Groups, gs: Groups, is_call: BoolArray, oi: Float64Array, vol: Float64Array, ex: Any
) -> dict[str, np.ndarray]:
    """The sums per expiry (``e_``, groups ``ge``) and per strike (``s_``, groups ``gs``) of
    the ``by_expiry``/``by_strike`` tables and the dollar-gamma walls: OI and volume in
    contracts (calls, puts), dealer GEX (USD per 1% move; also calls and puts apart, and
    their absolute values for the walls), DEX (shares), vanna (USD per vol point), charm
    (shares per day), NaN as 0 (:func:`~chainlens.exposure.group_sum`: ``np.bincount`` in
    row order, so the groups of several snapshots sum each group as alone)."""
    put = ~is_call
    gex = ex.gex_usd_per_1pct
    return {
        "e_call_oi": group_sum(ge, oi, is_call),
        "e_put_oi": group_sum(ge, oi, put),
        "e_call_volume": group_sum(ge, vol, is_call),
        "e_put_volume": group_sum(ge, vol, put),
        "e_gex": group_sum(ge, gex),
        "e_dex": group_sum(ge, ex.dex_shares),
        "e_vanna": group_sum(ge, ex.vanna_usd_per_vol_pt),
        "e_charm": group_sum(ge, ex.charm_shares_per_day),
        "s_call_oi": group_sum(gs, oi, is_call),
        "s_put_oi": group_sum(gs, oi, put),
        "s_gex": group_sum(gs, gex),
        "s_dex": group_sum(gs, ex.dex_shares),
        "s_call_volume": group_sum(gs, vol, is_call),
        "s_put_volume": group_sum(gs, vol, put),
        "s_call_gex": group_sum(gs, gex, is_call),
        "s_put_gex": group_sum(gs, gex, put),
        "s_vanna": group_sum(gs, ex.vanna_usd_per_vol_pt),
        "s_charm": group_sum(gs, ex.charm_shares_per_day),
        "s_call_gex_abs": group_sum(gs, np.abs(np.where(is_call, gex, 0.0))),
        "s_put_gex_abs": group_sum(gs, np.abs(np.where(put, gex, 0.0))),
    }


def _groups_many(
    seg: np.ndarray,
    n_seg: int,
    expiry: np.ndarray,
    K: Float64Array,
    is_call: BoolArray,
    oi: Float64Array,
    vol: Float64Array,
    ex: Any,
    extra: _RowsOf | None = None,
) -> list[tuple[Groups, Groups, dict[str, Any]]] | None:
    """Per snapshot (``seg``: the snapshot of each row, rows grouped by snapshot): its expiry
    and strike groups (what ``group_by`` gives alone) and its :func:`_group_sums`, from the
    groups of (snapshot, expiry) and (snapshot, strike) over the chunk. None when a strike is
    not a positive number (then ``group_by`` of each snapshot decides).

    With ``extra`` (:class:`_RowsOf`), also the per-expiry figures of :func:`_analyze_one`
    (:func:`_expiry_figures`: straddles, delta strikes, term structure, OI walls, last time to
    expiry) and its ``by_strike_expiry`` table and smile (``"by_strike_expiry"``,
    ``"smile"``), each computed once over the chunk's (snapshot, expiry[, strike]) groups,
    every group from its own rows in row order: each snapshot's figures those of it alone."""
    if not bool((K > 0).all()):  # NaN, zero (±0.0) or negative strikes
        return None
    days = expiry.astype("datetime64[D]").astype(np.int64)
    if days.size and int(np.abs(days).max()) >= 5_000_000:
        return None
    ge_all = group_by(seg * 10_000_000 + days)
    e_seg = np.empty(ge_all.n, dtype=np.int64)
    e_seg[ge_all.codes] = seg
    order, new, codes = lex_groups(seg, K)
    ks, ss = K[order], seg[order]
    gs_all = Groups(ks[new], codes)
    sums: dict[str, Any] = _group_sums(ge_all, gs_all, is_call, oi, vol, ex)
    bse: list[pa.Table] = []
    smiles: list[pa.Table] = []
    if extra is not None:
        sums.update(_expiry_figures(ge_all, extra.spots[e_seg], K, is_call, oi, extra))
        cols, at = by_strike_expiry_many(seg, n_seg, expiry, K, is_call, oi, vol, ex, extra.ex_sa)
        cols["expiry"] = pa.array(cols["expiry"], pa.date32())
        t_bse = pa.table(cols)
        bse = [t_bse.slice(int(at[k]), int(at[k + 1] - at[k])) for k in range(n_seg)]
        smiles = smile_table_many(seg, n_seg, expiry, K, is_call, extra.sigma)
        sums["e_max_pain"] = max_pain(ge_all.codes, K, is_call, oi, ge_all.n, restart=e_seg).strike
        walls = _walls_many(ss[new], gs_all.keys, sums, extra.spots)
        live_t = (
            None
            if extra.live is None
            else _by_strike_live_many(seg, n_seg, extra.live, K, is_call, oi, vol, ex)
        )
        # the by_expiry and by_strike tables of the chunk: one each, a slice per snapshot
        days = ge_all.keys - e_seg * 10_000_000
        counts = np.bincount(ge_all.codes, minlength=ge_all.n)
        e_cols = _by_expiry_columns(days, counts, sums, sums, sums["e_max_pain"])
        if extra.vol:
            for name in ("rr_25d", "atm_iv"):
                e_cols[name] = pa.array(sums[f"e_ts_{name}"], pa.float64(), from_pandas=True)
        e_tab = pa.table(e_cols)
        s_tab = pa.table(_by_strike_columns(gs_all.keys, sums))
    e_at = np.searchsorted(e_seg, np.arange(n_seg + 1))
    s_at = np.searchsorted(ss[new], np.arange(n_seg + 1))
    r_at = np.searchsorted(seg, np.arange(n_seg + 1))
    out = []
    for k in range(n_seg):  # a loop over snapshots: views of the chunk's groups
        e0, e1, s0, s1 = int(e_at[k]), int(e_at[k + 1]), int(s_at[k]), int(s_at[k + 1])
        rows = slice(int(r_at[k]), int(r_at[k + 1]))
        ge = Groups(ge_all.keys[e0:e1] - k * 10_000_000, ge_all.codes[rows] - e0)
        gs = Groups(gs_all.keys[s0:s1], gs_all.codes[rows] - s0)
        part = {name: v[e0:e1] if name.startswith("e_") else v[s0:s1] for name, v in sums.items()}
        if extra is not None:
            part["by_strike_expiry"], part["smile"] = bse[k], smiles[k]
            part["walls"] = tuple(float(w[k]) for w in walls)
            part["by_expiry_t"] = e_tab.slice(e0, e1 - e0)
            part["by_strike_t"] = s_tab.slice(s0, s1 - s0)
            if live_t is not None:
                part["by_strike_live"] = live_t[k]
        out.append((ge, gs, part))
    return out


def _walls_many(
    node_seg: np.ndarray, strikes: Float64Array, sums: dict[str, Any], spots: Float64Array
) -> tuple[Float64Array, Float64Array, Float64Array, Float64Array]:
    """The ``levels`` walls of every snapshot from the chunk's (snapshot, strike) sums
    (:func:`~chainlens.exposure._walls.walls_many`): ``call_wall``/``put_wall`` by dollar
    gamma, ``oi_call_wall``/``oi_put_wall`` by OI (the ``by_strike`` integer OI), USD."""
    from chainlens.exposure._walls import walls_many

    oi_c = sums["s_call_oi"].astype(np.int64).astype(np.float64)
    oi_p = sums["s_put_oi"].astype(np.int64).astype(np.float64)
    return (
        walls_many(node_seg, strikes, sums["s_call_gex_abs"], spots, True),
        walls_many(node_seg, strikes, sums["s_put_gex_abs"], spots, False),
        walls_many(node_seg, strikes, oi_c, spots, True),
        walls_many(node_seg, strikes, oi_p, spots, False),
    )


def _by_strike_live_many(
    seg: np.ndarray,
    n_seg: int,
    live: BoolArray,
    K: Float64Array,
    is_call: BoolArray,
    oi: Float64Array,
    vol: Float64Array,
    ex: Any,
) -> list[pa.Table | None]:
    """:func:`_by_strike_live` of every snapshot of a chunk (``seg``: the snapshot of each
    row, non-decreasing; strikes positive): the live rows grouped by (snapshot, strike) and
    summed with ``np.bincount`` in row order (each group as alone), one table for the chunk,
    a slice per snapshot; ``None`` for a snapshot whose every contract is live."""
    all_live = np.bincount(seg, weights=~live, minlength=n_seg) == 0
    if bool(all_live.all()):
        return [None] * n_seg
    sg, k = seg[live], K[live]
    order, new, codes = lex_groups(sg, k)
    ks, ss = k[order], sg[order]
    gs = Groups(ks[new], codes)
    t = _live_strike_table(gs, live, is_call, oi, vol, ex)
    at = np.searchsorted(ss[new], np.arange(n_seg + 1))
    return [
        None if all_live[j] else t.slice(int(at[j]), int(at[j + 1] - at[j])) for j in range(n_seg)
    ]


def _by_expiry_columns(
    exp_dates: np.ndarray,
    counts: np.ndarray,
    sums: dict[str, Any],
    pre: dict[str, Any],
    mp_strike: Float64Array,
) -> dict[str, Any]:
    """The ``by_expiry`` columns (before ``rr_25d``/``atm_iv``) of expiry groups: their dates,
    contract counts, :func:`_group_sums` (``e_``), :func:`_expiry_figures` and max pain
    (USD); OI and volume in contracts, GEX in USD per 1% move, DEX in shares, vanna in USD
    per vol point, charm in shares per day, straddles in USD and moves in percent."""
    return {
        "expiry": pa.array(exp_dates.astype("datetime64[D]"), pa.date32()),
        "contracts": counts.astype(np.int64),
        "call_oi": sums["e_call_oi"].astype(np.int64),
        "put_oi": sums["e_put_oi"].astype(np.int64),
        "call_volume": sums["e_call_volume"].astype(np.int64),
        "put_volume": sums["e_put_volume"].astype(np.int64),
        "max_pain": mp_strike,
        "gex_usd_per_1pct": sums["e_gex"],
        "dex_shares": sums["e_dex"],
        "vanna_usd_per_vol_pt": sums["e_vanna"],
        "charm_shares_per_day": sums["e_charm"],
        "atm_strike": pre["e_st_atm_strike"],
        "straddle_mid": pre["e_st_straddle_mid"],
        "expected_move_pct": pre["e_st_expected_move_pct"],
        "straddle_last": pre["e_stl_straddle_mid"],
        "expected_move_pct_last": pre["e_stl_expected_move_pct"],
        "oi_call_wall": pre["e_oi_call_wall"],
        "oi_put_wall": pre["e_oi_put_wall"],
    }


def _by_strike_columns(strikes: np.ndarray, sums: dict[str, Any]) -> dict[str, Any]:
    """The ``by_strike`` columns of strike groups from their :func:`_group_sums` (``s_``);
    units as in ``by_expiry``."""
    return {
        "strike": strikes.astype(np.float64),
        "call_oi": sums["s_call_oi"].astype(np.int64),
        "put_oi": sums["s_put_oi"].astype(np.int64),
        "gex_usd_per_1pct": sums["s_gex"],
        "dex_shares": sums["s_dex"],
        "call_volume": sums["s_call_volume"].astype(np.int64),
        "put_volume": sums["s_put_volume"].astype(np.int64),
        "call_gex_usd_per_1pct": sums["s_call_gex"],
        "put_gex_usd_per_1pct": sums["s_put_gex"],
        "vanna_usd_per_vol_pt": sums["s_vanna"],
        "charm_shares_per_day": sums["s_charm"],
    }


@dataclass(slots=True)
class _RowsOf:
    """What :func:`_groups_many` needs besides the sums for the per-expiry figures: the spot
    of each snapshot (USD), and per contract the quote mid and last (USD/share), time to
    expiry (years), delta, IV, the ``short_all`` exposures and whether it is live."""

    spots: Float64Array
    mid: Float64Array
    last: Float64Array
    t_years: Float64Array
    delta: Float64Array
    sigma: Float64Array
    ex_sa: Any
    #: per contract: expiry after its snapshot's session (:func:`_by_strike_live`)
    live: BoolArray | None = None
    #: the ``by_expiry`` table has the vol columns (``AnalysisConfig.vol``)
    vol: bool = True


def _expiry_figures(
    ge: Groups,
    s_e: Float64Array,
    K: Float64Array,
    is_call: BoolArray,
    oi: Float64Array,
    rows: _RowsOf,
) -> dict[str, np.ndarray]:
    """The per-expiry figures of :func:`_analyze_one` for expiry groups ``ge`` whose spots are
    ``s_e`` (one per group; the groups of several snapshots): ATM straddles on the mid
    (``e_st_*``) and on the last (``e_stl_*``, :func:`~chainlens.vol.atm_straddles`), 25/15-delta
    strikes (``e_ds_*``), the term structure (``e_ts_*``), the OI walls and the largest time to
    expiry (``e_tmax``, years). Each group from its own rows (the kernels' formulas)."""
    codes, n = ge.codes, ge.n
    st = atm_straddles(codes, n, K, is_call, rows.mid, s_e)
    last = rows.last
    st_last = atm_straddles(codes, n, K, is_call, np.where(last > 0, last, np.nan), s_e)
    ds = delta_strikes(codes, n, K, is_call, rows.delta, s_e)
    ts = term_structure(codes, n, K, is_call, rows.sigma, st.atm_strike, ds.call25, ds.put25)
    out: dict[str, np.ndarray] = {}
    for f, v in zip(Straddles._fields, st, strict=True):
        out[f"e_st_{f}"] = v
    for f, v in zip(Straddles._fields, st_last, strict=True):
        out[f"e_stl_{f}"] = v
    for f, v in zip(DeltaStrikes._fields, ds, strict=True):
        out[f"e_ds_{f}"] = v
    for f, v in ts.items():
        out[f"e_ts_{f}"] = v
    out["e_oi_call_wall"], out["e_oi_put_wall"] = _oi_walls_per_group(ge, K, is_call, oi, s_e)
    out["e_tmax"] = group_max(ge, rows.t_years)
    return out


@dataclass(slots=True)
class _Curves:
    """The gamma profiles (``profile`` document and ``profile_by_expiry`` table) and the
    dealer surfaces of one snapshot, computed with other snapshots' (:func:`_curves_many`);
    ``None`` where not computed there."""

    profile: dict[str, Any] | None = None
    profile_by_expiry: pa.Table | None = None
    surfaces: Any = None


#: (levels × contracts) terms per batch of :func:`_curves_many`: its arrays stay in cache
#: (measured: 16M-term batches were slower than one snapshot at a time).
_CACHE_TERMS = 100_000


def _cat(items: list[Any], f: Callable[[Any], np.ndarray]) -> np.ndarray:
    """``f(item)`` of every item, concatenated."""
    return np.concatenate([f(x) for x in items])


def _batches(sizes: list[int], limit: int) -> list[list[int]]:
    """Consecutive indices grouped so that each group's sizes sum to at most ``limit``."""
    out: list[list[int]] = []
    tot = 0
    for i, n in enumerate(sizes):
        if not out or tot + n > limit:
            out.append([])
            tot = 0
        out[-1].append(i)
        tot += n
    return out


def _curves_many(cs: list[_Contracts], cfg: AnalysisConfig) -> list[_Curves]:
    """The gamma profiles and DX/GX surfaces of several snapshots, the (levels × contracts)
    kernels evaluated once for a batch of snapshots.

    Each snapshot's contracts are evaluated on its own spot grid (``x`` per contract, the
    log of its snapshot's levels), with the formulas of :func:`_profile`,
    :func:`_profile_by_expiry` and :func:`_surfaces` (:func:`~chainlens.exposure.gamma_profile`,
    :func:`~chainlens.exposure.profile_by_expiry`, :func:`~chainlens.exposure.dealer_surfaces`);
    only the sums over contracts stay per snapshot (a matrix product on the snapshot's columns,
    ``np.add.reduceat`` per (snapshot, expiry) segment), each over the same values in the same
    order as alone. Batches hold whole snapshots and at most one NumPy chunk of the kernels'
    work; a snapshot larger than that, or one the compiled profile kernel would take, is
    computed alone (``None`` here)."""
    from chainlens.exposure import _profile as prof_mod

    out = [_Curves() for _ in cs]
    if cfg.profile:
        _profiles_many(cs, cfg, out, prof_mod)
    if cfg.surfaces:
        _surfaces_many(cs, cfg, out)
    return out


def _profiles_many(cs: list[_Contracts], cfg: AnalysisConfig, out: list[_Curves], pm: Any) -> None:
    grid = [spot_grid(c.S, cfg.profile_half_width, cfg.profile_step) for c in cs]
    n_lv = grid[0].size if grid else 0
    chunk = max(1, 2_000_000 // max(1, n_lv))
    ok_idx = [
        k
        for k, c in enumerate(cs)
        if 0 < c.K.size <= chunk and not pm.use_numba(c.K.size * n_lv * 3, pm._NUMBA_MIN_WORK)
    ]
    pes: list[tuple[Float64Array, dict[str, Any]]] = []
    docs: list[tuple[Any, ...]] = []
    for batch in _batches([cs[k].K.size for k in ok_idx], max(1, _CACHE_TERMS // n_lv)):
        ks = [ok_idx[j] for j in batch]
        parts = []
        for k in ks:  # a loop over snapshots: the weight columns of each
            c = cs[k]
            gk, t = c.gk, c.t_years
            ok = np.isfinite(gk.sigma) & (gk.sigma > 0) & (t > 0) & np.isfinite(gk.gamma)
            live_exp = c.expiry[ok]
            nxt = live_exp.min() if live_exp.size else None
            is0 = c.expiry == np.datetime64(c.session)
            wm = c.w * c.mult
            w_all = np.where(ok, wm, 0.0)
            w_short = -c.oi * c.mult
            W = np.stack(
                [
                    w_all,
                    np.where(is0, 0.0, w_all),
                    np.where(c.expiry == nxt, 0.0, w_all) if nxt is not None else w_all,
                    np.where(ok, wm, 0.0),
                    np.where(ok, w_short, 0.0),
                ],
                axis=1,
            )
            parts.append((ok, nxt, W))
        sizes = np.fromiter((cs[k].K.size for k in ks), np.int64, len(ks))
        off = np.r_[0, np.cumsum(sizes)]
        seg = np.repeat(np.arange(len(ks)), sizes)
        cat = functools.partial(_cat, [cs[k] for k in ks])
        terms = profile_terms(
            cat(lambda c: c.K), cat(lambda c: c.t_years), cfg.rate, cat(lambda c: c.gk.q),
            cat(lambda c: c.gk.sigma), np.concatenate([p[2] for p in parts]),
        )  # fmt: skip
        a, b, cw = terms
        xT = np.ascontiguousarray(np.log(np.stack([grid[k] for k in ks])).T)  # (levels, snaps)
        # contracts in (snapshot, expiry) order, rows stable: the profile_by_expiry segments
        # (a chain sorted by expiry, the usual case, is in that order already)
        ekey = cat(lambda c: c.expiry.astype("datetime64[D]").astype(np.int64))
        if bool(np.all((seg[1:] != seg[:-1]) | (ekey[1:] >= ekey[:-1]))):
            order = None
            seg_s, e_s, a_s, b_s, w_s = seg, ekey, a, b, cw
        else:
            order = np.lexsort((ekey, seg))
            seg_s, e_s, a_s, b_s, w_s = seg[order], ekey[order], a[order], b[order], cw[order]
            back = np.empty_like(order)
            back[order] = np.arange(order.size)  # column of each contract in Es
        starts = np.flatnonzero(np.r_[True, (seg_s[1:] != seg_s[:-1]) | (e_s[1:] != e_s[:-1])])
        d = np.take(xT, seg_s, axis=1)  # (levels, contracts), C order
        d -= a_s
        d *= b_s  # d = (ln S - a) b
        Es = d * -0.5
        Es *= d
        np.exp(Es, out=Es)  # exp(-d²/2): φ/√(2π) up to the constant
        c3 = np.ascontiguousarray(cw[:, :3])
        sums = [
            np.add.reduceat(Es * w_s[:, 3 + v][None, :], starts, axis=1) for v in range(2)
        ]  # (levels, segments) per dealer model
        seg_of = seg_s[starts]
        seg_at = np.searchsorted(seg_of, np.arange(len(ks) + 1))
        for j, k in enumerate(ks):  # a loop over snapshots: the sums of each
            lv = grid[k]
            sl = slice(int(off[j]), int(off[j + 1]))
            pr = np.zeros((lv.size, 3))
            cols = (
                np.ascontiguousarray(Es[:, sl]) if order is None else np.take(Es, back[sl], axis=1)
            )
            pr += cols @ c3[sl]  # contiguous: BLAS sums as alone
            pr = pr * pm._INV_SQRT_2PI
            prof = pr * (GEX_MOVE_FRACTION * lv)[:, None]
            ok, nxt, _ = parts[j]
            s0, s1 = int(seg_at[j]), int(seg_at[j + 1])
            gex = np.zeros((s1 - s0, lv.size, 2))
            for v in range(2):
                gex[:, :, v] += sums[v][:, s0:s1].T
            gex *= pm._INV_SQRT_2PI * (GEX_MOVE_FRACTION * lv)[None, :, None]
            pe = {"expiries": e_s[starts[s0:s1]].astype("datetime64[D]"), "gex": gex}
            docs.append((k, lv, prof, ok, nxt))
            pes.append((lv, pe))
    # the zero gammas of the chunk's profiles at once, and the profile_by_expiry tables: one
    # table, a slice per snapshot
    for (k, lv, prof, ok, nxt), zg in zip(docs, _zero_gammas(cs, docs), strict=True):
        out[k].profile = _profile_doc(cs[k].S, lv, prof, ok, nxt, zg)
    for (k, *_), t in zip(docs, _profile_by_expiry_tables(pes), strict=True):
        out[k].profile_by_expiry = t


def _zero_gammas(cs: list[_Contracts], docs: list[tuple[Any, ...]]) -> list[list[Any] | None]:
    """The three zero gammas of every ``(k, levels, profile, ok, next)`` of
    :func:`_profiles_many` (:func:`~chainlens.exposure._profile.zero_gamma_many`; equal to
    what :func:`_profile_doc` finds for each)."""
    from chainlens.exposure._profile import zero_gamma_many

    if not docs:
        return []
    lv = np.repeat(np.stack([d[1] for d in docs]), 3, axis=0)
    g = np.concatenate([d[2].T for d in docs])  # (profiles × 3, levels)
    spots = np.repeat(np.array([cs[d[0]].S for d in docs], dtype=np.float64), 3)
    zs = zero_gamma_many(lv, g, spots)
    empty = [not bool(d[3].any()) for d in docs]  # no contract used: zero_gamma of nothing
    return [None if empty[i] else zs[3 * i : 3 * i + 3] for i in range(len(docs))]


def _surfaces_many(cs: list[_Contracts], cfg: AnalysisConfig, out: list[_Curves]) -> None:
    from chainlens.exposure._surface import Surfaces, live_terms, surface_rows
    from chainlens.pricing._bsm import ncdf

    r = cfg.rate
    groups: dict[bytes, list[int]] = {}
    axes = []
    for k, c in enumerate(cs):  # a loop over snapshots: their time axes (one, usually)
        times, _ = _surface_axis(
            c.snap_ns, c.session, cfg.surface_intraday_step_hours, cfg.surface_sessions
        )
        tau = (times - c.snap_ns) / 1e9 / SECONDS_PER_YEAR
        axes.append(tau)
        groups.setdefault(tau.tobytes(), []).append(k)
    grid = [spot_grid(c.S, cfg.surface_spot_half_width, cfg.surface_spot_step) for c in cs]
    n_lv = grid[0].size if grid else 0
    step = max(1, 1_000_000 // max(1, n_lv))
    sel = []
    for c in cs:  # the contracts dealer_surfaces keeps, per snapshot
        wm = c.w * c.mult
        t, q, sg, K = c.t_years, c.gk.q, c.gk.sigma, c.K
        sel.append((surface_rows(K, t, q, sg, wm), wm))
    for ks_all in groups.values():
        ks_all = [k for k in ks_all if int(sel[k][0].sum()) <= step]
        for batch in _batches([int(sel[k][0].sum()) for k in ks_all], _CACHE_TERMS // n_lv):
            ks = [ks_all[j] for j in batch]
            tau = axes[ks[0]]
            cat = functools.partial(_cat, ks)
            K = cat(lambda k: cs[k].K[sel[k][0]])
            t = cat(lambda k: cs[k].t_years[sel[k][0]])
            q = cat(lambda k: cs[k].gk.q[sel[k][0]])
            sigma = cat(lambda k: cs[k].gk.sigma[sel[k][0]])
            is_call = cat(lambda k: cs[k].is_call[sel[k][0]])
            wm = cat(lambda k: sel[k][1][sel[k][0]])
            sizes = np.fromiter((int(sel[k][0].sum()) for k in ks), np.int64, len(ks))
            seg = np.repeat(np.arange(len(ks)), sizes)
            xT = np.ascontiguousarray(np.log(np.stack([grid[k] for k in ks])).T)
            dx = np.zeros((len(ks), tau.size, n_lv))
            gx = np.zeros((len(ks), tau.size, n_lv))
            for h, th in enumerate(tau.tolist()):  # a handful of time points
                live = t > th
                if not live.any():
                    continue
                a, b, wq, wg = live_terms(K, t, q, sigma, wm, r, th, live)
                sg_l = seg[live]
                d1 = np.take(xT, sg_l, axis=1)  # (levels, contracts), C order
                d1 -= a
                d1 *= b  # d1 = (ln S - a) b
                e1 = d1 * -0.5
                e1 *= d1
                np.exp(e1, out=e1)  # exp(-d1²/2)
                n1 = ncdf(d1, e1)
                put = ~is_call[live]
                at = np.searchsorted(sg_l, np.arange(len(ks) + 1))
                for j in range(len(ks)):  # a loop over snapshots: the sums of each
                    lo, hi = int(at[j]), int(at[j + 1])
                    if hi <= lo:
                        continue
                    w_j = wq[lo:hi]
                    put_const = -float(w_j[put[lo:hi]].sum())
                    # contiguous copies: BLAS sums a strided view in another order
                    dx[j, h] += np.ascontiguousarray(n1[:, lo:hi]) @ w_j
                    gx[j, h] += np.ascontiguousarray(e1[:, lo:hi]) @ wg[lo:hi]
                    dx[j, h] += put_const
                    gx[j, h] /= grid[ks[j]]
            for j, k in enumerate(ks):
                out[k].surfaces = Surfaces(grid[k], tau, dx[j], gx[j])


def _analyze_one(
    underlying: str,
    t: pa.Table,
    cfg: AnalysisConfig,
    c: _Contracts | None = None,
    curves: _Curves | None = None,
) -> ChainAnalysis:
    """The analysis of one underlying's snapshot ``t``; ``c``: its :class:`_Contracts`, and
    ``curves`` its gamma profiles and surfaces, when computed already (with other snapshots',
    :func:`analyze_chains`)."""
    if c is None:
        c = _contracts([underlying], [t], cfg)[0]
    n = t.num_rows
    S, snap, snap_ns, session = c.S, c.snap, c.snap_ns, c.session
    K, is_call, expiry, mult, oi, vol = c.K, c.is_call, c.expiry, c.mult, c.oi, c.vol
    mid, t_years, gk, w, ex = c.mid, c.t_years, c.gk, c.w, c.ex
    vanna, charm = c.vanna, c.charm
    excluded: dict[str, int] = {}
    rs = gk.reason[gk.reason != None]  # noqa: E711 - object array comparison
    if rs.size:
        keys, counts = np.unique(rs.astype(str), return_counts=True)
        excluded = {k: int(m) for k, m in zip(keys.tolist(), counts.tolist(), strict=True)}

    put = ~is_call
    totals = {
        "contracts": n,
        "call_oi": int(oi[is_call].sum()),
        "put_oi": int(oi[put].sum()),
        "call_volume": int(vol[is_call].sum()),
        "put_volume": int(vol[put].sum()),
    }
    totals["pc_oi_ratio"] = _ratio(totals["put_oi"], totals["call_oi"])
    totals["pc_volume_ratio"] = _ratio(totals["put_volume"], totals["call_volume"])
    totals["gex_usd_per_1pct"] = float(np.nansum(ex.gex_usd_per_1pct))
    totals["dex_shares"] = float(np.nansum(ex.dex_shares))
    totals["vanna_usd_per_vol_pt"] = float(np.nansum(ex.vanna_usd_per_vol_pt))
    totals["charm_shares_per_day"] = float(np.nansum(ex.charm_shares_per_day))
    futures = cfg.futures_usd_per_point.get(underlying)
    if futures:
        totals["dex_futures_contracts"] = totals["dex_shares"] / futures

    # --- by expiry (expiration date across roots) and by strike (all expiries)
    if c.groups is not None:
        ge, gs, sums = c.groups
    else:
        ge = group_by(expiry.astype(np.int64))
        gs = group_by(K)
        sums = _group_sums(ge, gs, is_call, oi, vol, ex)
    exp_dates = ge.keys.astype("datetime64[D]")
    mp_strike = sums["e_max_pain"] if "e_max_pain" in sums else None  # the chunk's
    if mp_strike is None:
        mp_strike = max_pain(ge.codes, K, is_call, oi, ge.n).strike
    # the per-expiry figures: computed with the chunk's (_groups_many), else here
    pre = sums if "e_tmax" in sums else None
    if pre is None:
        rows = _RowsOf(np.full(ge.n, S), mid, c.last, t_years, gk.delta, gk.sigma, None)
        pre = _expiry_figures(ge, S, K, is_call, oi, rows)  # type: ignore[arg-type]
    st = Straddles(*(pre[f"e_st_{f}"] for f in Straddles._fields))
    if "by_expiry_t" in sums:  # built with the chunk's (_groups_many)
        by_expiry, by_strike = sums["by_expiry_t"], sums["by_strike_t"]
    else:
        counts = np.bincount(ge.codes, minlength=ge.n)
        by_expiry = pa.table(_by_expiry_columns(exp_dates, counts, sums, pre, mp_strike))
        by_strike = pa.table(_by_strike_columns(gs.keys, sums))
    if "by_strike_live" in sums:  # computed with the chunk's (_groups_many)
        by_strike_live = sums["by_strike_live"]
    else:
        live_rows = expiry > np.datetime64(session, "D")
        by_strike_live = _by_strike_live(live_rows, K, is_call, oi, vol, ex)
    if "by_strike_expiry" in sums:  # computed with the chunk's (_groups_many)
        by_strike_expiry_t = sums["by_strike_expiry"]
    else:
        ex_short_all = contract_exposures(-oi, mult, S, gk.gamma, gk.delta, vanna, charm)
        bse = by_strike_expiry(expiry, K, is_call, oi, vol, ex, ex_short_all)
        bse["expiry"] = pa.array(bse["expiry"], pa.date32())
        by_strike_expiry_t = pa.table(bse)

    # --- levels
    strikes = gs.keys.astype(np.float64)
    dollar_gamma_call = sums["s_call_gex_abs"]
    dollar_gamma_put = sums["s_put_gex_abs"]
    if "walls" in sums:  # computed with the chunk's (_groups_many)
        walls = sums["walls"]
    else:
        walls = (
            wall_above(strikes, dollar_gamma_call, S),
            wall_below(strikes, dollar_gamma_put, S),
            wall_above(strikes, sums["s_call_oi"].astype(np.int64).astype(np.float64), S),
            wall_below(strikes, sums["s_put_oi"].astype(np.int64).astype(np.float64), S),
        )
    levels: dict[str, Any] = {
        "zero_gamma": float("nan"),
        "call_wall": walls[0],
        "put_wall": walls[1],
        "oi_call_wall": walls[2],
        "oi_put_wall": walls[3],
    }

    profile: dict[str, Any] = {}
    profile_by_expiry_t: pa.Table | None = None
    if cfg.profile:
        if curves is not None and curves.profile is not None:
            profile, profile_by_expiry_t = curves.profile, curves.profile_by_expiry
        else:
            profile = _profile(cfg, S, K, t_years, gk, w * mult, expiry, session)
            profile_by_expiry_t = _profile_by_expiry(
                cfg, S, K, t_years, gk, w * mult, -oi * mult, expiry
            )
        levels["zero_gamma"] = profile["zero_gamma"]["all"]["level"]
        levels["zero_gamma_reason"] = profile["zero_gamma"]["all"]["reason"]

    live_exp = pre["e_tmax"] > 0
    trend = max_pain_trend(
        exp_dates[live_exp],
        mp_strike[live_exp],
        S,
        cfg.max_pain_trend_n,
    )
    for rec in trend:
        rec["expiry"] = dt.date.fromisoformat(str(rec["expiry"]))

    vol_view: dict[str, Any] = {}
    if cfg.vol:
        vol_view, rr_25d, atm_iv = _vol_views(
            ge, exp_dates, K, is_call, gk, st, S, pre, sums.get("smile")
        )
        if "by_expiry_t" not in sums:  # the chunk's table has them
            by_expiry = by_expiry.append_column(
                "rr_25d", pa.array(rr_25d, pa.float64(), from_pandas=True)
            ).append_column("atm_iv", pa.array(atm_iv, pa.float64(), from_pandas=True))

    surfaces: dict[str, Any] = {}
    if cfg.surfaces:
        sf = curves.surfaces if curves is not None else None
        surfaces = _surfaces(
            cfg, underlying, S, snap_ns, session, K, t_years, gk, is_call, w * mult, sf=sf
        )

    if c.table is not None:  # built with the chunk's (_contracts)
        contracts = c.table
    else:
        contracts = _contracts_table(t, K, t_years, gk, w, ex)
    return ChainAnalysis(
        underlying=underlying,
        session=session,
        snapshot_ts=snap,
        spot=S,
        greeks=gk.source,
        dealer_model=cfg.dealer_model,
        totals=totals,
        levels=levels,
        by_expiry=by_expiry,
        by_strike=by_strike,
        by_strike_live=by_strike_live,
        by_strike_expiry=by_strike_expiry_t,
        profile_by_expiry=profile_by_expiry_t,
        excluded=excluded,
        contracts=contracts,
        profile=profile,
        max_pain_trend=trend,
        vol=vol_view,
        surfaces=surfaces,
        settings={
            "rate": cfg.rate,
            "t_floor_years": cfg.t_floor_years,
            "vendor_fallback": cfg.vendor_fallback,
        },
    )


def group_max(groups: Any, values: Float64Array) -> Float64Array:
    """Max of ``values`` per group (NaN ignored; -inf for an all-NaN group)."""
    out = np.full(groups.n, -np.inf)
    np.maximum.at(out, groups.codes, np.where(np.isfinite(values), values, -np.inf))
    return out


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _greeks_per_snapshot(
    seg: np.ndarray | None,
    S: Float64Array | float,
    K: Float64Array,
    t: Float64Array,
    r: float,
    q: Float64Array,
    sigma: Float64Array,
    is_call: BoolArray,
    which: tuple[str, ...],
) -> dict[str, Float64Array]:
    """:func:`chainlens.pricing.greeks` of several snapshots' rows (``seg``: the snapshot of
    each row; None: one snapshot), each snapshot on the path it takes alone: the snapshots
    whose every row is regular (:func:`chainlens.pricing._bsm.regular_rows`, the closed
    forms without masks) in one call, the others in another (the general path; the two agree
    to the last digits only). Elementwise otherwise, so each row's greeks are those of its
    snapshot alone."""
    from chainlens.pricing import greeks
    from chainlens.pricing._bsm import regular_rows

    if seg is None or seg.size == 0 or seg[0] == seg[-1]:
        return greeks(S, K, t, r, q, sigma, is_call, which=which)
    S_ = np.broadcast_to(np.asarray(S, dtype=np.float64), K.shape)
    irregular = ~regular_rows(S_, K, t, r, q, sigma)
    bad_seg = np.bincount(seg, weights=irregular) > 0
    rows_bad = bad_seg[seg]
    if not rows_bad.any() or rows_bad.all():
        return greeks(S_, K, t, r, q, sigma, is_call, which=which)
    out = {name: np.empty(K.size) for name in which}
    for m in (~rows_bad, rows_bad):
        g = greeks(S_[m], K[m], t[m], r, q[m], sigma[m], is_call[m], which=which)
        for name in which:
            out[name][m] = g[name]
    return out


def _vanna_charm(
    cfg: AnalysisConfig,
    S: Float64Array | float,
    K: Float64Array,
    t: Float64Array,
    gk: _Greeks,
    is_call: BoolArray,
    seg: np.ndarray | None = None,
) -> tuple[Float64Array, Float64Array]:
    """BSM vanna (per 1.00 vol) and charm (per year) with the contract's IV; NaN without one
    (``seg``: the snapshot of each row, :func:`_greeks_per_snapshot`)."""

    ok = np.isfinite(gk.sigma) & (gk.sigma > 0) & (t > 0) & np.isfinite(gk.gamma)
    if not ok.any():
        nan = np.full(K.size, np.nan)
        return nan, nan
    g = _greeks_per_snapshot(
        seg,
        S,
        K,
        np.where(ok, t, 1.0),
        cfg.rate,
        gk.q,
        np.where(ok, gk.sigma, 0.2),
        is_call,
        ("vanna", "charm"),
    )
    return np.where(ok, g["vanna"], np.nan), np.where(ok, g["charm"], np.nan)


def _oi_walls_per_group(
    ge: Any, K: Float64Array, is_call: BoolArray, oi: Float64Array, S: float | Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Per expiry: strike >= spot with the largest call OI, strike <= spot with the largest
    put OI (ties to the strike nearest spot), NaN where none has OI (vectorized). ``S``: the
    spot (USD), or one per group (the expiries of several snapshots, each as alone)."""
    s_g = np.asarray(S, dtype=np.float64)
    s_row = s_g[ge.codes] if s_g.ndim else s_g
    out = []
    for is_c, above in ((is_call, True), (~is_call, False)):
        m = is_c & (oi > 0) & ((K >= s_row) if above else (K <= s_row))
        # aggregate per (group, strike) first: several roots at one strike add up
        g, k, v = ge.codes[m], K[m], oi[m]
        res = np.full(ge.n, np.nan)
        if g.size:
            srt = np.lexsort((k, g))  # the distinct (group, strike) nodes in that order
            gs_, ks_ = g[srt], k[srt]
            new = np.r_[True, (gs_[1:] != gs_[:-1]) | (ks_[1:] != ks_[:-1])]
            inv = np.empty(g.size, dtype=np.int64)
            inv[srt] = np.cumsum(new) - 1
            tot = np.bincount(inv, weights=v)  # each node summed in row order
            ng, nk = gs_[new].astype(np.int64), ks_[new]
            # sort by group, then OI descending, then distance to spot ascending
            order = np.lexsort((np.abs(nk - (s_g[ng] if s_g.ndim else s_g)), -tot, ng))
            gs = ng[order]
            first = np.ones(order.size, dtype=bool)
            first[1:] = gs[1:] != gs[:-1]
            res[gs[first]] = nk[order[first]]
        out.append(res)
    return out[0], out[1]


def _profile(
    cfg: AnalysisConfig,
    S: float,
    K: Float64Array,
    t: Float64Array,
    gk: _Greeks,
    wm: Float64Array,
    expiry: np.ndarray,
    session: dt.date,
) -> dict[str, Any]:
    """Gamma profile (all, ex-0DTE, ex-next-expiry) and zero gamma for each variant."""
    ok = np.isfinite(gk.sigma) & (gk.sigma > 0) & (t > 0) & np.isfinite(gk.gamma)
    live_exp = expiry[ok]
    nxt = live_exp.min() if live_exp.size else None
    is0 = expiry == np.datetime64(session)
    w_all = np.where(ok, wm, 0.0)
    W = np.stack(
        [
            w_all,
            np.where(is0, 0.0, w_all),
            np.where(expiry == nxt, 0.0, w_all) if nxt is not None else w_all,
        ],
        axis=1,
    )
    terms = profile_terms(K, t, cfg.rate, gk.q, gk.sigma, W)
    lv = spot_grid(S, cfg.profile_half_width, cfg.profile_step)
    prof = gamma_profile(terms, lv)
    return _profile_doc(S, lv, prof, ok, nxt)


def _profile_doc(
    S: float, lv: Float64Array, prof: Float64Array, ok: BoolArray, nxt: Any, zs: Any = None
) -> dict[str, Any]:
    """The ``profile`` document from the three profile columns (:func:`_profile`); ``zs``:
    their three :class:`~chainlens.exposure.ZeroGamma` when found already (with other
    snapshots', :func:`_zero_gammas`)."""
    names = ("all", "ex_0dte", "ex_next_expiry")
    zg = {}
    for j, nm in enumerate(names):
        if zs is not None:
            z = zs[j]
        else:
            z = zero_gamma(lv, prof[:, j], S) if ok.any() else zero_gamma(lv, np.array([]), S)
        zg[nm] = {"level": z.level, "reason": z.reason}
    return {
        "levels": lv,
        "gex_usd_per_1pct": {nm: prof[:, j] for j, nm in enumerate(names)},
        "zero_gamma": zg,
        "next_expiry": None if nxt is None else str(nxt),
        "contracts_used": int(ok.sum()),
        "iv": "sticky strike (each contract's own IV)",
    }


def _profile_by_expiry(
    cfg: AnalysisConfig,
    S: float,
    K: Float64Array,
    t: Float64Array,
    gk: _Greeks,
    wm: Float64Array,
    wm_short_all: Float64Array,
    expiry: np.ndarray,
) -> pa.Table:
    """The ``profile_by_expiry`` part: ``GEX_e(S)`` per expiry and spot level of the
    :func:`_profile` grid, under the run's model (``wm``) and ``short_all``; contracts left out
    of the profile (no usable IV or ``t``) weigh 0, so the sum over expiries is ``all``."""
    ok = np.isfinite(gk.sigma) & (gk.sigma > 0) & (t > 0) & np.isfinite(gk.gamma)
    W = np.stack([np.where(ok, wm, 0.0), np.where(ok, wm_short_all, 0.0)], axis=1)
    terms = profile_terms(K, t, cfg.rate, gk.q, gk.sigma, W)
    lv = spot_grid(S, cfg.profile_half_width, cfg.profile_step)
    pe = profile_by_expiry(expiry, terms.a, terms.b, terms.c, lv)
    return _profile_by_expiry_table(lv, pe)


def _profile_by_expiry_tables(parts: list[tuple[Float64Array, dict[str, Any]]]) -> list[pa.Table]:
    """:func:`_profile_by_expiry_table` of several ``(levels, profile_by_expiry result)``: one
    table of their rows in order, a slice each (the same columns and values)."""
    if not parts:
        return []
    cols: dict[str, list[np.ndarray]] = {"expiry": [], "spot_level": [], "g0": [], "g1": []}
    sizes = []
    for lv, pe in parts:  # a loop over snapshots: their columns
        ne = pe["expiries"].size
        cols["expiry"].append(np.repeat(pe["expiries"], lv.size))
        cols["spot_level"].append(np.tile(lv, ne))
        cols["g0"].append(pe["gex"][:, :, 0].reshape(-1))
        cols["g1"].append(pe["gex"][:, :, 1].reshape(-1))
        sizes.append(ne * lv.size)
    t = pa.table(
        {
            "expiry": pa.array(np.concatenate(cols["expiry"]), pa.date32()),
            "spot_level": np.concatenate(cols["spot_level"]),
            "gex_usd_per_1pct": np.concatenate(cols["g0"]),
            "gex_short_all_usd_per_1pct": np.concatenate(cols["g1"]),
        }
    )
    at = np.r_[0, np.cumsum(sizes)]
    return [t.slice(int(at[j]), int(sizes[j])) for j in range(len(parts))]


def _profile_by_expiry_table(lv: Float64Array, pe: dict[str, Any]) -> pa.Table:
    """The ``profile_by_expiry`` table of :func:`profile_by_expiry`'s result."""
    ne = pe["expiries"].size
    return pa.table(
        {
            "expiry": pa.array(np.repeat(pe["expiries"], lv.size), pa.date32()),
            "spot_level": np.tile(lv, ne),
            "gex_usd_per_1pct": pe["gex"][:, :, 0].reshape(-1),
            "gex_short_all_usd_per_1pct": pe["gex"][:, :, 1].reshape(-1),
        }
    )


def _vol_views(
    ge: Any,
    exp_dates: np.ndarray,
    K: Float64Array,
    is_call: BoolArray,
    gk: _Greeks,
    st: Any,
    S: float,
    pre: dict[str, np.ndarray],
    smile: pa.Table | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Per-expiry expected moves, zones, 25/15-delta ranges, ATM IV, RR/BF (seeds 003, 004).

    ``pre``: the per-expiry figures (:func:`_expiry_figures`); ``smile``: the smile table when
    computed with other snapshots' (:func:`~chainlens.vol.smile_table_many`).

    Returns ``(view, rr_25d, atm_iv)``: the ``vol`` document, and the 25-delta risk reversal
    and ATM IV of every expiry (settled ones included) for the ``by_expiry`` table."""
    ds = DeltaStrikes(*(pre[f"e_ds_{f}"] for f in DeltaStrikes._fields))
    ts = {f: pre[f"e_ts_{f}"] for f in ("atm_iv", "iv_25d_call", "iv_25d_put", "rr_25d", "bf_25d")}
    live = pre["e_tmax"] > 0  # expiries not yet settled at the snapshot
    idx = np.flatnonzero(live)
    # the live expiries' values as Python floats, column by column (one tolist each)
    v = {
        "atm_strike": st.atm_strike[idx].tolist(),
        "straddle_mid": st.straddle_mid[idx].tolist(),
        "expected_move_pct": st.expected_move_pct[idx].tolist(),
        "put25": ds.put25[idx].tolist(),
        "call25": ds.call25[idx].tolist(),
        "put15": ds.put15[idx].tolist(),
        "call15": ds.call15[idx].tolist(),
        "range_50_pct": ((ds.call25[idx] - ds.put25[idx]) / S * 100.0).tolist(),
        "range_70_pct": ((ds.call15[idx] - ds.put15[idx]) / S * 100.0).tolist(),
        **{f: ts[f][idx].tolist() for f in ("atm_iv", "iv_25d_call", "iv_25d_put", "rr_25d")},
        "bf_25d": ts["bf_25d"][idx].tolist(),
        "expiry": np.asarray(exp_dates[idx], dtype="datetime64[D]").astype(str).tolist(),
    }
    per_exp = []
    for j in range(idx.size):  # one record per expiry (output building)
        move = v["straddle_mid"][j]
        per_exp.append(
            {
                "expiry": v["expiry"][j],
                "atm_strike": v["atm_strike"][j],
                "straddle_mid": move,
                "expected_move_pct": v["expected_move_pct"][j],
                "zone": expected_move_zones(S, move),
                "range_50": [v["put25"][j], v["call25"][j]],
                "range_70": [v["put15"][j], v["call15"][j]],
                "range_50_pct": v["range_50_pct"][j],
                "range_70_pct": v["range_70_pct"][j],
                "atm_iv": v["atm_iv"][j],
                "iv_25d_call": v["iv_25d_call"][j],
                "iv_25d_put": v["iv_25d_put"][j],
                "rr_25d": v["rr_25d"][j],
                "bf_25d": v["bf_25d"][j],
            }
        )
    if smile is None:
        smile = smile_table(exp_dates[ge.codes], K, is_call, gk.sigma)
    return (
        {
            "expiries": per_exp,
            "atm_term_structure": [[r["expiry"], r["atm_iv"]] for r in per_exp],
            "skew_term_structure": [[r["expiry"], r["rr_25d"]] for r in per_exp],
            "smile": smile,
        },
        ts["rr_25d"],
        ts["atm_iv"],
    )


@functools.lru_cache(maxsize=256)
def _surface_axis(
    snap_ns: int, session: dt.date, step_hours: float, n_sessions: int
) -> tuple[np.ndarray, tuple[str, ...]]:
    """:func:`_surface_times` and their ISO ``Z`` strings, once per snapshot instant (the
    snapshots of a chunk share it; read-only array)."""
    times = _surface_times(snap_ns, session, step_hours, n_sessions)
    times.flags.writeable = False
    iso = tuple(_iso_z(dt.datetime.fromtimestamp(x / 1e9, dt.UTC)) for x in times.tolist())
    return times, iso


def _surface_times(
    snap_ns: int, session: dt.date, step_hours: float, n_sessions: int
) -> np.ndarray:
    """Instants (UTC ns) of the surface time axis: the snapshot, every ``step_hours`` to
    today's close when before it, then the next ``n_sessions`` session closes."""
    from chainlens import calendar

    close = int(
        np.datetime64(calendar.session_close(session).replace(tzinfo=None), "ns").astype(np.int64)
    )
    pts = [snap_ns]
    step = int(step_hours * 3600e9)
    if snap_ns < close:
        pts.extend(range(snap_ns + step, close, step))
        pts.append(close)
    d = session
    for _ in range(n_sessions):  # a few sessions ahead
        d = calendar.next_session(d)
        pts.append(
            int(
                np.datetime64(calendar.session_close(d).replace(tzinfo=None), "ns").astype(np.int64)
            )
        )
    return np.asarray(pts, dtype=np.int64)


def _surfaces(
    cfg: AnalysisConfig,
    underlying: str,
    S: float,
    snap_ns: int,
    session: dt.date,
    K: Float64Array,
    t: Float64Array,
    gk: _Greeks,
    is_call: BoolArray,
    wm: Float64Array,
    *,
    sf: Any = None,
) -> dict[str, Any]:
    """DX/GX surfaces over spot × time (seed 004), with futures-equivalent units; ``sf``: the
    :class:`~chainlens.exposure.Surfaces` when computed already (:func:`_curves_many`)."""
    from chainlens.exposure._surface import dealer_surfaces

    times, iso = _surface_axis(
        snap_ns, session, cfg.surface_intraday_step_hours, cfg.surface_sessions
    )
    tau = (times - snap_ns) / 1e9 / SECONDS_PER_YEAR
    lv = spot_grid(S, cfg.surface_spot_half_width, cfg.surface_spot_step)
    if sf is None:
        sf = dealer_surfaces(lv, tau, K, t, cfg.rate, gk.q, gk.sigma, is_call, wm)
    out: dict[str, Any] = {
        "spot_levels": lv,
        "times": list(iso),
        "hours_ahead": (times - snap_ns) / 3600e9,
        "dx_shares": sf.dx_shares,
        "gx_shares_per_usd": sf.gx_shares_per_usd,
        "iv": "sticky strike",
    }
    fut = cfg.futures_usd_per_point.get(underlying)
    if fut:
        out["futures_usd_per_point"] = fut
        out["dx_futures_contracts"] = sf.dx_shares / fut
        out["gx_futures_contracts_per_point"] = sf.gx_shares_per_usd / fut
    return out
