"""Databento DBN files of OPRA (``*.dbn`` or ``*.dbn.zst``) -> ``trades`` or ``chain``.

Read with Databento's own ``databento-dbn`` package, streamed: the file is decompressed
(``zstandard``) block by block, each block transcoded by ``databento_dbn.Transcoder`` to CSV
(fixed-point prices, integer nanosecond times, instrument ids mapped to their raw OSI symbols
through the file's symbology) and parsed by Arrow, so memory stays about one batch whatever the
file size and no Python code runs per record.

Schemas (from the file's metadata)
----------------------------------
* ``trades`` -> ``trades`` (``bid``/``ask`` null: that schema carries no book).
* ``tbbo`` -> ``trades`` with the NBBO just before each trade (``bid_px_00``/``ask_px_00``).
* ``statistics`` -> OI-only ``chain`` rows from the open-interest statistics (``stat_type`` 9).
  OPRA publishes OI before the open: a figure published before (or during) session D is
  session D's OI (SPEC "Open-interest timing": positions at the end of D-1); ``snapshot_ts`` is
  the open of D, so the OI of a session is one snapshot. The same figure repeated by several
  publishers is a duplicate contract (the shared rule: the first is kept). Other statistics
  (prices, volumes) are rejected with the reason "not open interest".
* ``mbp-1`` and ``cbbo-*``/``bbo-*`` -> one quote ``chain`` snapshot per session: each contract's
  last top of book, at the last record of the file for that session (``snapshot_ts``). For
  ``mbp-1``, which is per venue, the NBBO is the best bid and best offer over the venues' last
  quotes. Every record but the one kept per contract (and venue) is rejected as "superseded by
  a later quote" so that rows read = accepted + rejected.
* ``definition`` names instruments only; ``ohlcv-*`` and others are not read: such files are
  refused with a message that says what to pass instead. When a file's symbology does not map
  an instrument to an OSI symbol (``parent`` requests), the ``definition`` file in the same
  folder is used for ``raw_symbol``.

Rows and times: the ``row`` of a reject is the 1-based ordinal of the record after the metadata;
times are ``ts_event`` (the venue's), ``ts_recv`` where ``ts_event`` is undefined; prices are the
fixed-point integers / 1e9; the undefined price and size sentinels become null.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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
    parse_osi,
    settlement_of_roots,
    underlying_of_roots,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FORMAT", "looks_like", "read"]

FORMAT = "databento_dbn"

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_UNDEF_PRICE = 2**63 - 1
_UNDEF_TS = 2**64 - 1
_PX_DIVISOR = 1e9
_STAT_OPEN_INTEREST = 9
_READ_BYTES = 4 << 20
_TRADE_SCHEMAS = ("trades", "tbbo")
_QUOTE_PREFIXES = ("mbp-1", "cbbo", "bbo", "tcbbo")
_UINT_COLS = ("ts_recv", "ts_event", "ts_ref")
_INT_COLS = (
    "price",
    "size",
    "quantity",
    "bid_px_00",
    "ask_px_00",
    "sequence",
    "publisher_id",
    "instrument_id",
    "stat_type",
    "strike_price",
    "expiration",
)


def looks_like(path: Path) -> bool:
    """True for DBN (``DBN`` magic), plain or zstd-compressed."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:3] == b"DBN":
        return True
    if head == _ZSTD_MAGIC:
        try:
            with _open(path) as reader:
                return reader.read(3) == b"DBN"
        except Exception:  # not zstd after all, or damaged: not ours
            return False
    return False


def _open(path: Path) -> io.BufferedReader:
    import zstandard

    fh = open(path, "rb")
    if fh.read(4) == _ZSTD_MAGIC:
        fh.seek(0)
        return zstandard.ZstdDecompressor().stream_reader(fh, closefd=True, read_across_frames=True)  # type: ignore[return-value]
    fh.seek(0)
    return fh


