"""The kit's HTTP middleware, as plain ASGI: correlation ids, Prometheus metrics, the
405s that name every method, and the caller's trace context when no span is recorded.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs the app in a separate task and streams the response through memory channels,
which was half of the CPU of a ``/healthz``. Server spans are FastAPI's own native
telemetry (``telemetry_config``), the one tracing layer: the OpenTelemetry contrib
instrumentation used to add a second one on every request.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import EventContext, current_event_context
from servicekit.errors import problem_body, problem_response
from servicekit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from servicekit.telemetry import tracing_exported

CORRELATION_HEADER = "X-Correlation-Id"
HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"})
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_CORRELATION_KEY = CORRELATION_HEADER.lower().encode()


class ResourceMethods:
    """Which methods each documented resource supports, read from the OpenAPI paths the
    way OpenAPI reads them: a concrete path (``/v1/rules/dry-run``) wins over a templated
    sibling (``/v1/rules/{rule_id}``) that would also match the URL."""

    def __init__(self, paths: dict[str, Any]) -> None:
        self.concrete: dict[str, set[str]] = {}
        self.templated: list[tuple[re.Pattern[str], set[str]]] = []
        for path, item in paths.items():
            methods = {m.upper() for m in item if m.upper() in HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            if "{" in path:
                pattern = "".join(
                    "[^/]+" if part.startswith("{") else re.escape(part)
                    for part in re.split(r"(\{[^/]+?\})", path)
                )
                self.templated.append((re.compile(f"^{pattern}$"), methods))
            else:
                self.concrete[path] = methods

    def allowed(self, path: str) -> set[str] | None:
        if path in self.concrete:
            return self.concrete[path]
        found = [methods for pattern, methods in self.templated if pattern.match(path)]
        return set().union(*found) if found else None


def resource_methods(app: Any) -> ResourceMethods:
    table: ResourceMethods | None = getattr(app.state, "resource_methods", None)
    if table is None:
        table = ResourceMethods(app.openapi().get("paths", {}))
        app.state.resource_methods = table
    return table


def telemetry_config() -> dict[str, Any]:
    """FastAPI's native telemetry, configured as the kit wants it: server spans only
    when spans are exported (a recorded span nobody reads is pure cost), none for the
    probes; no per-operation spans (dependencies, endpoint, serialization: three more
    spans per request); metrics stay Prometheus (``servicekit.metrics``)."""
    return {
        "tracing": tracing_exported(),
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "exclude": lambda scope: scope.get("path") in UNTRACED_PATHS,
    }


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ServiceHttpMiddleware:
    """Wraps the whole app (``app.add_middleware(ServiceHttpMiddleware, service=…)``)."""

    def __init__(self, app: ASGIApp, *, service: str, fastapi_app: Any) -> None:
        self.app = app
        self.service = service
        self.fastapi_app = fastapi_app
        self._metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._methods: ResourceMethods | None = None
        # the headers the configured propagators read (W3C trace context and baggage by
        # default), as ASGI names them: lower-case bytes
        self._propagated = frozenset(
            name.lower().encode("latin-1") for name in propagate.get_global_textmap().fields
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _header(scope, _CORRELATION_KEY) or str(uuid.uuid4())
        correlation_value = correlation_id.encode("latin-1")
        method: str = scope["method"]
        path: str = scope["path"]
        status = 500
        started = time.perf_counter()
        waited: float | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status, waited
            if message["type"] == "http.response.start":
                status = message["status"]
                # the raw header list, walked once: ``MutableHeaders`` costs a dozen calls
                # per response for one lookup and one header added (ASGI names are
                # lower-case bytes, so plain comparisons are what it does)
                raw = list(message.get("headers", ()))
                replaced = False
                for key, value in raw:
                    if key == b"content-type":
                        if value.startswith(b"text/event-stream"):
                            # an event stream lasts as long as the browser stays: its
                            # latency is the wait for the response to start, or it would
                            # swamp the histogram (and the latency alert) with hours
                            waited = time.perf_counter() - started
                    elif key == _CORRELATION_KEY:
                        replaced = True
                if replaced:
                    raw = [item for item in raw if item[0] != _CORRELATION_KEY]
                raw.append((_CORRELATION_KEY, correlation_value))
                message["headers"] = raw
                if status == 405:
                    # Starlette's 405 names only the methods of the one route it tried
                    methods = self._resource_methods().allowed(path)
                    if methods:
                        MutableHeaders(scope=message)["Allow"] = ", ".join(sorted(methods))
            await send(message)

        event_token = current_event_context.set(EventContext(correlation_id=correlation_id))
        try:
            refused = self._method_not_allowed(method, path)
            if refused is not None:
                await refused(scope, receive, send_with_headers)
            elif tracing_exported() or path in UNTRACED_PATHS:
                # FastAPI's own telemetry makes the server span (see ``telemetry_config``)
                await self.app(scope, receive, send_with_headers)
            elif self._propagated.isdisjoint(dict(scope["headers"])):
                # no trace context came with the request: nothing to attach (extracting
                # from headers without one yields the current context, a no-op)
                await self.app(scope, receive, send_with_headers)
            else:
                # Nothing records spans, but the caller's trace context must still reach
                # the outbox (``traceparent`` on our events), so attach it as it came.
                carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                ctx_token = otel_context.attach(propagate.extract(carrier))
                try:
                    await self.app(scope, receive, send_with_headers)
                finally:
                    otel_context.detach(ctx_token)
        finally:
            current_event_context.reset(event_token)
            route_path = getattr(scope.get("route"), "path", "unmatched")
            counter, latency = self._children(method, route_path, status)
            counter.inc()
            latency.observe(waited if waited is not None else time.perf_counter() - started)

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The metric children of one route and status, looked up once: ``labels()``
        takes a lock and builds a key on every call."""
        key = (method, route, status)
        found = self._metric_children.get(key)
        if found is None:
            found = (
                HTTP_REQUESTS.labels(self.service, method, route, status),
                HTTP_LATENCY.labels(self.service, method, route),
            )
            self._metric_children[key] = found
        return found

    def _resource_methods(self) -> ResourceMethods:
        """The app's table, kept here once built: reading it from ``app.state`` on every
        request goes through ``State.__getattr__``."""
        table = self._methods
        if table is None:
            table = self._methods = resource_methods(self.fastapi_app)
        return table

    def _method_not_allowed(self, method: str, path: str) -> ASGIApp | None:
        """A 405 for a method a concrete path does not support, even where a templated
        sibling would take the URL (``PATCH /v1/rules/dry-run`` is not ``/v1/rules/{id}``)."""
        methods = self._resource_methods().concrete.get(path)
        if methods is None or method in methods:
            return None
        return problem_response(
            problem_body(
                status=405,
                code="method-not-allowed",
                title="Method not allowed",
                instance=path,
            ),
            {"Allow": ", ".join(sorted(methods))},
        )
