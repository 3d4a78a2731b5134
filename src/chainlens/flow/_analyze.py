"""The composed flow entry point for the pipeline: enrich trades, decompose, score, rank."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from chainlens._engine import use_numba
from chainlens.flow._config import FlowConfig
from chainlens.flow._darkpool import darkpool_summary, detect_twap
from chainlens.flow._positions import dealer_positions
from chainlens.flow._premium import (
    decompose_premium,
    flip_summary,
    premium_usd,
    tag_moneyness,
    tag_multileg,
    tag_synthetic,
)
from chainlens.flow._prints import (
    COMPILED_MIN_ROWS,
    detect_sweeps,
    notable_prints,
    print_events,
)
from chainlens.flow._score import flow_score
from chainlens.flow._side import (
    BUY,
    MID,
    SELL,
    UNKNOWN,
    classify_side,
    quote_rule,
    side_names,
)

__all__ = ["FlowResult", "analyze_flow", "contract_scores", "enrich_trades", "side_and_multileg"]


@dataclass(frozen=True, slots=True)
class FlowResult:
    """Everything :func:`analyze_flow` computes for one session (see the package docstring)."""

    trades: pa.Table
    by_ticker: pa.Table
    by_expiry: pa.Table
    by_strike: pa.Table
    totals: dict[str, Any]
    side_mix: dict[str, Any]
    prints: pa.Table
    notable: pa.Table
    contract_scores: pa.Table | None
    dealer_positions: pa.Table | None
    darkpool: pa.Table | None = None
    twap: pa.Table | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def _f64(t: pa.Table, name: str) -> np.ndarray:
    return np.asarray(pc.fill_null(t.column(name).cast(pa.float64()), np.nan).to_numpy(), float)


def side_and_multileg(
    trades: pa.Table,
    cfg: FlowConfig,
    *,
    instants: tuple[np.ndarray, np.ndarray] | None = None,
    quotes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``side_code`` (int8, :mod:`chainlens.flow._side` codes) and ``multileg`` (bool)
    arrays of :func:`enrich_trades` under ``cfg``: the customer side by ``cfg.side_method``
    and the multi-leg tag (conditions, same-instant legs). ``instants``: the trades'
    :func:`chainlens.flow._keys.instant_order` when the caller has it; ``quotes``: the
    trades' ``price``, ``bid`` and ``ask`` as ``float64`` (null: NaN) when the caller has them
    (the quote rule then reads them instead of converting the columns again)."""
    if quotes is not None and cfg.side_method == "quote":
        code = quote_rule(
            *quotes, buy_threshold=cfg.buy_threshold, sell_threshold=cfg.sell_threshold
        )
    else:
        code = classify_side(
            trades,
            method=cfg.side_method,
            buy_threshold=cfg.buy_threshold,
            sell_threshold=cfg.sell_threshold,
        )
    ml = tag_multileg(
        trades,
        conditions=cfg.multileg_conditions,
        same_ts=cfg.multileg_same_ts,
        instants=instants,
    )
    return code, ml