def _read_at_least(reader: io.BufferedReader, n: int) -> bytes:
    """At least ``n`` bytes (fewer only at the end of the stream)."""
    parts, got = [], 0
    while got < n:
        b = reader.read(max(n - got, _READ_BYTES))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _metadata(path: Path, head: bytes) -> object:
    import databento_dbn as dbn

    if len(head) < 8 or head[:3] != b"DBN":
        raise InputError("not a DBN stream (no 'DBN' header)", path=path)
    md_len = int.from_bytes(head[4:8], "little")
    if len(head) < 8 + md_len:
        raise InputError("DBN metadata is cut short (a truncated file?)", path=path)
    dec = dbn.DBNDecoder(has_metadata=True)
    dec.write(head[: 8 + md_len])
    try:
        recs = dec.decode()
    except Exception as e:
        raise InputError(f"unreadable DBN metadata ({e})", path=path) from None
    return recs[0]


def _csv_batches(path: Path, batch_rows: int) -> Iterator[tuple[object, pa.Table]]:
    """(metadata, table of raw CSV columns) per ~batch_rows records, streamed."""
    import databento_dbn as dbn

    reader = _open(path)
    try:
        first = _read_at_least(reader, 8)
        if first[:3] == b"DBN":
            first += _read_at_least(reader, 8 + int.from_bytes(first[4:8], "little") - len(first))
        md = _metadata(path, first)
        md_end = 8 + int.from_bytes(first[4:8], "little")
        body_bytes = -md_end  # bytes of records seen (the metadata subtracted)
        rec_len = 0  # length of the first record (DBN: its first byte, in 4-byte words)
        out = io.BytesIO()
        tr = dbn.Transcoder(
            out,
            dbn.Encoding.CSV,  # type: ignore[arg-type]
            dbn.Compression.NONE,  # type: ignore[arg-type]
            pretty_px=False,
            pretty_ts=False,
            map_symbols=True,
            has_metadata=True,
        )
        header: bytes | None = None
        rest = b""
        pending: list[pa.Table] = []
        n_pending = 0
        chunk = first
        while True:
            eof = not chunk
            if chunk and rec_len == 0:
                pos = md_end - (body_bytes + md_end) if body_bytes < 0 else 0
                if body_bytes + len(chunk) > 0 and pos < len(chunk):
                    rec_len = 4 * chunk[max(pos, 0)]
            body_bytes += len(chunk)
            try:
                if chunk:
                    tr.write(chunk)
                tr.flush()
            except Exception as e:
                raise InputError(f"damaged DBN records ({e})", path=path) from None
            data = rest + out.getvalue()
            out.seek(0)
            out.truncate()
            if header is None and b"\n" in data:
                header, data = data.split(b"\n", 1)
                header += b"\n"
            cut = data.rfind(b"\n") + 1
            body, rest = data[:cut], data[cut:]
            if body and header is not None:
                t = _parse_csv(header + body)
                pending.append(t)
                n_pending += t.num_rows
            if pending and (n_pending >= batch_rows or eof):
                yield md, pa.concat_tables(pending)
                pending, n_pending = [], 0
            if eof:
                break
            chunk = reader.read(_READ_BYTES)
        if rest.strip() or (rec_len and body_bytes % rec_len):
            raise InputError(
                f"DBN stream ends inside a record ({body_bytes:,} bytes of records, not a "
                f"multiple of {rec_len}): a truncated file?",
                path=path,
            )
        if header is None:
            yield md, pa.table({})
    finally:
        reader.close()


def _parse_csv(data: bytes) -> pa.Table:
    names = data[: data.index(b"\n")].decode().split(",")
    types: dict[str, pa.DataType] = {c: pa.uint64() for c in _UINT_COLS if c in names}
    types.update({c: pa.int64() for c in _INT_COLS if c in names})
    types.update({c: pa.string() for c in ("symbol", "raw_symbol", "action", "side") if c in names})
    return pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
    )


def _px(t: pa.Table, col: str) -> pa.Array:
    a = t[col].combine_chunks()
    bad = pc.equal(a, _UNDEF_PRICE)
    # divide (not multiply by 1e-9): 240000000 / 1e9 is exactly the double nearest 0.24
    return pc.divide(
        pc.cast(pc.if_else(bad, pa.scalar(None, pa.int64()), a), pa.float64()), _PX_DIVISOR
    )


