"""Open every HTML report in headless Chromium: no console errors, every chart rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlens.report import LENSES, write_session_reports
from chainlens.runners.local import run_local
from chainlens.store import Store
from test_pipeline_fixtures import D2, build_tiny_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def html_reports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = build_tiny_store(tmp_path_factory.mktemp("br") / "store")
    out = tmp_path_factory.mktemp("reports")
    with Store(root) as st:
        run_local(st, D2)
        files = write_session_reports(
            st, D2, out, lenses={"TST": LENSES, "NOTR": ("flow",)}, formats=("html",)
        )
    return [p for p in files if p.suffix == ".html"]


def test_every_html_report_renders_in_chromium(html_reports: list[Path]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (`make browser`)")
    sync_api = pytest.importorskip("playwright.sync_api")
    assert len(html_reports) >= 7
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on(
                "request",
                lambda r: requests.append(r.url) if not r.url.startswith("file:") else None,
            )
            charts = 0
            for f in html_reports:
                page.goto(f.as_uri())
                boxes = page.eval_on_selector_all(
                    "svg.chart",
                    "els => els.map(e => { const r = e.getBoundingClientRect();"
                    " return [r.width, r.height, e.querySelectorAll('rect,circle,polyline').length]; })",
                )
                for w, h, marks in boxes:
                    assert w > 0 and h > 0 and marks > 0, f"{f.name}: empty chart"
                charts += len(boxes)
                if f.name.startswith("TST-flow"):
                    assert len(boxes) >= 6
                    # the tooltip script runs: hovering a mark shows its text
                    page.hover("svg.chart .pt")
                    assert page.eval_on_selector("#tip", "e => e.style.display") == "block"
            assert errors == [], errors
            assert requests == [], f"network requests from an offline report: {requests}"
            assert charts > 10
        finally:
            browser.close()
