"""``Store.write_results`` stores every part sorted by ``underlying`` (stable), whether or not
it came sorted: an already ascending part is written as it is, any other one is sorted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from chainlens.store import Store
from chainlens.store._stage import _ascending

D = dt.date(2024, 3, 8)


def test_ascending_check() -> None:
    assert _ascending(pa.chunked_array([["A", "A"], ["B", "C"]]))
    assert not _ascending(pa.chunked_array([["A", "C"], ["B"]]))
    assert not _ascending(pa.array(["A", None, "B"]))
    assert _ascending(pa.array([], pa.string())) and _ascending(pa.array(["Z"]))


def test_parts_stored_in_stable_underlying_order(tmp_path: Path) -> None:
    sorted_t = pa.table({"underlying": ["A", "A", "B", "C"], "x": [3, 1, 2, 0]})
    shuffled = pa.table({"underlying": ["C", "A", "B", "A"], "x": [0, 3, 2, 1]})
    with Store(tmp_path / "store") as st:
        st.write_results("t", D, {"s": sorted_t, "u": shuffled})
        got_s = st.read_results("t", D, "s")
        got_u = st.read_results("t", D, "u")
    assert got_s.equals(sorted_t)
    want = shuffled.take(pc.sort_indices(shuffled, sort_keys=[("underlying", "ascending")]))
    assert got_u.equals(want)
    assert got_u.column("x").to_pylist() == [3, 1, 2, 0]
