"""Segmented NumPy kernels of :func:`chainlens.oi.analyze_oi_many` for the small per-underlying
tables (term structure, clusters, put/call ratios, LEAPS growth, opposite buildup, event
builds; the metrics, units and seed-002 sources are those of the functions named below, each
kernel's docstring restates its formula).

Each kernel reads a chunk of many underlyings' rows, grouped by history (``bounds[h]:bounds[h
+ 1]`` are history ``h``'s rows; one underlying each), and returns one table per history (or
the per-history slices of one table) equal, schema and values, to what the per-underlying
Polars function gives on that history's own rows (:func:`~chainlens.oi.term_structure`,
:func:`~chainlens.oi.oi_clusters`, :func:`~chainlens.oi.put_call_ratios`,
:func:`~chainlens.oi.opposite_buildup`, :func:`~chainlens.oi.event_oi_build`,
:func:`~chainlens.oi.term_signals`' LEAPS growth). Groups are found with one sort of integer keys (the
history index first), sums with ``np.bincount``. The sums add integers (contracts) held in
float64, exact in any order while their absolute total stays below :math:`2^{53}`; a kernel
returns None when that, or another assumption it rests on (no null or NaN key, integer
columns), does not hold, and the caller then runs the Polars function (tested in
``tests/test_oi_many_kernels.py``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.oi._encode import one_chunk

__all__ = [
    "call_put_masks",
    "clusters_many",
    "events_many",
    "last_spot",
    "leaps_growth_many",
    "opposite_many",
    "pcr_many",
    "term_many",
]

_EXACT = 2.0**53


def _col(t: pa.Table, name: str) -> pa.Array:
    return one_chunk(t.column(name))


def _days(arr: pa.Array) -> np.ndarray:
    """A date32 (or integer) array as int64 days since the epoch (nulls are not read)."""
    return np.asarray(arr.cast(pa.int32()).fill_null(0).to_numpy(), np.int64)


def _ints_as_float(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An integer array as float64 (0 where null) and its validity."""
    valid = (
        np.ones(len(arr), bool)
        if not arr.null_count
        else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    )
    v = np.asarray(arr.fill_null(0).to_numpy(), np.int64).astype(np.float64)
    return v, valid


