"""Rolls vs naked closes (seed 002 "OI and option rolling patterns" and the third case study).

A near-month OI decline paired with a later-expiry OI rise in the same right, at the same or a
nearby higher strike, over the same window of sessions, is a roll: ``bullish_roll`` in calls,
``bearish_roll`` in puts. A decline with no pairing is a naked ``close``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.oi import _kernels
from chainlens.oi._config import OIConfig
from chainlens.oi._encode import one_chunk
from chainlens.oi._pairs import roll_pairs
from chainlens.oi._panel import Panel, cached_panel, changes_matrix, streak_matrices, take_rows

__all__ = ["detect_rolls", "window_changes"]


def window_changes(
    history: pa.Table, *, as_of: dt.date | None = None, window: int = 3, drop_stale: bool = True
) -> pl.DataFrame:
    """OI change of every contract alive at the last snapshot over the last ``window`` sessions.

    ``oi_start`` is the OI in the snapshot ``window`` sessions before the last one (0 if the
    contract was not listed then), ``oi_end`` the OI in the last snapshot, ``step1`` ..
    ``step<window>`` the session-by-session changes in between (they sum to ``change``; a
    snapshot missing inside the window counts as 0 OI; a history shorter than the window
    starts at its first session). Stale repeat sessions are skipped (``drop_stale``). Contracts expiring
    before the last snapshot's session are not alive and are dropped (expiry is not a close).
    """
    p = cached_panel(history, as_of=as_of, drop_stale=drop_stale)
    return _window_frame(p, window)


@dataclass(frozen=True, slots=True)
class _Legs:
    """Window legs of the contracts alive at their underlying's last session (contract order)."""

    c: np.ndarray  # contract keys
    e: np.ndarray  # last session index of the contract's underlying
    u: np.ndarray  # underlying key
    rows: np.ndarray  # table row of (c, e)
    oi_start: np.ndarray
    oi_end: np.ndarray
    steps: np.ndarray  # (window, contracts)
    start_day: np.ndarray
    end_day: np.ndarray


def _legs(p: Panel, window: int) -> _Legs:
    """OI at the window's start and end and the session steps of every alive contract;
    computed once per panel and window (read-only)."""
    got = p.memo.get(("legs", window))
    if isinstance(got, _Legs):
        return got
    e = p.n_sessions[p.con_uid] - 1  # each contract's underlying's last session
    c = np.arange(len(e))
    ee = np.maximum(e, 0)
    end_day = p.sess_day[p.con_uid, ee]
    alive = np.flatnonzero((e >= 0) & p.listed[c, ee] & (p.expiry_day >= end_day))
    c, e = c[alive], e[alive]
    u = p.con_uid[c]
    s0 = np.maximum(e - window, 0)
    oi_start, oi_end, steps = _kernels.window_legs(p.oi, p.listed, c, e, window)
    start_day = np.where(p.listed[c, s0], p.sess_day[u, s0], p.sess_day[u, e])
    lg = _Legs(c, e, u, p.row_at[c, e], oi_start, oi_end, steps, start_day, p.sess_day[u, e])
    for a in (lg.c, lg.e, lg.u, lg.rows, lg.oi_start, lg.oi_end, lg.steps, lg.start_day,
              lg.end_day):  # fmt: skip
        a.flags.writeable = False
    p.memo[("legs", window)] = lg
    return lg


