"""The session-9 fast paths of the batched flow stages against independent references:

* :func:`chainlens.batched._flow.right_flags` (the ``C`` / ``P`` masks read from the string
  bytes) against ``pyarrow.compute.equal``;
* ``detect_sweeps``' stable ``argsort`` of the (symbol, side) key on time-ordered tapes
  against a plain-Python burst walk (and the ``lexsort`` path on unordered tapes);
* the compiled decomposition sums (only non-zero weights added) bit-identical to
  ``np.bincount`` of ``row_weights`` with zero, negative-zero and NaN weights;
* :func:`chainlens.batched._flow.contract_stats_many` equal per segment to the per-underlying
  filter (one session, several sessions, no history, null dates, other schemas);
* :func:`chainlens.batched._flow.twap_candidates`: ``detect_twap`` of the kept rows equals
  ``detect_twap`` of every row, and :func:`chainlens.batched.darkpool_many` without any dark
  pool, with empty tables and with programs.

Integers, booleans and strings exactly; floats bit for bit where stated, else 1e-12 relative.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens._engine import force, numba_available
from chainlens.batched import darkpool_many, segment_ids
from chainlens.batched._flow import (
    _contract_stats,
    contract_stats_many,
    level_sums,
    right_flags,
    row_weights,
    twap_candidates,
)
from chainlens.flow import FlowConfig
from chainlens.flow._darkpool import darkpool_summary, detect_twap
from chainlens.flow._prints import detect_sweeps
from chainlens.flow._side import BUY, MID, SELL, UNKNOWN

# --------------------------------------------------------------------------- right flags


@pytest.mark.parametrize(
    "col",
    [
        pa.array(["C", "P", "C", "P"]),
        pa.array(["C", None, "P"]),  # nulls: the pyarrow path
        pa.array(["CALL", "P", "C"]),  # longer codes: the pyarrow path
        pa.array(["C", "", "PP", "P"]),  # lengths 1, 0, 2, 1
        pa.array(["c", "P", "X"]),
        pa.array([], pa.string()),
        pa.array(["C", "P"], pa.large_string()),
        pa.array(["P", "C", "C", "P", "C"]).slice(1, 3),  # an offset into the buffers
        pa.chunked_array([pa.array(["C", "P"]), pa.array(["P", "C", "C"]).slice(1)]),
        pa.chunked_array([], pa.string()),
    ],
)
def test_right_flags_equal_pyarrow_equal(col: pa.Array | pa.ChunkedArray) -> None:
    call, put = right_flags(col)
    for got, code in ((call, "C"), (put, "P")):
        ref = pc.fill_null(pc.equal(col, code), False)
        ref_np = np.asarray(ref.to_numpy(zero_copy_only=False), dtype=bool).reshape(-1)
        assert got.dtype == bool
        assert got.tolist() == ref_np.tolist()


# --------------------------------------------------------------------------- sweeps


def _ref_bursts(
    sym: list[int], side: list[int], ts: list[int], ex: list[str], window_ns: int, min_ex: int
) -> tuple[list[int], list[bool]]:
    """Bursts by a walk over the rows sorted by (symbol, side, ts, row) (no nulls)."""
    n = len(sym)
    order = sorted(range(n), key=lambda i: (sym[i], side[i], ts[i], i))
    burst = [0] * n
    b = 0
    prev = None
    for i in order:
        if (
            prev is None
            or (sym[i], side[i]) != (sym[prev], side[prev])
            or ts[i] - ts[prev] > window_ns
        ):
            b += 1
        burst[i] = b
        prev = i
    exs: dict[int, set[str]] = {}
    for i in range(n):
        exs.setdefault(burst[i], set()).add(ex[i])
    return burst, [len(exs[burst[i]]) >= min_ex for i in range(n)]


def _sweep_tape(rng: np.random.Generator, n: int, *, ordered: bool) -> pa.Table:
    ts = rng.integers(0, 8, n) * 20_000_000  # 20 ms steps inside a 50 ms window
    if ordered:
        ts = np.sort(ts)
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", "UTC")),
            "symbol": pa.array(rng.integers(0, 4, n), pa.int64()),
            "side_code": pa.array(rng.choice([BUY, SELL, MID], n), pa.int8()),
            "exchange": pa.array(rng.choice(["A", "B", "C"], n).tolist(), pa.string()),
        }
    )


@pytest.mark.parametrize("ordered", [True, False])
def test_detect_sweeps_equal_a_burst_walk(ordered: bool) -> None:
    rng = np.random.default_rng(11)
    for n in (1, 2, 5, 40, 200):
        for _ in range(20):
            t = _sweep_tape(rng, n, ordered=ordered)
            burst, sweep = detect_sweeps(t, window_ms=50.0, min_exchanges=2)
            ref_b, ref_s = _ref_bursts(
                t["symbol"].to_pylist(), t["side_code"].to_pylist(),
                pc.cast(t["ts"], pa.int64()).to_pylist(), t["exchange"].to_pylist(),
                50_000_000, 2,
            )  # fmt: skip
            assert burst.tolist() == ref_b
            assert sweep.tolist() == ref_s


def test_detect_sweeps_time_ordered_within_key_only() -> None:
    """Times ordered within each (symbol, side) but not over the tape (a chunk of several
    underlyings, each time-ordered): the argsort path, equal to the walk."""
    rng = np.random.default_rng(12)
    parts = [_sweep_tape(rng, 50, ordered=True) for _ in range(3)]
    parts = [
        p.set_column(1, "symbol", pc.add(p["symbol"], pa.scalar(10 * i, pa.int64())))
        for i, p in enumerate(parts)
    ]
    t = pa.concat_tables(parts)
    burst, sweep = detect_sweeps(t, window_ms=50.0, min_exchanges=2)
    ref_b, ref_s = _ref_bursts(
        t["symbol"].to_pylist(), t["side_code"].to_pylist(),
        pc.cast(t["ts"], pa.int64()).to_pylist(), t["exchange"].to_pylist(), 50_000_000, 2,
    )  # fmt: skip
    assert burst.tolist() == ref_b and sweep.tolist() == ref_s


# --------------------------------------------------------------------------- decomposition sums


def _weights_table(rng: np.random.Generator, n: int) -> pa.Table:
    prem = rng.choice([0.0, -0.0, 150.0, 1e6 / 3, 7.25], n)
    size = rng.choice([1.0, 0.0, np.nan, 10.0], n)
    dn = rng.choice([np.nan, 0.0, 1234.5, 99.0], n)
    return pa.table(
        {
            "premium_usd": prem,
            "right": pa.array(rng.choice(["C", "P", "X"], n).tolist()),
            "side_code": pa.array(rng.choice([BUY, SELL, MID, UNKNOWN], n), pa.int8()),
            "multileg": rng.random(n) < 0.3,
            "deep_itm": rng.random(n) < 0.2,
            "synthetic": rng.random(n) < 0.2,
            "delta_notional_usd": dn,
            "size": size,
        }
    )


def test_compiled_sums_skip_zero_weights_bit_identical() -> None:
    """Zero and negative-zero premiums, NaN sizes (added), every row a block of one group
    or one row per group: the compiled sums equal ``np.bincount`` bit for bit."""
    if not numba_available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(13)
    for n in (1, 7, 500):
        t = _weights_table(rng, n)
        w = row_weights(t)
        for codes in (np.zeros(n, np.int64), np.arange(n, dtype=np.int64), rng.integers(0, 5, n)):
            g = int(codes.max()) + 1
            with force("numba"):
                got = level_sums(t, [codes, np.zeros(n, np.int64)], [g, 1])
            for cd, gg, s in zip((codes, np.zeros(n, np.int64)), (g, 1), got, strict=True):
                for k, v in w.items():
                    ref = np.bincount(cd, weights=v, minlength=gg)
                    assert ref.tobytes() == s[k].tobytes(), k
                assert (s["trades"] == np.bincount(cd, minlength=gg)).all()


# --------------------------------------------------------------------------- contract stats

_D = dt.date(2024, 3, 8)
_CHANGE_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("trade_date", pa.date32()),
        ("avg_volume_5d", pa.float64()),
        ("oi_change", pa.int64()),
    ]
)


def _trades(days: list[dt.date]) -> pa.Table:
    return pa.table({"trade_date": pa.array(days, pa.date32()), "x": list(range(len(days)))})


def _changes(rows: list[tuple[str, dt.date | None, float, int | None]]) -> pa.Table:
    return pa.table(
        {
            "symbol": [r[0] for r in rows],
            "trade_date": pa.array([r[1] for r in rows], pa.date32()),
            "avg_volume_5d": [r[2] for r in rows],
            "oi_change": pa.array([r[3] for r in rows], pa.int64()),
        },
        schema=_CHANGE_SCHEMA,
    )


def test_contract_stats_many_equal_per_segment() -> None:
    d0, d1 = _D - dt.timedelta(days=1), _D
    hist = pa.table({"trade_date": pa.array([d1], pa.date32())})  # any non-empty history
    ch_a = _changes([("A1", d0, 1.0, 5), ("A1", d1, 2.0, None), ("A2", d1, 3.0, -4)])
    ch_b = _changes([("B1", None, 1.0, 1), ("B1", d1, 4.0, 7)])  # a null date: not the session
    ch_c = _changes([("C1", d0, 1.0, 1), ("C1", d1, 2.0, 2)])  # trades on two sessions
    ch_e = _changes([("E1", d0, 1.0, 1)])  # no row of the session: an empty table
    other = ch_a.cast(
        pa.schema(
            [f.with_type(pa.float32()) if f.name == "avg_volume_5d" else f for f in _CHANGE_SCHEMA]
        )
    )  # another schema: alone
    segs = [
        (_trades([d1, d1]), hist, ch_a),
        (_trades([d1]), None, ch_a),  # no history: None
        (_trades([d1]), hist.slice(0, 0), ch_a),  # empty history: None
        (_trades([d1, d1, d1]), hist, ch_b),
        (_trades([d0, d1]), hist, ch_c),
        (_trades([d1]), hist, ch_e),
        (_trades([d1]), hist, other),
    ]
    trades = pa.concat_tables([s[0] for s in segs])
    sizes = [s[0].num_rows for s in segs]
    got = contract_stats_many(trades, sizes, [s[1] for s in segs], [s[2] for s in segs])
    for (t, h, c), g in zip(segs, got, strict=True):
        ref = _contract_stats(t, h, c)
        if ref is None:
            assert g is None
            continue
        assert g is not None and g.schema.equals(ref.schema) and g.equals(ref)
    # independently, by hand
    assert got[0] is not None and got[0].to_pylist() == [
        {"symbol": "A1", "avg_volume_5d": 2.0, "oi_change_next": None},
        {"symbol": "A2", "avg_volume_5d": 3.0, "oi_change_next": -4},
    ]
    assert got[1] is None and got[2] is None
    assert got[3] is not None and got[3]["symbol"].to_pylist() == ["B1"]
    assert got[4] is not None and got[4]["oi_change_next"].to_pylist() == [1, 2]
    assert got[5] is not None and got[5].num_rows == 0


def test_contract_stats_many_empty_segment_and_no_segments() -> None:
    hist = pa.table({"trade_date": pa.array([_D], pa.date32())})
    ch = _changes([("A1", _D, 1.0, 5), ("A1", _D - dt.timedelta(days=1), 2.0, 1)])
    t = _trades([])
    got = contract_stats_many(t, [0], [hist], [ch])  # no trades: no session filter
    ref = _contract_stats(t, hist, ch)
    assert got[0] is not None and ref is not None and got[0].equals(ref) and ref.num_rows == 2
    assert contract_stats_many(t, [], [], []) == []


# --------------------------------------------------------------------------- dark pool


def _dp_prints(ticker: str, n: int, seed: int, *, programs: int = 0) -> pa.Table:
    """``n`` random prints of ``ticker`` and ``programs`` regular programs of 12 slices."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2024-03-08T14:30:00", "ns").astype(np.int64)
    ts = list(t0 + np.sort(rng.integers(0, 6 * 3600 * 10**9, n)))
    size = list(rng.integers(100, 20_000, n))
    for k in range(programs):
        ts += list(t0 + 10**9 * (k + 1) + np.arange(12, dtype=np.int64) * 60_000_000_000)
        size += [20 + 30 * k] * 12  # below the random sizes: a bucket of its own
    m = len(ts)
    mid = 100 + rng.normal(0, 1, m)
    price = mid + rng.choice([-0.05, 0.0, 0.05], m)
    bid = mid - 0.05
    bid[::7] = np.nan
    return pa.table(
        {
            "ts": pa.array(np.asarray(ts, np.int64), pa.int64()).cast(pa.timestamp("ns", "UTC")),
            "ticker": pa.array([ticker] * m, pa.string()),
            "price": price,
            "size": pa.array(size, pa.int64()),
            "bid": pa.array(bid, mask=np.isnan(bid)),
            "ask": mid + 0.05,
        }
    )


