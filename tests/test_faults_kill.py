"""Issue 18 fault suite, part 1: ``kill -9`` at random points of every write path (ingest,
run, report, daily), and what must survive it: a store that opens, verifies and holds either
all or none of each source; no orphan worker, fork server or resource tracker; no temporary
directory. Real processes, real signals; the kill points come from a seeded RNG."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from _harden import tree_digest

CHAINLENS = str(Path(sys.executable).parent / "chainlens")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    from chainlens.sim import SimConfig, simulate_market

    root = tmp_path_factory.mktemp("faults")
    m = simulate_market(
        SimConfig(underlyings=12, sessions=3, seed=11, trades_per_underlying=200), root / "sim"
    )
    return m, root


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _kill_at(
    argv: list[str], delay: float, *, after_kids: int = 0
) -> tuple[int, list[psutil.Process]]:
    """Start ``chainlens ARGV``, ``kill -9`` it ``delay`` s after it has ``after_kids``
    descendants (if still running); return (pid, its descendants seen just before the kill)."""
    env = {**os.environ, "CHAINLENS_LOCK_TIMEOUT": "30"}
    proc = subprocess.Popen(
        [CHAINLENS, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    kids: list[psutil.Process] = []
    t_start = time.monotonic()
    while after_kids and proc.poll() is None and time.monotonic() - t_start < 60:
        kids = _descendants(proc.pid) or kids
        if len(kids) >= after_kids:
            break
        time.sleep(0.02)
    t0 = time.monotonic()
    while time.monotonic() - t0 < delay and proc.poll() is None:
        kids = _descendants(proc.pid) or kids
        time.sleep(0.02)
    kids = _descendants(proc.pid) or kids
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc.pid, kids


def _no_orphans(kids: list[psutil.Process], pid: int) -> None:
    deadline = time.monotonic() + 10
    alive = kids
    while time.monotonic() < deadline:
        alive = [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, [(k.pid, k.cmdline()[:4]) for k in alive]
    assert not list(Path(tempfile.gettempdir()).glob(f"chainlens-zip-{pid}-*"))


def _store_consistent(store: Path) -> None:
    from chainlens.store import Store

    with Store(store) as st:  # a writer open cleans leftovers
        assert st.verify() == []
        assert not any((store / "tmp").iterdir())
        for u in st.underlyings():
            for d in st.session_dates(u):
                assert st.chain(u, d).num_rows > 0  # every catalogued snapshot readable


def test_kill_during_ingest_leaves_all_or_nothing(market, tmp_path: Path) -> None:
    m, _root = market
    rng = random.Random(18)
    files = [str(p) for p in m.all_paths()]
    store = tmp_path / "st"
    for trial in range(3):
        before = tree_digest(store)
        pid, kids = _kill_at(["ingest", *files, "--store", str(store)], rng.uniform(0.3, 2.5))
        _no_orphans(kids, pid)
        _store_consistent(store)
        del before, trial
    # a final complete ingest gives every row, whatever the kills left
    r = subprocess.run([CHAINLENS, "ingest", *files, "--store", str(store), "--json"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    _store_consistent(store)


@pytest.fixture(scope="module")
def ingested(market, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    m, _ = market
    store = tmp_path_factory.mktemp("ingested") / "st"
    r = subprocess.run(
        [CHAINLENS, "ingest", *[str(p) for p in m.all_paths()], "--store", str(store)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return store, m.sessions[-1].isoformat()


def test_kill_during_run_with_workers_leaves_no_orphan(ingested) -> None:
    store, d = ingested
    rng = random.Random(7)
    saw_workers = 0
    for _ in range(2):
        pid, kids = _kill_at(
            ["run", "--date", d, "--workers", "2", "--store", str(store)],
            rng.uniform(0.0, 1.5),
            after_kids=3,
        )
        saw_workers += len(kids) >= 2  # the fork server, workers, resource tracker
        _no_orphans(kids, pid)
        _store_consistent(store)
    assert saw_workers, "no kill landed while the worker pool was up"
    r = subprocess.run([CHAINLENS, "run", "--date", d, "--workers", "2", "--store", str(store)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    _store_consistent(store)


def test_kill_during_reports_leaves_store_unchanged(ingested, tmp_path: Path) -> None:
    store, d = ingested
    subprocess.run([CHAINLENS, "run", "--date", d, "--store", str(store)], capture_output=True)
    before = tree_digest(store)
    rng = random.Random(3)
    from chainlens.store import Store

    with Store(store, read_only=True) as st:
        u = st.underlyings()[0]
    for argv in (
        ["daily", "--date", d, "--format", "html", "--out", str(tmp_path / "d.html")],
        ["report", u, "--date", d, "--format", "html", "--out", str(tmp_path / "r.html")],
    ):
        pid, kids = _kill_at([*argv, "--store", str(store)], rng.uniform(0.2, 1.5))
        _no_orphans(kids, pid)
        assert tree_digest(store) == before  # readers never write
