"""Correlation of events: which request or event caused the work being done now."""

from __future__ import annotations

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
