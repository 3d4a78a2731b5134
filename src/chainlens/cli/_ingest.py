"""Store-facing commands: ``ingest``, ``sessions``, ``show``.

Each command is a few lines over :class:`chainlens.store.Store`; output contracts are in SPEC
"Command line".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainlens.cli._common import JsonOpt, StoreOpt, console, console_err, emit_json, esc
from chainlens.errors import ChainlensError, InputError, NotFoundError

__all__ = ["chain_summary", "register"]

_TOP_STRIKES = 5


def _parse_date(value: str) -> dt.date:
    from chainlens._dates import parse_date

    try:
        return parse_date(value, "--date")
    except InputError:
        raise typer.BadParameter(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def chain_summary(chain: pa.Table) -> dict[str, Any]:
    """Plain summary of one chain snapshot (``schema.CHAIN``), for ``chainlens show``.

    Totals count every listed contract; OI and volume nulls count as 0. Put/call ratios are
    ``Σ put / Σ call`` on OI and on volume (SPEC "Put/call ratios"), ``null`` when the call
    side is 0. Top strikes rank strikes by OI summed over all expiries.
    """
    is_call = pc.equal(chain.column("right"), "C")
    oi = pc.fill_null(chain.column("open_interest"), 0)
    vol = pc.fill_null(chain.column("volume"), 0)

    def tot(a: pa.ChunkedArray, mask: pa.ChunkedArray) -> int:
        return int(pc.sum(pc.filter(a, mask)).as_py() or 0)

    is_put = pc.invert(is_call)
    call_oi, put_oi = tot(oi, is_call), tot(oi, is_put)
    call_vol, put_vol = tot(vol, is_call), tot(vol, is_put)
    spot = pc.drop_null(chain.column("spot"))
    ts = pc.max(chain.column("snapshot_ts")).as_py() if chain.num_rows else None

    def top(mask: pa.ChunkedArray) -> list[dict[str, Any]]:
        t = pa.table({"strike": pc.filter(chain.column("strike"), mask), "oi": pc.filter(oi, mask)})
        g = t.group_by("strike").aggregate([("oi", "sum")])
        g = g.take(
            pc.sort_indices(g, sort_keys=[("oi_sum", "descending"), ("strike", "ascending")])
        )
        g = g.slice(0, _TOP_STRIKES)
        return [
            {"strike": k, "open_interest": v}
            for k, v in zip(
                g.column("strike").to_pylist(), g.column("oi_sum").to_pylist(), strict=True
            )
        ]

    return {
        "underlying": chain.column("underlying")[0].as_py() if chain.num_rows else None,
        "session": chain.column("trade_date")[0].as_py() if chain.num_rows else None,
        "snapshot_ts": ts,
        "spot": float(spot[len(spot) - 1].as_py()) if len(spot) else None,
        "contracts": chain.num_rows,
        "expiries": len(pc.unique(chain.column("expiry"))),
        "call_oi": call_oi,
        "put_oi": put_oi,
        "call_volume": call_vol,
        "put_volume": put_vol,
        "pc_oi_ratio": _ratio(put_oi, call_oi),
        "pc_volume_ratio": _ratio(put_vol, call_vol),
        "top_call_oi_strikes": top(is_call),
        "top_put_oi_strikes": top(is_put),
    }


def _open(store: Path, *, read_only: bool):
    from chainlens.store import Store

    if read_only and not (store / "catalog.duckdb").exists():
        raise NotFoundError(
            f"no chainlens store at {store.resolve()}",
            hint="pass --store DIR, or create one with `chainlens ingest PATH`",
        )
    return Store(store, create=not read_only, read_only=read_only)


def _inside(f: Path, root: Path) -> bool:
    """Whether ``f`` lies in the store ``root`` (a symbolic-link loop is not: it fails later,
    named, as one failed file)."""
    try:
        return f.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _fmt(v: float | None, spec: str = ",.2f") -> str:
    return "—" if v is None else format(v, spec)


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``sessions`` and ``show`` to ``app``."""

    @app.command()
    def ingest(
        paths: list[Path] = typer.Argument(
            ..., help="Files or directories (expanded recursively).", exists=False
        ),
        store: Path = StoreOpt,
        json_out: bool = JsonOpt,
        format: str | None = typer.Option(
            None, "--format", help="Force a format instead of detecting it."
        ),
        mapping: Path | None = typer.Option(
            None, "--mapping", help="TOML column mapping for a generic CSV/Parquet."
        ),
    ) -> None:
        """Detect, validate and store files; print read / accepted / rejected per file.

        Re-ingesting the same content is a no-op ("unchanged"). Rejected rows go to a CSV under
        the store's rejects/ folder (path,row,column,value,reason). Exit code 1 if any file failed.
        """
        from chainlens.store import IngestResult, expand_paths

        root = store.resolve()
        files = [f for f in expand_paths(paths) if not _inside(f, root)]
        results = []
        with _open(store, read_only=False) as st:
            progress = Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console_err,
                transient=True,
                disable=len(files) < 2 and not console_err.is_terminal,
            )
            with progress:
                task = progress.add_task("", total=len(files))

                def on_rows(path: str, rows: int) -> None:
                    progress.update(task, description=f"{Path(path).name}: {rows:,} rows")

                def on_file(r: IngestResult) -> None:
                    progress.update(task, description=f"{Path(r.path).name}: {r.status}")
                    progress.advance(task)

                # several files are validated at once; results come back in input order
                results = st.ingest_many(
                    files, format=format, mapping=mapping, progress=on_rows, on_file=on_file
                )
        if json_out:
            emit_json([r.to_dict() for r in results])
        else:
            _print_ingest(results)
        failed = sum(r.status == "failed" for r in results)
        if failed:
            # run_guarded maps a ChainlensError to exit code 2 (a typer.Exit code is not propagated)
            raise ChainlensError(
                f"{failed} of {len(results)} file(s) failed to ingest; the store keeps none of their rows"
            )

    @app.command()
    def sessions(store: Path = StoreOpt, json_out: bool = JsonOpt) -> None:
        """List every stored chain snapshot (underlying, session, snapshot time, contracts)."""
        with _open(store, read_only=True) as st:
            rows = st.sessions().to_pylist()
        if json_out:
            emit_json(
                [
                    {
                        k: r[k]
                        for k in (
                            "underlying",
                            "session",
                            "snapshot_ts",
                            "contracts",
                            "kind",
                            "snapshot_id",
                            "default",
                        )
                    }
                    for r in rows
                ]
            )
            return
        if not rows:
            console.print(f"the store at {esc(store)} holds no chain snapshots")
            return
        t = Table(title=f"chain snapshots in {esc(store)}")
        for c in ("underlying", "session", "snapshot (UTC)", "contracts", "kind", "default"):
            t.add_column(c, justify="right" if c == "contracts" else "left")
        for r in rows:
            t.add_row(
                esc(r["underlying"]),
                r["session"].isoformat(),
                r["snapshot_ts"].strftime("%Y-%m-%d %H:%M:%S"),
                f"{r['contracts']:,}",
                esc(r["kind"]),
                "*" if r["default"] else "",
            )
        console.print(t)

    @app.command()
    def verify(
        store: Path = StoreOpt,
        json_out: bool = JsonOpt,
        drop_damaged: bool = typer.Option(
            False,
            "--drop-damaged",
            help="Remove damaged files' sources from the store so they can be re-ingested.",
        ),
    ) -> None:
        """Check every stored file against the checksum recorded when it was stored.

        Exit code 0 when the store is intact; 2 when a file is missing or damaged (each is
        listed with what to do: re-ingest its source, or re-run the pipeline).
        """
        with _open(store, read_only=not drop_damaged) as st:
            problems = st.drop_damaged() if drop_damaged else st.verify()
            n_files = st.con.execute(
                "SELECT (SELECT count(*) FROM files) + (SELECT count(*) FROM results)"
            ).fetchall()[0][0]
        if json_out:
            emit_json({"files": n_files, "problems": problems, "dropped": drop_damaged})
        else:
            for p in problems:
                console.print(
                    f"[red]{esc(p['file'])}[/]: {esc(p['problem'])}"
                    + ("" if drop_damaged else f"\n  {esc(p['action'])}"),
                    highlight=False,
                    soft_wrap=True,
                )
            console.print(
                f"{n_files:,} stored file(s) checked, {len(problems)} "
                + (
                    "dropped (re-ingest their sources now)"
                    if drop_damaged
                    else "damaged or missing"
                ),
                highlight=False,
            )
        if problems and not drop_damaged:
            raise ChainlensError(
                f"{len(problems)} stored file(s) damaged or missing in {store}",
                hint="`chainlens verify --drop-damaged`, then re-ingest the sources listed",
            )

    @app.command()
    def show(
        ticker: str = typer.Argument(..., help="Underlying ticker (SPX, QQQ...)."),
        date: str = typer.Option(..., "--date", help="Session date, YYYY-MM-DD."),
        store: Path = StoreOpt,
        json_out: bool = JsonOpt,
    ) -> None:
        """Summarise the default chain snapshot of TICKER for a session."""
        d = _parse_date(date)
        with _open(store, read_only=True) as st:
            summary = chain_summary(st.chain(ticker.upper(), d))
        if json_out:
            emit_json(summary)
            return
        _print_show(summary)


