"""The simulated universe: index products, ETFs and single stocks with their attributes.

Each underlying has a kind (``index``/``etf``/``stock``), option roots, a sector, a starting
price, an implied-vol level, a beta to the market factor, an activity weight (share of the
market's option trades and OI) and a listing tier (which expiries and how many strikes).
The first ~40 large caps use real-looking tickers; beyond them tickers are synthetic,
four letters, drawn by a fixed bijection of the 4-letter space (never colliding with a real one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Universe", "build_universe"]

# ticker, kind, sector, price, atm vol, beta, activity, tier, smile rho, put/call OI tilt
# tier 0: dailies+weeklies+monthlies+quarterlies+LEAPS with wide strikes; 1: weeklies...; 2, 3: fewer.
_CORE: list[tuple[str, str, str, float, float, float, float, int, float, float]] = [
    ("SPX", "index", "Index", 4500.0, 0.15, 1.00, 60.0, 0, -0.75, 2.0),
    ("SPY", "etf", "Index", 450.0, 0.15, 1.00, 55.0, 0, -0.70, 2.05),
    ("QQQ", "etf", "Index", 380.0, 0.20, 1.20, 30.0, 0, -0.65, 2.0),
    ("IWM", "etf", "Index", 190.0, 0.21, 1.15, 14.0, 0, -0.60, 1.9),
    ("AAPL", "stock", "Technology", 180.0, 0.24, 1.10, 12.0, 1, -0.45, 1.1),
    ("NVDA", "stock", "Technology", 850.0, 0.48, 1.70, 16.0, 1, -0.35, 1.05),
    ("TSLA", "stock", "Consumer Discretionary", 190.0, 0.52, 1.80, 15.0, 1, -0.30, 0.95),
    ("MSFT", "stock", "Technology", 410.0, 0.22, 1.00, 7.0, 1, -0.45, 1.1),
    ("AMZN", "stock", "Consumer Discretionary", 175.0, 0.30, 1.20, 8.0, 1, -0.40, 1.05),
    ("META", "stock", "Communication Services", 490.0, 0.34, 1.30, 7.0, 1, -0.40, 1.1),
    ("NDX", "index", "Index", 17800.0, 0.19, 1.20, 5.0, 0, -0.70, 1.1),
    ("GOOGL", "stock", "Communication Services", 140.0, 0.28, 1.10, 6.0, 1, -0.40, 1.05),
    ("AMD", "stock", "Technology", 190.0, 0.46, 1.60, 7.0, 1, -0.35, 1.1),
    ("RUT", "index", "Index", 2050.0, 0.20, 1.15, 3.0, 0, -0.60, 1.72),
    ("VIX", "index", "Volatility", 14.0, 0.85, -4.0, 6.0, 1, 0.55, 0.45),
    ("XLF", "etf", "Financials", 40.0, 0.17, 1.00, 3.0, 1, -0.55, 1.4),
    ("GLD", "etf", "Commodities", 190.0, 0.14, 0.05, 3.0, 1, -0.20, 0.9),
    ("TLT", "etf", "Rates", 93.0, 0.16, -0.20, 3.0, 1, -0.25, 1.2),
    ("AVGO", "stock", "Technology", 1300.0, 0.35, 1.30, 3.0, 1, -0.40, 1.1),
    ("JPM", "stock", "Financials", 190.0, 0.21, 1.00, 3.0, 1, -0.45, 0.9),
    ("NFLX", "stock", "Communication Services", 600.0, 0.36, 1.20, 3.0, 1, -0.40, 1.2),
    ("XLE", "etf", "Energy", 92.0, 0.22, 0.80, 2.0, 1, -0.50, 1.3),
    ("SLV", "etf", "Commodities", 24.0, 0.28, 0.20, 2.5, 1, -0.15, 0.7),
    ("HYG", "etf", "Credit", 77.0, 0.08, 0.40, 2.0, 1, -0.60, 2.2),
    ("XLK", "etf", "Technology", 205.0, 0.22, 1.15, 1.5, 1, -0.55, 1.3),
    ("BAC", "stock", "Financials", 35.0, 0.26, 1.10, 3.0, 1, -0.45, 0.8),
    ("PLTR", "stock", "Technology", 24.0, 0.60, 1.70, 4.0, 1, -0.25, 0.7),
    ("XOM", "stock", "Energy", 112.0, 0.25, 0.80, 2.0, 1, -0.45, 0.9),
    ("CVX", "stock", "Energy", 155.0, 0.24, 0.80, 1.5, 1, -0.45, 0.9),
    ("UNH", "stock", "Health Care", 490.0, 0.26, 0.60, 1.5, 1, -0.45, 1.0),
    ("XLV", "etf", "Health Care", 145.0, 0.14, 0.70, 1.0, 1, -0.55, 1.3),
    ("XLY", "etf", "Consumer Discretionary", 180.0, 0.19, 1.10, 1.0, 1, -0.55, 1.3),
    ("ORCL", "stock", "Technology", 125.0, 0.30, 1.00, 1.5, 1, -0.40, 0.8),
    ("COIN", "stock", "Financials", 240.0, 0.75, 2.20, 3.0, 1, -0.20, 0.7),
    ("XLP", "etf", "Consumer Staples", 76.0, 0.12, 0.50, 0.8, 1, -0.55, 1.4),
    ("INTC", "stock", "Technology", 42.0, 0.40, 1.20, 2.5, 1, -0.40, 0.8),
    ("XLI", "etf", "Industrials", 120.0, 0.16, 1.00, 0.8, 1, -0.55, 1.3),
    ("WMT", "stock", "Consumer Staples", 60.0, 0.19, 0.50, 1.5, 1, -0.45, 0.9),
    ("XLU", "etf", "Utilities", 64.0, 0.17, 0.40, 0.8, 1, -0.55, 1.3),
    ("DIS", "stock", "Communication Services", 112.0, 0.27, 1.00, 1.5, 1, -0.45, 0.9),
    ("XLB", "etf", "Materials", 90.0, 0.17, 0.90, 0.5, 1, -0.55, 1.3),
    ("BA", "stock", "Industrials", 200.0, 0.33, 1.20, 2.0, 1, -0.40, 0.9),
    ("XLRE", "etf", "Real Estate", 40.0, 0.19, 0.90, 0.5, 1, -0.55, 1.3),
    ("PFE", "stock", "Health Care", 28.0, 0.24, 0.50, 1.5, 1, -0.45, 0.9),
    ("XLC", "etf", "Communication Services", 80.0, 0.18, 1.00, 0.5, 1, -0.55, 1.3),
    ("LLY", "stock", "Health Care", 760.0, 0.30, 0.50, 2.0, 1, -0.40, 0.9),
    ("ABBV", "stock", "Health Care", 180.0, 0.22, 0.50, 1.0, 1, -0.45, 0.9),
    ("CAT", "stock", "Industrials", 340.0, 0.26, 1.00, 1.0, 1, -0.45, 0.9),
    ("C", "stock", "Financials", 60.0, 0.27, 1.20, 1.5, 1, -0.45, 0.9),
    ("MU", "stock", "Technology", 110.0, 0.42, 1.50, 2.0, 1, -0.35, 0.8),
    ("SMCI", "stock", "Technology", 900.0, 0.90, 2.00, 2.5, 1, -0.20, 0.8),
    ("BABA", "stock", "Consumer Discretionary", 72.0, 0.35, 0.80, 1.5, 1, -0.35, 0.9),
    ("UBER", "stock", "Industrials", 78.0, 0.34, 1.30, 1.2, 1, -0.40, 0.8),
    ("CRM", "stock", "Technology", 300.0, 0.30, 1.10, 1.0, 1, -0.40, 0.8),
    ("ADBE", "stock", "Technology", 500.0, 0.30, 1.10, 1.0, 1, -0.40, 0.9),
    ("KO", "stock", "Consumer Staples", 60.0, 0.15, 0.50, 0.8, 1, -0.50, 0.9),
    ("PG", "stock", "Consumer Staples", 160.0, 0.15, 0.40, 0.8, 1, -0.50, 0.9),
]

_SECTORS = (
    "Technology",
    "Financials",
    "Health Care",
    "Consumer Discretionary",
    "Industrials",
    "Communication Services",
    "Energy",
    "Consumer Staples",
    "Utilities",
    "Materials",
    "Real Estate",
)

#: Option roots per index underlying: (AM monthly root or None, PM root for the others).
INDEX_ROOTS: dict[str, tuple[str | None, str]] = {
    "SPX": ("SPX", "SPXW"),
    "NDX": ("NDX", "NDXP"),
    "RUT": ("RUT", "RUTW"),
    "VIX": ("VIX", "VIX"),
}

#: Underlyings with daily (Mon-Fri) expiries, incl. 0DTE.
DAILY_EXPIRY = frozenset({"SPX", "NDX", "RUT", "SPY", "QQQ", "IWM"})

_KIND_CODE = {"index": 0, "etf": 1, "stock": 2}


@dataclass(frozen=True, slots=True)
class Universe:
    """Column arrays, one row per underlying, in generation order (index = underlying id)."""

    ticker: np.ndarray  # object (str)
    kind: np.ndarray  # int8: 0 index, 1 etf, 2 stock
    sector: np.ndarray  # object (str)
    price0: np.ndarray  # float64 USD
    iv0: np.ndarray  # float64, ATM implied vol at 30 days
    beta: np.ndarray  # float64
    activity: np.ndarray  # float64, relative share of option trades
    tier: np.ndarray  # int8 listing tier
    rho: np.ndarray  # float64, SSVI skew correlation
    pc_tilt: np.ndarray  # float64, put/call OI tilt
    div_yield: np.ndarray  # float64, continuous dividend yield
    earn_offset: np.ndarray  # int64: session index of the next earnings (-1: none); stocks only

    def __len__(self) -> int:
        return len(self.ticker)


def _synthetic_tickers(n: int, taken: set[str]) -> list[str]:
    """``n`` distinct 4-letter tickers from the bijection ``i -> (7919 i + 104729) mod 26^4``."""
    out: list[str] = []
    i = 0
    space = 26**4
    while len(out) < n:
        code = (7919 * i + 104_729) % space
        i += 1
        s = "".join(chr(65 + (code // 26**p) % 26) for p in (3, 2, 1, 0))
        if s in taken or s[0] in "XQ":  # keep away from real/ETF-like prefixes
            continue
        taken.add(s)
        out.append(s)
    return out


def build_universe(n: int, seed: int, n_sessions: int) -> Universe:
    """The first ``n`` underlyings of the universe for ``seed``.

    Attributes of the real-looking names are fixed; synthetic names draw theirs from a stream
    keyed by their own index, so the universe of ``n`` is a prefix of the universe of ``n+1``.
    Earnings dates are placed as a session offset (0 = the first simulated session); about a
    quarter of stocks report inside a 10-session window.
    """
    core = _CORE[:n]
    k = len(core)
    m = n - k
    tick = [c[0] for c in core]
    kind = [_KIND_CODE[c[1]] for c in core]
    sector = [c[2] for c in core]
    price = [c[3] for c in core]
    iv = [c[4] for c in core]
    beta = [c[5] for c in core]
    act = [c[6] for c in core]
    tier = [c[7] for c in core]
    rho = [c[8] for c in core]
    pct = [c[9] for c in core]
    if m > 0:
        tick += _synthetic_tickers(m, {c[0] for c in _CORE})
        ranks = np.arange(m, dtype=np.float64)
        u = np.stack([_unit_draws(seed, k + j) for j in range(m)])  # (m, 8) per-ticker streams
        kind += [2] * m
        sector += [_SECTORS[int(x * len(_SECTORS))] for x in u[:, 0]]
        price += list(np.round(np.exp(np.log(8.0) + u[:, 1] * (np.log(400.0) - np.log(8.0))), 2))
        iv += list(0.22 + 0.45 * u[:, 2] ** 2)
        beta += list(0.5 + 1.3 * u[:, 3])
        # Zipf-like activity: names ranked after the core get a steadily smaller share.
        act += list(1.2 * (1.0 + ranks / 40.0) ** -0.9 * (0.5 + u[:, 4]))
        tier += list(np.where(ranks < 460, 2, 3))
        rho += list(-0.25 - 0.3 * u[:, 5])
        pct += list(0.6 + 0.5 * u[:, 6])
    kind_a = np.asarray(kind, dtype=np.int8)
    earn = np.full(n, -1, dtype=np.int64)
    stock = kind_a == 2
    if stock.any():
        # Earnings every ~63 sessions; phase per ticker from its own stream.
        ph = np.array([_unit_draws(seed, i)[7] for i in range(n)])
        off = np.floor(ph * 63).astype(np.int64) - 8  # some earnings before the window starts
        off = np.where(off < 1, off + 63, off)
        earn = np.where(stock, off, -1)
    div = np.where(kind_a == 0, 0.014, np.where(kind_a == 1, 0.012, 0.008))
    return Universe(
        ticker=np.asarray(tick, dtype=object),
        kind=kind_a,
        sector=np.asarray(sector, dtype=object),
        price0=np.asarray(price, dtype=np.float64),
        iv0=np.asarray(iv, dtype=np.float64),
        beta=np.asarray(beta, dtype=np.float64),
        activity=np.asarray(act, dtype=np.float64),
        tier=np.asarray(tier, dtype=np.int8),
        rho=np.asarray(rho, dtype=np.float64),
        pc_tilt=np.asarray(pct, dtype=np.float64),
        div_yield=div.astype(np.float64),
        earn_offset=earn,
    )


def _unit_draws(seed: int, uid: int) -> np.ndarray:
    """Eight uniforms from the stream of underlying ``uid`` (universe attributes)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, uid))).random(8)
