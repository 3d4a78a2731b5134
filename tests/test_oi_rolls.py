"""Rolls and naked closes against an independent reference: a verbatim copy (only renamed) of
the previous Polars implementation of :func:`chainlens.oi.detect_rolls` (window table of every
alive contract, candidate pairs by binary search on strikes, prefilter, string-keyed Polars
pairing), run on the reference panel of ``test_oi_fastpath`` (``ref_build_panel``, verbatim
changes / streak / window-leg / turnover-quantile references). Histories: the random ones of
``test_oi_fastpath`` and roll-rich sorted chains (injected rolls and closes), also with rows
shuffled, contracts missing from some sessions, a single session and no rows. Results must be
identical (``Table.equals``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from chainlens import _engine, oi
from chainlens.oi import _kernels, _panel
from chainlens.oi._panel import Panel
from test_oi_fastpath import (
    random_history,
    ref_build_panel,
    ref_changes_matrix,
    ref_streak_matrices,
    ref_turnover_quantile,
    ref_window_legs,
)


# ----------------------------------------------------------------------------------------------
# slow reference: the previous implementation, copied verbatim (only renamed and wired to the
# reference panel)
# ----------------------------------------------------------------------------------------------
def ref_window_frame(p: Panel, window: int, cfg: oi.OIConfig | None = None) -> pl.DataFrame:
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
    oi_start, oi_end, *steps = ref_window_legs(p, c, e, window)
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
        ch = ref_changes_matrix(p)
        _, streak, _ = ref_streak_matrices(
            p, ch, float(cfg.streak_min_contracts), float(cfg.streak_min_fraction)
        )
        cols["built_sessions"] = pa.array(streak[c].max(axis=1) if streak.shape[1] else
                                          np.zeros(len(c), np.int64))  # fmt: skip
        cols["turnover_q"] = pa.array(
            ref_turnover_quantile(p, ch, cfg.close_turnover_quantile, cfg.close_turnover_min_obs)[u]
        )
    df = pl.from_arrow(pa.table(cols))
    assert isinstance(df, pl.DataFrame)
    return df


def ref_detect_rolls(
    history: pa.Table, *, as_of: dt.date | None = None, config: oi.OIConfig | None = None
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
    cfg = config or oi.OIConfig()
    w = ref_window_frame(ref_build_panel(history, as_of=as_of, drop_stale=cfg.drop_stale),
                      cfg.roll_window, cfg)  # fmt: skip
    w_n = cfg.roll_window
    a, f = float(cfg.roll_min_contracts), float(cfg.roll_min_fraction)
    near = (pl.col("expiry") - pl.col("end_session")).dt.total_days() <= cfg.roll_near_max_days
    dec = w.filter(
        (pl.col("change") <= -pl.max_horizontal(pl.lit(a), pl.col("oi_start") * f)) & near
    ).with_columns((-pl.col("change")).alias("decline"))
    dec = dec.with_columns(ref_decline_rank(dec))
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
    di, ri = ref_candidate_index(dec, rise, up, down)
    di, ri, sure = ref_prefilter(dec, rise, di, ri, cfg)
    compat = (
        ref_gather_pairs(dec, rise, di, ri)
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


def ref_decline_rank(dec: pl.DataFrame) -> pl.Series:
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


def ref_prefilter(
    dec: pl.DataFrame, rise: pl.DataFrame, di: np.ndarray, ri: np.ndarray, cfg: oi.OIConfig
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


def ref_gather_pairs(
    dec: pl.DataFrame, rise: pl.DataFrame, di: np.ndarray, ri: np.ndarray
) -> pl.DataFrame:
    """Rows ``di`` of the declines beside rows ``ri`` of the rises (without their keys)."""
    if dec.height == 0 or rise.height == 0:
        return dec.join(rise, on=["underlying", "right"], how="inner")
    return pl.concat([dec[di], rise.drop(["underlying", "right"])[ri]], how="horizontal")


def ref_candidates(dec: pl.DataFrame, rise: pl.DataFrame, up: float, down: float) -> pl.DataFrame:
    """Decline x rise pairs of the same underlying and right whose strikes are within the
    widest pairing band (see :func:`_candidate_index`)."""
    di, ri = ref_candidate_index(dec, rise, up, down)
    return ref_gather_pairs(dec, rise, di, ri)


def ref_candidate_index(
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


# ----------------------------------------------------------------------------------------------
# roll-rich histories
# ----------------------------------------------------------------------------------------------
def roll_history(
    seed: int, *, sessions: int = 6, shuffle: bool = False, missing: float = 0.0
) -> pa.Table:
    """Sorted chains (underlying, expiry, strike, right) of a few underlyings with weekly and
    monthly expiries, background OI noise, and injected rolls (a near leg falling while a later,
    same-or-higher-strike call / same-or-lower-strike put leg rises in the same sessions) and
    naked closes; optionally rows shuffled and contracts missing from some sessions."""
    rng = np.random.default_rng(seed)
    d0 = 19700
    rows = []
    for u in range(int(rng.integers(1, 4))):
        name = f"R{u}"
        spot = float(rng.integers(50, 200))
        strikes = np.round(spot * np.linspace(0.85, 1.15, 9))
        expiries = sorted(
            {d0 + sessions + 2 + 7 * k for k in range(4)}
            | {d0 + sessions + 30 * k for k in (2, 3, 5, 9)}
        )
        for e in expiries:
            for k in strikes:
                for r in "CP":
                    rows.append((name, e, float(k), r))
    n = len(rows)
    oi_ = rng.integers(0, 4000, n).astype(np.float64)
    paths = np.empty((sessions, n))
    for s in range(sessions):
        oi_ = np.maximum(0.0, oi_ + rng.integers(-150, 200, n))
        paths[s] = oi_
    # injected rolls and closes over the last sessions
    for _ in range(max(n // 12, 1)):
        i, j = rng.integers(0, n, 2)
        amt = float(rng.integers(300, 3000))
        start = int(rng.integers(max(sessions - 4, 0), sessions))
        for s in range(start, sessions):
            frac = (s - start + 1) / (sessions - start)
            paths[s, i] = max(paths[start - 1, i] if start else paths[0, i], amt) - amt * frac
            if rng.random() < 0.7:
                paths[s, j] = (
                    paths[start - 1, j] + amt * frac * rng.uniform(0.6, 1.4)
                    if start
                    else paths[s, j]
                )
    tables = []
    for s in range(sessions):
        listed = rng.random(n) >= missing
        idx = np.flatnonzero(listed)
        if shuffle:
            idx = rng.permutation(idx)
        und = [rows[k][0] for k in idx]
        tables.append(pa.table({
            "trade_date": pa.array(np.full(len(idx), d0 + s, np.int32)).cast(pa.date32()),
            "underlying": pa.array(und, pa.string()),
            "root": pa.array(und, pa.string()),
            "symbol": pa.array([f"{rows[k][0]}_{rows[k][1]}_{rows[k][2]:g}_{rows[k][3]}" for k in idx], pa.string()),
            "expiry": pa.array(np.array([rows[k][1] for k in idx], np.int32)).cast(pa.date32()),
            "strike": pa.array(np.array([rows[k][2] for k in idx])),
            "right": pa.array([rows[k][3] for k in idx], pa.string()),
            "open_interest": pa.array(np.round(paths[s, idx]).astype(np.int64)),
            "volume": pa.array(rng.integers(1, 3000, len(idx))),
        }))  # fmt: skip
    return pa.concat_tables(tables)


CONFIGS = [
    oi.OIConfig(),
    oi.OIConfig(close_turnover_min_obs=5, roll_min_contracts=100.0),
    oi.OIConfig(roll_strike_down_pct=0.03, roll_strike_up_pct=0.1, roll_min_sync=0.3,
                close_veto_sync=0.6, roll_min_expiry_days=0, roll_window=2,
                close_turnover_min_obs=5),
]  # fmt: skip


@pytest.fixture(params=[True, False], ids=["numba", "numpy"])
def engine(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Both engines, forced through the one engine policy (chainlens._engine)."""
    if request.param and not _kernels.HAVE_NUMBA:
        pytest.skip("numba not installed")
    with _engine.force("numba" if request.param else "numpy"):
        assert _kernels.use_nb() == request.param
        _panel._CACHE.clear()
        yield bool(request.param)


