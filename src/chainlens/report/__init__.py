"""chainlens.report: the report model, lenses, narrative rules, charts and renderers.

* :func:`build_lens` ``(doc, lens="flow", links=None) -> Report`` — per-ticker lens
  (``flow``, ``bias``, ``premium``, ``earnings``) from a pipeline document.
* :func:`build_daily` ``(market, links=None) -> Report`` — the market-wide daily report (seed 003).
* :func:`render` ``(report, "json"|"md"|"html") -> str``; :func:`write_report`.
* :func:`chart_png`, :func:`chart_svg` — one chart spec, two outputs.
* :func:`chain_links`, :func:`write_index` — report chain and per-date index page.
* :func:`write_session_reports` — every report of a session from the store.

Report JSON (``render(report, "json")``, schema version :data:`REPORT_SCHEMA_VERSION`)::

    {"schema_version": "1", "kind": "ticker"|"daily", "title", "session", "lens", "ticker",
     "header": [sentence], "links": {"older", "older_date", "newer", "newer_date", "index"},
     "meta": {"missing": [...]},
     "figures": {key: {"key", "value", "unit", "fmt", "label", "display"}},
     "sections": [{"id", "title", "status": "ok"|"no_data",
                   "sentences": [{"text", "keys": [figure keys], "label"}],
                   "tables": [{"id", "title", "columns": [[key, label, unit]], "rows": [[display]],
                               "values": [[raw value]]}],
                   "charts": [{"id", "kind", "title", "x", "series", "markers", "y", "z", "rows",
                               "png"}]}]}

Every number a sentence states is the ``display`` of one of its ``keys``; values carry units
(``USD``, ``USD per 1% move``, ``shares``, ``contracts``, ``fraction``, ``1/yr (decimal)``...).
Flow-lens section ids follow seeds 000/001: ``flow_verdict``, ``flow_summary``,
``notable_prints``, ``institutional_positioning``, ``signal_vs_noise``, ``key_conclusions``;
the daily report follows seed 003: ``side_decomposition``, ``top_flow``, ``darkpool``,
``zones``, ``dealer_mechanics``, ``sector_flow``, ``convergence``, ``trade_structures`` and
``macro`` (only with user macro series).
"""

from __future__ import annotations

from chainlens.report._charts import chart_png, chart_svg
from chainlens.report._index import chain_links, report_name, write_index
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
from chainlens.report.daily import build_daily
from chainlens.report.lenses import LENSES, build_lens

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
