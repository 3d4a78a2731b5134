"""The one engine policy (chainlens._engine): every compiled kernel asks it, tests force it.

Both engines of each kernel family are checked against an independent reference elsewhere
(test_pricing_bsm, test_flow_aggregate*, test_oi_fastpath, test_ingest_verify*); here: the
policy itself, that every module follows it (the variable, the forcing switch, the
thresholds), and one hand-worked case per family run under both engines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import chainlens
from chainlens import _engine

pytestmark = pytest.mark.skipif(not _engine.numba_available(), reason="numba not installed")


def test_policy_order_force_then_variable_then_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_engine.ENV_VAR, raising=False)
    assert _engine.mode() == "auto"
    assert _engine.use_numba(10, min_size=100) is False
    assert _engine.use_numba(100, min_size=100) is True
    assert _engine.use_numba() is True  # size unknown: large
    monkeypatch.setenv(_engine.ENV_VAR, "1")
    assert _engine.mode() == "numpy" and _engine.use_numba(10**9) is False
    monkeypatch.setenv(_engine.ENV_VAR, "0")
    assert _engine.mode() == "numba" and _engine.use_numba(1, min_size=10**9) is True
    with _engine.force("numpy"):  # force wins over the variable
        assert _engine.use_numba(10**9) is False
        with _engine.force("auto"):
            assert _engine.use_numba(1, min_size=2) is False
        assert _engine.mode() == "numpy"
    assert _engine.mode() == "numba"
    with pytest.raises(ValueError, match="engine must be"):
        with _engine.force("gpu"):  # type: ignore[arg-type]
            pass


def test_every_module_asks_the_policy() -> None:
    """No module outside _engine reads CHAINLENS_NO_NUMBA or keeps its own engine switch."""
    root = Path(chainlens.__file__).parent
    bad = []
    for p in root.rglob("*.py"):
        if p.name == "_engine.py":
            continue
        src = p.read_text(encoding="utf-8")
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "CHAINLENS_NO_NUMBA":
                bad.append(f"{p.relative_to(root)} reads CHAINLENS_NO_NUMBA")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "USE_NUMBA" for t in node.targets
            ):
                bad.append(f"{p.relative_to(root)} keeps its own USE_NUMBA")
    assert bad == []


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_each_kernel_family_follows_the_forced_engine(engine: str) -> None:
    from chainlens.exposure import _profile
    from chainlens.flow import _aggregate, _side
    from chainlens.io import _verify
    from chainlens.oi import _kernels
    from chainlens.pricing import _bsm

    with _engine.force(engine):  # type: ignore[arg-type]
        want = engine == "numba"
        assert _bsm.use_numba(1) is want
        assert _verify.available() is want
        assert _kernels.use_nb() is want
        assert (_aggregate._compiled(1) is not None) is want
        assert _engine.use_numba(1, _side.COMPILED_MIN_TRADES) is want
        assert _profile._NUMBA_MIN_WORK > 0


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_hand_worked_cases_under_both_engines(engine: str) -> None:
    """Hull's example 15.6 (S=42, K=40, r=10%, sigma=20%, T=0.5: call 4.76, put 0.81), the
    quote rule's cases and a group sum, each forced to one engine."""
    from chainlens.flow import group_sum, quote_rule
    from chainlens.pricing import price

    with _engine.force(engine):  # type: ignore[arg-type]
        c, p = price(
            np.array([42.0, 42.0]), np.array([40.0, 40.0]), np.array([0.5, 0.5]), 0.1, 0.0,
            np.array([0.2, 0.2]), np.array([True, False]),
        )  # fmt: skip
        assert (round(float(c), 2), round(float(p), 2)) == (4.76, 0.81)
        sides = quote_rule([1.10, 1.00, 1.05, 1.07, 1.0], [1.0, 1.0, 1.0, 1.0, 1.2], [1.1] * 5)
        assert sides.tolist() == [1, -1, 0, 1, 2]  # buy, sell, mid, buy, unknown
        keys, cnt, sums = group_sum([np.array([0, 1, 1, 0])], [2], {"v": np.array([1.0, 2, 3, 4])})
        assert cnt.tolist() == [2, 2] and sums["v"].tolist() == [5.0, 5.0]