def _check(h: pa.Table, as_of: dt.date | None = None) -> int:
    found = 0
    for cfg in CONFIGS:
        _panel._CACHE.clear()
        got = oi.detect_rolls(h, as_of=as_of, config=cfg)
        want = ref_detect_rolls(h, as_of=as_of, config=cfg)
        assert got.schema == want.schema
        assert got.equals(want)
        found += got.num_rows
    return found


@pytest.mark.parametrize("seed", range(12))
def test_rolls_random_histories(engine: bool, seed: int) -> None:
    _check(random_history(seed))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("shuffle", "missing"), [(False, 0.0), (True, 0.0), (False, 0.1), (True, 0.1)]
)
def test_rolls_roll_rich_histories(engine: bool, seed: int, shuffle: bool, missing: float) -> None:
    h = roll_history(seed, shuffle=shuffle, missing=missing)
    assert _check(h) > 0
    last = dt.date(1970, 1, 1) + dt.timedelta(days=19700 + 4)
    _check(h, as_of=last)


def test_rolls_kinds_present() -> None:
    """The roll-rich histories exercise both outcomes (rolls and naked closes)."""
    kinds = set()
    for seed in range(8):
        kinds |= set(
            oi.detect_rolls(roll_history(seed), config=CONFIGS[1]).column("kind").to_pylist()
        )
    assert {"bullish_roll", "bearish_roll", "close"} <= kinds


def test_rolls_single_session_and_empty(engine: bool) -> None:
    h = roll_history(3, sessions=1)
    assert _check(h) == 0
    assert _check(h.slice(0, 0)) == 0


def test_rolls_underlying_disagreeing_rows(engine: bool) -> None:
    """A symbol listed under two underlyings (hand-built input) pairs as the reference does."""
    h = roll_history(5)
    u = h.column("underlying").to_pylist()
    u[-1] = "OTHER"
    h2 = h.set_column(h.column_names.index("underlying"), "underlying", pa.array(u, pa.string()))
    for cfg in CONFIGS:
        cfg = oi.OIConfig(
            **{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, "drop_stale": False}
        )
        _panel._CACHE.clear()
        assert oi.detect_rolls(h2, config=cfg).equals(ref_detect_rolls(h2, config=cfg))
