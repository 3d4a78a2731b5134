"""OCC open-interest history JSON -> OI-only ``chain`` snapshots (one per pull).

Layout: ``{"ticker", "updated_at", "closes": {pull: close}, "days": {pull: {expiry: {strike:
{"call_oi", "put_oi"}}}}}`` with pulls keyed ``"D-M"`` (no year).

Choices (documented for users)
------------------------------
* **Year of a pull.** The year that puts ``D-M`` nearest ``updated_at`` (else nearest the
  earliest expiry).
* **Session of a pull.** Pull ``D`` is the snapshot of session ``D``: per SPEC "Open-interest
  timing" its OI is OCC's figure published before session ``D`` opened (positions at the end
  of the previous session), and ``closes[D]`` is session ``D``'s close, used as ``spot``;
  ``snapshot_ts`` is the close of ``D``.
* **The last pull.** The source writes a pull for the *next* session before it trades: its
  close repeats the previous pull's close exactly (seen in every file). Its OI is new (OCC's
  figure published before that session opens), so its rows are kept as session ``D``'s OI, with
  ``snapshot_ts`` = the open of ``D`` and ``spot`` null (``D``'s price was not known at the pull).
  A pull whose OI is identical to the previous pull's is a pure repeat: its rows are rejected
  with the reason ``"pull repeats the previous pull"``.
* **Rows.** A leaf record ``{call_oi, put_oi}`` holds two contracts: it counts as 2 rows. The
  ``row`` of a reject is the 1-based ordinal of the leaf record in the file (JSON has no useful
  lines); ``column`` names the JSON path ``days/<pull>/<expiry>/<strike>/<call_oi|put_oi>``.
* **Roots.** Index tickers list weeklies and monthlies together. For SPX, NDX and RUT, the
  standard monthly expiry (third Friday, holiday-shifted) gets the AM-settled root (SPX, NDX,
  RUT) and every other date the PM root (SPXW, NDXP, RUTW); for VIX, the monthly (Wednesday
  30 days before the next month's third Friday) gets VIX and the others VIXW. Other tickers use
  the ticker as root. ``bid``/``ask``/``last``/``volume``/greeks are null.
"""

from __future__ import annotations

import datetime as dt
import json
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
    session_close_utc,
    settlement_of_roots,
    strptime_strict,
)

__all__ = ["FORMAT", "looks_like", "read"]

FORMAT = "occ_oi_json"

_WEEKLY_ROOT = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW", "VIX": "VIXW"}


def looks_like(path: Path) -> bool:
    """True when the file starts like ``{"ticker": ..., "closes"|"days": ...}``."""
    with open(path, "rb") as fh:
        head = fh.read(4096).decode("utf-8", errors="replace")
    return '"ticker"' in head and ('"days"' in head or '"closes"' in head)


def _year_for(day: int, month: int, anchor: dt.date) -> int:
    best = None
    for y in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            d = dt.date(y, month, day)
        except ValueError:
            continue
        if best is None or abs((d - anchor).days) < abs((best - anchor).days):
            best = d
    if best is None:
        raise ValueError(f"{day}-{month} is not a date")
    return best.year


def _monthly_mask(ticker: str, expiry: np.ndarray) -> np.ndarray:
    """True where ``expiry`` (datetime64[D]) is the AM-settled monthly of an index ticker."""
    from chainlens import calendar as cal

    ys = expiry.astype("datetime64[Y]").astype(int) + 1970
    ms = expiry.astype("datetime64[M]").astype(int) % 12 + 1
    out = np.zeros(len(expiry), dtype=bool)
    for y, m in set(zip(ys.tolist(), ms.tolist(), strict=True)):  # one per distinct month
        if ticker == "VIX":
            monthly = cal.vix_monthly_expiry(y, m)
        else:
            monthly = cal.standard_monthly_expiry(y, m)
        out |= expiry == np.datetime64(monthly, "D")
    return out


