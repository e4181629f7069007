"""The kit's request path stays lean: plain ASGI middleware, no dependency that FastAPI
would run in a worker thread, and the correlation id still on every response."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware

from servicekit.middleware import CORRELATION_HEADER
from servicekit.testing import sync_dependencies


def test_no_base_http_middleware(app: FastAPI) -> None:
    classes = [m.cls for m in app.user_middleware]
    assert classes, "the kit installs its middleware"
    assert not any(isinstance(c, type) and issubclass(c, BaseHTTPMiddleware) for c in classes), (
        classes
    )


def test_no_dependency_runs_in_a_thread(app: FastAPI) -> None:
    assert sync_dependencies(app) == []


async def test_correlation_id_and_allow_header_still_set(client: Any) -> None:
    resp = await client.get("/healthz", headers={CORRELATION_HEADER: "corr-1"})
    assert resp.status_code == 200
    assert resp.headers[CORRELATION_HEADER] == "corr-1"
    generated = await client.get("/healthz")
    assert generated.headers[CORRELATION_HEADER]