def _ts(t: pa.Table) -> pa.Array:
    ev = t["ts_event"].combine_chunks() if "ts_event" in t.column_names else None
    rv = t["ts_recv"].combine_chunks() if "ts_recv" in t.column_names else None
    if ev is None and rv is None:
        raise ValueError("no time column")
    if ev is None:
        ts = rv
    elif rv is None:
        ts = ev
    else:
        ts = pc.if_else(pc.equal(ev, pa.scalar(_UNDEF_TS, pa.uint64())), rv, ev)
    ts = pc.if_else(
        pc.equal(ts, pa.scalar(_UNDEF_TS, pa.uint64())), pa.scalar(None, pa.uint64()), ts
    )
    return pc.cast(pc.cast(ts, pa.int64()), pa.timestamp("ns", tz="UTC"))


def _definitions(path: Path) -> dict[int, str]:
    """instrument_id -> raw_symbol from a ``definition`` file beside ``path`` (or {})."""
    out: dict[int, str] = {}
    for f in sorted(path.parent.glob("*definition*.dbn*")):
        if f == path or not looks_like(f):
            continue
        try:
            for _md, t in _csv_batches(f, 1_000_000):
                if {"instrument_id", "raw_symbol"} <= set(t.column_names):
                    ids = t["instrument_id"].to_pylist()
                    syms = t["raw_symbol"].to_pylist()
                    out.update(zip(ids, syms, strict=True))  # one entry per instrument
        except InputError:
            continue
    return out


def _parse_unique(raw: pa.Array) -> tuple[pa.Table, pa.Array, pa.Array]:
    """``parse_osi`` and the compact symbol of each *distinct* raw symbol (a file has far fewer
    contracts than records), then taken back to the rows."""
    enc = pc.dictionary_encode(raw)
    uniq, idx = enc.dictionary, enc.indices
    osi = parse_osi(uniq)
    ok = osi["valid"].combine_chunks()
    root = pc.fill_null(osi["root"].combine_chunks(), "X")
    sym = format_osi(
        root,
        pc.if_else(ok, osi["expiry"].combine_chunks(), pa.scalar(0, pa.int32()).cast(pa.date32())),
        pc.if_else(ok, osi["right"].combine_chunks(), pa.scalar("C")),
        pc.if_else(ok, osi["strike"].combine_chunks(), pa.scalar(1.0)),
    )
    rows = osi.append_column("compact", sym).take(idx)
    return rows, raw, rows["valid"].combine_chunks()


def _contracts(path: Path, t: pa.Table, probs: list[Problem], defs: list[dict[int, str]]):
    """(root, symbol, expiry, right, strike) from the mapped raw symbols (OSI, space-padded)."""
    raw = (
        t["symbol"].combine_chunks()
        if "symbol" in t.column_names
        else pa.nulls(t.num_rows, pa.string())
    )
    osi, raw, ok = _parse_unique(raw)
    valid = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
    if not valid.all() and "instrument_id" in t.column_names:
        if not defs:
            defs.append(_definitions(path))
        if defs[0]:
            ids = t["instrument_id"].combine_chunks()
            keys = pa.array(list(defs[0]), pa.int64())
            vals = pa.array(list(defs[0].values()), pa.string())
            looked = pc.take(vals, pc.index_in(ids, value_set=keys))
            osi, raw, ok = _parse_unique(pc.if_else(pa.array(valid), raw, looked))
            valid = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
    if not valid.all():
        probs.append(
            Problem(
                ~valid,
                "symbol",
                raw,
                "instrument not mapped to an OSI option symbol (add the definition file "
                "beside it, or request stype_out=instrument_id with raw_symbol mappings)",
            )
        )
    root = pc.fill_null(osi["root"].combine_chunks(), "X")
    expiry = osi["expiry"].combine_chunks()
    right = osi["right"].combine_chunks()
    strike = osi["strike"].combine_chunks()
    return root, osi["compact"].combine_chunks(), expiry, right, strike


