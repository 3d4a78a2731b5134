"""``/api/v1`` fuzzed by schemathesis from its own OpenAPI document (issue 15, "API fuzz").

Schemathesis loads the document the app serves (``/api/v1/openapi.json``), generates valid and
invalid values for every parameter of every operation from the declared schemas, calls the
application in-process over ASGI (no socket, nothing leaves the process), and runs its checks on
every response:

* ``not_a_server_error``: never a 5xx;
* ``status_code_conformance``: every status is one the document declares;
* ``content_type_conformance``: the content type is one declared for that status;
* ``response_schema_conformance``: the body validates against the declared schema (the JSON of
  every view, the errors' ``{"error", "detail"}``);
* ``response_headers_conformance``: declared headers present.

Bounded: a fixed number of examples per operation (about 30 s in all on the test store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _serve_store import serve_store

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chainlens.serve import create_app  # noqa: E402

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 15


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative", "known_ticker"])
def test_api_conforms_to_its_openapi_document(mode: str) -> None:
    """Every operation with valid (``positive``) and invalid (``negative``) parameter values;
    ``known_ticker``: the ticker operations on a stored ticker (SPY) with every other
    parameter generated, so that their 200 responses (the views' JSON and CSV) are checked
    too, not only the 404 of a random ticker."""
    from hypothesis import given
    from schemathesis import GenerationMode

    app = create_app(Path(serve_store()))
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 9  # every /api/v1 view
    gm = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    for op in ops:  # one bounded Hypothesis run per operation
        if mode == "negative" and not op.definition.raw.get("parameters"):
            continue  # nothing to make invalid (GET /api/v1/sessions)

        kw: dict[str, Any] = {}
        if mode == "known_ticker":
            if "{ticker}" not in op.path:
                continue
            kw["path_parameters"] = {"ticker": "SPY"}

        @given(case=op.as_strategy(generation_mode=gm, **kw))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
