"""The Spark runner against the local runner, on Spark ``local[2]`` (docs/spark.md).

Differential: every stored results table of ``--engine spark`` equals the local runner's
(integer, text and date columns exactly; floats to 1e-12 relative, NaN equal to NaN), on the
demo market (seed 7) and on a 300-underlying simulated market, for a 3-session backfill and
for one session rerun on its own. Retry: a task killed mid-session is retried by Spark and
gives the same tables; a task killed on every attempt fails the job and leaves no results of
that session. One Spark session serves the whole module (UI off, 4 shuffle partitions,
``local[2,2]``: two cores, a failed task tried twice).

The ``oi.term_signals`` class shares and the ``oi.events`` rows that tie are compared as sets:
the kernel orders them by a hash group-by (see tests/test_pipeline_batched.py). So are OI
clusters (part ``clusters``, document ``oi.clusters``) with equal ``oi``: ``oi_clusters`` ranks
them ``ordinal`` after a hash group-by, so two strikes with the same OI swap places (and
ranks) from one run to the next of the same kernel; they are compared without ``rank``, in
(underlying, -oi, strike) order.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the Spark tests need the spark extra (pyspark)")
if shutil.which("java") is None:
    pytest.skip("the Spark tests need a Java runtime (make java)", allow_module_level=True)

from chainlens.errors import ChainlensError
from chainlens.runners.local import run_local
from chainlens.runners.spark import SparkOptions, run_spark, spark_session
from chainlens.store import Store

# PySpark 4.1 leaves the sockets of its result transfers (collect, toArrow) to the garbage
# collector: ResourceWarning "unclosed <socket.socket ...>" at random points (verified with a
# 4-underlying run: nine per run). They are PySpark's, not chainlens's.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("spark"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

RTOL = 1e-12


@pytest.fixture(scope="session")
def spark() -> Any:
    s = spark_session("local[2,2]", {"spark.sql.shuffle.partitions": "4"})
    yield s
    s.stop()


def _build(root: Path, tmp: Path, market: str) -> list[dt.date]:
    from chainlens.sim import SimConfig, build_demo_market, simulate_market

    if market == "demo":
        m = build_demo_market(tmp, seed=7)
    else:
        cfg = SimConfig(
            underlyings=300, sessions=4, seed=11, trades_per_underlying=40,
            prints_per_underlying=4, scenarios=False,
        )  # fmt: skip
        m = simulate_market(cfg, tmp)
    with Store(root) as st:
        st.ingest_many(m.all_paths())
        return st.session_dates()[-3:]


@pytest.fixture(scope="module", params=["demo", "sim300"])
def market(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``(local store, clean copy, last 3 sessions)``: the local runner's results of the 3
    sessions in the first store; the copy holds the same inputs and no results."""
    tmp = tmp_path_factory.mktemp(request.param)
    days = _build(tmp / "local", tmp / "sim", request.param)
    shutil.copytree(tmp / "local", tmp / "clean")
    with Store(tmp / "local") as st:
        for d in days:
            run_local(st, d, workers=1)
    return tmp / "local", tmp / "clean", days


def _close(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, float) and isinstance(b, float):
        if not (
            a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= RTOL * max(abs(a), abs(b))
        ):
            out.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
        else:
            for k in a:
                _close(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} != {len(b)} items")
        else:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                _close(x, y, f"{path}[{i}]", out)
    elif type(a) is not type(b) or a != b:  # ints, text, dates, flags: exactly
        out.append(f"{path}: {a!r} != {b!r}")


