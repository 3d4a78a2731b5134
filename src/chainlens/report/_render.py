"""Renderers: JSON, Markdown and self-contained HTML through Jinja2 (autoescaped HTML)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from chainlens.report._charts import chart_png, chart_svg
from chainlens.report._model import Report

__all__ = ["FORMATS", "render", "write_report"]

FORMATS = ("json", "md", "html")


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from chainlens._safe import md_escape, safe_href

    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).with_name("templates"))),
        # HTML templates autoescape every value; Markdown templates escape each data value
        # with the ``md`` filter (HTML entities would show up as text in a Markdown viewer
        # that escapes them once more); every link goes through ``href`` (no scheme)
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "html.j2", "xml"), default_for_string=True
        ),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["href"] = safe_href
    env.filters["tbody"] = tbody_html
    return env


#: Cell and row separators of :func:`tbody_html` (control characters escaping leaves alone).
_CELL, _ROW = "\x00", "\x01"


def tbody_html(rows: Sequence[Sequence[Any]]) -> Any:
    """The ``<tr><td>…</td></tr>`` rows of an HTML table body, each cell escaped as the
    template's autoescape escapes ``{{ v }}`` (:func:`markupsafe.escape`).

    The daily report of 5,000 underlyings has 220,000 cells: they are escaped in one call
    over the joined text (the separators are control characters that escaping leaves as
    they are), cell by cell only when a cell is not a string or holds a separator.

    Examples
    --------
    >>> str(tbody_html([["a<b", "1"], ["x", "y&z"]]))
    '<tr><td>a&lt;b</td><td>1</td></tr><tr><td>x</td><td>y&amp;z</td></tr>'
    """
    from markupsafe import Markup, escape

    seps = sum(len(r) for r in rows) - 1
    try:
        flat = _ROW.join(_CELL.join(r) for r in rows)
    except TypeError:  # a cell that is not a string
        flat = None
    if flat is None or any(not r for r in rows) or flat.count(_CELL) + flat.count(_ROW) != seps:
        return Markup(
            "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in rows)
        )
    body = str(escape(flat)).replace(_CELL, "</td><td>").replace(_ROW, "</td></tr><tr><td>")
    return Markup(f"<tr><td>{body}</td></tr>")


def render(report: Report, fmt: str) -> str:
    """The report as ``json``, ``md`` or ``html`` text."""
    from chainlens.errors import InputError

    if fmt == "json":
        return json.dumps(report.to_json(), indent=1, allow_nan=False)
    if fmt == "md":
        return str(_env().get_template("report.md.j2").render(r=report))
    if fmt == "html":
        svgs = {c.id: chart_svg(c) for c in report.charts()}
        return str(_env().get_template("report.html.j2").render(r=report, svgs=svgs))
    raise InputError(f"format must be one of {', '.join(FORMATS)}", column="--format", value=fmt)


def write_report(report: Report, out: Path, fmt: str, *, png: bool = True) -> Path:
    """Write one format of ``report`` to ``out``.

    Markdown also writes its charts into ``<stem>_charts/``: PNG files (matplotlib) when ``png``,
    else the SVG files of the HTML charts (much faster; used by the demo for most tickers).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":  # charts beside the Markdown: PNG (matplotlib), or the SVG (fast)
        from chainlens._safe import safe_filename

        d = out.parent / (out.stem + "_charts")
        for c in report.charts():
            stem = safe_filename(c.id)  # chart ids may carry data (a ticker): one safe name
            if png:
                chart_png(c, d / f"{stem}.png")
                c.png = f"{d.name}/{stem}.png"
            else:
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{stem}.svg").write_text(str(chart_svg(c)), encoding="utf-8")
                c.png = f"{d.name}/{stem}.svg"
    out.write_text(render(report, fmt), encoding="utf-8")
    return out
