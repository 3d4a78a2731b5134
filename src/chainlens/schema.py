"""The canonical tables of chainlens, as Arrow schemas, with every unit named.

Every adapter and the simulator produce exactly these tables; every kernel consumes them.
Each field carries ``unit`` and ``doc`` metadata (bytes), readable with :func:`unit_of`.

Tables
------
``chain``   one row per contract per snapshot (quotes, volume, OI, vendor greeks).
``trades``  option time and sales with the NBBO just before each trade.
``prints``  off-exchange (dark-pool) equity prints with the NBBO.
``bars``    optional daily bars of underlyings.
``events``  optional events calendar (earnings, FOMC, CPI, PDUFA...).
``sectors`` optional ticker -> sector map.

Open-interest timing (SPEC "Open-interest timing"): ``open_interest`` in a ``chain`` row dated
D is the OCC figure published before session D opens, i.e. positions at the end of D-1.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "BARS",
    "CHAIN",
    "EVENTS",
    "PRINTS",
    "REJECTS",
    "SCHEMAS",
    "SECTORS",
    "TRADES",
    "conform",
    "unit_of",
]

_TS = pa.timestamp("ns", tz="UTC")


def _f(name: str, typ: pa.DataType, unit: str, doc: str, *, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable, metadata={"unit": unit, "doc": doc})


_CONTRACT_KEYS = [
    _f(
        "underlying",
        pa.string(),
        "ticker",
        "underlying ticker (SPX for both SPX and SPXW roots)",
        nullable=False,
    ),
    _f(
        "root",
        pa.string(),
        "ticker",
        "option root as listed (SPXW, NDXP, AAPL1...)",
        nullable=False,
    ),
    _f(
        "symbol",
        pa.string(),
        "OSI",
        "OSI option symbol, compact form (no padding): SPXW230915C04500000",
        nullable=False,
    ),
    _f("expiry", pa.date32(), "date", "expiration date", nullable=False),
    _f(
        "settlement",
        pa.string(),
        "AM|PM",
        "AM: settles at the open of expiry day; PM: at the close",
        nullable=False,
    ),
    _f("strike", pa.float64(), "USD", "strike price", nullable=False),
    _f("right", pa.string(), "C|P", "C call, P put", nullable=False),
    _f(
        "multiplier",
        pa.int32(),
        "shares/contract",
        "deliverable shares per contract (100 unless adjusted)",
        nullable=False,
    ),
]

CHAIN = pa.schema(
    [
        _f("trade_date", pa.date32(), "date", "session the snapshot belongs to", nullable=False),
        _f("snapshot_ts", _TS, "UTC", "instant the snapshot was taken", nullable=False),
        *_CONTRACT_KEYS,
        _f("bid", pa.float64(), "USD/share", "best bid"),
        _f("ask", pa.float64(), "USD/share", "best ask"),
        _f("last", pa.float64(), "USD/share", "last sale"),
        _f("volume", pa.int64(), "contracts", "session volume up to the snapshot"),
        _f(
            "open_interest",
            pa.int64(),
            "contracts",
            "OCC open interest published before this session (end of D-1)",
        ),
        _f(
            "iv",
            pa.float64(),
            "1/yr (decimal)",
            "vendor implied volatility, annualised (0.20 = 20%)",
        ),
        _f("delta", pa.float64(), "shares/share", "vendor delta per unit of underlying"),
        _f("gamma", pa.float64(), "1/USD", "vendor gamma: change of delta per 1 USD of underlying"),
        _f("spot", pa.float64(), "USD", "underlying price at the snapshot"),
        _f("crossed", pa.bool_(), "flag", "bid > ask > 0 at the snapshot (kept, flagged)"),
    ]
)

TRADES = pa.schema(
    [
        _f("ts", _TS, "UTC", "trade instant", nullable=False),
        _f("trade_date", pa.date32(), "date", "session of the trade", nullable=False),
        *_CONTRACT_KEYS,
        _f("price", pa.float64(), "USD/share", "trade price", nullable=False),
        _f("size", pa.int64(), "contracts", "trade size", nullable=False),
        _f("bid", pa.float64(), "USD/share", "NBBO bid just before the trade"),
        _f("ask", pa.float64(), "USD/share", "NBBO ask just before the trade"),
        _f("exchange", pa.string(), "code", "reporting exchange code"),
        _f("condition", pa.string(), "code", "trade condition code (vendor's, as text)"),
        _f("spot", pa.float64(), "USD", "underlying price at the trade"),
        _f("trade_id", pa.int64(), "id", "vendor sequence number, if any"),
    ]
)

PRINTS = pa.schema(
    [
        _f("ts", _TS, "UTC", "print instant", nullable=False),
        _f("trade_date", pa.date32(), "date", "session of the print", nullable=False),
        _f("ticker", pa.string(), "ticker", "equity ticker", nullable=False),
        _f("price", pa.float64(), "USD/share", "print price", nullable=False),
        _f("size", pa.int64(), "shares", "print size", nullable=False),
        _f("bid", pa.float64(), "USD/share", "NBBO bid at the print"),
        _f("ask", pa.float64(), "USD/share", "NBBO ask at the print"),
        _f("venue", pa.string(), "code", "off-exchange venue / TRF"),
    ]
)

BARS = pa.schema(
    [
        _f("trade_date", pa.date32(), "date", "session", nullable=False),
        _f("ticker", pa.string(), "ticker", "underlying ticker", nullable=False),
        _f("open", pa.float64(), "USD", "session open"),
        _f("high", pa.float64(), "USD", "session high"),
        _f("low", pa.float64(), "USD", "session low"),
        _f("close", pa.float64(), "USD", "session close", nullable=False),
        _f("volume", pa.int64(), "shares", "session volume"),
    ]
)

EVENTS = pa.schema(
    [
        _f("date", pa.date32(), "date", "event date", nullable=False),
        _f("ticker", pa.string(), "ticker", "ticker, or * for market-wide", nullable=False),
        _f("kind", pa.string(), "label", "earnings, FOMC, CPI, PDUFA...", nullable=False),
        _f("note", pa.string(), "text", "free text"),
    ]
)

SECTORS = pa.schema(
    [
        _f("ticker", pa.string(), "ticker", "ticker", nullable=False),
        _f("sector", pa.string(), "label", "sector name", nullable=False),
    ]
)

REJECTS = pa.schema(
    [
        _f("path", pa.string(), "path", "input file", nullable=False),
        _f(
            "row",
            pa.int64(),
            "line",
            "1-based physical line in the file (header = 1 for CSV)",
            nullable=False,
        ),
        _f("column", pa.string(), "name", "offending column, if one"),
        _f("value", pa.string(), "text", "offending value, as text"),
        _f("reason", pa.string(), "text", "the rule that was broken", nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "chain": CHAIN,
    "trades": TRADES,
    "prints": PRINTS,
    "bars": BARS,
    "events": EVENTS,
    "sectors": SECTORS,
}


def unit_of(schema: pa.Schema, column: str) -> str:
    """The unit of ``column`` in ``schema``.

    Examples
    --------
    >>> unit_of(CHAIN, "gamma")
    '1/USD'
    """
    md = schema.field(column).metadata or {}
    return md.get(b"unit", b"").decode()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return ``table`` with exactly ``schema``'s columns, order and types.

    Missing nullable columns are filled with nulls; extra columns are dropped. Raises
    ``KeyError`` for a missing non-nullable column and ``pyarrow.ArrowInvalid`` for a cast that
    loses information.
    """
    cols = []
    for field in schema:
        if field.name in table.column_names:
            cols.append(table.column(field.name).cast(field.type))
        elif field.nullable:
            cols.append(pa.nulls(table.num_rows, field.type))
        else:
            raise KeyError(f"required column {field.name!r} is missing")
    return pa.Table.from_arrays(cols, schema=schema)