def _window_frame(
    p: Panel,
    window: int,
    cfg: OIConfig | None = None,
    *,
    legs: _Legs | None = None,
    sel: np.ndarray | None = None,
) -> pl.DataFrame:
    """:func:`window_changes` on a panel (``legs``: :func:`_legs`, computed if not given; ``sel``:
    positions of the legs to keep, all if None); with ``cfg``, also ``built_sessions`` (longest
    run of above-baseline growth up to the window's end) and ``turnover_q`` (the underlying's
    ``close_turnover_quantile`` of non-zero per-contract session :math:`|\\Delta OI|`)."""
    lg = legs if legs is not None else _legs(p, window)
    k = np.arange(len(lg.c)) if sel is None else sel
    c, u = lg.c[k], lg.u[k]
    oi_start, oi_end = lg.oi_start[k], lg.oi_end[k]
    t = take_rows(
        p.table.select(["underlying", "root", "symbol", "expiry", "strike", "right"]), lg.rows[k]
    )
    cols = {name: t.column(name) for name in t.column_names}
    cols["start_session"] = pa.array(lg.start_day[k].astype("datetime64[D]")).cast(pa.date32())
    cols["end_session"] = pa.array(lg.end_day[k].astype("datetime64[D]")).cast(pa.date32())
    cols["oi_start"] = pa.array(oi_start)
    cols["oi_end"] = pa.array(oi_end)
    cols["change"] = pa.array(oi_end - oi_start)
    for j in range(1, window + 1):  # a loop over the window's sessions, not over contracts
        cols[f"step{j}"] = pa.array(lg.steps[j - 1][k])
    if cfg is not None:
        ch = changes_matrix(p)
        _, streak, _ = streak_matrices(
            p, ch, float(cfg.streak_min_contracts), float(cfg.streak_min_fraction)
        )
        cols["built_sessions"] = pa.array(streak[c].max(axis=1).astype(np.int64) if
                                          streak.shape[1] else np.zeros(len(c), np.int64))  # fmt: skip
        cols["turnover_q"] = pa.array(
            _turnover_quantile(p, ch, cfg.close_turnover_quantile, cfg.close_turnover_min_obs)[u]
        )
    df = pl.from_arrow(pa.table(cols))
    assert isinstance(df, pl.DataFrame)
    return df


def _turnover_quantile(p: Panel, ch: np.ndarray, q: float, min_obs: int = 1) -> np.ndarray:
    """Per underlying key: the ``q`` quantile of the non-zero per-contract session
    :math:`|\\Delta OI|` over the panel (0 where there are fewer than ``min_obs``).

    Exact, with linear interpolation as Polars computes it: with the ``n`` values sorted,
    :math:`x = (n-1) q`, the value is :math:`v_{\\lfloor x \\rfloor} + (x - \\lfloor x
    \\rfloor)(v_{\\lceil x \\rceil} - v_{\\lfloor x \\rfloor})` (the same
    proportion-times-gap-plus-lower order of operations). Values are bucketed per underlying
    (a counting pass, no sort) and each bucket is partitioned (:func:`numpy.partition`, O(n))
    instead of sorted.
    """
    out = np.zeros(len(p.underlyings))
    # the values grouped by underlying (contracts in key order within a group) and the count
    # per underlying, in one compiled pass
    grouped, counts = _kernels.abs_grouped(ch, p.con_uid, len(out))
    if len(grouped) == 0:
        return out
    starts = np.concatenate([[0], np.cumsum(counts)])
    for k in np.flatnonzero((counts > 0) & (counts >= min_obs)).tolist():  # over underlyings
        seg = grouped[starts[k] : starts[k + 1]]
        x = (len(seg) - 1) * q
        lo = int(x)
        hi = int(np.ceil(x))
        part = np.partition(seg, (lo, hi)) if hi != lo else np.partition(seg, lo)
        v_lo, v_hi = part[lo], part[hi]
        out[k] = v_lo if v_lo == v_hi else (x - lo) * (v_hi - v_lo) + v_lo
    return out