def call_put_masks(t: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """``right == "C"`` and ``right == "P"`` per row (False where null), as Polars'
    ``pl.when(pl.col("right") == "C")`` reads them; read from the string buffers (a
    one-byte value) when the column is a string column."""
    from chainlens.oi._encode import _str_buffers

    r = _col(t, "right")
    if not _is_str(r.type) or len(r) == 0:
        c = pc.fill_null(pc.equal(r, pa.scalar("C", r.type)), False)
        p = pc.fill_null(pc.equal(r, pa.scalar("P", r.type)), False)
        return (
            np.asarray(c.to_numpy(zero_copy_only=False), bool),
            np.asarray(p.to_numpy(zero_copy_only=False), bool),
        )
    off, data = _str_buffers(r)
    one = np.diff(off) == 1
    if r.null_count:
        one &= np.asarray(r.is_valid().to_numpy(zero_copy_only=False), bool)
    first = data[np.minimum(off[:-1], len(data) - 1)]
    return one & (first == ord("C")), one & (first == ord("P"))


def last_spot(last: pa.Table, bounds: np.ndarray, names: list[str]) -> pa.Table | None:
    """``underlying, spot``: the last non-null ``spot`` of each history's rows of ``last``
    (grouped by history at ``bounds``, none empty; USD; null without one), as the
    per-underlying group-by ``pl.col("spot").drop_nulls().last()`` gives it. None unless
    ``spot`` is float64."""
    sp = _col(last, "spot")
    if sp.type != pa.float64():
        return None
    at = np.arange(len(sp), dtype=np.int64)
    if sp.null_count:
        at = np.where(np.asarray(sp.is_valid().to_numpy(zero_copy_only=False), bool), at, -1)
    pick = np.maximum.reduceat(at, bounds[:-1]) if len(at) else np.zeros(0, np.int64)
    vals = np.asarray(sp.fill_null(np.nan).to_numpy(zero_copy_only=False), np.float64)
    got = vals[np.maximum(pick, 0)] if len(vals) else np.zeros(len(pick))
    return pa.table(
        {
            "underlying": pa.array(names, pa.large_string()),
            "spot": pa.array(got, mask=pick < 0),
        }
    )


def _wsum(key: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(key, weights=w, minlength=n)`` as float64 (also for an empty ``key``,
    where NumPy returns integers)."""
    return np.bincount(key, weights=w, minlength=n).astype(np.float64, copy=False)


def _groups(h: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ordered by (history, key) (stable), the group id of each ordered row and the first
    ordered row of each group."""
    if key.dtype.kind in "iu" and len(key):
        # integer keys: one stable sort of (history, key) packed into one int64
        k0 = int(key.min())
        span = int(key.max()) - k0 + 1
        packed = h * span + (key - k0) if span * (int(h.max()) + 1) < 2**62 else None
        order = np.lexsort((key, h)) if packed is None else np.argsort(packed, kind="stable")
    else:
        order = np.lexsort((key, h))
    hs, ks = h[order], key[order]
    new = np.ones(len(order), bool)
    new[1:] = (hs[1:] != hs[:-1]) | (ks[1:] != ks[:-1])
    gid = np.cumsum(new) - 1
    return order, gid, np.flatnonzero(new)


def _hist_of(bounds: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(bounds) - 1, dtype=np.int64), np.diff(bounds))


def _names_at(names: list[str], h: np.ndarray) -> pa.Array:
    return pa.array(names, pa.large_string()).take(pa.array(h, pa.int64()))


def _by_hist(h_g: np.ndarray, n: int) -> np.ndarray:
    """Bounds of each history's rows in a table sorted by history."""
    return np.concatenate([[0], np.cumsum(np.bincount(h_g, minlength=n))]).astype(np.int64)


def _call_put_oi(
    bounds: np.ndarray,
    key: np.ndarray,
    oi: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray],
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (history, ``key``) group of the rows (histories at ``bounds``; groups in (history,
    key) order): ``(history, key, call_oi, put_oi, oi, history_oi)``: the sums of OI over the
    group's calls (``masks[0]``), its puts (``masks[1]``), both, and over the group's history
    (contracts as float64, exact below :data:`_EXACT`)."""
    h = _hist_of(bounds)
    order, gid, first = _groups(h, key)
    n_g = len(first)
    call, put = masks
    oi_o = oi[order]
    call_oi = _wsum(gid, np.where(call[order], oi_o, 0.0), n_g)
    put_oi = _wsum(gid, np.where(put[order], oi_o, 0.0), n_g)
    tot_oi = call_oi + put_oi
    h_g = h[order][first]
    return h_g, key[order][first], call_oi, put_oi, tot_oi, _wsum(h_g, tot_oi, n)


def term_many(
    last: pa.Table,
    bounds: np.ndarray,
    names: list[str],
    session: dt.date,
    masks: tuple[np.ndarray, np.ndarray],
) -> tuple[pa.Table, np.ndarray] | None:
    """:func:`~chainlens.oi.term_structure` of every history's rows of ``session`` (``last``,
    grouped by history at ``bounds``; every row on ``session``), as one table grouped by
    history and the bounds of each history's rows in it.

    Per (underlying, expiry): ``call_oi`` :math:`= \\sum_{calls} OI`, ``put_oi``
    :math:`= \\sum_{puts} OI` (contracts, as float64; null OI counts 0), ``oi`` = their sum,
    ``oi_share`` :math:`= oi / \\sum_{expiries} oi` (fraction of the underlying's OI),
    ``call_share`` :math:`= call\\_oi / oi` (null unless ``oi > 0``), ``dte_days`` (calendar
    days from the session to expiry) and ``expiry_class``
    (:func:`chainlens.flow._prints.expiry_class_array`); rows sorted by expiry. None when an
    expiry is null or the OI total is too large to sum exactly.
    """
    from chainlens.flow._prints import expiry_class_array

    n = len(names)
    exp_a = _col(last, "expiry")
    if exp_a.null_count or not pa.types.is_integer(last.schema.field("open_interest").type):
        return None
    oi, _ = _ints_as_float(_col(last, "open_interest"))
    if float(np.abs(oi).sum()) >= _EXACT:
        return None
    exp = _days(exp_a)
    h_g, e_g, call_oi, put_oi, tot_oi, under = _call_put_oi(bounds, exp, oi, masks, n)
    n_g = len(h_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = tot_oi / under[h_g]
        call_share = call_oi / tot_oi
    d0 = (session - dt.date(1970, 1, 1)).days
    expiry = pa.array(e_g.astype(np.int32)).cast(pa.date32())
    trade = pa.array(np.full(n_g, d0, np.int32)).cast(pa.date32())
    t = pa.table(
        {
            "underlying": _names_at(names, h_g),
            "trade_date": trade,
            "expiry": expiry,
            "call_oi": pa.array(call_oi),
            "put_oi": pa.array(put_oi),
            "oi": pa.array(tot_oi),
            "oi_share": pa.array(share),
            "call_share": pa.array(call_share, mask=~(tot_oi > 0)),
            "dte_days": pa.array(e_g - d0),
            "expiry_class": expiry_class_array(expiry, trade),
        }
    )
    return t, _by_hist(h_g, n)


def clusters_many(
    last: pa.Table,
    bounds: np.ndarray,
    names: list[str],
    top_n: int,
    masks: tuple[np.ndarray, np.ndarray],
) -> tuple[pa.Table, np.ndarray, np.ndarray] | None:
    """:func:`~chainlens.oi.oi_clusters` (``top_n``) of every history's rows of the session
    (one table grouped by history, the bounds of each history's rows in it), and per history whether its top ``top_n + 1`` strikes have distinct OI (False: a tie at
    the boundary, whose order the per-underlying hash group-by sets; the caller recomputes
    those).

    Per (underlying, strike): ``call_oi``, ``put_oi`` (sums of OI, contracts as float64),
    ``oi`` = their sum, ``oi_share`` :math:`= oi / \\sum_{strikes} oi`, ``rank`` = ordinal rank
    by ``oi`` descending (ties: the lower strike first). None for a null or NaN strike or an OI
    total too large to sum exactly.
    """
    n = len(names)
    k_a = _col(last, "strike")
    if k_a.null_count or not pa.types.is_floating(k_a.type):
        return None
    if not pa.types.is_integer(last.schema.field("open_interest").type):
        return None
    strike = np.asarray(k_a.to_numpy(), np.float64)
    if np.isnan(strike).any():
        return None
    oi, _ = _ints_as_float(_col(last, "open_interest"))
    if float(np.abs(oi).sum()) >= _EXACT:
        return None
    h_g, k_g, call_oi, put_oi, tot_oi, under = _call_put_oi(bounds, strike, oi, masks, n)
    n_g = len(h_g)
    # ordinal rank within the history: OI descending, ties in strike order (group order)
    by = np.lexsort((np.arange(n_g), -tot_oi, h_g))
    g_start = _by_hist(h_g, n)
    rank = np.empty(n_g, np.int64)
    rank[by] = np.arange(n_g) - g_start[h_g[by]] + 1
    sel = by[rank[by] <= top_n + 1]  # sorted by (history, rank)
    # a tie among the top top_n + 1 (equal OI in one history): adjacent in ``sel``
    hs, os_ = h_g[sel], tot_oi[sel]
    tie = (hs[1:] == hs[:-1]) & (os_[1:] == os_[:-1])
    ok = np.ones(n, bool)
    ok[hs[1:][tie]] = False
    sel = sel[rank[sel] <= top_n]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = tot_oi[sel] / under[h_g[sel]]
    t = pa.table(
        {
            "underlying": _names_at(names, h_g[sel]),
            "strike": pa.array(k_g[sel]),
            "call_oi": pa.array(call_oi[sel]),
            "put_oi": pa.array(put_oi[sel]),
            "oi": pa.array(tot_oi[sel]),
            "oi_share": pa.array(share),
            "rank": pa.array(rank[sel]),
        }
    )
    return t, _by_hist(h_g[sel], n), ok


def pcr_many(
    last: pa.Table,
    bounds: np.ndarray,
    names: list[str],
    session: dt.date,
    premiums: list[pa.Table],
    masks: tuple[np.ndarray, np.ndarray],
) -> pa.Table | None:
    """:func:`~chainlens.oi.put_call_ratios` of every history's rows of the session with its
    own premium row (``premiums``: per history, in order, one row whose ``underlying`` is the
    history's name), one row per history, in order.

    Per underlying: ``call_volume``, ``put_volume``, ``call_oi``, ``put_oi`` (sums over calls
    and puts, contracts as float64; null where the side has no non-null value), the premiums
    ``call_premium_usd``, ``put_premium_usd`` of ``premiums`` (USD), :math:`PCR_V = put\\_volume / call\\_volume` (null without any
    volume or unless ``call_volume > 0``), :math:`PCR_{OI} = put\\_oi / call\\_oi`,
    :math:`PCR_\\$ = P_\\$ / C_\\$` (null unless the call side is > 0) and their seed-002 bands.
    None when a quantity column is missing or not integer, the premiums are not float64, or a
    total is too large to sum exactly.
    """
    from chainlens.oi._bands import PCR_BANDS, band_of

    n = len(names)
    for c in ("volume", "open_interest"):
        if c not in last.column_names or not pa.types.is_integer(last.schema.field(c).type):
            return None
    prem = {}
    f64 = pa.float64()
    for c in ("call_premium_usd", "put_premium_usd"):  # one value per history, in order
        parts: list[pa.Array] = []
        for p in premiums:  # a loop over underlyings: their one-row premium tables
            try:
                col = p.column(c)
            except KeyError:
                return None
            if col.type != f64:
                return None
            parts.extend(col.chunks)
        prem[c] = pa.concat_arrays(parts)
    call, put = masks
    h = _hist_of(bounds)
    out: dict[str, pa.Array] = {}
    has_vol = None
    for c in ("volume", "open_interest"):  # a loop over the two quantities
        v, valid = _ints_as_float(_col(last, c))
        if float(np.abs(v).sum()) >= _EXACT:
            return None
        if c == "volume":
            has_vol = _wsum(h, valid, n) > 0
        for side, m in (("call", call), ("put", put)):
            s = _wsum(h, np.where(m, v, 0.0), n)
            seen = _wsum(h, m & valid, n) > 0
            name = f"{side}_{'volume' if c == 'volume' else 'oi'}"
            out[name] = pa.array(s, mask=~seen)
    assert has_vol is not None

    def ratio(p: pa.Array, c: pa.Array, extra: np.ndarray | None = None) -> pa.Array:
        pv = np.asarray(p.fill_null(np.nan).to_numpy(zero_copy_only=False), np.float64)
        cv = np.asarray(c.fill_null(np.nan).to_numpy(zero_copy_only=False), np.float64)
        ok = np.asarray(p.is_valid().to_numpy(zero_copy_only=False), bool) & (cv > 0)
        if extra is not None:
            ok &= extra
        with np.errstate(divide="ignore", invalid="ignore"):
            return pa.array(np.where(ok, pv / np.where(ok, cv, 1.0), np.nan), mask=~ok)

    cp, pp = prem["call_premium_usd"], prem["put_premium_usd"]
    d0 = (session - dt.date(1970, 1, 1)).days
    cols: dict[str, pa.Array] = {
        "underlying": pa.array(names, pa.large_string()),
        "trade_date": pa.array(np.full(n, d0, np.int32)).cast(pa.date32()),
        **out,
        "call_premium_usd": cp,
        "put_premium_usd": pp,
        "pcr_volume": ratio(out["put_volume"], out["call_volume"], has_vol),
        "pcr_oi": ratio(out["put_oi"], out["call_oi"]),
        "pcr_premium": ratio(pp, cp),
    }
    t = pa.table(cols)
    for c in ("pcr_volume", "pcr_oi", "pcr_premium"):
        t = t.append_column(f"{c}_band", band_of(t.column(c), PCR_BANDS))
    return t


def leaps_growth_many(
    expiry_day: np.ndarray,
    is_call: np.ndarray,
    end_day: np.ndarray,
    oi_start: np.ndarray,
    oi_end: np.ndarray,
    h: np.ndarray,
    names: list[str],
    leaps_min_days: int,
) -> pa.Table | None:
    """The LEAPS call growth input of :func:`~chainlens.oi.term_signals` from the window legs
    (:func:`chainlens.oi.window_changes` without its table): per underlying with at least one
    call whose expiry is ``leaps_min_days`` or more calendar days after the window's end,
    ``oi_start`` and ``oi_end`` summed over those calls (contracts) and ``leaps_call_growth``
    :math:`= \\sum OI_{end} / \\sum OI_{start} - 1` (a fraction; null unless the start sum is
    > 0). ``expiry_day`` (-1 for a null expiry, never selected), ``is_call``, ``end_day``,
    ``oi_start``, ``oi_end`` and the history index ``h`` per leg. None when a sum may be
    inexact."""
    n = len(names)
    if float(np.abs(oi_start).sum()) >= _EXACT or float(np.abs(oi_end).sum()) >= _EXACT:
        return None
    m = is_call & (expiry_day - end_day >= leaps_min_days) & (expiry_day >= 0)
    hh = h[m]
    cnt = np.bincount(hh, minlength=n)
    s0 = _wsum(hh, oi_start[m], n)
    s1 = _wsum(hh, oi_end[m], n)
    got = np.flatnonzero(cnt)
    a, b = s0[got], s1[got]
    ok = a > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(ok, b / np.where(ok, a, 1.0) - 1.0, np.nan)
    return pa.table(
        {
            "underlying": pa.array([names[i] for i in got.tolist()], pa.large_string()),
            "leaps_call_growth": pa.array(g, mask=~ok),
        }
    )


def opposite_many(
    acc: pa.Table, h: np.ndarray, spot: pa.Table | None, names: list[str], min_share: float
) -> tuple[pa.Table, np.ndarray] | None:
    """:func:`~chainlens.oi.opposite_buildup` of every history (one table grouped by history,
    the bounds of each history's rows in it): ``acc`` the accumulation rows of the chunk,
    ``h`` their history index, ``spot`` the :func:`last_spot` table (or None).

    Per underlying with a surviving row (calls; puts below spot when spot is known):
    ``call_build``, ``put_build`` (summed ``oi_change`` of calls and puts, contracts as
    float64), ``put_call_build_ratio`` :math:`= put / call` (null unless ``call_build > 0``),
    ``mixed``: both > 0 and :math:`\\min \\ge` ``min_share`` :math:`\\cdot \\max`. None for
    null or NaN inputs or a total too large to sum exactly."""
    n = len(names)
    if any(acc.column(c).null_count for c in ("strike", "right", "oi_change")):
        return None
    if not pa.types.is_integer(acc.schema.field("oi_change").type):
        return None
    chg = np.asarray(_col(acc, "oi_change").to_numpy(), np.int64)
    if float(np.abs(chg).astype(np.float64).sum()) >= _EXACT:
        return None
    strike = np.asarray(_col(acc, "strike").cast(pa.float64()).to_numpy(), np.float64)
    call, put = call_put_masks(acc)
    keep = call.copy()
    if spot is not None:
        sv = np.asarray(_col(spot, "spot").fill_null(np.nan).to_numpy(zero_copy_only=False))
        if np.isnan(sv[np.asarray(_col(spot, "spot").is_valid(), bool)]).any():
            return None
        s_known = np.asarray(_col(spot, "spot").is_valid(), bool)[h]
        keep |= ~s_known | (strike < np.where(s_known, sv[h], np.inf))
    else:
        keep[:] = True
    hk = h[keep]
    cnt = np.bincount(hk, minlength=n)
    cb = _wsum(hk, np.where(call, chg, 0)[keep], n)
    pb = _wsum(hk, np.where(put, chg, 0)[keep], n)
    got = np.flatnonzero(cnt)
    cb, pb = cb[got], pb[got]
    ok = cb > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, pb / np.where(ok, cb, 1.0), np.nan)
    mixed = ok & (pb > 0) & (np.minimum(cb, pb) >= min_share * np.maximum(cb, pb))
    t = pa.table(
        {
            "underlying": _names_at(names, got),
            "call_build": pa.array(cb),
            "put_build": pa.array(pb),
            "put_call_build_ratio": pa.array(ratio, mask=~ok),
            "mixed": pa.array(mixed),
        }
    )
    return t, _by_hist(got, n)


def _seg_starts(key: np.ndarray) -> np.ndarray:
    """First position of each run of equal values of ``key``."""
    if len(key) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))


_EVENT_COLS = (
    "underlying", "date", "kind", "target_expiry", "call_build", "put_build", "build",
    "baseline", "build_ratio", "call_put_build_ratio",
)  # fmt: skip


def events_many(
    ch: pa.Table,
    bounds: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray],
    evs: list[pa.Table | None],
    names: list[str],
    *,
    lookback: int = 15,
) -> list[pa.Table | None] | None:
    """:func:`~chainlens.oi.event_oi_build` of every history with events (None for the
    others): ``ch`` the OI changes of the chunk (:func:`~chainlens.oi.oi_changes`), grouped by
    history at ``bounds``; ``masks`` its call and put rows; ``evs`` each history's events.

    Per event (``date``, ``kind``; the history's own ticker or ``*``) of an underlying:
    the non-null changes attributed to sessions before ``date`` within the last ``lookback``
    sessions (session index above the latest one's minus ``lookback``) are summed per expiry
    (``call_build``, ``put_build``: contracts as float64, ``build`` their sum); the first
    expiry on or after ``date`` is the target, ``baseline`` the mean ``build`` of the other
    expiries (null without one), ``build_ratio`` :math:`= build / baseline` (null unless
    :math:`|baseline| > 0`), ``call_put_build_ratio`` :math:`= call / put` (null unless
    ``put_build > 0``). Equal events (same date and kind) count once each, as the join of the
    reference does. Sums are int64, exact. None when the events tables differ in columns, or a
    key or type is not as expected.
    """
    n = len(names)
    out: list[pa.Table | None] = [None] * n
    idx = [i for i in range(n) if evs[i] is not None and evs[i].num_rows]  # type: ignore[union-attr]
    if not idx:
        return out
    tabs = [evs[i].select(["date", "ticker", "kind"]) for i in idx]  # type: ignore[union-attr]
    if not all(t.schema.equals(tabs[0].schema) for t in tabs[1:]):
        return None
    ev = pa.concat_tables(tabs)
    sch = ev.schema
    if not (
        pa.types.is_date32(sch.field("date").type)
        and all(_is_str(sch.field(c).type) for c in ("ticker", "kind"))
    ):
        return None
    if any(ch.column(c).null_count for c in ("expiry", "trade_date", "si")):
        return None
    if not pa.types.is_integer(ch.schema.field("oi_change").type) or not all(
        pa.types.is_date32(ch.schema.field(c).type) for c in ("expiry", "trade_date")
    ):
        return None
    # the event rows that apply to their history: its own ticker, or "*"
    lens = np.fromiter((t.num_rows for t in tabs), np.int64, len(tabs))
    eh = np.repeat(np.asarray(idx, np.int64), lens)
    tick = _col(ev, "ticker")
    own = pa.array(np.asarray(names, object)[eh], pa.string()).cast(tick.type)
    star = pc.equal(tick, pa.scalar("*", tick.type))
    hit = np.asarray(pc.fill_null(pc.or_(star, pc.equal(tick, own)), False).to_numpy(
        zero_copy_only=False), bool)  # fmt: skip
    date_a, kind_a = _col(ev, "date"), _col(ev, "kind")
    if date_a.null_count or kind_a.null_count:
        return None
    eh, edate = eh[hit], _days(date_a)[hit]
    kenc = pc.dictionary_encode(kind_a)
    kdict = [str(x) for x in kenc.dictionary.to_pylist()]
    krank = np.empty(len(kdict), np.int64)
    krank[sorted(range(len(kdict)), key=kdict.__getitem__)] = np.arange(len(kdict))
    ekind = krank[np.asarray(kenc.indices.to_numpy(zero_copy_only=False), np.int64)[hit]]
    kinds_sorted = pa.array(sorted(kdict), pa.large_string())
    # event groups (history, date, kind) in output order, with their multiplicity
    o = np.lexsort((ekind, edate, eh))
    eh, edate, ekind = eh[o], edate[o], ekind[o]
    new = np.ones(len(o), bool)
    new[1:] = (eh[1:] != eh[:-1]) | (edate[1:] != edate[:-1]) | (ekind[1:] != ekind[:-1])
    gs = np.flatnonzero(new)
    mult = np.diff(np.concatenate([gs, [len(o)]])).astype(np.int64)
    g_h, g_date, g_kind = eh[gs], edate[gs], ekind[gs]
    n_ev = len(gs)
    # the non-null changes summed per (history, expiry, session): int64 sums
    chg_a = _col(ch, "oi_change")
    valid = (
        np.ones(len(chg_a), bool)
        if not chg_a.null_count
        else np.asarray(chg_a.is_valid().to_numpy(zero_copy_only=False), bool)
    )
    chg = np.asarray(chg_a.fill_null(0).to_numpy(), np.int64)
    h = _hist_of(bounds)
    e = _days(_col(ch, "expiry"))
    td = _days(_col(ch, "trade_date"))
    si = np.asarray(_col(ch, "si").to_numpy(), np.int64)
    call, put = masks
    if float(np.abs(chg[valid]).astype(np.float64).sum()) * max(int(mult.max()), 1) >= _EXACT:
        return None
    h, e, td, si, chg = h[valid], e[valid], td[valid], si[valid], chg[valid]
    if len(h) == 0:  # no change known: no event has a build
        z = np.zeros(0)
        empty = _event_table(names, z.astype(np.int64), z, z, z, z, z, z, z, z, kinds_sorted)
        for i in idx:  # a loop over underlyings
            out[i] = empty
        return out
    if si.min() < 0:
        return None
    # dense cell key (history, expiry, session) in that order: expiries coded through a
    # look-up table over their day span, then one np.bincount per sum (no sort)
    e0 = int(e.min())
    span = int(e.max()) - e0 + 1
    if span > 1 << 22:
        return None
    lut = np.zeros(span, np.int64)
    lut[e - e0] = 1
    ecode = np.cumsum(lut) - 1
    n_e, n_s = int(ecode[-1]) + 1, int(si.max()) + 1
    size = n * n_e * n_s
    if size > 1 << 24:
        return None
    key = (h * n_e + ecode[e - e0]) * n_s + si
    cnt_k = np.bincount(key, minlength=size)
    c_k = _wsum(key, np.where(call[valid], chg, 0), size)
    p_k = _wsum(key, np.where(put[valid], chg, 0), size)
    day = np.zeros(size, np.int64)
    day[key] = td  # one session date per (history, session index)
    cs = np.flatnonzero(cnt_k)
    a_si = cs % n_s
    rest = cs // n_s
    a_h = rest // n_e
    e_days = np.flatnonzero(lut) + e0
    a_e = e_days[rest % n_e]
    a_td = day[cs]
    a_c, a_p = c_k[cs].astype(np.int64), p_k[cs].astype(np.int64)
    a_b = np.concatenate([[0], np.cumsum(np.bincount(a_h, minlength=n))])
    # every (event, cell of its history) pair, kept when the cell's session precedes the event
    cnt = a_b[g_h + 1] - a_b[g_h]
    tot = int(cnt.sum())
    pg = np.repeat(np.arange(n_ev), cnt)
    pr = np.repeat(a_b[g_h], cnt) + np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    k = a_td[pr] < g_date[pg]
    pg, pr = pg[k], pr[k]
    # the latest such session per event, and the lookback window before it
    last = np.full(n_ev, np.iinfo(np.int64).min // 2, np.int64)
    st = _seg_starts(pg)
    if len(st):
        last[pg[st]] = np.maximum.reduceat(a_si[pr], st)
    k = a_si[pr] > last[pg] - lookback
    pg, pr = pg[k], pr[k]
    # per (event, expiry): pairs are ordered by event, then expiry, then session
    pe = a_e[pr]
    x = np.ones(len(pg), bool)
    x[1:] = (pg[1:] != pg[:-1]) | (pe[1:] != pe[:-1])
    xs = np.flatnonzero(x)
    x_g, x_e = pg[xs], pe[xs]
    m_x = mult[x_g]
    x_c = (np.add.reduceat(a_c[pr], xs) if len(xs) else np.zeros(0, np.int64)) * m_x
    x_p = (np.add.reduceat(a_p[pr], xs) if len(xs) else np.zeros(0, np.int64)) * m_x
    x_b = x_c + x_p
    # target: each event's first expiry on or after its date
    tg = np.flatnonzero(x_e >= g_date[x_g])
    t_ev, t_first = np.unique(x_g[tg], return_index=True)
    t_row = tg[t_first]
    n_x = np.bincount(x_g, minlength=n_ev)[t_ev]
    s_x = np.zeros(n_ev, np.int64)
    np.add.at(s_x, x_g, x_b)
    other = n_x - 1
    has_base = other > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.where(
            has_base,
            (s_x[t_ev] - x_b[t_row]).astype(np.float64) / np.where(has_base, other, 1),
            np.nan,
        )
    cb, pb = x_c[t_row].astype(np.float64), x_p[t_row].astype(np.float64)
    bb = cb + pb  # the build (exact: integer sums)
    r_ok = has_base & (np.abs(base) > 0)
    cp_ok = pb > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(r_ok, bb / np.where(r_ok, base, 1.0), np.nan)
        cpr = np.where(cp_ok, cb / np.where(cp_ok, pb, 1.0), np.nan)
    oh = g_h[t_ev]
    t = _event_table(names, oh, g_date[t_ev], g_kind[t_ev], x_e[t_row], cb, pb, base, ratio, cpr,
                     kinds_sorted, has_base, r_ok, cp_ok)  # fmt: skip
    ob = _by_hist(oh, n)
    for i in idx:  # a loop over underlyings: slices of the chunk's table
        out[i] = t.slice(int(ob[i]), int(ob[i + 1] - ob[i]))
    return out


def _event_table(
    names: list[str], h: np.ndarray, date: np.ndarray, kind: np.ndarray, target: np.ndarray,
    cb: np.ndarray, pb: np.ndarray, base: np.ndarray, ratio: np.ndarray, cpr: np.ndarray,
    kinds: pa.Array, has_base: np.ndarray | None = None, r_ok: np.ndarray | None = None,
    cp_ok: np.ndarray | None = None,
) -> pa.Table:  # fmt: skip
    """The columns of :func:`~chainlens.oi.event_oi_build` (``kind``: positions in
    ``kinds``; the masks: where ``baseline``, ``build_ratio``, ``call_put_build_ratio`` hold)."""
    none = np.zeros(len(h), bool)
    cols = [
        _names_at(names, h),
        pa.array(date.astype(np.int32)).cast(pa.date32()),
        kinds.take(pa.array(kind.astype(np.int64), pa.int64())),
        pa.array(target.astype(np.int32)).cast(pa.date32()),
        pa.array(cb.astype(np.float64)),
        pa.array(pb.astype(np.float64)),
        pa.array((cb + pb).astype(np.float64)),
        pa.array(base.astype(np.float64), mask=~(none if has_base is None else has_base)),
        pa.array(ratio.astype(np.float64), mask=~(none if r_ok is None else r_ok)),
        pa.array(cpr.astype(np.float64), mask=~(none if cp_ok is None else cp_ok)),
    ]
    return pa.table(dict(zip(_EVENT_COLS, cols, strict=True)))


def _is_str(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
