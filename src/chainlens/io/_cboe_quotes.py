"""Cboe delayed quote-table CSV ("Download CSV" on cboe.com) -> ``chain``.

Layout (``data/SOURCES.md``): an optional blank/commas line, then ``<name>,Last: <spot>,...``,
then ``Date: <timestamp in the downloader's locale>,Bid: ...``, then the header
``Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,Puts,...``
(call fields | strike | put fields). Each data line holds one call and one put.

Choices (documented for users)
------------------------------
* **Rows.** A file line yields two contracts, so it counts as 2 rows in ``rows_read``; a
  malformed line gives 2 rejects citing that line.
* **Snapshot and session.** ``snapshot_ts`` is the date line converted to UTC (``EDT``/``EST``,
  ``UTC-4``/``GMT-5`` with an ASCII or Unicode minus; without a zone, US/Eastern). The session
  follows the calendar rule: after the close -> that session; before the open, a weekend or a
  holiday -> the previous session; during it -> that session. The date line is what we read:
  file names are not data (a file whose name says otherwise still gets its date line's session).
  A date line without a 4-digit year gets the year that puts it nearest to the earliest expiry.
* **Spot** is the ``Last:`` value of line 2.
* **Vendor greeks.** Cboe writes IV 0 on contracts it did not model; where ``IV == 0`` the
  contract's ``iv`` is null. Its ``delta`` and ``gamma`` are kept as written (deep ITM
  contracts carry real deltas beside IV 0), so vendor sums equal the file's hand sums. Files without
  IV/Delta/Gamma columns give null greeks.
* ``Last Sale`` 0 means no sale: ``last`` is null there. Bid 0 is a real "no bid" and kept.
* **Roots.** From the OSI symbol (SPX and SPXW, NDX and NDXP in one file); ``underlying`` from
  ``conventions.underlying_of_root``; ``settlement`` from the root; ``multiplier`` 100.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

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
    iter_csv_blocks,
    parse_float,
    parse_int,
    parse_osi,
    read_head_lines,
    reject_bad_lines,
    session_of_snapshot,
    settlement_of_roots,
    strptime_strict,
    underlying_of_roots,
)

__all__ = ["FORMAT", "looks_like", "parse_date_line", "read"]


def _mix64(h: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014), in place on uint64."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


class _NumpyKeyHash(DuplicateTracker):
    """The shared duplicate tracker with a NumPy 64-bit key hash instead of Polars'.

    Importing Polars only to hash one column costs ~0.15 CPU s (0.3 s wall) of
    ``chainlens analyze`` start-up. The symbol's UTF-8 bytes, zero-padded to 8-byte words,
    are folded word by word through the SplitMix64 finaliser together with the length, then
    mixed with the snapshot instant as in :meth:`DuplicateTracker.hash_keys`; collision odds
    stay about n^2 / 2^65.
    """

    @staticmethod
    def hash_keys(snapshot_ts: pa.Array, symbol: pa.Array) -> np.ndarray:
        sym = pc.cast(symbol, pa.string())
        if isinstance(sym, pa.ChunkedArray):
            sym = sym.combine_chunks()
        n = len(sym)
        ts = pc.cast(snapshot_ts, pa.int64()).to_numpy(zero_copy_only=False).astype(np.uint64)
        if n == 0:
            return ts
        offsets = np.frombuffer(sym.buffers()[1], dtype=np.int32)[sym.offset : sym.offset + n + 1]
        data_buf = sym.buffers()[2]
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)
            if data_buf is not None
            else np.zeros(0, np.uint8)
        )
        lens = np.diff(offsets).astype(np.int64)
        width = max(8, int(-(-int(lens.max(initial=0)) // 8) * 8))
        pos = offsets[:-1, None].astype(np.int64) + np.arange(width)[None, :]
        inside = np.arange(width)[None, :] < lens[:, None]
        if data.size:
            raw = np.where(inside, data[np.minimum(pos, data.size - 1)], 0).astype(np.uint8)
        else:
            raw = np.zeros((n, width), np.uint8)
        words = np.ascontiguousarray(raw).view("<u8")  # (n, width / 8)
        with np.errstate(over="ignore"):
            h = lens.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(7)
            for j in range(words.shape[1]):  # a few words per symbol (OSI: 21 bytes)
                h = _mix64(h ^ words[:, j])
            valid = sym.is_valid().to_numpy(zero_copy_only=False)
            h = np.where(valid, h, np.uint64(0x5555555555555555))
            return h ^ (ts * np.uint64(0x9E3779B97F4A7C15))


FORMAT = "cboe_quotes"

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "january enero janvier januar gennaio janeiro января январь янв jan ene janv",
        "february febrero février fevrier februar febbraio fevereiro февраля февраль фев feb febr févr fevr",
        "march marzo mars märz marz março marco марта март мар mar",
        "april abril avril aprile апреля апрель апр apr abr avr",
        "may mayo mai maggio maio мая май",
        "june junio juin juni giugno junho июня июнь июн jun juin",
        "july julio juillet juli luglio julho июля июль июл jul juil",
        "august agosto août aout августа август авг aug ago",
        "september septiembre septembre settembre setembro сентября сентябрь сен sep sept set",
        "october octubre octobre oktober ottobre outubro октября октябрь окт oct okt out",
        "november noviembre novembre novembro ноября ноябрь ноя nov",
        "december diciembre décembre decembre dezember dicembre dezembro декабря декабрь дек dec dic déc dez",
    ],
    start=1,
):
    for _n in _names.split():
        _MONTHS.setdefault(_n, _i)

_TZ_ABBR = {"edt": -4, "est": -5, "cdt": -5, "cst": -6, "utc": 0, "gmt": 0, "z": 0}
_TIME_RE = re.compile(r"(\d{1,2})[:h](\d{2})(?::(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?)?", re.I)
_OFFSET_RE = re.compile(r"\b(?:utc|gmt)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.I)


def parse_date_line(text: str, *, year_hint: dt.date | None = None) -> dt.datetime:
    """Parse a Cboe ``Date: ...`` line (any of the locales seen) to an aware UTC datetime.

    Handles English, Spanish, French, Russian (and German/Italian/Portuguese) month names,
    12/24-hour clocks, ``EDT``/``EST`` and ``UTC-4``/``GMT-5`` zones (ASCII or Unicode minus).
    Without a zone, US/Eastern local time is assumed. Without a 4-digit year, the year whose
    date is nearest ``year_hint`` (the earliest expiry) is used.

    Examples
    --------
    >>> parse_date_line("Date: 6 April 2023, 21:31 UTC\u22124").isoformat()
    '2023-04-07T01:31:00+00:00'
    >>> parse_date_line('"Date: August 20, 2023 at 10:35 PM EDT"').isoformat()
    '2023-08-21T02:35:00+00:00'
    """
    s = (
        text.replace("\u2212", "-")
        .replace("\u2013", "-")
        .replace("\xa0", " ")
        .strip()
        .strip('"')
        .strip()
    )
    s = re.sub(r"(?i)^date\s*:\s*", "", s).strip().strip('"').lower()
    m = _TIME_RE.search(s)
    if m is None:
        raise ValueError(f"no time of day in date line {text!r}")
    hh, mm = int(m.group(1)), int(m.group(2))
    ampm = (m.group(4) or "").replace(".", "").replace(" ", "")
    if ampm == "pm" and hh < 12:
        hh += 12
    elif ampm == "am" and hh == 12:
        hh = 0
    date_part, zone_part = s[: m.start()], s[m.end() :]
    offset_h: float | None = None
    om = _OFFSET_RE.search(zone_part)
    if om:
        offset_h = int(om.group(2)) + int(om.group(3) or 0) / 60
        if om.group(1) == "-":
            offset_h = -offset_h
    else:
        for tok in re.findall(r"[a-z]+", zone_part):
            if tok in _TZ_ABBR:
                offset_h = float(_TZ_ABBR[tok])
                break
    month = None
    for tok in re.findall(r"[^\W\d_]+\.?", date_part):
        tok = tok.rstrip(".")
        if tok in _MONTHS:
            month = _MONTHS[tok]
            break
        if len(tok) >= 3 and tok[:3] in _MONTHS and tok not in ("de", "at", "г"):
            month = _MONTHS[tok[:3]]
            break
    if month is None:
        raise ValueError(f"no month name in date line {text!r}")
    nums = [int(x) for x in re.findall(r"\d+", date_part)]
    years = [x for x in nums if x >= 1000]
    days = [x for x in nums if 1 <= x <= 31]
    if not days:
        raise ValueError(f"no day of month in date line {text!r}")
    day = days[0]
    if years:
        year = years[0]
    elif year_hint is not None:
        cands = []
        for y in (year_hint.year - 1, year_hint.year, year_hint.year + 1):
            try:
                cands.append(dt.date(y, month, day))
            except ValueError:
                continue
        year = min(cands, key=lambda d: abs((d - year_hint).days)).year
    else:
        raise ValueError(f"no year in date line {text!r}")
    local = dt.datetime(year, month, day, hh, mm)
    if offset_h is None:
        aware = local.replace(tzinfo=ZoneInfo(conventions.EXCHANGE_TZ))
    else:
        aware = local.replace(tzinfo=dt.timezone(dt.timedelta(hours=offset_h)))
    return aware.astimezone(dt.UTC)


def looks_like(head: list[str]) -> bool:
    """True for a Cboe quote table: a ``Last:`` line, a ``Date:`` line and the header."""
    has_last = any(re.search(r'(^|,)"?Last:', ln) for ln in head[:4])
    has_hdr = any(ln.startswith("Expiration Date,Calls") for ln in head[:6])
    return has_last and has_hdr


def _preamble(path: Path) -> tuple[int, float, str, list[str], int]:
    head = read_head_lines(path, 8)
    hdr = next((i for i, ln in enumerate(head) if ln.startswith("Expiration Date,")), None)
    if hdr is None:
        raise InputError(
            "no 'Expiration Date,Calls,...' header in the first lines", path=path, row=1
        )
    last_i = next((i for i, ln in enumerate(head[:hdr]) if "Last:" in ln), None)
    date_i = next((i for i, ln in enumerate(head[:hdr]) if "Date:" in ln), None)
    if last_i is None:
        raise InputError("no 'Last: <spot>' line before the header", path=path, row=1)
    if date_i is None:
        raise InputError("no 'Date: ...' line before the header", path=path, row=1)
    # the whole field must be the number (``1 056.5`` or ``105.6x`` is refused, not cut short);
    # a thousands comma only between digit groups, an exponent allowed (``1.056e2``)
    m = re.search(
        r"Last:\s*([-+]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?|[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
        r"(?:[eE][-+]?[0-9]+)?)\s*(?:,|\"|$)",
        head[last_i],
    )
    try:
        spot = float(m.group(1).replace(",", "")) if m else float("nan")
    except ValueError:
        spot = float("nan")
    if not np.isfinite(spot) or spot <= 0:
        raise InputError(
            "spot ('Last:') is not a positive number", path=path, row=last_i + 1, column="Last"
        )
    date_text = head[date_i]
    cut = date_text.find(",Bid:")
    date_text = date_text[:cut] if cut >= 0 else date_text
    header = [h.strip() for h in head[hdr].split(",")]
    while header and header[-1] == "":
        header.pop()
    return hdr + 1, spot, date_text, header, date_i + 1


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Read a Cboe quote table (one snapshot; streamed by blocks of lines)."""
    header_line, spot, date_text, header, date_row = _preamble(path)
    try:
        s_idx = header.index("Strike")
        side_names = header[:s_idx], header[s_idx + 1 :]
    except ValueError:
        raise InputError("header has no 'Strike' column", path=path, row=header_line) from None
    calls = {name: i for i, name in enumerate(side_names[0]) if i > 0}
    puts = {name: s_idx + 1 + i for i, name in enumerate(side_names[1])}
    calls_sym = side_names[0].index("Calls") if "Calls" in side_names[0] else None
    if calls_sym is None or "Puts" not in puts:
        raise InputError("header needs 'Calls' and 'Puts' columns", path=path, row=header_line)
    need = ("Bid", "Ask", "Volume", "Open Interest")
    for name in need:
        if name not in calls or name not in puts:
            raise InputError(
                f"header has no {name!r} column on both sides", path=path, row=header_line
            )
    n_fields = len(header)
    sink = RejectSink(path)
    dups = _NumpyKeyHash()
    snapshot: dt.datetime | None = None
    session: dt.date | None = None
    block_bytes = max(1 << 16, batch_rows * 60)
    for block in iter_csv_blocks(
        path, header_line=header_line, n_fields=n_fields, block_bytes=block_bytes
    ):
        bad_rows = reject_bad_lines(block, sink, per_line=2)
        f = block.fields
        if snapshot is None:
            exp0 = strptime_strict(f[0], "%a %b %d %Y")
            mn = pc.min(exp0).as_py()
            try:
                snapshot = parse_date_line(date_text, year_hint=mn.date() if mn else None)
            except ValueError as e:
                raise InputError(
                    f"cannot read the date line: {e}", path=path, row=date_row, column="Date"
                ) from None
            session, _phase = session_of_snapshot(snapshot)
        n = len(block.line)
        parts = []
        for side, cols, right in (("calls", calls, "C"), ("puts", puts, "P")):
            probs: list[Problem] = []
            sym_i = 1 if side == "calls" else puts["Puts"]
            sym = f[sym_i]
            exp_txt = f[0]
            expiry_col = pc.cast(
                strptime_strict(exp_txt, "%a %b %d %Y"),
                pa.date32(),
            )
            bad_exp = expiry_col.is_null().to_numpy(zero_copy_only=False)
            if bad_exp.any():
                probs.append(
                    Problem(
                        bad_exp, "Expiration Date", exp_txt, "not a date like 'Fri Sep 15 2023'"
                    )
                )
            strike = parse_float(f[s_idx], "Strike", probs, required=True)
            bid = parse_float(f[cols["Bid"]], f"Bid ({side})", probs)
            ask = parse_float(f[cols["Ask"]], f"Ask ({side})", probs)
            last = (
                parse_float(f[cols["Last Sale"]], f"Last Sale ({side})", probs)
                if "Last Sale" in cols
                else None
            )
            if last is not None:  # Cboe writes 0 where there was no sale
                last = pc.if_else(
                    pc.fill_null(pc.equal(last, 0.0), False), pa.scalar(None, pa.float64()), last
                )
            vol = parse_int(f[cols["Volume"]], f"Volume ({side})", probs)
            oi = parse_int(f[cols["Open Interest"]], f"Open Interest ({side})", probs)
            greeks = {}
            for g, name in (("iv", "IV"), ("delta", "Delta"), ("gamma", "Gamma")):
                greeks[g] = (
                    parse_float(f[cols[name]], f"{name} ({side})", probs)
                    if name in cols
                    else pa.nulls(n, pa.float64())
                )
            if "IV" in cols:
                # IV 0 means "not modelled": the IV is null, but the vendor's delta and gamma
                # are kept as written (ITM contracts carry real greeks beside IV 0), so that
                # vendor GEX equals the hand sum of the file.
                unmodelled = pc.fill_null(pc.equal(greeks["iv"], 0.0), False)
                greeks["iv"] = pc.if_else(unmodelled, pa.scalar(None, pa.float64()), greeks["iv"])
            osi = parse_osi(sym)
            root = pc.fill_null(osi["root"], "")
            cols_out = {
                "trade_date": pa.array([session] * n, pa.date32()),
                "snapshot_ts": pa.array([snapshot] * n, pa.timestamp("ns", tz="UTC")),
                "underlying": underlying_of_roots(root),
                "root": root,
                "symbol": sym,
                "expiry": expiry_col,
                "settlement": settlement_of_roots(root),
                "strike": strike,
                "right": pa.array([right] * n, pa.string()),
                "multiplier": pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32)),
                "bid": bid,
                "ask": ask,
                "last": last if last is not None else pa.nulls(n, pa.float64()),
                "volume": vol,
                "open_interest": oi,
                **greeks,
                "spot": pa.array(np.full(n, spot)),
            }
            names = {
                "symbol": "Calls" if side == "calls" else "Puts",
                "expiry": "Expiration Date",
                "strike": "Strike",
                "bid": f"Bid ({side})",
                "ask": f"Ask ({side})",
                "volume": f"Volume ({side})",
                "open_interest": f"Open Interest ({side})",
            }
            parts.append(Candidate("chain", cols_out, block.line.copy(), probs, names))
        tables = [finalize(c, sink, dups) for c in parts]
        table = pa.concat_tables(tables)
        rej = sink.take()
        yield AdapterResult(
            kind="chain",
            table=table,
            rejects=rej,
            rows_read=2 * n + bad_rows,
            format=FORMAT,
            source=path,
        )
