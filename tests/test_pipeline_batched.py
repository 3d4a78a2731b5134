"""The batched pipeline (OI step once per chunk) against the per-underlying kernel.

:func:`chainlens.pipeline.analyze_underlyings` must give, for every window, what
:func:`chainlens.pipeline.analyze_underlying` gives: every table and every JSON document. Two
fields are compared as sets because the per-underlying kernel itself orders them by a hash
group-by (two calls on the same window can differ): the class shares of ``oi.term_signals``
(a list in group order) and rows of ``oi.events`` that tie on (underlying, date).
:func:`chainlens.oi.analyze_oi_many` is compared table by table with ``analyze_oi``, class
shares included (both list them in key order).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from chainlens.errors import ChainlensError, InputError
from chainlens.oi import OIConfig, analyze_oi, analyze_oi_many
from chainlens.pipeline import (
    PipelineConfig,
    UnderlyingResult,
    UnderlyingWindow,
    analyze_underlying,
    analyze_underlyings,
)
from chainlens.runners._blocks import analyze_block, analyze_chunk
from chainlens.runners.local import iter_windows, read_docs, run_local
from chainlens.store import Store


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, list[UnderlyingWindow]]:
    from chainlens.sim import SimConfig, simulate_market

    tmp = tmp_path_factory.mktemp("batched")
    m = simulate_market(
        SimConfig(underlyings=12, sessions=5, seed=3, trades_per_underlying=300), tmp / "sim"
    )
    d = m.sessions[-1]
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        ws = list(iter_windows(st, d, st.underlyings(d), PipelineConfig()))
    assert len(ws) >= 10
    return tmp / "store", d, ws


#: Relative tolerance of float results: the batched premium decomposition sums each group in
#: row order (``np.bincount``), the per-underlying one with Polars' blocked float sum.
REL = 1e-12


def _same(a: Any, b: Any) -> bool:
    """Equality, NaN equal to NaN (``pa.Table.equals`` says NaN != NaN); floats to
    :data:`REL` relative, everything else (integers, strings, labels, dates) exactly."""
    if isinstance(a, float) and isinstance(b, float):
        return (
            a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= REL * max(abs(a), abs(b))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _tables_equal(a: pa.Table, b: pa.Table) -> bool:
    if a.equals(b):
        return True
    return a.schema.equals(b.schema) and _same(a.to_pylist(), b.to_pylist())


def _norm(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with the two hash-ordered parts put in a fixed order (see the module)."""
    doc = json.loads(json.dumps(doc, allow_nan=False))
    for r in doc["oi"]["term_signals"]:
        r["class_share"] = sorted(r["class_share"], key=lambda x: x["key"])
    doc["oi"]["events"] = sorted(doc["oi"]["events"], key=lambda r: (r["date"], r["kind"]))
    return doc


def _assert_same(one: UnderlyingResult, many: UnderlyingResult) -> None:
    assert one.underlying == many.underlying and one.session == many.session
    assert one.tables.keys() == many.tables.keys()
    for k in one.tables:
        assert _tables_equal(one.tables[k], many.tables[k]), (one.underlying, k)
    assert _same(_norm(one.doc), _norm(many.doc)), one.underlying


def test_batched_chunks_equal_per_underlying(market) -> None:  # type: ignore[no-untyped-def]
    _, _, ws = market
    cfg = PipelineConfig()
    one = [analyze_underlying(w, cfg) for w in ws]
    # a chunk of many, a chunk of one, and the rest
    chunks = [ws[:7], ws[7:8], ws[8:]]
    many = [r for c in chunks for r in analyze_underlyings(c, cfg)]
    assert len(many) == len(one)
    for a, b in zip(one, many, strict=True):
        assert isinstance(b, UnderlyingResult)
        _assert_same(a, b)
    assert any("rolls" in r.tables for r in one)  # the sim builds rolls and accumulation
    assert any(r.doc["oi"]["events"] for r in one)