def _twap(p: pa.Table, cfg: FlowConfig) -> pa.Table:
    return detect_twap(
        p, min_slices=cfg.twap_min_slices, max_interval_cv=cfg.twap_max_interval_cv,
        size_tolerance=cfg.twap_size_tolerance,
    )  # fmt: skip


def test_twap_candidates_keep_every_program_row() -> None:
    cfg = FlowConfig()
    ps = [
        _dp_prints("AAA", 300, 1, programs=2),
        _dp_prints("BBB", 50, 2),
        _dp_prints("CCC", 5, 3, programs=1),
    ]
    allp = pa.concat_tables(ps)
    seg = segment_ids([p.num_rows for p in ps])
    keep = twap_candidates(
        allp, seg, min_slices=cfg.twap_min_slices, size_tolerance=cfg.twap_size_tolerance
    )
    assert keep is not None and 0 < keep.sum() < allp.num_rows
    ref, got = _twap(allp, cfg), _twap(allp.filter(pa.array(keep)), cfg)
    assert ref.num_rows == 3 and got.equals(ref)
    for tol in (1e-9, 0.5, 3.0):  # narrow and wide buckets
        k = twap_candidates(allp, seg, min_slices=10, size_tolerance=tol)
        sub = allp if k is None else allp.filter(pa.array(k))
        c = FlowConfig(twap_size_tolerance=tol)
        assert _twap(sub, c).equals(_twap(allp, c))
    assert twap_candidates(allp, seg, min_slices=1, size_tolerance=0.05) is None
    assert twap_candidates(allp.slice(0, 0), seg[:0], min_slices=10, size_tolerance=0.05) is None
    zero = allp.set_column(3, "size", pa.array(np.zeros(allp.num_rows, np.int64)))
    k0 = twap_candidates(zero, seg, min_slices=10, size_tolerance=0.05)
    assert k0 is not None and not k0.any()  # no positive size: no program


