"""``chainlens simulate --check``: the simulated market against the real-data targets.

Simulates a small market (or reads a simulated output folder), measures every statistic of
:data:`chainlens.sim._targets.TARGETS` on it with the same code used on the real files
(:mod:`chainlens.sim._calib`), and reports simulated against target with pass/fail.

Chain statistics are measured on the last ``chain_sessions`` sessions (the sessions a demo
reports); the price/vol statistics on the whole run (SPX closes and the ~7-DTE ATM IV of each
session's chain); the tape and dark-pool statistics on the last sessions.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainlens.sim._calib import atm_iv, chain_stats, path_stats, product_class
from chainlens.sim._targets import TARGETS, Target

__all__ = ["CheckResult", "check_market", "measure_output", "top_flow_flips"]

_TICKER_SCOPES = {"SPX", "NDX", "RUT", "SPY", "QQQ", "IWM", "VIX"}


@dataclass(slots=True)
class CheckResult:
    """Simulated figures against the targets. ``rows``: one dict per target (``key``,
    ``scope``, ``simulated``, ``low``, ``high``, ``real``, ``pass``, ``n``, ``sources``)."""

    seed: int | None
    underlyings: int
    sessions: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r["pass"] for r in self.rows if r["simulated"] is not None)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["simulated"] is not None and not r["pass"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "underlyings": self.underlyings,
            "sessions": self.sessions,
            "passed": self.passed,
            "failed": len(self.failures),
            "statistics": self.rows,
        }


def _in_scope(scope: str, ticker: str, cls: str) -> bool:
    if scope == "all":
        return True
    if scope in _TICKER_SCOPES:
        return ticker == scope
    return cls == scope


def _reduce(t: Target, vals: list[float]) -> float:
    v = np.asarray(vals, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    if t.agg == "share":
        return float(v.mean())
    if t.agg == "median_abs":
        return float(np.median(np.abs(v)))
    return float(np.median(v))


def measure_output(out_dir: Path, chain_sessions: int = 2) -> dict[str, Any]:
    """Every simulated statistic of a simulator output folder.

    Returns ``{"snapshots": [chain_stats rows], "market": {key: value}, "sessions": [...]}``.
    """
    from chainlens.flow import darkpool_summary

    out_dir = Path(out_dir)
    chains = sorted(out_dir.glob("chain-*.parquet"))
    if not chains:
        from chainlens.errors import InputError

        raise InputError(f"{out_dir}: no chain-*.parquet files (not a simulator output folder)")
    sessions = [p.stem.removeprefix("chain-") for p in chains]
    kinds = _kinds(out_dir)
    snaps: list[dict[str, Any]] = []
    spx_close: list[float] = []
    spx_iv: list[float] = []
    for i, p in enumerate(chains):
        last = i >= len(chains) - chain_sessions
        t = pq.read_table(p)
        und = t.column("underlying")
        if last:
            for u in pc.unique(und).to_pylist():  # a loop over underlyings
                sub = t.filter(pc.equal(und, u))
                st = chain_stats(sub)
                st["class"] = product_class(u, kinds.get(u))
                snaps.append(st)
        spx = t.filter(pc.equal(und, "SPX"))
        if spx.num_rows:
            spx_close.append(float(spx.column("spot")[0].as_py()))
            spx_iv.append(atm_iv(spx))
    market: dict[str, float] = {}
    if len(spx_close) >= 3:
        market.update(
            {f"SPX:{k}": v for k, v in path_stats(np.array(spx_close), np.array(spx_iv)).items()}
        )
    # the tape: share of prints strictly inside the NBBO (last sessions)
    inside, n_tr = 0, 0
    for p in sorted(out_dir.glob("trades-*.parquet"))[-chain_sessions:]:
        tr = pq.read_table(p, columns=["price", "bid", "ask"])
        px = tr.column("price").to_numpy()
        b = tr.column("bid").to_numpy(zero_copy_only=False)
        a = tr.column("ask").to_numpy(zero_copy_only=False)
        ok = np.isfinite(b) & np.isfinite(a) & (a > b)
        inside += int(np.sum(ok & (px > b) & (px < a)))
        n_tr += int(ok.sum())
    if n_tr:
        market["market:trade_inside_share"] = inside / n_tr
    # dark pool, with the project's own summary (labels at |net|/notional >= 0.10)
    notional, labelled = [], []
    for p in sorted(out_dir.glob("prints-*.parquet"))[-chain_sessions:]:
        pr = pq.read_table(p)
        if pr.num_rows == 0:
            continue
        s = darkpool_summary(pr)
        notional.append(float(pc.sum(s.column("notional_usd")).as_py()) / 1e9)
        lab = s.column("label").to_numpy(zero_copy_only=False)
        labelled.append(float(np.mean(lab != "neutral")))
    if notional:
        market["market:darkpool_notional_busd"] = float(np.mean(notional))
        market["market:darkpool_labelled_share"] = float(np.mean(labelled))
    # the daily report's top-flow headline: flips among the top names by premium
    headline = [top_flow_flips(out_dir, day) for day in sessions[-chain_sessions:]]
    headline = [h for h in headline if h["names"]]
    if headline:
        market["market:flip_rate_top"] = float(np.mean([h["flip_rate"] for h in headline]))
    return {"snapshots": snaps, "market": market, "sessions": sessions, "headline": headline}


def top_flow_flips(out_dir: Path, day: str) -> dict[str, Any]:
    """The daily report's "Top flow: k/n names flip direction" figures of one simulated
    session, from its trades and chain files.

    Per ticker, :func:`chainlens.flow.analyze_flow` (default :class:`~chainlens.flow.FlowConfig`,
    as the pipeline) gives the directional naive label (call against put premium) and the
    side-adjusted label (sign of bullish - bearish premium); the ``n`` =
    ``chainlens.market.RULES["top_flow_n"]`` (16) tickers with the most premium are the top
    flow, ``flips`` those whose two labels differ (``chainlens.market._top_flow``). Returns
    ``{session, flips, names, flip_rate, raw_flips, premium_usd, trades, naive_cp_ratio,
    net_usd}`` (rate ``nan`` without trades; ``raw_flips`` on the raw labels, deep in the
    money included: the report's figure in brackets; ``naive_cp_ratio`` and ``net_usd`` the
    market-wide raw call/put premium ratio and the directional net premium, as the report's
    headline).
    """
    from chainlens.flow import analyze_flow
    from chainlens.market import RULES

    tp = Path(out_dir) / f"trades-{day}.parquet"
    cp = Path(out_dir) / f"chain-{day}.parquet"
    out: dict[str, Any] = {"session": day, "flips": 0, "names": 0, "flip_rate": math.nan}
    if not (tp.is_file() and cp.is_file()):
        return out
    trades = pq.read_table(tp)
    if trades.num_rows == 0:
        return out
    fr = analyze_flow(trades, pq.read_table(cp), contract_views=False)
    bt = fr.by_ticker
    tot = np.nan_to_num(bt.column("total_usd").to_numpy(zero_copy_only=False).astype(float))
    col = "dir_flip" if "dir_flip" in bt.column_names else "flip"
    flip = bt.column(col).to_numpy(zero_copy_only=False).astype(bool)
    order = np.argsort(-tot, kind="stable")
    top = order[tot[order] > 0][: int(RULES["top_flow_n"])]
    k, n = int(flip[top].sum()), int(top.size)
    raw = bt.column("flip").to_numpy(zero_copy_only=False).astype(bool)
    out.update(
        raw_flips=int(raw[top].sum()),
        flips=k,
        names=n,
        flip_rate=k / n if n else math.nan,
        premium_usd=float(tot.sum()),
        trades=int(trades.num_rows),
        naive_cp_ratio=float(fr.totals.get("naive_cp_ratio") or math.nan),
        net_usd=float(fr.totals.get("dir_net_usd", fr.totals.get("net_usd")) or math.nan),
    )
    return out


def _kinds(out_dir: Path) -> dict[str, int]:
    """Ticker -> simulator kind (0 index, 1 ETF, 2 stock) from ``sectors.parquet``."""
    p = out_dir / "sectors.parquet"
    if not p.is_file():
        return {}
    t = pq.read_table(p)
    sec = t.column("sector").to_pylist()
    tick = t.column("ticker").to_pylist()
    return {
        x: (0 if s == "Index" and x in {"SPX", "NDX", "RUT"} else 1 if s == "Index" else 2)
        for x, s in zip(tick, sec, strict=True)
    }


def evaluate(
    measured: dict[str, Any], seed: int | None = None, underlyings: int = 0
) -> CheckResult:
    """Compare measured figures (:func:`measure_output`) with every target."""
    res = CheckResult(seed=seed, underlyings=underlyings, sessions=measured["sessions"])
    snaps = measured["snapshots"]
    market = measured["market"]
    for t in TARGETS:
        key = f"{t.scope}:{t.key}"
        if key in market:
            val, n = market[key], 1
        else:
            vals = [s[t.key] for s in snaps if _in_scope(t.scope, s["underlying"], s["class"])]
            val, n = (_reduce(t, vals), len(vals)) if vals else (None, 0)
        ok = val is not None and t.passes(val)
        res.rows.append(
            {
                "key": t.key,
                "scope": t.scope,
                "agg": t.agg,
                "simulated": None if val is None or not math.isfinite(val) else round(val, 4),
                "low": round(t.low, 4),
                "high": round(t.high, 4),
                "real": [t.lo, t.hi],
                "unit": t.unit,
                "n": n,
                "pass": bool(ok) if val is not None else None,
                "sources": t.sources,
                "note": t.note,
            }
        )
    return res


def check_market(
    *,
    seed: int = 7,
    underlyings: int = 16,
    sessions: int = 10,
    trades_per_underlying: int = 1500,
    chain_sessions: int = 2,
    out_dir: Path | None = None,
    demo: bool = False,
) -> CheckResult:
    """Simulate a market (into ``out_dir`` or a temporary folder) and check it.

    ``demo`` builds :func:`chainlens.sim.build_demo_market` instead of a plain
    :class:`SimConfig` market.
    """
    from chainlens.sim._config import SimConfig
    from chainlens.sim._market import build_demo_market, simulate_market

    def run(d: Path) -> CheckResult:
        if demo:
            build_demo_market(d, seed=seed, underlyings=underlyings, sessions=sessions)
        else:
            cfg = SimConfig(
                underlyings=underlyings,
                sessions=sessions,
                seed=seed,
                trades_per_underlying=trades_per_underlying,
            )
            simulate_market(cfg, d)
        return evaluate(measure_output(d, chain_sessions), seed, underlyings)

    if out_dir is not None:
        return run(Path(out_dir))
    with tempfile.TemporaryDirectory(prefix="chainlens-check-") as tmp:
        return run(Path(tmp))
