"""``chainlens demo``: simulate a market, ingest it, run the pipeline, write the reports.

No printing here: :func:`run_demo` reports its steps through a callback and returns what it
wrote; the CLI (:mod:`chainlens.cli._pipeline`) prints.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainlens.errors import StoreError
from chainlens.report import write_session_reports
from chainlens.runners.local import run_local
from chainlens.sim import build_demo_market
from chainlens.store import Store

__all__ = ["DEMO_EXTRA_LENSES", "DEMO_FLOW_TICKERS", "run_demo"]

#: Per-ticker lenses of the demo beyond ``flow`` (ticker -> lenses).
DEMO_EXTRA_LENSES: dict[str, tuple[str, ...]] = {
    "SPY": ("bias", "premium"),
    "QQQ": ("premium",),
    "SPX": ("premium",),
}
#: Tickers with a flow report in the demo (plus every scenario ticker).
DEMO_FLOW_TICKERS: tuple[str, ...] = ("SPX", "SPY", "QQQ", "IWM")
_DEMO_MARKER = ".chainlens-demo"


def run_demo(
    store_dir: Any,
    *,
    seed: int = 7,
    sessions: int = 10,
    underlyings: int = 33,
    run_sessions: int = 2,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``chainlens demo``: simulate, ingest, run the last sessions, write the reports.

    The store must not exist, be empty, or be an earlier demo store (marked by a
    ``.chainlens-demo`` file), which is replaced. Reports go to ``<store>/reports/<date>/``.
    ``say(message)`` is called at each step (rich markup; the CLI prints it). Returns the
    paths written, the lenses per ticker and the timings.
    """

    t0 = time.perf_counter()
    root = Path(store_dir).resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / _DEMO_MARKER).exists():
            raise StoreError(
                f"{root} exists and is not a chainlens demo store; the demo needs a fresh store",
                hint="pass --store NEW_DIR (the demo never overwrites other data)",
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / _DEMO_MARKER).write_text("created by chainlens demo; safe to delete\n")
    timings: dict[str, float] = {}

    def step(msg: str) -> None:
        if say is not None:
            say(msg)

    with tempfile.TemporaryDirectory(prefix="chainlens-sim-") as tmp:
        step(
            f"[bold]1/4[/] simulating {underlyings} underlyings × {sessions} sessions (seed {seed})"
        )
        t = time.perf_counter()
        manifest = build_demo_market(
            Path(tmp), seed=seed, underlyings=underlyings, sessions=sessions
        )
        timings["simulate_s"] = time.perf_counter() - t
        scen = Path(tmp) / "scenarios.json"
        reports = root / "reports"
        reports.mkdir(exist_ok=True)
        if scen.exists():
            shutil.copy(scen, reports / "scenarios.json")
        step("[bold]2/4[/] ingesting into the store")
        t = time.perf_counter()
        with Store(root) as st:
            ing = st.ingest_many(manifest.all_paths())
        timings["ingest_s"] = time.perf_counter() - t
    days = manifest.sessions[-max(1, run_sessions) :]
    runs = []
    with Store(root) as st:
        t = time.perf_counter()
        for d in days:
            step(f"[bold]3/4[/] running the pipeline for {d}")
            runs.append(run_local(st, d))
        timings["run_s"] = time.perf_counter() - t
        scen_tickers = sorted({s["ticker"] for s in manifest.scenarios if s.get("ticker")})
        flow = [*DEMO_FLOW_TICKERS, *[x for x in scen_tickers if x not in DEMO_FLOW_TICKERS]]
        ev = st.table("events")
        upcoming = sorted(
            {
                r["ticker"]
                for r in ev.to_pylist()
                if r["kind"].lower() == "earnings" and r["date"] >= days[-1] and r["ticker"] != "*"
            }
        )[:3]
        plan_last: dict[str, tuple[str, ...]] = {u: ("flow",) for u in flow}
        for u, ls in DEMO_EXTRA_LENSES.items():
            plan_last[u] = (*plan_last.get(u, ()), *ls)
        for u in upcoming:
            plan_last[u] = (*plan_last.get(u, ()), "earnings")
        t = time.perf_counter()
        step("[bold]4/4[/] writing reports")
        written: list[Path] = []
        for d in days[:-1]:  # earlier sessions: HTML only, so the report chain links resolve
            written += write_session_reports(
                st, d, reports, lenses=plan_last, formats=("html",), outcomes=False
            )
        png_for = ["daily", *(f"{u}-flow" for u in DEMO_FLOW_TICKERS)]
        written += write_session_reports(
            st, days[-1], reports, lenses=plan_last, formats=("html", "md", "json"), png_for=png_for
        )
        timings["reports_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    day_dir = reports / days[-1].isoformat()
    out = {
        "store": str(root),
        "sessions": [d.isoformat() for d in manifest.sessions],
        "run_sessions": [d.isoformat() for d in days],
        "ingested_files": len(ing),
        "underlyings": runs[-1]["underlyings"] if runs else 0,
        "reports_dir": str(day_dir),
        "index": str(day_dir / "index.html"),
        "sessions_index": str(reports / "index.html"),
        "daily": {f: str(day_dir / f"daily.{f}") for f in ("html", "md", "json")},
        "ticker_reports": {u: list(ls) for u, ls in plan_last.items()},
        "files_written": len(written),
        "timings": timings,
    }
    return out
