"""The results contract (chainlens.results) on a demo-sized simulated market.

Every part the pipeline and the market rollup store must carry exactly its declared Arrow
schema (names, types, order and unit metadata); every stored per-underlying document must
conform to :class:`~chainlens.results.UnderlyingDoc` and the rollup to
:class:`~chainlens.results.MarketDoc`; mismatches are errors naming the part/column or the
key's full path. The runner boundary: :class:`LocalRunner` implements ``Runner`` and no
module outside ``store/`` reaches a private store attribute.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import chainlens
from chainlens import results as R
from chainlens.pipeline import UnderlyingResult
from chainlens.runners.base import Runner, RunSummary, result_parts
from chainlens.runners.local import LocalRunner, run_local
from chainlens.store import Store

DOCS_MD = Path(__file__).resolve().parents[1] / "docs" / "results.md"


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    """The small demo market, the last two sessions run (``build_small_demo_store``)."""
    from test_pipeline_fixtures import build_small_demo_store

    return build_small_demo_store(tmp_path_factory.mktemp("contract"))


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.date]:
    """The hand-built store: one underlying with trades, one without (``flow`` is null)."""
    from test_pipeline_fixtures import D2, build_tiny_store

    root = build_tiny_store(tmp_path_factory.mktemp("contract_tiny") / "store")
    with Store(root) as st:
        out = LocalRunner(workers=1).run(st, [D2])
    assert [s.underlyings for s in out] == [2]
    return root, D2


def _stored(root: Path) -> list[tuple[str, dt.date, str, pa.Table]]:
    with Store(root, read_only=True) as st:
        idx = st.results_index().to_pylist()
        return [
            (
                r["name"],
                r["session"],
                r["part"],
                st.read_results(r["name"], r["session"], r["part"]),
            )
            for r in idx
        ]


# --------------------------------------------------------------------------- tables


def test_every_stored_part_has_exactly_its_declared_schema(sim_store, tiny_store) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    for root in (sim_store[0], tiny_store[0]):
        for name, _, part, t in _stored(root):
            key = part if name == R.RESULTS_NAME else f"{name}.{part}"
            expected = R.schema_of(key)
            assert t.schema.equals(expected, check_metadata=True), (key, t.schema, expected)
            seen.add(key)
    # the demo market writes every declared part
    assert seen == set(R.PART_SCHEMAS) | {f"{R.MARKET_RESULTS}.{p}" for p in R.MARKET_SCHEMAS}


def test_every_declared_column_has_a_unit_and_is_documented() -> None:
    text = DOCS_MD.read_text(encoding="utf-8")
    for part, sch in {
        **R.PART_SCHEMAS,
        **{f"market.{k}": v for k, v in R.MARKET_SCHEMAS.items()},
    }.items():
        assert f"`{part}`" in text, f"docs/results.md does not document part {part}"
        section = text.split(f"`{part}`", 1)[1]
        for f in sch:
            assert f.metadata and f.metadata[b"unit"], (part, f.name)
            assert f"`{f.name}`" in section, f"docs/results.md: column {part}.{f.name} missing"


def test_conform_casts_compatible_types_and_fills_all_null_columns() -> None:
    t = pa.table(
        {
            "symbol": pa.array(["SPY240315C00500000"], pa.large_string()),
            "expiry": pa.array([dt.date(2024, 3, 15)], pa.date32()),
            "strike": pa.array([500], pa.int32()),
            "right": ["C"],
            "oi_change": pa.array([3], pa.int32()),
            "volume": pa.array([10], pa.int64()),
            "vol_oi": pa.nulls(1),
            "underlying": ["SPY"],
            "session": pa.array([dt.date(2024, 3, 15)], pa.date32()),
        }
    )
    out = R.conform("oi_changes", t)
    assert out.schema.equals(R.PART_SCHEMAS["oi_changes"], check_metadata=True)
    assert out.column("strike").to_pylist() == [500.0]
    assert out.column("vol_oi").to_pylist() == [None]


def test_conform_names_the_part_and_column_on_a_mismatch() -> None:
    ok = pa.table(
        {"underlying": ["SPY"], "session": [dt.date(2024, 3, 15)], "doc": ["{}"], "summary": ["{}"]}
    )
    with pytest.raises(R.ResultSchemaError, match=r"part 'docs': column 'doc' is missing") as e:
        R.conform("docs", ok.drop_columns(["doc"]))
    assert (e.value.part, e.value.column) == ("docs", "doc")
    with pytest.raises(R.ResultSchemaError, match=r"column 'extra' is not declared"):
        R.conform("docs", ok.append_column("extra", pa.array([1])))
    bad = ok.set_column(1, "session", pa.array(["not a date"]))
    with pytest.raises(R.ResultSchemaError, match=r"column 'session' of type string does not cast"):
        R.conform("docs", bad)
    with pytest.raises(R.ResultSchemaError, match=r"part 'nope' has no declared schema"):
        R.conform("nope", ok)


def test_result_parts_needs_no_promotion_and_names_the_underlying(sim_store) -> None:  # type: ignore[no-untyped-def]
    root, days = sim_store
    doc = {"doc_version": R.DOC_VERSION}
    bs = R.PART_SCHEMAS["by_strike"].empty_table()
    good = UnderlyingResult("AAA", days[-1], doc, {"by_strike": bs})  # type: ignore[arg-type]
    parts = result_parts([good])
    assert set(parts) == {"docs"}  # empty tables are not stored
    row = pa.table({f.name: pa.nulls(1, f.type) for f in R.PART_SCHEMAS["by_strike"]})
    bad = UnderlyingResult("BBB", days[-1], doc, {"by_strike": row.drop_columns(["dex_shares"])})  # type: ignore[arg-type]
    with pytest.raises(R.ResultSchemaError, match=r"BBB .*part 'by_strike': column 'dex_shares'"):
        result_parts([good, bad])


# --------------------------------------------------------------------------- documents


def test_every_stored_document_conforms_to_its_type(sim_store, tiny_store) -> None:  # type: ignore[no-untyped-def]
    n = 0
    for root, days in ((sim_store[0], sim_store[1]), (tiny_store[0], [tiny_store[1]])):
        with Store(root, read_only=True) as st:
            for d in days:
                for doc in st.read_docs(d):
                    assert R.doc_errors(doc) == [], doc["underlying"]
                    n += 1
                assert R.doc_errors(st.read_market(d), R.MarketDoc, "market") == []
    assert n >= 20
    with Store(tiny_store[0], read_only=True) as st:
        notr = st.read_docs(tiny_store[1], "NOTR")[0]
    assert notr["flow"] is None and "trades" in notr["missing"]


def test_the_checker_names_the_path_of_every_departure(sim_store) -> None:  # type: ignore[no-untyped-def]
    root, days = sim_store
    with Store(root, read_only=True) as st:
        doc: Any = copy.deepcopy(st.read_docs(days[-1])[0])
    doc["flow"]["totals"]["brand_new_key"] = 1.0
    doc["analysis"]["levels"]["call_wall"] = "high"
    del doc["oi"]["term"]
    doc["analysis"]["by_strike"][0]["call_oi"] = 1.5
    errs = R.doc_errors(doc)
    assert (
        "doc.flow.totals.brand_new_key: key not declared in FlowTotals (chainlens.results)" in errs
    )
    assert any(
        e.startswith("doc.analysis.levels.call_wall: expected float | None, got str") for e in errs
    )
    assert "doc.oi.term: required key missing (OiDoc)" in errs
    assert any(e.startswith("doc.analysis.by_strike[0].call_oi: expected int | None") for e in errs)
    with pytest.raises(R.ResultSchemaError, match="brand_new_key"):
        R.check_doc(doc)


# --------------------------------------------------------------------------- boundary


def test_local_runner_implements_the_runner_protocol(tiny_store) -> None:  # type: ignore[no-untyped-def]
    root, d = tiny_store
    runner = LocalRunner(workers=1)
    assert isinstance(runner, Runner) and runner.engine == "local"
    with Store(root) as st:
        (s,) = runner.run(st, [d], underlyings=["TST"])
        plain = run_local(st, d, ["TST"], workers=1)
    assert isinstance(s, RunSummary) and s.underlyings == 1
    pinned = {"session", "underlyings", "failed", "parts", "workers", "elapsed_s"}
    # run_local's dict: the pinned `chainlens run --json` keys, plus the added key
    assert set(plain) == pinned | {"kept_underlyings"}
    assert pinned <= set(s.to_json()) and s.parts == plain["parts"]


_PRIVATE_ON_STORE = re.compile(r"\b(store|st|self\._store)\.(_[a-z]\w*)")


def test_no_module_outside_the_store_reaches_a_private_store_attribute() -> None:
    """``store._dated_files``, ``st._store``... are the store's own business (the store and
    its tests may; every other module uses the public methods)."""
    root = Path(chainlens.__file__).parent
    bad = []
    for p in root.rglob("*.py"):
        if p.parent.name == "store":
            continue
        src = p.read_text(encoding="utf-8")
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "chainlens.store._"
            ):
                bad.append(f"{p.relative_to(root)}: from {node.module} import ...")
        bad += [
            f"{p.relative_to(root)}: {m.group(0)}"
            for m in _PRIVATE_ON_STORE.finditer(src)
            if not m.group(2).startswith("__")
        ]
    assert bad == []
