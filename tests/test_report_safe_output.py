"""Safe output (issue 18, item 11): report file names and links from hostile tickers, HTML
autoescaping, inert Markdown, and CSV cells that a spreadsheet never runs as formulas.

Each test reproduces an original input: ``../../X`` wrote outside the output folder; the
ticker ``JAVASCRIPT:%61%6C%65%72%74(1)`` became a link in ``index.html`` that ran script when
clicked; Markdown reports carried ``<IMG SRC=X ONERROR=…>`` raw; the rejects CSV kept
``=cmd|…`` cells."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from chainlens._safe import (
    csv_cell,
    csv_safe_array,
    csv_safe_table,
    filename_text,
    md_escape,
    safe_filename,
    safe_href,
)
from chainlens.report import build_lens, chain_links, render, report_name, write_report
from chainlens.report._index import write_index, write_root_index
from chainlens.report._model import Chart, Report, Section, Sentence, Table
from chainlens.report._render import _env
from chainlens.runners.local import read_docs, run_local
from chainlens.store import Store
from test_pipeline_fixtures import D1, D2, build_tiny_store

JS = "JAVASCRIPT:%61%6C%65%72%74(1)"
IMG = "<IMG SRC=X ONERROR=alert(1)>"
HOSTILE = [
    "../../X",
    "..",
    ".",
    "../",
    "/etc/passwd",
    "a\\..\\..\\b",
    JS,
    "javascript:alert(1)",
    IMG,
    "CON",
    "",
    "~7E",
    "x" * 300,
    "BRK-B",
    "ÆØÅ 日本",
    "a\nb\x00c",
]


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    root = build_tiny_store(tmp_path_factory.mktemp("safe") / "store")
    with Store(root) as st:
        run_local(st, D2)
        d = {x["underlying"]: x for x in read_docs(st, D2)}["TST"]
    return json.loads(json.dumps(d))


def _with_ticker(doc: dict, t: str) -> dict:  # type: ignore[type-arg]
    d = json.loads(json.dumps(doc))
    d["underlying"] = t
    return d


# --------------------------------------------------------------------------- file names


def test_safe_filename_is_one_harmless_component() -> None:
    for t in HOSTILE:
        enc = safe_filename(t)
        assert enc and "/" not in enc and "\\" not in enc and ":" not in enc and "%" not in enc
        assert not enc.startswith(".") and "\x00" not in enc and "\n" not in enc
        assert enc not in (".", "..") and len(enc) <= 100
        assert set(enc) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._^~")
        if len(t) < 30:
            assert filename_text(enc) == t  # reversible: the index shows the real ticker
    assert safe_filename("SPX") == "SPX" and safe_filename("BRK.B") == "BRK.B"
    assert safe_filename("^VIX") == "^VIX"
    assert safe_filename("CON") == "~CON"  # Windows device name
    assert safe_filename("x" * 300) != safe_filename("x" * 299 + "y")  # the hash tells apart
    assert len({safe_filename(t) for t in HOSTILE}) == len(HOSTILE)  # no two collide


def test_dotdot_ticker_never_writes_outside_the_day_folder(doc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Original: ``../../X`` as an underlying wrote ``<reports>/../../X-flow.html``."""
    root = tmp_path / "out" / "reports"
    day = root / D2.isoformat()
    day.mkdir(parents=True)
    for t in HOSTILE:
        name = report_name(t, "flow")
        for fmt in ("html", "md", "json"):
            links = chain_links(D2, [D1, D2], name, fmt)
            r = build_lens(_with_ticker(doc, t), "flow", links=links)
            out = write_report(r, day / f"{name}.{fmt}", fmt, png=False)
            assert out.resolve().parent == day.resolve(), t
    write_index(day, D2, [D1, D2])
    write_root_index(root)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and day not in p.parents]
    assert [p.relative_to(tmp_path).as_posix() for p in outside] == ["out/reports/index.html"]
    # every report landed, one file per ticker and format
    assert len(list(day.glob("*-flow.html"))) == len(HOSTILE)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src")]


