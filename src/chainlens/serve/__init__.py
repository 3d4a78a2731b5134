"""chainlens.serve: the local dashboard (``chainlens serve``) and its versioned JSON API.

* :func:`create_app` ``(store) -> FastAPI``: server-rendered pages (Jinja2, htmx partials,
  Plotly charts from the vendored ``static/plotly.min.js``) and ``/api/v1/...`` JSON with an
  OpenAPI document at ``/api/v1/openapi.json``; every table also as CSV (``format=csv``).
* :class:`StoreReader`: read-only, cached access to a store's stored results (public store,
  pipeline and report functions only).

See docs/serve.md for the views, the URLs and the security model.
"""

from __future__ import annotations

from chainlens.serve._app import API_VERSION, CSP, create_app
from chainlens.serve._data import StoreReader, result_sessions

__all__ = ["API_VERSION", "CSP", "StoreReader", "create_app", "result_sessions"]
