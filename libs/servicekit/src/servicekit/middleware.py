"""The kit's HTTP middleware, as plain ASGI: correlation ids, Prometheus metrics, the
405s that name every method, CORS for requests with an ``Origin``, and the caller's
trace context when no span is recorded.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs the app in a separate task and streams the response through memory channels,
which was half of the CPU of a ``/healthz``. Server spans are FastAPI's own native
telemetry (``telemetry_config``), the one tracing layer: the OpenTelemetry contrib
instrumentation used to add a second one on every request.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import EventContext, current_event_context
from servicekit.cors import cors_layer
from servicekit.errors import problem_body, problem_response, unhandled_problem
from servicekit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from servicekit.telemetry import tracing_exported

CORRELATION_HEADER = "X-Correlation-Id"
HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"})
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_CORRELATION_KEY = CORRELATION_HEADER.lower().encode()
_SERVER_TIMING_KEY = b"server-timing"


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


_ORIGIN_KEY = b"origin"
_VARY_KEY = b"vary"
_HEX_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""RFC 9562's variant bits (``10xx``) over a random hex digit: a UUID 4 from 16 random
bytes with slices and two lookups, where ``str(uuid.uuid4())`` is half a dozen calls."""


def new_correlation_id() -> str:
    """A random UUID 4 in its usual form (what ``str(uuid.uuid4())`` gives)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_HEX_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class ServiceHttpMiddleware:
    """Wraps the whole app (``app.add_middleware(ServiceHttpMiddleware, service=…)``).

    CORS lives here too (``servicekit.cors``): a request with an ``Origin`` header goes
    through Starlette's ``CORSMiddleware`` first (a preflight is answered there, before
    the 405 rule or anything else sees it, as when CORS was the outermost middleware); a
    request without one, which is every probe, scrape and server-to-server call, skips
    it: all it would add is ``Vary: Origin``, which the response gets here."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        fastapi_app: Any,
        cors_origins: Sequence[str] = (),
    ) -> None:
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
        self.cors: ASGIApp | None = cors_layer(self._behind_cors, cors_origins)

    async def _behind_cors(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self(scope, receive, send, through_cors=True)

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, through_cors: bool = False
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        cpu_started = time.process_time()
        # the request's headers walked once for all the kit reads (ASGI names are
        # lower-case bytes): ``Headers`` costs a dozen calls per request for three lookups
        correlation: bytes | None = None
        has_origin = traced = False
        for key, value in scope["headers"]:
            if key == _CORRELATION_KEY:
                if correlation is None:
                    correlation = value
            elif key == _ORIGIN_KEY:
                has_origin = True
            elif key in self._propagated:
                traced = True
        vary_origin = False
        if self.cors is not None and not through_cors:
            if has_origin:
                await self.cors(scope, receive, send)  # back here with through_cors=True
                return
            vary_origin = True  # what CORSMiddleware adds to a response without Origin
        if correlation is None:
            correlation_id = new_correlation_id()
            correlation_value = correlation_id.encode("latin-1")
        else:
            correlation_id = correlation.decode("latin-1")
            correlation_value = correlation
        method: str = scope["method"]
        path: str = scope["path"]
        status = 0  # no response started yet
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
                vary: list[bytes] | None = None
                for key, value in raw:
                    if key == b"content-type":
                        if value.startswith(b"text/event-stream"):
                            # an event stream lasts as long as the browser stays: its
                            # latency is the wait for the response to start, or it would
                            # swamp the histogram (and the latency alert) with hours
                            waited = time.perf_counter() - started
                    elif key == _CORRELATION_KEY:
                        replaced = True
                    elif key == _VARY_KEY and vary_origin:
                        if vary is None:
                            vary = []
                        vary.append(value)
                if replaced or vary is not None:
                    drop = {_CORRELATION_KEY, _VARY_KEY} if vary is not None else {_CORRELATION_KEY}
                    raw = [item for item in raw if item[0] not in drop]
                raw.append((_CORRELATION_KEY, correlation_value))
                # how long the app took to start its answer, and how much CPU the process
                # used meanwhile (the rest: waiting for PostgreSQL, or for a core), for the
                # browser's devtools and the scale benchmark, which tells the service's
                # share of a slow request from the network's; two clock reads, one format
                raw.append(
                    (
                        _SERVER_TIMING_KEY,
                        b"app;dur=%.1f, cpu;dur=%.1f"
                        % (
                            (time.perf_counter() - started) * 1000,
                            (time.process_time() - cpu_started) * 1000,
                        ),
                    )
                )
                if vary_origin:
                    # as CORSMiddleware does it: one Vary, the response's own values first
                    raw.append((_VARY_KEY, b", ".join([*(vary or ()), b"Origin"])))
                message["headers"] = raw
                if status == 405:
                    # Starlette's 405 names only the methods of the one route it tried
                    methods = self._resource_methods().allowed(path)
                    if methods:
                        MutableHeaders(scope=message)["Allow"] = ", ".join(sorted(methods))
            await send(message)

        event_token = current_event_context.set(EventContext(correlation_id=correlation_id))
        try:
            methods = (self._methods or self._resource_methods()).concrete.get(path)
            if methods is not None and method not in methods:
                await self._method_not_allowed(path, methods)(scope, receive, send_with_headers)
            elif not traced or path in UNTRACED_PATHS or tracing_exported():
                # FastAPI's own telemetry makes the server span when spans are exported
                # (see ``telemetry_config``); without a trace context in the request there
                # is nothing to attach (extracting from headers without one yields the
                # current context, a no-op)
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
        except Exception as exc:
            # What no exception handler took (Starlette hands ``Exception`` to its
            # outermost layer, outside this one): answered here, so a 503 or a 500 gets
            # CORS, the correlation id and Server-Timing like any response, and nothing
            # escapes to the server to be logged twice. Once a response has started, it
            # cannot be replaced: the error goes on to the server, which drops the
            # connection.
            if status:
                raise
            response = await unhandled_problem(Request(scope), exc)
            await response(scope, receive, send_with_headers)
        finally:
            if not status:
                status = 500
            current_event_context.reset(event_token)
            route = scope.get("route")
            key = (method, route.path if route is not None else "unmatched", status)
            children = self._metric_children.get(key) or self._children(key)
            children[0].inc()
            children[1].observe(waited if waited is not None else time.perf_counter() - started)

    def _children(self, key: tuple[str, str, int]) -> tuple[Any, Any]:
        """The metric children of one route and status, looked up once (then straight from
        ``_metric_children``): ``labels()`` takes a lock and builds a key on every call."""
        method, route, status = key
        found = self._metric_children[key] = (
            HTTP_REQUESTS.labels(self.service, method, route, status),
            HTTP_LATENCY.labels(self.service, method, route),
        )
        return found

    def _resource_methods(self) -> ResourceMethods:
        """The app's table, kept here once built: reading it from ``app.state`` on every
        request goes through ``State.__getattr__``."""
        table = self._methods
        if table is None:
            table = self._methods = resource_methods(self.fastapi_app)
        return table

    def _method_not_allowed(self, path: str, methods: set[str]) -> ASGIApp:
        """A 405 for a method a concrete path does not support, even where a templated
        sibling would take the URL (``PATCH /v1/rules/dry-run`` is not ``/v1/rules/{id}``)."""
        return problem_response(
            problem_body(
                status=405,
                code="method-not-allowed",
                title="Method not allowed",
                instance=path,
            ),
            {"Allow": ", ".join(sorted(methods))},
        )
