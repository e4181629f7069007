"""The kit's request path stays lean: plain ASGI middleware, no dependency that FastAPI
would run in a worker thread, probes that cost no more than a bare FastAPI route, and
the correlation id, per-route metrics and the caller's trace context still on every
request."""

from __future__ import annotations

import cProfile
import pstats
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from kitapp import KitSettings, definition
from prometheus_client.parser import text_string_to_metric_families
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import Receive, Scope, Send

from servicekit import middleware
from servicekit.app import create_service_app
from servicekit.middleware import CORRELATION_HEADER
from servicekit.telemetry import current_trace_id
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


async def test_a_fresh_correlation_id_is_a_random_uuid4(client: Any) -> None:
    made = [(await client.get("/healthz")).headers[CORRELATION_HEADER] for _ in range(50)]
    parsed = [uuid.UUID(value) for value in made]
    assert [str(u) for u in parsed] == made  # the usual lower-case, dashed form
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert len(set(made)) == len(made)


def _metric_samples(text: str, name: str, route: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(name) and sample.labels.get("route") == route
        if sample.labels.get("status", "200") == "200" and "le" not in sample.labels
    }


async def test_probe_requests_are_counted_under_their_route(client: Any) -> None:
    before = (await client.get("/metrics")).text
    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    after = (await client.get("/metrics")).text
    for name in ("http_requests_total", "http_request_duration_seconds_count"):
        counted = _metric_samples(after, name, "/healthz").get(name, 0.0)
        assert counted - _metric_samples(before, name, "/healthz").get(name, 0.0) == 3, name


async def test_the_callers_trace_context_reaches_the_endpoint_without_an_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no spans recorded (no exporter), yet an event published while handling the request
    # must carry the caller's trace: the context is attached as it came
    monkeypatch.setattr(middleware, "tracing_exported", lambda: False)
    app = create_service_app(definition(KitSettings(environment="test")))
    seen: list[str | None] = []

    async def where_am_i() -> dict[str, str]:
        seen.append(current_trace_id())
        return {}

    app.add_api_route("/v1/where", where_am_i, methods=["GET"])
    trace_id = uuid.uuid4().hex
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        traced = await client.get(
            "/v1/where", headers={"traceparent": f"00-{trace_id}-{'b7' * 8}-01"}
        )
        untraced = await client.get("/v1/where")
    assert traced.status_code == untraced.status_code == 200
    assert seen[0] == trace_id
    assert seen[1] != trace_id


class _Profiled:
    """Profiles the app's own work on each request (not the test client's)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.profile: cProfile.Profile | None = None
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.profile is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests += 1
        self.profile.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            self.profile.disable()


async def _calls_per_request(app: Any, path: str, requests: int = 20) -> float:
    profiled = _Profiled(app)
    transport = httpx.ASGITransport(app=profiled)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        for _ in range(3):  # first requests build the middleware stack and caches
            (await client.get(path)).raise_for_status()
        profiled.profile = cProfile.Profile()
        for _ in range(requests):
            (await client.get(path)).raise_for_status()
    calls: int = pstats.Stats(profiled.profile).total_calls  # type: ignore[attr-defined]
    return calls / profiled.requests


def _bare_fastapi() -> FastAPI:
    # telemetry off: this test process exports spans (conftest), which would make the
    # baseline record a span per request, where the kit records none for its probes
    bare = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @bare.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return bare


async def test_a_probe_costs_no_more_python_calls_than_a_bare_fastapi_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kubelet probes every few seconds: the kit's /healthz (correlation id, metrics,
    CORS, the query check) stays within 1.15x the function calls of a bare FastAPI app's
    ``@app.get("/healthz")`` - deterministic, unlike CPU time (benchmarks.request_calls
    counts the same way). It was 1.45x while the probes were an included router (FastAPI
    0.165 matches those twice per request, see ``servicekit.app.add_probe_routes``) and
    every request without ``Origin`` went through Starlette's CORS middleware."""
    # both apps as they run without a span exporter (this test process has one)
    monkeypatch.setattr(middleware, "tracing_exported", lambda: False)
    bare = await _calls_per_request(_bare_fastapi(), "/healthz")
    kit_app = create_service_app(definition(KitSettings(environment="test")))
    kit = await _calls_per_request(kit_app, "/healthz")
    assert kit <= 1.15 * bare, (kit, bare)
