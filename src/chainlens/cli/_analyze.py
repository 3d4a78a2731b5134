"""``chainlens analyze FILE`` (stateless) and ``chainlens levels TICKER --date D`` (store);
``levels TICKER --from D1 --to D2`` is the level history (:mod:`chainlens.cli._outcomes`).

Thin layer over :func:`chainlens.analysis.analyze_chain`. Imports are lazy so that process
start to JSON stays short (issue 3: ≤ 1.5 s for a full SPX file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from chainlens.cli._common import JsonOpt, StoreOpt

__all__ = ["register"]

_GREEKS_HELP = "Greeks source: vendor (the file's gamma/delta) or model (BSM); default: vendor when the file has them."
_DEALER_HELP = "Dealer model: classic (calls +1, puts -1), short_all, or flow."


def _config(greeks: str | None, dealer_model: str, rate: float | None) -> Any:
    from chainlens.analysis import AnalysisConfig

    kw: dict[str, Any] = {"greeks": greeks or "auto", "dealer_model": dealer_model}
    if rate is not None:
        kw["rate"] = rate
    return AnalysisConfig(**kw)


def _print(results: list[Any], as_json: bool) -> None:
    from chainlens.cli._common import console, emit_json, esc

    if as_json:
        for r in results:
            emit_json(r.to_json())
        return
    from rich.table import Table

    for r in results:
        tot, lv = r.totals, r.levels
        console.print(
            f"[bold]{esc(r.underlying)}[/] {r.session} spot {r.spot:,.2f}  greeks={r.greeks} "
            f"dealer={r.dealer_model}"
        )
        console.print(
            f"  GEX {tot['gex_usd_per_1pct'] / 1e6:,.1f}M USD/1%   DEX {tot['dex_shares'] / 1e6:,.2f}M sh   "
            f"P/C OI {_fmt(tot['pc_oi_ratio'])}  P/C vol {_fmt(tot['pc_volume_ratio'])}"
        )
        console.print(
            f"  zero gamma {_fmt(lv['zero_gamma'])}  call wall {_fmt(lv['call_wall'])}  "
            f"put wall {_fmt(lv['put_wall'])}  OI walls {_fmt(lv['oi_call_wall'])}/{_fmt(lv['oi_put_wall'])}"
        )
        tab = Table("expiry", "call OI", "put OI", "max pain", "GEX M", "ATM", "straddle", "EM %")
        for e in r.by_expiry.slice(0, 12).to_pylist():
            tab.add_row(
                str(e["expiry"]),
                f"{e['call_oi']:,}",
                f"{e['put_oi']:,}",
                _fmt(e["max_pain"]),
                _fmt(e["gex_usd_per_1pct"] / 1e6),
                _fmt(e["atm_strike"]),
                _fmt(e["straddle_mid"]),
                _fmt(e["expected_move_pct"]),
            )
        console.print(tab)
        if r.excluded:
            console.print(
                "  excluded: " + ", ".join(f"{esc(k)}={esc(v)}" for k, v in r.excluded.items())
            )


def _read_snapshot(file: Path) -> tuple[Any, int, str]:
    """(accepted chain rows, rejected row count, the first reject described) of one file.

    Raises InputError when no row passed validation (nothing to analyse)."""
    import pyarrow as pa

    from chainlens.errors import InputError
    from chainlens.io import read_file

    tables, rejects, read = [], [], 0
    for res in read_file(file):
        if res.kind != "chain":
            raise InputError(f"file holds {res.kind}, not an option chain", path=file)
        tables.append(res.table)
        rejects.append(res.rejects)
        read += res.rows_read
    rej = pa.concat_tables(rejects) if rejects else None
    n_rej = 0 if rej is None else rej.num_rows
    first = ""
    if rej is not None and n_rej:
        r0 = rej.slice(0, 1).to_pylist()[0]
        first = f"row {r0['row']}, column {r0['column']!r}, value {r0['value']!r}: {r0['reason']}"
    chain = pa.concat_tables(tables).combine_chunks() if tables else None
    if chain is None or chain.num_rows == 0:
        raise InputError(
            f"no row passed validation ({read:,} read, {n_rej:,} rejected"
            + (f"; first: {first})" if first else ")"),
            path=file,
            hint="`chainlens ingest FILE` writes every rejected row and its reason to a CSV",
        )
    return chain, n_rej, first


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:,.2f}"


def register(app: typer.Typer) -> None:
    """Add ``analyze`` and ``levels`` to ``app``."""

    @app.command("analyze")
    def analyze(
        file: Path = typer.Argument(
            ..., help="One chain snapshot file (Cboe CSV, generic CSV, Parquet)."
        ),
        as_json: bool = JsonOpt,
        greeks: str | None = typer.Option(None, "--greeks", help=_GREEKS_HELP),
        dealer_model: str = typer.Option("classic", "--dealer-model", help=_DEALER_HELP),
        rate: float | None = typer.Option(
            None, "--rate", help="Flat risk-free rate (decimal, 1/yr)."
        ),
    ) -> None:
        """Positioning summary of one snapshot file (stateless: no store)."""
        from chainlens.analysis import analyze_chain
        from chainlens.errors import InputError

        cfg = _config(greeks, dealer_model, rate)
        from chainlens.errors import file_problem

        why = file_problem(file)
        if why == "no such file":
            why = "file not found"
        if why is not None:
            raise InputError(why, path=file)
        chain, n_rejected, first = _read_snapshot(file)
        results = analyze_chain(chain, cfg)
        if n_rejected:
            # rows the validation refused are counted, never silently dropped
            for r in results:
                r.excluded["rejected_at_read"] = n_rejected
            from chainlens.cli._common import console_err, esc

            console_err.print(
                f"note: {n_rejected:,} row(s) of {esc(file)} failed validation and are not "
                f"in the figures (first: {esc(first)})",
                highlight=False,
                soft_wrap=True,
            )
        _print(results, as_json)

    @app.command("levels")
    def levels(
        ticker: str = typer.Argument(..., help="Underlying ticker (SPX, QQQ...)."),
        date: str | None = typer.Option(None, "--date", help="Session date YYYY-MM-DD."),
        store: Path = StoreOpt,
        as_json: bool = JsonOpt,
        greeks: str | None = typer.Option(None, "--greeks", help=_GREEKS_HELP),
        dealer_model: str = typer.Option("classic", "--dealer-model", help=_DEALER_HELP),
        rate: float | None = typer.Option(
            None, "--rate", help="Flat risk-free rate (decimal, 1/yr)."
        ),
        start: str | None = typer.Option(None, "--from", help="Level history: first session."),
        end: str | None = typer.Option(None, "--to", help="Level history: last session."),
        as_csv: bool = typer.Option(False, "--csv", help="Level history as CSV on stdout."),
    ) -> None:
        """The same analysis for a chain snapshot held in the store; with --from/--to, the
        level history (zero gamma, walls, max pain, spot per session)."""

        from chainlens.analysis import analyze_chain
        from chainlens.errors import ConfigError
        from chainlens.store import Store

        if start is not None or end is not None or as_csv:  # the range form (issue 16)
            from chainlens.cli._outcomes import emit_level_history, parse_day

            if date is not None:
                raise ConfigError("give either --date or --from/--to, not both")
            fmt = "json" if as_json else "csv" if as_csv else "table"
            cfg = _config(greeks, dealer_model, rate)
            d1, d2 = parse_day(start, "--from"), parse_day(end, "--to")
            emit_level_history(store, ticker.upper(), d1, d2, fmt, cfg)
            return
        if date is None:
            raise ConfigError("give --date D (one session) or --from D1 --to D2 (level history)")
        from chainlens._dates import parse_date
        from chainlens.errors import InputError

        try:
            session = parse_date(date, "--date")
        except InputError as exc:
            raise ConfigError(f"--date must be YYYY-MM-DD, not {date!r}") from exc
        cfg = _config(greeks, dealer_model, rate)
        # a reader: never creates a store (a --store typo is an error), never writes
        with Store(store, create=False, read_only=True) as st:
            chain = st.chain(ticker.upper(), session)
        _print(analyze_chain(chain, cfg), as_json)
