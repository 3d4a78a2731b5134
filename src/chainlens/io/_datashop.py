"""Cboe DataShop files: option trades (``UnderlyingOptionsTrades_*``) -> ``trades`` and end-of-day
calcs (``UnderlyingOptionsEODCalcs_*``) -> ``chain``.

Trades
------
Header ``underlying_symbol,quote_datetime,sequence_number,root,expiration,strike,option_type,
exchange_id,trade_size,trade_price,trade_condition_id,canceled_trade_condition_id,best_bid,
best_ask,underlying_bid,underlying_ask,number_of_exchanges,{exchange,bid_size,bid,ask_size,ask}
[number_of_exchanges]``: 17 fixed fields, then ``5 * number_of_exchanges`` per-exchange quote
fields (ragged rows). A row whose length is not ``17 + 5 * number_of_exchanges`` is rejected.

* ``quote_datetime`` is US/Eastern local time -> UTC ``ts``; ``trade_date`` is its ET date.
* A cancelled print (``canceled_trade_condition_id != 0``) is rejected with reason
  ``"cancelled print"`` and never counted.
* ``bid``/``ask`` = ``best_bid``/``best_ask`` (NBBO at the trade); ``spot`` = mid of
  ``underlying_bid``/``underlying_ask`` (null when either is 0); ``exchange`` = ``exchange_id``;
  ``condition`` = ``trade_condition_id``; ``trade_id`` = ``sequence_number``.
* ``underlying`` = ``underlying_symbol`` without the index caret (``^VIX`` -> ``VIX``).

EOD calcs
---------
One ``chain`` snapshot at the session close (``snapshot_ts`` = the close of ``quote_date``):
``bid_eod``/``ask_eod``, ``close`` as ``last`` (0 -> null: no trade), ``trade_volume``,
``open_interest``, vendor greeks ``implied_volatility_1545``/``delta_1545``/``gamma_1545`` (IV 0
-> iv null, delta and gamma kept, as for the Cboe quote table), spot = mid of
``underlying_bid_eod``/``underlying_ask_eod``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens import conventions
from chainlens.errors import InputError
from chainlens.io._common import (
    AdapterResult,
    Candidate,
    DuplicateTracker,
    Problem,
    RejectSink,
    finalize,
    format_osi,
    iter_csv_blocks,
    parse_float,
    parse_int,
    reject_bad_lines,
    session_close_utc,
    settlement_of_roots,
    strptime_strict,
)

__all__ = ["TRADES_FORMAT", "EOD_FORMAT", "detect", "read"]

TRADES_FORMAT = "datashop_trades"
EOD_FORMAT = "datashop_eod"

_TRADES_FIXED = [
    "underlying_symbol",
    "quote_datetime",
    "sequence_number",
    "root",
    "expiration",
    "strike",
    "option_type",
    "exchange_id",
    "trade_size",
    "trade_price",
    "trade_condition_id",
    "canceled_trade_condition_id",
    "best_bid",
    "best_ask",
    "underlying_bid",
    "underlying_ask",
    "number_of_exchanges",
]
_EOD_REQUIRED = [
    "underlying_symbol",
    "quote_date",
    "root",
    "expiration",
    "strike",
    "option_type",
    "trade_volume",
    "bid_eod",
    "ask_eod",
    "underlying_bid_eod",
    "underlying_ask_eod",
    "open_interest",
]


def detect(header_line: str) -> str | None:
    """``datashop_trades``/``datashop_eod`` from the header line, else None."""
    cols = [c.strip() for c in header_line.split(",")]
    if cols[: len(_TRADES_FIXED)] == _TRADES_FIXED:
        return TRADES_FORMAT
    if set(_EOD_REQUIRED) <= set(cols):
        return EOD_FORMAT
    return None


def _header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8-sig", errors="replace").strip()
    return [c.strip() for c in first.split(",")]


def read(path: Path, fmt: str, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Read a DataShop trades or EOD-calcs file, streamed by blocks of lines."""
    if fmt == TRADES_FORMAT:
        yield from _read_trades(path, batch_rows)
    elif fmt == EOD_FORMAT:
        yield from _read_eod(path, batch_rows)
    else:  # pragma: no cover - dispatch guards this
        raise InputError(f"not a DataShop format: {fmt}", path=path)


def _strip_caret(a: pa.Array) -> pa.Array:
    return pc.utf8_upper(pc.utf8_ltrim(a, characters="^"))


def _mid(b: pa.Array, a: pa.Array) -> pa.Array:
    ok = pc.and_(pc.greater(b, 0), pc.greater(a, 0))
    return pc.if_else(ok, pc.divide(pc.add(b, a), 2.0), pa.scalar(None, pa.float64()))