def _open_utc(session: dt.date) -> dt.datetime:
    try:
        from chainlens import calendar as cal

        return cal.session_open(session)
    except Exception:
        from zoneinfo import ZoneInfo

        return dt.datetime.combine(
            session, conventions.AM_SETTLE_TIME, ZoneInfo(conventions.EXCHANGE_TZ)
        )


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Read an OCC OI history file: one batch per pull (a pull is one snapshot)."""
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError("non-UTF-8 bytes in JSON", path=path, row=line) from None
    except json.JSONDecodeError as e:
        raise InputError(
            f"not valid JSON ({e.msg})", path=path, row=e.lineno, column=f"char {e.colno}"
        ) from None
    except RecursionError:
        raise InputError("JSON nested too deeply to be an OCC OI history", path=path) from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("days"), dict)
        or not isinstance(doc.get("ticker"), str)
    ):
        raise InputError("JSON is not an OCC OI history ({ticker, closes, days})", path=path)
    ticker = doc["ticker"].strip().upper().lstrip("^")
    closes = doc.get("closes") or {}
    if not isinstance(closes, dict):
        raise InputError(
            "'closes' must be an object of pull date -> underlying close ({\"10-8\": 773.03})",
            path=path,
            column="closes",
            value=str(closes)[:80],
        )
    anchor = None
    if isinstance(doc.get("updated_at"), str):
        try:
            anchor = dt.datetime.fromisoformat(doc["updated_at"].replace("Z", "+00:00")).date()
        except ValueError:
            anchor = None
    sink = RejectSink(path)
    dups = DuplicateTracker()
    leaf_no = 0
    prev_days: object = None
    prev_close: object = None
    for pull, exps in doc["days"].items():
        # Flatten the pull's leaves (one pass over the parsed JSON).
        ex_l: list[object] = []
        k_l: list[object] = []
        c_l: list[object] = []
        p_l: list[object] = []
        if isinstance(exps, dict):
            for exp, strikes in exps.items():
                if not isinstance(strikes, dict):
                    ex_l.append(exp)
                    k_l.append(None)
                    c_l.append(None)
                    p_l.append(None)
                    continue
                for k, leaf in strikes.items():
                    ex_l.append(exp)
                    k_l.append(k)
                    c_l.append(leaf.get("call_oi") if isinstance(leaf, dict) else None)
                    p_l.append(leaf.get("put_oi") if isinstance(leaf, dict) else None)
        n = len(ex_l)
        first = leaf_no + 1
        leaf_no += n
        lines = np.arange(first, first + n, dtype=np.int64)
        rows_read = 2 * n
        # Session of the pull.
        try:
            d_s, m_s = (int(x) for x in pull.split("-"))
            if anchor is None:
                exp_years = [e for e in ex_l[:1]]
                anchor = dt.date.fromisoformat(str(exp_years[0])) if exp_years else dt.date.today()
            session = dt.date(_year_for(d_s, m_s, anchor), m_s, d_s)
        except (ValueError, TypeError):
            sink.add(
                np.repeat(lines, 2),
                column=f"days/{pull}",
                values=[pull] * (2 * n),
                reason="pull key is not a D-M date",
            )
            prev_days = exps
            yield AdapterResult("chain", _empty(), sink.take(), rows_read, FORMAT, path)
            continue
        close = closes.get(pull)
        if exps == prev_days:
            sink.add(
                np.repeat(lines, 2),
                column=f"days/{pull}",
                values=[pull] * (2 * n),
                reason="pull repeats the previous pull",
            )
            yield AdapterResult("chain", _empty(), sink.take(), rows_read, FORMAT, path)
            continue
        pre_close = close is not None and close == prev_close
        prev_days, prev_close = exps, close
        try:
            snap = _open_utc(session) if pre_close else session_close_utc(session)
        except Exception:
            from zoneinfo import ZoneInfo

            snap = dt.datetime.combine(
                session, conventions.PM_SETTLE_TIME, ZoneInfo(conventions.EXCHANGE_TZ)
            )
        spot = (
            None
            if (pre_close or not isinstance(close, int | float) or isinstance(close, bool))
            else float(close)
        )  # a non-positive close is kept and rejected by the spot rule, naming the rows
        yield _pull_batch(
            path,
            sink,
            dups,
            ticker,
            pull,
            session,
            snap,
            spot,
            ex_l,
            k_l,
            c_l,
            p_l,
            lines,
            rows_read,
        )


def _empty() -> pa.Table:
    from chainlens.schema import CHAIN

    return CHAIN.empty_table()


def _pull_batch(
    path, sink, dups, ticker, pull, session, snap, spot, ex_l, k_l, c_l, p_l, lines, rows_read
):
    n = len(ex_l)
    probs: list[Problem] = []
    ex_txt = pa.array([str(e) for e in ex_l], pa.string())
    k_txt = pa.array([None if k is None else str(k) for k in k_l], pa.string())
    expiry = pc.cast(strptime_strict(ex_txt, "%Y-%m-%d"), pa.date32())
    strike = pc.cast(
        pc.if_else(
            pc.fill_null(pc.match_substring_regex(k_txt, r"^[0-9]+(\.[0-9]+)?$"), False),
            k_txt,
            pa.scalar(None, pa.string()),
        ),
        pa.float64(),
    )
    bad_e = expiry.is_null().to_numpy(zero_copy_only=False)
    bad_k = strike.is_null().to_numpy(zero_copy_only=False)
    exp_np = np.array(
        expiry.fill_null(dt.date(2000, 1, 1)).to_numpy(zero_copy_only=False), dtype="datetime64[D]"
    )
    if ticker in _WEEKLY_ROOT:
        monthly = _monthly_mask(ticker, exp_np)
        root = pa.array(np.where(monthly, ticker, _WEEKLY_ROOT[ticker]).tolist(), pa.string())
    else:
        root = pa.array([ticker] * n, pa.string())
    k_np = np.nan_to_num(strike.fill_null(0).to_numpy(zero_copy_only=False))
    ok = ~(bad_e | bad_k) & (k_np > 0) & (k_np < 100_000)  # else rejected by the strike rule
    okv = pa.array(ok)
    parts = []
    for right, vals, key in (("C", c_l, "call_oi"), ("P", p_l, "put_oi")):
        p2 = list(probs)
        if bad_e.any():
            p2.append(
                Problem(
                    bad_e, f"days/{pull}/<expiry>", ex_txt, "expiry is not a date like 2026-08-21"
                )
            )
        if bad_k.any():
            p2.append(Problem(bad_k, f"days/{pull}/<strike>", k_txt, "strike is not a number"))
        oi_obj = np.array(vals, dtype=object)
        is_int = np.array(
            [isinstance(v, int) and not isinstance(v, bool) for v in vals], dtype=bool
        )
        oi_txt = pa.array([None if v is None else str(v)[:40] for v in vals], pa.string())
        if (~is_int).any():
            p2.append(Problem(~is_int, key, oi_txt, "open interest is not a whole number"))
        # beyond int64 (10**23): refused here, before the cast could overflow
        huge = np.array(
            [i and not -(2**62) < v < 2**62 for i, v in zip(is_int, vals, strict=True)], dtype=bool
        )
        if huge.any():
            p2.append(Problem(huge, key, oi_txt, "count too large (> 1e10)"))
            is_int &= ~huge
        oi = pa.array(np.where(is_int, oi_obj, 0).astype(np.int64))
        oi = pc.if_else(pa.array(is_int), oi, pa.scalar(None, pa.int64()))
        rt = pa.array([right] * n, pa.string())
        sym = format_osi(
            root,
            pc.if_else(okv, expiry, pa.scalar(dt.date(2000, 1, 1), pa.date32())),
            rt,
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
            "right": rt,
            "multiplier": pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32)),
            "open_interest": oi,
            "spot": pa.array([spot] * n, pa.float64()),
        }
        names = {
            "open_interest": f"days/{pull}/{key}",
            "expiry": f"days/{pull}/<expiry>",
            "strike": f"days/{pull}/<strike>",
        }
        parts.append(Candidate("chain", cols, lines.copy(), p2, names))
    tables = [finalize(c, sink, dups) for c in parts]
    return AdapterResult("chain", pa.concat_tables(tables), sink.take(), rows_read, FORMAT, path)
