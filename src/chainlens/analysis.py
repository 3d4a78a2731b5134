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
    subset_order,
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


@functools.lru_cache(maxsize=1024)
def _iso_z(ts: dt.datetime) -> str:
    """The instant in UTC, ISO with a ``Z`` and no trailing zeros of the fraction (once per
    instant: the snapshots of a chunk share theirs)."""
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
    if name not in t.schema.names:
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
    singles = _single_underlyings(chains)
    for i, t in enumerate(chains):  # a loop over snapshots: which ones batch together
        us = singles[i]
        if us is None:
            continue
        u, spots[i] = us
        names = tuple(t.schema.names)
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


def _single_underlyings(tables: Sequence[pa.Table]) -> list[tuple[str, float] | None]:
    """:func:`_single_underlying` of every table: the tables with a text ``underlying`` and a
    ``spot`` column (of one type each across the tables) in one pass over their concatenated
    columns (each table's rows equal to its first one, and its first finite positive spot);
    the others one by one."""
    out: list[tuple[str, float] | None] = [None] * len(tables)
    req = set(_REQUIRED) | {"spot"}
    fast = [
        i
        for i, t in enumerate(tables)
        if t.num_rows and req.issubset(t.schema.names) and _is_text(t.schema.field("underlying").type)
        and t.column("underlying").null_count == 0
    ]  # fmt: skip
    if fast:
        u_ty = tables[fast[0]].schema.field("underlying").type
        s_ty = tables[fast[0]].schema.field("spot").type
        if any(
            tables[i].schema.field("underlying").type != u_ty
            or tables[i].schema.field("spot").type != s_ty
            for i in fast
        ):
            fast = []
    if len(fast) > 1:
        ts = [tables[i] for i in fast]
        sizes = np.fromiter((t.num_rows for t in ts), np.int64, len(ts))
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        und = pa.chunked_array([c for t in ts for c in t.column("underlying").chunks], u_ty)
        firsts = pc.take(und, pa.array(starts))
        same = pc.equal(und, pc.take(firsts, pa.array(np.repeat(np.arange(len(ts)), sizes))))
        one = np.logical_and.reduceat(np.asarray(same.to_numpy(zero_copy_only=False), bool), starts)
        sp = pc.cast(
            pa.chunked_array([c for t in ts for c in t.column("spot").chunks], s_ty), pa.float64()
        )
        spot = sp.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        cand = np.flatnonzero(np.isfinite(spot) & (spot > 0))
        pos = np.asarray(np.searchsorted(cand, starts), dtype=np.int64)
        has: np.ndarray = pos < cand.size
        has[has] &= cand[pos[has]] < starts[has] + sizes[has]
        names = firsts.to_pylist()
        s_first = spot[cand[np.minimum(pos, max(cand.size - 1, 0))]] if cand.size else spot[:0]
        for j, i in enumerate(fast):  # a loop over snapshots: their answers
            if one[j] and has[j]:
                out[i] = (str(names[j]), float(s_first[j]))
        done = set(fast)
    else:
        done = set()
    for i, t in enumerate(tables):  # the others: one by one
        if i not in done:
            out[i] = _single_underlying(t)
    return out


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
    #: the ``totals`` (without the futures units) and ``excluded`` of the snapshot, when
    #: computed with other snapshots' (:func:`_totals_many`)
    totals: tuple[dict[str, Any], dict[str, int]] | None = None


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
    tots = (
        _totals_many(seg, len(tables), is_call, oi, vol, ex, gk.reason) if len(tables) > 1 else None
    )
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
                totals=None if tots is None else tots[k],
            )  # fmt: skip
        )
    return out