def _print_ingest(results: list) -> None:
    t = Table(title="ingest")
    for c in ("file", "format", "status", "read", "accepted", "rejected"):
        t.add_column(
            c,
            justify="right" if c in ("read", "accepted", "rejected") else "left",
            no_wrap=c != "file",
            overflow="ellipsis" if c == "file" else "fold",
            max_width=44 if c == "file" else None,
        )
    style = {"ingested": "green", "unchanged": "cyan", "failed": "bold red"}
    for r in results:
        t.add_row(
            esc(Path(r.path).name),
            esc(r.format),
            f"[{style[r.status]}]{r.status}[/]",
            f"{r.rows_read:,}",
            f"{r.accepted:,}",
            f"{r.rejected:,}",
        )
    console.print(t)
    for r in results:
        if r.error:
            console.print(f"[red]{esc(Path(r.path).name)}[/]: {esc(r.error)}", highlight=False)
        elif r.rejects_path:
            console.print(
                f"{esc(Path(r.path).name)}: rejected rows in {esc(r.rejects_path)}",
                highlight=False,
            )
    read = sum(r.rows_read for r in results)
    acc = sum(r.accepted for r in results)
    rej = sum(r.rejected for r in results)
    console.print(f"rows read {read:,} = accepted {acc:,} + rejected {rej:,}", highlight=False)


