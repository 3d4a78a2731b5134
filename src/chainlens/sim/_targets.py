"""The simulator's calibration targets, measured from the real market files.

Each :class:`Target` is one statistic of :mod:`chainlens.sim._calib` for one scope (a ticker,
or a product class: ``index`` = SPX/NDX/RUT, ``index_etf`` = SPY/QQQ/IWM, ``mega_cap``, ``all``,
``market``). ``lo``/``hi`` is the range measured on the real files named in ``sources``
(paths under ``../shared/data``) by ``scripts/measure_targets.py``; the simulator passes when
its figure lies in ``[lo - tol, hi + tol]``. ``agg`` says how the simulated snapshots of the
scope are reduced to one figure: ``median`` of the per-snapshot values, ``median_abs`` (of
absolute values), ``share`` (mean of a 0/1 statistic), ``value`` (a single figure).

Real samples are small (16 SPX, 12 NDX, 7 SPY, 12 QQQ full Cboe snapshots, 71 Barchart SPX
dailies, 3 large-cap chains, one VIX DataShop day), so tolerances are set from the spread of
the real values and from the sampling noise of a short simulated run (a 10-session realized
volatility has ~20% relative standard error). Nothing here comes from a seed report's figures;
the dark-pool scale, for which no real file exists here, is a stated order of magnitude.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["TARGETS", "Target"]

_SPX = "cboe_quotedata/SPX/*.csv (16 full after-close snapshots, 2022-02 to 2023-09)"
_NDX = "cboe_quotedata/NDX/*.csv (12 full snapshots, 2022-02 to 2023-05)"
_SPY = "cboe_quotedata/SPY/*.csv (7 full snapshots, 2023-04 to 2023-06)"
_QQQ = "cboe_quotedata/QQQ/*.csv (12 full snapshots, 2023-04 to 2023-09)"
_RUT = "cboe_delayed_json/RUT_2023-09-21*, RUT_2024-07-15* (2 payloads)"
_MEGA = (
    "cboe_quotedata/AMD/AMD_2023-08-20*.csv, cboe_delayed_json/TSLA_2024-07-15*, "
    "NFLX_2024-07-15* (3 chains)"
)
_VIX = "cboe_datashop_vix_2016-06-01/UnderlyingOptionsEODCalcs_2016-06-01.csv"
_VIX_T = "cboe_datashop_vix_2016-06-01/UnderlyingOptionsTrades_2016-06-01.csv (2,293 prints)"
_BC = "spx_daily_barchart/SPX_*.json (71 sessions 2026-02-20..05-29, 10-session windows)"


@dataclass(frozen=True, slots=True)
class Target:
    """One calibration target (module notes)."""

    key: str
    scope: str
    agg: str
    lo: float
    hi: float
    tol: float
    unit: str
    sources: str
    note: str = ""

    @property
    def low(self) -> float:
        """Lowest passing value."""
        return self.lo - self.tol

    @property
    def high(self) -> float:
        """Highest passing value."""
        return self.hi + self.tol

    def passes(self, value: float) -> bool:
        """``value`` within ``[lo - tol, hi + tol]`` (NaN fails)."""
        return bool(self.low <= value <= self.high)

    def to_dict(self) -> dict:
        return asdict(self)


def _t(key: str, scope: str, agg: str, lo: float, hi: float, tol: float, unit: str, src: str,
       note: str = "") -> Target:  # fmt: skip
    return Target(key, scope, agg, lo, hi, tol, unit, src, note)


#: The target table. Ranges are min..max of the real per-snapshot values unless the note says.
TARGETS: tuple[Target, ...] = (
    # --- dealer gamma shape (classic model, the pipeline's own analysis)
    _t(
        "zero_gamma_found",
        "index",
        "share",
        1.0,
        1.0,
        0.1,
        "share",
        f"{_SPX}; {_NDX}; {_RUT}",
        "30 of 30 index snapshots have a sign change within spot ±15%",
    ),
    _t(
        "zero_gamma_found",
        "index_etf",
        "share",
        1.0,
        1.0,
        0.1,
        "share",
        f"{_SPY}; {_QQQ}",
        "19 of 19",
    ),
    _t(
        "zero_gamma_dist_pct",
        "SPX",
        "median_abs",
        0.0,
        3.39,
        1.0,
        "% of spot",
        f"{_SPX}; {_BC}",
        "|zero gamma/spot-1|: median 1.2%, 90th pct 3.4%; 67 of 71 Barchart dailies within 3%; "
        "tolerance 1 point: the check sees 2 sessions",
    ),
    _t(
        "zero_gamma_dist_pct",
        "index",
        "median_abs",
        0.0,
        6.72,
        0.0,
        "% of spot",
        f"{_SPX}; {_NDX}; {_RUT}",
        "median 2.8%, 90th pct 6.7% (NDX sits 5-9% away)",
    ),
    _t(
        "zero_gamma_dist_pct",
        "index_etf",
        "median_abs",
        0.0,
        1.83,
        1.0,
        "% of spot",
        f"{_SPY}; {_QQQ}",
        "median 0.7%, 90th pct 1.8%, max 4.0%",
    ),
    _t(
        "gex_positive",
        "index",
        "share",
        0.68,
        0.92,
        0.35,
        "share",
        f"{_SPX}; {_NDX}; {_BC}",
        "SPX 12/16, NDX 11/12, Barchart SPX 48/71 sessions with total GEX > 0; tolerance: the "
        "check sees 6 strongly correlated snapshots (3 indices x 2 sessions)",
    ),
    # --- put/call OI
    _t("pc_oi", "SPX", "median", 1.734, 2.081, 0.1, "ratio", _SPX),
    _t("pc_oi", "NDX", "median", 0.90, 1.23, 0.1, "ratio", _NDX),
    _t("pc_oi", "RUT", "median", 1.632, 1.992, 0.1, "ratio", _RUT),
    _t("pc_oi", "SPY", "median", 1.79, 2.07, 0.1, "ratio", _SPY),
    _t("pc_oi", "QQQ", "median", 1.74, 2.03, 0.1, "ratio", _QQQ),
    _t("pc_oi", "mega_cap", "median", 0.926, 1.308, 0.15, "ratio", _MEGA),
    _t("pc_oi", "VIX", "median", 0.40, 0.41, 0.25, "ratio", _VIX, "one day (2016-06-01)"),
    # --- spreads near the money (|K/S-1| <= 2%, 1-45 DTE)
    _t("spread_atm_pct", "SPX", "median", 1.088, 2.653, 0.3, "% of mid", _SPX),
    _t("spread_atm_pct", "NDX", "median", 3.64, 6.664, 0.5, "% of mid", _NDX),
    _t("spread_atm_pct", "SPY", "median", 0.797, 3.377, 0.3, "% of mid", _SPY),
    _t("spread_atm_pct", "QQQ", "median", 0.895, 2.644, 0.3, "% of mid", _QQQ),
    _t("spread_atm_pct", "mega_cap", "median", 1.835, 3.001, 0.5, "% of mid", _MEGA),
    # --- where the OI sits
    _t("oi_near5", "SPX", "median", 0.198, 0.309, 0.05, "share of OI", _SPX, "|K/S-1| <= 5%"),
    _t("oi_near5", "NDX", "median", 0.272, 0.411, 0.05, "share of OI", _NDX),
    _t("oi_near5", "SPY", "median", 0.295, 0.444, 0.05, "share of OI", _SPY),
    _t("oi_near5", "QQQ", "median", 0.17, 0.33, 0.05, "share of OI", _QQQ),
    _t(
        "oi_near5",
        "mega_cap",
        "median",
        0.081,
        0.175,
        0.08,
        "share of OI",
        _MEGA,
        "3 chains only: wider tolerance",
    ),
    _t("oi_leaps_share", "SPX", "median", 0.1, 0.204, 0.04, "share of OI", _SPX, "> 270 DTE"),
    _t(
        "oi_leaps_share",
        "index_etf",
        "median",
        0.06,
        0.126,
        0.04,
        "share of OI",
        f"{_SPY}; {_QQQ}",
    ),
    _t("oi_leaps_share", "mega_cap", "median", 0.149, 0.224, 0.05, "share of OI", _MEGA),
    # --- where the largest OI strike sits (calls + puts of every expiry per strike)
    _t(
        "oi_peak_dist_pct",
        "index",
        "median_abs",
        0.0,
        8.48,
        2.0,
        "% of spot",
        f"{_SPX}; {_NDX}; {_RUT}",
        "median 3.4%, 90th pct 8.5% (SPX 4000 in all 16 files, 2.2-11.4% below spots of "
        "3900-4515; NDX 13000/12975; RUT 1700/2000); tolerance 2 points: 2 sessions",
    ),
    _t(
        "oi_peak_dist_pct",
        "index_etf",
        "median_abs",
        0.0,
        15.1,
        2.0,
        "% of spot",
        f"{_SPY}; {_QQQ}",
        "median 6.5%, 90th pct 15.1% (SPY 400, QQQ 300 after QQQ's 2023 rally)",
    ),
    _t(
        "oi_peak_dist_pct",
        "SPX",
        "median_abs",
        2.2,
        11.4,
        2.2,
        "% of spot",
        _SPX,
        "per name: SPX 4000 in all 16 files, 2.2-11.4% below spot; tolerance 2.2 points "
        "(a largest-OI strike at the money passes: 4500 at spot is as real as 4000)",
    ),
    _t(
        "oi_peak_dist_pct",
        "SPY",
        "median_abs",
        1.7,
        6.5,
        2.0,
        "% of spot",
        _SPY,
        "per name: SPY 400 in all 7 files, 1.7-6.5% from spot",
    ),
    _t(
        "oi_peak_dist_pct",
        "QQQ",
        "median_abs",
        2.3,
        16.3,
        2.3,
        "% of spot",
        _QQQ,
        "per name: QQQ 300 (11 files, 5.9-16.3% below spot after QQQ's 2023 rally) or 350 "
        "(2.3% below); tolerance 2.3 points (a largest-OI strike at the money passes)",
    ),
    # --- where the volume and premium go
    _t(
        "vol_short_share",
        "SPX",
        "median",
        0.357,
        0.768,
        0.07,
        "share of volume",
        _SPX,
        "expiries <= 7 DTE (0DTE included)",
    ),
    _t(
        "vol_short_share",
        "index_etf",
        "median",
        0.395,
        0.831,
        0.07,
        "share of volume",
        f"{_SPY}; {_QQQ}",
    ),
    _t("vol_near5", "SPX", "median", 0.44, 0.84, 0.07, "share of volume", _SPX),
    _t(
        "vol_near5", "index_etf", "median", 0.707, 0.927, 0.07, "share of volume", f"{_SPY}; {_QQQ}"
    ),
    _t("vol_near5", "mega_cap", "median", 0.365, 0.394, 0.1, "share of volume", _MEGA),
    _t(
        "itm10_premium_share",
        "SPX",
        "median",
        0.002,
        0.535,
        0.03,
        "share of premium",
        _SPX,
        "volume x mid in contracts > 10% ITM",
    ),
    _t(
        "itm10_premium_share",
        "index_etf",
        "median",
        0,
        0.156,
        0.03,
        "share of premium",
        f"{_SPY}; {_QQQ}",
    ),
    _t("itm10_premium_share", "mega_cap", "median", 0.106, 0.271, 0.05, "share of premium", _MEGA),
    _t(
        "itm10_premium_share",
        "all",
        "median",
        0.04,
        0.121,
        0.02,
        "share of premium",
        f"{_SPX}; {_NDX}; {_SPY}; {_QQQ}; {_RUT}; {_MEGA}",
        "median over every full real snapshot (52: indices, SPY/QQQ, large caps) 0.079, "
        "interquartile 0.027-0.177; range: 95% bootstrap interval of that median; the "
        "simulated figure is the median over every simulated name and session",
    ),
    # --- prices against implied volatility (SPX)
    _t(
        "rv_iv_ratio",
        "SPX",
        "value",
        0.61,
        1.10,
        0.25,
        "ratio",
        _BC,
        "realized vol / mean ATM IV (~7 DTE) over 10 sessions; whole 71-session run: 0.84; "
        "tolerance: 9 returns give the realized vol a ~24% standard error",
    ),
    _t(
        "outside_em_share",
        "SPX",
        "value",
        0.11,
        0.44,
        0.15,
        "share of sessions",
        _BC,
        "|return| above the previous close's 1-day implied move; whole run 0.26; tolerance: "
        "binomial standard error of a share of 9 sessions (0.15)",
    ),
    _t(
        "iv_return_corr",
        "SPX",
        "value",
        -0.97,
        -0.19,
        0.1,
        "correlation",
        _BC,
        "daily change of ATM IV against the SPX return; whole run -0.66",
    ),
    # --- the tape
    _t(
        "trade_inside_share",
        "market",
        "value",
        0.63,
        0.63,
        0.2,
        "share of trades",
        _VIX_T,
        "prints strictly inside the NBBO (unknown/mid side); 34% exactly at the mid",
    ),
    _t(
        "flip_rate_top",
        "market",
        "value",
        0.1,
        0.5,
        0.125,
        "share of names",
        "no real multi-name tape with NBBO here (the VIX DataShop day and the Databento "
        "sample are one name each); design range",
        "top-flow names (16 by premium) whose naive call/put label differs from the "
        "side-adjusted one, mean over the reported sessions: some names flip, not all; 0.5 "
        "is a coin (sides independent of rights); tolerance 0.125: the binomial sd of a share of 16 "
        "names at 0.5; never tuned to a seed's figure",
    ),
    _t(
        "darkpool_notional_busd",
        "market",
        "value",
        20.0,
        150.0,
        0.0,
        "USD bn per session",
        "no real dark-pool file here; order of magnitude of FINRA TRF volume for the most "
        "active names (tens of USD bn a day)",
        "mean per session over the simulated names",
    ),
    _t(
        "darkpool_labelled_share",
        "market",
        "value",
        0.15,
        0.8,
        0.0,
        "share of tickers",
        "no real file; design range",
        "tickers labelled accumulation or distribution per session "
        "(|net|/notional >= 0.10): some names, not all",
    ),
)
