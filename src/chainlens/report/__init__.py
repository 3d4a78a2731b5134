"""chainlens.report: the report model, lenses, narrative rules, charts and renderers.

* :func:`build_lens` ``(doc, lens="flow", links=None) -> Report`` — per-ticker lens
  (``flow``, ``bias``, ``premium``, ``earnings``) from a pipeline document.
* :func:`build_daily` ``(market, links=None) -> Report`` — the market-wide daily report (seed 003).
* :func:`render` ``(report, "json"|"md"|"html") -> str``; :func:`write_report`.
* :func:`chart_png`, :func:`chart_svg` — one chart spec, two outputs.
* :func:`chain_links`, :func:`write_index` — report chain and per-date index page.
* :func:`write_session_reports` — every report of a session from the store.
"""

from __future__ import annotations

from chainlens.report._charts import chart_png, chart_svg
from chainlens.report._index import chain_links, report_name, write_index
from chainlens.report._lenses import LENSES, build_daily, build_lens
from chainlens.report._model import (
    REPORT_SCHEMA_VERSION,
    Chart,
    Figure,
    FigureBook,
    Report,
    Section,
    Sentence,
    Table,
    fmt_value,
)
from chainlens.report._render import FORMATS, render, write_report
from chainlens.report._session import write_session_reports

__all__ = [
    "FORMATS",
    "LENSES",
    "REPORT_SCHEMA_VERSION",
    "Chart",
    "Figure",
    "FigureBook",
    "Report",
    "Section",
    "Sentence",
    "Table",
    "build_daily",
    "build_lens",
    "chain_links",
    "chart_png",
    "chart_svg",
    "fmt_value",
    "render",
    "report_name",
    "write_index",
    "write_report",
    "write_session_reports",
]
