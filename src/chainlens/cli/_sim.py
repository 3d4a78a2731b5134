"""``chainlens simulate``: a thin layer over :func:`chainlens.sim.simulate_market`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from chainlens.cli._common import JsonOpt, console, console_err, emit_json
from chainlens.errors import ConfigError

__all__ = ["register"]


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
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
    out: Path = typer.Option(
        ..., "--out", help="Output directory for the Parquet files.", file_okay=False
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Also ingest the generated files into this store.", file_okay=False
    ),
    trades: int = typer.Option(
        3000, "--trades-per-underlying", help="Mean option orders per underlying and session."
    ),
    no_scenarios: bool = typer.Option(False, "--no-scenarios", help="Do not plant scenarios."),
    as_json: bool = JsonOpt,
) -> None:
    """Simulate a multi-session options market (chains, trades, dark-pool prints, truth)."""
    from chainlens.sim import SimConfig, simulate_market

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


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to ``app``."""
    app.command("simulate")(simulate)
