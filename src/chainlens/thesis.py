"""A user thesis checklist (seed 003 "Bull thesis confirmation checklist"), written in TOML and
evaluated every session against stored series with ✅ / ❌ and the values.

File format (``examples/thesis.toml``)::

    title = "Bull thesis confirmation checklist"

    [[condition]]
    name = "SPY holds above its 200-session average for 2+ sessions"
    kind = "price_vs_sma"      # a ticker's close vs its n-session simple average
    ticker = "SPY"
    window = 200               # sessions of the average
    side = "above"             # above | below
    sessions = 2               # at least this many consecutive sessions on that side

    [[condition]]
    name = "DXY below 99.5"
    kind = "macro"             # the last value of a user macro series (``--macro``)
    series = "DXY"
    op = "<"                   # < <= > >=
    value = 99.5

    [[condition]]
    name = "Dark-pool volume above $70B"
    kind = "darkpool_volume"   # market dark-pool notional of the session (USD)
    op = ">"
    value = 70e9

    [[condition]]
    name = "Options net premium bullish"
    kind = "net_premium"       # market directional net premium (USD)
    op = ">"
    value = 0

Other kinds: ``darkpool_net`` (a ticker's dark-pool net notional, USD: ``ticker``, ``op``,
``value``), ``gamma_at_spot`` (an index's dealer GEX at spot, USD per 1 % move: ``ticker``,
``op``, ``value``), ``change`` (a ticker's change on the day in %: ``ticker``, ``op``,
``value``).

A condition whose input is absent evaluates to ``None`` (n/a) with the reason, never to ❌.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainlens.errors import InputError

__all__ = ["KINDS", "Condition", "Thesis", "evaluate_thesis", "load_thesis", "parse_thesis"]

#: Condition kinds and their required keys.
KINDS: Mapping[str, tuple[str, ...]] = {
    "price_vs_sma": ("ticker", "window", "side"),
    "macro": ("series", "op", "value"),
    "darkpool_volume": ("op", "value"),
    "darkpool_net": ("ticker", "op", "value"),
    "net_premium": ("op", "value"),
    "gamma_at_spot": ("ticker", "op", "value"),
    "change": ("ticker", "op", "value"),
}
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OP_WORDS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}


@dataclass(frozen=True, slots=True)
class Condition:
    """One named condition of a thesis (see the module docstring for the kinds)."""

    name: str
    kind: str
    ticker: str | None = None
    series: str | None = None
    window: int | None = None
    side: str | None = None
    sessions: int = 1
    op: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Thesis:
    """A titled list of conditions."""

    title: str
    conditions: tuple[Condition, ...]
    source: str = ""


def parse_thesis(text: str, *, source: str = "<thesis>") -> Thesis:
    """Parse a thesis TOML document; :class:`~chainlens.errors.InputError` names the condition
    (by its 1-based number) and the key that is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the thesis file is not valid TOML: {exc}", path=source) from None
    items = raw.get("condition")
    if not isinstance(items, list) or not items:
        raise InputError(
            "the thesis file needs at least one [[condition]] table",
            path=source,
            column="condition",
        )
    out = []
    for i, c in enumerate(items, 1):
        where = f"condition {i}"
        if not isinstance(c, dict):
            raise InputError(f"{where} is not a table", path=source, row=i)
        kind = str(c.get("kind"))
        if kind not in KINDS:
            raise InputError(
                f"{where}: kind must be one of {', '.join(KINDS)}",
                path=source,
                row=i,
                column="kind",
                value=c.get("kind"),
            )
        for k in KINDS[kind]:
            if c.get(k) is None:
                raise InputError(f"{where} ({kind}) needs `{k}`", path=source, row=i, column=k)
        op = c.get("op")
        if op is not None and op not in _OPS:
            raise InputError(
                f"{where}: op must be one of {', '.join(_OPS)}",
                path=source,
                row=i,
                column="op",
                value=op,
            )
        side = c.get("side")
        if side is not None and side not in ("above", "below"):
            raise InputError(
                f"{where}: side must be above or below",
                path=source,
                row=i,
                column="side",
                value=side,
            )
        try:
            value = None if c.get("value") is None else float(c["value"])
            window = None if c.get("window") is None else int(c["window"])
            sessions = int(c.get("sessions", 1))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {exc}", path=source, row=i) from None
        if window is not None and window < 1 or sessions < 1:
            raise InputError(f"{where}: window and sessions must be >= 1", path=source, row=i)
        out.append(
            Condition(
                name=str(c.get("name") or f"{kind} {i}"),
                kind=kind,
                ticker=None if c.get("ticker") is None else str(c["ticker"]).upper(),
                series=None if c.get("series") is None else str(c["series"]),
                window=window,
                side=side,
                sessions=sessions,
                op=op,
                value=value,
            )
        )
    return Thesis(
        title=str(raw.get("title") or "Thesis checklist"), conditions=tuple(out), source=source
    )


