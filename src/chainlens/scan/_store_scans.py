"""Scanners over a store, batched across underlyings (issue 13 "whole-market engine").

:func:`store_scan` reads each session's chain and trades once for a block of underlyings
(:meth:`chainlens.store.Store.chain_block`, :meth:`~chainlens.store.Store.trades_block`) and
runs each kernel once per block: the kernels group by ``underlying`` (each underlying keeps
its own window of sessions), so a block gives the rows one call per underlying gives, in the
same order. Blocks are contiguous runs of the sorted underlyings holding at most
``block_rows`` chain rows over the window (memory stays bounded at any market size).
:func:`store_scan_per_underlying` is the one-kernel-call-per-underlying reference."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from chainlens.oi._config import OIConfig
from chainlens.oi._rolls import detect_rolls
from chainlens.oi._streaks import accumulation_of
from chainlens.scan._settings import ScanSettings

__all__ = [
    "ACCUMULATION_KEYS",
    "ROLL_KEYS",
    "accumulation_records",
    "roll_records",
    "NetDeltaTask",
    "netdelta_block",
    "netdelta_scan",
    "netdelta_task",
    "store_scan",
    "store_scan_per_underlying",
]

#: Scanner kinds of :func:`store_scan`.
KINDS = ("unusual", "netdelta", "accumulation", "rolls")
#: Default bound of a block: chain rows (contracts x sessions) over the window.
BLOCK_ROWS = 2_000_000
#: Columns each kind reads from the chain.
_OI_COLS = ("trade_date", "underlying", "root", "symbol", "expiry", "strike", "right",
            "open_interest", "volume")  # fmt: skip
_UNUSUAL_COLS = ("underlying", "trade_date", "volume", "bid", "ask", "last", "multiplier")
_ND_CHAIN_COLS = ("underlying", "trade_date", "symbol", "expiry", "open_interest", "delta",
                  "multiplier")  # fmt: skip
#: Trade columns the net-delta scanner reads (its side and multi-leg tags need the quote,
#: condition and time).
_ND_TRADE_COLS = ("underlying", "trade_date", "ts", "symbol", "expiry", "size", "multiplier",
                  "price", "bid", "ask", "condition")  # fmt: skip

#: SPEC "Command line": stable keys of ``scan accumulation --json``.
ACCUMULATION_KEYS = ("underlying", "expiry", "strike", "right", "sessions", "oi_change")
#: SPEC "Command line": stable keys of ``scan rolls --json``.
ROLL_KEYS = (
    "underlying", "kind", "right", "from_expiry", "from_strike", "to_expiry", "to_strike", "contracts",
)  # fmt: skip


def accumulation_records(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of :func:`chainlens.oi.accumulation` with exactly the SPEC keys."""
    return table.select(list(ACCUMULATION_KEYS)).to_pylist()


