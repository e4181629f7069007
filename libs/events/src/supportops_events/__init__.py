"""supportops event contract: every Kafka event as a versioned pydantic model.

The envelope (CloudEvents 1.0 in Kafka binary mode), one module per producing service
(``tickets``, ``billing``, ``onboarding``, ``escalation``), the registry of event types
and topics, and the JSON Schema / AsyncAPI export. Depends on pydantic only.
"""

from supportops_events.base import Currency, Event, MinorUnits, Payload
from supportops_events.catalog import ALL_EVENTS, EventRegistry, registry
from supportops_events.envelope import Envelope, Headers, KafkaRecord
from supportops_events.errors import EventDecodeError, EventError, UnknownEventType
from supportops_events.topics import (
    ALL_TOPICS,
    BILLING_EVENTS,
    ESCALATION_EVENTS,
    ONBOARDING_COMMANDS,
    ONBOARDING_EVENTS,
    TICKETS_EVENTS,
    commands_topic,
    dlq_topic,
)

__all__ = [
    "ALL_EVENTS",
    "ALL_TOPICS",
    "BILLING_EVENTS",
    "ESCALATION_EVENTS",
    "ONBOARDING_COMMANDS",
    "ONBOARDING_EVENTS",
    "TICKETS_EVENTS",
    "Currency",
    "Envelope",
    "Event",
    "EventDecodeError",
    "EventError",
    "EventRegistry",
    "Headers",
    "KafkaRecord",
    "MinorUnits",
    "Payload",
    "UnknownEventType",
    "commands_topic",
    "dlq_topic",
    "registry",
]