def _hrefs(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


def test_javascript_ticker_is_never_a_script_link(doc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Original: the ticker ``JAVASCRIPT:%61%6C%65%72%74(1)`` became ``<a href="JAVASCRIPT:…">``
    in ``index.html``; clicking it ran ``alert(1)``."""
    day = tmp_path / "reports" / D2.isoformat()
    day.mkdir(parents=True)
    for t in (JS, "javascript:alert(1)", "data:text/html,x", "//evil.example/x", "SPX"):
        name = report_name(t, "flow")
        for fmt in ("html", "md", "json"):
            r = build_lens(_with_ticker(doc, t), "flow", links=chain_links(D2, [D1, D2], name, fmt))
            write_report(r, day / f"{name}.{fmt}", fmt, png=False)
    html = write_index(day, D2, [D1, D2]).read_text()
    links = _hrefs(html)
    assert len(links.hrefs) >= 15
    for h in links.hrefs:
        u = urlparse(h)
        assert u.scheme == "" and u.netloc == "", h  # relative, never javascript: or //host
        target = (day / unquote(u.path)).resolve()
        assert day.parent.resolve() in target.parents, h  # inside the reports folder
        if target.parent == day.resolve():
            assert target.is_file(), h
    assert "JAVASCRIPT:%61%6C%65%72%74(1)" in html  # shown as text, in a table cell
    assert 'href="JAVASCRIPT' not in html.upper().replace("./", "")


def test_javascript_ticker_in_chromium(doc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same index opened in a real browser: every link resolves to a file: URL."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (`make browser`)")
    sync_api = pytest.importorskip("playwright.sync_api")
    day = tmp_path / "reports" / D2.isoformat()
    day.mkdir(parents=True)
    name = report_name(JS, "flow")
    write_report(build_lens(_with_ticker(doc, JS), "flow"), day / f"{name}.html", "html")
    index = write_index(day, D2, [D1, D2])
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args)
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(index.as_uri())
            protocols = page.eval_on_selector_all("a", "els => els.map(e => e.protocol)")
            assert protocols and set(protocols) == {"file:"}
            page.click("text=html")  # the link of the hostile ticker's report
            page.wait_for_load_state()
            assert page.url.startswith("file://") and page.url.endswith(".html")
            assert dialogs == []
        finally:
            browser.close()


def test_root_index_lists_only_session_folders(tmp_path: Path) -> None:
    for d in ("2024-03-05", "javascript:alert(1)", "x<y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "index.html").write_text("x")
    html = write_root_index(tmp_path).read_text()
    assert _hrefs(html).hrefs == ["2024-03-05/index.html"]


def test_chart_file_names_are_safe(doc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = build_lens(doc, "flow")
    r.sections[0].charts.append(Chart(id="../../evil", kind="hbar", title="t", x=["a"],
                                      series=[{"name": "s", "values": [1.0]}]))  # fmt: skip
    out = write_report(r, tmp_path / "d" / "TST-flow.md", "md", png=False)
    assert not (tmp_path / "evil.svg").exists()
    assert (tmp_path / "d" / "TST-flow_charts" / f"{safe_filename('../../evil')}.svg").is_file()
    assert "](TST-flow_charts/~2E.~2F..~2Fevil.svg)" in out.read_text()


# --------------------------------------------------------------------------- HTML


def test_html_autoescape_is_on() -> None:
    env = _env()
    for name in ("report.html.j2", "index.html.j2"):
        assert env.get_template(name).render  # exists
        assert env.autoescape(name) is True
    assert env.autoescape("report.md.j2") is False  # Markdown escapes with |md instead
    assert env.from_string("{{ x }}").render(x=IMG) == "&lt;IMG SRC=X ONERROR=alert(1)&gt;"


def test_html_report_escapes_hostile_values(doc) -> None:  # type: ignore[no-untyped-def]
    html = render(build_lens(_with_ticker(doc, IMG), "flow"), "html")
    assert IMG not in html and "&lt;IMG SRC=X ONERROR=alert(1)&gt;" in html
    assert "img" not in _hrefs(html).tags


# --------------------------------------------------------------------------- Markdown


def _hostile_report() -> Report:
    sec = Section(
        id="s",
        title=f"Section {IMG}",
        sentences=[Sentence(f"Net premium at {IMG} [x](javascript:alert(1))", label=IMG)],
        tables=[
            Table(
                id="t",
                title=IMG,
                columns=[("a", f"col {IMG}", "<u>"), ("b", "b|c", "")],
                rows=[[IMG, "a|b\nc"], ["[x](javascript:alert(1))", "![i](x.png)"]],
            )
        ],
        charts=[Chart(id="c", kind="hbar", title=IMG, png="c_charts/c.png")],
    )
    return Report(
        kind="ticker",
        title=f"{IMG} flow",
        session="2024-03-05",
        header=[Sentence(f"<script>alert(1)</script> {IMG}")],
        sections=[sec],
        links={"older": JS, "older_date": IMG, "newer": "javascript:alert(1)", "newer_date": IMG},
    )


def test_markdown_escapes_every_data_value() -> None:
    """Original: ``<IMG SRC=X ONERROR=…>`` in a ticker went raw into the Markdown report."""
    md = render(_hostile_report(), "md")
    assert "<IMG" not in md and "<script" not in md and "<u>" not in md
    assert md.count("&lt;IMG SRC=X ONERROR=alert(1)&gt;") >= 8
    assert not re.search(r"(?<!\\)\]\((?i:javascript):", md)  # only escaped \](…


def test_markdown_renders_inert() -> None:
    """Render the Markdown as a viewer that passes raw HTML (GitHub-like, html=True) would:
    no tag from the data, no image, no javascript: link."""
    markdown_it = pytest.importorskip("markdown_it")
    html = (
        markdown_it.MarkdownIt("commonmark", {"html": True})
        .enable("table")
        .render(render(_hostile_report(), "md"))
    )
    p = _hrefs(html)
    assert "script" not in p.tags and "u" not in p.tags
    assert [t for t in p.tags if t == "img"] == ["img"]  # only the chart's own image
    for h in p.hrefs:
        assert urlparse(h).scheme == "", h
    assert "ONERROR=alert(1)&gt;" in html  # shown as text


def test_markdown_keeps_figures_readable() -> None:
    assert md_escape("+$178.2M at $560 (-3.1%), P/C 1.29") == "+$178.2M at $560 (-3.1%), P/C 1.29"
    assert md_escape("a|b") == "a\\|b" and md_escape("x\r\ny") == "x y"


def test_safe_href_never_has_a_scheme() -> None:
    for u in (
        JS,
        "javascript:alert(1)",
        "data:x",
        "vbscript:x",
        "//evil/x",
        "../2024-03-05/X.html",
    ):
        assert urlparse(safe_href(u)).scheme == "" and urlparse(safe_href(u)).netloc == ""
    assert safe_href("../2024-03-05/SPX-flow.html") == "../2024-03-05/SPX-flow.html"


# --------------------------------------------------------------------------- CSV


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]


def test_csv_cell_neutralises_formula_leads() -> None:
    for v in FORMULAS:
        assert csv_cell(v) == "'" + v
    for v in ("SPX", "", "1.5", " =x", "a=b", None, -5, 3.2):
        assert csv_cell(v) == v


def test_csv_safe_table_round_trip() -> None:
    """The rejects CSV layout (path,row,column,value,reason) written with pyarrow and read back
    as a spreadsheet would: no cell starts with a formula lead."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    values = [*FORMULAS, "ok", None]
    t = pa.table(
        {
            "path": pa.array(['=HYPERLINK("x")'] + ["f.csv"] * (len(values) - 1)),
            "row": pa.array(range(len(values)), pa.int64()),
            "column": pa.array(["volume"] * len(values)),
            "value": pa.array(values),
            "reason": pa.array(["not a number"] * len(values)),
        }
    )
    safe = csv_safe_table(t)
    assert safe.schema == t.schema and safe.num_rows == t.num_rows
    buf = io.BytesIO()
    pacsv.write_csv(safe, buf)
    rows = list(csv.reader(io.StringIO(buf.getvalue().decode())))[1:]
    for r in rows:
        for cell in r:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), r
    assert rows[0][0] == '\'=HYPERLINK("x")' and rows[0][3] == "'=cmd|' /C calc'!A0"
    assert [r[1] for r in rows] == [str(i) for i in range(len(values))]  # numbers untouched
    chunked = csv_safe_array(pa.chunked_array([["=1"], ["ok", None]]))
    assert chunked.to_pylist() == ["'=1", "ok", None]
