"""The chunk forms of the per-window document helpers (issue 13) against their per-window
references: :func:`chainlens.pipeline._history_facts` (spot series, prior zone, bars) equals
``_spot_series``, ``prior_zone`` and ``_bars_for`` of each window, on random windows (several
sessions and snapshots, rows out of order, null and NaN quotes and spots, two roots) and on
edge windows: one window, one session only, no spot at all, no bars, bars past the session,
many roots (the per-window fallback), histories whose schemas differ."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from chainlens import pipeline as pipe
from chainlens.pipeline import UnderlyingWindow

UTC = dt.UTC
DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6), dt.date(2024, 3, 7)]
SESSION = DAYS[-1]


def _history(
    seed: int, *, shuffle: bool, nulls: bool, days: list[dt.date] = DAYS, roots: int = 2
) -> pa.Table:
    """A random chain history: 1-2 snapshots per session, 3 expiries, ``roots`` roots."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for d in days:
        spot0 = 100.0 + rng.normal()
        for h in sorted({21, int(rng.choice([15, 21]))}):
            ts = dt.datetime(d.year, d.month, d.day, h, 0, tzinfo=UTC)
            for e in (d, d + dt.timedelta(days=1), d + dt.timedelta(days=8)):
                for k in (95.0, 97.5, 100.0, 102.5, 105.0):
                    for r in ("C", "P"):
                        for root in range(roots):
                            bid = float(rng.uniform(0, 3))
                            ask = bid + float(rng.uniform(-0.2, 1))
                            if nulls and rng.random() < 0.1:
                                bid = None  # type: ignore[assignment]
                            if nulls and rng.random() < 0.05:
                                ask = math.nan
                            spot = spot0 if not (nulls and rng.random() < 0.2) else None
                            rows.append({
                                "trade_date": d, "snapshot_ts": ts, "underlying": "X",
                                "root": f"X{root}", "expiry": e, "strike": k, "right": r,
                                "bid": bid, "ask": ask, "spot": spot,
                                "open_interest": int(rng.integers(0, 500)),
                            })  # fmt: skip
    t = pa.Table.from_pylist(rows)
    t = t.cast(pa.schema([
        pa.field("trade_date", pa.date32()), pa.field("snapshot_ts", pa.timestamp("ns", tz="UTC")),
        pa.field("underlying", pa.string()), pa.field("root", pa.string()),
        pa.field("expiry", pa.date32()), pa.field("strike", pa.float64()),
        pa.field("right", pa.string()), pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()), pa.field("spot", pa.float64()),
        pa.field("open_interest", pa.int64()),
    ]))  # fmt: skip
    if shuffle:
        t = t.take(pa.array(rng.permutation(t.num_rows)))
    return t


