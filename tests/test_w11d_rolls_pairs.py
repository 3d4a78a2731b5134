"""The NumPy pairing rules of :func:`chainlens.oi.detect_rolls` (``_rolls._pairs_np``) against
their Polars reference (``_rolls._pairs_polars``, the previous code): the same rolls and closes
(``Table.equals``) on roll-rich histories, the NumPy path taken where no tie can be ordered
differently, and the Polars path where one can (equal candidates, near-equal ratio terms)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from chainlens import oi
from chainlens.oi import _panel, _rolls
from test_oi_fastpath import random_history
from test_oi_rolls import CONFIGS, roll_history


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts the calls of ``_pairs_np`` that gave a result and those that declined."""
    calls = {"np": 0, "polars": 0}
    real = _rolls._pairs_np

    def wrap(*a: Any, **k: Any) -> Any:
        got = real(*a, **k)
        calls["polars" if got is None else "np"] += 1
        return got

    monkeypatch.setattr(_rolls, "_pairs_np", wrap)
    yield calls


def _both(h: pa.Table, cfg: oi.OIConfig, monkeypatch: pytest.MonkeyPatch) -> pa.Table:
    _panel._CACHE.clear()
    got = oi.detect_rolls(h, config=cfg)
    with monkeypatch.context() as m:
        m.setattr(_rolls, "_pairs_np", lambda *a, **k: None)
        _panel._CACHE.clear()
        want = oi.detect_rolls(h, config=cfg)
    assert got.schema == want.schema
    assert got.equals(want)
    return got


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("shuffle", [False, True])
def test_pairs_np_equals_polars(
    seed: int, shuffle: bool, counted: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = roll_history(seed, shuffle=shuffle, missing=0.1 if shuffle else 0.0)
    rows = sum(_both(h, cfg, monkeypatch).num_rows for cfg in CONFIGS)
    assert rows > 0
    assert counted["np"] > 0


@pytest.mark.parametrize("seed", range(6))
def test_pairs_np_random_histories(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for cfg in CONFIGS:
        _both(random_history(seed), cfg, monkeypatch)


def _dup_rises(h: pa.Table) -> pa.Table:
    """``h`` with every contract listed twice (a second root, same expiry, strike and OI):
    every rise has a twin equal in all the sort keys."""
    root = pa.array([f"{r}X" for r in h.column("root").to_pylist()], pa.string())
    sym = pa.array([f"{s}X" for s in h.column("symbol").to_pylist()], pa.string())
    twin = h.set_column(h.column_names.index("root"), "root", root)
    twin = twin.set_column(twin.column_names.index("symbol"), "symbol", sym)
    return pa.concat_tables([h, twin])


def test_pairs_full_ties_go_to_polars(
    counted: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twin rises tie in every sort key (their order is Polars'): the Polars rules run, and
    the result is the reference's."""
    for seed in range(4):
        got = _both(_dup_rises(roll_history(seed)), CONFIGS[0], monkeypatch)
        assert got.num_rows > 0
    assert counted["polars"] > 0


def _arrays(n_d: int, n_r: int, seed: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    w = 3
    dec = pl.DataFrame(
        {
            "_dr": rng.permutation(n_d).astype(np.int64),
            "_call": rng.random(n_d) < 0.5,
            "expiry": (19700 + rng.integers(0, 20, n_d)).astype("datetime64[D]"),
            "strike": rng.integers(90, 110, n_d).astype(np.float64),
            "decline": rng.integers(250, 3000, n_d).astype(np.float64),
            "_did": np.arange(n_d, dtype=np.int64),
        }
    )
    d_steps = -rng.integers(0, 1500, (w, n_d)).astype(np.float64)
    r_steps = rng.integers(-100, 1500, (w, n_r)).astype(np.float64)
    rise = pl.DataFrame(
        {
            "_rid": np.arange(n_r, dtype=np.int64),
            "to_expiry": (19705 + rng.integers(0, 60, n_r)).astype("datetime64[D]"),
            "to_strike": rng.integers(90, 115, n_r).astype(np.float64) + 0.5 * rng.random(n_r),
            "to_change": r_steps.sum(axis=0) + rng.integers(0, 3, n_r) * 0.25,
            **{f"to_step{j + 1}": r_steps[j] for j in range(w)},
        }
    )
    dec = dec.with_columns(
        *(pl.Series(f"step{j + 1}", d_steps[j]) for j in range(w)),
        # OI, built sessions and turnover: read by the closes rule only
    )
    di = np.repeat(np.arange(n_d), n_r).astype(np.int64)
    ri = np.tile(np.arange(n_r), n_d).astype(np.int64)
    sure = rng.random(n_d) < 0.1
    return dec, rise, di, ri, sure, d_steps, r_steps


@pytest.mark.parametrize("seed", range(20))
def test_pairs_np_on_arrays(seed: int) -> None:
    """Every (decline, rise) pair as a candidate: the same pairs, in the same order, and the
    same declines taken, or a refusal (ties)."""
    cfg = oi.OIConfig(roll_min_sync=0.2, close_veto_sync=0.4, roll_min_expiry_days=1)
    dec, rise, di, ri, sure, d_steps, r_steps = _arrays(12, 15, seed)
    got = _rolls._pairs_np(di, ri, sure, _rolls._decline_arrays(dec), d_steps, rise, r_steps, cfg)
    want, taken = _rolls._pairs_polars(dec, rise, di, ri, sure, cfg)
    if got is None:
        return
    assert got[0].equals(want)
    assert np.array_equal(got[1], taken)
    assert want.height > 0 or not taken.any()


def test_pairs_np_on_arrays_runs() -> None:
    """The array cases above mostly take the NumPy path (not every one refused)."""
    cfg = oi.OIConfig(roll_min_sync=0.2, close_veto_sync=0.4, roll_min_expiry_days=1)
    ran = 0
    for seed in range(20):
        dec, rise, di, ri, sure, d_steps, r_steps = _arrays(12, 15, seed)
        dd = _rolls._decline_arrays(dec)
        ran += _rolls._pairs_np(di, ri, sure, dd, d_steps, rise, r_steps, cfg) is not None
    assert ran >= 10
