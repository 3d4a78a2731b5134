"""Calibration statistics: one definition, measured on real files and on the simulator.

Every statistic of the target table (:mod:`chainlens.sim._targets`) is computed here, by the
same code for a real Cboe snapshot and for a simulated chain, so ``chainlens simulate --check``
compares like with like. Dealer exposures come from the project's own analysis
(:func:`chainlens.analysis.analyze_chain`, classic dealer model, the pipeline's defaults), so
the zero gamma and GEX measured are those the reports print.

Per-snapshot statistics (:func:`chain_stats`, one underlying, one session)
-------------------------------------------------------------------------
``zero_gamma_found``     1 if the gamma profile (spot ±15%) changes sign, else 0.
``zero_gamma_dist_pct``  ``100 (zero_gamma / spot - 1)`` (percent; NaN when not found).
``gex_positive``         1 if total dealer GEX (USD per 1% move) > 0, else 0.
``pc_oi``                put OI / call OI over every listed contract (ratio).
``spread_atm_pct``       median of ``100 (ask - bid) / mid`` over contracts with
                         ``|K/S - 1| <= 2%``, ``1 <= DTE <= 45`` days, ``0 < bid < ask`` (percent).
``oi_near5``             share of OI with ``|K/S - 1| <= 5%`` (fraction).
``oi_near10``            share of OI with ``|K/S - 1| <= 10%`` (fraction).
``itm10_premium_share``  share of the session's premium (``volume x mid x multiplier``, USD) in
                         contracts more than 10% in the money (calls ``K < 0.9 S``, puts
                         ``K > 1.1 S``) (fraction).
``oi_leaps_share``       share of OI in expiries more than 270 days away (fraction).
``vol_short_share``      share of the session's volume in expiries at most 7 days away.
``vol_near5``            share of the session's volume with ``|K/S - 1| <= 5%``.
``oi_peak_dist_pct``     ``100 (K* / S - 1)`` of the strike ``K*`` holding the most OI (calls
                         and puts of every expiry summed per strike) (percent).

Market statistics (:func:`path_stats`, daily closes and a 1-day implied vol per session)
---------------------------------------------------------------------------------------
``rv_iv_ratio``          annualised realized vol of daily log returns / mean ATM implied vol.
``outside_em_share``     share of sessions with ``|r_d| > iv_{d-1} / sqrt(252)`` (outside the
                         previous close's 1-day expected move).
``iv_return_corr``       correlation of the daily change of ATM IV (or VIX) with the return.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "CHAIN_STATS",
    "atm_iv",
    "chain_stats",
    "path_stats",
    "product_class",
    "window_path_stats",
]

CHAIN_STATS = (
    "zero_gamma_found",
    "zero_gamma_dist_pct",
    "gex_positive",
    "pc_oi",
    "spread_atm_pct",
    "oi_near5",
    "oi_near10",
    "itm10_premium_share",
    "oi_leaps_share",
    "vol_short_share",
    "vol_near5",
    "oi_peak_dist_pct",
)

_INDEX = {"SPX", "NDX", "RUT", "XSP", "DJX"}
_INDEX_ETF = {"SPY", "QQQ", "IWM", "DIA"}
_MEGA = {"AAPL", "NVDA", "TSLA", "MSFT", "AMZN", "META", "GOOGL", "GOOG", "AMD", "NFLX", "AVGO"}


def product_class(ticker: str, kind: int | None = None) -> str:
    """``index``, ``index_etf``, ``mega_cap``, ``vix``, ``etf`` or ``single_name``.

    ``kind`` (the simulator's 0 index / 1 ETF / 2 stock) classes tickers not named here.
    """
    t = ticker.upper().lstrip("^_")
    if t == "VIX":
        return "vix"
    if t in _INDEX:
        return "index"
    if t in _INDEX_ETF:
        return "index_etf"
    if t in _MEGA:
        return "mega_cap"
    if kind == 0:
        return "index"
    if kind == 1:
        return "etf"
    return "single_name"


def _col(t: pa.Table, name: str) -> np.ndarray:
    if name not in t.column_names:
        return np.full(t.num_rows, np.nan)
    return np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def chain_stats(chain: pa.Table) -> dict[str, Any]:
    """The per-snapshot statistics (module notes) of one underlying's canonical chain.

    Returns a dict with ``underlying``, ``session``, ``spot`` and every key of
    :data:`CHAIN_STATS` (floats; NaN where a statistic is undefined, e.g. no quotes).
    """
    from chainlens.analysis import AnalysisConfig, analyze_chain

    (res,) = analyze_chain(chain, AnalysisConfig(surfaces=False, vol=False))
    s = float(res.spot)
    zg_raw = res.levels.get("zero_gamma")
    zg = float(zg_raw) if isinstance(zg_raw, (int, float)) else math.nan
    found = math.isfinite(zg)
    k = _col(chain, "strike")
    bid, ask = _col(chain, "bid"), _col(chain, "ask")
    oi = np.nan_to_num(_col(chain, "open_interest"))
    vol = np.nan_to_num(_col(chain, "volume"))
    mult = np.nan_to_num(_col(chain, "multiplier"), nan=100.0)
    is_call = chain.column("right").to_numpy(zero_copy_only=False).astype(str) == "C"
    exp = chain.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    day = np.datetime64(res.session, "D")
    dte = (exp - day).astype(np.int64)
    m = k / s - 1.0
    mid = (bid + ask) / 2.0
    sel = (np.abs(m) <= 0.02) & (dte >= 1) & (dte <= 45) & (bid > 0) & (ask > bid)
    spread = float(np.median(100.0 * (ask[sel] - bid[sel]) / mid[sel])) if sel.any() else math.nan
    tot = oi.sum()
    prem = vol * np.where(np.isfinite(mid) & (mid > 0), mid, 0.0) * mult
    itm10 = np.where(is_call, k < 0.9 * s, k > 1.1 * s)
    vt = vol.sum()
    peak = math.nan
    if tot > 0:
        ks, inv = np.unique(k, return_inverse=True)
        peak = 100.0 * (float(ks[np.argmax(np.bincount(inv, weights=oi))]) / s - 1.0)
    return {
        "underlying": res.underlying,
        "session": res.session,
        "spot": s,
        "zero_gamma_found": float(found),
        "zero_gamma_dist_pct": 100.0 * (zg / s - 1.0) if found else math.nan,
        "gex_positive": float(res.totals["gex_usd_per_1pct"] > 0),
        "pc_oi": float(res.totals["pc_oi_ratio"]),
        "spread_atm_pct": spread,
        "oi_near5": float(oi[np.abs(m) <= 0.05].sum() / tot) if tot > 0 else math.nan,
        "oi_near10": float(oi[np.abs(m) <= 0.10].sum() / tot) if tot > 0 else math.nan,
        "itm10_premium_share": float(prem[itm10].sum() / prem.sum())
        if prem.sum() > 0
        else math.nan,
        "oi_leaps_share": float(oi[dte > 270].sum() / tot) if tot > 0 else math.nan,
        "vol_short_share": float(vol[dte <= 7].sum() / vt) if vt > 0 else math.nan,
        "vol_near5": float(vol[np.abs(m) <= 0.05].sum() / vt) if vt > 0 else math.nan,
        "oi_peak_dist_pct": peak,
    }


def atm_iv(chain: pa.Table, target_days: int = 7) -> float:
    """ATM implied vol of one underlying's snapshot: the mean IV of the calls and puts with
    ``|K/S - 1| < 0.4%`` (the nearest strike if none) in the expiry nearest ``target_days``
    days (at least 1) (decimal, NaN if none)."""
    iv = _col(chain, "iv")
    k = _col(chain, "strike")
    s = _col(chain, "spot")
    exp = chain.column("expiry").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    day = chain.column("trade_date").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    dte = (exp - day).astype(np.int64)
    ok = np.isfinite(iv) & (iv > 0) & (dte >= 1)
    if not ok.any():
        return math.nan
    days = np.unique(dte[ok])
    best = days[np.argmin(np.abs(days - target_days) * 1000 + days)]
    sel = ok & (dte == best)
    m = np.abs(k / s - 1.0)
    near = sel & (m < 0.004)
    if not near.any():
        near = sel & (m == m[sel].min())
    return float(np.mean(iv[near]))


def window_path_stats(close: np.ndarray, iv: np.ndarray, n: int) -> dict[str, list[float]]:
    """:func:`path_stats` over every window of ``n`` consecutive sessions."""
    out: dict[str, list[float]] = {}
    for a in range(0, len(close) - n + 1):
        for k, v in path_stats(close[a : a + n], iv[a : a + n]).items():
            out.setdefault(k, []).append(v)
    return out


def path_stats(close: np.ndarray, iv: np.ndarray) -> dict[str, float]:
    """Realized against implied over a run of sessions (module notes).

    ``close`` daily closes, ``iv`` the ATM implied vol (decimal) at each close, same length.
    """
    close = np.asarray(close, dtype=np.float64)
    iv = np.asarray(iv, dtype=np.float64)
    if close.size < 3:
        return {"rv_iv_ratio": math.nan, "outside_em_share": math.nan, "iv_return_corr": math.nan}
    r = np.diff(np.log(close))
    rv = float(np.sqrt(np.mean(r * r) * 252.0))
    em = iv[:-1] / np.sqrt(252.0)
    div = np.diff(iv)
    corr = float(np.corrcoef(div, r)[0, 1]) if np.std(div) > 0 and np.std(r) > 0 else math.nan
    return {
        "rv_iv_ratio": rv / float(np.mean(iv[:-1])),
        "outside_em_share": float(np.mean(np.abs(r) > em)),
        "iv_return_corr": corr,
    }
