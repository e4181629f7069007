"""The errors raised when an event cannot be turned into a typed envelope."""

from __future__ import annotations


class EventError(Exception):
    """Base of every error this library raises about an event on the wire."""


class EventDecodeError(EventError, ValueError):
    """The message is malformed: missing or invalid headers, bad JSON, invalid data.

    A consumer cannot process it and retrying will not help: dead-letter it.
    """

    def __init__(self, reason: str, *, event_id: str | None = None) -> None:
        super().__init__(reason if event_id is None else f"{reason} (event id {event_id})")
        self.reason = reason
        self.event_id = event_id


class UnknownEventType(EventError, LookupError):
    """The event type is not in this version of the catalog.

    Deliberately not an ``EventDecodeError``: a newer producer may emit a type an older
    consumer does not know yet, which is normal during a rollout. Consumers usually
    skip such events (and record them as handled) rather than dead-letter them.
    """

    def __init__(self, event_type: str, *, event_id: str | None = None) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type
        self.event_id = event_id
