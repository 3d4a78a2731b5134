"""``chainlens serve``: the JSON/CSV API and the pages over a real simulated store (TestClient).

Expected numbers come from the store itself read through other public paths (the stored
pipeline documents, the raw chain summed by hand), never from the server's earlier output.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from _serve_store import EVIL, serve_store

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from chainlens.runners.local import read_docs  # noqa: E402
from chainlens.serve import CSP, create_app  # noqa: E402
from chainlens.store import Store  # noqa: E402

PAGES = [
    "/", "/?sort=gex_usd_per_1pct&desc=true", "/?q=sp", "/?label=bearish", "/ticker/SPY",
    "/ticker/SPY?dte_max=7", "/ticker/SPY?model=short_all", "/levels/SPY", "/flow",
    "/flow?side=buy&min_premium=100000&moneyness=otm&multileg=exclude", "/scan/accumulation",
    "/scan/rolls", "/status", "/report/daily", "/report/SPY?lens=flow", "/report/SPY?lens=bias",
]  # fmt: skip


@pytest.fixture(scope="session")
def store_root() -> Path:
    return serve_store()


@pytest.fixture(scope="module")
def client(store_root: Path) -> TestClient:
    return TestClient(create_app(store_root), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def latest(store_root: Path) -> dt.date:
    with Store(store_root, read_only=True) as st:
        return max(st.session_dates())


def test_every_page_renders_with_strict_csp(client: TestClient) -> None:
    for url in PAGES:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert csp == CSP and "unsafe-eval" not in csp and "script-src 'self'" in csp
        assert "<script>" not in r.text  # no inline script: only src= and JSON data blocks
        assert "cdn" not in r.text.lower()


def test_overview_api_matches_the_stored_documents(
    client: TestClient, store_root: Path, latest: dt.date
) -> None:
    with Store(store_root, read_only=True) as st:
        docs = {d["underlying"]: d for d in read_docs(st, latest)}
    body = client.get("/api/v1/overview").json()
    rows = {r["underlying"]: r for r in body["table"]["rows"]}
    assert set(rows) == set(docs)
    for u, d in docs.items():
        a = d["analysis"]
        assert rows[u]["spot"] == a["spot"]
        assert rows[u]["call_wall"] == a["levels"]["call_wall"]
        assert rows[u]["gex_usd_per_1pct"] == a["totals"]["gex_usd_per_1pct"]
        assert rows[u]["max_pain"] == a["max_pain_trend"][0]["max_pain"]
        if d["flow"]:
            assert rows[u]["net_premium_usd"] == d["flow"]["totals"]["net_usd"]
    srt = client.get("/api/v1/overview?sort=spot&desc=true").json()["table"]["rows"]
    spots = [r["spot"] for r in srt]
    assert spots == sorted(spots, reverse=True)
    only = client.get("/api/v1/overview?q=sp").json()["table"]["rows"]
    assert {r["underlying"] for r in only} == {u for u in docs if "SP" in u}


def test_expiry_filter_restricts_every_panel(
    client: TestClient, store_root: Path, latest: dt.date
) -> None:
    full = client.get("/api/v1/ticker/SPY").json()
    assert full["summary"]["expiries"] == len(full["expiries"]) > 3
    e = full["expiries"][1]
    one = client.get(f"/api/v1/ticker/SPY?expiry={e}").json()
    # reference: the raw stored chain, summed by hand over that expiry
    with Store(store_root, read_only=True) as st:
        ch = st.chain("SPY", latest)
    ch = ch.filter(pc.equal(ch.column("expiry"), dt.date.fromisoformat(e)))
    calls = ch.filter(pc.equal(ch.column("right"), "C"))
    puts = ch.filter(pc.equal(ch.column("right"), "P"))
    assert one["summary"]["call_oi"] == pc.sum(calls.column("open_interest")).as_py()
    assert one["summary"]["put_oi"] == pc.sum(puts.column("open_interest")).as_py()
    assert one["summary"]["expiries"] == 1
    assert [r["expiry"] for r in one["tables"]["by_expiry"]["rows"]] == [e]
    assert [r["expiry"] for r in one["tables"]["expected_moves"]["rows"]] in ([e], [])
    assert (
        sum(r["call_oi"] for r in one["tables"]["by_strike"]["rows"]) == one["summary"]["call_oi"]
    )
    assert one["summary"]["gex_usd_per_1pct"] != full["summary"]["gex_usd_per_1pct"]
    oc = one["tables"]["oi_change"]["rows"]
    assert sum(abs(r["call_oi_change"]) for r in oc) <= sum(
        abs(r["call_oi_change"]) for r in full["tables"]["oi_change"]["rows"]
    )
    near = client.get("/api/v1/ticker/SPY?dte_max=0").json()
    assert all(x <= latest.isoformat() for x in near["filter"]["selected_expiries"])


def test_csv_export_of_every_table(client: TestClient) -> None:
    urls = {
        "/api/v1/overview?format=csv": "/api/v1/overview",
        "/api/v1/flow?format=csv&side=buy": "/api/v1/flow?side=buy",
        "/api/v1/levels/SPY?format=csv": "/api/v1/levels/SPY",
        "/api/v1/scan/rolls?format=csv": "/api/v1/scan/rolls",
        "/api/v1/status?format=csv&table=results": None,
    }
    for t in ("by_strike", "by_expiry", "expected_moves", "oi_change"):
        urls[f"/api/v1/ticker/SPY?format=csv&table={t}"] = None
    for url, json_url in urls.items():
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:200])
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows and all(len(x) == len(rows[0]) for x in rows)
        if json_url:
            table = client.get(json_url).json()["table"]
            assert rows[0] == [c["key"] for c in table["columns"]]
            assert len(rows) - 1 == len(table["rows"])


def test_flow_filters(client: TestClient) -> None:
    allp = client.get("/api/v1/flow").json()["table"]["rows"]
    assert allp
    buys = client.get("/api/v1/flow?side=buy&min_premium=50000").json()["table"]["rows"]
    assert all(r["side"] == "buy" and r["premium_usd"] >= 50000 for r in buys)
    otm = client.get("/api/v1/flow?moneyness=otm&right=C").json()["table"]["rows"]
    assert all(r["otm_pct"] > 0 and r["right"] == "C" for r in otm)
    ml = client.get("/api/v1/flow?multileg=exclude").json()["table"]["rows"]
    assert not any(r["multileg"] for r in ml)
    s = client.get("/api/v1/flow?sort=size&desc=false").json()["table"]["rows"]
    assert [r["size"] for r in s] == sorted(r["size"] for r in s)
    band = allp[0]["vol_oi_band"]
    if band:
        b = client.get(f"/api/v1/flow?vol_oi_band={band}").json()["table"]["rows"]
        assert b and all(r["vol_oi_band"] == band for r in b)


def test_levels_and_reports_chain(client: TestClient, store_root: Path) -> None:
    with Store(store_root, read_only=True) as st:
        days = [d.isoformat() for d in st.session_dates("SPY")]
    lv = client.get("/api/v1/levels/SPY").json()["table"]["rows"]
    assert [r["session"] for r in lv] == days  # every stored session, not only the run ones
    sessions = client.get("/api/v1/sessions").json()["sessions"]
    new = client.get(f"/api/v1/report/SPY?date={sessions[-1]}").json()
    assert new["links"].get("older_date") == sessions[-2]
    old = client.get(f"/api/v1/report/SPY?date={sessions[-2]}").json()
    assert old["links"].get("newer_date") == sessions[-1]
    daily = client.get("/api/v1/daily").json()
    assert daily["kind"] == "daily" and daily["sections"]


def _no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text


def test_bad_input_gives_clear_4xx(client: TestClient) -> None:
    cases = {
        "/api/v1/ticker/SPY?dte_max=-1": (422, "dte_max"),
        "/api/v1/ticker/SPY?expiry=notadate": (422, "expiry"),
        "/api/v1/ticker/SPY?model=evil": (422, "model"),
        "/api/v1/ticker/NOPE": (404, "NOPE"),
        "/api/v1/overview?date=2001-01-01": (404, "2001-01-01"),
        "/api/v1/overview?sort=drop%20table": (422, "sort"),
        "/api/v1/flow?vol_oi_band=huge": (422, "vol_oi_band"),
        "/api/v1/scan/bogus": (422, "kind"),
        "/api/v1/ticker/SPY?format=csv": (422, "table"),
    }
    for url, (code, word) in cases.items():
        r = client.get(url)
        assert r.status_code == code, (url, r.status_code, r.text)
        assert word in r.text, (url, r.text)
        _no_trace(r.text)
    page = client.get("/ticker/SPY?dte_max=abc")
    assert (
        page.status_code == 422
        and "dte_max" in page.text
        and "text/html" in page.headers["content-type"]
    )


def test_escaping_traversal_and_no_cdn_docs(client: TestClient) -> None:
    evil = "<script>alert(1)</script>"
    r = client.get("/", params={"q": evil})
    assert r.status_code == 422 or evil not in r.text  # too long for q (32) or escaped
    r = client.get("/", params={"q": "<b>x"})
    assert r.status_code == 200 and "<b>x" not in r.text and "&lt;b&gt;x" in r.text
    r = client.get("/ticker/%3Cscript%3Ealert(1)")
    assert r.status_code == 404 and "<script>alert" not in r.text
    assert "&lt;script&gt;alert(1)" in r.text  # the unknown ticker is named, as text
    for url in (
        "/static/..%2F_app.py", "/static/../_app.py", "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/ticker/..%2F..%2Fetc%2Fpasswd", "/levels/%2e%2e", "/static/app.js%00.py",
    ):  # fmt: skip
        r = client.get(url)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert "def create_app" not in r.text and "root:" not in r.text
    for url in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(url).status_code == 404
    spec = client.get("/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/v1/overview", "/api/v1/ticker/{ticker}", "/api/v1/flow", "/api/v1/levels/{ticker}",
            "/api/v1/scan/{kind}", "/api/v1/status", "/api/v1/daily", "/api/v1/sessions",
            "/api/v1/report/{ticker}"} <= paths  # fmt: skip
    assert all(p.startswith("/api/v1/") for p in paths)


def test_hostile_ticker_renders_as_text(client: TestClient) -> None:
    """A ticker named ``<script>…</script>`` in the stored data is shown, escaped, everywhere."""
    from urllib.parse import quote

    q = quote(EVIL, safe="")
    rows = client.get("/api/v1/overview").json()["table"]["rows"]
    assert EVIL in {r["underlying"] for r in rows}
    for url in ("/", f"/ticker/{q}", f"/ticker/{q}?dte_max=30", f"/levels/{q}",
                f"/report/{q}?lens=bias", f"/flow?ticker={q}", "/status"):  # fmt: skip
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        assert EVIL not in r.text and "<script>alert" not in r.text, url
    assert "&lt;script&gt;alert(" in client.get("/").text
    assert client.get(f"/api/v1/ticker/{q}").json()["ticker"] == EVIL
    assert client.get(f"/api/v1/levels/{q}").status_code == 200


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_serving_never_writes_the_store(store_root: Path) -> None:
    before = _digest(store_root)
    c = TestClient(create_app(store_root), raise_server_exceptions=False)
    for url in PAGES + ["/api/v1/status", "/api/v1/ticker/QQQ?dte_max=30"]:
        assert c.get(url).status_code == 200
    assert _digest(store_root) == before


def _values(schema: dict[str, Any]) -> Any:
    """A Hypothesis strategy for one OpenAPI parameter: valid values and junk."""
    from hypothesis import strategies as st

    junk = st.one_of(
        st.text(max_size=40),
        st.sampled_from(["-1", "1e309", "NaN", "../../x", "<script>", "", "0"]),
    )
    s = schema
    if "anyOf" in s:
        s = next((x for x in s["anyOf"] if x.get("type") != "null"), s["anyOf"][0])
    if "enum" in s:
        good: Any = st.sampled_from([str(x) for x in s["enum"]])
    elif s.get("type") == "integer":
        good = st.integers(-5, 5000).map(str)
    elif s.get("type") == "number":
        good = st.floats(allow_nan=True, allow_infinity=True).map(str)
    elif s.get("type") == "boolean":
        good = st.sampled_from(["true", "false", "1", "0"])
    elif s.get("format") == "date":
        good = st.dates(dt.date(2023, 1, 1), dt.date(2025, 1, 1)).map(dt.date.isoformat)
    else:
        good = st.sampled_from(["SPY", "QQQ", "SPX", "sp", "NOPE"])
    return st.one_of(good, junk)


@pytest.mark.slow
def test_api_fuzz_over_the_openapi_params_never_5xx(client: TestClient) -> None:
    """Every operation of the OpenAPI document, random (valid and invalid) values for every
    parameter: never a 5xx, always JSON, never a stack trace."""
    from urllib.parse import quote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    spec = client.get("/api/v1/openapi.json").json()

    def make_check(path: str, params: list[dict[str, Any]]) -> Any:
        strategies = {p["name"]: _values(p.get("schema", {})) for p in params}
        path_names = [p["name"] for p in params if p["in"] == "path"]
        query_names = [p["name"] for p in params if p["in"] == "query"]

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            pv=st.fixed_dictionaries({n: strategies[n] for n in path_names}),
            qv=st.fixed_dictionaries({}, optional={n: strategies[n] for n in query_names}),
        )
        def check(pv: dict[str, str], qv: dict[str, str]) -> None:
            url = path
            for k, v in pv.items():
                url = url.replace("{" + k + "}", quote(v, safe="") or "x")
            r = client.get(url, params=qv)
            assert r.status_code < 500, (url, qv, r.status_code, r.text[:300])
            _no_trace(r.text)
            if r.headers["content-type"].startswith("application/json"):
                json.loads(r.text)

        return check

    for path, ops in spec["paths"].items():
        make_check(path, ops["get"].get("parameters", []))()


def test_views_read_the_stored_parts(client: TestClient, store_root: Path, latest: dt.date) -> None:
    """Every scanner and the filtered / short_all ticker page read what ``chainlens run``
    stored (compared with the parts read straight from the store), and say so."""
    with Store(store_root, read_only=True) as st:
        parts = {
            p: st.read_results("pipeline", latest, p)
            for p in ("accumulation", "rolls", "scan_netdelta")
        }
        stored = set(st.results_index().column("part").to_pylist())
        by_exp = st.read_results("pipeline", latest, "by_expiry", underlying="SPY")
    for kind, part in (
        ("accumulation", parts["accumulation"]),
        ("rolls", parts["rolls"]),
        ("netdelta", parts["scan_netdelta"]),
    ):
        body = client.get(f"/api/v1/scan/{kind}").json()
        assert body["source"] == "stored"
        assert len(body["table"]["rows"]) == part.num_rows
        if "symbol" in part.column_names:
            got = sorted(r["symbol"] for r in body["table"]["rows"])
            assert got == sorted(part.column("symbol").to_pylist())
    unusual = client.get("/api/v1/scan/unusual").json()
    assert unusual["source"] == "stored"  # stored, or stored as "found none" (no part)
    assert "scan_unusual" in stored or unusual["table"]["rows"] == []
    full = client.get("/api/v1/ticker/SPY").json()
    assert full["source"]["analysis"] == "stored"
    e = full["expiries"][2]
    one = client.get(f"/api/v1/ticker/SPY?expiry={e}").json()
    assert one["source"] == {**one["source"], "analysis": "stored", "by_expiry": "stored"}
    (row,) = [r for r in by_exp.to_pylist() if r["expiry"].isoformat() == e]
    (got,) = one["tables"]["by_expiry"]["rows"]
    assert got["max_pain"] == row["max_pain"] and got["call_oi"] == row["call_oi"]
    assert got["straddle_mid"] == row["straddle_mid"]
    short = client.get("/api/v1/ticker/SPY?model=short_all").json()
    assert short["source"]["analysis"] == "stored" and short["source"]["by_expiry"] == "stored"
    page = client.get(f"/ticker/SPY?expiry={e}").text
    assert "Stored results of chainlens run for the selected expiries" in page


@pytest.mark.parametrize(
    "query", ["dte_max=7", "model=short_all", "expiry={e2}&model=short_all", "dte_max=30"]
)
def test_stored_filtered_page_equals_a_fresh_analysis(
    client: TestClient, store_root: Path, latest: dt.date, query: str
) -> None:
    """The page assembled from the stored parts equals ``analyze_chain`` re-run on the stored
    chain restricted to the selected expiries under the selected model (an independent path:
    the whole analysis, not the stored sums): totals, walls, zero gamma, by strike, profile."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from chainlens.analysis import AnalysisConfig, analyze_chain

    full = client.get("/api/v1/ticker/SPY").json()
    q = query.format(e2=full["expiries"][2])
    v = client.get(f"/api/v1/ticker/SPY?{q}").json()
    assert v["source"]["analysis"] == "stored"
    sel = [dt.date.fromisoformat(x) for x in v["filter"]["selected_expiries"]]
    with Store(store_root, read_only=True) as st:
        ch = st.chain("SPY", latest)
    keep = pc.is_in(ch.column("expiry"), value_set=pa.array(sel, pa.date32()))
    (ref,) = analyze_chain(ch.filter(keep), AnalysisConfig(dealer_model=v["filter"]["model"]))
    s = v["summary"]
    for k in ("gex_usd_per_1pct", "dex_shares", "vanna_usd_per_vol_pt", "charm_shares_per_day"):
        assert s[k] == pytest.approx(ref.totals[k], rel=1e-9, abs=1e-6), k
    for k in ("call_oi", "put_oi", "contracts"):
        assert s[k] == ref.totals[k], k
    for k in ("call_wall", "put_wall", "oi_call_wall", "oi_put_wall"):
        assert s[k] == ref.levels[k], k
    zg = ref.levels["zero_gamma"]
    assert (s["zero_gamma"] is None) == (zg != zg)
    if s["zero_gamma"] is not None:
        assert s["zero_gamma"] == pytest.approx(zg, rel=1e-9)
    rows = v["tables"]["by_strike"]["rows"]
    b = ref.by_strike.to_pylist()
    assert [r["strike"] for r in rows] == [r["strike"] for r in b]
    np.testing.assert_allclose(
        [r["gex_usd_per_1pct"] for r in rows], [r["gex_usd_per_1pct"] for r in b],
        rtol=1e-9, atol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        v["profile"]["gex_usd_per_1pct"]["all"], ref.profile["gex_usd_per_1pct"]["all"],
        rtol=1e-9, atol=1e-6,
    )  # fmt: skip


