"""Event handlers of the onboarding-service: decode an event, call a service function."""

from __future__ import annotations

from servicekit.consumer import EventRouter

events = EventRouter()
