"""Prints: sweeps, blocks and notable prints with their facts (seed 000/001 "notable prints",
seed 002 Vol/OI and overnight OI, SPEC GEX convention for the dealer gamma of a print)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.conventions import GEX_MOVE_FRACTION
from chainlens.flow._score import flow_score
from chainlens.flow._side import BUY, SELL, side_names

__all__ = ["detect_sweeps", "expiry_class_array", "notable_prints", "print_events"]

#: Trades from which :func:`print_events` runs its compiled pass in auto mode
#: (:mod:`chainlens.flow._prints_numba`; below it the NumPy passes are as fast as loading it).
COMPILED_MIN_ROWS = 20_000


def detect_sweeps(
    trades: pa.Table, *, window_ms: float = 50.0, min_exchanges: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Group trades into bursts and flag multi-exchange sweeps.

    A *burst* is a run of trades in one contract (``symbol``) with the same side code, each
    within ``window_ms`` of the previous one (time order). A burst printed on at least
    ``min_exchanges`` distinct exchanges is a *sweep* (an order routed across venues).

    Parameters
    ----------
    trades
        Needs ``ts``, ``symbol``, ``side_code``, ``exchange``.

    Returns
    -------
    burst_id, is_sweep
        ``int64`` burst id per trade (a trade alone is its own burst) and the sweep flag.

    Notes
    -----
    ``tests/test_flow_sorted_kernels.py`` checks them against the Polars expression of this
    rule. Sorted once by (symbol rank, side, time) with ``numpy.lexsort`` (integer codes, no
    string work per row; symbol and side one combined key when no side or time is null, and
    then one stable sort of that key when the times already run in order within it: a
    counting sort when the key is dense, :func:`chainlens.flow._keys.stable_argsort`);
    distinct exchanges are counted only over bursts of two rows or more (a bit per exchange
    OR-ed over each burst's contiguous rows when there are at most 64 exchange codes).
    """
    n = trades.num_rows
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    from chainlens.flow._keys import key_codes, sort_ranks, stable_argsort

    # sort keys as Polars' sort(["symbol", "side_code", ts, row]) orders them (nulls first)
    sym = sort_ranks(trades.column("symbol"))
    side_col = trades.column("side_code")
    side = np.asarray(pc.fill_null(side_col.cast(pa.int64()), -(2**62)).to_numpy(), np.int64)
    t_col = pc.cast(trades.column("ts"), pa.int64())
    t = np.asarray(pc.fill_null(t_col, 0).to_numpy(), dtype=np.int64)
    tv = np.asarray(pc.is_valid(t_col).to_numpy(zero_copy_only=False), dtype=bool)
    combined: tuple[np.ndarray, np.ndarray] | None = None
    if side_col.null_count == 0 and bool(tv.all()):
        # one combined (symbol, side) key: a two-key lexsort, the same order
        smin = int(side.min())
        width = int(side.max()) - smin + 1
        s0 = sym - int(sym.min())
        if (int(s0.max()) + 1) * width < 2**62:
            key = s0 * width + (side - smin)
            # one stable argsort of the key: (key, time) order already when the times run
            # non-decreasing within every key (a time-ordered tape); else the lexsort
            order = stable_argsort(key)
            ks, tk = key[order], t[order]
            if not ((ks[1:] != ks[:-1]) | (tk[1:] >= tk[:-1])).all():
                order = np.lexsort((t, key))
                ks, tk = key[order], t[order]
            combined = (ks, tk)  # the key (symbol and side) and time in sorted order
        else:
            order = np.lexsort((t, tv, side, sym))
    else:
        order = np.lexsort((t, tv, side, sym))
    window_ns = int(round(window_ms * 1e6))
    new = np.ones(n, dtype=bool)
    if combined is not None:  # every time valid: the key changes where symbol or side does
        ks, ts_ = combined
        new[1:] = (ks[1:] != ks[:-1]) | (ts_[1:] - ts_[:-1] > window_ns)
        vs = np.ones(n, dtype=bool)
    else:
        ss, ds, ts_, vs = sym[order], side[order], t[order], tv[order]
        new[1:] = (ss[1:] != ss[:-1]) | (ds[1:] != ds[:-1]) | (ts_[1:] - ts_[:-1] > window_ns)
    # a comparison with a null (symbol, side or time of either row) starts a burst
    unknown = ~vs
    if side_col.null_count:
        unknown |= np.asarray(pc.is_null(side_col).to_numpy(zero_copy_only=False))[order]
    sym_col = trades.column("symbol")
    if sym_col.null_count:
        unknown |= np.asarray(pc.is_null(sym_col).to_numpy(zero_copy_only=False))[order]
    new[1:] |= unknown[1:] | unknown[:-1]
    burst_sorted = np.cumsum(new)  # from 1, in sorted order
    # distinct exchanges per burst: only bursts of two rows or more can reach two
    size = np.bincount(burst_sorted)
    nx = np.ones(size.size, dtype=np.int64)
    multi = size[burst_sorted] >= 2
    if multi.any():
        ex = key_codes(trades.column("exchange").take(pa.array(order[multi])))
        ex = ex - ex.min()
        width = int(ex.max()) + 1
        bm = burst_sorted[multi]  # non-decreasing: each burst's rows are contiguous
        if width <= 64:  # a bit per exchange: OR over each burst's rows, then count the bits
            first = np.flatnonzero(np.r_[True, bm[1:] != bm[:-1]])
            bits = np.bitwise_or.reduceat(np.left_shift(np.uint64(1), ex.astype(np.uint64)), first)
            nx[bm[first]] = np.bitwise_count(bits)
        else:
            pairs = np.unique(bm * width + ex)
            nx += np.bincount(pairs // width, minlength=size.size) - 1
            nx[size < 2] = 1
    burst = np.empty(n, dtype=np.int64)
    burst[order] = burst_sorted
    return burst, nx[burst] >= min_exchanges


def print_events(trades: pa.Table) -> pa.Table:
    r"""Collapse trades into prints: a sweep is one print, any other trade is one print.

    Needs the enriched trade columns (``side_code``, ``premium_usd``, ``multileg``,
    ``burst_id``, ``is_sweep``, ``aggressiveness``...). Price is the size-weighted average.

    Notes
    -----
    Events come in order of their first trade (a sweep row's event is its ``burst_id``; a
    null ``is_sweep`` is not a sweep). Per event: ``ts`` the earliest, ``trade_date``, the
    contract keys and ``side_code`` of its first trade; ``size`` and ``premium_usd`` summed;
    :math:`\text{price} = \sum p_i q_i / \sum q_i`; ``n_trades`` rows, ``n_exchanges``
    distinct exchanges (null counts as one); ``is_sweep``, ``multileg``, ``deep_itm``,
    ``synthetic`` any; ``spot`` the last non-null; ``aggressiveness`` the mean;
    ``delta_notional_usd`` the sum (nulls skipped by every sum, mean, min and any).
    Single-trade events are gathered row-wise; only the rows of multi-trade sweeps are
    reduced per event. From :data:`COMPILED_MIN_ROWS` trades (engine policy) the reductions
    run in one compiled pass (:func:`chainlens.flow._prints_numba.event_sums`), bit-identical
    to the NumPy passes (``tests/test_w11a_prints_kernels.py``).
    """
    from chainlens._engine import use_numba

    if use_numba(trades.num_rows, COMPILED_MIN_ROWS):
        return _print_events_compiled(trades)
    return _print_events_numpy(trades)


#: The contract keys an event takes from its first trade.
_EVENT_KEYS = ("underlying", "root", "symbol", "expiry", "strike", "right", "multiplier")


@dataclass(frozen=True, slots=True)
class _TradeColumns:
    """The trade columns both :func:`print_events` passes reduce, as NumPy (a null filled with
    0, its validity beside it; ``t`` with int64 max for a null instant; ``dn`` zeros when the
    trades have no ``delta_notional_usd``)."""

    q: np.ndarray
    qv: np.ndarray
    p: np.ndarray
    pv: np.ndarray
    prem: np.ndarray
    spot: np.ndarray
    spv: np.ndarray
    agg: np.ndarray
    agv: np.ndarray
    t: np.ndarray
    dn: np.ndarray
    has_dn: bool


def _trade_columns(trades: pa.Table) -> _TradeColumns:
    """:class:`_TradeColumns` of ``trades``."""
    n = trades.num_rows

    def every(k: int) -> np.ndarray:  # the validity of a column without nulls
        return _TRUE[:k] if k <= _TRUE.size else np.ones(k, dtype=bool)

    def f64(name: str) -> tuple[np.ndarray, np.ndarray]:
        c = trades.column(name)
        if c.null_count == 0:  # no null to fill: the values as they are, every one valid
            return np.asarray(c.cast(pa.float64()).to_numpy(), dtype=np.float64), every(n)
        v = np.asarray(pc.fill_null(c.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
        return v, np.asarray(_np_bool(pc.is_valid(c)), dtype=bool)

    size_col = trades.column("size")
    if size_col.null_count == 0:
        q, qv = np.asarray(size_col.to_numpy(), dtype=np.int64), every(n)
    else:
        q = np.asarray(pc.fill_null(size_col, 0).to_numpy(), dtype=np.int64)
        qv = np.asarray(_np_bool(pc.is_valid(size_col)), dtype=bool)
    t_col = pc.cast(trades.column("ts"), pa.int64())
    if t_col.null_count:
        t_col = pc.fill_null(t_col, np.iinfo(np.int64).max)
    has_dn = "delta_notional_usd" in trades.column_names
    p, pv = f64("price")
    spot, spv = f64("spot")
    agg, agv = f64("aggressiveness")
    return _TradeColumns(
        q=q, qv=qv, p=p, pv=pv, prem=f64("premium_usd")[0], spot=spot, spv=spv, agg=agg, agv=agv,
        t=np.asarray(t_col.to_numpy(), dtype=np.int64),
        dn=f64("delta_notional_usd")[0] if has_dn else np.zeros(n), has_dn=has_dn,
    )  # fmt: skip


def _first_sweep_rows(sweep: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each row's event named by its first row: a sweep row's, the first sweep row of its
    burst ``b`` (its first occurrence; ``return_index`` sorts stably), any other row its own."""
    rows = np.arange(sweep.size, dtype=np.int64)
    gid = rows.copy()
    _, at, inv = np.unique(b[sweep], return_index=True, return_inverse=True)
    gid[sweep] = rows[sweep][at][inv.reshape(-1)]
    return gid


def _burst_ids(trades: pa.Table) -> np.ndarray:
    """``burst_id`` as int64, a null as int64 min."""
    b = pc.fill_null(trades.column("burst_id").cast(pa.int64()), np.iinfo(np.int64).min)
    return np.asarray(b.to_numpy())


def _distinct_exchanges(
    trades: pa.Table, mr: np.ndarray, cut: np.ndarray, eids: np.ndarray, counts: np.ndarray,
    e_n: int,
) -> np.ndarray:  # fmt: skip
    """Distinct exchanges per event (null counts as one): 1 for a single-trade event; for the
    multi-trade events ``eids``, whose rows ``mr`` come grouped by event from ``cut``, a bit
    per exchange OR-ed over the event's rows (or distinct (event, exchange) pairs beyond 64)."""
    from chainlens.flow._keys import key_codes

    e_nx = np.ones(e_n, dtype=np.int64)
    if not mr.size:
        return e_nx
    x = key_codes(trades.column("exchange").take(pa.array(mr)))
    x = x - x.min()
    if int(x.max()) < 64:
        bits = np.bitwise_or.reduceat(np.left_shift(np.uint64(1), x.astype(np.uint64)), cut)
        e_nx[eids] = np.bitwise_count(bits)
    else:
        me = np.repeat(eids, counts[eids])
        pairs = np.unique(me * (int(x.max()) + 1) + x)
        e_nx[eids] = np.bincount(pairs // (int(x.max()) + 1), minlength=e_n)[eids]
    return e_nx


def _events_table(
    trades: pa.Table,
    head: np.ndarray,
    sums: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    spot: tuple[np.ndarray, np.ndarray],
    agg: tuple[np.ndarray, np.ndarray],
) -> pa.Table:
    """The events table of :func:`print_events`: the first trade's keys (rows ``head``), the
    event sums (``sums``: ``t``, ``q``, ``prem``, ``price``, ``counts``, ``nx``, ``dn`` when the
    trades have ``delta_notional_usd``), the flags' any, ``spot`` and ``agg`` as
    ``(values, null mask)``."""
    keep = pa.array(head)  # the first rows, in row order (a filter: chunk by chunk)

    def first_of(name: str) -> pa.Array:
        c = trades.column(name).filter(keep)
        c = c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c
        if pa.types.is_string(c.type):
            c = c.cast(pa.large_string())
        return c

    e_t = sums["t"]
    sch = trades.schema
    out: dict[str, pa.Array] = {
        "ts": pa.array(e_t, pa.int64(), mask=e_t == np.iinfo(np.int64).max).cast(
            sch.field("ts").type
        ),
        "trade_date": first_of("trade_date"),
        **{k: first_of(k) for k in _EVENT_KEYS},
        "side_code": first_of("side_code"),
        "size": pa.array(sums["q"], pa.int64()).cast(sch.field("size").type),
        "premium_usd": pa.array(sums["prem"], pa.float64()),
        "price": pa.array(sums["price"], pa.float64()),
        "n_trades": pa.array(sums["counts"], pa.int64()),
        "n_exchanges": pa.array(sums["nx"], pa.int64()),
        "is_sweep": pa.array(flags["is_sweep"]),
        "multileg": pa.array(flags["multileg"]),
        "spot": pa.array(spot[0], pa.float64(), mask=spot[1]).cast(sch.field("spot").type),
        "aggressiveness": pa.array(agg[0], pa.float64(), mask=agg[1]),
    }
    for c in ("deep_itm", "synthetic"):
        if c in flags:
            out[c] = pa.array(flags[c])
    if "dn" in sums:
        out["delta_notional_usd"] = pa.array(sums["dn"], pa.float64())
    return pa.table(out)


def _flag_names(trades: pa.Table) -> list[str]:
    return [
        c for c in ("is_sweep", "multileg", "deep_itm", "synthetic") if c in trades.column_names
    ]


def _print_events_numpy(trades: pa.Table) -> pa.Table:
    """:func:`print_events` with NumPy passes (the compiled pass's twin)."""
    n = trades.num_rows
    rows = np.arange(n, dtype=np.int64)
    sweep = np.asarray(_np_bool(trades.column("is_sweep")), dtype=bool)
    # each event named by its first row
    gid = _first_sweep_rows(sweep, _burst_ids(trades)) if sweep.any() else rows.copy()
    head = gid == rows  # the first row of its event
    rep = np.flatnonzero(head)  # ascending: the events in order of first appearance
    ev = (np.cumsum(head) - 1)[gid]
    e_n = rep.size
    counts = np.bincount(ev, minlength=e_n).astype(np.int64)
    c = _trade_columns(trades)
    q, t, prem, spot, spv, agg, agv, dn = c.q, c.t, c.prem, c.spot, c.spv, c.agg, c.agv, c.dn
    with np.errstate(invalid="ignore", over="ignore"):
        ps = np.where(c.pv & c.qv, c.p * q.astype(np.float64), 0.0)
    # single-trade events: the row's own values (gathered at the event's first row)
    e_t, e_q, e_prem, e_ps = t[rep], q[rep], prem[rep], ps[rep]
    e_spot_row = np.where(spv[rep], rep, -1)
    e_agg_sum, e_agg_n = np.where(agv[rep], agg[rep], 0.0), agv[rep].astype(np.int64)
    bools = {k: np.asarray(_np_bool(trades.column(k)), dtype=bool) for k in _flag_names(trades)}
    e_any = {k: v[rep] for k, v in bools.items()}
    e_dn = dn[rep]
    multi = counts[ev] >= 2
    mr = cut = eids = np.zeros(0, dtype=np.int64)
    if multi.any():  # the rows of multi-trade events, grouped by event in row order
        mr = rows[multi]
        mr = mr[np.argsort(ev[mr], kind="stable")]
        me = ev[mr]
        cut = np.flatnonzero(np.r_[True, me[1:] != me[:-1]])
        eids = me[cut]
        e_t[eids] = np.minimum.reduceat(t[mr], cut)
        e_q[eids] = np.add.reduceat(q[mr], cut)
        e_prem[eids] = np.add.reduceat(prem[mr], cut)
        e_ps[eids] = np.add.reduceat(ps[mr], cut)
        e_dn[eids] = np.add.reduceat(dn[mr], cut)
        e_spot_row[eids] = np.maximum.reduceat(np.where(spv[mr], mr, -1), cut)
        e_agg_sum[eids] = np.add.reduceat(np.where(agv[mr], agg[mr], 0.0), cut)
        e_agg_n[eids] = np.add.reduceat(agv[mr].astype(np.int64), cut)
        for k, v in bools.items():
            e_any[k][eids] = np.maximum.reduceat(v[mr], cut)
    e_nx = _distinct_exchanges(trades, mr, cut, eids, counts, e_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = e_ps / e_q.astype(np.float64)
        agg_mean = e_agg_sum / np.where(e_agg_n > 0, e_agg_n, 1)
    sums = {"t": e_t, "q": e_q, "prem": e_prem, "price": price, "counts": counts, "nx": e_nx}
    if c.has_dn:
        sums["dn"] = e_dn
    return _events_table(
        trades, head, sums, e_any, (spot[np.maximum(e_spot_row, 0)], e_spot_row < 0),
        (agg_mean, e_agg_n == 0),
    )  # fmt: skip


def _print_events_compiled(trades: pa.Table) -> pa.Table:
    """:func:`print_events` in one compiled pass (:mod:`chainlens.flow._prints_numba`),
    bit-identical to :func:`_print_events_numpy`: the same events in the same order, the same
    sums in the same order (``reduceat``'s), the same values under the null masks."""
    from chainlens.flow._prints_numba import burst_events, event_sums, ro

    n = trades.num_rows
    sweep = np.asarray(_np_bool(trades.column("is_sweep")), dtype=bool)
    ev = np.zeros(0, dtype=np.int64)  # each row's event (empty: every row its own event)
    e_n = n
    if sweep.any():
        b = _burst_ids(trades)
        bs = b[sweep]
        bmin, bmax = int(bs.min()), int(bs.max())
        if bmax - bmin <= 4 * n + 1024:  # dense ids: a table of each burst's event
            ev, e_n = burst_events(ro(sweep), ro(b, np.int64), bmin, bmax - bmin + 1)
        else:
            gid = _first_sweep_rows(sweep, b)
            head = gid == np.arange(n, dtype=np.int64)
            ev = (np.cumsum(head) - 1)[gid]
            e_n = int(head.sum())
    c = _trade_columns(trades)
    names = _flag_names(trades)
    flags = np.empty((len(names), n), dtype=bool)
    for j, k in enumerate(names):  # a loop over the (up to 4) flag columns
        flags[j] = sweep if k == "is_sweep" else _np_bool(trades.column(k))
    (head, counts, e_t, e_q, e_prem, price, e_dn, e_spot, spot_null, agg_mean, agg_null, any_,
     mr, cut, eids) = event_sums(
        ro(ev, np.int64), e_n, ro(c.t, np.int64), ro(c.q, np.int64), ro(c.qv, bool),
        ro(c.p, np.float64), ro(c.pv, bool), ro(c.prem, np.float64), ro(c.dn, np.float64),
        ro(c.spot, np.float64), ro(c.spv, bool), ro(c.agg, np.float64), ro(c.agv, bool),
        ro(flags, bool),
    )  # fmt: skip
    e_nx = _distinct_exchanges(trades, mr, cut, eids, counts, e_n)
    sums = {"t": e_t, "q": e_q, "prem": e_prem, "price": price, "counts": counts, "nx": e_nx}
    if c.has_dn:
        sums["dn"] = e_dn
    return _events_table(
        trades, head, sums, {k: any_[j] for j, k in enumerate(names)}, (e_spot, spot_null),
        (agg_mean, agg_null),
    )  # fmt: skip


#: A read-only run of ``True`` (the validity of a column without nulls, not allocated per call).
_TRUE = np.ones(1 << 20, dtype=bool)
_TRUE.setflags(write=False)


def _np_bool(c: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean column as NumPy, null -> False."""
    return pc.fill_null(c, False).to_numpy(zero_copy_only=False)


def expiry_class_array(
    expiry: pa.Array | pa.ChunkedArray,
    session: pa.Array | pa.ChunkedArray | dt.date,
    root: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Array:
    """Expiry class per row: ``0dte``, ``weekly``, ``monthly``, ``quarterly`` or ``leaps``.

    :func:`chainlens.calendar.expiry_class` (vectorized; its docstring states the rule) over
    Arrow columns.
    """
    e = np.asarray(
        pc.cast(expiry, pa.date32()).to_numpy(zero_copy_only=False), dtype="datetime64[D]"
    )
    if isinstance(session, dt.date):
        s = np.full(e.shape, np.datetime64(session, "D"))
    else:
        s = np.asarray(
            pc.cast(session, pa.date32()).to_numpy(zero_copy_only=False), dtype="datetime64[D]"
        )
    if not e.size:
        return pa.array([], type=pa.string())
    from chainlens.calendar import expiry_class

    r = None if root is None else np.asarray(root.to_numpy(zero_copy_only=False), dtype=object)
    return pa.array(np.asarray(expiry_class(e, s, r)).astype(object), type=pa.string())


def notable_prints(
    events: pa.Table,
    chain: pa.Table,
    *,
    contract_stats: pa.Table | None = None,
    top_n: int = 25,
    min_premium_usd: float = 0.0,
    live_after_next_session: bool = False,
) -> pa.Table:
    """Rank prints and attach their facts.

    Parameters
    ----------
    events
        Output of :func:`print_events`.
    chain
        The session's canonical chain (OI(D), vendor gamma, spot, volume) keyed by ``symbol``.
    contract_stats
        Optional per-symbol ``avg_volume_5d`` and ``oi_change_next`` (OI(D+1) - OI(D)) from the
        OI history (see :func:`chainlens.oi.oi_changes`).
    top_n
        Rows kept, ranked by flow score then premium.
    min_premium_usd
        Prints below this premium (USD) are not notable.
    live_after_next_session
        Keep only contracts that expire after the next session (a print in a contract that
        expires on or before the next session cannot be watched "next session"). Deep in the
        money prints and legs of box/conversion-like packages (``deep_itm`` / ``synthetic``
        columns of the events, when present) are never notable: they carry no direction.

    Returns
    -------
    pyarrow.Table
        Facts per print: ``premium_usd``, ``side``, ``distance_pct`` (strike vs spot, %),
        ``otm_pct``, ``dte_days``, ``expiry_class``, ``open_interest``, ``size_to_oi``,
        ``avg_volume_5d``, ``size_to_avg_volume``, ``vol_oi``, ``oi_change_next``,
        ``held_fraction`` (``clip(oi_change_next / size, 0, 1)``), ``dealer_gex_usd_per_1pct``,
        ``score``, ``rank``.

    Notes
    -----
    Dealer gamma of a print (the dealer took the other side of the customer):
    :math:`\\text{GEX} = -s \\cdot \\Gamma \\cdot \\text{size} \\cdot m \\cdot S^2 \\cdot 0.01` with
    :math:`s = +1` for a customer buy, :math:`-1` for a sell, 0 otherwise (SPEC GEX convention).
    """
    ev = pl.from_arrow(events)
    assert isinstance(ev, pl.DataFrame)
    keep = pl.col("premium_usd") >= float(min_premium_usd)
    for c in ("deep_itm", "synthetic"):
        if c in ev.columns:
            keep = keep & ~pl.col(c).fill_null(False)
    if live_after_next_session and ev.height:
        from chainlens.calendar import next_session

        days = ev["trade_date"].unique().to_list()
        nxt = pl.DataFrame(
            {"trade_date": days, "_next": [next_session(d) for d in days]},  # per session
            schema={"trade_date": pl.Date, "_next": pl.Date},
        )
        ev = ev.join(nxt, on="trade_date", how="left")
        keep = keep & (pl.col("expiry") > pl.col("_next"))
    ev = ev.filter(keep)
    if "_next" in ev.columns:
        ev = ev.drop("_next")
    ch_cols = [
        c for c in ("symbol", "open_interest", "gamma", "spot", "volume") if c in chain.column_names
    ]
    ch = pl.from_arrow(chain.select(ch_cols))
    assert isinstance(ch, pl.DataFrame)
    ch = ch.group_by("symbol").agg(
        pl.col("open_interest").last().alias("open_interest"),
        *([pl.col("gamma").last().alias("gamma")] if "gamma" in ch_cols else []),
        *([pl.col("spot").last().alias("chain_spot")] if "spot" in ch_cols else []),
        *([pl.col("volume").last().alias("chain_volume")] if "volume" in ch_cols else []),
    )
    ev = ev.join(ch, on="symbol", how="left")
    for c in ("gamma", "chain_spot", "chain_volume"):
        if c not in ev.columns:
            ev = ev.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    if contract_stats is not None and contract_stats.num_rows:
        cs = pl.from_arrow(contract_stats.select(["symbol", "avg_volume_5d", "oi_change_next"]))
        assert isinstance(cs, pl.DataFrame)
        ev = ev.join(cs.unique("symbol", keep="last"), on="symbol", how="left")
    else:
        ev = ev.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("avg_volume_5d"),
            pl.lit(None, dtype=pl.Float64).alias("oi_change_next"),
        )
    spot = pl.coalesce(pl.col("spot"), pl.col("chain_spot")).cast(pl.Float64)
    oi = pl.col("open_interest").cast(pl.Float64)
    size = pl.col("size").cast(pl.Float64)
    sign = (
        pl.when(pl.col("side_code") == BUY)
        .then(1.0)
        .when(pl.col("side_code") == SELL)
        .then(-1.0)
        .otherwise(0.0)
    )
    ev = ev.with_columns(spot.alias("spot")).with_columns(
        ((pl.col("strike") / pl.col("spot") - 1.0) * 100.0).alias("distance_pct"),
        pl.when(pl.col("right") == "C")
        .then((pl.col("strike") / pl.col("spot") - 1.0) * 100.0)
        .otherwise((1.0 - pl.col("strike") / pl.col("spot")) * 100.0)
        .alias("otm_pct"),
        (pl.col("expiry") - pl.col("trade_date")).dt.total_days().cast(pl.Int64).alias("dte_days"),
        pl.when(oi > 0).then(size / oi).otherwise(None).alias("size_to_oi"),
        pl.when(oi > 0).then(pl.col("chain_volume").cast(pl.Float64) / oi).otherwise(None).alias("vol_oi"),
        pl.when(pl.col("avg_volume_5d") > 0)
        .then(size / pl.col("avg_volume_5d"))
        .otherwise(None)
        .alias("size_to_avg_volume"),
        (pl.col("oi_change_next").cast(pl.Float64) / size).clip(0.0, 1.0).alias("held_fraction"),
        (
            -sign * pl.col("gamma").cast(pl.Float64) * size * pl.col("multiplier").cast(pl.Float64)
            * pl.col("spot") ** 2 * GEX_MOVE_FRACTION
        ).alias("dealer_gex_usd_per_1pct"),
    )  # fmt: skip
    out = ev.to_arrow()

    def col(name: str) -> np.ndarray:
        return pc.fill_null(out.column(name).cast(pa.float64()), np.nan).to_numpy()

    score = flow_score(
        vol_oi=col("vol_oi"),
        premium_usd=col("premium_usd"),
        size_to_oi=col("size_to_oi"),
        size_to_avg_volume=col("size_to_avg_volume"),
        aggressiveness=col("aggressiveness"),
        sweep=out.column("is_sweep").cast(pa.float64()).to_numpy(),
        otm_pct=col("otm_pct"),
        dte_days=col("dte_days"),
    )
    out = out.append_column("score", pa.array(score))
    order = np.lexsort((-col("premium_usd"), -score))[: max(int(top_n), 0)]
    out = out.take(pa.array(order, type=pa.int64()))  # row-wise facts below: kept rows only
    out = out.append_column("side", side_names(out.column("side_code").to_numpy()))
    out = out.append_column(
        "expiry_class",
        expiry_class_array(out.column("expiry"), out.column("trade_date"), out.column("root")),
    )
    out = out.append_column("rank", pa.array(np.arange(1, out.num_rows + 1, dtype=np.int64)))
    drop = [c for c in ("chain_spot", "chain_volume") if c in out.column_names]
    return out.drop_columns(drop)