def _print_show(s: dict[str, Any]) -> None:
    console.print(
        f"[bold]{esc(s['underlying'])}[/] session {s['session']}  snapshot {s['snapshot_ts']:%Y-%m-%d %H:%M} UTC  "
        f"spot {_fmt(s['spot'])}",
        highlight=False,
    )
    t = Table(show_header=True)
    for c in ("", "calls", "puts", "P/C"):
        t.add_column(c, justify="right")
    t.add_row(
        "open interest", f"{s['call_oi']:,}", f"{s['put_oi']:,}", _fmt(s["pc_oi_ratio"], ".2f")
    )
    t.add_row(
        "volume", f"{s['call_volume']:,}", f"{s['put_volume']:,}", _fmt(s["pc_volume_ratio"], ".2f")
    )
    console.print(t)
    console.print(f"{s['contracts']:,} contracts over {s['expiries']} expiries", highlight=False)
    top = Table(title="top OI strikes (all expiries)")
    for c in ("call strike", "call OI", "put strike", "put OI"):
        top.add_column(c, justify="right")
    calls, puts = s["top_call_oi_strikes"], s["top_put_oi_strikes"]
    for i in range(max(len(calls), len(puts))):
        cells: list[str] = []
        for side in (calls, puts):
            row = side[i] if i < len(side) else None
            cells += ["", ""] if row is None else [_fmt(row["strike"]), f"{row['open_interest']:,}"]
        top.add_row(*cells)
    console.print(top)