def test_darkpool_many_no_dark_pool_empty_and_programs() -> None:
    cfg = FlowConfig()
    assert darkpool_many([None, None], cfg) == ([None, None], [None, None])
    ps: list[pa.Table | None] = [
        _dp_prints("AAA", 40, 4, programs=1),
        None,
        _dp_prints("BBB", 1, 5),  # one print
        _dp_prints("CCC", 200, 6, programs=2),
    ]
    dps, tws = darkpool_many(ps, cfg)
    for p, dp, tw in zip(ps, dps, tws, strict=True):
        if p is None:
            assert dp is None and tw is None
            continue
        ref_dp = darkpool_summary(p, label_threshold=cfg.darkpool_label_threshold)
        ref_tw = _twap(p, cfg)
        assert dp is not None and tw is not None
        assert dp.schema.equals(ref_dp.schema) and tw.schema.equals(ref_tw.schema)
        assert dp.to_pylist() == ref_dp.to_pylist()
        assert tw.to_pylist() == ref_tw.to_pylist()
    assert [t.num_rows for t in tws if t is not None] == [1, 0, 2]
    empty = _dp_prints("DDD", 3, 7).slice(0, 0)  # an empty table: the per-table path
    dps, tws = darkpool_many([empty, _dp_prints("EEE", 3, 8)], cfg)
    assert dps[0] is not None and dps[0].num_rows == 0 and tws[0] is not None
