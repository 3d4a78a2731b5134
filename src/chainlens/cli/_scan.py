"""``chainlens scan unusual|netdelta|accumulation|rolls --date D [--store DIR] [--json]``.

A thin layer over :func:`chainlens.scan.store_scan`. ``accumulation`` and ``rolls`` print
exactly the SPEC's stable keys with ``--json``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from chainlens.cli._common import JsonOpt, StoreOpt

__all__ = ["register"]

_KINDS = ("unusual", "netdelta", "accumulation", "rolls")


def _parse_date(value: str) -> dt.date:
    from chainlens._dates import parse_date

    return parse_date(value, "--date")


#: Column headers of the terminal table (``--json`` keeps the keys).
_HEADERS = {
    "underlying": "ticker", "session": "session", "asof": "as of", "volume": "volume",
    "premium_usd": "premium", "avg_volume": "avg volume", "avg_premium_usd": "avg premium",
    "volume_multiple": "vol ×avg", "premium_multiple": "prem ×avg",
    "sessions_in_average": "sessions", "delta_shares": "Δ today (sh)",
    "cum_delta_shares": "cum Δ (sh)", "cum_delta_prev_shares": "cum Δ prev (sh)",
    "increase": "increase", "top_symbols": "top contract", "top_net_contracts": "its net",
    "top_gross_contracts": "gross", "oi_change": "OI change", "from_expiry": "from expiry",
    "from_strike": "from strike", "to_expiry": "to expiry", "to_strike": "to strike",
}  # fmt: skip


def _cell(key: str, v: Any) -> str:
    """A terminal cell: USD compact (``$6.87M``), multiples ``6.97×``, the increase as %,
    contracts and shares with thousands separators; of a list, its first (largest) item.
    ``--json`` prints the unformatted values."""
    if v is None:
        return ""
    if isinstance(v, list):  # netdelta's top three: the largest one in the terminal
        return _cell(key, v[0]) if v else ""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    x = float(v)
    if key.endswith("_usd"):
        for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
            if abs(x) >= div:
                return f"${x / div:,.2f}{unit}"
        return f"${x:,.0f}"
    if key.endswith("_multiple"):
        return f"{x:.2f}×"
    if key == "increase":
        return f"{x:+.1%}"
    if key.endswith("strike"):
        return f"{x:g}"
    return f"{x:,.0f}"


def _records(kind: str, table: Any) -> list[dict[str, Any]]:
    from chainlens.scan import accumulation_records, roll_records

    if table.num_rows == 0:
        return []
    if kind == "accumulation":
        return accumulation_records(table)
    if kind == "rolls":
        return roll_records(table)
    return table.to_pylist()


def register(app: typer.Typer) -> None:
    """Add ``scan`` to ``app``."""

    @app.command("scan")
    def scan(
        kind: str = typer.Argument(..., help="Scanner: unusual, netdelta, accumulation or rolls."),
        date: str = typer.Option(..., "--date", help="As-of session YYYY-MM-DD."),
        store: Path = StoreOpt,
        as_json: bool = JsonOpt,
        window: int = typer.Option(
            20, "--window", help="unusual: sessions in the rolling average."
        ),
        start: str | None = typer.Option(
            None, "--start", help="netdelta: start date (default D-30d)."
        ),
        min_multiple: float = typer.Option(
            3.0, "--min-multiple", help="unusual: premium or volume multiple to report."
        ),
        min_increase: float = typer.Option(
            0.5,
            "--min-increase",
            help="netdelta: cumulative delta increase to report (0.5 = +50%).",
        ),
    ) -> None:
        """Scanners: premium/volume multiples, net delta, OI accumulation streaks, rolls/closes."""
        from chainlens.cli._common import console, emit_json, esc
        from chainlens.errors import InputError
        from chainlens.scan import store_scan
        from chainlens.store import Store

        if kind not in _KINDS:
            raise InputError(
                f"scanner must be one of {', '.join(_KINDS)}", column="KIND", value=kind
            )
        d = _parse_date(date)
        first = _parse_date(start) if start else None
        with Store(store, create=False, read_only=True) as st:
            from chainlens.scan import ScanSettings

            sets = ScanSettings(
                unusual_min_multiple=min_multiple, netdelta_min_increase=min_increase
            )
            table = store_scan(st, kind, d, window=window, start=first, settings=sets)
        rows = _records(kind, table)
        if as_json:
            emit_json(rows)
            return
        from rich.table import Table

        if not rows:
            console.print(f"scan {kind} {d}: nothing found")
            return
        # the title says the session; netdelta's terminal view keeps the largest position only
        skip = {"session", "asof", "n", "cum_delta_prev_shares", "top_gross_contracts"}
        keys = [k for k in rows[0] if k not in skip]
        tab = Table(*(esc(_HEADERS.get(k, k)) for k in keys), title=f"scan {kind} {d}")
        for r in rows[:200]:
            tab.add_row(*(esc(_cell(k, r[k])) for k in keys))
        console.print(tab)
        if len(rows) > 200:
            console.print(f"(first 200 of {len(rows)} rows; --json prints them all)")
