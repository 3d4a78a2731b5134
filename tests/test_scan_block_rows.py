"""The run block's scanner inputs concatenated once (issue 13): :func:`window_rows` handed to
:func:`session_rows` and :func:`unusual_block_flows` gives what they give from the windows,
and the net-delta step's per-contract sums grouped by the trades' known windows
(``segments``) equal those of the encoded underlying column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from _tables import same_rows
from chainlens.scan._store_scans import (
    _daily,
    _daily_part,
    _transactional_delta_day,
    session_rows,
    unusual_block_flows,
    window_rows,
)

DAY = dt.date(2024, 3, 8)


def _history(u: str, rng: np.random.Generator, n_days: int = 3, n_sym: int = 6) -> pa.Table:
    """A random chain window of ``u``: ``n_sym`` contracts over ``n_days`` sessions to DAY."""
    days = [DAY - dt.timedelta(days=k) for k in range(n_days - 1, -1, -1)]
    rows = [(d, k) for d in days for k in range(n_sym)]
    n = len(rows)
    vol = rng.integers(0, 50, n)
    return pa.table(
        {
            "trade_date": pa.array([d for d, _ in rows], pa.date32()),
            "underlying": [u] * n,
            "symbol": [f"{u}{k:03d}" for _, k in rows],
            "expiry": pa.array([DAY + dt.timedelta(days=7 * (1 + k % 2)) for _, k in rows]),
            "volume": pa.array(vol, mask=rng.random(n) < 0.1),
            "bid": pa.array(rng.random(n), mask=rng.random(n) < 0.1),
            "ask": pa.array(rng.random(n) + 0.5),
            "last": pa.array(rng.random(n), mask=rng.random(n) < 0.2),
            "multiplier": pa.array([100] * n, pa.int32()),
            "open_interest": pa.array(rng.integers(0, 1000, n)),
            "delta": pa.array(rng.random(n) - 0.5, mask=rng.random(n) < 0.1),
        }
    )


def _trades(u: str, rng: np.random.Generator, n: int, n_sym: int = 6) -> pa.Table:
    """Random tagged trades of ``u`` on DAY (some multi-leg, some contracts not quoted)."""
    k = rng.integers(0, n_sym + 1, n).tolist()  # n_sym: a symbol without a chain row
    return pa.table(
        {
            "underlying": pa.array([u] * n, pa.string()),
            "trade_date": pa.array([DAY] * n, pa.date32()),
            "symbol": pa.array([f"{u}{i:03d}" for i in k], pa.string()),
            "expiry": pa.array([DAY + dt.timedelta(days=7 * (1 + i % 2)) for i in k], pa.date32()),
            "price": rng.random(n),
            "size": pa.array(rng.integers(1, 20, n)),
            "multiplier": pa.array([100] * n, pa.int32()),
            "side_code": pa.array(rng.integers(-1, 2, n), pa.int8()),
            "multileg": pa.array(rng.random(n) < 0.2),
        }
    )


def _block(seed: int = 0) -> tuple[list[str], list[pa.Table], list[pa.Table]]:
    rng = np.random.default_rng(seed)
    names = ["AA", "B", "CCC", "Δ"]
    hs = [_history(u, rng) for u in names]
    ts = [_trades(u, rng, n) for u, n in zip(names, (30, 0, 12, 25), strict=True)]
    return names, hs, ts


def _frames_equal(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return same_rows(a.to_arrow(), b.to_arrow())


def test_window_rows_give_the_windows_session_rows_and_flows() -> None:
    names, hs, ts = _block()
    rows = window_rows(names, hs, ts)
    assert rows is not None and rows.trades_mine() and rows.chain_mine()
    ref, got = session_rows(hs, DAY), session_rows(hs, DAY, rows)
    assert ref is not None and got is not None and ref.num_rows == 4 * 6
    assert same_rows(ref, got)
    ref_f = unusual_block_flows(names, hs, ts, DAY)
    got_f = unusual_block_flows(names, hs, ts, DAY, rows)
    assert ref_f is not None and got_f is not None and ref_f.num_rows == 4 * 3
    assert same_rows(ref_f, got_f)
    # the trades' windows, known: each row's underlying is names[seg]
    seg = rows.trade_segments()
    und = pa.concat_tables(ts).column("underlying").to_pylist()
    assert seg is not None and [names[s] for s in seg] == und


def test_window_rows_refuse_what_the_windows_refuse() -> None:
    names, hs, ts = _block(1)
    bad = ts[2].set_column(0, "underlying", pa.array(["AA"] * ts[2].num_rows))
    rows = window_rows(names, hs, [ts[0], ts[1], bad, ts[3]])
    assert rows is not None and not rows.trades_mine() and rows.trade_segments() is None
    assert unusual_block_flows(names, hs, [ts[0], ts[1], bad, ts[3]], DAY, rows) is None
    assert unusual_block_flows(names, hs, [ts[0], ts[1], bad, ts[3]], DAY) is None
    h_bad = hs[1].set_column(1, "underlying", pa.array(["AA"] * hs[1].num_rows))
    rows = window_rows(names, [hs[0], h_bad, *hs[2:]], ts)
    assert rows is not None and not rows.chain_mine()
    assert unusual_block_flows(names, [hs[0], h_bad, *hs[2:]], ts, DAY, rows) is None
    # a history without a scanner column: no shared rows (each step reads the windows)
    assert window_rows(names, [hs[0].drop_columns(["volume"]), *hs[1:]], ts) is None
    assert window_rows(names, [None, *hs[1:]], ts) is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_netdelta_day_by_segments_equals_by_encoding(seed: int) -> None:
    """The per-contract sums, the daily sums and the daily part: the same rows (the same
    order) with the trades' windows given as without."""
    names, hs, ts = _block(seed)
    rows = window_rows(names, hs, ts)
    assert rows is not None
    chain = session_rows(hs, DAY, rows)
    assert chain is not None
    today = pa.concat_tables(ts)
    seg = rows.trade_segments()
    ref = _transactional_delta_day(today, chain, DAY)
    got = _transactional_delta_day(today, chain, DAY, (names, seg))
    assert ref.height and _frames_equal(ref, got)
    assert same_rows(_daily_part(_daily(ref), today), _daily_part(_daily(got), today, (names, seg)))


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_netdelta_day_by_segments_falls_back_as_the_encoding_does(engine: str) -> None:
    """A symbol traded under two underlyings or two expiries: the reference rows either way
    (with the compiled per-symbol check and with its NumPy twin)."""
    from chainlens import _engine

    with _engine.force(engine):  # type: ignore[arg-type]
        _falls_back()


