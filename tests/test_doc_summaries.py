"""The ``docs`` part's ``summary`` column: the documents pruned to the daily report's keys,
stored beside them, so that a market-wide read of those keys parses ~57 MB of JSON instead of
~700 MB at 5,000 underlyings. The reference is the extraction from the whole documents
(DuckDB's ``json_extract``, the path ``read_doc_fields`` takes without summaries)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from chainlens.report._shared import DAILY_FIELDS
from chainlens.results import SUMMARY_FIELDS, prune_doc, summary_covers, with_summaries
from chainlens.store import Store


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    from test_pipeline_fixtures import build_small_demo_store

    return build_small_demo_store(tmp_path_factory.mktemp("summaries"))


def _extracted(st: Store, d: dt.date, fields, whole=()):  # type: ignore[no-untyped-def]
    """read_doc_fields without summaries: the paths extracted from the whole documents."""
    orig = Store._doc_fields_from_summaries
    Store._doc_fields_from_summaries = lambda *a, **k: None  # type: ignore[method-assign]
    try:
        return st.read_doc_fields(d, fields, whole=whole)
    finally:
        Store._doc_fields_from_summaries = orig  # type: ignore[method-assign]


def test_the_daily_report_keys_are_all_in_the_summaries() -> None:
    assert summary_covers(DAILY_FIELDS)
    assert set(DAILY_FIELDS) <= set(SUMMARY_FIELDS)


def test_summaries_give_what_the_documents_give(small) -> None:  # type: ignore[no-untyped-def]
    root, days = small
    with Store(root, read_only=True) as st:
        for d in days:
            names = st.underlyings(d)
            whole = names[:2]
            for fields in (DAILY_FIELDS, SUMMARY_FIELDS, ["flow.totals.total_usd", "underlying"],
                           ["oi.changes"]):  # fmt: skip
                got = st.read_doc_fields(d, fields, whole=whole)
                ref = _extracted(st, d, fields, whole=whole)
                assert json.dumps(got) == json.dumps(ref)  # key order too
            docs = st.read_docs(d)
            stored = st.read_results("pipeline", d, "docs")
            for doc, s in zip(docs, stored.column("summary").to_pylist(), strict=True):
                assert json.loads(s) == prune_doc(doc, SUMMARY_FIELDS)
            # a null value at a path is kept (the documents hold some: NOTR-like names)
            assert any(
                x.get("flow") is None or x.get("analysis", {}).get("darkpool_only") is None
                for x in st.read_doc_fields(d, ["flow", "analysis.darkpool_only"])
            )


def test_a_field_outside_the_summaries_reads_the_documents(small) -> None:  # type: ignore[no-untyped-def]
    root, days = small
    with Store(root, read_only=True) as st:
        got = st.read_doc_fields(days[-1], ["flow.top_strikes", "underlying"])
        assert got == _extracted(st, days[-1], ["flow.top_strikes", "underlying"])
        assert any("flow" in x and x["flow"].get("top_strikes") for x in got)


def test_a_docs_part_stored_without_summaries_still_reads(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A store written before the column existed: the fields come from the documents, and a
    run over some names (which merges the stored part) adds the summaries."""
    import shutil

    root, days = small
    dst = tmp_path / "store"
    shutil.copytree(root, dst)
    with Store(dst) as st:
        d = days[-1]
        before = st.read_doc_fields(d, DAILY_FIELDS)
        docs = st.read_results("pipeline", d, "docs").drop_columns(["summary"])
        # stores the old layout: pyarrow writes it, bypassing the declared schema
        (rel,) = st._results_files("pipeline", d, "docs")
        pq.write_table(docs, dst / rel)
        st.con.execute(
            "UPDATE results SET checksum = NULL WHERE file = ?", [rel]
        )  # the file changed on purpose
        assert "summary" not in pq.read_schema(dst / rel).names
        assert st.read_doc_fields(d, DAILY_FIELDS) == before
        made = with_summaries(docs).column("summary").to_pylist()
        assert [json.loads(s) for s in made] == [
            prune_doc(json.loads(s), SUMMARY_FIELDS) for s in docs.column("doc").to_pylist()
        ]
        # a run over one name merges the old part, with summaries made for the others
        from chainlens.oi import OIConfig
        from chainlens.pipeline import PipelineConfig
        from chainlens.runners.local import run_local

        cfg = PipelineConfig(oi=OIConfig(streak_min_sessions=2))  # the fixture's
        run_local(st, d, [st.underlyings(d)[0]], workers=1, config=cfg)
        stored = st.read_results("pipeline", d, "docs")
        assert stored.column("summary").null_count == 0
        assert st.read_doc_fields(d, DAILY_FIELDS) == before


def test_paused_gc_leaves_the_collector_as_it_was() -> None:
    """The document readers pause the cyclic collector while decoding and restore it: enabled
    stays enabled, disabled stays disabled, an error inside included."""
    import gc

    from chainlens._gc import paused_gc

    was = gc.isenabled()
    try:
        for start in (True, False):
            gc.enable() if start else gc.disable()
            with paused_gc():
                assert not gc.isenabled()
            assert gc.isenabled() is start
            with pytest.raises(ZeroDivisionError), paused_gc():
                1 / 0  # noqa: B018
            assert gc.isenabled() is start
    finally:
        gc.enable() if was else gc.disable()