def load_thesis(path: str | Path) -> Thesis:
    """Read and parse a thesis TOML file (:class:`~chainlens.errors.InputError` if unreadable)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the thesis file: {exc.strerror}", path=str(p)) from None
    return parse_thesis(text, source=str(p))


def tickers_needed(thesis: Thesis) -> list[str]:
    """Tickers whose price context the thesis reads (``price_vs_sma``, ``change``)."""
    return sorted(
        {c.ticker for c in thesis.conditions if c.kind in ("price_vs_sma", "change") and c.ticker}
    )


def _cmp(c: Condition, got: float | None, what: str, unit: str) -> dict[str, Any]:
    if got is None:
        return {"ok": None, "value": None, "unit": unit, "reason": f"{what} is not available"}
    assert c.op is not None and c.value is not None
    return {
        "ok": bool(_OPS[c.op](got, c.value)),
        "value": got,
        "unit": unit,
        "target": c.value,
        "test": f"{_OP_WORDS[c.op]}",
        "reason": None,
    }


def _one(
    c: Condition,
    market: Mapping[str, Any],
    prices: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    if c.kind == "price_vs_sma":
        pcx = prices.get(c.ticker or "")
        if pcx is None:
            return {
                "ok": None,
                "value": None,
                "unit": "USD",
                "reason": f"no closes of {c.ticker} are stored",
            }
        blk = next((b for b in pcx.get("sma") or [] if b["window"] == c.window), None)
        if blk is None:
            import numpy as np

            from chainlens.market import _sma_block

            blk = _sma_block(np.asarray(pcx.get("closes") or [], np.float64), int(c.window or 1))
        if blk.get("sma") is None:
            return {
                "ok": None,
                "value": pcx.get("close"),
                "unit": "USD",
                "reason": blk.get("reason"),
            }
        run = int(blk.get("sessions_on_side") or 0)
        ok = blk.get("side") == c.side and run >= c.sessions
        return {
            "ok": ok,
            "value": pcx.get("close"),
            "unit": "USD",
            "target": blk["sma"],
            "test": c.side,
            "sessions_on_side": run,
            "side": blk.get("side"),
            "reason": None,
        }
    if c.kind == "change":
        pcx = prices.get(c.ticker or "")
        ch = None if pcx is None else pcx.get("change_pct")
        return _cmp(c, ch, f"the change of {c.ticker}", "%")
    if c.kind == "macro":
        rows = {r["series"]: r for r in market.get("macro") or []}
        r = rows.get(c.series or "")
        if r is None:
            return {
                "ok": None,
                "value": None,
                "unit": "",
                "reason": f"series {c.series} is not in the macro input (chainlens run --macro)",
            }
        return _cmp(c, float(r["value"]), f"series {c.series}", "")
    if c.kind == "darkpool_volume":
        dp = market.get("darkpool")
        return _cmp(
            c,
            None if not dp else dp.get("total_notional_usd"),
            "dark-pool notional (no prints stored)",
            "USD",
        )
    if c.kind == "darkpool_net":
        dp = market.get("darkpool") or {}
        rows = {
            r["ticker"]: r
            for r in dp.get("rows") or [*dp.get("accumulation", []), *dp.get("distribution", [])]
        }
        r = rows.get(c.ticker or "")
        return _cmp(
            c, None if r is None else r.get("net_usd"), f"dark-pool net of {c.ticker}", "USD"
        )
    if c.kind == "net_premium":
        side = market.get("side")
        v = None if not side else side.get("dir_net_usd", side.get("net_usd"))
        return _cmp(c, v, "directional net premium (no trades stored)", "USD")
    if c.kind == "gamma_at_spot":
        d = {g["ticker"]: g for g in market.get("dealers") or []}
        g = d.get(c.ticker or "")
        return _cmp(
            c,
            None if g is None else g.get("gex_at_spot_usd_per_1pct"),
            f"the gamma profile of {c.ticker}",
            "USD per 1% move",
        )
    raise AssertionError(c.kind)  # parse_thesis admits only KINDS


def evaluate_thesis(
    thesis: Thesis,
    market: Mapping[str, Any],
    prices: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Evaluate every condition on one session.

    Parameters
    ----------
    thesis
        :func:`load_thesis` / :func:`parse_thesis`.
    market
        The session's :func:`chainlens.market.market_rollup` dict (``side``, ``darkpool``,
        ``dealers``, ``macro``).
    prices
        Price contexts (:func:`chainlens.market.price_context`) by ticker, or a list of them.

    Returns
    -------
    dict
        ``title``, ``source``, ``confirmed`` (conditions true), ``evaluated`` (conditions with
        a value), ``total``, ``items``: per condition ``name``, ``kind``, ``ok`` (True, False,
        or None when its input is absent), ``value``, ``unit``, ``target``, ``test``,
        ``reason`` (why n/a).
    """
    if not isinstance(prices, Mapping):
        prices = {p["ticker"]: p for p in prices}
    items = []
    for c in thesis.conditions:
        r = _one(c, market, prices)
        items.append({"name": c.name, "kind": c.kind, "ticker": c.ticker, "series": c.series,
                      "window": c.window, "sessions": c.sessions, **r})  # fmt: skip
    return {
        "title": thesis.title,
        "source": thesis.source,
        "confirmed": sum(1 for x in items if x["ok"] is True),
        "evaluated": sum(1 for x in items if x["ok"] is not None),
        "total": len(items),
        "items": items,
    }
