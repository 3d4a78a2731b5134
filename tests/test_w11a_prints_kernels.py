"""The compiled flow passes of session 11 (print events, blocks, moneyness columns) equal their
NumPy twins bit for bit, and the chunk's event counts per part equal the per-part calls.

The twins are themselves checked against the Polars expressions of each rule in
``tests/test_flow_sorted_kernels.py`` (both engines); here the two engines are compared
directly, with float columns compared by their bits (signed zeros and the values under null
masks included), on tapes built to reach every branch: nulls, sweeps of more than 128 rows
(NumPy's pairwise sum splits them), sparse burst ids, more than 64 exchanges, no sweep.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chainlens._engine import force
from chainlens.flow import FlowConfig, enrich_trades
from chainlens.flow._premium import moneyness_columns
from chainlens.flow._prints import _print_events_compiled, _print_events_numpy, print_events
from chainlens.flow._prints_numba import _segment_sum


def _bits_equal(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> bool:
    """Same type, nulls and values; floats by their bits (under the nulls too)."""
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    b = b.combine_chunks() if isinstance(b, pa.ChunkedArray) else b
    if a.type != b.type or len(a) != len(b):
        return False
    if not pc.is_null(a).equals(pc.is_null(b)):
        return False
    if pa.types.is_floating(a.type):
        bufs_a, bufs_b = a.buffers()[1], b.buffers()[1]
        x = np.frombuffer(bufs_a, np.int64)[a.offset : a.offset + len(a)]
        y = np.frombuffer(bufs_b, np.int64)[b.offset : b.offset + len(b)]
        return bool(np.array_equal(x, y))
    return a.equals(b)


def _tables_equal(a: pa.Table, b: pa.Table) -> None:
    assert a.schema.equals(b.schema, check_metadata=True), (a.schema, b.schema)
    for name in a.column_names:
        assert _bits_equal(a[name], b[name]), name


def test_segment_sum_is_reduceat() -> None:
    """The compiled segment sum is ``numpy.add.reduceat``'s, bit for bit (lengths 1..400:
    NumPy's pairwise sum has branches below 8, up to 128 and above)."""
    rng = np.random.default_rng(11)
    for _ in range(400):
        lengths = rng.integers(1, 400, size=int(rng.integers(1, 5)))
        parts = []
        for m in lengths:
            kind = int(rng.integers(0, 3))
            if kind == 0:
                v = rng.normal(size=m) * 10.0 ** rng.integers(-5, 17, size=m)
            elif kind == 1:
                v = rng.choice([-0.0, 0.0], size=m)
            else:
                v = rng.choice([-0.0, 0.0, 1e16, -1e16, 1.0, 3.3], size=m)
            parts.append(v)
        a = np.concatenate(parts)
        cut = np.r_[0, np.cumsum(lengths)[:-1]]
        ref = np.add.reduceat(a, cut)
        ends = np.r_[cut[1:], a.size]
        got = np.array(
            [_segment_sum(a, int(lo), int(hi)) for lo, hi in zip(cut, ends, strict=True)]
        )
        assert np.array_equal(ref.view(np.int64), got.view(np.int64))