def detect_rolls(
    history: pa.Table, *, as_of: dt.date | None = None, config: OIConfig | None = None
) -> pa.Table:
    """Rolls and naked closes over the last ``config.roll_window`` sessions.

    Parameters
    ----------
    history
        Canonical chain snapshots (OI-only history is enough).
    as_of
        Last snapshot to use.
    config
        Pairing rule and tolerances (:class:`OIConfig`).

    Returns
    -------
    pyarrow.Table
        SPEC scan keys ``underlying, kind, right, from_expiry, from_strike, to_expiry,
        to_strike, contracts`` (``to_*`` null for a close) plus ``from_symbol, to_symbol,
        from_change, to_change, start_session, end_session``.

    Notes
    -----
    **Pairing rule.** Declines: :math:`\\Delta_n \\le -\\max(a, f\\,OI_{start})`. Rises:
    :math:`\\Delta_f \\ge a` and *synchronous*: with :math:`d_j` the session steps of each
    leg inside the window, :math:`\\sigma = \\sum_j \\min(\\max(-d^n_j, 0), \\max(d^f_j, 0)) /
    |\\Delta_n| \\ge` ``roll_min_sync`` (a roll closes and reopens in the same sessions; seed 002
    "a simultaneous decline ... and increase"). Only near-term declines count (:math:`e_n - D_{end} \\le`
    ``roll_near_max_days``). A decline (expiry :math:`e_n`, strike :math:`K`) is paired with a
    rise in the same underlying and right with :math:`e_n + E_{min} \\le e_f \\le e_n + E_{max}`,
    :math:`K(1-d) \\le K_f \\le K(1+u)` for calls (:math:`K(1-u) \\le K_f \\le K(1+d)` for
    puts) and :math:`r_{min} \\le \\Delta_f/|\\Delta_n| \\le r_{max}`.
    Among candidates, the best has the ratio closest to 1, then the nearest strike, then the
    nearest expiry. Each rise serves one decline: declines are served largest first, and a
    decline whose best rise was taken by a larger decline falls back to its next candidate
    (two greedy passes). A decline is a naked ``close`` only if no compatible contract (same
    expiry and strike rules, any size ratio) rose by at least
    ``close_veto_min_rise * roll_min_contracts`` with :math:`\\sigma \\ge` ``close_veto_sync``
    (a roll seen part-way through the window is not an exit), and its decline is at least
    ``close_min_fraction`` of :math:`OI_{start}`. ``contracts`` :math:`= \\min(|\\Delta_n|, \\Delta_f)` for a roll,
    :math:`|\\Delta_n|` for a close.
    """
    cfg = config or OIConfig()
    p = cached_panel(history, as_of=as_of, drop_stale=cfg.drop_stale)
    w_n = cfg.roll_window
    a, f = float(cfg.roll_min_contracts), float(cfg.roll_min_fraction)
    lg = _legs(p, w_n)
    t = p.table
    # declines and rises on the legs' arrays (the same float expressions as the Polars filters
    # they replace), so that only their rows are materialised
    exp_day, exp_ok = _days_at(t.column("expiry"), lg.rows)
    change = lg.oi_end - lg.oi_start
    near = exp_ok & (exp_day - lg.end_day <= cfg.roll_near_max_days)
    d_sel = np.flatnonzero((change <= -np.maximum(a, lg.oi_start * f)) & near)
    r_sel = np.flatnonzero(change >= a * cfg.close_veto_min_rise)
    dec = _window_frame(p, w_n, cfg, legs=lg, sel=d_sel)
    dec = dec.with_columns((-pl.col("change")).alias("decline"))
    dec = dec.with_columns(
        _decline_rank(dec),
        pl.Series("_did", np.arange(dec.height, dtype=np.int64)),
        (pl.col("right") == "C").fill_null(False).alias("_call"),
    )
    rt = take_rows(t.select(["expiry", "strike"]), lg.rows[r_sel])
    rise_cols = {
        "_rid": pa.array(np.arange(len(r_sel), dtype=np.int64)),
        "to_expiry": rt.column("expiry"),
        "to_strike": rt.column("strike"),
        "to_change": pa.array(change[r_sel]),
    }
    for j in range(1, w_n + 1):  # a loop over the window's sessions
        rise_cols[f"to_step{j}"] = pa.array(lg.steps[j - 1][r_sel])
    rise = pl.from_arrow(pa.table(rise_cols))
    assert isinstance(rise, pl.DataFrame)
    # candidate pairs (same underlying and right, strike band, expiry rule, synchrony floor),
    # found and prefiltered in one compiled pass; the exact rules follow in Polars
    up, down = float(cfg.roll_strike_up_pct), float(cfg.roll_strike_down_pct)
    grp = _group_keys(p, lg.rows, d_sel, r_sel)
    di, ri, sure = roll_pairs(
        grp[: len(d_sel)], _f64(dec["strike"]), _days(dec["expiry"]), dec["_call"].to_numpy(),
        dec["decline"].to_numpy(), lg.steps[:, d_sel], grp[len(d_sel) :],
        _f64(rise["to_strike"]), _days(rise["to_expiry"]), change[r_sel], lg.steps[:, r_sel],
        up=up, down=down, min_days=cfg.roll_min_expiry_days,
        max_days=cfg.roll_max_expiry_days, min_sync=cfg.roll_min_sync,
        veto_sync=cfg.close_veto_sync, min_contracts=a, min_ratio=cfg.roll_min_ratio,
        max_ratio=cfg.roll_max_ratio,
    )  # fmt: skip
    steps_d, steps_r = lg.steps[:, d_sel], lg.steps[:, r_sel]
    got = _pairs_np(di, ri, sure, _decline_arrays(dec), steps_d, rise, steps_r, cfg)
    if got is None:  # a tie or near-tie the Polars rules order, or a null: the Polars rules
        pairs, taken = _pairs_polars(dec, rise, di, ri, sure, cfg)
    else:
        pairs, taken = got
    to_sym = take_rows(t.column("symbol"), lg.rows[r_sel][pairs["_rid"].to_numpy()])
    to_sym_df = pl.from_arrow(pa.table({"to_symbol": to_sym}))
    assert isinstance(to_sym_df, pl.DataFrame)
    full = pl.concat(
        [dec[pairs["_did"].to_numpy()].drop("_did"), pairs, to_sym_df], how="horizontal"
    )
    rolls = full.select(
        "underlying",
        pl.when(pl.col("right") == "C").then(pl.lit("bullish_roll")).otherwise(pl.lit("bearish_roll")).alias("kind"),
        "right",
        pl.col("expiry").alias("from_expiry"), pl.col("strike").alias("from_strike"),
        "to_expiry", "to_strike",
        pl.min_horizontal("decline", "to_change").round(0).cast(pl.Int64).alias("contracts"),
        pl.col("symbol").alias("from_symbol"), "to_symbol",
        pl.col("change").alias("from_change"), "to_change", "start_session", "end_session",
    )  # fmt: skip
    # a decline paired, or met by a synchronous rise of a compatible contract (even when the
    # pair fails the size rule: a roll seen part-way through the window), is not a naked close
    closes = dec.filter(pl.Series(~taken)).filter(
        (pl.col("decline") >= cfg.close_min_fraction * pl.col("oi_start"))
        & (
            (pl.col("decline") >= cfg.close_min_turnover_multiple * pl.col("turnover_q"))
            | (pl.col("built_sessions") >= cfg.close_min_build_sessions)
        )
    )
    closes = closes.select(
        "underlying", pl.lit("close").alias("kind"), "right",
        pl.col("expiry").alias("from_expiry"), pl.col("strike").alias("from_strike"),
        pl.lit(None, dtype=pl.Date).alias("to_expiry"), pl.lit(None, dtype=pl.Float64).alias("to_strike"),
        pl.col("decline").round(0).cast(pl.Int64).alias("contracts"),
        pl.col("symbol").alias("from_symbol"), pl.lit(None, dtype=pl.String).alias("to_symbol"),
        pl.col("change").alias("from_change"), pl.lit(None, dtype=pl.Float64).alias("to_change"),
        "start_session", "end_session",
    )  # fmt: skip
    out = pl.concat([rolls, closes], how="vertical_relaxed").sort(
        ["underlying", "contracts", "from_symbol"], descending=[False, True, False]
    )
    return out.to_arrow()


