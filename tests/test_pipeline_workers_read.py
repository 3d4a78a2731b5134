"""Pool workers that read their own chunk from the stored files give the documents and
result tables of workers handed their windows by the parent (the reference), exactly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from chainlens.pipeline import RESULTS_NAME, PipelineConfig
from chainlens.runners import local
from chainlens.runners.local import read_docs, run_local
from chainlens.store import Store


def _same(a: Any, b: Any) -> bool:
    """Exact equality, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _rows(t: pa.Table) -> list[dict[str, Any]]:
    return t.to_pylist()


@pytest.mark.slow
def test_workers_reading_their_chunk_match_parent_read_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainlens.sim import SimConfig, simulate_market

    m = simulate_market(
        SimConfig(underlyings=10, sessions=4, seed=5, trades_per_underlying=200), tmp_path / "sim"
    )
    d = m.sessions[-1]
    got: dict[bool, tuple[Any, dict[str, list[dict[str, Any]]]]] = {}
    with Store(tmp_path / "store") as st:
        st.ingest_many(m.all_paths())
        n_sessions = PipelineConfig().n_sessions
        assert local._bulk_plan(st, d, st.underlyings(d), n_sessions) is not None  # planned
        monkeypatch.setattr(local, "CHUNK_MAX", 3)  # several chunks per worker, some in flight
        for workers_read in (False, True):
            monkeypatch.setattr(local, "WORKERS_READ", workers_read)
            out = run_local(st, d, workers=2)
            assert out["workers"] == 2 and out["failed"] == []
            docs = {doc["underlying"]: doc for doc in read_docs(st, d)}
            parts = {
                name: _rows(st.read_results(RESULTS_NAME, d, part=name))
                for name in out["parts"]
                if name != "docs"
            }
            got[workers_read] = (docs, parts)
    assert len(got[True][0]) >= 8
    assert got[True][0].keys() == got[False][0].keys()
    assert _same(got[True][0], got[False][0])
    assert got[True][1].keys() == got[False][1].keys()
    for name in got[True][1]:
        assert _same(got[True][1][name], got[False][1][name]), name
