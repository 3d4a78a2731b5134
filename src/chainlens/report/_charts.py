"""Charts: matplotlib PNG files and inline, interactive SVG for the HTML reports.

No import side effects: matplotlib is imported (with the Agg backend, through
``matplotlib.figure.Figure`` and no pyplot state) only inside :func:`chart_png`. The SVG is
built here from the same :class:`~chainlens.report._model.Chart` spec, with ``<title>``
tooltips and ``data-*`` attributes read by a few lines of vanilla JavaScript in the template:
no CDN, works offline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from chainlens.report._model import Chart

__all__ = ["chart_png", "chart_svg"]

_W, _H = 720, 300
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 70, 20, 28, 40
_COLORS = ("#2b6cb0", "#c53030", "#2f855a", "#b7791f", "#6b46c1", "#4a5568")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(v: float) -> str:
    a = abs(v)
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            return f"{v / div:.1f}{suf}"
    return f"{v:.4g}"


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    if hi == lo:
        hi = lo + 1.0
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)


def _frame(parts: list[str], c: Chart, ylo: float, yhi: float, sy: Any) -> None:
    parts.append(
        f'<text x="{_W / 2}" y="16" text-anchor="middle" class="ct">{escape(c.title)}</text>'
    )
    for i in range(5):
        v = ylo + (yhi - ylo) * i / 4
        y = sy(v)
        parts.append(
            f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{_PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" class="ax">{_fmt(v)}</text>'
        )
    if c.x_label:
        parts.append(
            f'<text x="{_W / 2}" y="{_H - 4}" text-anchor="middle" class="ax">{escape(c.x_label)}</text>'
        )


def _xy_svg(c: Chart) -> list[str]:
    xs = [_num(x) for x in c.x]
    numeric = all(x is not None for x in xs) and len(xs) > 0
    n = len(c.x)
    vals = [_num(v) for s in c.series for v in s["values"]]
    fin = [v for v in vals if v is not None] or [0.0]
    ylo, yhi = (
        min(min(fin), 0.0) if c.kind == "bar" else min(fin),
        max(max(fin), 0.0) if c.kind == "bar" else max(fin),
    )
    if ylo == yhi:
        ylo, yhi = ylo - 1, yhi + 1
    sy = _scale(ylo, yhi, _H - _PAD_B, _PAD_T)
    if numeric:
        xlo, xhi = min(x for x in xs if x is not None), max(x for x in xs if x is not None)
        pad = (xhi - xlo) / max(n, 1) or 1.0
        sx = _scale(xlo - pad, xhi + pad, _PAD_L, _W - _PAD_R)
        pos = [sx(x) for x in xs]
    else:
        sx = None
        pos = [_PAD_L + (i + 0.5) * (_W - _PAD_L - _PAD_R) / max(n, 1) for i in range(n)]
    parts: list[str] = []
    _frame(parts, c, ylo, yhi, sy)
    bw = max(1.0, (_W - _PAD_L - _PAD_R) / max(n, 1) * 0.8 / max(len(c.series), 1))
    for si, s in enumerate(c.series):
        col = _COLORS[si % len(_COLORS)]
        if c.kind == "bar":
            for i, v in enumerate(s["values"]):
                v = _num(v)
                if v is None:
                    continue
                x = pos[i] - bw * len(c.series) / 2 + si * bw
                y0, y1 = sy(0.0), sy(v)
                parts.append(
                    f'<rect class="pt" x="{x:.1f}" y="{min(y0, y1):.1f}" width="{bw:.1f}" height="{max(abs(y1 - y0), 0.5):.1f}" '
                    f'fill="{col}" data-tip="{escape(s["name"])} {escape(str(c.x[i]))}: {_fmt(v)}"><title>{escape(s["name"])} {escape(str(c.x[i]))}: {_fmt(v)}</title></rect>'
                )
        else:
            pts = [(pos[i], sy(v)) for i, v in enumerate(map(_num, s["values"])) if v is not None]
            if pts:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                parts.append(
                    f'<polyline points="{d}" fill="none" stroke="{col}" stroke-width="2"/>'
                )
            for i, v in enumerate(s["values"]):
                v = _num(v)
                if v is not None:
                    parts.append(
                        f'<circle class="pt" cx="{pos[i]:.1f}" cy="{sy(v):.1f}" r="3" fill="{col}" data-tip="{escape(s["name"])} {escape(str(c.x[i]))}: {_fmt(v)}"><title>{escape(s["name"])} {escape(str(c.x[i]))}: {_fmt(v)}</title></circle>'
                    )
        parts.append(
            f'<rect x="{_PAD_L + 10 + si * 110}" y="{_PAD_T}" width="10" height="10" fill="{col}"/><text x="{_PAD_L + 24 + si * 110}" y="{_PAD_T + 9}" class="ax">{escape(s["name"])}</text>'
        )
    if sx is not None:
        for k, m in enumerate(c.markers):  # k staggers the labels
            mx = _num(m.get("x"))
            if mx is None:
                continue
            x = sx(mx)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_T}" y2="{_H - _PAD_B}" class="mk"><title>{escape(m["label"])}: {mx:g}</title></line>'
            )
            parts.append(
                f'<text x="{x + 2:.1f}" y="{_PAD_T + 22 + 11 * (k % 3)}" class="mkl">{escape(m["label"])} {mx:g}</text>'
            )
    dates = n > 0 and isinstance(c.x[0], str) and len(c.x[0]) == 10 and c.x[0][4] == "-"
    step = max(1, n // (7 if dates else 10))
    for i in range(0, n, step):
        lab = c.x[i] if not isinstance(c.x[i], float) else f"{c.x[i]:g}"
        if dates:
            lab = str(lab)[2:]  # YY-MM-DD keeps date ticks apart
        parts.append(
            f'<text x="{pos[i]:.1f}" y="{_H - _PAD_B + 14}" text-anchor="middle" class="ax">{escape(str(lab))}</text>'
        )
    return parts


def _hbar_svg(c: Chart) -> list[str]:
    vals = [_num(v) or 0.0 for v in c.series[0]["values"]] if c.series else []
    hi = max(vals + [1.0])
    parts = [f'<text x="{_W / 2}" y="16" text-anchor="middle" class="ct">{escape(c.title)}</text>']
    rowh = (_H - _PAD_T - 10) / max(len(vals), 1)
    for i, (lab, v) in enumerate(zip(c.x, vals, strict=True)):
        y = _PAD_T + i * rowh
        w = (v / hi) * (_W - 200)
        parts.append(
            f'<text x="130" y="{y + rowh * 0.6:.1f}" text-anchor="end" class="ax">{escape(str(lab))}</text>'
        )
        parts.append(
            f'<rect class="pt" x="136" y="{y + 2:.1f}" width="{max(w, 0.5):.1f}" height="{rowh * 0.7:.1f}" fill="{_COLORS[i % len(_COLORS)]}" data-tip="{escape(str(lab))}: {_fmt(v)}"><title>{escape(str(lab))}: {_fmt(v)}</title></rect>'
        )
        parts.append(
            f'<text x="{140 + w:.1f}" y="{y + rowh * 0.6:.1f}" class="ax">{_fmt(v)}</text>'
        )
    return parts


def _heat_svg(c: Chart) -> list[str]:
    z = [[_num(v) for v in row] for row in c.z]
    fin = [v for row in z for v in row if v is not None] or [0.0]
    lo_, hi_ = min(fin), max(fin)
    m = max(abs(lo_), abs(hi_)) or 1.0
    diverging = lo_ < 0 < hi_
    ny, nx = len(z), max((len(r) for r in z), default=0)
    parts = [f'<text x="{_W / 2}" y="16" text-anchor="middle" class="ct">{escape(c.title)}</text>']
    cw = (_W - 140) / max(nx, 1)
    ch = (_H - _PAD_T - 30) / max(ny, 1)
    for j, row in enumerate(z):
        parts.append(
            f'<text x="126" y="{_PAD_T + (j + 0.7) * ch:.1f}" text-anchor="end" class="ax">{escape(str(c.y[j]) if j < len(c.y) else "")}</text>'
        )
        for i, v in enumerate(row):
            if v is None:
                continue
            # diverging (red +, blue -) when the data change sign; else a sequential scale over
            # the data range, so the variation stays visible when every cell has one sign
            t = v / m if diverging else (v - lo_) / ((hi_ - lo_) or 1.0)
            col = f"rgb({int(255 - 120 * max(t, 0))},{int(255 - 120 * abs(t))},{int(255 - 120 * max(-t, 0))})"
            x0 = c.x[i] if i < len(c.x) else i
            parts.append(
                f'<rect class="pt" x="{130 + i * cw:.1f}" y="{_PAD_T + j * ch:.1f}" width="{cw:.1f}" height="{ch:.1f}" fill="{col}" data-tip="spot {x0:.2f}: {_fmt(v)}"><title>spot {x0:.2f}, {escape(str(c.y[j]) if j < len(c.y) else "")}: {_fmt(v)}</title></rect>'
            )
    for i in range(0, nx, max(1, nx // 8)):
        parts.append(
            f'<text x="{130 + (i + 0.5) * cw:.1f}" y="{_H - 12}" text-anchor="middle" class="ax">{_num(c.x[i]) or 0:.0f}</text>'
        )
    return parts


_ZROW = 22  # px per zone row


def _zones_height(c: Chart) -> int:
    return max(_H, _PAD_T + 30 + _ZROW * len(c.rows))


def _zones_svg(c: Chart) -> list[str]:
    """Each row on a common axis: position in its zone, 0 = low, 1 = high (closes outside the
    shown range of -0.5..1.5 are drawn at the edge as a triangle)."""
    parts = [f'<text x="{_W / 2}" y="16" text-anchor="middle" class="ct">{escape(c.title)}</text>']
    sx = _scale(-0.5, 1.5, 140, _W - 30)
    h = _zones_height(c)
    for v, lab in ((0.0, "low"), (0.5, "mid"), (1.0, "high")):
        x = sx(v)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_T}" y2="{h - 24}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{h - 10}" text-anchor="middle" class="ax">{lab}</text>')
    for i, r in enumerate(c.rows):
        lo, hi, cl = _num(r.get("low")), _num(r.get("high")), _num(r.get("close"))
        if lo is None or hi is None or hi <= lo:
            continue
        y = _PAD_T + i * _ZROW
        tip = f"{r.get('ticker')}: zone {lo:.2f} to {hi:.2f}" + (
            f", close {cl:.2f}" if cl is not None else ""
        )
        parts.append(
            f'<text x="130" y="{y + 14}" text-anchor="end" class="ax">{escape(str(r.get("ticker")))}</text>'
        )
        parts.append(
            f'<rect class="pt" x="{sx(0.0):.1f}" y="{y + 4}" width="{sx(1.0) - sx(0.0):.1f}" height="{_ZROW - 8}" '
            f'fill="#bee3f8" data-tip="{escape(tip)}"><title>{escape(tip)}</title></rect>'
        )
        if cl is not None:
            pos = (cl - lo) / (hi - lo)
            x = sx(min(max(pos, -0.5), 1.5))
            cy = y + _ZROW / 2
            if -0.5 <= pos <= 1.5:
                mark = f'<circle class="pt" cx="{x:.1f}" cy="{cy:.1f}" r="4" fill="#c53030"'
            else:
                d = 6 if pos > 1.5 else -6
                mark = f'<polygon class="pt" points="{x - d:.1f},{cy - 5:.1f} {x:.1f},{cy:.1f} {x - d:.1f},{cy + 5:.1f}" fill="#c53030"'
            parts.append(
                mark
                + f' data-tip="{escape(tip)}"><title>{escape(tip)}</title></'
                + mark.split()[0][1:]
                + ">"
            )
    return parts


def chart_svg(c: Chart) -> Markup:
    """Inline SVG markup of a chart (escaped text, tooltips in ``<title>`` and ``data-tip``)."""
    if c.kind in ("bar", "line"):
        parts = _xy_svg(c)
    elif c.kind == "hbar":
        parts = _hbar_svg(c)
    elif c.kind == "heatmap":
        parts = _heat_svg(c)
    elif c.kind == "zones":
        parts = _zones_svg(c)
    else:
        raise ValueError(f"unknown chart kind {c.kind!r}")
    body = "".join(parts)
    h = _zones_height(c) if c.kind == "zones" else _H
    return Markup(
        f'<svg class="chart" id="svg-{escape(c.id)}" role="img" aria-label="{escape(c.title)}" '
        f'viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def chart_png(c: Chart, path: Path) -> Path:
    """Write the chart as a PNG with matplotlib (Agg canvas, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(c.title, fontsize=10)
    if c.kind in ("bar", "line"):
        import numpy as np

        xs = [_num(x) for x in c.x]
        numeric = all(x is not None for x in xs)
        pos = np.array(
            [x if x is not None else math.nan for x in xs] if numeric else range(len(c.x)),
            dtype=float,
        )
        k = max(len(c.series), 1)
        span = float(pos.max() - pos.min()) if numeric and pos.size > 1 else float(pos.size)
        width = span / max(pos.size, 1) * 0.8 / k
        for si, s in enumerate(c.series):
            vals = np.array(
                [v if (v := _num(x)) is not None else math.nan for x in s["values"]], dtype=float
            )
            col = _COLORS[si % len(_COLORS)]
            if c.kind == "bar":
                off = (si - (k - 1) / 2) * width
                ax.bar(pos + off, vals, width=width, label=s["name"], color=col)
            else:
                ax.plot(pos, vals, marker="o", ms=3, label=s["name"], color=col)
        if numeric:
            for m in c.markers:
                mx = _num(m.get("x"))
                if mx is not None:
                    ax.axvline(mx, ls="--", lw=1, color="#444")
                    ax.annotate(
                        f"{m['label']} {mx:g}",
                        (mx, 1),
                        xycoords=("data", "axes fraction"),
                        fontsize=7,
                        rotation=90,
                        va="top",
                    )
        else:
            step = max(1, len(c.x) // 8)
            ax.set_xticks(pos[::step], [str(x) for x in c.x[::step]], fontsize=7)
        ax.legend(fontsize=7)
    elif c.kind == "hbar":
        hv = [float(_num(v) or 0.0) for v in c.series[0]["values"]]
        ax.barh([str(x) for x in c.x], hv, color=list(_COLORS))
    elif c.kind == "heatmap":
        import numpy as np

        z = np.array(
            [[(_num(v) if _num(v) is not None else np.nan) for v in row] for row in c.z],
            dtype=float,
        )
        lo_, hi_ = (np.nanmin(z), np.nanmax(z)) if np.isfinite(z).any() else (-1.0, 1.0)
        if lo_ < 0 < hi_:
            mm = float(max(-lo_, hi_))
            im = ax.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-mm, vmax=mm, origin="lower")
        else:
            im = ax.imshow(z, aspect="auto", cmap="viridis", vmin=lo_, vmax=hi_, origin="lower")
        fig.colorbar(im, ax=ax)
        ax.set_yticks(range(len(c.y)), [str(y) for y in c.y], fontsize=6)
        step = max(1, len(c.x) // 8)
        ax.set_xticks(
            range(0, len(c.x), step), [f"{_num(x) or 0:.0f}" for x in c.x[::step]], fontsize=7
        )
    elif c.kind == "zones":
        for i, r in enumerate(c.rows):
            lo, hi, cl = _num(r.get("low")), _num(r.get("high")), _num(r.get("close"))
            if lo is None or hi is None or hi <= lo:
                continue
            ax.plot([0, 1], [i, i], color="#bee3f8", lw=8, solid_capstyle="butt")
            if cl is not None:
                ax.plot([(cl - lo) / (hi - lo)], [i], "o", color="#c53030")
        ax.set_yticks(range(len(c.rows)), [str(r.get("ticker")) for r in c.rows], fontsize=7)
        ax.set_xlabel("position in zone (0 = low, 1 = high)")
    if c.x_label and c.kind in ("bar", "line"):
        ax.set_xlabel(c.x_label, fontsize=8)
    if c.y_label:
        ax.set_ylabel(c.y_label, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
