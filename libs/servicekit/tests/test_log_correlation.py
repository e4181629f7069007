"""The log line of a failed request carries the request's correlation id, the one the
caller got in ``X-Correlation-Id``: a customer quoting it leads an operator to the line
(the trace id is there only when the request was traced)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import kitapp
import pytest
from asgi_lifespan import LifespanManager

from servicekit.app import create_service_app
from servicekit.telemetry import JsonFormatter
from servicekit.testing import auth


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What ``servicekit.errors`` logs, formatted as the services log it (JSON lines),
    formatted when logged (inside the request), as a handler of the process does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("kit-test"))
    logger = logging.getLogger("servicekit.errors")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_a_failed_request_s_log_line_names_its_correlation_id(
    settings: kitapp.KitSettings, json_lines: io.StringIO
) -> None:
    gone = kitapp.without_database(settings)
    app = create_service_app(kitapp.definition(gone))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            unavailable = await client.get(
                "/v1/items", headers={**auth("agent"), "X-Correlation-Id": "c-503"}
            )
            bug = await client.get("/v1/boom", headers=auth("agent"))
    assert unavailable.status_code == 503 and bug.status_code == 500
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    by_level = {line["level"]: line for line in lines}
    assert by_level["warning"]["correlation_id"] == "c-503"
    assert "exception" not in by_level["warning"]  # the database away is not a bug
    # without the header the service made one up, and answered it
    assert by_level["error"]["correlation_id"] == bug.headers["X-Correlation-Id"]
    assert "Traceback" in by_level["error"]["exception"]
    assert "hunter2" not in bug.text  # the traceback is in the log, never in the answer
