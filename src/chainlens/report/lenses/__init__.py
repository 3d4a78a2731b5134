"""Per-ticker lenses: ``flow``, ``bias``, ``premium``, ``earnings`` (one module each).

:func:`build_lens` turns a pipeline document (:func:`chainlens.pipeline.analyze_underlying`)
into a :class:`~chainlens.report.Report`. Figures are registered first; every sentence comes
from a rule of :mod:`chainlens.report.rules` and quotes registered figures only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chainlens.report._model import FigureBook, Report, Section
from chainlens.report.lenses.bias import bias_lens
from chainlens.report.lenses.earnings import earnings_lens
from chainlens.report.lenses.flow import flow_lens, header, rail
from chainlens.report.lenses.premium import premium_lens
from chainlens.report.rules import say

__all__ = ["LENSES", "build_lens"]

LENSES = ("flow", "bias", "premium", "earnings")

_BUILDERS: Mapping[str, Callable[[FigureBook, Mapping[str, Any]], list[Section]]] = {
    "flow": flow_lens,
    "bias": bias_lens,
    "premium": premium_lens,
    "earnings": earnings_lens,
}


def build_lens(
    doc: Mapping[str, Any], lens: str = "flow", *, links: Mapping[str, str | None] | None = None
) -> Report:
    """A per-ticker report from a pipeline document.

    Parameters
    ----------
    doc
        ``UnderlyingResult.doc``.
    lens
        ``flow``, ``bias``, ``premium`` or ``earnings``.
    links
        ``{"older": href, "older_date", "newer": href, "newer_date"}`` for the report chain
        (this ticker's own sessions).
    """
    from chainlens.errors import InputError

    if lens not in _BUILDERS:
        raise InputError(f"lens must be one of {', '.join(LENSES)}", column="--lens", value=lens)
    fb = FigureBook()
    head = header(fb, doc, lens)
    rl = rail(fb, doc)
    sections = _BUILDERS[lens](fb, doc)
    from chainlens.report.lenses.outcomes import add_reliability  # issue 16

    sections = add_reliability(fb, doc, lens, sections)
    lk = dict(links or {})
    t = doc["underlying"]
    if lk.get("newer"):
        head.append(
            say(fb, "header.newer", d=doc["session"], lens=lens, t=t, newer=lk.get("newer_date"))
        )
    elif lk.get("older"):
        head.append(say(fb, "header.latest", lens=lens, t=t, older=lk.get("older_date")))
    return Report(
        kind="ticker", title=f"{t} — {lens.capitalize()} report {doc['session']}",
        session=doc["session"], lens=lens, ticker=t, header=head,
        sections=sections, figures=fb.figures, links=lk,
        meta={"missing": doc.get("missing", []), "rail": rl},
    )  # fmt: skip
