"""Scanners over a store: one pure kernel per underlying, mapped over the store's underlyings."""

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
]

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
) -> pa.Table:
    """Run one scanner over every underlying stored on ``session``; concatenated results.

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