def _totals_many(
    seg: np.ndarray,
    n_seg: int,
    is_call: BoolArray,
    oi: Float64Array,
    vol: Float64Array,
    ex: Any,
    reason: np.ndarray,
) -> list[tuple[dict[str, Any], dict[str, int]]]:
    """The ``totals`` (without the futures units) and ``excluded`` of every snapshot (``seg``:
    the snapshot of each row, non-decreasing): contracts listed; call and put OI and volume
    (contracts); put/call ratios of both; dealer GEX (USD per 1% move), DEX (shares), vanna
    (USD per vol point) and charm (shares per day) summed over the snapshot's contracts, NaN
    as 0 (``np.nansum``); the count of each exclusion reason, by name. Every sum is NumPy's
    pairwise sum of the snapshot's values in row order (:func:`chainlens.exposure._blocked.sums`),
    so each snapshot's figures are those of it alone."""
    from chainlens.exposure._blocked import sums

    at = np.searchsorted(seg, np.arange(n_seg + 1))
    counts = np.diff(at).tolist()

    def part(v: Float64Array, m: BoolArray) -> list[float]:
        return sums(v[m], np.searchsorted(seg[m], np.arange(n_seg + 1))).tolist()

    put = ~is_call
    c_oi, p_oi = part(oi, is_call), part(oi, put)
    c_vol, p_vol = part(vol, is_call), part(vol, put)
    flows = [
        sums(np.where(np.isnan(a), 0.0, a), at).tolist()
        for a in (ex.gex_usd_per_1pct, ex.dex_shares, ex.vanna_usd_per_vol_pt, ex.charm_shares_per_day)
    ]  # fmt: skip
    has = reason != None  # noqa: E711 - object array comparison
    exc: list[dict[str, int]] = [{} for _ in range(n_seg)]
    if has.any():
        keys, code = np.unique(reason[has].astype(str), return_inverse=True)
        nk = keys.size
        tab = np.bincount(seg[has] * nk + code.reshape(-1), minlength=n_seg * nk).reshape(n_seg, nk)
        names = keys.tolist()
        for j in np.flatnonzero(tab.any(axis=1)).tolist():  # snapshots with exclusions
            row = tab[j]
            exc[j] = {names[i]: int(row[i]) for i in np.flatnonzero(row).tolist()}
    out = []
    for j in range(n_seg):  # a loop over snapshots: their documents
        t = {
            "contracts": counts[j],
            "call_oi": int(c_oi[j]),
            "put_oi": int(p_oi[j]),
            "call_volume": int(c_vol[j]),
            "put_volume": int(p_vol[j]),
        }
        t["pc_oi_ratio"] = _ratio(t["put_oi"], t["call_oi"])
        t["pc_volume_ratio"] = _ratio(t["put_volume"], t["call_volume"])
        t["gex_usd_per_1pct"] = flows[0][j]
        t["dex_shares"] = flows[1][j]
        t["vanna_usd_per_vol_pt"] = flows[2][j]
        t["charm_shares_per_day"] = flows[3][j]
        out.append((t, exc[j]))
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
            else _by_strike_live_many(seg, n_seg, extra.live, K, is_call, oi, vol, ex, order)
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
    vol_cols: dict[str, list[Any]] = {}
    if extra is not None:  # the vol document's columns of the chunk's live expiries
        live_idx = np.flatnonzero(sums["e_tmax"] > 0)
        vol_cols = _vol_columns(sums, live_idx, extra.spots[e_seg], days.astype("datetime64[D]"))
        v_at = np.searchsorted(live_idx, e_at).tolist()
    r_at = np.searchsorted(seg, np.arange(n_seg + 1))
    out = []
    # with ``extra`` the chunk built the tables, walls and vol columns: each snapshot's part
    # holds the sums _analyze_one still reads (a view of each), else every sum
    items = [
        (name, v, name.startswith("e_"))
        for name, v in sums.items()
        if extra is None or name in _PART_SUMS or name.startswith("e_st_")
    ]
    e_at_l, s_at_l, r_at_l = e_at.tolist(), s_at.tolist(), r_at.tolist()
    for k in range(n_seg):  # a loop over snapshots: views of the chunk's groups
        e0, e1, s0, s1 = e_at_l[k], e_at_l[k + 1], s_at_l[k], s_at_l[k + 1]
        rows = slice(r_at_l[k], r_at_l[k + 1])
        ge = Groups(ge_all.keys[e0:e1] - k * 10_000_000, ge_all.codes[rows] - e0)
        gs = Groups(gs_all.keys[s0:s1], gs_all.codes[rows] - s0)
        part = {name: v[e0:e1] if is_e else v[s0:s1] for name, v, is_e in items}
        if extra is not None:
            part["by_strike_expiry"], part["smile"] = bse[k], smiles[k]
            part["walls"] = tuple(float(w[k]) for w in walls)
            part["vol_cols"] = {nm: col[v_at[k] : v_at[k + 1]] for nm, col in vol_cols.items()}
            part["by_expiry_t"] = e_tab.slice(e0, e1 - e0)
            part["by_strike_t"] = s_tab.slice(s0, s1 - s0)
            if live_t is not None:
                part["by_strike_live"] = live_t[k]
        out.append((ge, gs, part))
    return out


