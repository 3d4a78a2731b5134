"""The report model: dataclasses that every renderer reads, serialised to versioned JSON.

Every figure carries its value, unit and display string; every sentence carries the keys of
the figures it states, so that nothing a renderer prints is absent from the model.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chainlens._jsonsafe import jsonable

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "Chart",
    "Figure",
    "FigureBook",
    "Report",
    "Section",
    "Sentence",
    "Table",
    "fmt_value",
]

#: Version of the report JSON document.
REPORT_SCHEMA_VERSION = "1"

Fmt = Literal[
    "money",
    "money_signed",
    "price",
    "ratio",
    "pct",
    "pct_signed",
    "int",
    "shares",
    "date",
    "text",
    "iv",
]


def _money(v: float, signed: bool) -> str:
    a = abs(v)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            body = f"${a / div:.1f}{suf}"
            break
    else:
        body = f"${a:.0f}"
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    return sign + body


def _shares(v: float) -> str:
    a = abs(v)
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            s = f"{a / div:.1f}{suf}"
            break
    else:
        s = f"{a:.0f}"
    return ("-" if v < 0 else "+") + s


def fmt_value(value: Any, fmt: str) -> str:
    """Display string of a figure (``n/a`` when the value does not exist).

    Examples
    --------
    >>> fmt_value(178.2e6, "money_signed"), fmt_value(1.2873, "ratio"), fmt_value(-0.031, "pct")
    ('+$178.2M', '1.29', '-3.1%')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if fmt == "text":
        return str(value)
    if fmt == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    v = float(value)
    if fmt == "money":
        return _money(v, False)
    if fmt == "money_signed":
        return _money(v, True)
    if fmt == "price":
        return f"${v:,.0f}" if v == round(v) else f"${v:,.2f}"
    if fmt == "ratio":
        return f"{v:.2f}"
    if fmt == "pct":
        return f"{v * 100:.1f}%"
    if fmt == "pct_signed":
        return f"{v * 100:+.1f}%"
    if fmt == "iv":
        return f"{v * 100:.1f}%"
    if fmt == "int":
        return f"{v:,.0f}"
    if fmt == "int_signed":
        return f"{v:+,.0f}"
    if fmt == "shares":
        return _shares(v)
    raise ValueError(f"unknown figure format {fmt!r}")


@dataclass(slots=True)
class Figure:
    """One number (or date/label) stated by a report, with its unit and display string."""

    key: str
    value: Any
    unit: str
    fmt: str
    label: str
    display: str = ""

    def __post_init__(self) -> None:
        if not self.display:
            self.display = fmt_value(self.value, self.fmt)


@dataclass(slots=True)
class Sentence:
    """A sentence and the keys of the figures it states."""

    text: str
    keys: list[str] = field(default_factory=list)
    label: str | None = None  # e.g. "Read-through", "Net premium"
    rule: str | None = None  # id of the rule of chainlens.report.rules that wrote it


@dataclass(slots=True)
class Table:
    """A table: ``columns`` are ``(key, label, unit)``; ``rows`` hold display strings."""

    id: str
    title: str
    columns: list[tuple[str, str, str]]
    rows: list[list[str]]
    values: list[list[Any]] = field(default_factory=list)  # raw values beside the displays


@dataclass(slots=True)
class Chart:
    """A chart spec rendered as PNG (matplotlib) and inline SVG (HTML).

    ``kind``: ``bar`` (``x``, ``series``), ``hbar``, ``line``, ``heatmap`` (``x``, ``y``,
    ``z``), ``zones`` (``rows`` of low/mid/high/close). ``markers``: vertical lines
    ``{x, label}``.
    """

    id: str
    kind: str
    title: str
    x_label: str = ""
    y_label: str = ""
    x: list[Any] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)
    y: list[Any] = field(default_factory=list)
    z: list[list[float | None]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    png: str | None = None  # path relative to the report, when written
    # axis units (tick formats): "USD" ($K/$M/$B), "price" ($5,100), "contracts", "shares",
    # "shares per USD", "IV" (decimal shown as %), "date"; "" = inferred from the label
    x_unit: str = ""
    y_unit: str = ""
    # a right-hand axis for series whose dict has ``"axis": "right"`` (e.g. the risk reversal)
    y2_label: str = ""
    y2_unit: str = ""
    # heatmaps: the colour-bar legend (units and what each sign means) and the value unit
    z_label: str = ""
    z_unit: str = ""
    # the strike (price) axis: "x", "y" or "" (none); its drawn range (USD, inclusive) always
    # holds spot and every strike in ``must_show_strikes`` (the strikes the text names)
    strike_axis: str = ""
    strike_range: tuple[float, float] | None = None
    must_show_strikes: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Section:
    """A report section; ``status`` is ``no_data`` when its inputs are missing."""

    id: str
    title: str
    sentences: list[Sentence] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    status: str = "ok"


@dataclass(slots=True)
class Report:
    """A rendered-agnostic report (per-ticker lens, daily market report or index)."""

    kind: str
    title: str
    session: str
    lens: str | None = None
    ticker: str | None = None
    header: list[Sentence] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    schema_version: str = REPORT_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (strict: no NaN)."""
        d = asdict(self)
        d["figures"] = {k: jsonable(asdict(f)) for k, f in self.figures.items()}
        return jsonable(d)

    def section(self, id_: str) -> Section:
        """The section with this id (KeyError if absent)."""
        for s in self.sections:
            if s.id == id_:
                return s
        raise KeyError(id_)

    def charts(self) -> list[Chart]:
        """Every chart of every section."""
        return [c for s in self.sections for c in s.charts]


class FigureBook:
    """Collects figures and builds sentences that reference them by key.

    Examples
    --------
    >>> fb = FigureBook()
    >>> k = fb.add("flow.net", 178.2e6, "USD", "money_signed", "net premium")
    >>> fb.say("Net premium: {0}", k).text
    'Net premium: +$178.2M'
    """

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}

    def add(self, key: str, value: Any, unit: str, fmt: str, label: str) -> str:
        """Register a figure; returns its key."""
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        self.figures[key] = Figure(key=key, value=value, unit=unit, fmt=fmt, label=label)
        return key

    def d(self, key: str) -> str:
        """Display string of a registered figure."""
        return self.figures[key].display

    def say(self, template: str, *keys: str, label: str | None = None, **words: str) -> Sentence:
        """A sentence: ``{0}``, ``{1}``... are figure displays; ``{name}`` plain words."""
        text = template.format(*(self.d(k) for k in keys), **words)
        return Sentence(text=text, keys=list(keys), label=label)

    def table(
        self,
        id_: str,
        title: str,
        columns: list[tuple[str, str, str, str]],
        records: list[dict[str, Any]],
    ) -> Table:
        """A table from records; ``columns`` are ``(key, label, unit, fmt)``."""
        rows = [[fmt_value(r.get(k), f) for k, _, _, f in columns] for r in records]
        vals = [[jsonable(r.get(k)) for k, _, _, _ in columns] for r in records]
        return Table(
            id=id_,
            title=title,
            columns=[(k, lab, u) for k, lab, u, _ in columns],
            rows=rows,
            values=vals,
        )
