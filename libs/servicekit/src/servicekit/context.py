"""Correlation of events: which request or event caused the work being done now."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class EventContext:
    correlation_id: str | None = None
    causation_id: str | None = None


current_event_context: ContextVar[EventContext] = ContextVar(
    "current_event_context",
    default=EventContext(),  # noqa: B039 - frozen, never mutated
)


# --- work that continues later ---------------------------------------------------------
#
# Some work is recorded now and finished by a background worker: a Stripe call made after
# the intent row committed, a webhook processed after it was acknowledged. Store
# ``capture_context()`` with the row, and run the later work inside
# ``resume_context(stored, name)``: the events it publishes keep the request's correlation
# id and its spans join the request's trace.

CORRELATION_KEY = "correlation_id"
CAUSATION_KEY = "causation_id"


def capture_context() -> dict[str, str]:
    """The current correlation, causation and W3C trace context, as a JSON-able dict."""
    from servicekit.telemetry import current_trace_carrier

    carrier = current_trace_carrier()
    event_context = current_event_context.get()
    if event_context.correlation_id:
        carrier[CORRELATION_KEY] = event_context.correlation_id
    if event_context.causation_id:
        carrier[CAUSATION_KEY] = event_context.causation_id
    return carrier


@contextmanager
def resume_context(stored: Mapping[str, str] | None, span_name: str) -> Iterator[None]:
    """Run the rest of stored work under its origin's correlation and trace (a new span
    whose parent is the stored trace context; a new trace if nothing was stored)."""
    from servicekit.telemetry import context_from_carrier, tracer

    stored = stored or {}
    token = current_event_context.set(
        EventContext(
            correlation_id=stored.get(CORRELATION_KEY), causation_id=stored.get(CAUSATION_KEY)
        )
    )
    try:
        parent = context_from_carrier({k: v for k, v in stored.items() if k.startswith("trace")})
        with tracer("servicekit.resume").start_as_current_span(span_name, context=parent):
            yield
    finally:
        current_event_context.reset(token)
