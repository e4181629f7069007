"""OpenTelemetry setup, trace-context helpers for the outbox, and JSON logs with trace ids."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from servicekit.context import current_event_context

_configured = False
_exported = False


def setup_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
) -> None:
    """Install a tracer provider once per process; export over OTLP when configured."""
    global _configured, _exported
    if _configured:
        current = trace.get_tracer_provider()
        if exporter is not None and isinstance(current, TracerProvider):
            current.add_span_processor(SimpleSpanProcessor(exporter))
            _exported = True
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:  # tests: export synchronously so spans are there at once
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True
    _exported = exporter is not None or bool(otlp_endpoint)


def tracing_exported() -> bool:
    """Whether spans go anywhere. Without an exporter, recording spans (one per request,
    one per SQL statement) is pure cost: the HTTP layer then only carries the caller's
    trace context through, and SQL is not instrumented at all."""
    return _exported


def tracer(name: str = "supportops") -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_carrier() -> dict[str, str]:
    """The current span's context as W3C headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_carrier(carrier: dict[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, carrying the trace and span ids of the current span."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service_name,
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        # the request's (or the handled event's) correlation id: the one a caller got in
        # ``X-Correlation-Id``, whether or not the request was traced
        correlation = current_event_context.get().correlation_id
        if correlation is not None:
            entry["correlation_id"] = correlation
        for key in ("event_id", "event_type", "topic", "tenant_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(service_name: str, *, level: str = "INFO", json_logs: bool = True) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service_name))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
