"""Barchart after-close SPX snapshot JSON (``spx_daily_barchart/SPX_<date>.json``) -> ``chain``.

Layout (``data/SOURCES.md``): ``{"date", "spot" (the close), "timestamp" (UTC, no zone),
"expiries": {expiry: [{"strikePrice", "optionType" ("Call"|"Put"), "bidPrice", "askPrice",
"lastPrice", "volume", "openInterest", "volatility", "delta", "gamma", "theta", "vega", "rho",
"daysToExpiration", "expirationDate"}]}}``, one snapshot per file.

Choices (documented for users)
------------------------------
* **A partial chain.** The source keeps only the next 8 expiries, and at most 500 contracts per
  expiry (a 500-row expiry is cut: often calls only). GEX, max pain and any total over the
  whole chain are therefore partial for this source; figures that depend on far expiries or
  on the missing puts of a cut expiry must say so.
* **Snapshot and session.** ``snapshot_ts`` is the payload's ``timestamp`` (UTC); the session
  follows the calendar rule (after the close -> that session; before the open, a weekend or a
  holiday -> the previous session). Without ``timestamp``, the close of ``date``.
* **Holiday files.** A file whose ``date`` is not a trading session (the saving job also ran on
  Good Friday 2026-04-03 and Memorial Day 2026-05-25) is not a session's close: its numbers
  differ from the previous session's file, and stored as a later snapshot of that session it
  would replace the real close as the session's default. Every row of such a file is rejected
  with that reason (the file is refused whole, nothing stored).
* **Spot** is ``spot`` (the session close).
* **Rows.** One record per contract; the ``row`` of a reject is the 1-based ordinal of the record
  in the file (JSON has no useful lines), ``column`` the JSON path ``expiries/<expiry>/<key>``.
* **Vendor greeks.** ``volatility`` 0 means "not modelled": ``iv`` is null there. On the expiry
  that settles on the snapshot's own date, the source writes ``volatility`` and greeks of 0
  after the close: there ``delta`` and ``gamma`` are null too (not zero exposure).
  ``lastPrice`` 0 means no sale (``last`` null); a bid or ask of 0 is kept (no bid / no offer).
* **Roots.** No root is given. Every expiry is the PM-settled weekly root ``SPXW`` except the
  standard monthly (third Friday, holiday-shifted), which the source lists as up to two runs of
  contracts, one per root (SPX AM-settled and SPXW), the second run starting at the first
  (strike, right) seen again in the list. The first run is taken as ``SPX`` and the second as
  ``SPXW``, except on the monthly's own expiry day, where a run that traded (volume > 0) is
  ``SPXW`` (AM-settled SPX stops trading the day before it settles). Which run is which is not
  stated by the source: this is chainlens's reading, checked on 2026-02-20 and 2026-03-20.
  A (strike, right) repeated within one run is rejected as a duplicate contract (shared rule).
* ``underlying`` is ``SPX`` (the ``symbol``/``ticker`` key when present), ``multiplier`` 100.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    parse_float,
    session_close_utc,
    session_of_snapshot,
    settlement_of_roots,
)

__all__ = ["FORMAT", "looks_like", "read"]

FORMAT = "barchart_json"

#: The keys of a contract record that chainlens reads (the others are ignored).
_FIELDS = (
    "strikePrice",
    "optionType",
    "bidPrice",
    "askPrice",
    "lastPrice",
    "volume",
    "openInterest",
    "volatility",
    "delta",
    "gamma",
    "expirationDate",
)
_WEEKLY_ROOT = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW"}


def looks_like(path: Path) -> bool:
    """True when the file starts like ``{..."expiries": {...: [{"strikePrice": ...``."""
    with open(path, "rb") as fh:
        head = fh.read(8192).decode("utf-8", errors="replace")
    return '"expiries"' in head and '"strikePrice"' in head and '"optionType"' in head


def _load(path: Path) -> dict[str, Any]:
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
    if not isinstance(doc, dict) or not isinstance(doc.get("expiries"), dict):
        raise InputError(
            "JSON is not a Barchart snapshot ({date, spot, timestamp, expiries})", path=path
        )
    return doc


def _records(path: Path, recs: list[object]) -> pa.StructArray:
    """A list of contract records as a struct array (C++ conversion; text fallback)."""
    try:
        arr = pa.array(recs)
        if pa.types.is_struct(arr.type):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    # Mixed or odd value types: every field as text, parsed (and rejected) row by row below.
    cols = {}
    for f in _FIELDS:
        vals = [r.get(f) if isinstance(r, dict) else None for r in recs]
        cols[f] = pa.array([None if v is None else str(v) for v in vals], pa.string())
    return pa.StructArray.from_arrays(list(cols.values()), names=list(cols))


def _field(arr: pa.StructArray, name: str) -> pa.Array:
    if name in [arr.type.field(i).name for i in range(arr.type.num_fields)]:
        return arr.field(name)
    return pa.nulls(len(arr), pa.string())


def _num(a: pa.Array, column: str, probs: list[Problem], *, required: bool = False) -> pa.Array:
    """A numeric JSON field as float64; text, booleans or objects are parse problems."""
    if pa.types.is_integer(a.type) or pa.types.is_floating(a.type):
        out = pc.cast(a, pa.float64())
        if required and out.null_count:
            probs.append(
                Problem(out.is_null().to_numpy(zero_copy_only=False), column, a, "missing value")
            )
        return out
    if pa.types.is_null(a.type):
        out = pa.nulls(len(a), pa.float64())
        if required and len(a):
            probs.append(Problem(np.ones(len(a), dtype=bool), column, None, "missing value"))
        return out
    if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
        return parse_float(a, column, probs, required=required)
    # booleans, nested objects: not numbers
    txt = pa.array([None if v is None else json.dumps(v) for v in a.to_pylist()], pa.string())
    probs.append(Problem(a.is_valid().to_numpy(zero_copy_only=False), column, txt, "not a number"))
    return pa.nulls(len(a), pa.float64())


def _count(a: pa.Array, column: str, probs: list[Problem]) -> pa.Array:
    """A non-negative whole count (volume, OI) as int64; fractions are problems."""
    f = _num(a, column, probs)
    frac = pc.fill_null(pc.not_equal(pc.floor(f), f), False).to_numpy(zero_copy_only=False)
    if frac.any():
        probs.append(Problem(frac, column, pc.cast(f, pa.string()), "not a whole number"))
    return pc.cast(pc.if_else(pa.array(frac), pa.scalar(None, pa.float64()), f), pa.int64())


def _monthly_roots(
    strike: np.ndarray,
    is_call: np.ndarray,
    volume: np.ndarray,
    expiry_day: bool,
    am_root: str,
    pm_root: str,
) -> np.ndarray:
    """Root per row of a standard-monthly expiry list (see the module docstring)."""
    n = len(strike)
    key = np.round(np.nan_to_num(strike) * 1000.0).astype(np.int64) * 2 + is_call
    _, first = np.unique(key, return_index=True)
    seen_before = np.ones(n, dtype=bool)
    seen_before[first] = False
    second_from = int(np.flatnonzero(seen_before)[0]) if seen_before.any() else n
    run2 = np.arange(n) >= second_from
    roots = np.where(run2, pm_root, am_root).astype(object)
    if expiry_day:
        v1 = float(np.nansum(volume[~run2]))
        v2 = float(np.nansum(volume[run2]))
        if v1 > 0 and not v2 > 0:  # the first run traded on its settlement day: PM
            roots = np.where(run2, am_root, pm_root).astype(object)
    return roots


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Read one Barchart snapshot (one batch; the files are ~4,000 contracts)."""
    del batch_rows
    path = Path(path)
    doc = _load(path)
    ticker = str(doc.get("symbol") or doc.get("ticker") or "SPX").strip().upper().lstrip("$^_")
    date_txt = doc.get("date")
    try:
        file_date = dt.date.fromisoformat(str(date_txt)) if date_txt is not None else None
    except ValueError:
        raise InputError(
            f"'date' is not a date like 2026-02-20: {date_txt!r}", path=path, column="date"
        ) from None
    ts_txt = doc.get("timestamp")
    if ts_txt is not None:
        try:
            snap = dt.datetime.fromisoformat(str(ts_txt).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"'timestamp' is not an ISO date-time: {ts_txt!r}", path=path, column="timestamp"
            ) from None
        snap = snap.replace(tzinfo=dt.UTC) if snap.tzinfo is None else snap.astimezone(dt.UTC)
        session, _phase = session_of_snapshot(snap)
    elif file_date is not None:
        from chainlens import calendar as cal

        session = cal.session_on_or_before(file_date)
        snap = session_close_utc(session)
    else:
        raise InputError("neither 'timestamp' nor 'date' in the snapshot", path=path)
    spot_v = doc.get("spot")
    spot = (
        float(spot_v) if isinstance(spot_v, int | float) and not isinstance(spot_v, bool) else None
    )
    if spot is None or not np.isfinite(spot) or spot <= 0:
        raise InputError(f"'spot' is not a positive number: {spot_v!r}", path=path, column="spot")
    holiday = None
    if file_date is not None:
        from chainlens import calendar as cal

        if not cal.is_session(file_date):
            holiday = (
                f"taken on {file_date}, not a trading session (exchange holiday): not a "
                f"session's close; refused so it cannot replace session "
                f"{cal.session_on_or_before(file_date)}'s own snapshot"
            )

    sink = RejectSink(path)
    dups = DuplicateTracker()
    tables: list[pa.Table] = []
    rows_read = 0
    ordinal = 0
    for exp_key, recs in doc["expiries"].items():
        col = f"expiries/{exp_key}"
        if not isinstance(recs, list):
            ordinal += 1
            rows_read += 1
            sink.add(
                [ordinal], column=col, values=[str(recs)[:80]], reason="not a list of contracts"
            )
            continue
        n = len(recs)
        if n == 0:
            continue
        lines = np.arange(ordinal + 1, ordinal + n + 1, dtype=np.int64)
        ordinal += n
        rows_read += n
        if holiday is not None:
            sink.add(lines, column="date", values=[str(date_txt)] * n, reason=holiday)
            continue
        arr = _records(path, recs)
        probs: list[Problem] = []
        exp_txt = _field(arr, "expirationDate")
        if not pa.types.is_string(exp_txt.type):
            exp_txt = pc.cast(exp_txt, pa.string())
        exp_txt = pc.fill_null(exp_txt, str(exp_key))
        expiry = pc.cast(
            pc.strptime(exp_txt, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32()
        )
        bad_e = expiry.is_null().to_numpy(zero_copy_only=False)
        if bad_e.any():
            probs.append(
                Problem(bad_e, f"{col}/expirationDate", exp_txt, "not a date like 2026-02-20")
            )
        strike = _num(_field(arr, "strikePrice"), f"{col}/strikePrice", probs, required=True)
        typ = _field(arr, "optionType")
        typ = pc.cast(typ, pa.string()) if not pa.types.is_string(typ.type) else typ
        right = pc.if_else(
            pc.equal(typ, "Call"),
            "C",
            pc.if_else(pc.equal(typ, "Put"), "P", pa.scalar(None, pa.string())),
        )
        bad_r = pc.fill_null(pc.is_null(right), True).to_numpy(zero_copy_only=False)
        if bad_r.any():
            probs.append(Problem(bad_r, f"{col}/optionType", typ, "optionType must be Call or Put"))
        bid = _num(_field(arr, "bidPrice"), f"{col}/bidPrice", probs)
        ask = _num(_field(arr, "askPrice"), f"{col}/askPrice", probs)
        last = _num(_field(arr, "lastPrice"), f"{col}/lastPrice", probs)
        last = pc.if_else(
            pc.fill_null(pc.equal(last, 0.0), False), pa.scalar(None, pa.float64()), last
        )
        vol = _count(_field(arr, "volume"), f"{col}/volume", probs)
        oi = _count(_field(arr, "openInterest"), f"{col}/openInterest", probs)
        iv = _num(_field(arr, "volatility"), f"{col}/volatility", probs)
        delta = _num(_field(arr, "delta"), f"{col}/delta", probs)
        gamma = _num(_field(arr, "gamma"), f"{col}/gamma", probs)
        unmodelled = pc.fill_null(pc.equal(iv, 0.0), False)
        expiring = pc.fill_null(pc.equal(expiry, pa.scalar(session, pa.date32())), False)
        dead = pc.and_(unmodelled, expiring)
        null_f = pa.scalar(None, pa.float64())
        iv = pc.if_else(unmodelled, null_f, iv)
        delta = pc.if_else(dead, null_f, delta)
        gamma = pc.if_else(dead, null_f, gamma)

        # Roots (module docstring): SPXW everywhere but the standard monthly.
        exp_np = np.array(
            pc.fill_null(expiry, dt.date(2000, 1, 1)).to_numpy(zero_copy_only=False),
            dtype="datetime64[D]",
        )
        pm_root = _WEEKLY_ROOT.get(ticker, ticker)
        roots = np.full(n, pm_root, dtype=object)
        if ticker in _WEEKLY_ROOT:
            from chainlens import calendar as cal

            e0 = exp_np[0].astype(dt.date)
            monthly = cal.standard_monthly_expiry(e0.year, e0.month)
            is_m = exp_np == np.datetime64(monthly, "D")
            if is_m.any():
                idx = np.flatnonzero(is_m)
                roots[idx] = _monthly_roots(
                    strike.to_numpy(zero_copy_only=False)[idx],
                    (pc.fill_null(pc.equal(right, "C"), False).to_numpy(zero_copy_only=False))[idx],
                    vol.to_numpy(zero_copy_only=False).astype(float)[idx],
                    monthly == session,
                    ticker,
                    pm_root,
                )
        root = pa.array(roots.tolist(), pa.string())
        okv = pa.array(~(bad_e | bad_r) & ~strike.is_null().to_numpy(zero_copy_only=False))
        sym = format_osi(
            root,
            pc.if_else(okv, expiry, pa.scalar(dt.date(2000, 1, 1), pa.date32())),
            pc.if_else(okv, right, pa.scalar("C")),
            pc.if_else(okv, strike, pa.scalar(1.0)),
        )
        cols = {
            "trade_date": pa.array([session] * n, pa.date32()),
            "snapshot_ts": pa.array([snap] * n, pa.timestamp("ns", tz="UTC")),
            "underlying": pa.array([conventions.underlying_of_root(ticker)] * n, pa.string()),
            "root": root,
            "symbol": sym,
            "expiry": expiry,
            "settlement": settlement_of_roots(root),
            "strike": strike,
            "right": right,
            "multiplier": pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32)),
            "bid": bid,
            "ask": ask,
            "last": last,
            "volume": vol,
            "open_interest": oi,
            "iv": iv,
            "delta": delta,
            "gamma": gamma,
            "spot": pa.array(np.full(n, spot)),
        }
        names = {
            "expiry": f"{col}/expirationDate",
            "strike": f"{col}/strikePrice",
            "right": f"{col}/optionType",
            "bid": f"{col}/bidPrice",
            "ask": f"{col}/askPrice",
            "last": f"{col}/lastPrice",
            "volume": f"{col}/volume",
            "open_interest": f"{col}/openInterest",
            "iv": f"{col}/volatility",
            "delta": f"{col}/delta",
            "gamma": f"{col}/gamma",
            "symbol": f"{col} (strikePrice, optionType)",
        }
        tables.append(finalize(Candidate("chain", cols, lines, probs, names), sink, dups))
    from chainlens.schema import CHAIN

    table = pa.concat_tables(tables) if tables else CHAIN.empty_table()
    yield AdapterResult("chain", table, sink.take(), rows_read, FORMAT, path)