def test_filtered_surfaces_follow_the_expiry_filter(
    client: TestClient, store_root: Path, latest: dt.date
) -> None:
    """The DX/GX surfaces follow the expiry filter and the model. A surface point is a sum
    over contracts, so the surfaces of single-expiry pages add up to the surface of the page
    holding every selectable expiry (a property of the whole computation, run once per page),
    and with every expiry of the stored chain selected they equal the stored pipeline surface."""
    import numpy as np

    full = client.get("/api/v1/ticker/SPY").json()
    assert full["source"]["surfaces"] == "stored"
    every = client.get("/api/v1/ticker/SPY?dte_max=3650").json()
    sel = every["filter"]["selected_expiries"]
    assert every["source"]["surfaces"].startswith("computed from the stored chain")
    for key in ("dx_shares", "gx_shares_per_usd"):
        parts = [
            np.asarray(client.get(f"/api/v1/ticker/SPY?expiry={e}").json()["surfaces"][key])
            for e in sel
        ]
        total = np.asarray(every["surfaces"][key])
        np.testing.assert_allclose(np.sum(parts, axis=0), total, rtol=1e-9, atol=1e-6)
        with Store(store_root, read_only=True) as st:
            n_exp = len(set(st.chain("SPY", latest).column("expiry").to_pylist()))
        if n_exp == len(sel):  # every expiry of the chain selected: the stored surface
            np.testing.assert_allclose(total, full["surfaces"][key], rtol=1e-9, atol=1e-6)
    e = sel[len(sel) // 2]  # a later expiry: the nearest ones settle inside the surface's hours
    one = client.get(f"/api/v1/ticker/SPY?expiry={e}").json()
    short = client.get(f"/api/v1/ticker/SPY?expiry={e}&model=short_all").json()
    assert np.abs(one["surfaces"]["dx_shares"]).max() > 0
    assert one["surfaces"]["dx_shares"] != short["surfaces"]["dx_shares"]


def test_stored_scanners_equal_the_scan_command(
    client: TestClient, store_root: Path, latest: dt.date
) -> None:
    """The unusual and net-delta scanners of the dashboard (stored parts) list exactly the
    rows ``chainlens scan unusual|netdelta`` computes over the store (``store_scan``)."""
    from chainlens.scan import store_scan

    with Store(store_root, read_only=True) as st:
        ref = {k: store_scan(st, k, latest).to_pylist() for k in ("unusual", "netdelta")}
    for kind, rows in ref.items():
        body = client.get(f"/api/v1/scan/{kind}").json()
        assert body["source"] == "stored"
        got = body["table"]["rows"]
        key = ("underlying", "expiry") if kind == "netdelta" else ("underlying",)

        def k(r: dict, key: tuple[str, ...] = key) -> tuple[str, ...]:
            return tuple(str(r[c]) for c in key)

        assert sorted(map(k, got)) == sorted(map(k, rows)), kind
        by = {k(r): r for r in rows}
        for r in got:
            want = by[k(r)]
            for c in ("premium_multiple", "volume_multiple", "cum_delta_shares", "increase"):
                if c in r and want[c] is None:
                    assert r[c] is None, (kind, c)
                elif c in r:
                    assert r[c] == pytest.approx(want[c], rel=1e-12), (kind, c)
