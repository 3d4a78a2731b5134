"""Bucket packing of the Spark runner (no Spark needed), and its CLI mistakes that need no
Spark: PySpark missing, a wrong store path, an empty store, a bad engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chainlens.errors import InputError
from chainlens.runners.spark import SparkOptions, pack_buckets


def test_large_names_alone_small_names_together() -> None:
    rows = {"SPX": 400, "SPY": 150, "A": 60, "B": 50, "C": 40, "D": 30, "E": 20, "F": 5}
    got, outsized = pack_buckets(rows, capacity=100)
    # hand-worked, largest first: SPX and SPY alone (>= 100); A -> new bucket 2 (60);
    # B: 60 + 50 > 100 -> bucket 3 (50); C -> least loaded (3: 50) -> 90; D: least loaded
    # is 2 (60) -> 90; E: both at 90 -> bucket 4; F -> 4 (25)
    assert got == {"SPX": 0, "SPY": 1, "A": 2, "B": 3, "C": 3, "D": 2, "E": 4, "F": 4}
    assert outsized == [("SPX", 400), ("SPY", 150)]
    load: dict[int, int] = {}
    for u, b in got.items():
        load[b] = load.get(b, 0) + rows[u]
    shared = {b for u, b in got.items() if rows[u] < 100}
    assert all(load[b] <= 100 for b in shared)


def test_outsized_only_above_the_configured_size() -> None:
    # capacity (from the session size) may be below max_rows: such names are alone, not outsized
    got, outsized = pack_buckets({"SPX": 400, "A": 10}, capacity=100, max_rows=300)
    assert got == {"SPX": 0, "A": 1} and outsized == [("SPX", 400)]
    got, outsized = pack_buckets({"SPX": 250, "A": 10}, capacity=100, max_rows=300)
    assert outsized == []


def test_names_per_bucket_capped_and_deterministic() -> None:
    rows = {f"U{i:03d}": 1 for i in range(10)}
    got, _ = pack_buckets(rows, capacity=1000, max_names=3)
    sizes: dict[int, int] = {}
    for b in got.values():
        sizes[b] = sizes.get(b, 0) + 1
    assert sorted(sizes.values()) == [1, 3, 3, 3]
    assert pack_buckets(dict(reversed(list(rows.items()))), capacity=1000, max_names=3)[0] == got


def test_bad_settings() -> None:
    with pytest.raises(InputError):
        pack_buckets({"A": 1}, capacity=0)
    with pytest.raises(InputError):
        SparkOptions(max_group_rows=0)


def _cli(*argv: str, block_pyspark: bool = False) -> subprocess.CompletedProcess[str]:
    pre = "import sys; sys.modules['pyspark'] = None; " if block_pyspark else ""
    code = pre + "from chainlens.cli import main; sys.argv = ['chainlens', *sys.argv[1:]]; main()"
    if not pre:
        code = "import sys; " + code
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120
    )


def test_cli_mistakes(tmp_path: Path) -> None:
    from chainlens.store import Store

    r = _cli("run", "--engine", "spark", "--date", "2024-03-15", "--store", str(tmp_path / "x"),
             block_pyspark=True)  # fmt: skip
    assert r.returncode == 2 and "needs PySpark" in r.stderr and "chainlens[spark]" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("run", "--engine", "spark", "--date", "2024-03-15", "--store", str(tmp_path / "x"))
    assert r.returncode == 2 and "no chainlens store" in r.stderr
    with Store(tmp_path / "empty"):
        pass
    r = _cli("run", "--engine", "spark", "--from", "2024-03-01", "--to", "2024-03-15",
             "--store", str(tmp_path / "empty"))  # fmt: skip
    assert r.returncode == 2 and "holds no session between" in r.stderr
    r = _cli("run", "--engine", "dask", "--date", "2024-03-15", "--store", str(tmp_path / "empty"))
    assert r.returncode == 2 and "--engine must be one of local, spark" in r.stderr
    r = _cli("run", "--store", str(tmp_path / "empty"))
    assert r.returncode == 2 and "give --date D, or --from D1 --to D2" in r.stderr


def test_the_spark_submit_entry_runs_chainlens_run_engine_spark(tmp_path: Path) -> None:
    """``spark-submit .../runners/_spark_main.py ARGS`` is ``chainlens run --engine spark
    ARGS``: run as a script, its mistakes are those of the CLI (the engine set)."""
    import os

    import chainlens.runners._spark_main as entry

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable, entry.__file__, "--date", "2024-03-15", "--store", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert r.returncode == 2 and "no chainlens store" in r.stderr and "Traceback" not in r.stderr
    # the engine is spark: a PySpark-less interpreter is told what to install
    code = (
        "import sys, runpy; sys.modules['pyspark'] = None; "
        f"sys.argv = [{entry.__file__!r}, *sys.argv[1:]]; "
        f"runpy.run_path({entry.__file__!r}, run_name='__main__')"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "--date", "2024-03-15", "--store", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert r.returncode == 2 and "needs PySpark" in r.stderr
