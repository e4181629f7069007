"""Kafka topic names: one events topic per producing service, commands and dead letters."""

from __future__ import annotations

import re
from typing import Final

TICKETS_EVENTS: Final = "tickets.events"
BILLING_EVENTS: Final = "billing.events"
ONBOARDING_EVENTS: Final = "onboarding.events"
ESCALATION_EVENTS: Final = "escalation.events"
ONBOARDING_COMMANDS: Final = "onboarding.commands"

ALL_TOPICS: Final[tuple[str, ...]] = (
    TICKETS_EVENTS,
    BILLING_EVENTS,
    ONBOARDING_EVENTS,
    ESCALATION_EVENTS,
    ONBOARDING_COMMANDS,
)
"""Every topic the catalog publishes to (dead-letter topics depend on consumer groups)."""

# Kafka's own rule for topic names (and so for the group part of a dead-letter topic).
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def commands_topic(owner: str) -> str:
    """The topic carrying commands that other services ask of ``owner`` (e.g. ``onboarding``)."""
    return _checked(f"{owner}.commands")


def dlq_topic(group: str) -> str:
    """The dead-letter topic of consumer group ``group``: ``<group>.dlq``."""
    if not group:
        raise ValueError("consumer group must not be empty")
    return _checked(f"{group}.dlq")


def _checked(topic: str) -> str:
    if not _TOPIC_NAME.match(topic):
        raise ValueError(f"{topic!r} is not a valid Kafka topic name")
    return topic
