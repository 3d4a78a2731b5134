"""The wheel installs into a fresh virtual environment and runs from there.

Builds the wheel (``python -m build --wheel``), creates a new venv, installs the wheel into it
with ``--no-deps --no-index`` (offline), and makes the dependencies visible through a ``.pth``
line pointing at this interpreter's site-packages (so nothing is downloaded and the test stays
well under a minute). ``pip check`` then proves that every pinned dependency the wheel declares
is satisfied, and ``chainlens --version`` and a small ``chainlens demo`` run from the new venv's
own script, importing chainlens from the installed wheel (its templates and mappings inside).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import chainlens

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (
        f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    )
    return p


def test_wheel_installs_and_runs_demo(tmp_path: Path) -> None:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not a source checkout")
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        cwd=tmp_path,
    )
    (whl,) = dist.glob("chainlens-*.whl")
    assert whl.name.startswith(f"chainlens-{chainlens.__version__}-")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    purelib = Path(
        subprocess.check_output(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # the dependencies of this environment, visible to the new venv (no download)
    deps = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    (purelib / "_chainlens_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(whl)], cwd=tmp_path)
    _run([str(py), "-m", "pip", "check"], cwd=tmp_path)

    where = _run([str(py), "-c", "import chainlens; print(chainlens.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(purelib), where.stdout  # the wheel's copy
    exe = venv / "bin" / "chainlens"
    out = _run([str(exe), "--version"], cwd=tmp_path)
    assert out.stdout.strip() == f"chainlens {chainlens.__version__}"
    for data in ("io/mappings/iwm_eod.toml", "report/templates/report.html.j2", "io/MAPPINGS.md"):
        assert (purelib / "chainlens" / data).is_file(), data
    work = tmp_path / "work"
    work.mkdir()
    _run(
        [
            str(exe),
            "demo",
            "--sessions",
            "2",
            "--underlyings",
            "2",
            "--run-sessions",
            "1",
            "--json",
        ],
        cwd=work,
        timeout=240,
    )
    index = list((work / "chainlens-data" / "reports").glob("*/index.html"))
    assert len(index) == 1 and index[0].stat().st_size > 0