def test_batched_oi_equals_analyze_oi(market) -> None:  # type: ignore[no-untyped-def]
    _, d, ws = market
    cfg = OIConfig()
    got = analyze_oi_many([w.history for w in ws], d, events=[w.events for w in ws], config=cfg)
    for w, r in zip(ws, got, strict=True):
        ref = analyze_oi(w.history, d, events=w.events, config=cfg)
        for f in dataclasses.fields(ref):
            x, y = getattr(ref, f.name), getattr(r, f.name)
            if f.name == "events":
                x, y = (
                    x.sort_by([("date", "ascending"), ("kind", "ascending")]),
                    y.sort_by([("date", "ascending"), ("kind", "ascending")]),
                )
            if isinstance(x, pa.Table):
                assert _tables_equal(x, y), (w.underlying, f.name)
            else:
                assert x == y, (w.underlying, f.name)
    # one history: the same as analyze_oi
    (solo,) = analyze_oi_many([ws[0].history], d, config=cfg)
    assert _tables_equal(solo.rolls, analyze_oi(ws[0].history, d, config=cfg).rolls)


def test_batched_oi_refuses_mixed_inputs(market) -> None:  # type: ignore[no-untyped-def]
    _, d, ws = market
    with pytest.raises(InputError):
        analyze_oi_many([ws[0].history, ws[0].history], d)  # the same underlying twice
    with pytest.raises(InputError):
        analyze_oi_many([pa.concat_tables([ws[0].history, ws[1].history])], d)


def test_a_bad_window_fails_alone(market) -> None:  # type: ignore[no-untyped-def]
    _, d, ws = market
    cfg = PipelineConfig()
    # no snapshot of the session: fails before the OI step
    stale = dataclasses.replace(
        ws[1], history=ws[1].history.filter(pa.compute.not_equal(ws[1].history["trade_date"], d))
    )
    # no ``root`` column: the chain analysis runs, the OI step refuses it, so the batched OI
    # call fails and the chunk falls back to one OI call per window
    rootless = dataclasses.replace(ws[3], history=ws[3].history.drop_columns(["root"]))
    for bad in (stale, rootless):
        with pytest.raises(ChainlensError):
            analyze_underlying(bad, cfg)
    chunk = [ws[0], stale, ws[2], rootless, ws[4]]
    got = analyze_underlyings(chunk, cfg)
    assert isinstance(got[1], InputError) and isinstance(got[3], InputError)
    for i in (0, 2, 4):
        r = got[i]
        assert isinstance(r, UnderlyingResult)
        _assert_same(analyze_underlying(chunk[i], cfg), r)
    msgs = analyze_chunk(chunk, cfg)  # the pool task: messages for the bad ones
    assert msgs[1] == f"{stale.underlying}: {got[1].message}"  # type: ignore[union-attr]
    assert isinstance(msgs[3], str) and msgs[3].startswith(f"{rootless.underlying}: ")
    # a block (one chunk per window here): the same messages, the good ones' documents
    out = analyze_block(chunk, cfg, chunk_rows=1, chunk_max=1)
    assert out.names == [w.underlying for w in chunk]
    assert out.failed == [None, msgs[1], None, msgs[3], None]
    assert [f["underlying"] for f in out.facts] == [chunk[i].underlying for i in (0, 2, 4)]
    assert out.parts["docs"].num_rows == 3


def test_run_local_stores_the_per_underlying_documents(market) -> None:  # type: ignore[no-untyped-def]
    root, d, ws = market
    cfg = PipelineConfig()
    with Store(root) as st:
        out = run_local(st, d, workers=1)
        docs = {doc["underlying"]: doc for doc in read_docs(st, d)}
    assert out["failed"] == [] and set(docs) == {w.underlying for w in ws}
    for w in ws:
        ref = json.loads(json.dumps(analyze_underlying(w, cfg).doc, allow_nan=False))
        assert _same(_norm(ref), _norm(docs[w.underlying])), w.underlying
