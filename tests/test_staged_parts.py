"""Pool workers write their blocks' per-underlying parts as Parquet files that the store
takes as the session's parts (one file per block, in block order): the stored results equal
those of a run where the parent writes every part itself, and a failed run leaves neither
files nor catalog rows behind."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from _tables import same_rows
from chainlens.runners import local
from chainlens.store import Store


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    from test_pipeline_fixtures import build_small_demo_store

    return build_small_demo_store(tmp_path_factory.mktemp("staged"))


def _parts(st: Store, d: dt.date) -> dict[str, object]:
    idx = st.results_index().to_pylist()
    return {
        r["part"]: st.read_results(r["name"], d, r["part"])
        for r in idx
        if r["session"] == d and r["name"] == "pipeline"
    }


def _files(st: Store, d: dt.date) -> dict[str, int]:
    rows = st.con.execute(
        "SELECT part, count(*) FROM results WHERE name = 'pipeline' AND session = ? GROUP BY 1",
        [d],
    ).fetchall()
    return {str(p): int(n) for p, n in rows}


def test_staged_parts_equal_the_parents_write(small, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chainlens.oi import OIConfig
    from chainlens.pipeline import PipelineConfig

    root, days = small
    cfg = PipelineConfig(oi=OIConfig(streak_min_sessions=2))  # the fixture's
    d = days[-1]
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(root, a)
    shutil.copytree(root, b)
    with Store(a) as st:
        monkeypatch.setattr(local, "STAGE_PARTS", False)
        ra = local.run_local(st, d, workers=2, config=cfg)
        pa_, fa = _parts(st, d), _files(st, d)
        da = st.read_docs(d)
        ia = st.results_index()
    with Store(b) as st:
        monkeypatch.setattr(local, "STAGE_PARTS", True)
        rb = local.run_local(st, d, workers=2, config=cfg)
        pb, fb = _parts(st, d), _files(st, d)
        db = st.read_docs(d)
        ib = st.results_index()
        assert not any((b / "tmp").iterdir())  # the staged files were taken
        # readers of one underlying and of some underlyings read across the files
        u = st.underlyings(d)[-1]
        assert st.read_results("pipeline", d, "docs", underlying=u).num_rows == 1
        assert same_rows(
            st.read_results_of("pipeline", d, "by_expiry", [u]),
            st.read_results("pipeline", d, "by_expiry", underlying=u),
        )
        assert st.read_docs_of(d, [u]) == st.read_docs(d, u)
    assert ra["parts"] == rb["parts"]
    assert set(pa_) == set(pb)
    for k in pa_:
        assert same_rows(pa_[k], pb[k]), k  # type: ignore[arg-type]
    assert da == db
    assert ia.equals(ib)  # rows per part, summed over its files
    assert all(n == 1 for n in fa.values())
    assert max(fb.values()) > 1  # several blocks: one file each


def test_a_failed_pooled_run_leaves_the_store_as_it_was(small, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chainlens.errors import StoreError

    root, days = small
    d = days[-1]
    dst = tmp_path / "store"
    shutil.copytree(root, dst)
    with Store(dst) as st:
        before, files_before = _parts(st, d), _files(st, d)

        def boom(*a: object, **k: object) -> None:
            raise StoreError("disk full (simulated)")

        monkeypatch.setattr(Store, "write_results", boom)
        with pytest.raises(StoreError, match="simulated"):
            local.run_local(st, d, workers=2)
        monkeypatch.undo()
        assert not any((dst / "tmp").iterdir())
        after = _parts(st, d)
        assert _files(st, d) == files_before
        assert all(same_rows(before[k], after[k]) for k in before)  # type: ignore[arg-type]


def test_bad_staged_files_are_refused_and_the_store_is_unchanged(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each bad ``files=`` input gets an error naming what is wrong, and the session's stored
    parts stay as they were: a part given twice, a file whose rows are not those counted, a
    file that does not hold the part's declared schema, a part name that is not a name."""
    import pyarrow as pa

    from chainlens.errors import ChainlensError, InputError, StoreError
    from chainlens.results import ResultSchemaError
    from chainlens.store import StagedFile, stage_results_file

    root, days = small
    d = days[-1]
    dst = tmp_path / "store"
    shutil.copytree(root, dst)
    with Store(dst) as st:
        before, files_before = _parts(st, d), _files(st, d)
        by_expiry = before["by_expiry"]
        market = st.read_market(d)

        def staged(t: pa.Table, stem: str) -> StagedFile:
            return stage_results_file(t, st.stage_dir(), stem)  # type: ignore[arg-type]

        good = staged(by_expiry, "by_expiry-00000")  # type: ignore[arg-type]
        with pytest.raises(InputError, match="given both as a table and as files"):
            st.write_results("pipeline", d, {"by_expiry": by_expiry}, files={"by_expiry": [good]})  # type: ignore[dict-item]
        miscounted = StagedFile(good.path, good.rows + 1, good.checksum)
        with pytest.raises(StoreError, match=r"holds \d+ rows, not \d+"):
            st.write_results("pipeline", d, {}, files={"by_expiry": [miscounted]})
        wrong = staged(pa.table({"underlying": ["AAA"], "x": [1.0]}), "by_expiry-00001")
        with pytest.raises(ResultSchemaError, match="does not hold the declared schema"):
            st.write_session_results(d, {}, market, files={"by_expiry": [wrong]})
        with pytest.raises(ChainlensError):
            st.write_results("pipeline", d, {}, files={"../escape": [good]})
        assert _files(st, d) == files_before
        after = _parts(st, d)
        assert set(after) == set(before)
        assert all(same_rows(before[k], after[k]) for k in before)  # type: ignore[arg-type]
