"""The FastAPI application of ``chainlens serve``: HTML pages, htmx partials, ``/api/v1``.

Every page is a URL whose query string holds its whole state (session ``date``, ``expiry``,
``dte_max``, dealer ``model``, filters, ``sort``/``desc``), so a view can be bookmarked. Pages
and the API call the same builders (:mod:`chainlens.serve._views`); every table of the API is
also CSV with ``format=csv``.

Security: read-only store; Jinja autoescaping on every value; a strict Content-Security-Policy
(scripts only from this server: no inline script, no ``eval``); static files from a fixed
list (no file path ever comes from a request); every parameter validated (422 with the field
and the reason); errors as JSON or a plain page, never a stack trace.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

from anyio import to_thread
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from pydantic import AfterValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from chainlens import __version__
from chainlens._jsonsafe import jsonable
from chainlens.errors import ChainlensError, NotFoundError
from chainlens.serve import _charts, _views
from chainlens.serve import _schemas as S
from chainlens.serve._data import StoreReader
from chainlens.serve._schemas import ok

__all__ = ["API_VERSION", "CSP", "create_app"]

API_VERSION = "1"
HERE = Path(__file__).parent
STATIC = HERE / "static"
#: The only files served under /static (name -> media type). No path comes from a request.
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "plotly.min.js": "text/javascript",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
#: Content-Security-Policy of every response: scripts only from this origin (no inline
#: script, no eval); Plotly sets inline style attributes, hence ``style-src 'unsafe-inline'``.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
log = logging.getLogger("chainlens.serve")


def _no_traversal(value: str) -> str:
    if ".." in value:
        raise ValueError("'..' is not allowed in a ticker")
    return value


Ticker = Annotated[
    str,
    PathParam(
        min_length=1,
        max_length=40,
        pattern=r"^[^\x00-\x1f\\]+$",
        description="Ticker symbol (any text but control characters, backslash and '..')",
    ),
    AfterValidator(_no_traversal),
]
DateQ = Annotated[
    dt.date | None, Query(description="Session date YYYY-MM-DD (default: the latest)")
]
ModelQ = Annotated[Literal["classic", "short_all"], Query(description="Dealer sign model")]
FormatQ = Annotated[Literal["json", "csv"], Query(description="json or csv")]
SortQ = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_]+$")]
TextQ = Annotated[str, Query(max_length=32, description="Ticker substring filter")]
LimitQ = Annotated[int | None, Query(ge=1, le=100_000, description="At most this many rows")]
OptTicker = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^[^\x00-\x1f\\]+$", description="Ticker"),
    AfterValidator(lambda v: v if v is None else _no_traversal(v)),
]


def _csv(table: _views.TableView) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf)
    j = table.to_json()
    w.writerow([c["key"] for c in j["columns"]])
    for r in j["rows"]:
        w.writerow(["" if v is None else _csv_cell(v) for v in r.values()])
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", table.id) + ".csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv_cell(v: Any) -> Any:
    s = json.dumps(v) if isinstance(v, list | dict) else v
    if isinstance(s, str) and s[:1] in ("=", "+", "-", "@") and not _NUM.match(s):
        return "'" + s  # spreadsheet formula injection guard
    return s


_NUM = re.compile(r"^-?\d")


def _jsonable(o: Any) -> Any:
    """Table views as their JSON, everything else through :func:`chainlens._jsonsafe.jsonable`."""
    if isinstance(o, _views.TableView):
        return o.to_json()
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    return jsonable(o)


def _table_or_json(data: dict[str, Any], fmt: str, table: str | None = None) -> Response:
    if fmt == "csv":
        tables = data.get("tables") or {}
        t = data.get("table") if table is None else tables.get(table)
        if t is None and table is None and len(tables) == 1:
            t = next(iter(tables.values()))
        if t is None:
            raise HTTPException(
                422, f"table must be one of {sorted(tables)} for CSV" if tables else "no table"
            )
        return _csv(t)
    return JSONResponse(_jsonable(data))


def create_app(store: str | Path, *, warm: bool = False) -> FastAPI:
    """The dashboard application over the store at ``store`` (opened read-only).

    Parameters
    ----------
    store
        Store directory.
    warm
        Read the latest session's documents, overview, daily report and notable prints before
        serving (the first pages come faster).
    """
    reader = StoreReader(store)
    if warm:  # the latest session's overview, daily report and tape
        with reader.request():
            if reader.sessions():
                last = reader.sessions()[-1]
                reader.what_worked(last)  # starts measuring the outcome rules (background)
                _views.overview_view(reader, last)
                _views.report_view(reader, last, None, "daily")
                reader.part(last, "notable")
                for part in ("by_strike_expiry", "profile_by_expiry"):  # the filtered pages
                    reader.part(last, part)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await to_thread.run_sync(reader.shutdown)  # no thread left inside the store at exit

    app = FastAPI(
        lifespan=lifespan,
        title="chainlens",
        version=__version__,
        description="Read-only JSON API over a chainlens store (`chainlens serve`).",
        docs_url=None,  # FastAPI's docs pages load JS/CSS from a CDN: off
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.reader = reader
    app.add_middleware(_ApiCache, reader=reader)
    app.add_middleware(_DropEmptyParams)
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True)
    templates = Jinja2Templates(env=env)
    env.filters["fmt"] = _fmt
    # JSON text for a data-figure attribute: a plain str, so autoescaping quotes it
    # (a figure already serialised by :func:`_figures_json` passes through unchanged)
    env.filters["spec"] = lambda v: (
        v if isinstance(v, str) else json.dumps(_jsonable(v), allow_nan=False)
    )
    env.filters["merge_qs"] = _merge_qs
    env.globals["version"] = __version__

    # ------------------------------------------------------------------ middleware, errors
    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        try:
            if reader.changed():  # a run or an ingest committed: reopen (waits off the loop)
                await to_thread.run_sync(reader.refresh_if_changed)
            with reader.request():
                response: Response = await call_next(request)
        except Exception:  # never a stack trace in a response
            log.exception("internal error on %s", request.url.path)
            response = JSONResponse({"error": "internal error"}, status_code=500)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def _error(request: Request, status: int, message: str, detail: Any = None) -> Response:
        if request.url.path.startswith("/api/"):
            body: dict[str, Any] = {"error": message}
            if detail is not None:
                body["detail"] = detail
            return JSONResponse(body, status_code=status)
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message, "detail": detail},
            status_code=status,
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        detail = [
            {
                "param": ".".join(str(x) for x in e.get("loc", ())[1:]) or "request",
                "reason": str(e.get("msg", "")),
            }
            for e in exc.errors()
        ]
        return _error(request, 422, "invalid request parameter", detail)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(NotFoundError)
    async def on_not_found(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, str(exc).split("\n")[0], getattr(exc, "hint", None))

    @app.exception_handler(ChainlensError)
    async def on_chainlens(request: Request, exc: ChainlensError) -> Response:
        from chainlens.errors import StoreError

        msg = str(exc).split("\n")[0]
        busy = isinstance(exc, StoreError) and "busy" in msg  # a writer held it too long
        return _error(request, 503 if busy else 400, msg)

    @app.exception_handler(Exception)
    async def on_any(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s: %r", request.url.path, exc)
        return _error(request, 500, "internal error")

    # ------------------------------------------------------------------ static
    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such static file")
        return FileResponse(
            STATIC / name,
            media_type=STATIC_FILES[name],
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    def page(request: Request, name: str, ctx: dict[str, Any]) -> Response:
        partial = (
            request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers
        )
        ctx = {**ctx, "request": request, "partial": partial, "query": dict(request.query_params)}
        resp = templates.TemplateResponse(request, name, ctx)
        if _pending(ctx):  # a part still being measured: never cached, by anyone
            resp.headers["Cache-Control"] = "no-store"
        return resp

    # ------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview_page(
        request: Request,
        date: DateQ = None,
        q: TextQ = "",
        sort: SortQ = None,
        desc: bool = False,
        label: Annotated[Literal["bullish", "bearish", "neutral"] | None, Query()] = None,
    ) -> Response:
        data = _views.overview_view(reader, date, q=q, sort=sort, desc=desc, label=label)
        daily = _views.report_view(reader, data["session"], None, "daily")
        return page(request, "overview.html", {**data, "daily": daily, "nav": "overview"})

    @app.get("/ticker/{ticker:path}", response_class=HTMLResponse, include_in_schema=False)
    def ticker_page(
        request: Request,
        ticker: Ticker,
        date: DateQ = None,
        expiry: Annotated[dt.date | None, Query()] = None,
        dte_max: Annotated[int | None, Query(ge=0, le=3650)] = None,
        model: ModelQ = "classic",
    ) -> Response:
        f = _views.TickerFilter(expiry=expiry, dte_max=dte_max, model=model)
        data = _views.ticker_view(reader, ticker, date, f)
        key = ("ticker_charts", ticker, data["session"], f)
        charts = reader.cached(key, lambda: _figures_json(_charts.ticker_charts(data)))
        return page(request, "ticker.html", {**data, "charts": charts, "nav": "ticker"})

    @app.get("/levels/{ticker:path}", response_class=HTMLResponse, include_in_schema=False)
    def levels_page(request: Request, ticker: Ticker) -> Response:
        data = _views.levels_view(reader, ticker)
        charts = _charts.levels_charts(data)
        tickers = reader.docs(reader.sessions()[-1]) if reader.sessions() else {}
        return page(
            request,
            "levels.html",
            {**data, "charts": charts, "tickers": sorted(tickers), "nav": "levels"},
        )

    @app.get("/flow", response_class=HTMLResponse, include_in_schema=False)
    def flow_page(
        request: Request,
        date: DateQ = None,
        ticker: OptTicker = None,
        side: Annotated[Literal["buy", "sell", "mid", "unknown"] | None, Query()] = None,
        right: Annotated[Literal["C", "P"] | None, Query()] = None,
        min_premium: Annotated[float | None, Query(ge=0, le=1e13)] = None,
        dte_max: Annotated[int | None, Query(ge=0, le=3650)] = None,
        moneyness: Annotated[Literal["otm", "itm", "atm"] | None, Query()] = None,
        vol_oi_band: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z0-9_.]+$")] = None,
        multileg: Annotated[Literal["only", "exclude"] | None, Query()] = None,
        sort: SortQ = "premium_usd",
        desc: bool = True,
        limit: LimitQ = 200,
    ) -> Response:
        data = _flow(date, ticker, side, right, min_premium, dte_max, moneyness, vol_oi_band,
                     multileg, sort, desc, limit)  # fmt: skip
        return page(request, "flow.html", {**data, "nav": "flow"})

    @app.get("/scan/{kind}", response_class=HTMLResponse, include_in_schema=False)
    def scan_page(
        request: Request,
        kind: Literal["unusual", "netdelta", "accumulation", "rolls"],
        date: DateQ = None,
        ticker: OptTicker = None,
        sort: SortQ = None,
        desc: bool = True,
    ) -> Response:
        data = _views.scan_view(reader, kind, date, ticker=ticker, sort=sort, desc=desc)
        return page(request, "scan.html", {**data, "kinds": _views.SCAN_KINDS, "nav": "scan"})

    @app.get("/status", response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request) -> Response:
        return page(request, "status.html", {**_views.status_view(reader), "nav": "status"})

    @app.get("/daily", include_in_schema=False)
    def daily_alias(date: DateQ = None) -> Response:
        from fastapi.responses import RedirectResponse

        q = f"?date={date.isoformat()}" if date else ""
        return RedirectResponse("/report/daily" + q, status_code=307)

    @app.get("/report/daily", response_class=HTMLResponse, include_in_schema=False)
    def daily_page(request: Request, date: DateQ = None) -> Response:
        rep = _views.report_view(reader, date, None, "daily")
        charts = _charts.report_charts(rep)
        return page(
            request,
            "report.html",
            {"report": rep, "charts": charts, "ticker": None, "nav": "report"},
        )

    @app.get("/report/{ticker:path}", response_class=HTMLResponse, include_in_schema=False)
    def report_page(
        request: Request,
        ticker: Ticker,
        date: DateQ = None,
        lens: Literal["flow", "bias", "premium", "earnings"] = "flow",
    ) -> Response:
        rep = _views.report_view(reader, date, ticker, lens)
        ctx = {"report": rep, "charts": _charts.report_charts(rep), "ticker": ticker, "lens": lens}
        return page(request, "report.html", {**ctx, "nav": "report"})

    def _flow(*a: Any) -> dict[str, Any]:
        (date, ticker, side, right, min_premium, dte_max, moneyness, band, multileg, sort,
         desc, limit) = a  # fmt: skip
        from chainlens.oi import VOL_OI_BANDS

        if band is not None and band not in {b[1] for b in VOL_OI_BANDS}:
            raise HTTPException(422, f"vol_oi_band must be one of {[b[1] for b in VOL_OI_BANDS]}")
        if sort is not None and sort not in _views.FLOW_SORTS:
            raise HTTPException(422, f"sort must be one of {list(_views.FLOW_SORTS)}")
        return reader.cached(("flow_view", *a), lambda: _views.flow_view(
            reader, date, ticker=ticker, side=side, right=right, min_premium=min_premium,
            dte_max=dte_max, moneyness=moneyness, vol_oi_band=band, multileg=multileg,
            sort=sort, desc=desc, limit=limit,
        ))  # fmt: skip

    # ------------------------------------------------------------------ API v1
    @app.get("/api/v1/sessions", tags=["store"], responses=ok(S.Sessions))
    def api_sessions() -> dict[str, Any]:
        """Sessions with pipeline results, ascending."""
        return {"api_version": API_VERSION, "sessions": [d.isoformat() for d in reader.sessions()]}

    @app.get("/api/v1/overview", tags=["market"], responses=ok(S.SessionTable, csv=True))
    def api_overview(
        date: DateQ = None,
        q: TextQ = "",
        sort: SortQ = None,
        desc: bool = False,
        label: Annotated[Literal["bullish", "bearish", "neutral"] | None, Query()] = None,
        format: FormatQ = "json",
    ) -> Response:
        """Market overview: one row per ticker (spot, zero gamma, walls, max pain, GEX, net
        premium, flow label, expected-move status)."""
        if sort is not None and sort not in {c.key for c in _views.OVERVIEW_COLUMNS}:
            raise HTTPException(422, "sort must be an overview column key")
        data = _views.overview_view(reader, date, q=q, sort=sort, desc=desc, label=label)
        return _table_or_json(data, format)

    @app.get("/api/v1/daily", tags=["market"], responses=ok(S.Report))
    def api_daily(date: DateQ = None) -> Response:
        """The market daily report (report JSON, schema in chainlens.report); ``pending``
        lists the sections still being measured (``what_worked_yesterday``; the response is
        then not cached: ask again)."""
        rep = _views.report_view(reader, date, None, "daily")
        resp = JSONResponse(rep)
        if rep.get("pending"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/api/v1/ticker/{ticker:path}", tags=["ticker"], responses=ok(S.Ticker, csv=True))
    def api_ticker(
        ticker: Ticker,
        date: DateQ = None,
        expiry: Annotated[dt.date | None, Query()] = None,
        dte_max: Annotated[int | None, Query(ge=0, le=3650)] = None,
        model: ModelQ = "classic",
        format: FormatQ = "json",
        table: Annotated[
            Literal["by_strike", "by_expiry", "expected_moves", "oi_change"] | None, Query()
        ] = None,
    ) -> Response:
        """Every panel of the ticker page, restricted to the expiry / DTE filter."""
        f = _views.TickerFilter(expiry=expiry, dte_max=dte_max, model=model)
        data = _views.ticker_view(reader, ticker, date, f)
        if format == "csv" and table is None:
            raise HTTPException(422, "table is required with format=csv")
        return _table_or_json(data, format, table)

    @app.get("/api/v1/levels/{ticker:path}", tags=["ticker"], responses=ok(S.Levels, csv=True))
    def api_levels(ticker: Ticker, format: FormatQ = "json") -> Response:
        """Zero gamma, walls, max pain and spot over every stored session."""
        return _table_or_json(_views.levels_view(reader, ticker), format)

    @app.get("/api/v1/flow", tags=["flow"], responses=ok(S.Flow, csv=True))
    def api_flow(
        date: DateQ = None,
        ticker: OptTicker = None,
        side: Annotated[Literal["buy", "sell", "mid", "unknown"] | None, Query()] = None,
        right: Annotated[Literal["C", "P"] | None, Query()] = None,
        min_premium: Annotated[float | None, Query(ge=0, le=1e13)] = None,
        dte_max: Annotated[int | None, Query(ge=0, le=3650)] = None,
        moneyness: Annotated[Literal["otm", "itm", "atm"] | None, Query()] = None,
        vol_oi_band: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z0-9_.]+$")] = None,
        multileg: Annotated[Literal["only", "exclude"] | None, Query()] = None,
        sort: SortQ = "premium_usd",
        desc: bool = True,
        limit: LimitQ = None,
        format: FormatQ = "json",
    ) -> Response:
        """Notable prints with filters and sorting (all matching rows unless ``limit``)."""
        data = _flow(date, ticker, side, right, min_premium, dte_max, moneyness, vol_oi_band,
                     multileg, sort, desc, limit)  # fmt: skip
        return _table_or_json(data, format)

    @app.get("/api/v1/scan/{kind}", tags=["flow"], responses=ok(S.Scan, csv=True))
    def api_scan(
        kind: Literal["unusual", "netdelta", "accumulation", "rolls"],
        date: DateQ = None,
        ticker: OptTicker = None,
        sort: SortQ = None,
        desc: bool = True,
        format: FormatQ = "json",
    ) -> Response:
        """One scanner over every underlying of a session."""
        data = _views.scan_view(reader, kind, date, ticker=ticker, sort=sort, desc=desc)
        return _table_or_json(data, format)

    @app.get("/api/v1/status", tags=["store"], responses=ok(S.Status, csv=True))
    def api_status(
        format: FormatQ = "json",
        table: Annotated[Literal["sessions", "results", "rejects"] | None, Query()] = None,
    ) -> Response:
        """Sessions, snapshots, results parts, rejects files and the last ingest."""
        data = _views.status_view(reader)
        if format == "csv" and table is None:
            table = "sessions"
        return _table_or_json(data, format, table)

    @app.get("/api/v1/report/{ticker:path}", tags=["ticker"], responses=ok(S.Report))
    def api_report(
        ticker: Ticker,
        date: DateQ = None,
        lens: Literal["flow", "bias", "premium", "earnings"] = "flow",
    ) -> Response:
        """One per-ticker report (report JSON) with its chain links."""
        return JSONResponse(_views.report_view(reader, date, ticker, lens))

    return app


class _ApiCache:
    """ASGI middleware: keep the bytes of every successful GET response of the API and of the
    pages, keyed by path, query string and (pages) whether htmx asked for the partial, in the
    reader's bounded cache (one cache generation: a new ``chainlens run`` starts a new one),
    so a repeated call costs no serialisation and no template rendering. Static files are
    not cached here (they are files with their own ``Cache-Control``)."""

    def __init__(self, app: Any, reader: StoreReader) -> None:
        self.app = app
        self.reader = reader

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") != "GET"
            or path.startswith("/static/")
            or path == "/favicon.ico"
        ):
            await self.app(scope, receive, send)
            return
        hx: tuple[bytes, ...] = ()
        if not path.startswith("/api/v1/"):  # a page: the htmx headers choose the partial
            hx = tuple(
                k + b"=" + v
                for k, v in scope.get("headers", ())
                if k in (b"hx-request", b"hx-boosted")
            )
        key = ("response", path, scope.get("query_string", b""), hx)
        hit = self.reader.peek(key)
        if hit is not None:
            start, body = hit
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        parts: list[Any] = []

        async def capture(message: Any) -> None:
            parts.append(message)
            await send(message)

        await self.app(scope, receive, capture)
        # (a template response under a test client sends an ``http.response.debug`` first)
        starts = [m for m in parts if m.get("type") == "http.response.start"]
        bodies = [m for m in parts if m.get("type") == "http.response.body"]
        no_store = any(
            k == b"cache-control" and b"no-store" in v for k, v in starts[0].get("headers", ())
        ) if starts else True  # fmt: skip
        if starts and starts[0].get("status") == 200 and bodies and not no_store:
            body = b"".join(m.get("body", b"") for m in bodies)
            if not bodies[-1].get("more_body"):
                self.reader.cached(key, lambda: (starts[0], body))


class _DropEmptyParams:
    """ASGI middleware: drop empty query parameters (``?label=`` from an "all" option of a
    form) so that they mean "not given" rather than an invalid value."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            kept = [(k, v) for k, v in pairs if v != ""]
            if len(kept) != len(pairs):
                scope = {**scope, "query_string": urlencode(kept).encode("latin-1")}
        await self.app(scope, receive, send)