def _contract(f: dict[str, pa.Array], probs: list[Problem]) -> dict[str, pa.Array]:
    n = len(f["root"])
    expiry = pc.cast(strptime_strict(f["expiration"], "%Y-%m-%d"), pa.date32())
    bad = expiry.is_null().to_numpy(zero_copy_only=False)
    if bad.any():
        probs.append(Problem(bad, "expiration", f["expiration"], "not a date like 2016-06-08"))
    strike = parse_float(f["strike"], "strike", probs, required=True)
    right = pc.utf8_upper(f["option_type"])
    badr = ~pc.fill_null(pc.is_in(right, value_set=pa.array(["C", "P"])), False).to_numpy(
        zero_copy_only=False
    )
    if badr.any():
        probs.append(Problem(badr, "option_type", f["option_type"], "right must be C or P"))
    root = pc.utf8_upper(f["root"])
    okrow = pa.array(
        ~(bad | badr | ~pc.fill_null(pc.greater(strike, 0), False).to_numpy(zero_copy_only=False))
    )
    # Symbols are only written for rows that can have one; the others are rejected anyway.
    safe_exp = pc.if_else(okrow, expiry, pa.scalar(dt.date(2000, 1, 1), pa.date32()))
    safe_right = pc.if_else(okrow, right, pa.scalar("C"))
    safe_k = pc.if_else(okrow, strike, pa.scalar(1.0))
    safe_root = pc.if_else(pc.equal(pc.utf8_length(root), 0), pa.scalar("X"), root)
    symbol = format_osi(safe_root, safe_exp, safe_right, safe_k)
    return {
        "underlying": _strip_caret(f["underlying_symbol"]),
        "root": root,
        "symbol": symbol,
        "expiry": expiry,
        "settlement": settlement_of_roots(root),
        "strike": strike,
        "right": right,
        "multiplier": pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32)),
    }


def _read_trades(path: Path, batch_rows: int) -> Iterator[AdapterResult]:
    header = _header(path)
    if header[: len(_TRADES_FIXED)] != _TRADES_FIXED:
        raise InputError("header is not a DataShop option trades header", path=path, row=1)
    nfix = len(_TRADES_FIXED)
    sink = RejectSink(path)
    for block in iter_csv_blocks(
        path, header_line=1, n_fields=nfix, ragged=True, block_bytes=max(1 << 16, batch_rows * 150)
    ):
        bad_rows = reject_bad_lines(block, sink)
        f = dict(zip(_TRADES_FIXED, block.fields, strict=True))
        probs: list[Problem] = []
        nex = parse_int(f["number_of_exchanges"], "number_of_exchanges", probs, required=True)
        expected = pc.add(pc.multiply(pc.fill_null(nex, 0), 5), nfix).to_numpy(zero_copy_only=False)
        ragged = block.n_fields != expected
        if ragged.any():
            probs.append(
                Problem(
                    ragged,
                    "number_of_exchanges",
                    f["number_of_exchanges"],
                    "row length does not match number_of_exchanges (17 + 5 per exchange)",
                )
            )
        cancel = pc.fill_null(
            pc.not_equal(pc.utf8_trim_whitespace(f["canceled_trade_condition_id"]), "0"), True
        )
        cancel_np = cancel.to_numpy(zero_copy_only=False)
        if cancel_np.any():
            probs.insert(
                0,
                Problem(
                    cancel_np,
                    "canceled_trade_condition_id",
                    f["canceled_trade_condition_id"],
                    "cancelled print",
                ),
            )
        qdt = f["quote_datetime"]
        # shape, a time of day that exists (00:00:00-23:59:59) and a calendar date that exists
        # (2016-06-31 does not): a bad value rejects its row, never the block
        okts = pc.and_(
            pc.fill_null(
                pc.match_substring_regex(
                    qdt, r"^\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?$"
                ),
                False,
            ),
            pc.is_valid(strptime_strict(pc.utf8_slice_codeunits(qdt, 0, 10), "%Y-%m-%d")),
        )
        badts = ~okts.to_numpy(zero_copy_only=False)
        if badts.any():
            probs.append(
                Problem(
                    badts, "quote_datetime", qdt, "not a valid time like 2016-06-01 13:57:58.175"
                )
            )
        safe = pc.if_else(okts, qdt, pa.scalar("2000-01-03 12:00:00"))
        try:
            naive = pc.cast(safe, pa.timestamp("ns"))
        except pa.ArrowInvalid as e:  # a date that matches the shape but does not exist
            raise InputError(
                f"invalid quote_datetime in this block ({e})", path=path, column="quote_datetime"
            ) from None
        ts = pc.assume_timezone(
            naive, timezone=conventions.EXCHANGE_TZ, ambiguous="earliest", nonexistent="earliest"
        )
        ts = pc.cast(ts, pa.timestamp("ns", tz="UTC"))
        trade_date = pc.cast(
            pc.local_timestamp(pc.cast(ts, pa.timestamp("ns", tz=conventions.EXCHANGE_TZ))),
            pa.date32(),
        )
        cols = {
            "ts": ts,
            "trade_date": trade_date,
            **_contract(f, probs),
            "price": parse_float(f["trade_price"], "trade_price", probs, required=True),
            "size": parse_int(f["trade_size"], "trade_size", probs, required=True),
            "bid": parse_float(f["best_bid"], "best_bid", probs),
            "ask": parse_float(f["best_ask"], "best_ask", probs),
            "exchange": f["exchange_id"],
            "condition": f["trade_condition_id"],
            "spot": _mid(
                parse_float(f["underlying_bid"], "underlying_bid", probs),
                parse_float(f["underlying_ask"], "underlying_ask", probs),
            ),
            "trade_id": parse_int(f["sequence_number"], "sequence_number", probs),
        }
        zero = pc.fill_null(pc.less_equal(cols["size"], 0), False).to_numpy(zero_copy_only=False)
        if zero.any():
            probs.append(Problem(zero, "trade_size", f["trade_size"], "trade size must be > 0"))
        names = {
            "symbol": "root",
            "expiry": "expiration",
            "size": "trade_size",
            "price": "trade_price",
        }
        table = finalize(Candidate("trades", cols, block.line, probs, names), sink, None)
        rej = sink.take()
        yield AdapterResult("trades", table, rej, len(block.line) + bad_rows, TRADES_FORMAT, path)


