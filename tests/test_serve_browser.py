"""``chainlens serve`` in headless Debian Chromium: click through every view, change the expiry
filter and watch every panel change, follow the report chain, and check that no request ever
leaves 127.0.0.1 and that the page raises no console error (a CSP violation would be one)."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from _serve_store import EVIL, serve_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: Screenshots of every view, to look at (``CHAINLENS_SERVE_SHOTS`` to choose the folder).
SHOTS = Path(
    os.environ.get("CHAINLENS_SERVE_SHOTS", Path(tempfile.gettempdir()) / "chainlens-serve-shots")
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    from chainlens.serve import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(serve_store(), warm=True), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(10)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (`make browser`)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = ctx.new_page()
        pg.errors = []  # type: ignore[attr-defined]
        pg.hosts = set()  # type: ignore[attr-defined]
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.on("request", lambda r: pg.hosts.add(urlparse(r.url).hostname))
        # a script smuggled in through a ticker name would open a dialog: record it
        pg.on("dialog", lambda d: (pg.errors.append(f"dialog: {d.message}"), d.dismiss()))
        try:
            yield pg
        finally:
            browser.close()


def _charts_drawn(pg: object) -> dict[str, int]:
    return pg.eval_on_selector_all(  # type: ignore[attr-defined, no-any-return]
        "div.chart",
        "els => Object.fromEntries(els.map(e => [e.id, e.querySelectorAll('.main-svg').length]))",
    )


def _shot(pg: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _panels(pg: object) -> dict[str, str]:
    """The text of every summary value and table, and every chart's data, keyed by panel."""
    return pg.evaluate(  # type: ignore[attr-defined, no-any-return]
        """() => {
        const out = {};
        document.querySelectorAll('#summary dd').forEach((e, i) => out['sum' + i] = e.textContent);
        document.querySelectorAll('table.data').forEach(e => out[e.id] = e.textContent);
        document.querySelectorAll('div.chart').forEach(e =>
            out[e.id] = JSON.stringify((e.data || []).map(t => [t.x, t.y, t.z])));
        return out; }"""
    )


def test_click_through_every_view(page: object, server: str) -> None:
    from playwright.sync_api import expect

    pg = page
    pg.goto(server + "/")  # type: ignore[attr-defined]
    assert pg.locator("#table-tickers tbody tr").count() == 7  # type: ignore[attr-defined]
    _shot(pg, "overview")
    # sort by a column header, filter by text (htmx partial; the URL keeps the state)
    pg.click("#table-tickers th a[data-sort='spot']")  # type: ignore[attr-defined]
    pg.wait_for_url("**sort=spot**")  # type: ignore[attr-defined]
    pg.fill("#q", "SP")  # type: ignore[attr-defined]
    expect(pg.locator("#table-tickers tbody tr")).to_have_count(2)  # type: ignore[attr-defined]
    assert "q=SP" in pg.url  # type: ignore[attr-defined]
    pg.click("a.ticker-link:text-is('SPY')")  # type: ignore[attr-defined]
    pg.wait_for_url("**/ticker/SPY")  # type: ignore[attr-defined]
    pg.locator("#chart-gex .main-svg").first.wait_for()  # type: ignore[attr-defined]
    drawn = _charts_drawn(pg)
    assert len(drawn) >= 14 and all(v > 0 for v in drawn.values()), drawn
    _shot(pg, "ticker")
    for name, sel in (("levels", "#link-levels"), ("flow", "#link-flow")):
        pg.click(sel)  # type: ignore[attr-defined]
        pg.wait_for_load_state()  # type: ignore[attr-defined]
        _shot(pg, name)
        pg.go_back()  # type: ignore[attr-defined]
    for nav, name in (("#nav-daily", "daily"), ("#nav-status", "status"), ("#nav-scan", "scan")):
        pg.click(nav)  # type: ignore[attr-defined]
        pg.wait_for_load_state()  # type: ignore[attr-defined]
        assert pg.locator("main h2").count() >= 1  # type: ignore[attr-defined]
        _shot(pg, name)
    pg.click("#scan-rolls")  # type: ignore[attr-defined]
    pg.wait_for_url("**/scan/rolls**")  # type: ignore[attr-defined]
    pg.click("#nav-flow")  # type: ignore[attr-defined]
    pg.select_option("#flow-side", "buy")  # type: ignore[attr-defined]
    pg.wait_for_url("**side=buy**")  # type: ignore[attr-defined]
    sides = pg.eval_on_selector_all(  # type: ignore[attr-defined]
        "#table-flow tbody tr td:nth-child(7)", "els => els.map(e => e.textContent.trim())"
    )
    assert sides and set(sides) == {"buy"}
    assert pg.errors == [], pg.errors  # type: ignore[attr-defined]
    assert pg.hosts == {"127.0.0.1"}, pg.hosts  # type: ignore[attr-defined]


