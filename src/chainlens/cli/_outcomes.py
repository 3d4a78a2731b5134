"""``chainlens outcomes [--from D1] [--to D2] [--ticker T] [--rule R]... [--json] [--detail]``.

A thin layer over :func:`chainlens.outcomes.measure_outcomes`: per rule and underlying, the
hits, n, baseline and Wilson 95% interval (SPEC "Command line": the ``--json`` keys). Every rate
is printed with its n; a rule with fewer than ``MIN_EVENTS`` events is flagged as too small.
Also :func:`level_history_rows`, the range form of ``chainlens levels`` (``cli/_analyze.py``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from chainlens.cli._common import JsonOpt, StoreOpt

__all__ = ["emit_level_history", "parse_day", "register"]


def parse_day(value: str | None, option: str) -> dt.date | None:
    """``YYYY-MM-DD`` -> date (``None`` stays ``None``); a clear error naming the option."""
    from chainlens._dates import parse_date

    return None if value is None else parse_date(value, option)


def _wide(console: Any, width: int) -> Any:
    """``console``, or one at least ``width`` columns wide when the output is not a terminal
    (rich assumes 80 columns for pipes and files, which would cut the n and rate columns)."""
    if console.is_terminal or console.width >= width:
        return console
    from rich.console import Console

    return Console(width=width)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _table(results: list[Any]) -> None:
    from rich.table import Table

    from chainlens.cli._common import console
    from chainlens.outcomes import MIN_EVENTS

    span = sorted({(str(r.start), str(r.end)) for r in results})
    rng = f"{span[0][0]} .. {span[-1][1]}" if span else ""
    tab = Table(
        title=f"chainlens outcomes {rng} (hit: the rule was right; baseline: the naive read)"
    )
    for name in ("ticker", "rule", "n", "hits", "rate", "95% CI", "baseline", "base rate"):
        tab.add_column(name, no_wrap=True)
    for r in results:
        j = r.to_json()
        ci = "-" if j["ci95_low"] is None else f"{_pct(j['ci95_low'])}-{_pct(j['ci95_high'])}"
        bh = j["baseline_hits"]
        bhs = f"{bh:.1f}" if isinstance(bh, float) else str(bh)
        note = "" if r.n >= MIN_EVENTS else "*"
        tab.add_row(
            r.underlying,
            r.rule,
            f"{r.n}{note}",
            str(r.hits),
            _pct(j["hit_rate"]),
            ci,
            f"{bhs}/{j['baseline_n']}",
            _pct(j["baseline_rate"]),
        )
    tab.caption = f"* n < {MIN_EVENTS}: too few events to say anything"
    _wide(console, 120).print(tab)


def _detail(results: list[Any]) -> None:
    from chainlens.cli._common import console

    for r in results:
        console.print(f"[bold]{r.underlying}[/] {r.sentence()}", highlight=False)
        for e in r.events:
            fields = ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in e.items()
                if k not in ("session", "hit")
            )
            mark = "HIT " if e["hit"] else "miss"
            console.print(f"  {e['session']}  {mark}  {fields}", highlight=False, soft_wrap=True)


def emit_level_history(
    store: Path, ticker: str, start: dt.date | None, end: dt.date | None, fmt: str, cfg: Any
) -> None:
    """Print the level history of ``ticker`` as a table, JSON (one list) or CSV."""
    import csv
    import sys

    from chainlens.cli._common import console, emit_json
    from chainlens.outcomes import LEVEL_COLUMNS, level_history
    from chainlens.store import Store

    with Store(store, create=False, read_only=True) as st:
        rows = level_history(st, ticker, start=start, end=end, config=cfg).to_records()
    if fmt == "json":
        emit_json(rows)
        return
    if fmt == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=list(LEVEL_COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        return
    from rich.table import Table

    tab = Table(title=f"{ticker} levels, {len(rows)} sessions")
    for name in ("session", "spot", "zero gamma", "call wall", "put wall", "max pain", "expiry"):
        tab.add_column(name, no_wrap=True)
    for r in rows:
        tab.add_row(
            r["session"],
            *(
                "-" if r[k] is None else f"{r[k]:,.2f}"
                for k in ("spot", "zero_gamma", "call_wall", "put_wall", "max_pain")
            ),
            str(r["max_pain_expiry"] or "-"),
        )
    _wide(console, 100).print(tab)


def register(app: typer.Typer) -> None:
    """Add ``outcomes`` to ``app``."""

    @app.command("outcomes")
    def outcomes(
        start: str | None = typer.Option(None, "--from", help="First session YYYY-MM-DD."),
        end: str | None = typer.Option(None, "--to", help="Last session YYYY-MM-DD."),
        ticker: list[str] = typer.Option(
            [], "--ticker", "--underlying", help="Underlying(s); all stored ones by default."
        ),
        rule: list[str] = typer.Option(
            [], "--rule", help="Rule(s) to measure (see docs/outcomes.md); all by default."
        ),
        tol: float | None = typer.Option(
            None, "--tol", help="max_pain_pin tolerance, a fraction (default 0.003 = 0.3%)."
        ),
        store: Path = StoreOpt,
        as_json: bool = JsonOpt,
        detail: bool = typer.Option(False, "--detail", help="List every event."),
    ) -> None:
        """How often each rule was right on the stored history, against a naive baseline."""
        from chainlens.cli._common import emit_json
        from chainlens.errors import InputError
        from chainlens.outcomes import measure_outcomes
        from chainlens.store import Store

        d1, d2 = parse_day(start, "--from"), parse_day(end, "--to")
        params = None
        if tol is not None:
            if not 0 < tol < 1:
                raise InputError("--tol must be a fraction in (0, 1)", column="--tol", value=tol)
            params = {"max_pain_pin": {"tol": tol}}
        with Store(store, create=False, read_only=True) as st:
            tickers = [t.upper() for t in ticker] or None
            if tickers:
                have = set(st.underlyings())
                for t in tickers:
                    if t not in have:
                        raise InputError(
                            f"the store holds no chain of {t} (stored: {', '.join(sorted(have)) or 'none'})",
                            column="--ticker",
                            value=t,
                        )
            res = measure_outcomes(
                st, start=d1, end=d2, underlyings=tickers, rules=rule or None, params=params
            )
        if as_json:
            emit_json([r.to_json(detail=detail) for r in res])
            return
        if detail:
            _detail(res)
        _table(res)
