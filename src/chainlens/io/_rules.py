"""The validation rules of every adapter, as data: one table, applied by one function.

Every adapter builds a :class:`~chainlens.io._common.Candidate` and calls
:func:`chainlens.io._common.finalize`, which applies :data:`RANGE_RULES` and
:data:`NAME_RULES` (and the calendar rules) row by row; the compiled proof of a canonical
Parquet file (:mod:`chainlens.io._verify`) checks the same table on column minima and maxima.
Adapters check :data:`REQUIRED_COLUMNS` and header uniqueness through
:func:`check_required_columns` and :func:`check_unique_header`. A new adapter therefore
cannot forget a rule: it only maps its columns.

Bounds are *plausibility* limits, far outside any real market figure and tight enough that a
mis-parsed number (a thousands separator, an exponent, an integer overflow) cannot pass:

========================  ========================================  =================================
column                    accepted range                            why
========================  ========================================  =================================
strike                    0 < k <= 99,999.999 USD                   OSI: strike*1000 on 8 digits
multiplier                1 .. 100,000 shares/contract               0 or negative: exposure sign flips
spot                      0 < S <= 10,000,000 USD                    GEX scales with S^2
bid, ask, last, price     0 .. 10,000,000 USD/share                  no negative premium
volume, open_interest     0 .. 10,000,000,000 contracts (1e10)       2^63-1 would overflow sums
size                      0 .. 1e10                                  same
iv                        0 .. 100 (10,000 %, decimal 1/yr)          vendor IV is decimal, >= 0
delta                     -1.5 .. 1.5                                 |delta| <= 1 plus rounding
gamma                     0 .. 1,000 1/USD                           gamma >= 0; 1e300 is garbage
trade_date                an XNYS session, 2000-01-01 .. 2035-12-31  weekends and 1900 are typos
expiry                    trade_date .. 2035-12-31                   analysis needs the calendar
underlying, ticker        1-12 of A-Z 0-9 . - (first A-Z or 0-9)      no path separators or markup
root                      OSI root: A-Z then up to 5 of A-Z 0-9      OCC OSI symbology
========================  ========================================  =================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chainlens.errors import InputError
from chainlens.schema import SCHEMAS

__all__ = [
    "MAX_COUNT",
    "NAME_RULES",
    "RANGE_RULES",
    "REQUIRED_COLUMNS",
    "SOURCE_REQUIRED_COLUMNS",
    "NameRule",
    "RangeRule",
    "check_required_columns",
    "check_unique_header",
    "range_rules_for",
]

#: Largest count (volume, open interest, size) accepted.
MAX_COUNT = 10_000_000_000
_PRICE_MAX = 10_000_000.0
_TRADED = ("chain", "trades", "prints")


@dataclass(frozen=True, slots=True)
class RangeRule:
    """``lo <= value <= hi`` (``lo < value`` when ``lo_open``) for ``column`` in ``kinds``.

    ``below``/``above`` are the reject reasons (the first names the rule the data most
    often breaks, e.g. "negative value")."""

    column: str
    kinds: tuple[str, ...]
    lo: float | None
    hi: float | None
    below: str
    above: str
    lo_open: bool = False


@dataclass(frozen=True, slots=True)
class NameRule:
    """Text ``column`` must fully match ``pattern`` (RE2 syntax) in ``kinds``."""

    column: str
    kinds: tuple[str, ...]
    pattern: str
    reason: str


RANGE_RULES: tuple[RangeRule, ...] = (
    RangeRule("volume", _TRADED, 0, MAX_COUNT, "negative value", "count too large (> 1e10)"),
    RangeRule("open_interest", _TRADED, 0, MAX_COUNT, "negative value", "count too large (> 1e10)"),
    RangeRule("size", _TRADED, 0, MAX_COUNT, "negative value", "count too large (> 1e10)"),
    RangeRule(
        "strike",
        ("chain", "trades"),
        0,
        99_999.999,
        "strike must be > 0",
        "strike above 99,999.999 (the OSI limit)",
        lo_open=True,
    ),
    RangeRule("price", _TRADED, 0, _PRICE_MAX, "negative price", "price above 10,000,000"),
    RangeRule("bid", _TRADED, 0, _PRICE_MAX, "negative price", "price above 10,000,000"),
    RangeRule("ask", _TRADED, 0, _PRICE_MAX, "negative price", "price above 10,000,000"),
    RangeRule("last", _TRADED, 0, _PRICE_MAX, "negative price", "price above 10,000,000"),
    RangeRule(
        "multiplier",
        ("chain", "trades"),
        1,
        100_000,
        "multiplier must be > 0",
        "multiplier above 100,000",
    ),
    RangeRule(
        "spot",
        ("chain", "trades"),
        0,
        _PRICE_MAX,
        "spot must be > 0",
        "spot above 10,000,000",
        lo_open=True,
    ),
    RangeRule("iv", ("chain",), 0, 100.0, "negative IV", "IV above 100 (10,000 %)"),
    RangeRule("delta", ("chain",), -1.5, 1.5, "delta below -1.5", "delta above 1.5"),
    RangeRule("gamma", ("chain",), 0, 1000.0, "negative gamma", "gamma above 1,000 per USD"),
)

#: Underlying and equity tickers: no path separator, no markup, no spaces.
TICKER_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]{0,11}$"
#: OCC OSI option root.
ROOT_PATTERN = r"^[A-Z][A-Z0-9]{0,5}$"

NAME_RULES: tuple[NameRule, ...] = (
    NameRule(
        "underlying",
        ("chain", "trades"),
        TICKER_PATTERN,
        "underlying must be 1-12 of A-Z 0-9 . - (starting with a letter or digit)",
    ),
    NameRule(
        "root",
        ("chain", "trades"),
        ROOT_PATTERN,
        "root must be 1-6 upper-case letters or digits, starting with a letter (OSI)",
    ),
    NameRule(
        "ticker",
        ("prints", "bars", "sectors"),
        TICKER_PATTERN,
        "ticker must be 1-12 of A-Z 0-9 . - (starting with a letter or digit)",
    ),
)

#: trade_date must be an exchange session inside the calendar (kinds with a trade_date).
SESSION_KINDS = ("chain", "trades", "prints", "bars")
#: Latest expiry accepted (the trading calendar's end).
EXPIRY_MAX = dt.date(2035, 12, 31)

#: Columns every candidate table must hold per kind (the non-nullable ones; ``finalize``
#: checks them for every adapter).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.name for f in sch if not f.nullable and f.name != "crossed")
    for kind, sch in SCHEMAS.items()
}
#: Columns a *table-shaped source* (canonical Parquet, a generic mapping) must also provide:
#: without ``open_interest`` every OI is null and GEX is silently 0. Values may be null (an
#: OI-less row); a missing *column* is an error of the file.
SOURCE_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {"chain": ("open_interest",)}


def range_rules_for(kind: str, columns: Iterable[str]) -> list[RangeRule]:
    """The range rules of ``kind`` whose column is among ``columns``."""
    have = set(columns)
    return [r for r in RANGE_RULES if kind in r.kinds and r.column in have]


def check_required_columns(
    kind: str,
    columns: Iterable[str],
    path: str | Path,
    *,
    source: bool = False,
    names: dict[str, str] | None = None,
) -> None:
    """InputError naming the canonical columns of ``kind`` that ``columns`` lacks
    (:data:`REQUIRED_COLUMNS`, plus :data:`SOURCE_REQUIRED_COLUMNS` when ``source``).

    ``names`` maps canonical names to the source's (a mapping) for the message."""
    have = set(columns)
    need = REQUIRED_COLUMNS[kind] + (SOURCE_REQUIRED_COLUMNS.get(kind, ()) if source else ())
    missing = [c for c in need if c not in have]
    if missing:
        shown = [f"{c} ({names[c]})" if names and c in names else c for c in missing]
        raise InputError(
            f"required column(s) missing for a {kind} table: {', '.join(shown)}",
            path=path,
            hint="a chain needs open_interest (null values are fine); map or add the column",
        )


def check_unique_header(
    header: Sequence[str],
    path: str | Path,
    *,
    only: Iterable[str] | None = None,
    row: int | None = 1,
) -> None:
    """InputError when a header name appears twice (restricted to ``only`` when given): which
    of two ``volume`` columns is meant cannot be guessed."""
    seen: dict[str, int] = {}
    want = None if only is None else set(only)
    for i, h in enumerate(header):
        if want is not None and h not in want:
            continue
        if h in seen:
            raise InputError(
                f"column {h!r} appears twice in the header (fields {seen[h] + 1} and {i + 1})",
                path=path,
                row=row,
                column=h,
                hint="rename or drop one of them",
            )
        seen[h] = i