def test_hostile_ticker_is_text(page: object, server: str) -> None:
    pg = page
    pg.goto(server + "/")  # type: ignore[attr-defined]
    pg.get_by_text(EVIL, exact=True).click()  # type: ignore[attr-defined]
    pg.wait_for_load_state()  # type: ignore[attr-defined]
    assert pg.text_content("#ticker-name") == EVIL  # type: ignore[attr-defined]
    pg.click("#link-levels")  # type: ignore[attr-defined]
    pg.wait_for_load_state()  # type: ignore[attr-defined]
    assert pg.text_content("#ticker-name") == EVIL  # type: ignore[attr-defined]
    _shot(pg, "hostile-ticker-levels")
    assert pg.errors == [], pg.errors  # type: ignore[attr-defined]
    assert pg.hosts == {"127.0.0.1"}, pg.hosts  # type: ignore[attr-defined]


def test_expiry_filter_changes_every_panel(page: object, server: str) -> None:
    pg = page
    pg.goto(server + "/ticker/SPY")  # type: ignore[attr-defined]
    pg.locator("#chart-gex .main-svg").first.wait_for()  # type: ignore[attr-defined]
    before = _panels(pg)
    options = pg.eval_on_selector_all("#expiry-select option", "els => els.map(e => e.value)")  # type: ignore[attr-defined]
    pick = options[2]
    pg.select_option("#expiry-select", pick)  # type: ignore[attr-defined]
    pg.wait_for_url(f"**expiry={pick}**")  # type: ignore[attr-defined]
    pg.locator("#chart-gex .main-svg").first.wait_for()  # type: ignore[attr-defined]
    after = _panels(pg)
    assert pg.eval_on_selector("#sum-expiries", "e => e.textContent") == "1"  # type: ignore[attr-defined]
    # every panel that depends on the expiries changed (the heatmap keeps the other sessions'
    # rows for the same strikes, so its data changes too)
    # (the dealer DX / GX surfaces included: they are computed for the selected expiries)
    same = [k for k in before if k in after and before[k] == after[k] and not k.startswith("sum")]
    assert same == [], f"panels unchanged by the expiry filter: {same}"
    note = pg.text_content("#source-note")  # type: ignore[attr-defined]
    assert note.startswith("Stored results of chainlens run for the selected expiries"), note
    assert before["sum4"] != after["sum4"]  # GEX
    _shot(pg, "ticker-expiry")
    # the state is in the URL: reloading it gives the same page
    url = pg.url  # type: ignore[attr-defined]
    pg.goto(url)  # type: ignore[attr-defined]
    assert pg.eval_on_selector("#expiry-select", "e => e.value") == pick  # type: ignore[attr-defined]
    # the DTE filter and the dealer model apply too
    filtered = _panels(pg)
    pg.select_option("#model-select", "short_all")  # type: ignore[attr-defined]
    pg.wait_for_url("**model=short_all**")  # type: ignore[attr-defined]
    pg.locator("#chart-gex .main-svg").first.wait_for()  # type: ignore[attr-defined]
    short = _panels(pg)
    # the model changes the exposures and the profile, not the OI, volume or max pain
    for k in ("chart-gex", "chart-dex", "chart-profile"):
        assert short[k] != filtered[k], k
    for k in ("chart-oi", "chart-volume", "chart-maxpain"):
        assert short[k] == filtered[k], k
    assert pg.eval_on_selector("#sum-expiries", "e => e.textContent") == "1"  # type: ignore[attr-defined]
    assert "short_all dealer model" in pg.text_content("#source-note")  # type: ignore[attr-defined]
    _shot(pg, "ticker-expiry-short_all")
    # the DTE filter (all expiries again, then at most 30 days)
    pg.select_option("#expiry-select", "")  # type: ignore[attr-defined]
    pg.wait_for_function("() => !/expiry=\\d/.test(location.search)")  # type: ignore[attr-defined]
    pg.select_option("#dte-select", "30")  # type: ignore[attr-defined]
    pg.wait_for_url("**dte_max=30**")  # type: ignore[attr-defined]
    pg.locator("#chart-gex .main-svg").first.wait_for()  # type: ignore[attr-defined]
    n = int(pg.eval_on_selector("#sum-expiries", "e => e.textContent"))  # type: ignore[attr-defined]
    assert 1 <= n < len(options) - 1
    assert pg.errors == [], pg.errors  # type: ignore[attr-defined]
    assert pg.hosts == {"127.0.0.1"}, pg.hosts  # type: ignore[attr-defined]