def roll_records(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of :func:`chainlens.oi.detect_rolls` with exactly the SPEC keys."""
    return table.select(list(ROLL_KEYS)).to_pylist()


def _check_kind(kind: str) -> None:
    from chainlens.errors import ConfigError

    if kind not in KINDS:
        raise ConfigError(f"unknown scanner {kind!r} (unusual|netdelta|accumulation|rolls)")


def store_scan(
    store: Any,
    kind: str,
    session: dt.date,
    *,
    config: OIConfig | None = None,
    n_sessions: int = 30,
    window: int = 20,
    start: dt.date | None = None,
    settings: ScanSettings | None = None,
    block_rows: int = BLOCK_ROWS,
    use_stored: bool = True,
) -> pa.Table:
    """Run one scanner over every underlying stored on ``session``; the rows of
    :func:`store_scan_per_underlying` (same values, same order), computed per block of
    underlyings (see the module notes).

    Parameters
    ----------
    kind
        ``accumulation``, ``rolls``, ``unusual`` or ``netdelta``.
    n_sessions
        Accumulation: sessions of history per underlying.
    window
        Unusual: sessions in the rolling average.
    start
        Net delta: the cumulation's first day (default: 30 calendar days before ``session``).
    block_rows
        At most this many chain rows (contracts x sessions of the window) per block; an
        underlying larger than that is a block of its own.
    use_stored
        Net delta: read the daily sums of past sessions from their stored
        ``scan_netdelta_daily`` parts where ``chainlens run`` wrote them
        (:func:`netdelta_scan`); False computes every session from the stored trades.
    """
    _check_kind(kind)
    cfg = config or OIConfig()
    st = settings or ScanSettings()
    if kind == "netdelta":
        return netdelta_scan(store, session, start=start, settings=st, block_rows=block_rows,
                             use_stored=use_stored)[0]  # fmt: skip
    names = store.underlyings(session)
    if not names:
        return pa.table({})
    first = start or (session - dt.timedelta(days=30))
    lookback: dict[str, tuple[int | None, dt.date | None]] = {
        "accumulation": (n_sessions, None),
        "rolls": (cfg.roll_window + 1, None),
        "unusual": (window + 1, None),
        "netdelta": (None, first),
    }
    n, lo = lookback[kind]
    snaps = store.default_snapshots(end=session, n_sessions=n, start=lo)
    parts: list[pa.Table] = []
    for block in _blocks(snaps, names, block_rows):  # a loop over blocks of underlyings
        if kind == "accumulation":
            h = store.chain_block(block, end=session, n_sessions=n, columns=_OI_COLS)
            out = accumulation_of(h, session, cfg)
        elif kind == "rolls":
            h = store.chain_block(block, end=session, n_sessions=n, columns=_OI_COLS)
            out = detect_rolls(h, as_of=session, config=cfg)
        elif kind == "unusual":
            from chainlens.scan._unusual import scan_unusual

            h = store.chain_block(block, end=session, n_sessions=n, columns=_UNUSUAL_COLS)
            tr = store.trades_block(
                block, session, ["underlying", "trade_date", "price", "size", "multiplier"]
            )
            out = scan_unusual(h, session, trades=tr, window=window,
                               min_multiple=st.unusual_min_multiple, min_sessions=st.unusual_min_sessions,
                               min_premium_usd=st.unusual_min_premium_usd)  # fmt: skip
        else:  # pragma: no cover - netdelta returned above
            raise AssertionError(kind)
        if out.num_rows:
            parts.append(_by_underlying(out))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")


def _blocks(snaps: pa.Table, names: list[str], block_rows: int) -> list[list[str]]:
    """``names`` (sorted) cut into contiguous blocks of at most ``block_rows`` chain rows of
    their windows (``snaps``: :meth:`~chainlens.store.Store.default_snapshots`)."""
    import numpy as np
    import polars as pl

    df = pl.from_arrow(snaps.select(["underlying", "contracts"]))
    assert isinstance(df, pl.DataFrame)
    rows = dict(df.group_by("underlying").agg(pl.col("contracts").sum()).iter_rows())
    sizes = np.array([rows.get(u, 0) for u in names], np.int64)  # per underlying, not per row
    out: list[list[str]] = []
    i = 0
    cum = np.cumsum(sizes)
    while i < len(names):  # a loop over blocks
        base = cum[i - 1] if i else 0
        j = int(np.searchsorted(cum, base + max(block_rows, 1), side="right"))
        j = max(j, i + 1)
        out.append(names[i:j])
        i = j
    return out


def _by_underlying(t: pa.Table) -> pa.Table:
    """Rows ordered by underlying, each underlying's rows in the kernel's order (a stable
    sort): the concatenation of one kernel call per sorted underlying."""
    import pyarrow.compute as pc

    return t.take(pc.sort_indices(t, sort_keys=[("underlying", "ascending")]))


def netdelta_scan(
    store: Any,
    session: dt.date,
    *,
    start: dt.date | None = None,
    settings: ScanSettings | None = None,
    block_rows: int = BLOCK_ROWS,
    use_stored: bool = True,
) -> tuple[pa.Table, pa.Table]:
    """The net-delta scanner's rows (:func:`store_scan` ``netdelta``) and the session's
    ``scan_netdelta_daily`` part (:data:`chainlens.results.PART_SCHEMAS`).

    The scanner cumulates, per underlying and expiry, the daily sums of the trade-based delta
    of every session since ``start``. With ``use_stored``, a past session's sums come from its
    stored ``scan_netdelta_daily`` part (written by ``chainlens run`` of that session) where
    one exists; the other sessions are computed from the stored trades and chain, one session
    at a time. Underlyings without a trade in the window use their OI changes, always from
    the chain (those depend on the window's first session).
    """
    st = settings or ScanSettings()
    first = start or (session - dt.timedelta(days=30))
    names = store.underlyings(session)
    if not names:
        return pa.table({}), _empty_daily()
    stored = _stored_dailies(store, session, first) if use_stored else {}
    snaps = store.default_snapshots(end=session, start=first)
    parts: list[pa.Table] = []
    dailies: list[pa.Table] = []
    for block in _blocks(snaps, names, block_rows):  # a loop over blocks of underlyings
        out, daily = _netdelta_block(store, block, session, first, st.netdelta_min_increase,
                                     stored)  # fmt: skip
        if out.num_rows:
            parts.append(_by_underlying(out))
        dailies.append(daily)
    daily_part = pa.concat_tables(dailies) if dailies else _empty_daily()
    if not parts:
        return pa.table({}), daily_part
    return pa.concat_tables(parts, promote_options="permissive"), daily_part


#: The stored per-session part of the net-delta scanner's daily sums (issue 13).
DAILY_PART = "scan_netdelta_daily"


def _stored_dailies(store: Any, session: dt.date, first: dt.date) -> dict[dt.date, pa.Table]:
    """The stored ``scan_netdelta_daily`` parts of the sessions in ``[first, session)``."""
    from chainlens.results import RESULTS_NAME

    stored: dict[dt.date, pa.Table] = {}
    idx = store.results_index()
    for name, d, part in zip(idx.column("name").to_pylist(), idx.column("session").to_pylist(),
                             idx.column("part").to_pylist(), strict=True):  # fmt: skip
        if name == RESULTS_NAME and part == DAILY_PART and first <= d < session:
            stored[d] = store.read_results(RESULTS_NAME, d, DAILY_PART)
    return stored


@dataclass(frozen=True)
class NetDeltaTask:
    """The net-delta scanner of one session, resolved against the catalog once so that any
    block of its underlyings runs away from it (a pool worker of ``chainlens run``):
    :func:`netdelta_block`.

    Attributes
    ----------
    session, first
        The as-of session and the cumulation's first day.
    min_increase
        :attr:`~chainlens.scan.ScanSettings.netdelta_min_increase`.
    files
        The chain window ``[first, session]`` (default snapshots) and the trade files of the
        sessions without a stored daily part (:class:`chainlens.store.FileBlocks`).
    stored
        Session -> stored ``scan_netdelta_daily`` part (:func:`netdelta_scan` ``use_stored``).
    """

    session: dt.date
    first: dt.date
    min_increase: float
    files: Any  # chainlens.store.FileBlocks
    stored: dict[dt.date, pa.Table]

    def restrict(self, names: Sequence[str]) -> NetDeltaTask:
        """The task of ``names`` only (what a pool task of that block is handed)."""
        import pyarrow.compute as pc

        arr = pa.array([str(u) for u in names], pa.string())
        stored = {
            d: t.filter(pc.is_in(t.column("underlying"), value_set=arr))
            for d, t in self.stored.items()
        }
        return NetDeltaTask(self.session, self.first, self.min_increase,
                            self.files.restrict(names), stored)  # fmt: skip


def netdelta_task(
    store: Any,
    session: dt.date,
    *,
    start: dt.date | None = None,
    settings: ScanSettings | None = None,
    use_stored: bool = True,
) -> NetDeltaTask:
    """The :class:`NetDeltaTask` of ``session`` (catalog reads only: the default snapshots of
    the window, the trade files of each session to compute, the stored daily parts)."""
    import pyarrow.compute as pc

    from chainlens.store import FileBlocks

    st = settings or ScanSettings()
    first = start or (session - dt.timedelta(days=30))
    stored = _stored_dailies(store, session, first) if use_stored else {}
    snaps = store.default_snapshots(end=session, start=first)
    days = [d for d in pc.unique(snaps.column("trade_date")).to_pylist() if d not in stored]
    files = FileBlocks(str(store.root), snaps, {d: store.dated_files("trades", d) for d in days})
    return NetDeltaTask(session, first, st.netdelta_min_increase, files, stored)


#: The trade tags of :func:`chainlens.flow.enrich_trades` the net-delta scanner reads.
_TAGS = ("side_code", "multileg")


class _TodayTrades:
    """A :class:`chainlens.store.FileBlocks` whose session trades of the block are already
    in memory (the pipeline windows' trades: the same stored rows)."""

    def __init__(
        self,
        files: Any,
        session: dt.date,
        trades: pa.Table,
        names: Sequence[str],
        segments: Any = None,
    ) -> None:
        self.files, self.session, self.trades, self.names = files, session, trades, set(names)
        self.order = list(names)
        #: per row of ``trades``: its window (the underlying ``order[seg]``, checked), or None
        self.seg = segments if segments is not None and len(segments) == trades.num_rows else None

    def segments(self, underlyings: Sequence[str], session: dt.date) -> Any:
        """Per row of :meth:`trades_block` of ``underlyings`` and ``session``: the position of
        its underlying in the block's names (checked), or None when not known."""
        if session != self.session or self.seg is None or not self.names <= set(underlyings):
            return None
        return self.seg

    def chain_block(self, underlyings: Sequence[str] | None, **kw: Any) -> pa.Table:
        return self.files.chain_block(underlyings, **kw)

    def trades_block(
        self, underlyings: Sequence[str], session: dt.date, columns: Sequence[str]
    ) -> pa.Table:
        import pyarrow.compute as pc

        from chainlens import schema

        if session != self.session:
            return self.files.trades_block(underlyings, session, columns)
        t = self.trades
        if not self.names <= set(underlyings):  # the block's trades are those of its names
            t = t.filter(pc.is_in(t.column("underlying"), pa.array(list(underlyings), pa.string())))
        canon = schema.SCHEMAS["trades"]
        tags = [c for c in _TAGS if c in t.column_names]
        t = t.select([*columns, *tags] if len(tags) == len(_TAGS) else list(columns))
        out = {c: t.column(c).cast(canon.field(c).type) for c in columns}
        return pa.table(out | {c: t.column(c) for c in t.column_names if c not in out})


#: The key of a run block's parts holding its unusual-scanner daily flows
#: (:func:`unusual_block_flows`): never stored; ``chainlens run`` takes it out of the merged
#: parts and hands it to :func:`chainlens.scan._stored.scan_parts` (``unusual_flows``).
UNUSUAL_FLOWS = "_unusual_flows"


def _canon(t: pa.Table, kind: str, cols: Sequence[str]) -> pa.Table:
    """``cols`` of ``t`` cast to the stored ``kind`` schema's types."""
    from chainlens import schema

    canon = schema.SCHEMAS[kind]
    return pa.table({c: t.column(c).cast(canon.field(c).type) for c in cols})


#: Fixed-width Arrow types :func:`_f64_valid` reads from their value buffers.
_NUMERIC = {
    pa.int8(): "int8", pa.int16(): "int16", pa.int32(): "int32", pa.int64(): "int64",
    pa.uint8(): "uint8", pa.uint16(): "uint16", pa.uint32(): "uint32",
    pa.float32(): "float32", pa.float64(): "float64",
}  # fmt: skip


def _f64_valid(col: pa.ChunkedArray | pa.Array) -> tuple[Any, Any]:
    """``col`` as float64 with nulls as 0.0, and its validity (NumPy): the values of
    ``pc.fill_null(col.cast(pa.float64()), 0.0)`` and ``pc.is_valid(col)``, read from the
    column's buffers (one chunk; no Arrow compute call). An int64 column holding a value
    beyond 2**53 in magnitude (which Arrow's checked cast refuses) goes through Arrow."""
    import numpy as np
    import pyarrow.compute as pc

    from chainlens.oi._encode import one_chunk

    arr = one_chunk(col)
    name = _NUMERIC.get(arr.type)
    n, off = len(arr), arr.offset
    if name is None or n == 0:
        c = arr.cast(pa.float64())
        return (np.asarray(pc.fill_null(c, 0.0).to_numpy(zero_copy_only=False), np.float64),
                np.asarray(pc.is_valid(c).to_numpy(zero_copy_only=False), bool))  # fmt: skip
    raw = np.frombuffer(arr.buffers()[1], np.dtype(name))[off : off + n]
    if arr.null_count:
        bits = np.frombuffer(arr.buffers()[0], np.uint8)
        valid = np.unpackbits(bits, count=off + n, bitorder="little")[off:].astype(bool)
    else:
        valid = np.ones(n, bool)
    big = 2**53
    if name == "int64" and bool(((raw > big) | (raw < -big))[valid].any()):
        c = arr.cast(pa.float64())  # raises as Arrow's cast does
        return (np.asarray(pc.fill_null(c, 0.0).to_numpy(zero_copy_only=False), np.float64),
                valid)  # fmt: skip
    vals = raw.astype(np.float64)
    if arr.null_count:
        vals[~valid] = 0.0
    return vals, valid


def _segments_are(col: pa.ChunkedArray, names: Sequence[str], seg: Any) -> bool:
    """Whether every row ``r`` of the string column ``col`` (no nulls) reads
    ``names[seg[r]]`` (``seg`` ascending: the rows grouped by window, in order): the
    column's bytes compared with each name's UTF-8 bytes repeated over its window's rows
    (string equality is byte equality), once over the block (a compiled pass comparing each
    row with its name where the engine policy allows it: the same answer); else one
    dictionary encoding of the column (codes of equal strings agree)."""
    import pyarrow.compute as pc

    from chainlens.oi._encode import arrow_codes, encode_strings, one_chunk
    from chainlens.scan import _kernels

    if len(col) == 0:
        return True
    arr = one_chunk(col)
    seg = np.asarray(seg, np.int64)
    if (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) and bool(
        (seg[1:] >= seg[:-1]).all()
    ):
        n, at = len(arr), arr.offset
        off_t = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        raw = [str(u).encode() for u in names]
        if _kernels.use_compiled(n) and len(seg) == n:  # a compiled pass: the same answer
            off_c = np.frombuffer(arr.buffers()[1], off_t)[at : at + n + 1]
            buf = arr.buffers()[2]
            data_c = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
            name_off = np.r_[0, np.cumsum([len(b) for b in raw], dtype=np.int64)]
            name_data = np.frombuffer(b"".join(raw), np.uint8)
            return _kernels.rows_are(off_c, data_c, name_off, name_data, seg)
        off = np.frombuffer(arr.buffers()[1], off_t)[at : at + n + 1].astype(np.int64)
        size = np.array([len(b) for b in raw], np.int64)
        if not bool((np.diff(off) == size[seg]).all()):
            return False
        rows = np.bincount(seg, minlength=len(raw)).tolist()
        want = b"".join(b * k for b, k in zip(raw, rows, strict=True))  # names, repeated
        data = arr.buffers()[2]
        if data is None:
            return not want
        return bool(memoryview(data).cast("B")[int(off[0]) : int(off[-1])] == want)
    enc = encode_strings(col)
    codes, dictionary = (enc[0], enc[2]) if enc is not None else arrow_codes(col)
    want = pc.index_in(pa.array(list(names), pa.string()), value_set=dictionary.cast(pa.string()))
    if want.null_count:  # a name absent from the column: only windows without rows may hold it
        present = np.bincount(seg, minlength=len(names)) > 0
        miss = np.asarray(want.is_null().to_numpy(zero_copy_only=False), bool)
        if (present & miss).any():
            return False
        want = pc.fill_null(want, -1)
    w = np.asarray(want.to_numpy(zero_copy_only=False), np.int64)
    return bool((w[seg] == np.asarray(codes, np.int64)).all())


#: The chain columns the run block's scanner steps read from its windows' histories (the
#: unusual scanner's and the net-delta scanner's), and the trade columns of the unusual one.
_BLOCK_CHAIN_COLS = tuple(dict.fromkeys((*_UNUSUAL_COLS, *_ND_CHAIN_COLS)))
_FLOW_TRADE_COLS = ("underlying", "trade_date", "price", "size", "multiplier")


class WindowRows:
    """A run block's windows' chain and trade rows the scanner steps read, concatenated once
    (:func:`window_rows`): :func:`session_rows` and :func:`unusual_block_flows` take them
    instead of concatenating the windows each, and the net-delta step the trades' windows.

    Attributes
    ----------
    names
        The windows' underlyings, in order.
    chain, seg
        The histories' :data:`_BLOCK_CHAIN_COLS` cast to the stored chain schema (one chunk
        per column), and per row its window.
    trades, t_seg
        The trades' unusual-scanner columns cast to the stored trades schema (None: no
        window has trades), and per row its window.
    trades_ok
        Every trade row has the columns, a session, and the underlying of its window: the
        same check as :func:`unusual_block_flows` (None until asked).
    """

    def __init__(
        self,
        names: Sequence[str],
        chain: pa.Table,
        seg: Any,
        trades: pa.Table | None,
        t_seg: Any,
        trades_ok: bool,
    ) -> None:
        self.names, self.chain, self.seg = list(names), chain, seg
        self.trades, self.t_seg, self.trades_ok = trades, t_seg, trades_ok
        self._chain_mine: bool | None = None
        self._trades_mine: bool | None = None

    def chain_mine(self) -> bool:
        """No null session or underlying, and every chain row is its window's underlying."""
        if self._chain_mine is None:
            c = self.chain
            self._chain_mine = (
                not c.column("trade_date").null_count
                and not c.column("underlying").null_count
                and _segments_are(c.column("underlying"), self.names, self.seg)
            )
        return self._chain_mine

    def trades_mine(self) -> bool:
        """:attr:`trades_ok`, and every trade row is its window's underlying."""
        if self._trades_mine is None:
            t = self.trades
            self._trades_mine = self.trades_ok and (
                t is None or _segments_are(t.column("underlying"), self.names, self.t_seg)
            )
        return self._trades_mine

    def trade_segments(self) -> Any:
        """Per trade row of the windows (every window's rows, in order): its window, when
        every row is checked to be its window's underlying (:meth:`trades_mine`); else None."""
        return self.t_seg if self.trades_mine() else None


def window_rows(
    names: Sequence[str],
    histories: Sequence[pa.Table | None],
    trades: Sequence[pa.Table | None],
) -> WindowRows | None:
    """The :class:`WindowRows` of a block's windows (``names``, their chain ``histories`` and
    session ``trades``); None when a history is missing or lacks one of
    :data:`_BLOCK_CHAIN_COLS`, or the columns do not concatenate or cast (the scanner steps
    then concatenate the windows each, as before)."""
    cols = list(_BLOCK_CHAIN_COLS)
    tcols = list(_FLOW_TRADE_COLS)
    try:
        hs, h_n, ts, t_n = [], [], [], []
        ok = True
        for h, t in zip(histories, trades, strict=True):  # a loop over windows
            if h is None:
                return None
            hs.append(h.select(cols))  # KeyError: a column missing
            h_n.append(h.num_rows)
            n = 0 if t is None else t.num_rows
            if t is not None and n:
                try:
                    ts.append(t.select(tcols))
                except KeyError:
                    ok = False
            t_n.append(n)
        chain = _canon(pa.concat_tables(hs).combine_chunks(), "chain", cols)
        tr = None
        if ok and ts:
            tr = _canon(pa.concat_tables(ts).combine_chunks(), "trades", tcols)
            ok = not tr.column("trade_date").null_count and not tr.column("underlying").null_count
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, KeyError):
        return None
    seg = np.repeat(np.arange(len(h_n), dtype=np.int64), h_n)
    t_seg = np.repeat(np.arange(len(t_n), dtype=np.int64), t_n)
    return WindowRows(names, chain, seg, tr if ok else None, t_seg, ok)


def unusual_block_flows(
    names: Sequence[str],
    histories: Sequence[pa.Table | None],
    trades: Sequence[pa.Table | None],
    session: dt.date,
    rows: WindowRows | None = None,
) -> pa.Table | None:
    """The unusual scanner's daily flows of a run block: :func:`chainlens.scan.daily_flow`
    (per underlying and session: ``volume`` in contracts, ``premium_usd`` in USD, the
    session's premium from its trades) of the windows of ``names``: their chain
    ``histories`` (each the underlying's :meth:`chainlens.store.Store.chain_history` up to
    ``session``) and ``trades`` (the session's). A session's flow of an underlying reads
    only that snapshot (and the session's trades), so these are the rows the scanner's own
    window gives for those sessions (:func:`unusual_from_flows`). None when a window lacks a
    column, holds another underlying's rows, or the tables do not concatenate. ``rows``: the
    windows' :class:`WindowRows` (:func:`window_rows`), the same rows concatenated once."""

    if rows is not None:
        if not rows.trades_ok or not rows.chain_mine() or not rows.trades_mine():
            return None
        h, seg, tr, t_seg = rows.chain, rows.seg, rows.trades, rows.t_seg
        if not h.num_rows:
            return None
        return _session_flows(rows.names, h, seg, tr, t_seg, session)
    cols = list(_UNUSUAL_COLS)
    tcols = ["underlying", "trade_date", "price", "size", "multiplier"]

    def mine(t: pa.Table, need: list[str]) -> bool:
        """The columns and no null session or underlying (whether every row is the window's
        underlying is checked once over the block: :func:`_segments_are`)."""
        if not set(need) <= set(t.column_names) or t.column("trade_date").null_count:
            return False
        return t.column("underlying").null_count == 0

    try:
        hs, ts, h_n, t_n = [], [], [], []
        for h, t in zip(histories, trades, strict=True):  # a loop over windows
            if h is None or not mine(h, cols):
                return None
            hs.append(h.select(cols))
            h_n.append(h.num_rows)
            n = 0 if t is None else t.num_rows
            if t is not None and n:
                if not mine(t, tcols):
                    return None
                ts.append(t.select(tcols))
            t_n.append(n)
        if not hs or not sum(h_n):
            return None
        h = _canon(pa.concat_tables(hs), "chain", cols)
        tr = _canon(pa.concat_tables(ts), "trades", tcols) if ts else None
        seg = np.repeat(np.arange(len(h_n), dtype=np.int64), h_n)
        t_seg = np.repeat(np.arange(len(t_n), dtype=np.int64), t_n)
        if not _segments_are(h.column("underlying"), names, seg) or (
            tr is not None and not _segments_are(tr.column("underlying"), names, t_seg)
        ):
            return None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
        return None
    return _session_flows(names, h, seg, tr, t_seg, session)


def _session_flows(
    names: Sequence[str],
    h: pa.Table,
    seg: Any,
    tr: pa.Table | None,
    t_seg: Any,
    session: dt.date,
) -> pa.Table | None:
    """:func:`_flows` of the chain rows of ``h`` up to ``session`` (None: no row left)."""
    day = np.asarray(h.column("trade_date").cast(pa.int32()).to_numpy(), np.int64)
    keep_np = day <= (session - dt.date(1970, 1, 1)).days
    if not keep_np.all():
        h, seg = h.filter(pa.array(keep_np)), seg[keep_np]
        if not h.num_rows:
            return None
    return _flows(names, h, seg, tr, t_seg)


def _flows(
    names: Sequence[str], h: pa.Table, seg: Any, trades: pa.Table | None, t_seg: Any
) -> pa.Table:
    """:func:`chainlens.scan.daily_flow` of the chain rows ``h`` and the ``trades`` (the
    canonical types; no null session) of the windows ``seg`` / ``t_seg`` (per row: its
    window, the underlying ``names[seg]``) as segmented ``np.bincount`` sums in row order
    per (window, session) (floats to 1e-12 relative of the Polars sums: the terms are of one
    sign; the volumes exactly), sorted by underlying and session.

    ``volume`` :math:`\\sum V` (contracts), ``premium_usd`` :math:`\\sum V \\cdot
    \\text{mid} \\cdot m` (USD; mid where ``bid > 0`` and ``ask >= bid``, else the last sale,
    a null price counting 0; a null volume or multiplier adds nothing), both null where no
    volume is given; a session with trades of the underlying: :math:`\\sum p \\cdot q
    \\cdot m` of its trades instead (a null operand adds nothing).

    The sums are one compiled pass over the rows where the engine policy allows it
    (:mod:`chainlens.scan._kernels`: the same additions in the same order, so the same
    bits), else the NumPy ``bincount`` twin (:func:`_flow_sums`)."""
    from chainlens.scan import _kernels

    day = h.column("trade_date").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    lo, span = int(day.min()), int(day.max() - day.min()) + 1
    key = seg * span + (day - lo)  # (window, session): dense codes
    size = len(names) * span
    cols: list[Any] | None = None
    tcols: list[Any] | None = None
    if _kernels.use_compiled(h.num_rows):
        cols = [
            _kernels.column(h.column(c)) for c in ("volume", "bid", "ask", "last", "multiplier")
        ]
        if trades is not None and trades.num_rows:
            tcols = [_kernels.column(trades.column(c)) for c in ("price", "size", "multiplier")]
    if cols is not None and None not in cols and (tcols is None or None not in tcols):
        cnt, any_v, volume, premium = _kernels.chain_sums(key, size, cols)
        rows = cnt > 0
        any_p = any_v
        if trades is not None and trades.num_rows and tcols is not None:
            t_day = trades.column("trade_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
            t_s = np.asarray(t_seg, np.int64)
            tp, traded = _kernels.trade_sums(t_s, t_day, lo, span, cnt, tcols)
            premium = np.where(traded, tp, premium)
            any_p = any_v | traded
    else:
        rows, any_v, volume, premium, any_p = _flow_sums(h, key, size, trades, t_seg, lo, span)
    at = np.flatnonzero(rows)  # in (window, session) order
    und = np.asarray(list(names), dtype=object)[at // span]
    days = (lo + at % span).astype("datetime64[D]")
    out = pa.table(
        {
            "underlying": pa.array(und, pa.string()),
            "trade_date": pa.array(days, pa.date32()),
            "volume": pa.array(volume[at], mask=~any_v[at]),
            "premium_usd": pa.array(premium[at], mask=~any_p[at]),
        }
    )
    return out.sort_by([("underlying", "ascending"), ("trade_date", "ascending")])


def _flow_sums(
    h: pa.Table, key: Any, size: int, trades: pa.Table | None, t_seg: Any, lo: int, span: int
) -> tuple[Any, Any, Any, Any, Any]:
    """The NumPy twin of :func:`_flows`' compiled sums: per (window, session) cell, whether
    it has a chain row, whether a volume is given, the volume and premium sums, and whether
    a premium is given (``np.bincount`` in row order)."""

    def f64(t: pa.Table, col: str) -> tuple[np.ndarray, np.ndarray]:
        out: tuple[np.ndarray, np.ndarray] = _f64_valid(t.column(col))
        return out

    v, v_ok = f64(h, "volume")
    bid, bid_ok = f64(h, "bid")
    ask, ask_ok = f64(h, "ask")
    last, _ = f64(h, "last")
    m, m_ok = f64(h, "multiplier")
    with np.errstate(invalid="ignore"):
        quoted = bid_ok & ask_ok & (bid > 0) & (ask >= bid)
    mid = np.where(quoted, (bid + ask) / 2, last)  # a null last: 0 (fill_null(0.0))
    term = np.where(v_ok & m_ok, v * mid * m, 0.0)
    rows = np.bincount(key, minlength=size) > 0
    any_v = np.bincount(key, v_ok, minlength=size) > 0
    volume = np.bincount(key, np.where(v_ok, v, 0.0), minlength=size)
    premium = np.bincount(key, term, minlength=size)
    any_p = any_v
    if trades is not None and trades.num_rows:
        t_day = trades.column("trade_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        t_day = t_day.astype(np.int64) - lo
        tk = t_seg * span + t_day
        hit = (t_day >= 0) & (t_day < span)  # the chain's sessions only (the join)
        hit[hit] = rows[tk[hit]]
        p, p_ok = f64(trades, "price")
        q, q_ok = f64(trades, "size")
        tm, tm_ok = f64(trades, "multiplier")
        tt = np.where(p_ok & q_ok & tm_ok, p * q * tm, 0.0)
        tp = np.bincount(tk[hit], tt[hit], minlength=size)
        traded = np.bincount(tk[hit], minlength=size) > 0
        premium = np.where(traded, tp, premium)
        any_p = any_v | traded
    return rows, any_v, volume, premium, any_p


def unusual_from_flows(
    store: Any,
    session: dt.date,
    flows: pa.Table,
    *,
    window: int = 20,
    settings: ScanSettings | None = None,
) -> pa.Table | None:
    """:func:`store_scan` ``unusual`` from the daily flows of the run's blocks
    (:func:`unusual_block_flows` of every underlying with a chain on ``session``): each
    underlying's window (its last ``window + 1`` sessions, the catalog's default snapshots)
    takes the flows of the sessions the blocks computed, and reads the chain of the others
    only (the sessions before the run's own window). The same rows (floats to 1e-12
    relative: the same sums); None when the flows lack an underlying's ``session`` (the
    caller scans the store)."""
    import pyarrow.compute as pc

    from chainlens.scan._unusual import daily_flow, unusual_rows
    from chainlens.store import FileBlocks

    st = settings or ScanSettings()
    names = store.underlyings(session)
    if not names:
        return pa.table({})
    snaps = store.default_snapshots(end=session, n_sessions=window + 1)
    snaps = snaps.filter(
        pc.and_(
            pc.is_in(snaps.column("underlying"), value_set=pa.array(names, pa.string())),
            pc.greater(snaps.column("contracts"), 0),
        )
    )
    keys = ["underlying", "trade_date"]
    pairs = pl.from_arrow(snaps.select(keys))
    got = pl.from_arrow(flows)
    assert isinstance(pairs, pl.DataFrame) and isinstance(got, pl.DataFrame)
    got = got.join(pairs, on=keys, how="semi")
    miss = pairs.with_row_index("_i").join(got.select(keys), on=keys, how="anti")
    if miss.filter(pl.col("trade_date") == session).height:
        return None
    parts = [got]
    if miss.height:  # sessions before the run's windows: their snapshots read
        rows = snaps.take(pa.array(miss.get_column("_i").to_numpy()))
        h = FileBlocks(str(store.root), rows, {}).chain_block(
            None, end=session, columns=_UNUSUAL_COLS
        )
        parts.append(daily_flow(h))
    daily = pl.concat(parts, how="vertical_relaxed").sort(keys)
    out = unusual_rows(daily, session, window=window, min_multiple=st.unusual_min_multiple,
                       min_sessions=st.unusual_min_sessions,
                       min_premium_usd=st.unusual_min_premium_usd)  # fmt: skip
    return _by_underlying(out) if out.num_rows else pa.table({})


def session_rows(
    histories: Sequence[pa.Table | None], session: dt.date, rows: WindowRows | None = None
) -> pa.Table | None:
    """The ``session`` chain rows of the windows' ``histories`` (each an underlying's
    :meth:`chainlens.store.Store.chain_history`), the net-delta scanner's chain columns cast
    to the stored chain schema, in window order; None when a history lacks a column or the
    columns do not concatenate (the scanner then reads the chain). ``rows``: the windows'
    :class:`WindowRows`, the same rows concatenated once."""
    import pyarrow.compute as pc

    cols = list(_ND_CHAIN_COLS)
    if rows is not None:
        day = rows.chain.column("trade_date")
        return rows.chain.filter(pc.equal(day, pa.scalar(session, pa.date32()))).select(cols)
    try:
        parts = []
        for h in histories:  # a loop over the block's windows: their columns
            if h is None or not set(cols) <= set(h.column_names):
                return None
            parts.append(h.select(cols))
        t = pa.concat_tables(parts)  # then one filter: the same rows, in window order
        return _canon(t.filter(pc.equal(t.column("trade_date"), pa.scalar(session, pa.date32()))),
                      "chain", cols)  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def netdelta_block(
    task: NetDeltaTask,
    names: Sequence[str],
    today: pa.Table | None = None,
    chain_today: pa.Table | None = None,
    segments: Any = None,
) -> tuple[pa.Table, pa.Table]:
    """The rows of :func:`netdelta_scan` for the underlyings ``names`` (sorted, each with a
    chain on the session), and their rows of the session's daily part: the same kernel
    (:func:`_netdelta_block`) over the task's files instead of the catalog.

    ``today``: the session's trades of ``names`` already read (every column of
    ``schema.TRADES``; each underlying's rows in the stored order; no other underlying's),
    or None to read them; when they hold ``side_code`` and ``multileg`` (tagged by
    :func:`chainlens.flow.enrich_trades` under the default side and multi-leg rules of
    :class:`~chainlens.flow.FlowConfig`: the run block's flow step), those tags are used. ``chain_today``: the session's chain rows of ``names`` already read
    (the default snapshot of each, as :meth:`chainlens.store.Store.chain_block` gives it:
    the run's windows hold it), or None. With it, the window's sessions and names come from
    the task's catalog rows, and only the chain rows the scanner needs besides the session's
    (a past session without a stored daily part; an underlying without a trade in the
    window) are read from the files. ``segments`` (with ``today``): per row of ``today``,
    the position of its underlying in ``names``, every row's ``underlying`` checked to read
    that name (:func:`_segments_are`); the per-contract sums then group by it instead of
    encoding the underlying column again.
    """
    reader = (
        task.files
        if today is None
        else _TodayTrades(task.files, task.session, today, names, segments)
    )
    present = None
    if chain_today is not None:
        present = _present(task.files.snaps, names, task.first, task.session)
    out, daily = _netdelta_block(reader, list(names), task.session, task.first,
                                 task.min_increase, task.stored, present=present,
                                 chain_today=chain_today)  # fmt: skip
    return (_by_underlying(out) if out.num_rows else pa.table({})), daily


def _present(snaps: pa.Table, names: Sequence[str], first: dt.date, session: dt.date) -> pa.Table:
    """``(underlying, trade_date)`` of the default snapshots of ``names`` in ``[first,
    session]`` holding a row (the catalog rows ``snaps``: the pairs
    :meth:`chainlens.store.Store.chain_block` returns rows of), sorted."""
    import pyarrow.compute as pc

    days = snaps.column("trade_date")
    keep = pc.and_(
        pc.and_(
            pc.greater_equal(days, pa.scalar(first, pa.date32())),
            pc.less_equal(days, pa.scalar(session, pa.date32())),
        ),
        pc.and_(
            pc.is_in(snaps.column("underlying"), value_set=pa.array(list(names), pa.string())),
            pc.greater(snaps.column("contracts"), 0),
        ),
    )
    t = snaps.filter(keep).select(["underlying", "trade_date"])
    return t.sort_by([("underlying", "ascending"), ("trade_date", "ascending")])


def _empty_daily() -> pa.Table:
    return pa.table(
        {
            "underlying": pa.array([], pa.string()),
            "expiry": pa.array([], pa.date32()),
            "delta_shares": pa.array([], pa.float64()),
            "trades": pa.array([], pa.int64()),
        }
    )


def _daily(td: pl.DataFrame) -> pl.DataFrame:
    """Per (underlying, expiry, trade_date): the sum of the contracts' ``delta_shares`` in
    symbol order (the order :func:`chainlens.scan._netdelta.netdelta_from_td` sums in)."""
    td = td.sort(["underlying", "expiry", "trade_date", "symbol"])
    return td.group_by(["underlying", "expiry", "trade_date"], maintain_order=True).agg(
        pl.col("delta_shares").sum()
    )


def _netdelta_block(
    store: Any,
    block: list[str],
    session: dt.date,
    first: dt.date,
    min_increase: float,
    stored: dict[dt.date, pa.Table],
    *,
    present: pa.Table | None = None,
    chain_today: pa.Table | None = None,
) -> tuple[pa.Table, pa.Table]:
    """:func:`chainlens.scan.scan_netdelta` of a block, and its rows of the session's daily
    part: the chain window once, then each session's trades of the block reduced to daily
    sums one session at a time (bounded memory), or the session's ``stored`` daily part;
    underlyings without a trade in the window read their OI changes.

    ``present`` (the ``(underlying, trade_date)`` pairs of the window's snapshots, sorted)
    and ``chain_today`` (the session's chain rows of the block): the window is not read;
    the chain rows of a session are read only where a session is computed from its trades
    (not ``session``: ``chain_today``), and the window of the underlyings without a trade."""
    import pyarrow.compute as pc

    from chainlens.scan._netdelta import _netdelta_rows, oi_delta

    h: pa.Table | None = None
    if present is None or chain_today is None:
        h = store.chain_block(block, end=session, start=first, columns=_ND_CHAIN_COLS)
        present = h.select(["underlying", "trade_date"])
    if not present.num_rows:
        return pa.table({}), _empty_daily()

    def chain(names: pa.Array, lo: dt.date, hi: dt.date) -> pa.Table:
        """The window's chain rows of ``names`` in ``[lo, hi]`` (as ``h`` holds them)."""
        if h is not None:
            days = h.column("trade_date")
            keep = pc.and_(
                pc.and_(
                    pc.greater_equal(days, pa.scalar(lo, pa.date32())),
                    pc.less_equal(days, pa.scalar(hi, pa.date32())),
                ),
                pc.is_in(h.column("underlying"), value_set=names),
            )
            return h.filter(keep)
        if lo == hi == session and chain_today is not None:
            return chain_today.filter(pc.is_in(chain_today.column("underlying"), value_set=names))
        return store.chain_block(names.to_pylist(), end=hi, start=lo, columns=_ND_CHAIN_COLS)

    days = present.column("trade_date")
    dailies: list[pl.DataFrame] = []
    today: list[pl.DataFrame] = []
    traded: set[str] = set()
    part = _empty_daily()
    for d in pc.unique(days).to_pylist():  # a loop over the window's sessions
        listed = pc.unique(  # the names whose window holds d
            present.column("underlying").filter(pc.equal(days, pa.scalar(d, pa.date32())))
        )
        if d in stored:
            got = stored[d].filter(pc.is_in(stored[d].column("underlying"), value_set=listed))
            traded.update(pc.unique(got.column("underlying")).to_pylist())
            rows = got.filter(pc.is_valid(got.column("expiry")))
            df = pl.from_arrow(rows.select(["underlying", "expiry", "delta_shares"]))
            assert isinstance(df, pl.DataFrame)
            dailies.append(df.with_columns(pl.lit(d, pl.Date).alias("trade_date"))
                           .select("underlying", "expiry", "trade_date", "delta_shares"))  # fmt: skip
            continue
        names_l = listed.to_pylist()
        tr = store.trades_block(names_l, d, _ND_TRADE_COLS)
        if not tr.num_rows:
            continue
        seg = store.segments(names_l, d) if hasattr(store, "segments") else None
        if seg is not None:  # the underlyings of the rows, known: no string pass
            traded.update(
                np.asarray(block, dtype=object)[np.bincount(seg, minlength=len(block)) > 0].tolist()
            )
        else:
            traded.update(pc.unique(tr.column("underlying")).to_pylist())
        signed = tr if set(_TAGS) <= set(tr.column_names) else _signed(tr)
        segs = None if seg is None else (block, seg)
        td = _transactional_delta_day(signed, chain(listed, d, d), d, segs)
        daily = _daily(td)
        dailies.append(daily)
        if d == session:
            today.append(td)
            part = _daily_part(daily, tr, segs)
    quiet = [u for u in block if u not in traded]  # per underlying: no trade in the window
    if quiet:
        hq = chain(pa.array(quiet, pa.string()), first, session)
        td = oi_delta(hq).filter(
            (pl.col("trade_date") >= first) & (pl.col("trade_date") <= session)
        )
        dailies.append(_daily(td))
        today.append(td.filter(pl.col("trade_date") == session))
    if not dailies:
        return pa.table({}), part
    daily = pl.concat(dailies, how="vertical_relaxed")
    td_today = pl.concat(today, how="vertical_relaxed") if today else None
    if td_today is None:
        td_today = pl.DataFrame(schema={"underlying": pl.String, "expiry": pl.Date,
                                        "symbol": pl.String, "delta_shares": pl.Float64,
                                        "net_contracts": pl.Float64,
                                        "gross_contracts": pl.Float64})  # fmt: skip
    return _netdelta_rows(daily, td_today, session, min_increase=min_increase), part


def _transactional_delta_day(
    trades: pa.Table,
    chain: pa.Table,
    day: dt.date,
    segments: tuple[Sequence[str], Any] | None = None,
) -> pl.DataFrame:
    """:func:`chainlens.scan._netdelta.transactional_delta` of the session ``day``'s signed
    trades (``_signed``) and that session's chain rows: the same rows (in another order),
    the sums per contract as ``np.bincount`` over the contract's trades in row order (floats
    to 1e-12 relative of the Polars sums; the integer sums exactly).

    :math:`\\Delta_{shares} = \\sum s \\cdot q \\cdot \\delta \\cdot m` per (underlying,
    expiry, session, symbol) in shares, :math:`s = +1` customer buy, :math:`-1` sell, 0
    otherwise; multi-leg legs excluded; ``net_contracts`` :math:`\\sum s q` and
    ``gross_contracts`` :math:`\\sum q` (contracts); :math:`\\delta` the vendor delta of the
    contract's last chain row of the session; a null operand adds nothing (the Polars sum
    skips nulls), a NaN one makes the sum NaN. Falls back to ``transactional_delta`` where a
    symbol is null, names two underlyings or expiries, or a trade is of another session.

    ``segments`` ``(names, seg)``: the underlying of trade ``r`` is ``names[seg[r]]``
    (checked by the caller): a symbol's underlying is then its rows' ``seg`` (integers), and
    the symbols are coded by one Arrow dictionary encoding (the same codes, in order of first
    appearance), instead of encoding the underlying column too."""
    import pyarrow.compute as pc

    from chainlens.oi._encode import one_chunk
    from chainlens.scan import _kernels
    from chainlens.scan._netdelta import transactional_delta

    t = trades
    if t.column("symbol").null_count or t.column("multileg").null_count:
        return transactional_delta(trades, chain)
    legs = t.column("multileg").to_numpy(zero_copy_only=False)
    if legs.all():
        return transactional_delta(trades, chain)
    tdate = t.column("trade_date")
    if tdate.null_count:
        return transactional_delta(trades, chain)
    if pa.types.is_date32(tdate.type):  # days since the epoch, compared as integers
        epoch_days = np.asarray(one_chunk(tdate).cast(pa.int32()).to_numpy(), np.int64)
        if not bool((epoch_days == (day - dt.date(1970, 1, 1)).days).all()):
            return transactional_delta(trades, chain)
    else:
        same_day = pc.equal(tdate, pa.scalar(day, pa.date32()))
        if same_day.null_count or not pc.all(same_day).as_py():
            return transactional_delta(trades, chain)
    if (
        segments is not None
        and len(segments[1]) == t.num_rows
        and pa.types.is_date32(t.column("expiry").type)
    ):
        coded = _coded_head(t, day, *segments)
        if coded is None:  # a symbol of two underlyings or expiries, a null expiry
            return transactional_delta(trades, chain)
        head, code = coded
        n_sym = head.num_rows
    else:
        # the symbols' codes in order of first appearance and the first row of each
        code, first_row, n_sym = _first_codes(t.column("symbol"))
        head = t.select(["underlying", "expiry", "trade_date", "symbol"]).take(pa.array(first_row))
        for col in ("underlying", "expiry"):  # one value per symbol, or the reference
            if not _one_per_code(t.column(col), head.column(col), code, first_row):
                return transactional_delta(trades, chain)
    # a contract traded in multi-leg packages only has no row (the reference drops them first)
    single = np.bincount(code, ~legs, minlength=n_sym) > 0
    # the contract's delta: its last chain row of the session (the reference's keep="last")
    n_c = chain.num_rows
    rev = pa.array(np.arange(n_c - 1, -1, -1, dtype=np.int64))
    csym = chain.column("symbol").take(rev)
    cdel = chain.column("delta").cast(pa.float64()).take(rev)
    syms = one_chunk(head.column("symbol"))  # the symbols in code order
    at = pc.index_in(syms, value_set=csym)  # first in reverse = last row
    got = pc.take(cdel, at) if n_c else pa.nulls(n_sym, pa.float64())
    delta_k = pc.fill_null(got, 0.0).to_numpy(zero_copy_only=False)
    dvalid_k = pc.is_valid(got).to_numpy(zero_copy_only=False)

    side = pc.fill_null(t.column("side_code"), 0).to_numpy(zero_copy_only=False)
    cols: list[Any] = []
    if _kernels.use_compiled(t.num_rows):
        cols = [_kernels.column(t.column(c)) for c in ("size", "multiplier")]
    if cols and None not in cols:  # one compiled pass: the same sums, bit for bit
        net, gross, dsum = _kernels.contract_sums(
            code, n_sym, legs, np.asarray(side, np.int64), cols, delta_k, dvalid_k
        )
    else:
        net, gross, dsum = _contract_sums(t, code, n_sym, legs, side, delta_k, dvalid_k)
    rows = np.flatnonzero(single)
    out = pl.from_arrow(head.take(pa.array(rows)))
    assert isinstance(out, pl.DataFrame)
    return out.with_columns(
        pl.Series("net_contracts", net[rows]),
        pl.Series("gross_contracts", gross[rows]),
        pl.Series("delta_shares", dsum[rows]),
    )


def _contract_sums(
    t: pa.Table, code: Any, n_sym: int, legs: Any, side: Any, delta_k: Any, dvalid_k: Any
) -> tuple[Any, Any, Any]:
    """Per contract code: ``net_contracts``, ``gross_contracts`` and ``delta_shares`` of
    :func:`_transactional_delta_day` (``np.bincount`` in row order; the NumPy twin of
    :func:`chainlens.scan._kernels.contract_sums`)."""
    from chainlens.flow._side import BUY, SELL

    def f64(col: str) -> tuple[np.ndarray, np.ndarray]:
        out: tuple[np.ndarray, np.ndarray] = _f64_valid(t.column(col))
        return out

    size, size_ok = f64("size")
    size = np.where(legs, 0.0, size)  # a multi-leg leg adds nothing
    mult, mult_ok = f64("multiplier")
    s = np.where(side == BUY, 1.0, np.where(side == SELL, -1.0, 0.0))
    ok = size_ok & mult_ok & dvalid_k[code] & ~legs
    term = np.where(ok, s * size * delta_k[code] * mult, 0.0)
    return (
        np.bincount(code, s * size, minlength=n_sym),
        np.bincount(code, size, minlength=n_sym),
        np.bincount(code, term, minlength=n_sym),
    )


def _coded_head(
    t: pa.Table, day: dt.date, names: Sequence[str], seg: Any
) -> tuple[pa.Table, Any] | None:
    """The ``(underlying, expiry, trade_date, symbol)`` of each symbol of the trades ``t``
    (no null symbol; ``expiry`` date32; every row of session ``day``; the underlying of row
    ``r`` is ``names[seg[r]]``), in order of first appearance, and each row's code: the rows
    :func:`_first_codes` and the first row of each code give. None when a symbol's rows name
    two underlyings or two expiries, or an expiry is null."""
    from chainlens.oi._encode import arrow_codes, one_chunk
    from chainlens.scan import _kernels

    c, dictionary = arrow_codes(t.column("symbol"))
    code = np.asarray(c, np.int64)
    n = len(dictionary)
    seg = np.asarray(seg, np.int64)
    exp = t.column("expiry")
    if exp.null_count:
        return None
    days = one_chunk(exp).cast(pa.int32()).to_numpy()
    if _kernels.use_compiled(len(code)):  # one compiled pass: the same values and answer
        seg_k, exp_k, ok = _kernels.per_code(code, n, seg, days)
        if not ok:
            return None
    else:
        days = np.asarray(days, np.int64)
        seg_k = np.zeros(n, np.int64)
        seg_k[code] = seg  # one of the symbol's rows; then every row is checked against it
        if not bool((seg_k[code] == seg).all()):
            return None
        exp_k = np.zeros(n, np.int64)
        exp_k[code] = days
        if not bool((exp_k[code] == days).all()):
            return None
    head = pa.table(
        {
            "underlying": pa.array([str(u) for u in names], pa.string()).take(pa.array(seg_k)),
            "expiry": pa.array(exp_k.astype("datetime64[D]"), pa.date32()),
            "trade_date": pa.array(np.full(n, np.datetime64(day, "D")), pa.date32()),
            "symbol": dictionary,
        }
    )
    return head, code


def _first_codes(col: pa.ChunkedArray, *, runs: bool = False) -> tuple[Any, Any, int]:
    """Codes of a string column without nulls in order of first appearance (int64), the first
    row of each code and their count. ``runs``: the column is made of long runs of one value
    (an underlying column), where the compiled encoder
    (:func:`chainlens.oi._encode.encode_strings`) settles nearly every row by one comparison;
    otherwise (trade symbols in time order) Arrow's hash encoding is faster. The same codes."""
    import numpy as np

    from chainlens.oi._encode import arrow_codes, encode_strings

    enc = encode_strings(col) if runs else None
    if enc is not None:
        return enc[0].astype(np.int64), enc[1], len(enc[2])
    c, dictionary = arrow_codes(col)
    code = np.asarray(c, np.int64)
    # codes in order of first appearance: a code's first row is where it exceeds every code
    # before it
    prev = np.maximum.accumulate(np.concatenate([[-1], code[:-1]]))
    return code, np.flatnonzero(code > prev).astype(np.int64), len(dictionary)


def _one_per_code(col: pa.ChunkedArray, head: pa.ChunkedArray, code: Any, first: Any) -> bool:
    """Whether every row of ``col`` equals the value of its code's first row (``head``:
    ``col`` at ``first``; a null fails): a date column compared as integers, a string
    column by its codes (equal strings, equal codes), else one Arrow comparison."""
    import numpy as np
    import pyarrow.compute as pc

    if col.null_count:
        return False
    if pa.types.is_date32(col.type):
        days = np.asarray(col.cast(pa.int32()).to_numpy(), np.int64)
        return bool((days[first][code] == days).all())
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        own, _, _ = _first_codes(col, runs=True)
        return bool((own[first][code] == own).all())
    same = pc.equal(col, head.take(pa.array(code)))
    return not same.null_count and bool(pc.all(same).as_py())


def _daily_part(
    daily: pl.DataFrame, trades: pa.Table, segments: tuple[Sequence[str], Any] | None = None
) -> pa.Table:
    """The session's ``scan_netdelta_daily`` rows: the daily sums, ``trades`` (the
    underlying's trades of the session, all of them) on every row, and a row with a null
    expiry for an underlying that traded but has no sum (only multi-leg trades): it still
    reads trades, not OI changes, in a later window. ``segments`` ``(names, seg)``: the
    underlying of trade ``r`` is ``names[seg[r]]`` (the counts by window, no string pass)."""
    import pyarrow.compute as pc

    if segments is not None and len(segments[1]) == trades.num_rows:
        counts = np.bincount(np.asarray(segments[1], np.int64), minlength=len(segments[0]))
        has = counts > 0
        values = np.asarray([str(u) for u in segments[0]], dtype=object)[has].tolist()
        n = pl.DataFrame(
            {
                "underlying": pl.Series(values, dtype=pl.String),
                "trades": pl.Series(counts[has], dtype=pl.Int64),
            }
        )
    else:
        vc = pc.value_counts(trades.column("underlying"))  # per underlying: its trades
        n = pl.DataFrame(
            {
                "underlying": pl.Series(vc.field("values").to_pylist(), dtype=pl.String),
                "trades": pl.Series(vc.field("counts").to_numpy(), dtype=pl.Int64),
            }
        )
    rows = daily.select("underlying", "expiry", pl.col("delta_shares").cast(pl.Float64))
    marks = n.join(rows.select("underlying").unique(), on="underlying", how="anti").select(
        "underlying", pl.lit(None, pl.Date).alias("expiry"),
        pl.lit(None, pl.Float64).alias("delta_shares"),
    )  # fmt: skip
    out = pl.concat([rows, marks], how="vertical_relaxed").join(n, on="underlying", how="left")
    out = out.sort(["underlying", "expiry"], nulls_last=True).to_arrow()
    return out.cast(_empty_daily().schema)


def _signed(trades: pa.Table) -> pa.Table:
    """``trades`` plus the ``side_code`` and ``multileg`` columns of
    :func:`chainlens.flow.enrich_trades` (default :class:`~chainlens.flow.FlowConfig`; the
    same functions, so the same values), without its sweep/block/synthetic tags the
    net-delta scanner does not read. The default side rule (``quote``) reads each trade
    alone and the same-instant multi-leg rule groups by (underlying, ts), so a session's
    trades of many underlyings tag as each underlying's trades of the window do."""
    from chainlens.flow._analyze import side_and_multileg
    from chainlens.flow._config import FlowConfig

    cfg = FlowConfig()
    if cfg.side_method != "quote":  # pragma: no cover - the default is the quote rule
        raise NotImplementedError("a tick-based side rule needs the window's trades at once")
    code, ml = side_and_multileg(trades, cfg)
    return trades.append_column("side_code", pa.array(code, pa.int8())).append_column(
        "multileg", pa.array(ml)
    )


def store_scan_per_underlying(
    store: Any,
    kind: str,
    session: dt.date,
    *,
    config: OIConfig | None = None,
    n_sessions: int = 30,
    window: int = 20,
    start: dt.date | None = None,
    settings: ScanSettings | None = None,
) -> pa.Table:
    """Run one scanner over every underlying stored on ``session``, one kernel call per
    underlying; concatenated results (the reference :func:`store_scan` is tested against).

    ``kind``: ``accumulation``, ``rolls``, ``unusual`` or ``netdelta``.
    """
    from chainlens.errors import ConfigError

    cfg = config or OIConfig()
    st = settings or ScanSettings()
    parts: list[pa.Table] = []
    for u in store.underlyings(session):  # one pure kernel call per underlying
        if kind == "accumulation":
            h = store.chain_history(u, end=session, n_sessions=n_sessions)
            parts.append(accumulation_of(h, session, cfg))
        elif kind == "rolls":
            h = store.chain_history(u, end=session, n_sessions=cfg.roll_window + 1)
            parts.append(detect_rolls(h, as_of=session, config=cfg))
        elif kind == "unusual":
            from chainlens.scan._unusual import scan_unusual

            h = store.chain_history(u, end=session, n_sessions=window + 1)
            parts.append(scan_unusual(h, session, trades=store.trades(u, session), window=window,
                                      min_multiple=st.unusual_min_multiple, min_sessions=st.unusual_min_sessions,
                                      min_premium_usd=st.unusual_min_premium_usd))  # fmt: skip
        elif kind == "netdelta":
            from chainlens.flow._analyze import enrich_trades
            from chainlens.scan._netdelta import scan_netdelta

            first = start or (session - dt.timedelta(days=30))
            h = store.chain_history(u, end=session, start=first)
            sessions = sorted(set(h.column("trade_date").to_pylist()))
            trades = [store.trades(u, d) for d in sessions]
            trades = [t for t in trades if t.num_rows]
            if not h.num_rows:
                continue
            t = enrich_trades(pa.concat_tables(trades)) if trades else None  # None: OI changes
            parts.append(
                scan_netdelta(t, h, session, start=first, min_increase=st.netdelta_min_increase)
            )
        else:
            raise ConfigError(f"unknown scanner {kind!r} (unusual|netdelta|accumulation|rolls)")
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")
