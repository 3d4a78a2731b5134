"""``chainlens simulate``: a thin layer over :func:`chainlens.sim.simulate_market`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from chainlens.cli._common import JsonOpt, console, console_err, emit_json
from chainlens.errors import ConfigError

__all__ = ["register"]


def _parse_date(value: str) -> dt.date:
    from chainlens._dates import parse_date
    from chainlens.errors import InputError

    try:
        return parse_date(value, "--start")
    except InputError:
        raise ConfigError(f"--start {value!r} is not an ISO date (YYYY-MM-DD)") from None


def simulate(
    underlyings: int = typer.Option(
        30, "--underlyings", help="Number of underlyings (SPX, SPY, QQQ, IWM first)."
    ),
    sessions: int = typer.Option(10, "--sessions", help="Number of trading sessions."),
    start: str = typer.Option(
        "2024-03-04", "--start", help="First date (ISO); the first session on or after it."
    ),
    seed: int = typer.Option(7, "--seed", help="Master seed (same seed, same market)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output directory for the Parquet files (required unless --check).",
        file_okay=False,
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Also ingest the generated files into this store.", file_okay=False
    ),
    trades: int = typer.Option(
        3000, "--trades-per-underlying", help="Mean option orders per underlying and session."
    ),
    no_scenarios: bool = typer.Option(False, "--no-scenarios", help="Do not plant scenarios."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Measure the simulated market against the real-data calibration targets "
        "(docs/sim-calibration.md); exit 1 if any statistic is out of range.",
    ),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="With --check: check the demo market (chainlens demo: 33 names, its seed, "
        "trades and story) instead of a plain one.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Simulate a multi-session options market (chains, trades, dark-pool prints, truth)."""
    from chainlens.sim import SimConfig, simulate_market

    if demo and not check:
        raise ConfigError("--demo goes with --check (chainlens demo builds the demo market)")
    if check:
        _check(underlyings, sessions, start, seed, out, trades, no_scenarios, as_json, demo)
        return
    if out is None:
        raise ConfigError("--out is required (or pass --check to measure against the targets)")

    cfg = SimConfig(
        underlyings=underlyings,
        sessions=sessions,
        start=_parse_date(start),
        seed=seed,
        trades_per_underlying=trades,
        scenarios=not no_scenarios,
    )
    quiet = as_json

    def progress(stage: str, done: int, total: int) -> None:
        if not quiet and stage == "sessions":
            console_err.print(f"simulated session {done}/{total}", highlight=False)

    manifest = simulate_market(cfg, out, progress=progress)
    result = manifest.to_dict()
    if store is not None:
        from chainlens.store import Store

        with Store(store) as st:
            res = st.ingest_many(manifest.all_paths())
        result["store"] = str(store)
        result["ingest"] = {
            "files": len(res),
            "failed": [r.path for r in res if r.status == "failed"],
            "accepted": sum(r.accepted for r in res),
            "rejected": sum(r.rejected for r in res),
        }
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[bold]simulated[/] {len(manifest.sessions)} sessions x {len(manifest.underlyings)} underlyings: "
        f"{manifest.n_contracts:,} contract rows, {manifest.n_trades:,} trades, {manifest.n_prints:,} prints, "
        f"{len(manifest.scenarios)} scenarios in {manifest.elapsed_s:.1f}s",
        highlight=False,
    )
    console.print(
        f"files in {manifest.out_dir}; ground truth in {manifest.out_dir / 'truth'} and {manifest.scenarios_path}",
        highlight=False,
    )
    if store is not None:
        ing = result["ingest"]
        console.print(
            f"ingested {ing['files']} files into {store}: {ing['accepted']:,} rows accepted, {ing['rejected']:,} rejected",
            highlight=False,
        )


def _check(
    underlyings: int,
    sessions: int,
    start: str,
    seed: int,
    out: Path | None,
    trades: int,
    no_scenarios: bool,
    as_json: bool,
    demo: bool = False,
) -> None:
    """``simulate --check``: simulated against target per statistic, pass/fail."""
    import tempfile

    from rich.table import Table

    from chainlens.sim import SimConfig, simulate_market
    from chainlens.sim._check import evaluate, measure_output

    if sessions < 3:
        raise ConfigError(f"--check needs at least 3 sessions, got {sessions}")
    cfg = SimConfig(
        underlyings=underlyings,
        sessions=sessions,
        start=_parse_date(start),
        seed=seed,
        trades_per_underlying=trades,
        scenarios=not no_scenarios,
    )
    if demo:
        from chainlens.sim._market import DEMO_UNDERLYINGS

        underlyings = DEMO_UNDERLYINGS if underlyings == 30 else underlyings
    if not as_json:
        what = "the demo market" if demo else "a market"
        console_err.print(
            f"simulating {what}: {underlyings} underlyings x {sessions} sessions (seed {seed}) ...",
            highlight=False,
        )
    with tempfile.TemporaryDirectory(prefix="chainlens-check-") as tmp:
        d = out if out is not None else Path(tmp)
        if demo:
            from chainlens.sim import build_demo_market

            build_demo_market(d, seed=seed, underlyings=underlyings, sessions=sessions)
        else:
            simulate_market(cfg, d)
        res = evaluate(measure_output(d), seed, underlyings)
    if as_json:
        emit_json(res.to_dict())
    else:
        tab = Table(
            title=f"simulated (seed {seed}) vs real-data targets",
            caption="target = the range measured on the real files ± tolerance; sources: "
            "chainlens.sim._targets / docs/sim-calibration.md",
        )
        for col in ("statistic", "scope", "simulated", "target", "n", ""):
            tab.add_column(
                col, justify="right" if col in ("simulated", "n") else "left", no_wrap=True
            )
        for r in res.rows:
            sim = "-" if r["simulated"] is None else f"{r['simulated']:.3f}"
            mark = "-" if r["pass"] is None else "[green]pass[/]" if r["pass"] else "[red]FAIL[/]"
            tab.add_row(
                r["key"], r["scope"], sim, f"{r['low']:.3f}..{r['high']:.3f}", str(r["n"]), mark
            )
        console.print(tab)
        n_ok = sum(1 for r in res.rows if r["pass"])
        n_all = sum(1 for r in res.rows if r["pass"] is not None)
        console.print(
            f"{n_ok}/{n_all} statistics inside their target range"
            + ("" if res.passed else f"; {len(res.failures)} outside"),
            highlight=False,
        )
    if not res.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to ``app``."""
    app.command("simulate")(simulate)
