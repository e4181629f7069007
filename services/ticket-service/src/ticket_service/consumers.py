"""Event handlers of the ticket-service: decode an event, call a service function."""

from __future__ import annotations

from servicekit.consumer import EventRouter

events = EventRouter()
