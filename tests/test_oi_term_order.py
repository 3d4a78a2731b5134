"""Term-structure signals and event builds come out in a fixed order, call after call.

Polars' hash grouping may hand groups back in any order; ``class_share`` (a map) and the
event table must not depend on it. The reference is the same call repeated and a hand-built
expectation of the key order.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from chainlens.oi import event_oi_build, term_signals, term_structure

D = dt.date(2024, 3, 4)


def _chain() -> pa.Table:
    rows = []
    for u in ("AAA", "BBB", "CCC"):
        for days in (0, 4, 11, 18, 46, 109, 200, 400, 700):
            for right in ("C", "P"):
                rows.append((u, D, D + dt.timedelta(days=days), right, 100 + days))
    u, td, ex, r, oi = zip(*rows, strict=True)
    return pa.table(
        {
            "underlying": list(u),
            "trade_date": pa.array(td, pa.date32()),
            "expiry": pa.array(ex, pa.date32()),
            "right": list(r),
            "open_interest": pa.array(oi, pa.int64()),
        }
    )


def test_class_share_keys_are_sorted_and_stable() -> None:
    term = term_structure(_chain())
    first = term_signals(term)
    for _ in range(25):
        assert term_signals(term).equals(first)
    for row in first.to_pylist():
        keys = [k for k, _ in row["class_share"]]
        assert keys == sorted(keys) and len(keys) > 1


def test_event_builds_sorted_by_underlying_date_kind() -> None:
    changes = pa.table(
        {
            "underlying": ["AAA"] * 4,
            "expiry": pa.array([D + dt.timedelta(days=d) for d in (10, 10, 40, 40)], pa.date32()),
            "right": ["C", "P", "C", "P"],
            "trade_date": pa.array([D] * 4, pa.date32()),
            "si": pa.array([0] * 4, pa.int64()),
            "oi_change": pa.array([50, 20, 5, 5], pa.int64()),
        }
    )
    ev_date = D + dt.timedelta(days=3)
    events = pa.table(
        {
            "date": pa.array([ev_date] * 3, pa.date32()),
            "ticker": ["AAA", "*", "AAA"],
            "kind": ["earnings", "fomc", "cpi"],
        }
    )
    first = event_oi_build(changes, events)
    assert first.column("kind").to_pylist() == ["cpi", "earnings", "fomc"]
    for _ in range(25):
        assert event_oi_build(changes, events).equals(first)