def enrich_trades(trades: pa.Table, config: FlowConfig | None = None) -> pa.Table:
    """Add ``side_code``, ``side``, ``premium_usd``, ``multileg``, ``aggressiveness``,
    ``burst_id``, ``is_sweep``, ``is_block`` and ``synthetic`` (a leg of a box/conversion-like
    package, :func:`~chainlens.flow.tag_synthetic`) to canonical trades.

    ``aggressiveness`` :math:`= \\min(1, |2x - 1|)` with :math:`x = (p - b)/(a - b)`: 1 at or
    through the quote, 0 at the midpoint, 0 where the quote is unusable (one compiled pass,
    :func:`chainlens.flow._side_numba.aggressiveness_nb`, from
    :data:`chainlens.flow._prints.COMPILED_MIN_ROWS` trades in auto mode; the quote columns are
    converted once for it and the quote rule).
    ``is_block``: trade size >= ``block_min_contracts`` or premium >= ``block_min_premium_usd``
    (or the same for the sweep it belongs to).
    """
    cfg = config or FlowConfig()
    # the trades in instant order (underlying, ts): the same-instant packages and the
    # synthetic packages both group by instant, one sort serves both
    inst: tuple[np.ndarray, np.ndarray] | None = None
    if cfg.multileg_same_ts and trades.num_rows:
        from chainlens.flow._keys import instant_order

        inst = instant_order(trades.column("underlying"), trades.column("ts"))
    p, b, a = _f64(trades, "price"), _f64(trades, "bid"), _f64(trades, "ask")
    code, ml = side_and_multileg(trades, cfg, instants=inst, quotes=(p, b, a))
    prem = premium_usd(trades)
    if use_numba(p.size, COMPILED_MIN_ROWS):  # one compiled pass, the same operations
        from chainlens.flow._prints_numba import ro
        from chainlens.flow._side_numba import aggressiveness_nb

        f8 = np.float64
        aggr = aggressiveness_nb(ro(p, f8), ro(b, f8), ro(a, f8), ro(code, np.int8), UNKNOWN)
    else:
        spread = a - b
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x = (p - b) / np.where(spread > 0, spread, np.nan)
            aggr = np.minimum(1.0, np.abs(2.0 * x - 1.0))
        aggr = np.where(np.isfinite(aggr) & (code != UNKNOWN), aggr, 0.0)
    t = trades
    for name, arr in (
        ("side_code", pa.array(code, pa.int8())),
        ("side", side_names(code)),
        ("premium_usd", pa.array(prem)),
        ("multileg", pa.array(ml)),
        ("aggressiveness", pa.array(aggr)),
    ):
        t = (
            t.append_column(name, arr)
            if name not in t.column_names
            else t.set_column(t.column_names.index(name), name, arr)
        )
    burst, sweep = detect_sweeps(
        t, window_ms=cfg.sweep_window_ms, min_exchanges=cfg.sweep_min_exchanges
    )
    block = _blocks(burst, sweep, t.column("size"), prem, cfg)
    t = t.append_column("burst_id", pa.array(burst))
    t = t.append_column("is_sweep", pa.array(sweep))
    t = t.append_column("is_block", pa.array(block))
    return t.append_column("synthetic", pa.array(tag_synthetic(t, instants=inst)))


def _blocks(
    burst: np.ndarray, sweep: np.ndarray, size: pa.ChunkedArray, prem: np.ndarray, cfg: FlowConfig
) -> np.ndarray:
    """``is_block``: the trade's size and premium, or its sweep's sums (over its burst), at or
    above ``block_min_contracts`` / ``block_min_premium_usd``. A null size adds nothing."""
    if size.null_count == 0:  # nothing to fill, no null size
        q = np.asarray(size.cast(pa.float64()).to_numpy(), dtype=np.float64)
        qn = np.zeros(q.size, dtype=bool)
    else:
        q = np.asarray(pc.fill_null(size.cast(pa.float64()), 0.0).to_numpy(), dtype=np.float64)
        qn = np.asarray(pc.is_null(size).to_numpy(zero_copy_only=False), dtype=bool)
    qq, pp = q, prem
    if sweep.any():
        sums_q = np.bincount(burst[sweep], weights=q[sweep])
        sums_p = np.bincount(burst[sweep], weights=prem[sweep])
        qq = np.where(sweep, sums_q[np.where(sweep, burst, 0)], q)
        pp = np.where(sweep, sums_p[np.where(sweep, burst, 0)], prem)
    with np.errstate(invalid="ignore"):
        by_q = (qq >= cfg.block_min_contracts) & ~(qn & ~sweep)
        return by_q | (pp >= cfg.block_min_premium_usd)


