"""Rolls vs naked closes (seed 002 "OI and option rolling patterns" and the third case study).

A near-month OI decline paired with a later-expiry OI rise in the same right, at the same or a
nearby higher strike, over the same window of sessions, is a roll: ``bullish_roll`` in calls,
``bearish_roll`` in puts. A decline with no pairing is a naked ``close``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from chainlens.oi import _kernels
from chainlens.oi._config import OIConfig
from chainlens.oi._panel import Panel, cached_panel, changes_matrix, streak_matrices

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


def _window_frame(p: Panel, window: int, cfg: OIConfig | None = None) -> pl.DataFrame:
    """:func:`window_changes` on a panel; with ``cfg``, also ``built_sessions`` (longest run of
    above-baseline growth up to the window's end) and ``turnover_q`` (the underlying's
    ``close_turnover_quantile`` of non-zero per-contract session :math:`|\\Delta OI|`)."""
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
    t = p.table.take(pa.array(p.row_at[c, e], pa.int64())).select(
        ["underlying", "root", "symbol", "expiry", "strike", "right"]
    )
    cols = {name: t.column(name) for name in t.column_names}
    cols["start_session"] = pa.array(start_day.astype("datetime64[D]")).cast(pa.date32())
    cols["end_session"] = pa.array(p.sess_day[u, e].astype("datetime64[D]")).cast(pa.date32())
    cols["oi_start"] = pa.array(oi_start)
    cols["oi_end"] = pa.array(oi_end)
    cols["change"] = pa.array(oi_end - oi_start)
    for k in range(1, window + 1):  # a loop over the window's sessions, not over contracts
        cols[f"step{k}"] = pa.array(steps[k - 1])
    if cfg is not None:
        ch = changes_matrix(p)
        _, streak, _ = streak_matrices(
            p, ch, float(cfg.streak_min_contracts), float(cfg.streak_min_fraction)
        )
        cols["built_sessions"] = pa.array(streak[c].max(axis=1) if streak.shape[1] else
                                          np.zeros(len(c), np.int64))  # fmt: skip
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
    proportion-times-gap-plus-lower order of operations). Values are bucketed per underlying by
    ordering the contracts (not the values) by underlying and each bucket is partitioned (:func:`numpy.partition`, O(n)) instead of
    sorted.
    """
    out = np.zeros(len(p.underlyings))
    # contracts ordered by underlying (a stable sort of contract keys, not of values): reading
    # the rows in that order groups the values by underlying (one compiled pass)
    by_u = np.argsort(p.con_uid, kind="stable")
    grouped = _kernels.abs_by_group(ch, by_u)
    if len(grouped) == 0:
        return out
    with np.errstate(invalid="ignore"):
        per_con = (np.isfinite(ch) & (ch != 0)).sum(axis=1)
    counts = np.bincount(p.con_uid, weights=per_con, minlength=len(out)).astype(np.int64)
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
    w = _window_frame(cached_panel(history, as_of=as_of, drop_stale=cfg.drop_stale),
                      cfg.roll_window, cfg)  # fmt: skip
    w_n = cfg.roll_window
    a, f = float(cfg.roll_min_contracts), float(cfg.roll_min_fraction)
    near = (pl.col("expiry") - pl.col("end_session")).dt.total_days() <= cfg.roll_near_max_days
    dec = w.filter(
        (pl.col("change") <= -pl.max_horizontal(pl.lit(a), pl.col("oi_start") * f)) & near
    ).with_columns((-pl.col("change")).alias("decline"))
    dec = dec.with_columns(_decline_rank(dec))
    rise = w.filter(pl.col("change") >= a * cfg.close_veto_min_rise).select(
        "underlying", "right",
        pl.col("symbol").alias("to_symbol"), pl.col("expiry").alias("to_expiry"),
        pl.col("strike").alias("to_strike"), pl.col("change").alias("to_change"),
        *(pl.col(f"step{j}").alias(f"to_step{j}") for j in range(1, w_n + 1)),
    )  # fmt: skip
    # calls: same or higher strike; puts mirrored (same or lower)
    call = pl.col("right") == "C"
    up, down = float(cfg.roll_strike_up_pct), float(cfg.roll_strike_down_pct)
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
    # candidate pairs as index arrays; the expiry and strike rules (below, unchanged) and a
    # synchrony floor are applied to the indices first so that only pairs that can matter are
    # materialised (a pair with sync < min(roll_min_sync, close_veto_sync) is neither a roll
    # nor a veto)
    di, ri = _candidate_index(dec, rise, up, down)
    di, ri, sure = _prefilter(dec, rise, di, ri, cfg)
    compat = (
        _gather_pairs(dec, rise, di, ri)
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
    best = cand.unique("symbol", keep="first", maintain_order=True)
    won = best.unique("to_symbol", keep="first", maintain_order=True)
    # pass 2: losers take their best candidate among rises nobody won
    losers = cand.join(won.select("symbol"), on="symbol", how="anti").join(
        won.select("to_symbol"), on="to_symbol", how="anti"
    )
    won2 = losers.unique("symbol", keep="first", maintain_order=True).unique(
        "to_symbol", keep="first", maintain_order=True
    )
    pairs = pl.concat([won, won2], how="vertical_relaxed")
    rolls = pairs.select(
        "underlying",
        pl.when(pl.col("right") == "C").then(pl.lit("bullish_roll")).otherwise(pl.lit("bearish_roll")).alias("kind"),
        "right",
        pl.col("expiry").alias("from_expiry"), pl.col("strike").alias("from_strike"),
        "to_expiry", "to_strike",
        pl.min_horizontal("decline", "to_change").round(0).cast(pl.Int64).alias("contracts"),
        pl.col("symbol").alias("from_symbol"), "to_symbol",
        pl.col("change").alias("from_change"), "to_change", "start_session", "end_session",
    )  # fmt: skip
    # a decline met by a synchronous rise of a compatible contract is not a naked close even
    # when the pair fails the size rule (a roll seen part-way through the window)
    vetoed = pl.concat(
        [compat.filter(pl.col("sync") >= cfg.close_veto_sync).select("symbol"),
         dec[sure].select("symbol")], how="vertical",
    ).unique()  # fmt: skip
    closes = dec.join(pairs.select("symbol"), on="symbol", how="anti")
    closes = closes.join(vetoed, on="symbol", how="anti").filter(
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


def _prefilter(
    dec: pl.DataFrame, rise: pl.DataFrame, di: np.ndarray, ri: np.ndarray, cfg: OIConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs worth materialising, and the declines already known to be vetoed.

    Keeps the pairs that pass the expiry and strike rules (the same float expressions as the
    Polars filter of :func:`detect_rolls`) and have synchrony at least
    ``min(roll_min_sync, close_veto_sync)`` (minus 1e-9: a superset; the exact filters follow
    in Polars). A decline with a pair that clears the strike rule and ``close_veto_sync`` by a
    margin (1e-9, far above the rounding of the two evaluations) is vetoed for certain: its
    row indices are returned (third array), and of its pairs only those that may still be a
    roll (size, ratio and ``roll_min_sync`` rules, each with the same margin) are kept.
    """
    if len(di) == 0:
        return di, ri, np.zeros(0, np.int64)

    def days(df: pl.DataFrame, name: str) -> np.ndarray:
        return df[name].cast(pl.Int32).to_numpy().astype(np.int64)

    e_n, e_f = days(dec, "expiry")[di], days(rise, "to_expiry")[ri]
    de = e_f - e_n
    k_n, k_f = dec["strike"].to_numpy()[di], rise["to_strike"].to_numpy()[ri]
    call = (dec["right"] == "C").to_numpy()[di]
    up, down = float(cfg.roll_strike_up_pct), float(cfg.roll_strike_down_pct)
    lo = np.where(call, down, up)
    hi = np.where(call, up, down)
    k_lo, k_hi = k_n * (1.0 - lo), k_n * (1.0 + hi)
    e_ok = (e_f > e_n) & (de <= cfg.roll_max_expiry_days) & (de >= cfg.roll_min_expiry_days)
    m = e_ok & (k_f >= k_lo - 1e-9) & (k_f <= k_hi + 1e-9)
    di, ri = di[m], ri[m]
    k_ok = ((k_f >= k_lo) & (k_f <= k_hi))[m]  # the strike rule with the 1e-9 margin inside
    matched = np.zeros(len(di))
    for j in range(1, cfg.roll_window + 1):  # a loop over the window's sessions
        fall = np.maximum(-dec[f"step{j}"].to_numpy()[di], 0.0)
        gain = np.maximum(rise[f"to_step{j}"].to_numpy()[ri], 0.0)
        matched += np.minimum(fall, gain)
    decl = dec["decline"].to_numpy()[di]
    floor = min(cfg.roll_min_sync, cfg.close_veto_sync) - 1e-9
    keep = matched >= floor * decl
    # certain vetoes: positive decline, strike rule met inside the margin, sync above the
    # threshold by the margin
    sure_pair = keep & k_ok & (decl > 0) & (matched >= (cfg.close_veto_sync + 1e-9) * decl)
    sure_dec = np.zeros(dec.height, bool)
    sure_dec[di[sure_pair]] = True
    # pairs that certainly fail a roll rule (NaN compares False: kept)
    tc = rise["to_change"].to_numpy()[ri]
    a = float(cfg.roll_min_contracts)
    r_lo, r_hi = cfg.roll_min_ratio * decl, cfg.roll_max_ratio * decl
    s_lo = cfg.roll_min_sync * decl
    fail = (
        (tc < a - 1e-9 * (abs(a) + 1.0))
        | (tc < r_lo - 1e-9 * (np.abs(r_lo) + 1.0))
        | (tc > r_hi + 1e-9 * (np.abs(r_hi) + 1.0))
        | (matched < s_lo - 1e-9 * (np.abs(s_lo) + 1.0))
    )
    keep &= ~(fail & sure_dec[di])
    return di[keep], ri[keep], np.flatnonzero(sure_dec)


def _gather_pairs(
    dec: pl.DataFrame, rise: pl.DataFrame, di: np.ndarray, ri: np.ndarray
) -> pl.DataFrame:
    """Rows ``di`` of the declines beside rows ``ri`` of the rises (without their keys)."""
    if dec.height == 0 or rise.height == 0:
        return dec.join(rise, on=["underlying", "right"], how="inner")
    return pl.concat([dec[di], rise.drop(["underlying", "right"])[ri]], how="horizontal")


def _candidates(dec: pl.DataFrame, rise: pl.DataFrame, up: float, down: float) -> pl.DataFrame:
    """Decline x rise pairs of the same underlying and right whose strikes are within the
    widest pairing band (see :func:`_candidate_index`)."""
    di, ri = _candidate_index(dec, rise, up, down)
    return _gather_pairs(dec, rise, di, ri)


def _candidate_index(
    dec: pl.DataFrame, rise: pl.DataFrame, up: float, down: float
) -> tuple[np.ndarray, np.ndarray]:
    """Decline x rise pairs (row indices) of the same underlying and right whose strikes are
    within the widest pairing band (``[K(1 - max(up, down)), K(1 + max(up, down))]``), found by
    binary search on rises sorted by (underlying, right, strike) instead of a full cross join."""
    if dec.height == 0 or rise.height == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    grp = (
        pl.concat(
            [dec.select("underlying", "right"), rise.select("underlying", "right")], how="vertical"
        )
        .select(pl.struct("underlying", "right").rank("dense").alias("g"))["g"]
        .to_numpy()
    )
    gd, gr = grp[: dec.height].astype(np.float64), grp[dec.height :].astype(np.float64)
    kd, kr = dec["strike"].to_numpy(), rise["to_strike"].to_numpy()
    kmin = float(min(kd.min(), kr.min()))
    span = float(max(kd.max(), kr.max()) * (1.0 + max(up, down)) - kmin) + 10.0
    key_r = gr * span + (kr - kmin)
    order = np.argsort(key_r, kind="stable")
    key_r = key_r[order]
    tol = max(up, down)
    lo = gd * span + np.maximum(kd * (1.0 - tol) - 1e-6 - kmin, 0.0)
    hi = gd * span + np.minimum(kd * (1.0 + tol) + 1e-6 - kmin, span - 1.0)
    a = np.searchsorted(key_r, lo, side="left")
    b = np.searchsorted(key_r, hi, side="right")
    cnt = np.maximum(b - a, 0)
    di = np.repeat(np.arange(dec.height), cnt)
    offs = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ri = order[np.repeat(a, cnt) + offs]
    return di, ri
