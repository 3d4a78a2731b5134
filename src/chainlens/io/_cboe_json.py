"""Saved Cboe delayed-quotes JSON (``cdn.cboe.com/api/global/delayed_quotes/options/<SYM>.json``)
-> ``chain``.

Two layouts (``data/SOURCES.md``):

* current: ``{"timestamp": "<UTC, no zone>", "data": {"symbol", "current_price", "close",
  "last_trade_time" (ET), ..., "options": [{"option": OSI, "bid", "ask", "iv", "open_interest",
  "volume", "delta", "gamma", "theo", "last_trade_price", ...}]}}``;
* older: the ``data`` object alone (no wrapper, no ``timestamp``, no bid/ask, keys sorted).

Choices (documented for users)
------------------------------
* **Snapshot and session.** ``snapshot_ts`` is the payload's ``timestamp`` (when it was saved,
  UTC). Without it, the underlying's ``last_trade_time`` (US/Eastern). The session follows the
  calendar rule (after the close -> that session; before the open, a weekend or a holiday ->
  the previous session; during it -> that session, an intraday snapshot). A payload with neither
  time (the older layout) gets the earliest listed expiry that is a session as its session (the
  feed lists no expired series, and the daily-expiry ETFs and indices it is used for list the
  session's own expiry), with ``snapshot_ts`` at that session's close: keep the ``timestamp``
  wrapper when you save payloads (``chainlens fetch`` does).
* **Spot.** For an intraday snapshot, ``current_price`` (the underlying at the snapshot). After
  the close or before the next open, ``close`` (the session's regular close, which the option
  quotes, frozen at the close, go with; ``current_price`` is then an extended-hours trade: TSLA
  on 2024-07-15 closed at 252.64, ``current_price`` at 19:15 ET was 254.11). Either one falls
  back to the other when missing.
* **All-zero payloads.** A broken download answers with every quote number at 0 (bid, ask,
  IV, greeks, theoretical value and volume of every contract; OI is still there). Such a
  payload is refused whole: every row is rejected with that reason, nothing is stored.
* **Rows.** One record per contract; the ``row`` of a reject is the 1-based ordinal of the
  record in ``options`` (JSON has no useful lines); ``column`` is ``options/<key>``.
* **Vendor greeks.** ``iv`` 0 means "not modelled": ``iv`` is null there (delta and gamma kept
  as written, as in the quote-table CSV). ``iv`` is a decimal (0.25 = 25%).
  ``last_trade_price`` 0 means no sale (``last`` null); a bid of 0 is a real "no bid".
* **Roots** come from the OSI ``option`` symbol (RUT and RUTW, SPX and SPXW in one payload);
  an index ``symbol`` such as ``^RUT`` or ``_SPX`` loses its prefix. ``multiplier`` 100.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens import conventions
from chainlens.errors import InputError
from chainlens.io._barchart import _count, _field, _num
from chainlens.io._common import (
    AdapterResult,
    Candidate,
    DuplicateTracker,
    Problem,
    RejectSink,
    finalize,
    parse_osi,
    session_close_utc,
    session_of_snapshot,
    settlement_of_roots,
    underlying_of_roots,
)

__all__ = ["FORMAT", "looks_like", "read"]

FORMAT = "cboe_delayed_json"

_FIELDS = (
    "option",
    "bid",
    "ask",
    "iv",
    "open_interest",
    "volume",
    "delta",
    "gamma",
    "theo",
    "last_trade_price",
)
#: The quote numbers that are all 0 in a broken payload.
_QUOTE_FIELDS = ("bid", "ask", "iv", "delta", "gamma", "theo", "volume")


def looks_like(path: Path) -> bool:
    """True when the head holds an ``"options"`` list of ``{"option": ..., "open_interest"}``."""
    with open(path, "rb") as fh:
        head = fh.read(8192).decode("utf-8", errors="replace")
    return '"options"' in head and '"option"' in head and '"open_interest"' in head


def _load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError("non-UTF-8 bytes in JSON", path=path, row=line) from None
    except json.JSONDecodeError as e:
        raise InputError(
            f"not valid JSON ({e.msg}); a truncated download?",
            path=path,
            row=e.lineno,
            column=f"char {e.colno}",
        ) from None
    if not isinstance(doc, dict):
        raise InputError("JSON is not a Cboe delayed-quotes payload", path=path)
    data = doc.get("data", doc)
    if not isinstance(data, dict) or not isinstance(data.get("options"), list):
        raise InputError(
            "JSON is not a Cboe delayed-quotes payload (no data.options list)", path=path
        )
    return doc, data


def _records(recs: list[Any]) -> pa.StructArray:
    try:
        arr = pa.array(recs)
        if pa.types.is_struct(arr.type):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    cols = {}
    for f in _FIELDS:
        vals = [r.get(f) if isinstance(r, dict) else None for r in recs]
        cols[f] = pa.array([None if v is None else str(v) for v in vals], pa.string())
    return pa.StructArray.from_arrays(list(cols.values()), names=list(cols))


def _snapshot(
    path: Path, doc: dict[str, Any], data: dict[str, Any], symbols: pa.Array
) -> tuple[dt.datetime, dt.date, str]:
    """(snapshot_ts UTC, session, phase) from the payload's own times (module docstring)."""
    ts = doc.get("timestamp")
    if ts is not None:
        try:
            snap = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"'timestamp' is not a date-time: {ts!r}", path=path, column="timestamp"
            ) from None
        snap = snap.replace(tzinfo=dt.UTC) if snap.tzinfo is None else snap.astimezone(dt.UTC)
        return (snap, *session_of_snapshot(snap))
    ltt = data.get("last_trade_time")
    if ltt is not None:
        try:
            local = dt.datetime.fromisoformat(str(ltt))
        except ValueError:
            raise InputError(
                f"'last_trade_time' is not a date-time: {ltt!r}",
                path=path,
                column="last_trade_time",
            ) from None
        if local.tzinfo is None:
            local = local.replace(tzinfo=ZoneInfo(conventions.EXCHANGE_TZ))
        snap = local.astimezone(dt.UTC)
        return (snap, *session_of_snapshot(snap))
    from chainlens import calendar as cal

    exp = parse_osi(symbols)["expiry"]
    exp = pc.drop_null(exp)
    if len(exp) == 0:
        raise InputError(
            "no 'timestamp', no 'last_trade_time' and no valid option symbol: the session "
            "cannot be told",
            path=path,
        )
    days = np.unique(np.array(exp.to_numpy(zero_copy_only=False), dtype="datetime64[D]"))
    ok = cal.is_session(days)
    if not np.any(ok):
        raise InputError("no listed expiry is a session: the session cannot be told", path=path)
    session = days[np.flatnonzero(ok)[0]].astype(dt.date)
    return session_close_utc(session), session, "after_close"


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Read one saved payload (one batch; payloads hold a few thousand contracts)."""
    del batch_rows
    path = Path(path)
    doc, data = _load(path)
    recs = data["options"]
    n = len(recs)
    sink = RejectSink(path)
    lines = np.arange(1, n + 1, dtype=np.int64)
    if n == 0:
        raise InputError("payload lists no options (data.options is empty)", path=path)
    arr = _records(recs)
    probs: list[Problem] = []
    sym = _field(arr, "option")
    sym = pc.cast(sym, pa.string()) if not pa.types.is_string(sym.type) else sym
    sym = pc.utf8_trim_whitespace(sym)
    snap, session, phase = _snapshot(path, doc, data, sym)

    nums = {k: _num(_field(arr, k), f"options/{k}", probs) for k in _QUOTE_FIELDS}
    present = [k for k in _QUOTE_FIELDS if not pa.types.is_null(_field(arr, k).type)]
    all_zero = bool(present) and all(
        pc.all(pc.fill_null(pc.equal(nums[k], 0.0), True)).as_py() for k in present
    )
    if all_zero:
        sink.add(
            lines,
            column="options",
            values=None,
            reason="every quote number in the payload is 0 ("
            + ", ".join(present)
            + " of every contract): a broken download, refused whole",
        )
        from chainlens.schema import CHAIN

        yield AdapterResult("chain", CHAIN.empty_table(), sink.take(), n, FORMAT, path)
        return

    first, second = (
        ("current_price", "close") if phase == "intraday" else ("close", "current_price")
    )
    spot_v = data.get(first)
    if not isinstance(spot_v, int | float) or isinstance(spot_v, bool) or not spot_v > 0:
        spot_v = data.get(second)
    if not isinstance(spot_v, int | float) or isinstance(spot_v, bool) or not spot_v > 0:
        raise InputError(
            f"no positive 'current_price' or 'close' (got {data.get('current_price')!r})",
            path=path,
            column="current_price",
        )
    spot = float(spot_v)

    osi = parse_osi(sym)
    bad_sym = ~osi["valid"].to_numpy(zero_copy_only=False)
    if bad_sym.any():
        probs.insert(0, Problem(bad_sym, "options/option", sym, "not an OSI option symbol"))
    root = pc.fill_null(osi["root"].combine_chunks(), "")
    expiry = osi["expiry"].combine_chunks()
    right = osi["right"].combine_chunks()
    strike = osi["strike"].combine_chunks()
    oi = _count(_field(arr, "open_interest"), "options/open_interest", probs)
    vol = pc.cast(
        pc.if_else(
            pc.fill_null(pc.equal(pc.floor(nums["volume"]), nums["volume"]), True),
            nums["volume"],
            pa.scalar(None, pa.float64()),
        ),
        pa.int64(),
    )
    frac = pc.fill_null(pc.not_equal(pc.floor(nums["volume"]), nums["volume"]), False)
    if pc.any(frac).as_py():
        probs.append(
            Problem(
                frac.to_numpy(zero_copy_only=False),
                "options/volume",
                pc.cast(nums["volume"], pa.string()),
                "not a whole number",
            )
        )
    last = _num(_field(arr, "last_trade_price"), "options/last_trade_price", probs)
    null_f = pa.scalar(None, pa.float64())
    last = pc.if_else(pc.fill_null(pc.equal(last, 0.0), False), null_f, last)
    iv = nums["iv"]
    iv = pc.if_else(pc.fill_null(pc.equal(iv, 0.0), False), null_f, iv)
    cols = {
        "trade_date": pa.array([session] * n, pa.date32()),
        "snapshot_ts": pa.array([snap] * n, pa.timestamp("ns", tz="UTC")),
        "underlying": underlying_of_roots(root),
        "root": root,
        "symbol": sym,
        "expiry": expiry,
        "settlement": settlement_of_roots(root),
        "strike": strike,
        "right": right,
        "multiplier": pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32)),
        "bid": nums["bid"],
        "ask": nums["ask"],
        "last": last,
        "volume": vol,
        "open_interest": oi,
        "iv": iv,
        "delta": nums["delta"],
        "gamma": nums["gamma"],
        "spot": pa.array(np.full(n, spot)),
    }
    names = {
        "symbol": "options/option",
        "expiry": "options/option",
        "strike": "options/option",
        "right": "options/option",
        "root": "options/option",
        "bid": "options/bid",
        "ask": "options/ask",
        "last": "options/last_trade_price",
        "volume": "options/volume",
        "open_interest": "options/open_interest",
        "iv": "options/iv",
        "delta": "options/delta",
        "gamma": "options/gamma",
    }
    table = finalize(Candidate("chain", cols, lines, probs, names), sink, DuplicateTracker())
    yield AdapterResult("chain", table, sink.take(), n, FORMAT, path)