def contract_scores(trades: pa.Table, chain: pa.Table, stats: pa.Table | None = None) -> pa.Table:
    """Flow score per contract for the session (same :data:`SCORE_TABLE` as the prints).

    Inputs per contract: ``vol_oi`` = session volume / OI(D) (chain volume, else Σ trade sizes);
    ``premium_usd`` = Σ premium; ``size_to_oi`` = Σ size / OI(D); ``size_to_avg_volume`` =
    Σ size / trailing average volume; ``aggressiveness`` = premium-weighted mean;
    ``sweep`` = share of premium in sweeps; ``otm_pct`` and ``dte_days`` of the contract.
    """
    df = pl.from_arrow(trades)
    assert isinstance(df, pl.DataFrame)
    g = df.group_by("symbol").agg(
        pl.col("underlying").first(), pl.col("expiry").first(), pl.col("strike").first(),
        pl.col("right").first(), pl.col("trade_date").first(),
        pl.col("size").sum().alias("contracts"), pl.col("premium_usd").sum(),
        ((pl.col("aggressiveness") * pl.col("premium_usd")).sum()
         / pl.col("premium_usd").sum()).alias("aggressiveness"),
        (pl.when(pl.col("is_sweep")).then(pl.col("premium_usd")).otherwise(0.0).sum()
         / pl.col("premium_usd").sum()).alias("sweep_share"),
        pl.col("spot").drop_nulls().last().alias("t_spot"),
    )  # fmt: skip
    ch_cols = [c for c in ("symbol", "open_interest", "volume", "spot") if c in chain.column_names]
    ch = pl.from_arrow(chain.select(ch_cols))
    assert isinstance(ch, pl.DataFrame)
    ch = ch.unique("symbol", keep="last")
    if "spot" not in ch.columns:
        ch = ch.with_columns(pl.lit(None, dtype=pl.Float64).alias("spot"))
    g = g.join(ch, on="symbol", how="left")
    if stats is not None and stats.num_rows:
        st = pl.from_arrow(stats.select(["symbol", "avg_volume_5d"]))
        assert isinstance(st, pl.DataFrame)
        g = g.join(st.unique("symbol", keep="last"), on="symbol", how="left")
    else:
        g = g.with_columns(pl.lit(None, dtype=pl.Float64).alias("avg_volume_5d"))
    spot = pl.coalesce(pl.col("spot").cast(pl.Float64), pl.col("t_spot"))
    vol = pl.coalesce(pl.col("volume").cast(pl.Float64), pl.col("contracts").cast(pl.Float64))
    oi = pl.col("open_interest").cast(pl.Float64)
    g = g.with_columns(
        pl.when(oi > 0).then(vol / oi).alias("vol_oi"),
        pl.when(oi > 0).then(pl.col("contracts") / oi).alias("size_to_oi"),
        pl.when(pl.col("avg_volume_5d") > 0).then(pl.col("contracts") / pl.col("avg_volume_5d"))
        .alias("size_to_avg_volume"),
        pl.when(pl.col("right") == "C").then((pl.col("strike") / spot - 1.0) * 100.0)
        .otherwise((1.0 - pl.col("strike") / spot) * 100.0).alias("otm_pct"),
        (pl.col("expiry") - pl.col("trade_date")).dt.total_days().alias("dte_days"),
    ).drop("t_spot")  # fmt: skip
    out = g.to_arrow()
    s = flow_score(
        vol_oi=_f64(out, "vol_oi"),
        premium_usd=_f64(out, "premium_usd"),
        size_to_oi=_f64(out, "size_to_oi"),
        size_to_avg_volume=_f64(out, "size_to_avg_volume"),
        aggressiveness=_f64(out, "aggressiveness"),
        sweep=_f64(out, "sweep_share"),
        otm_pct=_f64(out, "otm_pct"),
        dte_days=_f64(out, "dte_days"),
    )
    out = out.append_column("score", pa.array(s))
    order = np.lexsort((out.column("symbol").to_numpy(zero_copy_only=False), -s))
    return out.take(pa.array(order, pa.int64()))