def test_report_chain_and_themes(page: object, server: str) -> None:
    pg = page
    pg.goto(server + "/ticker/SPY")  # type: ignore[attr-defined]
    pg.click("#link-report-flow")  # type: ignore[attr-defined]
    pg.wait_for_load_state()  # type: ignore[attr-defined]
    newer_title = pg.text_content("#report-title")  # type: ignore[attr-defined]
    pg.click("#report-older")  # type: ignore[attr-defined]
    pg.wait_for_load_state()  # type: ignore[attr-defined]
    older_title = pg.text_content("#report-title")  # type: ignore[attr-defined]
    assert older_title != newer_title
    assert pg.locator("#report-older").count() == 0  # type: ignore[attr-defined]
    pg.click("#report-newer")  # type: ignore[attr-defined]
    pg.wait_for_load_state()  # type: ignore[attr-defined]
    assert pg.text_content("#report-title") == newer_title  # type: ignore[attr-defined]
    _shot(pg, "report")
    pg.click("#theme-toggle")  # type: ignore[attr-defined]
    theme = pg.evaluate("document.documentElement.getAttribute('data-theme')")  # type: ignore[attr-defined]
    pg.goto(server + "/ticker/SPY")  # type: ignore[attr-defined]
    assert pg.evaluate("document.documentElement.getAttribute('data-theme')") == theme  # type: ignore[attr-defined]
    _shot(pg, f"ticker-{theme}")
    pg.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    pg.goto(server + "/")  # type: ignore[attr-defined]
    width = pg.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 400, f"page wider than a phone screen: {width}px"
    _shot(pg, "overview-phone")
    pg.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]
    assert pg.errors == [], pg.errors  # type: ignore[attr-defined]
    assert pg.hosts == {"127.0.0.1"}, pg.hosts  # type: ignore[attr-defined]


def test_stored_scanners_and_daily_context(page: object, server: str) -> None:
    """The unusual and net-delta scanners come from stored parts; the daily report and the
    overview show the market context (issue 19) and What Worked Yesterday (issue 16);
    screenshots of the changed pages in both themes at phone width."""
    import json
    import urllib.request

    pg = page
    for kind in ("netdelta", "unusual"):
        pg.goto(server + f"/scan/{kind}")  # type: ignore[attr-defined]
        assert pg.text_content("#scan-source").startswith("Source: stored")  # type: ignore[attr-defined, union-attr]
    pg.goto(server + "/scan/netdelta")  # type: ignore[attr-defined]
    rows = pg.locator("#table-scan_netdelta tbody tr").count()  # type: ignore[attr-defined]
    assert rows > 0
    # What Worked Yesterday is measured in the background: wait until the API has it
    for _ in range(120):  # bounded: at most ~60 s
        with urllib.request.urlopen(server + "/api/v1/daily") as r:
            if not json.loads(r.read())["pending"]:
                break
        time.sleep(0.5)
    pg.goto(server + "/report/daily")  # type: ignore[attr-defined]
    assert pg.locator("#sec-price_context").count() == 1  # type: ignore[attr-defined]
    assert pg.locator("#sec-what_worked_yesterday").count() == 1  # type: ignore[attr-defined]
    pg.goto(server + "/")  # type: ignore[attr-defined]
    assert pg.locator("#what-worked p").count() >= 1  # type: ignore[attr-defined]
    assert pg.locator("#what-worked-pending").count() == 0  # type: ignore[attr-defined]
    pg.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    try:
        for theme in ("dark", "light"):
            pg.evaluate(f"localStorage.setItem('chainlens-theme', '{theme}')")  # type: ignore[attr-defined]
            for name, url in (
                ("overview", "/"),
                ("daily", "/report/daily"),
                ("scan-netdelta", "/scan/netdelta"),
                ("ticker-dte7-short_all", "/ticker/SPY?dte_max=7&model=short_all"),
            ):
                pg.goto(server + url)  # type: ignore[attr-defined]
                pg.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
                got = pg.evaluate("document.documentElement.getAttribute('data-theme')")  # type: ignore[attr-defined]
                assert got == theme
                width = pg.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
                assert width <= 400, f"{url}: wider than a phone screen: {width}px"
                _shot(pg, f"phone-{theme}-{name}")
    finally:
        pg.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]
    assert pg.errors == [], pg.errors  # type: ignore[attr-defined]
    assert pg.hosts == {"127.0.0.1"}, pg.hosts  # type: ignore[attr-defined]
