"""Work stored now and finished later keeps its origin's correlation and trace."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit.context import (
    EventContext,
    capture_context,
    current_event_context,
    resume_context,
)
from servicekit.telemetry import current_trace_id, tracer


def test_resumed_work_keeps_correlation_causation_and_trace(
    tracing: InMemorySpanExporter,
) -> None:
    token = current_event_context.set(EventContext(correlation_id="corr-1", causation_id="evt-9"))
    try:
        with tracer("test").start_as_current_span("request"):
            origin_trace = current_trace_id()
            stored = capture_context()
    finally:
        current_event_context.reset(token)
    assert stored["correlation_id"] == "corr-1" and stored["causation_id"] == "evt-9"
    assert stored["traceparent"].split("-")[1] == origin_trace

    # later, in a worker with no context of its own
    assert current_event_context.get() == EventContext()
    with resume_context(stored, "worker.finish"):
        assert current_event_context.get() == EventContext("corr-1", "evt-9")
        assert current_trace_id() == origin_trace
    assert current_event_context.get() == EventContext()
    (finished,) = [s for s in tracing.get_finished_spans() if s.name == "worker.finish"]
    assert format(finished.context.trace_id, "032x") == origin_trace
    assert finished.parent is not None


def test_resuming_nothing_starts_a_fresh_trace_without_correlation() -> None:
    with resume_context(None, "worker.orphan"):
        assert current_event_context.get() == EventContext()
        assert current_trace_id() is not None