def _f64(s: pl.Series) -> np.ndarray:
    return np.asarray(s.cast(pl.Float64).to_numpy(), np.float64)


def _days(s: pl.Series) -> np.ndarray:
    """Dates as days since the epoch (int64)."""
    return np.asarray(s.cast(pl.Int32).to_numpy(), np.int64)


def _days_at(col: pa.ChunkedArray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A date column at ``rows`` as days since the epoch, and its validity."""
    got = take_rows(col, rows).cast(pa.int32())
    ok = (
        np.ones(len(rows), bool)
        if not got.null_count
        else np.asarray(got.is_valid().to_numpy(zero_copy_only=False), bool)
    )
    days = np.asarray(got.fill_null(0).to_numpy(), np.int64) if len(rows) else np.zeros(0, np.int64)
    return days, ok


def _group_keys(p: Panel, rows: np.ndarray, d_sel: np.ndarray, r_sel: np.ndarray) -> np.ndarray:
    """One integer per (underlying, right) for the decline rows then the rise rows (equal keys
    iff both strings are equal; a null is its own value)."""
    sel = np.concatenate([rows[d_sel], rows[r_sel]])
    if not len(sel):
        return np.zeros(0, np.int64)

    def codes(col: pa.ChunkedArray) -> np.ndarray:
        arr = take_rows(col, sel)
        arr = one_chunk(arr)
        enc = pc.dictionary_encode(arr, null_encoding="encode")
        return np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)

    r_code = codes(p.table.column("right"))
    und = p.table.column("underlying")
    # the panel's row codes (first-appearance codes of the strings) unless nulls are merged
    u_code = codes(und) if und.null_count else p.uid[sel].astype(np.int64)
    return u_code * (int(r_code.max()) + 1) + r_code


def _decline_rank(dec: pl.DataFrame) -> pl.Series:
    """``_dr``: dense rank of the declines by (``decline`` descending, ``symbol``), 0-based, so
    that sorting the pairs by ``_dr`` orders them as by those two columns (ties share a rank)
    without a string sort of every pair."""
    if dec.height == 0:
        return pl.Series("_dr", [], pl.Int64)
    order = dec.select(pl.arg_sort_by(["decline", "symbol"], descending=[True, False]))
    idx = order.to_series().to_numpy()
    srt = dec.select("decline", "symbol")[idx]
    new = (srt["decline"].ne_missing(srt["decline"].shift(1))) | (
        srt["symbol"].ne_missing(srt["symbol"].shift(1))
    )
    rank_sorted = np.cumsum(new.fill_null(True).to_numpy()) - 1
    rank = np.empty(dec.height, np.int64)
    rank[idx] = rank_sorted
    return pl.Series("_dr", rank)


def _pairs_polars(
    dec: pl.DataFrame,
    rise: pl.DataFrame,
    di: np.ndarray,
    ri: np.ndarray,
    sure: np.ndarray,
    cfg: OIConfig,
) -> tuple[pl.DataFrame, np.ndarray]:
    """The pairing rules of :func:`detect_rolls` in Polars on the candidate pairs ``(di,
    ri)`` of :func:`~chainlens.oi._pairs.roll_pairs` (``sure``: its certain vetoes): the
    pairs (``_did, _rid, to_expiry, to_strike, to_change``, winners of pass 1 then pass 2)
    and, per decline, whether it is paired or vetoed (not a naked close). The reference of
    :func:`_pairs_np`."""
    w_n = cfg.roll_window
    a = float(cfg.roll_min_contracts)
    up, down = float(cfg.roll_strike_up_pct), float(cfg.roll_strike_down_pct)
    # calls: same or higher strike; puts mirrored (same or lower)
    call = pl.col("_call")
    lo = pl.when(call).then(pl.lit(down)).otherwise(pl.lit(up))
    hi = pl.when(call).then(pl.lit(up)).otherwise(pl.lit(down))
    # synchrony: the share of the decline matched, session by session, by the rise
    sync = (
        pl.sum_horizontal(
            pl.min_horizontal((-pl.col(f"step{j}")).clip(lower_bound=0),
                              pl.col(f"to_step{j}").clip(lower_bound=0))
            for j in range(1, w_n + 1)
        ) / pl.col("decline")
    ).alias("sync")  # fmt: skip
    # the pairs carry integer keys (_did, _rid: one per decline / rise contract, as symbols
    # are) and only the numeric columns the rules read; strings are gathered for the winners
    d_num = dec.select(
        "_did", "_dr", "_call", "expiry", "strike", "decline",
        *(f"step{j}" for j in range(1, w_n + 1)),
    )  # fmt: skip
    compat = (
        pl.concat([d_num[di], rise[ri]], how="horizontal")
        .with_columns(sync)
        .filter(
            (pl.col("to_expiry") > pl.col("expiry"))
            & ((pl.col("to_expiry") - pl.col("expiry")).dt.total_days() <= cfg.roll_max_expiry_days)
            & ((pl.col("to_expiry") - pl.col("expiry")).dt.total_days() >= cfg.roll_min_expiry_days)
            & (pl.col("to_strike") >= pl.col("strike") * (1.0 - lo) - 1e-9)
            & (pl.col("to_strike") <= pl.col("strike") * (1.0 + hi) + 1e-9)
        )
    )
    # confirmation: the legs moved together in >= 2 sessions, or the decline is complete
    step = float(cfg.roll_confirm_step)
    moved = pl.sum_horizontal(
        (pl.min_horizontal((-pl.col(f"step{j}")).clip(lower_bound=0),
                           pl.col(f"to_step{j}").clip(lower_bound=0))
         >= step * pl.col("decline")).cast(pl.Int64)
        for j in range(1, w_n + 1)
    )  # fmt: skip
    complete = -pl.col(f"step{w_n}") < step * pl.col("decline")
    cand = compat.filter(
        ((moved >= 2) | complete)
        & (pl.col("to_change") >= a)
        & (pl.col("to_change") >= cfg.roll_min_ratio * pl.col("decline"))
        & (pl.col("to_change") <= cfg.roll_max_ratio * pl.col("decline"))
        & (pl.col("sync") >= cfg.roll_min_sync)
    )
    cand = cand.with_columns(
        (pl.col("to_change") / pl.col("decline")).log().abs().alias("_q"),
        (pl.col("to_strike") - pl.col("strike")).abs().alias("_dk"),
        (pl.col("to_expiry") - pl.col("expiry")).dt.total_days().alias("_de"),
    ).sort(["_dr", "_q", "_dk", "_de"])  # _dr: (decline descending, symbol) as one integer
    # pass 1: each decline's best candidate; a rise goes to the largest decline that wants it
    best = cand.unique("_did", keep="first", maintain_order=True)
    won = best.unique("_rid", keep="first", maintain_order=True)
    # pass 2: losers take their best candidate among rises nobody won
    losers = cand.join(won.select("_did"), on="_did", how="anti").join(
        won.select("_rid"), on="_rid", how="anti"
    )
    won2 = losers.unique("_did", keep="first", maintain_order=True).unique(
        "_rid", keep="first", maintain_order=True
    )
    pairs = pl.concat([won, won2], how="vertical_relaxed").select(
        "_did", "_rid", "to_expiry", "to_strike", "to_change"
    )
    # a decline met by a synchronous rise of a compatible contract is not a naked close even
    # when the pair fails the size rule (a roll seen part-way through the window)
    vetoed = pl.concat(
        [compat.filter(pl.col("sync") >= cfg.close_veto_sync).select("_did"),
         pl.DataFrame({"_did": np.flatnonzero(sure).astype(np.int64)})], how="vertical",
    ).unique()  # fmt: skip
    taken = np.zeros(dec.height, bool)
    taken[pairs["_did"].to_numpy()] = True
    taken[vetoed["_did"].to_numpy()] = True
    return pairs, taken


@dataclass(frozen=True, slots=True)
class _DecArrays:
    """The declines' columns that the pairing rules read (row order of the declines)."""

    rank: np.ndarray  # _dr
    call: np.ndarray
    expiry: np.ndarray  # days since the epoch
    strike: np.ndarray
    decline: np.ndarray
    ok: bool  # no null expiry or strike


def _decline_arrays(dec: pl.DataFrame) -> _DecArrays:
    ok = not (dec["expiry"].null_count() or dec["strike"].null_count())
    return _DecArrays(
        dec["_dr"].to_numpy(), np.asarray(dec["_call"].to_numpy(), bool),
        _days(dec["expiry"]) if ok else np.zeros(dec.height, np.int64),
        _f64(dec["strike"]), np.asarray(dec["decline"].to_numpy(), np.float64), ok,
    )  # fmt: skip


def _first_of(keys: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The positions ``at`` (in order) whose ``keys[at]`` is the first of its value among them
    (``unique(keep="first", maintain_order=True)``)."""
    if not len(at):
        return at
    _, first = np.unique(keys[at], return_index=True)
    out: np.ndarray = at[np.sort(first)]
    return out


def _pairs_np(
    di: np.ndarray,
    ri: np.ndarray,
    sure: np.ndarray,
    d: _DecArrays,
    d_steps: np.ndarray,
    rise: pl.DataFrame,
    r_steps: np.ndarray,
    cfg: OIConfig,
) -> tuple[pl.DataFrame, np.ndarray] | None:
    """:func:`_pairs_polars` on NumPy arrays: the same pairs in the same order, and the same
    declines taken (paired or vetoed); None where the result could depend on how Polars
    orders ties (candidates of one decline equal in every sort key, or whose ratio terms
    :math:`|\\ln(\\Delta_f / |\\Delta_n|)|` lie within 1e-12 relative of each other without
    equal ratios: a last-bit difference between two logarithms could then swap them), a NaN
    session step, a null expiry or strike, or a non-positive ratio: the caller then runs
    :func:`_pairs_polars`.

    The rules are those of :func:`detect_rolls` with the same float expressions, element by
    element: the strike band :math:`K(1 \\mp lo/hi) \\mp 10^{-9}`, the synchrony
    :math:`\\sigma = (\\sum_j \\min(\\max(-d^n_j, 0), \\max(d^f_j, 0))) / |\\Delta_n|` summed
    over the sessions in order, the confirmation and size rules; the candidates sorted by
    (decline rank, :math:`|\\ln(\\Delta_f/|\\Delta_n|)|`, :math:`|K_f - K|`, :math:`e_f - e_n`)
    and the two greedy passes as first-of-key selections in that order."""
    w_n = cfg.roll_window
    if not d.ok or rise["to_expiry"].null_count() or rise["to_strike"].null_count():
        return None
    if np.isnan(d_steps).any() or np.isnan(r_steps).any():
        return None
    a = float(cfg.roll_min_contracts)
    up, down = float(cfg.roll_strike_up_pct), float(cfg.roll_strike_down_pct)
    r_exp, r_strike = _days(rise["to_expiry"]), _f64(rise["to_strike"])
    r_change = np.asarray(rise["to_change"].to_numpy(), np.float64)
    call = d.call[di]
    lo = np.where(call, down, up)
    hi = np.where(call, up, down)
    k_n, k_f = d.strike[di], r_strike[ri]
    de = r_exp[ri] - d.expiry[di]
    compat = (
        (de > 0)
        & (de <= cfg.roll_max_expiry_days)
        & (de >= cfg.roll_min_expiry_days)
        & (k_f >= k_n * (1.0 - lo) - 1e-9)
        & (k_f <= k_n * (1.0 + hi) + 1e-9)
    )
    decl = d.decline[di]
    step = float(cfg.roll_confirm_step)
    matched = np.zeros(len(di))
    moved = np.zeros(len(di), np.int64)
    for j in range(w_n):  # a loop over the window's sessions
        m = np.minimum(np.maximum(-d_steps[j][di], 0.0), np.maximum(r_steps[j][ri], 0.0))
        matched = m if j == 0 else matched + m
        moved += m >= step * decl
    sync = matched / decl
    complete = -d_steps[w_n - 1][di] < step * decl
    tc = r_change[ri]
    cand = np.flatnonzero(
        compat
        & ((moved >= 2) | complete)
        & (tc >= a)
        & (tc >= cfg.roll_min_ratio * decl)
        & (tc <= cfg.roll_max_ratio * decl)
        & (sync >= cfg.roll_min_sync)
    )
    ratio = tc[cand] / decl[cand]
    if len(cand) and not bool((ratio > 0).all() & np.isfinite(ratio).all()):
        return None
    q = np.abs(np.log(ratio))
    dk = np.abs(k_f[cand] - k_n[cand])
    dd = de[cand]
    rank = d.rank[di[cand]]
    order = np.lexsort((dd, dk, q, rank))
    rank, q, dk, dd, ratio = rank[order], q[order], dk[order], dd[order], ratio[order]
    same_rank = rank[1:] == rank[:-1]
    near = np.abs(q[1:] - q[:-1]) <= 1e-12 * np.maximum(q[1:], q[:-1])
    tie = same_rank & (q[1:] == q[:-1]) & (dk[1:] == dk[:-1]) & (dd[1:] == dd[:-1])
    if bool((tie | (same_rank & near & (ratio[1:] != ratio[:-1]))).any()):
        return None
    srt = cand[order]
    p_did, p_rid = di[srt], ri[srt]
    # pass 1: each decline's best candidate; a rise goes to the largest decline that wants it
    won = _first_of(p_rid, _first_of(p_did, np.arange(len(srt))))
    # pass 2: losers take their best candidate among rises nobody won
    losers = np.flatnonzero(~np.isin(p_did, p_did[won]) & ~np.isin(p_rid, p_rid[won]))
    won2 = _first_of(p_rid, _first_of(p_did, losers))
    at = np.concatenate([won, won2])
    pairs = pl.concat(
        [pl.DataFrame({"_did": p_did[at].astype(np.int64)}),
         rise[p_rid[at]].select("_rid", "to_expiry", "to_strike", "to_change")],
        how="horizontal",
    )  # fmt: skip
    taken = np.zeros(len(d.rank), bool)
    taken[p_did[at]] = True
    taken[di[compat & (sync >= cfg.close_veto_sync)]] = True
    taken[np.flatnonzero(sure)] = True
    return pairs, taken