def _bars(seed: int, *, past_session: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    days = [DAYS[0] - dt.timedelta(days=k) for k in range(1, 25)] + DAYS
    if past_session:
        days.append(SESSION + dt.timedelta(days=1))
    order = rng.permutation(len(days))
    return pa.table({
        "trade_date": pa.array([days[i] for i in order], pa.date32()),
        "close": pa.array(rng.uniform(90, 110, len(days))[order], pa.float64()),
    })  # fmt: skip


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _window(h: pa.Table, bars: pa.Table | None = None) -> UnderlyingWindow:
    return UnderlyingWindow("X", SESSION, h, pa.table({"ts": pa.array([], pa.int64())}), bars=bars)


def _check(ws: list[UnderlyingWindow], n_bars: int = 21) -> list[pipe._Facts]:
    facts = pipe._history_facts(ws, n_bars)
    assert len(facts) == len(ws)
    for w, f in zip(ws, facts, strict=True):
        h = w.history
        if f.spot_series is not None:
            assert _eq(f.spot_series, pipe._spot_series(h))
        spots = [s for s in pipe._spot_series(h)[1] if s == s]
        for close in (None, math.nan, 99.0, 100.0, 101.5, *spots[-1:]):
            ref = pipe.prior_zone(h, SESSION, close)
            assert _eq(pipe._prior_zone_of(f, h, SESSION, close), ref), close
        if f.bars_done:
            b = pipe._bars_for(w, n_bars)
            if b is None:
                assert f.bars is None
            else:
                assert f.bars is not None
                closes, last_is_d = f.bars
                ref_c = b.column("close").to_numpy(zero_copy_only=False)
                assert np.array_equal(closes, ref_c)
                assert last_is_d == (
                    b.num_rows > 0 and b.column("trade_date")[-1].as_py() == SESSION
                )
    return facts


@pytest.mark.parametrize("nulls", [False, True])
def test_chunk_facts_equal_each_window(nulls: bool) -> None:
    ws = [
        _window(_history(s, shuffle=s % 2 == 1, nulls=nulls), _bars(s) if s % 3 else None)
        for s in range(8)
    ]
    facts = _check(ws)
    assert all(f.spot_series is not None and f.zone_done and f.bars_done for f in facts)
    assert sum(f.zone is not None for f in facts) >= 4  # zones are built, not only declined
    assert any(f.bars is not None and f.bars[1] for f in facts)


def test_one_window_and_edge_windows() -> None:
    _check([_window(_history(3, shuffle=True, nulls=True), _bars(3))])
    one_session = _history(4, shuffle=False, nulls=False, days=DAYS[-1:])  # no previous session
    no_spot = _history(5, shuffle=False, nulls=False)
    no_spot = no_spot.set_column(
        no_spot.schema.get_field_index("spot"), "spot", pa.nulls(no_spot.num_rows, pa.float64())
    )
    past = _bars(6, past_session=True)
    short = _bars(7).slice(0, 2)  # fewer than 3 bars: realized vol from the chain
    empty_bars = _bars(8).slice(0, 0)
    ws = [
        _window(one_session, past),
        _window(no_spot, short),
        _window(_history(9, shuffle=True, nulls=True), empty_bars),
        _window(_history(10, shuffle=False, nulls=False), None),
    ]
    facts = _check(ws, n_bars=5)
    assert facts[0].zone_done and facts[0].zone is None
    assert facts[1].zone_done and facts[1].zone is None
    assert facts[2].bars is None and facts[2].bars_done


def test_many_roots_and_other_schemas_fall_back_to_each_window() -> None:
    many = _history(11, shuffle=True, nulls=False, roots=16)  # > 7 valid ATM mids
    facts = _check([_window(many), _window(_history(12, shuffle=False, nulls=True))])
    assert not facts[0].zone_done and facts[1].zone_done
    other = _history(13, shuffle=False, nulls=False)
    other = other.set_column(
        other.schema.get_field_index("open_interest"), "open_interest",
        other.column("open_interest").cast(pa.int32()),
    )  # fmt: skip
    facts = _check([_window(other), _window(_history(14, shuffle=False, nulls=False))])
    assert all(f.spot_series is None and not f.zone_done for f in facts)
    assert _check([]) == []


def test_an_empty_history_is_left_to_the_window() -> None:
    h = _history(15, shuffle=False, nulls=False)
    facts = pipe._history_facts([_window(h.slice(0, 0)), _window(h)], 21)
    assert all(f.spot_series is None and not f.zone_done for f in facts)


def test_todays_equal_each_window() -> None:
    hs = [
        _history(20, shuffle=True, nulls=True),
        _history(21, shuffle=False, nulls=False),
        _history(22, shuffle=False, nulls=False, days=DAYS[:2]),  # no snapshot of the session
        _history(23, shuffle=False, nulls=False).slice(0, 0),  # empty
        _history(24, shuffle=True, nulls=False, days=DAYS[-1:]),
    ]
    ws = [_window(h) for h in hs]
    got = pipe._todays(ws)
    assert got is not None
    for w, g in zip(ws, got, strict=True):
        try:
            ref = pipe._today(w)
        except pipe.InputError as exc:
            assert isinstance(g, pipe.InputError) and g.message == exc.message
            continue
        assert isinstance(g, tuple)
        today, n_sessions = g
        assert today.schema.equals(ref.schema) and _eq(today.to_pylist(), ref.to_pylist())
        assert n_sessions == len(set(w.history.column("trade_date").to_pylist()))
    assert pipe._todays([ws[1]]) is not None and pipe._todays([]) is None
    # other column types: each window alone
    h = hs[1].set_column(1, "snapshot_ts", hs[1].column("snapshot_ts").cast(pa.int64()))
    assert pipe._todays([_window(h), ws[0]]) is None


def test_oi_sums_equal_oi_by_session() -> None:
    h = _history(30, shuffle=True, nulls=True)
    facts = pipe._history_facts([_window(h), _window(_history(31, shuffle=False, nulls=False))], 21)
    assert facts[0].oi_arrays is not None
    for e in sorted(set(h.column("expiry").to_pylist())) + [dt.date(2030, 1, 1)]:
        assert pipe._oi_sums(*facts[0].oi_arrays, e) == pipe._oi_by_session(h, e)


def test_iso_dates_equal_arrow_cast() -> None:
    import pyarrow.compute as pc

    from chainlens._jsonsafe import iso_dates

    d = pa.array(
        [dt.date(2024, 3, 8), None, dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 3, 8)],
        pa.date32(),
    )
    far = pa.array([-800000, 3000000, None], pa.int32()).cast(pa.date32())  # outside 1..9999
    rng = np.random.default_rng(3)
    many = pa.array(rng.integers(19000, 19100, 2000), pa.int32(), mask=rng.random(2000) < 0.1)
    for col in (d, far, pa.nulls(3, pa.date32()), many.cast(pa.date32()),
                pa.chunked_array([d, far]), pa.chunked_array([], pa.date32())):  # fmt: skip
        assert iso_dates(col) == pc.cast(col, pa.string()).to_pylist()


def test_utf8_array_equals_pa_array() -> None:
    from chainlens.results import _utf8_array

    texts = [b"{}", '{"k":"\u00e9\u4e2d"}'.encode(), b"", b'{"a":[1,2]}']
    assert _utf8_array(texts).equals(pa.array(texts, pa.string()))
    assert _utf8_array([]).equals(pa.array([], pa.string()))
    with pytest.raises(pa.ArrowInvalid):
        _utf8_array([b"\xff"])
