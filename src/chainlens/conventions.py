"""The conventions of chainlens: units, signs, day counts, settlement times, roots.

This is the only module where such constants live. Everything else imports them from here.
(SPEC "Conventions"; seed 002 for the classic dealer model.)

Units
-----
* prices and strikes: USD per share; premium = price * size * multiplier (USD).
* time to expiry ``t_years``: ACT/365 in seconds, from the snapshot instant to the settlement
  instant of the contract.
* ``gex_usd_per_1pct = sign * gamma * OI * multiplier * S**2 * 0.01``: the USD value of the
  shares dealers must trade for a 1% move of the underlying.
* ``dex_shares = sign * delta * OI * multiplier``: the dealer delta in shares.
* ``sign`` is the dealer's position sign per contract under the chosen dealer model.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import Final

__all__ = [
    "AM_SETTLED_ROOTS",
    "AM_SETTLE_TIME",
    "DEALER_MODELS",
    "DEFAULT_DIVIDEND_YIELD",
    "DEFAULT_MULTIPLIER",
    "DEFAULT_RATE",
    "ES_USD_PER_POINT",
    "EXCHANGE_TZ",
    "GEX_MOVE_FRACTION",
    "INDEX_UNDERLYINGS",
    "PM_SETTLE_TIME",
    "ROOT_TO_UNDERLYING",
    "SECONDS_PER_DAY",
    "SECONDS_PER_YEAR",
    "SIDE_BUY_THRESHOLD",
    "SIDE_SELL_THRESHOLD",
    "T_FLOOR_YEARS",
    "classic_sign",
    "underlying_of_root",
]

#: Exchange time zone. Every session time below is in it.
EXCHANGE_TZ: Final = "America/New_York"

#: Day count: ACT/365 in seconds.
SECONDS_PER_DAY: Final = 86_400.0
SECONDS_PER_YEAR: Final = 365.0 * SECONDS_PER_DAY

#: Settlement instants (exchange local time). PM-settled contracts settle at the close, or at
#: the early close on a shortened session (``calendar.settlement_instant``).
AM_SETTLE_TIME: Final = dt.time(9, 30)
PM_SETTLE_TIME: Final = dt.time(16, 0)

#: Roots that settle AM (at the opening print of expiry day). VIXW is AM-settled too (the
#: Special Opening Quotation), like the VIX monthlies.
AM_SETTLED_ROOTS: Final = frozenset({"SPX", "NDX", "RUT", "VIX", "VIXW", "DJX", "OEX_AM", "XEO_AM"})

#: Roots whose underlying has another ticker. Anything else maps to itself, with a trailing
#: adjustment digit stripped (``AAPL1`` -> ``AAPL``) by :func:`underlying_of_root`.
ROOT_TO_UNDERLYING: Final = MappingProxyType(
    {
        "SPXW": "SPX",
        "SPXPM": "SPX",
        "NDXP": "NDX",
        "NDXW": "NDX",
        "RUTW": "RUT",
        "VIXW": "VIX",
        "XSP": "XSP",
        "MRUT": "MRUT",
    }
)

#: Cash-settled index products (European exercise, no dividends paid to option holders).
INDEX_UNDERLYINGS: Final = frozenset(
    {"SPX", "NDX", "RUT", "VIX", "XSP", "DJX", "MRUT", "OEX", "XEO"}
)

DEFAULT_MULTIPLIER: Final = 100

#: Flat continuously-compounded risk-free rate (a setting: ``PricingConfig.rate``). The carry
#: per expiry comes from the implied forward, so this mostly affects discounting.
DEFAULT_RATE: Final = 0.05
#: Default continuous dividend yield where no forward can be implied (a setting).
DEFAULT_DIVIDEND_YIELD: Final = 0.0

#: Floor on time to expiry, in years, applied only where a setting asks for it. 0DTE
#: contracts keep their true remaining time by default; this floor (one minute) only keeps
#: contracts at or past settlement from dividing by zero.
T_FLOOR_YEARS: Final = 60.0 / SECONDS_PER_YEAR

#: GEX is quoted per 1% move of the underlying.
GEX_MOVE_FRACTION: Final = 0.01

#: ES futures: USD per index point per contract (the futures-equivalent unit for SPX).
ES_USD_PER_POINT: Final = 50.0

#: Quote rule with a mid band (SPEC "Aggressor side"): x = (price - bid) / (ask - bid).
SIDE_BUY_THRESHOLD: Final = 0.6
SIDE_SELL_THRESHOLD: Final = 0.4

#: Dealer position sign per contract, by model. ``classic``: dealers long calls and short
#: puts (seed 002: customers sell calls and buy puts), so calls +1 and puts -1.
#: ``short_all``: dealers short every contract (-1). ``flow``: from a per-contract column
#: of signed dealer positions inferred from classified customer flow.
DEALER_MODELS: Final = ("classic", "short_all", "flow")


def classic_sign(is_call: object) -> object:
    """Dealer sign under the ``classic`` model: ``+1`` for calls, ``-1`` for puts.

    Works on a bool or a NumPy bool array.

    Examples
    --------
    >>> classic_sign(True), classic_sign(False)
    (1.0, -1.0)
    """
    import numpy as np

    out = np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)
    return float(out) if out.ndim == 0 else out


def underlying_of_root(root: str) -> str:
    """The underlying ticker of an option root.

    Examples
    --------
    >>> underlying_of_root("SPXW"), underlying_of_root("AAPL1"), underlying_of_root("QQQ")
    ('SPX', 'AAPL', 'QQQ')
    """
    root = root.strip().upper()
    if root in ROOT_TO_UNDERLYING:
        return ROOT_TO_UNDERLYING[root]
    if len(root) > 1 and root[-1].isdigit() and not root[:-1][-1:].isdigit():
        return root[:-1]
    return root
