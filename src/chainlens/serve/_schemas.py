"""The response schemas of ``/api/v1`` as declared in the OpenAPI document.

The endpoints build their JSON from the stored results (:mod:`chainlens.serve._views`) and
return it as is; these models only *declare* its shape (every key a client can rely on; more
keys may follow, ``additionalProperties`` is open), the errors' shape, and the CSV alternative
of the table endpoints, so that a client or an API fuzzer (schemathesis, in
tests/test_serve_schemathesis.py) can check every response against the document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ERRORS", "csv_alternative", "ok"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Column(_Open):
    """One table column: record key, header label, display format."""

    key: str
    label: str
    fmt: str


class Table(_Open):
    """A table of records (one object per row, keyed by the columns' ``key``)."""

    id: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]


class Sessions(_Open):
    """Sessions with pipeline results, ascending ISO dates."""

    api_version: str
    sessions: list[str]


class SessionTable(_Open):
    """A view of one session: the session, every stored session, one table."""

    session: str
    sessions: list[str]
    table: Table


class Flow(SessionTable):
    """Notable prints: ``total`` rows matched (the table holds the first ``limit``)."""

    total: int
    tickers: list[str]
    bands: list[str]


class Scan(SessionTable):
    """One scanner's rows."""

    kind: str


class Levels(_Open):
    """Level history of one ticker."""

    ticker: str
    table: Table


class Ticker(_Open):
    """Every panel of a ticker page."""

    ticker: str
    session: str
    sessions: list[str]
    filter: dict[str, Any]
    expiries: list[str]
    summary: dict[str, Any]
    tables: dict[str, Table]


class Status(_Open):
    """Store status tables."""

    root: str
    tables: dict[str, Table]


class Report(_Open):
    """A report document (the report JSON of chainlens.report)."""

    kind: str
    title: str
    sections: list[dict[str, Any]]
    links: dict[str, Any]


class ApiError(BaseModel):
    """Every error response: a message and, for invalid parameters, one ``{param, reason}``
    per parameter (or a hint)."""

    error: str
    detail: Any = None


#: Error responses every API operation may give.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError, "description": "The request cannot be served (store error)"},
    404: {"model": ApiError, "description": "No such session, ticker or results"},
    422: {"model": ApiError, "description": "Invalid parameter: `detail` names it and why"},
    500: {"model": ApiError, "description": "Internal error (never a stack trace)"},
    503: {"model": ApiError, "description": "The store is held by a writer; retry"},
}


def ok(model: type[BaseModel], *, csv: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of one operation: its 200 model (and CSV), plus :data:`ERRORS`."""
    out: dict[str, Any] = {"model": model, "description": "Successful Response"}
    if csv:
        out["content"] = csv_alternative()
    return {200: out, **ERRORS}


def csv_alternative() -> dict[str, Any]:
    """The ``text/csv`` content of a table endpoint (``format=csv``)."""
    return {"text/csv": {"schema": {"type": "string"}}}
