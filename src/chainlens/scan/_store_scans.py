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
from typing import Any

import pyarrow as pa

from chainlens.oi._config import OIConfig
from chainlens.oi._rolls import detect_rolls
from chainlens.oi._streaks import accumulation
from chainlens.scan._settings import ScanSettings

__all__ = [
    "ACCUMULATION_KEYS",
    "ROLL_KEYS",
    "accumulation_records",
    "roll_records",
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
    """
    _check_kind(kind)
    cfg = config or OIConfig()
    st = settings or ScanSettings()
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
            out = accumulation(
                h,
                as_of=session,
                min_sessions=cfg.streak_min_sessions,
                min_contracts=cfg.streak_min_contracts,
                min_fraction=cfg.streak_min_fraction,
                min_dte=cfg.streak_min_dte,
            )
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
        else:
            out = _netdelta_block(store, block, session, first, st.netdelta_min_increase)
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


def _netdelta_block(
    store: Any, block: list[str], session: dt.date, first: dt.date, min_increase: float
) -> pa.Table:
    """:func:`chainlens.scan.scan_netdelta` of a block: the chain window once, then each
    session's trades of the block reduced to per-contract deltas one session at a time
    (bounded memory); underlyings without a trade in the window read their OI changes."""
    import polars as pl
    import pyarrow.compute as pc

    from chainlens.scan._netdelta import netdelta_from_td, oi_delta, transactional_delta

    h = store.chain_block(block, end=session, start=first, columns=_ND_CHAIN_COLS)
    if not h.num_rows:
        return pa.table({})
    days = h.column("trade_date")
    tds: list[pl.DataFrame] = []
    traded: set[str] = set()
    for d in pc.unique(days).to_pylist():  # a loop over the window's sessions
        hd = h.filter(pc.equal(days, pa.scalar(d, pa.date32())))
        listed = pc.unique(hd.column("underlying"))  # the names whose window holds d
        tr = store.trades_block(listed.to_pylist(), d, _ND_TRADE_COLS)
        if not tr.num_rows:
            continue
        traded.update(pc.unique(tr.column("underlying")).to_pylist())
        tds.append(transactional_delta(_signed(tr), hd))
    quiet = [u for u in block if u not in traded]  # per underlying: no trade in the window
    if quiet:
        hq = h.filter(pc.is_in(h.column("underlying"), pa.array(quiet, pa.string())))
        if hq.num_rows:
            tds.append(oi_delta(hq))
    if not tds:
        return pa.table({})
    td = pl.concat(tds, how="vertical_relaxed")
    return netdelta_from_td(td, session, start=first, min_increase=min_increase)


def _signed(trades: pa.Table) -> pa.Table:
    """``trades`` plus the ``side_code`` and ``multileg`` columns of
    :func:`chainlens.flow.enrich_trades` (default :class:`~chainlens.flow.FlowConfig`; the
    same functions, so the same values), without its sweep/block/synthetic tags the
    net-delta scanner does not read. The default side rule (``quote``) reads each trade
    alone and the same-instant multi-leg rule groups by (underlying, ts), so a session's
    trades of many underlyings tag as each underlying's trades of the window do."""
    from chainlens.flow._config import FlowConfig
    from chainlens.flow._premium import tag_multileg
    from chainlens.flow._side import classify_side

    cfg = FlowConfig()
    assert cfg.side_method == "quote", "a tick-based side rule needs the window's trades at once"
    code = classify_side(
        trades,
        method=cfg.side_method,
        buy_threshold=cfg.buy_threshold,
        sell_threshold=cfg.sell_threshold,
    )
    ml = tag_multileg(trades, conditions=cfg.multileg_conditions, same_ts=cfg.multileg_same_ts)
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
            parts.append(
                accumulation(
                    h,
                    as_of=session,
                    min_sessions=cfg.streak_min_sessions,
                    min_contracts=cfg.streak_min_contracts,
                    min_fraction=cfg.streak_min_fraction,
                    min_dte=cfg.streak_min_dte,
                )
            )
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
