"""Report chain (older/newer links for a ticker and lens) and the per-date index page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["chain_links", "report_name", "write_index", "write_root_index"]


def report_name(ticker: str | None, lens: str | None) -> str:
    """File stem of a report: ``daily`` or ``<TICKER>-<lens>``.

    The ticker and lens pass through :func:`chainlens._safe.safe_filename`: a ticker from the
    data (``../../X``, ``JAVASCRIPT:…``) becomes one harmless path component, so a report is
    always written inside its day folder (``SPX`` and ``BRK.B`` are unchanged).
    """
    from chainlens._safe import safe_filename

    if ticker is None:
        return "daily"
    return f"{safe_filename(ticker)}-{safe_filename(str(lens))}"


def chain_links(
    session: dt.date, sessions: Sequence[dt.date], name: str, fmt: str = "html"
) -> dict[str, Any]:
    """Relative links to the same report on the previous and next stored sessions.

    The layout is ``<reports>/<YYYY-MM-DD>/<name>.<fmt>``; ``sessions`` are the sessions that
    have pipeline results for this ticker.
    """
    s = sorted(set(sessions))
    older = [d for d in s if d < session]
    newer = [d for d in s if d > session]
    out: dict[str, Any] = {"index": "index.html"}
    if older:
        out["older"] = f"../{older[-1].isoformat()}/{name}.{fmt}"
        out["older_date"] = older[-1].isoformat()
    if newer:
        out["newer"] = f"../{newer[0].isoformat()}/{name}.{fmt}"
        out["newer_date"] = newer[0].isoformat()
    return out


def write_index(day_dir: Path, session: dt.date, sessions: Sequence[dt.date]) -> Path:
    """Write ``index.html`` listing every report file in ``day_dir``."""
    from chainlens.report._render import _env

    stems: dict[str, dict[str, str]] = {}
    for p in sorted(day_dir.iterdir()):
        if p.is_file() and p.suffix in (".html", ".md", ".json") and p.name != "index.html":
            stems.setdefault(p.stem, {})[p.suffix[1:]] = p.name
    from chainlens._safe import filename_text

    entries = []
    for stem, files in sorted(stems.items(), key=lambda kv: (kv[0] != "daily", kv[0])):
        name, _, lens = stem.partition("-")  # report_name encodes "-" inside the ticker
        entries.append(
            {
                "name": "Market daily report" if stem == "daily" else filename_text(name),
                "lens": filename_text(lens) or "market",
                **files,  # hrefs: the template passes them through safe_href
            }
        )
    s = sorted(set(sessions))
    prev = [d for d in s if d < session]
    nxt = [d for d in s if d > session]
    html = (
        _env()
        .get_template("index.html.j2")
        .render(
            session=session.isoformat(),
            entries=entries,
            prev=f"../{prev[-1].isoformat()}/index.html" if prev else None,
            next=f"../{nxt[0].isoformat()}/index.html" if nxt else None,
        )
    )
    out = day_dir / "index.html"
    out.write_text(html, encoding="utf-8")
    return out


def write_root_index(root: Path) -> Path:
    """Write ``<root>/index.html`` linking every per-date index under ``root``."""
    import re

    from markupsafe import escape

    from chainlens._safe import safe_href

    days = sorted(
        (
            p.name
            for p in root.iterdir()
            if p.is_dir()
            and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name)
            and (p / "index.html").exists()
        ),
        reverse=True,
    )
    items = "".join(
        f'<li><a href="{escape(safe_href(d))}/index.html">{escape(d)}</a></li>' for d in days
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>chainlens reports</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:1.5em auto}</style>"
        f"</head><body><h1>chainlens reports</h1><ul>{items}</ul></body></html>"
    )
    out = root / "index.html"
    out.write_text(html, encoding="utf-8")
    return out