def _side_mix(t: pa.Table) -> dict[str, Any]:
    code = t.column("side_code").to_numpy()
    prem = t.column("premium_usd").to_numpy()
    n = max(code.size, 1)
    tot = float(prem.sum())
    out: dict[str, Any] = {"trades": int(code.size), "premium_usd": tot}
    for name, c in (("buy", BUY), ("sell", SELL), ("mid", MID), ("unknown", UNKNOWN)):
        m = code == c
        out[f"{name}_trades"] = int(m.sum())
        out[f"{name}_share"] = float(m.sum()) / n if code.size else None
        out[f"{name}_premium_share"] = float(prem[m].sum()) / tot if tot > 0 else None
    return out


def side_mix_many(trades: pa.Table, seg: np.ndarray, n_seg: int) -> list[dict[str, Any]]:
    """:func:`_side_mix` of each segment of ``trades`` (rows of segment 0 first, then 1...;
    ``seg`` the segment per row), counted and summed with one ``np.bincount`` per side.

    Per segment: ``trades`` (rows), ``premium_usd`` (USD, summed), and per side (``buy``,
    ``sell``, ``mid``, ``unknown``) ``*_trades`` (rows), ``*_share`` (rows / rows, ``None``
    without rows) and ``*_premium_share`` (side premium / premium, ``None`` unless the premium
    is positive). Counts exactly as ``_side_mix``; sums in row order (``_side_mix`` sums
    pairwise: the two agree to rounding, ~1e-16 relative).
    """
    side = trades.column("side_code")
    code = side.to_numpy()
    prem = np.asarray(trades.column("premium_usd").to_numpy(), dtype=np.float64)
    rows = np.bincount(seg, minlength=n_seg)
    tot = np.bincount(seg, weights=prem, minlength=n_seg)
    per = []
    if side.null_count == 0:  # one bincount over (segment, side) pairs: the same row order
        if code.dtype == np.int8:  # one lookup per row: side code (as a byte) -> 0..4
            lut = np.full(256, 4, dtype=np.int64)
            for k, c in enumerate((BUY, SELL, MID, UNKNOWN)):  # a loop over the four sides
                lut[c & 0xFF] = k
            j = lut[code.view(np.uint8)]
        else:
            j = np.full(code.shape, 4, dtype=np.int64)
            for k, c in enumerate((BUY, SELL, MID, UNKNOWN)):  # a loop over the four sides
                j[code == c] = k
        key = seg * 5 + j
        cnt = np.bincount(key, minlength=n_seg * 5).reshape(n_seg, 5)
        ps = np.bincount(key, weights=prem, minlength=n_seg * 5).reshape(n_seg, 5)
        per = [(cnt[:, k], ps[:, k]) for k in range(4)]
    else:
        for c in (BUY, SELL, MID, UNKNOWN):  # a loop over the four sides
            m = code == c
            per.append(
                (np.bincount(seg[m], minlength=n_seg), np.bincount(seg[m], weights=prem[m], minlength=n_seg))
            )  # fmt: skip
    names = ("buy", "sell", "mid", "unknown")
    rl, tl = rows.tolist(), tot.tolist()
    pl_ = [(k.tolist(), v.tolist()) for k, v in per]
    out = []
    for i in range(n_seg):  # a loop over underlyings: each one's dict
        size, t = rl[i], tl[i]
        n = max(size, 1)
        d: dict[str, Any] = {"trades": int(size), "premium_usd": t}
        for name, (cnt, ps) in zip(names, pl_, strict=True):
            d[f"{name}_trades"] = int(cnt[i])
            d[f"{name}_share"] = float(cnt[i]) / n if size else None
            d[f"{name}_premium_share"] = float(ps[i]) / t if t > 0 else None
        out.append(d)
    return out


