"""Renderers: JSON, Markdown and self-contained HTML through Jinja2 (autoescaped HTML)."""

from __future__ import annotations

import json
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
    return env


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