def _keys(root, sym, expiry, right, strike) -> dict[str, pa.Array]:
    n = len(root)
    return {
        "underlying": underlying_of_roots(root),
        "root": root,
        "symbol": sym,
        "expiry": expiry,
        "settlement": settlement_of_roots(root),
        "strike": strike,
        "right": right,
        "multiplier": pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32)),
    }


def _sessions(ts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    from chainlens import calendar as cal

    ns = pc.cast(pc.fill_null(ts, pa.scalar(0, pa.timestamp("ns", tz="UTC"))), pa.int64())
    days, phase = cal.sessions_of_snapshots(
        ns.to_numpy(zero_copy_only=False).astype("datetime64[ns]")
    )
    return days, phase


#: Databento's OPRA.PILLAR publisher ids -> the venue's MIC (``OPRA.PILLAR.<MIC>`` in
#: databento-dbn's own names; 30 is OPRA's consolidated feed).
OPRA_VENUES = {
    20: "AMXO", 21: "XBOX", 22: "XCBO", 23: "EMLD", 24: "EDGO", 25: "GMNI", 26: "XISX",
    27: "MCRY", 28: "XMIO", 29: "ARCO", 30: "OPRA", 31: "MPRL", 32: "XNDQ", 33: "XBXO",
    34: "C2OX", 35: "XPHL", 36: "BATO", 37: "MXOP", 61: "SPHR", 108: "MXTO", 109: "IEXO",
}  # fmt: skip


def _venues(ids: pa.Array) -> pa.Array:
    """Publisher ids as venue MICs (an unknown id stays as its number, as text)."""
    keys = pa.array(list(OPRA_VENUES), pa.int64())
    names = pa.array(list(OPRA_VENUES.values()), pa.string())
    named = pc.take(names, pc.index_in(pc.cast(ids, pa.int64()), value_set=keys))
    return pc.coalesce(named, pc.cast(ids, pa.string()))


def _next_session(days: np.ndarray) -> np.ndarray:
    from chainlens import calendar as cal

    if len(days) == 0:
        return days
    return np.asarray(cal.next_session(days), dtype="datetime64[D]")


_NAMES = {
    "price": "price",
    "size": "size",
    "bid": "bid_px_00",
    "ask": "ask_px_00",
    "ts": "ts_event",
}


def _trades(path, t, lines, sink, probs, defs) -> pa.Table:
    n = t.num_rows
    contract = _contracts(path, t, probs, defs)
    ts = _ts(t)
    days, _ = _sessions(ts)
    size = t["size"].combine_chunks()
    cols = {
        "ts": ts,
        "trade_date": pa.array(days, pa.date32()),
        **_keys(*contract),
        "price": _px(t, "price"),
        "size": pc.cast(size, pa.int64()),
        "bid": _px(t, "bid_px_00") if "bid_px_00" in t.column_names else pa.nulls(n, pa.float64()),
        "ask": _px(t, "ask_px_00") if "ask_px_00" in t.column_names else pa.nulls(n, pa.float64()),
        "exchange": _venues(t["publisher_id"].combine_chunks()),
        "trade_id": t["sequence"].combine_chunks() if "sequence" in t.column_names else None,
    }
    cols = {k: v for k, v in cols.items() if v is not None}
    return finalize(Candidate("trades", cols, lines, probs, dict(_NAMES)), sink, None)


def _open_interest(path, t, lines, sink, probs, defs, dups) -> pa.Table:
    from chainlens import calendar as cal

    stat = t["stat_type"].combine_chunks()
    not_oi = pc.fill_null(pc.not_equal(stat, _STAT_OPEN_INTEREST), True).to_numpy(
        zero_copy_only=False
    )
    if not_oi.any():
        probs.append(
            Problem(not_oi, "stat_type", stat, "not open interest (only stat_type 9 is read)")
        )
    contract = _contracts(path, t, probs, defs)
    ts = _ts(t)
    days, phase = _sessions(ts)
    # published before the open (or over a weekend) -> the next session's OI
    session = np.where(phase == "intraday", days, _next_session(days)).astype("datetime64[D]")
    uniq, inv = np.unique(session, return_inverse=True)
    opens = pa.array(
        [cal.session_open(d.astype(object)) for d in uniq], pa.timestamp("ns", tz="UTC")
    )
    q = t["quantity"].combine_chunks()
    cols = {
        "trade_date": pa.array(session, pa.date32()),
        "snapshot_ts": pc.take(opens, pa.array(inv.ravel())),
        **_keys(*contract),
        "open_interest": pc.if_else(pc.greater_equal(q, 2**31 - 1), pa.scalar(None, pa.int64()), q),
    }
    names = {"open_interest": "quantity", "symbol": "symbol"}
    return finalize(Candidate("chain", cols, lines, probs, names), sink, dups)


class _QuoteBook:
    """Last top of book per contract and session across streamed batches (per venue for
    mbp-1, then the best bid and offer over the venues). Superseded records are rejected as
    they are found; the kept ones are validated and returned by :meth:`finish`."""

    def __init__(self, path: Path, sink: RejectSink, dups: DuplicateTracker) -> None:
        self.path, self.sink, self.dups = path, sink, dups
        self.held: pl.DataFrame | None = None
        self.per_venue = True

    def add(self, t: pa.Table, lines: np.ndarray, defs: list[dict[int, str]]) -> int:
        """Take a batch; returns how many of its rows (or held ones) were rejected now."""
        import polars as pl

        n = t.num_rows
        probs: list[Problem] = []
        root, sym, expiry, right, strike = _contracts(self.path, t, probs, defs)
        before = self.sink.num_rows
        bad = np.zeros(n, dtype=bool)
        for p in probs:  # rows that cannot be a contract: rejected now, with their reason
            new = p.mask & ~bad
            if new.any():
                idx = np.flatnonzero(new)
                vals = None if p.values is None else pc.take(p.values, pa.array(idx))
                reason = p.reason if isinstance(p.reason, str) else pc.take(p.reason, pa.array(idx))
                self.sink.add(lines[idx], column=p.column, values=vals, reason=reason)
                bad |= new
        self.per_venue = "bid_pb_00" not in t.column_names and "publisher_id" in t.column_names
        ts = _ts(t)
        days, phase = _sessions(ts)
        # a quote before the open is the book of the session about to open
        days = np.where(phase == "pre_open", _next_session(days), days).astype("datetime64[D]")
        ok = ~bad
        batch = pl.DataFrame(
            {
                "line": lines,
                "sym": pl.Series(sym.cast(pa.string())),
                "root": pl.Series(root.cast(pa.string())),
                "expiry": pl.Series(expiry),
                "right": pl.Series(right),
                "strike": pl.Series(strike),
                "day": days,
                "ts": pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False),
                "venue": t["publisher_id"].to_numpy() if self.per_venue else np.zeros(n, np.int64),
                "bid": pl.Series(_px(t, "bid_px_00")),
                "ask": pl.Series(_px(t, "ask_px_00")),
            }
        ).filter(pl.Series(ok))
        allrows = batch if self.held is None else pl.concat([self.held, batch])
        ranked = allrows.sort(["ts", "line"])
        kept = ranked.group_by(["sym", "day", "venue"], maintain_order=True).last()
        gone = allrows.join(kept.select("line"), on="line", how="anti")
        if gone.height:
            self.sink.add(
                gone["line"].to_numpy(),
                column="ts_recv",
                values=None,
                reason="superseded by a later quote of the same contract",
            )
        self.held = kept.select(batch.columns)
        return self.sink.num_rows - before

    def finish(self) -> tuple[pa.Table, int]:
        """The kept quotes as canonical chain rows (and how many rows that accounts for)."""
        import polars as pl

        from chainlens.schema import CHAIN

        if self.held is None or self.held.height == 0:
            return CHAIN.empty_table(), 0
        h = self.held
        count = h.height
        if self.per_venue:  # NBBO over the venues' last quotes: one row per contract/session
            agg = (
                h.sort(["ts", "line"])
                .group_by(["sym", "day"], maintain_order=True)
                .agg(
                    pl.col("line").last(),
                    pl.col("bid").max().alias("nb"),
                    pl.col("ask").min().alias("na"),
                )
            )
            other = h.join(agg.select("line"), on="line", how="anti")
            if other.height:
                self.sink.add(
                    other["line"].to_numpy(),
                    column="publisher_id",
                    values=None,
                    reason="another venue's quote of the same contract: merged into the NBBO row",
                )
            h = h.join(agg, on="line", how="inner").with_columns(
                pl.col("nb").alias("bid"), pl.col("na").alias("ask")
            )
        # the snapshot of a session: its last record in the file
        h = h.with_columns(pl.col("ts").max().over("day").alias("snap")).sort("line")
        arrow = h.to_arrow()
        cols = {
            "trade_date": pc.cast(arrow["day"], pa.date32()),
            "snapshot_ts": pc.cast(arrow["snap"], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            **_keys(
                arrow["root"].combine_chunks(),
                arrow["sym"].combine_chunks(),
                pc.cast(arrow["expiry"], pa.date32()).combine_chunks(),
                arrow["right"].combine_chunks(),
                arrow["strike"].combine_chunks(),
            ),
            "bid": arrow["bid"].combine_chunks(),
            "ask": arrow["ask"].combine_chunks(),
        }
        names = {"bid": "bid_px_00", "ask": "ask_px_00", "symbol": "symbol"}
        lines = arrow["line"].to_numpy()
        empty = pc.and_(cols["bid"].is_null(), cols["ask"].is_null()).to_numpy(zero_copy_only=False)
        probs = []
        if empty.any():
            probs.append(
                Problem(
                    empty, "bid_px_00", None, "no bid and no offer at the snapshot (empty book)"
                )
            )
        table = finalize(Candidate("chain", cols, lines, probs, names), self.sink, self.dups)
        return table, count


def _empty() -> pa.Table:
    from chainlens.schema import CHAIN

    return CHAIN.empty_table()


def read(path: Path, *, batch_rows: int = 1_000_000) -> Iterator[AdapterResult]:
    """Read a DBN file batch by batch (see the module docstring for each schema)."""
    path = Path(path)
    sink = RejectSink(path)
    dups = DuplicateTracker()
    defs: list[dict[int, str]] = []
    ordinal = 0
    kind = "trades"
    book: _QuoteBook | None = None
    for md, t in _csv_batches(path, batch_rows):
        schema = str(getattr(md, "schema", "") or "")
        dataset = str(getattr(md, "dataset", "") or "")
        if schema in _TRADE_SCHEMAS:
            kind = "trades"
        elif schema == "statistics" or schema.startswith(_QUOTE_PREFIXES):
            kind = "chain"
        elif schema == "definition":
            raise InputError(
                "a Databento definition file names instruments only (no trades, quotes or "
                "open interest): nothing to store; keep it beside the statistics or trades "
                "files, which use it for instruments their symbology does not map",
                path=path,
            )
        else:
            raise InputError(
                f"Databento schema {schema!r} is not read by chainlens (it reads trades and "
                "tbbo as trades, statistics as open interest, mbp-1 and cbbo as quotes)",
                path=path,
            )
        if dataset and not dataset.startswith("OPRA"):
            raise InputError(
                f"Databento dataset {dataset!r} is not OPRA (US equity and index options)",
                path=path,
            )
        n = t.num_rows
        if n == 0:
            continue
        lines = np.arange(ordinal + 1, ordinal + n + 1, dtype=np.int64)
        ordinal += n
        probs: list[Problem] = []
        if kind == "trades":
            table = _trades(path, t, lines, sink, probs, defs)
        elif schema == "statistics":
            table = _open_interest(path, t, lines, sink, probs, defs, dups)
        else:
            if book is None:
                book = _QuoteBook(path, sink, dups)
            done = book.add(t, lines, defs)
            if done:
                yield AdapterResult(kind, _empty(), sink.take(), done, FORMAT, path)
            continue
        yield AdapterResult(kind, table, sink.take(), n, FORMAT, path)
    if book is not None:
        table, count = book.finish()
        rej = sink.take()
        yield AdapterResult("chain", table, rej, table.num_rows + rej.num_rows, FORMAT, path)