def _tape(rng: np.random.Generator, n: int, *, nulls: bool, exchanges: int = 4) -> pa.Table:
    """Trades of two underlyings at few instants (bursts, sweeps and packages happen)."""
    und = rng.choice(["AAA", "BBB"], n)
    k = rng.choice([100.0, 105.0, 110.0], n)
    right = rng.choice(["C", "P"], n)
    sym = [f"{u}240315{r}{int(x * 1000):08d}" for u, r, x in zip(und, right, k, strict=True)]
    ts = np.sort(rng.integers(0, max(n // 8, 2), n)) * 20_000_000
    names = [f"X{i}" for i in range(exchanges)]
    ex = rng.choice([*names, None] if nulls else names, n).tolist()
    cond = rng.choice(["AUTO", " mlet ", "SLCN", None] if nulls else ["AUTO", "MLET"], n)
    bid = rng.choice([1.0, 1.2, np.nan] if nulls else [1.0, 1.2], n)
    spot = rng.choice([100.0, 101.5, np.nan] if nulls else [100.0], n)
    price = rng.choice([1.0, 1.5, 2.0, 0.0], n)
    size = rng.integers(0, 2000, n)
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", "UTC")),
            "trade_date": pa.array(np.full(n, np.datetime64("2024-03-01", "D"))),
            "underlying": und.tolist(),
            "root": und.tolist(),
            "symbol": sym,
            "expiry": pa.array(np.full(n, np.datetime64("2024-03-15", "D"))),
            "strike": k,
            "right": right.tolist(),
            "multiplier": pa.array(np.full(n, 100), pa.int32()),
            "price": price,
            "size": size,
            "bid": pa.array(bid, mask=np.isnan(bid)),
            "ask": np.full(n, 2.0),
            "exchange": pa.array(ex, pa.string()),
            "condition": pa.array(cond.tolist(), pa.string()),
            "spot": pa.array(spot, mask=np.isnan(spot)),
        }
    )


def _with_nulls(t: pa.Table, rng: np.random.Generator, names: list[str]) -> pa.Table:
    """``t`` with about a tenth of the values of ``names`` null, and moneyness columns."""
    n = t.num_rows
    dn = rng.normal(size=n) * 1e5
    dn[rng.random(n) < 0.3] = -0.0
    t = t.append_column("deep_itm", pa.array(rng.random(n) < 0.2, mask=rng.random(n) < 0.1))
    t = t.append_column("delta_notional_usd", pa.array(dn, mask=rng.random(n) < 0.1))
    for name in names:
        c = t[name].combine_chunks()
        m = rng.random(n) < 0.1
        vals = pa.array(c.to_pylist(), c.type, mask=m | np.asarray(c.is_null()))
        t = t.set_column(t.column_names.index(name), t.schema.field(name), vals)
    return t


def _both(t: pa.Table) -> None:
    _tables_equal(_print_events_compiled(t), _print_events_numpy(t))


def test_print_events_compiled_equals_numpy() -> None:
    rng = np.random.default_rng(12)
    cfg = FlowConfig(sweep_min_exchanges=2)
    seen_multi = 0
    for i in range(60):
        n = int(rng.integers(1, 400))
        nulls = bool(i % 2)
        e = enrich_trades(_tape(rng, n, nulls=nulls, exchanges=4 if i % 3 else 80), cfg)
        if nulls:
            e = _with_nulls(
                e, rng, ["price", "spot", "aggressiveness", "size", "ts", "is_sweep", "multileg"]
            )
        _both(e)
        seen_multi += int((np.asarray(print_events(e)["n_trades"]) > 1).sum())
    assert seen_multi > 0


def test_print_events_big_sparse_and_no_sweeps() -> None:
    rng = np.random.default_rng(13)
    e = enrich_trades(_tape(rng, 1500, nulls=True), FlowConfig())
    n = e.num_rows
    burst = np.asarray(e["burst_id"]).copy()
    burst[:700] = 5  # one sweep of 700 rows, one of 300 (pairwise sums split them)
    burst[700:1000] = 9
    sweep = np.zeros(n, dtype=bool)
    sweep[:1200] = True
    big = e.set_column(e.column_names.index("burst_id"), "burst_id", pa.array(burst))
    big = big.set_column(big.column_names.index("is_sweep"), "is_sweep", pa.array(sweep))
    _both(big)
    sparse = big.set_column(  # burst ids far apart: the first rows found by np.unique
        big.column_names.index("burst_id"), "burst_id", pa.array(burst * 10**12)
    )
    _both(sparse)
    _tables_equal(_print_events_compiled(sparse), _print_events_compiled(big))
    null_burst = big.set_column(
        big.column_names.index("burst_id"), "burst_id", pa.array(burst, mask=rng.random(n) < 0.05)
    )
    _both(null_burst)
    none = big.set_column(big.column_names.index("is_sweep"), "is_sweep", pa.array(~sweep & False))
    _both(none)
    _both(big.slice(0, 0))
    _both(big.slice(3, 1))


def test_moneyness_columns_compiled_equals_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine chosen by the row threshold in auto mode, so that the Black-Scholes deltas of
    the rows without a vendor delta (whose compiled kernel differs in the last digits) run
    the same kernel both times."""
    import chainlens.flow._premium as prem_mod

    rng = np.random.default_rng(15)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0]
    for _ in range(20):
        n = int(rng.integers(1, 300))

        def col(lo: float, hi: float, n: int = n) -> np.ndarray:
            v = rng.uniform(lo, hi, n)
            m = rng.random(n) < 0.15
            v[m] = rng.choice(specials, int(m.sum()))
            return v

        t = pa.table({"x": np.arange(n)})
        args = (
            t, col(50, 150), col(50, 150), rng.random(n) < 0.5, col(-1, 1), col(0, 1),
            col(0, 40), col(0, 100), col(1, 100),
        )  # fmt: skip
        kw = {"deep_itm_delta": 0.85, "deep_itm_pct": 10.0}
        with force("auto"), np.errstate(all="ignore"):  # inf and NaN inputs on purpose
            monkeypatch.setattr(prem_mod, "COMPILED_MIN_ROWS", 0)
            got = moneyness_columns(*args, **kw)
            monkeypatch.setattr(prem_mod, "COMPILED_MIN_ROWS", 10**12)
            ref = moneyness_columns(*args, **kw)
        _tables_equal(got, ref)


def test_event_counts_per_part_with_empty_parts() -> None:
    """The chunk's events split per part (counted from ``n_trades``) equal each part's own
    events, empty parts included."""
    from chainlens.batched._flow import _print_events_chunk, split_rows

    rng = np.random.default_rng(16)
    cfg = FlowConfig()
    parts = []
    for i in range(6):
        n = int(rng.integers(1, 200))
        t = _tape(rng, n, nulls=False)
        t = t.set_column(t.column_names.index("underlying"), "underlying", pa.array([f"U{i}"] * n))
        e = enrich_trades(t, cfg)
        parts.append(e.slice(0, 0) if i in (0, 3) else e)
    whole = pa.concat_tables(parts)
    ev, counts = _print_events_chunk(whole, [p.num_rows for p in parts])
    for p, got in zip(parts, split_rows(ev, counts.tolist()), strict=True):
        _tables_equal(got, print_events(p)) if p.num_rows else None
        assert got.num_rows == (print_events(p).num_rows if p.num_rows else 0)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_enrich_trades_shares_the_instant_order(engine: str) -> None:
    """``enrich_trades`` sorts by instant once; its tags equal those of each tagger alone."""
    from chainlens.flow._premium import tag_multileg, tag_synthetic

    rng = np.random.default_rng(17)
    cfg = FlowConfig()
    with force(engine):  # type: ignore[arg-type]
        for _ in range(20):
            t = _tape(rng, int(rng.integers(1, 300)), nulls=True)
            e = enrich_trades(t, cfg)
            ml = tag_multileg(t, conditions=cfg.multileg_conditions, same_ts=True)
            assert np.array_equal(np.asarray(e["multileg"]), ml)
            assert np.array_equal(np.asarray(e["synthetic"]), tag_synthetic(e))


def test_aggressiveness_compiled_equals_numpy() -> None:
    """``enrich_trades``' aggressiveness pass equals the NumPy expression bit for bit."""
    from chainlens.flow._side import UNKNOWN
    from chainlens.flow._side_numba import aggressiveness_nb

    rng = np.random.default_rng(19)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1.1])
    for _ in range(20):
        n = int(rng.integers(1, 500))
        p, b, a = (rng.uniform(0.5, 1.5, n) for _ in range(3))
        for v in (p, b, a):
            m = rng.random(n) < 0.2
            v[m] = rng.choice(specials, int(m.sum()))
        code = rng.choice(np.array([1, -1, 0, UNKNOWN], dtype=np.int8), n)
        with np.errstate(all="ignore"):
            spread = a - b
            x = (p - b) / np.where(spread > 0, spread, np.nan)
            ref = np.minimum(1.0, np.abs(2.0 * x - 1.0))
        ref = np.where(np.isfinite(ref) & (code != UNKNOWN), ref, 0.0)
        got = aggressiveness_nb(p, b, a, code, UNKNOWN)
        assert np.array_equal(got.view(np.int64), ref.view(np.int64))