def _norm_clusters(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [{k: v for k, v in r.items() if k != "rank"} for r in rows]
    return sorted(rows, key=lambda r: (r.get("underlying") or "", -(r["oi"] or 0), r["strike"]))


def _norm_doc(doc: dict[str, Any]) -> dict[str, Any]:
    oi = doc.get("oi") or {}
    for r in oi.get("term_signals") or []:
        if isinstance(r.get("class_share"), list):
            r["class_share"] = sorted(r["class_share"], key=lambda x: json.dumps(x, sort_keys=True))
    if isinstance(oi.get("clusters"), list):
        oi["clusters"] = _norm_clusters(oi["clusters"])
    if isinstance(oi.get("events"), list):
        oi["events"] = sorted(oi["events"], key=lambda x: json.dumps(x, sort_keys=True))
    return doc


def assert_same_results(a_root: Path, b_root: Path, sessions: list[dt.date]) -> None:
    """Every results part of ``sessions`` in store ``b`` equals store ``a``'s (module doc)."""
    with Store(a_root, read_only=True) as a, Store(b_root, read_only=True) as b:
        ia = [r for r in a.results_index().to_pylist() if r["session"] in sessions]
        ib = [r for r in b.results_index().to_pylist() if r["session"] in sessions]
        assert ia == ib  # the same parts, with the same row counts
        assert {r["session"] for r in ia} == set(sessions)
        bad: list[str] = []
        for r in ia:
            ta = a.read_results(r["name"], r["session"], r["part"])
            tb = b.read_results(r["name"], r["session"], r["part"])
            assert ta.schema.equals(tb.schema), (r, ta.schema, tb.schema)
            la, lb = ta.to_pylist(), tb.to_pylist()
            if r["part"] == "clusters":
                la, lb = _norm_clusters(la), _norm_clusters(lb)
            if "doc" in ta.column_names:
                la = [_norm_doc(json.loads(x["doc"])) | {"_row": x} for x in la]
                lb = [_norm_doc(json.loads(x["doc"])) | {"_row": x} for x in lb]
                for x in (*la, *lb):
                    x["_row"] = {k: v for k, v in x["_row"].items() if k != "doc"}
            _close(la, lb, f"{r['name']}/{r['part']}/{r['session']}", bad)
        assert not bad, bad[:10]


def test_backfill_then_one_session_equal_the_local_runner(
    market: Any, spark: Any, tmp_path: Path
) -> None:
    local, clean, days = market
    s = tmp_path / "spark"
    shutil.copytree(clean, s)
    with Store(s) as st:
        got = run_spark(st, days, spark=spark)  # a 3-session backfill: one Spark job
    assert [g["session"] for g in got] == [d.isoformat() for d in days]
    assert all(g["engine"] == "spark" and not g["failed"] for g in got)
    assert all(g["groups"] >= 2 for g in got)  # spread over both cores
    assert_same_results(local, s, days)
    with Store(s) as st:  # one session on its own (a rerun: replaced by equal tables)
        one = run_spark(st, [days[-1]], spark=spark)
    assert one[0]["parts"] == got[-1]["parts"]
    assert_same_results(local, s, days)
    with Store(s) as st:  # a rerun over two names keeps every other name's results
        names = st.underlyings(days[-1])
        some = run_spark(st, [days[-1]], [names[-1], names[0]], spark=spark)
    assert some[0]["underlyings"] == 2 and some[0]["kept_underlyings"] == len(names) - 2
    assert some[0]["parts"] == got[-1]["parts"]
    assert_same_results(local, s, days)


def test_a_killed_task_is_retried_and_an_outsized_group_runs_alone(
    market: Any, spark: Any, tmp_path: Path
) -> None:
    local, clean, days = market
    if local.parent.name.startswith("sim300"):
        pytest.skip("once is enough: the demo market")
    s = tmp_path / "spark"
    shutil.copytree(clean, s)
    # max_group_rows below the largest names: those are outsized groups, run alone, listed
    opts = SparkOptions(max_group_rows=20_000, fault="kill_once")
    with Store(s) as st:
        got = run_spark(st, [days[-1]], spark=spark, options=opts)
    outsized = got[0]["outsized"]
    assert outsized and all(o["rows"] > 20_000 for o in outsized)
    assert_same_results(local, s, [days[-1]])


def test_a_task_killed_on_every_attempt_leaves_no_session(market: Any, spark: Any) -> None:
    local, clean, days = market
    if local.parent.name.startswith("sim300"):
        pytest.skip("once is enough: the demo market")
    with Store(clean) as st:
        with pytest.raises(ChainlensError, match="no session of it was written"):
            run_spark(st, days[:2], spark=spark, options=SparkOptions(fault="kill_always"))
        idx = st.results_index()
    assert idx.num_rows == 0  # neither session of the failed job was written


def test_cli_engine_spark_and_the_reports(market: Any, spark: Any, tmp_path: Path) -> None:
    from chainlens.cli import app
    from chainlens.cli._common import run_guarded

    local, clean, days = market
    if local.parent.name.startswith("sim300"):
        pytest.skip("once is enough: the demo market")
    s = tmp_path / "spark"
    shutil.copytree(clean, s)
    d = days[-1].isoformat()
    argv = ["run", "--engine", "spark", "--date", d, "--store", str(s), "--json"]
    assert run_guarded(app, argv) == 0
    with Store(s, read_only=True) as st:
        assert st.results_index().num_rows > 0
    out = tmp_path / "daily.md"
    assert run_guarded(app, ["daily", "--date", d, "--store", str(s), "--out", str(out)]) == 0
    assert "SPX" in out.read_text()
    rep = tmp_path / "spy.json"
    argv = ["report", "SPY", "--date", d, "--store", str(s), "--format", "json", "--out", str(rep)]
    assert run_guarded(app, argv) == 0
    assert json.loads(rep.read_text())["ticker"] == "SPY"
    # mistakes: a dataset that does not exist, an empty one, a range with no session
    bad = ["run", "--engine", "spark", "--date", d, "--store", str(s)]
    assert run_guarded(app, [*bad, "--dataset", str(tmp_path / "nope")]) == 2
    (tmp_path / "empty").mkdir()
    assert run_guarded(app, [*bad, "--dataset", str(tmp_path / "empty")]) == 2
    argv = ["run", "--engine", "spark", "--from", "1999-01-01", "--to", "1999-02-01"]
    assert run_guarded(app, [*argv, "--store", str(s)]) == 2
