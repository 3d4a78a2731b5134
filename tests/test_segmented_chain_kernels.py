"""The chain kernels run once over several snapshots (issue 13) equal each snapshot alone,
bit for bit: ``smile_table_many``, ``by_strike_expiry_many``, ``_expiry_figures`` (ATM
straddles, delta strikes, term structure, OI walls with one spot per expiry group) and the
``_groups_many`` parts that ``_analyze_one`` reads."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from chainlens import analysis as an
from chainlens.exposure import contract_exposures
from chainlens.exposure._by_expiry_strike import by_strike_expiry, by_strike_expiry_many
from chainlens.exposure._exposure import group_by
from chainlens.vol import atm_straddles, delta_strikes, smile_table
from chainlens.vol._smile import smile_table_many


def _snapshots(seed: int, n_seg: int) -> dict[str, np.ndarray]:
    """Rows of ``n_seg`` snapshots (grouped by snapshot), with repeated (expiry, strike)
    nodes (several roots), NaN IVs, deltas and quotes, zero OI."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 60, n_seg)
    n = int(sizes.sum())
    seg = np.repeat(np.arange(n_seg), sizes)
    spots = rng.uniform(20, 500, n_seg)
    base = np.datetime64("2024-03-08")
    expiry = base + rng.integers(0, 40, n).astype("timedelta64[D]")
    K = np.round(spots[seg] * rng.uniform(0.8, 1.2, n) / 2.5) * 2.5 + 2.5
    is_call = rng.random(n) < 0.5
    sigma = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0.1, 0.9, n))
    delta = np.where(rng.random(n) < 0.1, np.nan, np.where(is_call, 1, -1) * rng.random(n))
    mid = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 20, n))
    last = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 20, n))
    oi = np.where(rng.random(n) < 0.2, 0.0, rng.integers(0, 5000, n).astype(np.float64))
    vol = rng.integers(0, 800, n).astype(np.float64)
    gamma = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 0.1, n))
    t = (expiry - base).astype(np.float64) / 365.0 - rng.uniform(0, 0.01, n)
    return {
        "seg": seg, "spots": spots, "expiry": expiry, "K": K, "is_call": is_call,
        "sigma": sigma, "delta": delta, "mid": mid, "last": last, "oi": oi, "vol": vol,
        "gamma": gamma, "t": t, "mult": np.full(n, 100.0), "vanna": rng.normal(size=n),
        "charm": rng.normal(size=n),
    }  # fmt: skip


def _one(d: dict[str, np.ndarray], j: int) -> dict[str, np.ndarray]:
    m = d["seg"] == j
    return {k: (v if k == "spots" else v[m]) for k, v in d.items()}


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("seed", range(5))
def test_smile_table_many_equals_each_alone(seed: int) -> None:
    d = _snapshots(seed, 7)
    got = smile_table_many(d["seg"], 7, d["expiry"], d["K"], d["is_call"], d["sigma"])
    for j in range(7):
        o = _one(d, j)
        ref = smile_table(o["expiry"], o["K"], o["is_call"], o["sigma"])
        assert got[j].schema.equals(ref.schema)
        assert got[j].to_pydict().keys() == ref.to_pydict().keys()
        for name in ref.column_names:
            _same(
                got[j].column(name).to_numpy(zero_copy_only=False),
                ref.column(name).to_numpy(zero_copy_only=False),
            )
            assert got[j].column(name).null_count == ref.column(name).null_count


@pytest.mark.parametrize("seed", range(5))
def test_by_strike_expiry_many_equals_each_alone(seed: int) -> None:
    d = _snapshots(seed, 6)
    S = d["spots"][d["seg"]]
    w = np.where(d["is_call"], d["oi"], -d["oi"])
    ex = contract_exposures(w, d["mult"], S, d["gamma"], d["delta"], d["vanna"], d["charm"])
    sa = contract_exposures(-d["oi"], d["mult"], S, d["gamma"], d["delta"], d["vanna"], d["charm"])
    cols, at = by_strike_expiry_many(
        d["seg"], 6, d["expiry"], d["K"], d["is_call"], d["oi"], d["vol"], ex, sa
    )
    for j in range(6):
        m = d["seg"] == j
        ref = by_strike_expiry(
            d["expiry"][m], d["K"][m], d["is_call"][m], d["oi"][m], d["vol"][m],
            type(ex)(*(a[m] for a in ex)), type(sa)(*(a[m] for a in sa)),
        )  # fmt: skip
        assert list(cols) == list(ref)
        for name, v in ref.items():
            _same(cols[name][int(at[j]) : int(at[j + 1])], v)


@pytest.mark.parametrize("seed", range(5))
def test_expiry_figures_with_one_spot_per_group_equal_each_alone(seed: int) -> None:
    d = _snapshots(seed, 8)
    days = d["expiry"].astype(np.int64)
    ge_all = group_by(d["seg"] * 10_000_000 + days)
    e_seg = np.empty(ge_all.n, dtype=np.int64)
    e_seg[ge_all.codes] = d["seg"]
    rows = an._RowsOf(d["spots"], d["mid"], d["last"], d["t"], d["delta"], d["sigma"], None)
    got = an._expiry_figures(ge_all, d["spots"][e_seg], d["K"], d["is_call"], d["oi"], rows)
    for j in range(8):
        o = _one(d, j)
        S = float(d["spots"][j])
        ge = group_by(o["expiry"].astype(np.int64))
        sel = e_seg == j
        st = atm_straddles(ge.codes, ge.n, o["K"], o["is_call"], o["mid"], S)
        ds = delta_strikes(ge.codes, ge.n, o["K"], o["is_call"], o["delta"], S)
        walls = an._oi_walls_per_group(ge, o["K"], o["is_call"], o["oi"], S)
        for f, v in zip(st._fields, st, strict=True):
            _same(got[f"e_st_{f}"][sel], v)
        for f, v in zip(ds._fields, ds, strict=True):
            _same(got[f"e_ds_{f}"][sel], v)
        _same(got["e_oi_call_wall"][sel], walls[0])
        _same(got["e_oi_put_wall"][sel], walls[1])
        _same(got["e_tmax"][sel], an.group_max(ge, o["t"]))
        alone = an._expiry_figures(
            ge, S, o["K"], o["is_call"], o["oi"],  # type: ignore[arg-type]
            an._RowsOf(np.full(ge.n, S), o["mid"], o["last"], o["t"], o["delta"], o["sigma"], None),
        )  # fmt: skip
        assert list(alone) == list(got)
        for name, v in alone.items():
            _same(got[name][sel], v)


def test_analyze_chains_reads_the_chunk_figures() -> None:
    """The batched analyses take the per-expiry figures, smile and by_strike_expiry from the
    chunk (``_groups_many`` with the rows) and equal the per-name ones (also covered field by
    field in tests/test_batched_chain.py)."""
    d = _snapshots(11, 3)
    sums = an._groups_many(
        d["seg"], 3, d["expiry"], d["K"], d["is_call"], d["oi"], d["vol"],
        contract_exposures(d["oi"], d["mult"], d["spots"][d["seg"]], d["gamma"], d["delta"]),
        an._RowsOf(d["spots"], d["mid"], d["last"], d["t"], d["delta"], d["sigma"],
                   contract_exposures(-d["oi"], d["mult"], d["spots"][d["seg"]], d["gamma"],
                                      d["delta"])),
    )  # fmt: skip
    assert sums is not None
    for _, _, part in sums:
        assert isinstance(part["by_strike_expiry"], pa.Table)
        assert isinstance(part["smile"], pa.Table)
        assert "e_tmax" in part and "e_st_straddle_mid" in part
