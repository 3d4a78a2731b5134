"""Real Cboe snapshots through ``run`` and ``report``: chains only, so the reports must say
which sections have no data (issue 6, "How it will be checked")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlens.report import build_daily, build_lens, render
from chainlens.report._narrative import MISSING
from chainlens.runners.local import read_docs, read_market, run_local
from chainlens.store import Store

pytestmark = pytest.mark.realdata


def test_cboe_qqq_run_and_reports(cboe_dir: Path, tmp_path: Path) -> None:
    files = sorted((cboe_dir / "QQQ").glob("QQQ_2023-05-1*ET__*.csv"))[:2]
    if len(files) < 2:
        pytest.skip("needs two QQQ Cboe snapshots")
    with Store(tmp_path / "store") as st:
        st.ingest_many(files)
        sessions = st.session_dates("QQQ")
        d = sessions[-1]
        out = run_local(st, d)
        assert out["failed"] == [] and out["underlyings"] >= 1
        doc = read_docs(st, d, "QQQ")[0]
        market = read_market(st, d)
    assert {"trades", "prints"} <= set(doc["missing"])
    r = build_lens(doc, "flow")
    assert r.section("notable_prints").status == "no_data"
    assert r.section("notable_prints").sentences[0].text == MISSING["trades"]
    # the chain alone fills Signal vs Noise (Vol/OI by strike, volume vs OI) and says what needs trades
    sn = r.section("signal_vs_noise")
    assert sn.status == "ok" and sn.tables and sn.tables[0].id == "vol_oi_by_strike"
    # figures that chains alone support are present and match the stored analysis
    assert r.figures["totals.pc_oi_ratio"].value == pytest.approx(
        doc["analysis"]["totals"]["pc_oi_ratio"]
    )
    assert r.figures["totals.gex"].value == pytest.approx(
        doc["analysis"]["totals"]["gex_usd_per_1pct"]
    )
    md = render(r, "md")
    assert "## Notable Prints (no data)" in md and MISSING["trades"] in md
    daily = build_daily(market)
    assert daily.section("side_decomposition").status == "no_data"
    assert daily.section("darkpool").status == "no_data"
    json.loads(render(daily, "json"))