#: the sums of a snapshot's part that :func:`_analyze_one` reads besides the chunk-built
#: tables, walls and vol columns (and the ``e_st_`` straddles)
_PART_SUMS = frozenset(
    ("e_max_pain", "e_tmax", "e_ts_atm_iv", "e_ts_rr_25d", "s_call_gex_abs", "s_put_gex_abs")
)


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
    order_all: np.ndarray | None = None,
) -> list[pa.Table | None]:
    """:func:`_by_strike_live` of every snapshot of a chunk (``seg``: the snapshot of each
    row, non-decreasing; strikes positive): the live rows grouped by (snapshot, strike) and
    summed with ``np.bincount`` in row order (each group as alone), one table for the chunk,
    a slice per snapshot; ``None`` for a snapshot whose every contract is live.
    ``order_all``: the stable (snapshot, strike) order of all the rows when known (the live
    rows' order is taken from it, :func:`~chainlens.exposure._exposure.subset_order`)."""
    all_live = np.bincount(seg, weights=~live, minlength=n_seg) == 0
    if bool(all_live.all()):
        return [None] * n_seg
    sg, k = seg[live], K[live]
    sub = None if order_all is None else subset_order(order_all, live)
    order, new, codes = lex_groups(sg, k, order=sub)
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

    Each snapshot's contracts are evaluated on its own spot grid (the log of its snapshot's
    levels), with the formulas of :func:`_profile`, :func:`_profile_by_expiry` and
    :func:`_surfaces` (:func:`~chainlens.exposure.gamma_profile`,
    :func:`~chainlens.exposure.profile_by_expiry`, :func:`~chainlens.exposure.dealer_surfaces`):
    the values of a batch of snapshots lie block after block in one buffer
    (:mod:`chainlens.exposure._blocked`), so the elementwise steps run once per batch and only
    the sums over contracts stay per snapshot (a matrix product on the snapshot's block, the
    ``np.add.reduceat`` order per (snapshot, expiry) segment), each over the same values in
    the same order as alone: bit for bit the per-snapshot results. Batches hold whole
    snapshots and about :data:`_CACHE_TERMS` values; a snapshot the compiled profile kernel
    would take alone (the engine policy on its size), or one with more surface contracts than
    one NumPy chunk of :func:`~chainlens.exposure.dealer_surfaces`, is computed alone
    (``None`` here)."""
    from chainlens.exposure import _profile as prof_mod

    out = [_Curves() for _ in cs]
    if cfg.profile:
        _profiles_many(cs, cfg, out, prof_mod)
    if cfg.surfaces:
        _surfaces_many(cs, cfg, out)
    return out


def _profiles_many(cs: list[_Contracts], cfg: AnalysisConfig, out: list[_Curves], pm: Any) -> None:
    """The ``profile`` documents and ``profile_by_expiry`` tables of the snapshots the NumPy
    profile kernel takes (:func:`_curves_many`): the weight columns, terms, log levels, scalings
    and zero gammas of the chunk in one pass each; the (levels × contracts) values a batch at a
    time in blocks (:mod:`chainlens.exposure._blocked`), each snapshot's sums (a matrix
    product for the profile, ``np.add.reduceat`` order per expiry for ``profile_by_expiry``)
    over its own block, as alone."""
    from chainlens.exposure._blocked import block_args, block_view, segment_sums

    if not cs:
        return
    n_half = int(round(cfg.profile_half_width / cfg.profile_step))
    n_lv = 2 * n_half + 1
    chunk = max(1, 2_000_000 // max(1, n_lv))
    sel = [
        k
        for k, c in enumerate(cs)
        if 0 < c.K.size and not pm.use_numba(c.K.size * n_lv * 3, pm._NUMBA_MIN_WORK)
    ]
    if not sel:
        return
    cc = [cs[k] for k in sel]
    m = len(cc)
    sizes = np.fromiter((c.K.size for c in cc), np.int64, m)
    off = np.r_[0, np.cumsum(sizes)]
    seg = np.repeat(np.arange(m, dtype=np.int64), sizes)
    cat = functools.partial(_cat, cc)
    K, t, q, sigma = (
        cat(lambda c: c.K),
        cat(lambda c: c.t_years),
        cat(lambda c: c.gk.q),
        cat(lambda c: c.gk.sigma),
    )
    expiry = cat(lambda c: c.expiry)
    wm = cat(lambda c: c.w) * cat(lambda c: c.mult)
    w_short = -cat(lambda c: c.oi) * cat(lambda c: c.mult)
    ok = np.isfinite(sigma) & (sigma > 0) & (t > 0) & np.isfinite(cat(lambda c: c.gk.gamma))
    # the weight columns (all, ex-0DTE, ex-next-expiry; run's model and short_all per expiry)
    ekey = expiry.astype("datetime64[D]").astype(np.int64)
    big = np.iinfo(np.int64).max
    nxt = np.minimum.reduceat(np.where(ok, ekey, big), off[:-1])  # the next live expiry
    has_nxt = nxt != big
    sessions = np.array([c.session for c in cc], dtype="datetime64[D]")
    w_all = np.where(ok, wm, 0.0)
    W = np.stack(
        [
            w_all,
            np.where(expiry == sessions[seg], 0.0, w_all),
            np.where(has_nxt[seg] & (ekey == nxt[seg]), 0.0, w_all),
            np.where(ok, wm, 0.0),
            np.where(ok, w_short, 0.0),
        ],
        axis=1,
    )
    a, b, cw = profile_terms(K, t, cfg.rate, q, sigma, W)
    c3 = np.ascontiguousarray(cw[:, :3])
    c2 = np.ascontiguousarray(cw[:, 3:])
    spots = np.array([c.S for c in cc], dtype=np.float64)
    grid = spots[:, None] * (1.0 + np.arange(-n_half, n_half + 1) * cfg.profile_step)
    x = np.log(grid)
    # contracts in (snapshot, expiry) order, rows stable: the profile_by_expiry segments
    if bool(np.all((seg[1:] != seg[:-1]) | (ekey[1:] >= ekey[:-1]))):
        perm = None
    else:
        perm = np.lexsort((ekey, seg)).astype(np.int64)
    seg_s, e_s = (seg, ekey) if perm is None else (seg[perm], ekey[perm])
    starts = np.flatnonzero(np.r_[True, (seg_s[1:] != seg_s[:-1]) | (e_s[1:] != e_s[:-1])])
    seg_of = seg_s[starts]
    starts = np.r_[starts, seg.size]
    seg_at = np.searchsorted(seg_of, np.arange(m + 1))
    # a snapshot of more than ``chunk`` contracts: its sums in chunks of contracts, added up
    # in order, as the NumPy kernels alone (gamma_profile, profile_by_expiry) form them
    large = np.flatnonzero(sizes > chunk)
    sub = starts[:-1]
    if large.size:
        cuts = [np.arange(int(off[j]) + chunk, int(off[j + 1]), chunk) for j in large.tolist()]
        sub = np.union1d(sub, np.concatenate(cuts))
    parent = np.searchsorted(starts, sub, side="right") - 1  # the segment of each part
    sub_of = seg_of[parent]
    sub = np.r_[sub, seg.size]
    sub_at = np.searchsorted(sub_of, np.arange(m + 1))
    P = np.empty((m, n_lv, 3))
    G = np.empty((sub_of.size, n_lv, 2))
    for batch in _batches(sizes.tolist(), max(1, _CACHE_TERMS // n_lv)):
        j0, j1 = batch[0], batch[-1] + 1
        lo, hi = int(off[j0]), int(off[j1])
        ob = off[j0 : j1 + 1] - lo
        E, _ = block_args(x[j0:j1], ob, a[lo:hi], b[lo:hi])
        np.exp(E, out=E)  # exp(-d²/2): φ/√(2π) up to the constant
        for j in range(j1 - j0):  # a loop over snapshots: each one's product, its block
            blk = block_view(E, ob, n_lv, j)
            c_j = c3[lo + int(ob[j]) : lo + int(ob[j + 1])]
            if blk.shape[1] <= chunk:
                P[j0 + j] = blk @ c_j
                continue
            P[j0 + j] = 0.0
            for s in range(0, blk.shape[1], chunk):  # chunks of contracts, as alone
                P[j0 + j] += np.ascontiguousarray(blk[:, s : s + chunk]) @ c_j[s : s + chunk]
        s0, s1 = int(sub_at[j0]), int(sub_at[j1])
        G[s0:s1] = segment_sums(
            E, n_lv, ob, None if perm is None else perm[lo:hi] - lo, sub[s0 : s1 + 1] - lo,
            sub_of[s0:s1] - j0, c2[lo:hi],
        )  # fmt: skip
    P += 0.0  # as summed into zeros (-0.0 -> 0.0)
    P = P * pm._INV_SQRT_2PI
    P = P * (GEX_MOVE_FRACTION * grid)[:, :, None]
    if large.size:  # the parts of a segment added into zeros in order
        G_sub, G = G, np.zeros((seg_of.size, n_lv, 2))
        np.add.at(G, parent, G_sub)
    else:
        G += 0.0
    G *= (pm._INV_SQRT_2PI * (GEX_MOVE_FRACTION * grid))[seg_of][:, :, None]
    used = np.add.reduceat(ok, off[:-1]).tolist() if ok.size else [0] * m
    nxt_d = nxt.astype("datetime64[D]")
    zs = _zero_gammas(grid, P, spots, used)
    for j, k in enumerate(sel):  # a loop over snapshots: their documents
        nx = str(nxt_d[j]) if has_nxt[j] else None
        out[k].profile = _profile_doc(cc[j].S, grid[j], P[j], int(used[j]), nx, zs[j])
    # the profile_by_expiry tables: one table, a slice per snapshot
    t_pe = pa.table(
        {
            "expiry": pa.array(
                np.repeat(e_s[starts[:-1]], n_lv).astype("datetime64[D]"), pa.date32()
            ),
            "spot_level": grid[seg_of].reshape(-1),
            "gex_usd_per_1pct": G[:, :, 0].reshape(-1),
            "gex_short_all_usd_per_1pct": G[:, :, 1].reshape(-1),
        }
    )
    for j, k in enumerate(sel):  # a loop over snapshots: slices
        r0, r1 = int(seg_at[j]) * n_lv, int(seg_at[j + 1]) * n_lv
        out[k].profile_by_expiry = t_pe.slice(r0, r1 - r0)


def _zero_gammas(
    grid: Float64Array, P: Float64Array, spots: Float64Array, used: list[int]
) -> list[list[Any] | None]:
    """The three zero gammas of each profile ``P[j]`` (levels ``grid[j]``, spot ``spots[j]``;
    :func:`~chainlens.exposure._profile.zero_gamma_many`; equal to what :func:`_profile_doc`
    finds for each); None where no contract was used (zero_gamma of nothing)."""
    from chainlens.exposure._profile import zero_gamma_many

    m, nl = grid.shape
    if m == 0:
        return []
    lv = np.repeat(grid, 3, axis=0)
    g = np.ascontiguousarray(P.transpose(0, 2, 1)).reshape(m * 3, nl)  # (profiles × 3, levels)
    zs = zero_gamma_many(lv, g, np.repeat(spots, 3))
    return [None if not used[i] else zs[3 * i : 3 * i + 3] for i in range(m)]


def _surfaces_many(cs: list[_Contracts], cfg: AnalysisConfig, out: list[_Curves]) -> None:
    """The DX/GX surfaces of the chunk's snapshots (:func:`_curves_many`): the contracts kept
    (:func:`~chainlens.exposure._surface.surface_rows`), spot grids and, per time point, the
    live terms once per batch of snapshots sharing a time axis; the (levels × live contracts)
    values in blocks (:mod:`chainlens.exposure._blocked`), ``exp`` and the normal CDF over the
    whole batch, and each snapshot's sums (matrix-vector products over its block, the puts'
    constant a pairwise sum) as :func:`~chainlens.exposure.dealer_surfaces` forms them alone."""
    from chainlens.exposure._blocked import block_args, sums
    from chainlens.exposure._surface import Surfaces, live_terms, surface_rows
    from chainlens.pricing._bsm import ncdf

    if not cs:
        return
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
    n_half = int(round(cfg.surface_spot_half_width / cfg.surface_spot_step))
    n_lv = 2 * n_half + 1
    spots = np.array([c.S for c in cs], dtype=np.float64)
    grid = spots[:, None] * (1.0 + np.arange(-n_half, n_half + 1) * cfg.surface_spot_step)
    x = np.log(grid)
    step = max(1, 1_000_000 // n_lv)
    cat = functools.partial(_cat, cs)
    seg = np.repeat(np.arange(len(cs), dtype=np.int64), [c.K.size for c in cs])
    K, t, q, sg = (
        cat(lambda c: c.K),
        cat(lambda c: c.t_years),
        cat(lambda c: c.gk.q),
        cat(lambda c: c.gk.sigma),
    )
    wm = cat(lambda c: c.w) * cat(lambda c: c.mult)
    keep = surface_rows(K, t, q, sg, wm)  # the contracts dealer_surfaces keeps
    counts = np.bincount(seg[keep], minlength=len(cs))
    is_call = cat(lambda c: c.is_call)
    for ks_all in groups.values():
        ks_all = [k for k in ks_all if int(counts[k]) <= step]
        if not ks_all:
            continue
        ks_arr = np.asarray(ks_all, dtype=np.int64)
        inset = np.zeros(len(cs), dtype=bool)
        inset[ks_arr] = True
        rows = np.flatnonzero(keep & inset[seg])  # by snapshot, then row
        pos = np.full(len(cs), -1, dtype=np.int64)
        pos[ks_arr] = np.arange(ks_arr.size)
        sg_r = pos[seg[rows]]  # the snapshot of each row, 0.. in ks_all order
        K_r, t_r, q_r, s_r, w_r, c_r = K[rows], t[rows], q[rows], sg[rows], wm[rows], is_call[rows]
        tau = axes[ks_all[0]]
        nt = tau.size
        m = len(ks_all)
        dxv = np.zeros((m, nt, n_lv))
        gxv = np.zeros((m, nt, n_lv))
        pcs = np.zeros((m, nt))
        done = np.zeros((m, nt), dtype=bool)
        r_off = np.r_[0, np.cumsum(counts[ks_arr])]
        for batch in _batches(counts[ks_arr].tolist(), _CACHE_TERMS // n_lv):
            j0, j1 = batch[0], batch[-1] + 1
            lo, hi = int(r_off[j0]), int(r_off[j1])
            sl = slice(lo, hi)
            tb, sgb = t_r[sl], sg_r[sl]
            xb = x[ks_arr[j0:j1]]
            for h, th in enumerate(tau.tolist()):  # a handful of time points
                live = tb > th
                if not live.any():
                    continue
                a, b, wq, wg = live_terms(K_r[sl], tb, q_r[sl], s_r[sl], w_r[sl], r, th, live)
                sg_l = sgb[live] - j0
                off = np.searchsorted(sg_l, np.arange(j1 - j0 + 1))
                e1, d1 = block_args(xb, off, a, b, want_d=True)
                assert d1 is not None
                np.exp(e1, out=e1)  # exp(-d1²/2)
                n1 = ncdf(d1, e1)
                put = ~c_r[sl][live]
                wp = wq[put]
                p_at = np.searchsorted(sg_l[put], np.arange(j1 - j0 + 1))
                pcs[j0:j1, h] = -sums(wp, p_at)  # Δ_put = e^{-qτ}(N(d1) - 1): a constant
                off_l = off.tolist()
                for j in range(j1 - j0):  # a loop over snapshots: the sums of each
                    o0, o1 = off_l[j], off_l[j + 1]
                    if o1 <= o0:
                        continue
                    b0, b1 = n_lv * o0, n_lv * o1  # the snapshot's block (block_view)
                    dxv[j0 + j, h] = n1[b0:b1].reshape(n_lv, o1 - o0) @ wq[o0:o1]
                    gxv[j0 + j, h] = e1[b0:b1].reshape(n_lv, o1 - o0) @ wg[o0:o1]
                done[j0:j1, h] = off[1:] > off[:-1]
        dxv += 0.0  # as summed into zeros (-0.0 -> 0.0)
        dxv += np.where(done, pcs, 0.0)[:, :, None]
        gxv += 0.0
        gxv /= grid[ks_arr][:, None, :]
        dx = np.where(done[:, :, None], dxv, 0.0)
        gx = np.where(done[:, :, None], gxv, 0.0)
        for j, k in enumerate(ks_all):
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
    if c.totals is not None:  # computed with the chunk's (_totals_many)
        totals, excluded = c.totals
    else:
        totals, excluded = _totals_many(
            np.zeros(n, dtype=np.int64), 1, is_call, oi, vol, ex, gk.reason
        )[0]
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
        if type(rec["expiry"]) is not dt.date:  # NumPy's days are dates already
            rec["expiry"] = dt.date.fromisoformat(str(rec["expiry"]))

    vol_view: dict[str, Any] = {}
    if cfg.vol:
        vol_view, rr_25d, atm_iv = _vol_views(
            ge, exp_dates, K, is_call, gk, st, S, pre, sums.get("smile"), sums.get("vol_cols")
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
            srt, new, inv = lex_groups(g, k)  # the distinct (group, strike) nodes in order
            gs_, ks_ = g[srt], k[srt]
            tot = np.bincount(inv, weights=v)  # each node summed in row order
            ng, nk = gs_[new].astype(np.int64), ks_[new]
            dist = np.abs(nk - (s_g[ng] if s_g.ndim else s_g))
            # per group (nodes in group order): the first node of the largest OI, then of
            # the least distance to spot among those (the stable sort by group, OI
            # descending, distance ascending puts that node first; OI is positive, no NaN)
            lead = np.r_[True, ng[1:] != ng[:-1]]
            at, run = np.flatnonzero(lead), np.cumsum(lead) - 1
            best = tot == np.maximum.reduceat(tot, at)[run]
            best &= dist == np.minimum.reduceat(np.where(best, dist, np.inf), at)[run]
            first = np.minimum.reduceat(np.where(best, np.arange(ng.size), ng.size), at)
            res[ng[at]] = nk[first]
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
    return _profile_doc(S, lv, prof, int(ok.sum()), nxt)


def _profile_doc(
    S: float, lv: Float64Array, prof: Float64Array, used: int, nxt: Any, zs: Any = None
) -> dict[str, Any]:
    """The ``profile`` document from the three profile columns (:func:`_profile`) and the
    number of contracts ``used`` (those with a usable IV and time; none: no zero gamma);
    ``zs``: their three :class:`~chainlens.exposure.ZeroGamma` when found already (with other
    snapshots', :func:`_zero_gammas`)."""
    names = ("all", "ex_0dte", "ex_next_expiry")
    zg = {}
    for j, nm in enumerate(names):
        if zs is not None:
            z = zs[j]
        else:
            z = zero_gamma(lv, prof[:, j], S) if used else zero_gamma(lv, np.array([]), S)
        zg[nm] = {"level": z.level, "reason": z.reason}
    return {
        "levels": lv,
        "gex_usd_per_1pct": {nm: prof[:, j] for j, nm in enumerate(names)},
        "zero_gamma": zg,
        "next_expiry": None if nxt is None else str(nxt),
        "contracts_used": used,
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


def _vol_columns(
    pre: dict[str, np.ndarray], idx: np.ndarray, S: float | Float64Array, exp_dates: np.ndarray
) -> dict[str, list[Any]]:
    """The per-expiry values of the ``vol`` document of the expiry groups ``idx`` (the live
    ones: not yet settled at the snapshot), column by column as Python lists (one ``tolist``
    each): ATM strike, straddle mid (USD) and expected move (percent of spot) on the mid;
    25/15-delta strikes (USD) and the ranges between them (percent of the spot ``S``, one per
    group or one for all); ATM IV, 25-delta call/put IVs, risk reversal and butterfly
    (:func:`_expiry_figures`); the ISO expiry dates."""
    ds = DeltaStrikes(*(pre[f"e_ds_{f}"] for f in DeltaStrikes._fields))
    s_g = np.asarray(S, dtype=np.float64)
    s_i = s_g[idx] if s_g.ndim else s_g
    return {
        "atm_strike": pre["e_st_atm_strike"][idx].tolist(),
        "straddle_mid": pre["e_st_straddle_mid"][idx].tolist(),
        "expected_move_pct": pre["e_st_expected_move_pct"][idx].tolist(),
        "put25": ds.put25[idx].tolist(),
        "call25": ds.call25[idx].tolist(),
        "put15": ds.put15[idx].tolist(),
        "call15": ds.call15[idx].tolist(),
        "range_50_pct": ((ds.call25[idx] - ds.put25[idx]) / s_i * 100.0).tolist(),
        "range_70_pct": ((ds.call15[idx] - ds.put15[idx]) / s_i * 100.0).tolist(),
        **{
            f: pre[f"e_ts_{f}"][idx].tolist()
            for f in ("atm_iv", "iv_25d_call", "iv_25d_put", "rr_25d", "bf_25d")
        },
        "expiry": np.asarray(exp_dates[idx], dtype="datetime64[D]").astype(str).tolist(),
    }


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
    cols: dict[str, list[Any]] | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Per-expiry expected moves, zones, 25/15-delta ranges, ATM IV, RR/BF (seeds 003, 004).

    ``pre``: the per-expiry figures (:func:`_expiry_figures`); ``smile``: the smile table when
    computed with other snapshots' (:func:`~chainlens.vol.smile_table_many`); ``cols``: the
    live expiries' :func:`_vol_columns` when computed with other snapshots'.

    Returns ``(view, rr_25d, atm_iv)``: the ``vol`` document, and the 25-delta risk reversal
    and ATM IV of every expiry (settled ones included) for the ``by_expiry`` table."""
    ts = {f: pre[f"e_ts_{f}"] for f in ("atm_iv", "rr_25d")}
    v = (
        cols
        if cols is not None
        else _vol_columns(pre, np.flatnonzero(pre["e_tmax"] > 0), S, exp_dates)
    )
    per_exp = [
        {
            "expiry": e,
            "atm_strike": k,
            "straddle_mid": move,
            "expected_move_pct": em,
            "zone": expected_move_zones(S, move),
            "range_50": [p25, c25],
            "range_70": [p15, c15],
            "range_50_pct": r50,
            "range_70_pct": r70,
            "atm_iv": iv,
            "iv_25d_call": ivc,
            "iv_25d_put": ivp,
            "rr_25d": rr,
            "bf_25d": bf,
        }
        for e, k, move, em, p25, c25, p15, c15, r50, r70, iv, ivc, ivp, rr, bf in zip(
            v["expiry"], v["atm_strike"], v["straddle_mid"], v["expected_move_pct"], v["put25"],
            v["call25"], v["put15"], v["call15"], v["range_50_pct"], v["range_70_pct"],
            v["atm_iv"], v["iv_25d_call"], v["iv_25d_put"], v["rr_25d"], v["bf_25d"],
            strict=True,
        )  # one record per expiry (output building)
    ]  # fmt: skip
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