def _falls_back() -> None:
    names, hs, ts = _block(5)
    chain = session_rows(hs, DAY)
    assert chain is not None
    shared = ts[2].set_column(2, "symbol", pa.array(["AA000"] * ts[2].num_rows))
    for t in (
        pa.concat_tables([ts[0], ts[1], shared, ts[3]]),
        pa.concat_tables(ts).set_column(
            3, "expiry", pa.array([DAY + dt.timedelta(days=i % 3) for i in range(67)])
        ),
    ):
        seg = np.repeat(np.arange(4), [x.num_rows for x in ts])
        ref = _transactional_delta_day(t, chain, DAY)
        got = _transactional_delta_day(t, chain, DAY, (names, seg))
        keys = ["underlying", "expiry", "trade_date", "symbol"]
        assert _frames_equal(ref.sort(keys), got.sort(keys))


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_compiled_passes_equal_their_numpy_twins(engine: str) -> None:
    """The flows, the per-contract sums and the underlying check: the same values (bit for
    bit) from the compiled passes as from the NumPy twins, nulls and multi-leg rows
    included."""
    from chainlens import _engine
    from chainlens.scan._store_scans import _segments_are

    names, hs, ts = _block(7)
    with _engine.force("numpy"):
        rows = window_rows(names, hs, ts)
        assert rows is not None
        chain = session_rows(hs, DAY, rows)
        assert chain is not None
        ref_f = unusual_block_flows(names, hs, ts, DAY, rows)
        today = pa.concat_tables(ts)
        ref_t = _transactional_delta_day(today, chain, DAY, (names, rows.t_seg))
    with _engine.force(engine):  # type: ignore[arg-type]
        rows = window_rows(names, hs, ts)
        assert rows is not None
        got_f = unusual_block_flows(names, hs, ts, DAY, rows)
        got_t = _transactional_delta_day(today, chain, DAY, (names, rows.t_seg))
        col = rows.chain.column("underlying")
        assert _segments_are(col, names, rows.seg)
        bad = np.array(rows.seg)
        bad[-1] = 0
        assert not _segments_are(col, names, bad)
        assert not _segments_are(pa.chunked_array([pa.array(["AA", "AAB"])]), names, [0, 0])
    assert ref_f is not None and got_f is not None and same_rows(ref_f, got_f)
    assert _frames_equal(ref_t, got_t)