def _read_eod(path: Path, batch_rows: int) -> Iterator[AdapterResult]:
    header = _header(path)
    missing = [c for c in _EOD_REQUIRED if c not in header]
    if missing:
        raise InputError(f"DataShop EOD header lacks {missing}", path=path, row=1)
    idx = {c: i for i, c in enumerate(header)}
    sink = RejectSink(path)
    dups = DuplicateTracker()
    closes: dict[dt.date, dt.datetime] = {}
    for block in iter_csv_blocks(
        path, header_line=1, n_fields=len(header), block_bytes=max(1 << 16, batch_rows * 250)
    ):
        bad_rows = reject_bad_lines(block, sink)
        f = {c: block.fields[i] for c, i in idx.items()}
        probs: list[Problem] = []
        n = len(block.line)
        qd = pc.cast(
            strptime_strict(f["quote_date"], "%Y-%m-%d"),
            pa.date32(),
        )
        badq = qd.is_null().to_numpy(zero_copy_only=False)
        if badq.any():
            probs.append(Problem(badq, "quote_date", f["quote_date"], "not a date like 2016-06-01"))
        # The close of each distinct session (few per file).
        sessions = [d for d in pc.unique(qd).to_pylist() if d is not None]
        for d in sessions:
            if d not in closes:
                try:
                    closes[d] = session_close_utc(d)
                except Exception:
                    from zoneinfo import ZoneInfo

                    closes[d] = dt.datetime.combine(
                        d, conventions.PM_SETTLE_TIME, ZoneInfo(conventions.EXCHANGE_TZ)
                    )
        uniq = pa.array(sessions, pa.date32())
        close_arr = pa.array([closes[d] for d in sessions], pa.timestamp("ns", tz="UTC"))
        snap = (
            pc.take(close_arr, pc.index_in(qd, value_set=uniq))
            if len(sessions)
            else pa.nulls(n, pa.timestamp("ns", tz="UTC"))
        )
        greeks = {
            g: parse_float(f[c], c, probs) if c in f else pa.nulls(n, pa.float64())
            for g, c in (
                ("iv", "implied_volatility_1545"),
                ("delta", "delta_1545"),
                ("gamma", "gamma_1545"),
            )
        }
        # IV 0 = not modelled: null IV, vendor delta/gamma kept as written (as for Cboe).
        unmodelled = pc.fill_null(pc.equal(greeks["iv"], 0.0), False)
        greeks["iv"] = pc.if_else(unmodelled, pa.scalar(None, pa.float64()), greeks["iv"])
        last = (
            parse_float(f["close"], "close", probs) if "close" in f else pa.nulls(n, pa.float64())
        )
        last = pc.if_else(
            pc.fill_null(pc.equal(last, 0.0), False), pa.scalar(None, pa.float64()), last
        )
        cols = {
            "trade_date": qd,
            "snapshot_ts": snap,
            **_contract(f, probs),
            "bid": parse_float(f["bid_eod"], "bid_eod", probs),
            "ask": parse_float(f["ask_eod"], "ask_eod", probs),
            "last": last,
            "volume": parse_int(f["trade_volume"], "trade_volume", probs),
            "open_interest": parse_int(f["open_interest"], "open_interest", probs),
            **greeks,
            "spot": _mid(
                parse_float(f["underlying_bid_eod"], "underlying_bid_eod", probs),
                parse_float(f["underlying_ask_eod"], "underlying_ask_eod", probs),
            ),
        }
        names = {"symbol": "root", "expiry": "expiration", "volume": "trade_volume"}
        table = finalize(Candidate("chain", cols, block.line, probs, names), sink, dups)
        rej = sink.take()
        yield AdapterResult("chain", table, rej, n + bad_rows, EOD_FORMAT, path)