def _pending(ctx: dict[str, Any]) -> bool:
    """Whether a page shows a daily report with a section still being measured."""
    return any(
        isinstance(ctx.get(k), dict) and bool(ctx[k].get("pending")) for k in ("daily", "report")
    )


def _figures_json(charts: dict[str, Any]) -> dict[str, str]:
    """Every figure serialised once (the ``data-figure`` JSON text), so that a cached page
    data set is not encoded again on every render."""
    return {k: json.dumps(_jsonable(v), allow_nan=False) for k, v in charts.items()}


def _merge_qs(query: dict[str, Any], updates: dict[str, Any]) -> str:
    """``query`` with ``updates`` applied, URL-encoded (empty values dropped)."""
    merged = {**query, **updates}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _fmt(v: Any, fmt: str = "str") -> str:
    """Display text of one value (the raw value stays in the API)."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    try:
        if fmt == "ts":
            return str(v)[:19].replace("T", " ")
        if fmt == "int":
            return f"{float(v):,.0f}"
        if fmt == "num":
            return f"{float(v):,.2f}"
        if fmt == "pct":
            return f"{float(v):.2f}%"
        if fmt == "frac":
            return f"{float(v) * 100:.2f}%"
        if fmt in ("usd", "big"):
            x = float(v)
            a = abs(x)
            for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
                if a >= div:
                    s = f"{x / div:,.2f}{suf}"
                    break
            else:
                s = f"{x:,.0f}"
            return ("$" + s if x >= 0 else "-$" + s[1:]) if fmt == "usd" else s
    except (TypeError, ValueError):
        pass
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)