def analyze_flow(
    trades: pa.Table,
    chain: pa.Table,
    *,
    history: pa.Table | None = None,
    prints: pa.Table | None = None,
    config: FlowConfig | None = None,
    contract_views: bool = True,
    changes: pa.Table | None = None,
    enriched: bool = False,
) -> FlowResult:
    """Flow analytics of one session: sides, premium decomposition, prints, scores, positions.

    Parameters
    ----------
    trades
        Canonical trades of the session (:data:`chainlens.schema.TRADES`).
    chain
        Canonical chain snapshot of the session (OI(D), volume, gamma, spot).
    history
        Optional chain snapshots over sessions (at least the session's; later ones give the
        overnight OI change of the prints).
    prints
        Optional canonical dark-pool prints.
    config
        :class:`FlowConfig`; defaults when omitted.
    contract_views
        Compute the per-contract views ``contract_scores`` (:func:`contract_scores`) and
        ``dealer_positions`` (:func:`dealer_positions`). ``False`` leaves both ``None``: the
        daily pipeline (:func:`chainlens.pipeline.analyze_underlying`) states neither, and they
        are about a quarter of the flow cost of a small underlying.
    changes
        ``chainlens.oi.oi_changes(history)`` (default settings) when the caller has it already
        (e.g. ``OIResult.changes`` of the same window): the OI panel is not built twice.
        Ignored without ``history``.
    enriched
        ``trades`` is already the output of :func:`enrich_trades` with ``config``.

    Returns
    -------
    FlowResult
    """
    cfg = config or FlowConfig()
    t = trades if enriched else enrich_trades(trades, cfg)
    if "synthetic" not in t.column_names:
        t = t.append_column("synthetic", pa.array(tag_synthetic(t)))
    t = tag_moneyness(t, chain, deep_itm_delta=cfg.deep_itm_delta, deep_itm_pct=cfg.deep_itm_pct)
    eps = cfg.label_epsilon
    by_ticker = decompose_premium(t, by=("underlying",), label_epsilon=eps)
    by_expiry = decompose_premium(t, by=("underlying", "expiry"), label_epsilon=eps)
    by_strike = decompose_premium(t, by=("underlying", "expiry", "strike"), label_epsilon=eps)
    whole = decompose_premium(t, by=(), label_epsilon=eps).to_pylist()
    totals: dict[str, Any] = whole[0] if whole else {}
    totals.update(flip_summary(by_ticker))
    stats = None
    if history is not None and history.num_rows:
        from chainlens.oi._changes import oi_changes

        sessions = t.column("trade_date").unique().to_pylist() if t.num_rows else []
        ch = oi_changes(history) if changes is None else changes
        if sessions:
            ch = ch.filter(pc.is_in(ch.column("trade_date"), value_set=pa.array(sessions)))
        stats = ch.select(["symbol", "avg_volume_5d", "oi_change"]).rename_columns(
            ["symbol", "avg_volume_5d", "oi_change_next"]
        )
    events = print_events(t)
    min_prem = max(
        cfg.notable_min_premium_usd,
        cfg.notable_min_premium_share * float(totals.get("total_usd") or 0.0),
    )
    notable = notable_prints(
        events, chain, contract_stats=stats, top_n=cfg.notable_top_n,
        min_premium_usd=min_prem, live_after_next_session=True,
    )  # fmt: skip
    totals["notable_min_premium_usd"] = min_prem
    scores = positions = None
    if contract_views:
        scores = contract_scores(t, chain, stats)
        positions = dealer_positions(t, history if history is not None else chain)
    dp = tw = None
    if prints is not None:
        dp = darkpool_summary(prints, label_threshold=cfg.darkpool_label_threshold)
        tw = detect_twap(
            prints,
            min_slices=cfg.twap_min_slices,
            max_interval_cv=cfg.twap_max_interval_cv,
            size_tolerance=cfg.twap_size_tolerance,
        )
    settings = asdict(cfg)
    settings["multileg_conditions"] = sorted(cfg.multileg_conditions)
    return FlowResult(
        trades=t,
        by_ticker=by_ticker,
        by_expiry=by_expiry,
        by_strike=by_strike,
        totals=totals,
        side_mix=_side_mix(t),
        prints=events,
        notable=notable,
        contract_scores=scores,
        dealer_positions=positions,
        darkpool=dp,
        twap=tw,
        settings=settings,
    )
