"""The registry of the catalog: event type to model, topic and version; the discriminated union."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from supportops_events import billing, escalation, onboarding, tickets
from supportops_events.base import Event
from supportops_events.errors import EventDecodeError, UnknownEventType
from supportops_events.topics import ALL_TOPICS, dlq_topic

# Dotted, lowercase words: `invoice.paid`, `billing.followup_required`.
EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")

DISCRIMINATOR_KEY = "event_type"
"""The key naming the event type when a plain mapping is validated against the union.

Event data on the wire does not carry its type (the CloudEvents ``type`` attribute
does); ``EventRegistry.parse`` adds this key, and models ignore it as an unknown field.
"""


def _event_type_of(value: Any) -> str | None:
    if isinstance(value, Event):
        return type(value).event_type
    if isinstance(value, Mapping):
        event_type = value.get(DISCRIMINATOR_KEY)
        return event_type if isinstance(event_type, str) else None
    return None


class EventRegistry:
    """Event types of one catalog, with their model, topic and data version."""

    def __init__(self, models: Iterable[type[Event]]) -> None:
        self._models: dict[str, type[Event]] = {}
        for model in models:
            if not model.is_concrete():
                raise ValueError(f"{model.__name__} is a base class, not an event type")
            event_type = model.event_type
            if not EVENT_TYPE_PATTERN.match(event_type):
                raise ValueError(f"{event_type!r} is not a dotted lowercase event type")
            if event_type in self._models:
                raise ValueError(f"event type {event_type!r} is registered twice")
            if model.version < 1:
                raise ValueError(f"{event_type!r} has version {model.version}, must be >= 1")
            self._models[event_type] = model

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._models

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def model_for(self, event_type: str) -> type[Event]:
        """The model of ``event_type``; raises ``UnknownEventType`` if it is not registered."""
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def topic_for(self, event_type: str) -> str:
        return self.model_for(event_type).topic

    def version_for(self, event_type: str) -> int:
        return self.model_for(event_type).version

    def event_types(self) -> list[str]:
        """Every registered event type, sorted."""
        return sorted(self._models)

    def models(self) -> list[type[Event]]:
        """Every registered model, sorted by event type."""
        return [self._models[event_type] for event_type in self.event_types()]

    def topics(self) -> list[str]:
        """Every topic events of this registry are published to (dead-letter topics aside)."""
        used = {model.topic for model in self._models.values()}
        known = [topic for topic in ALL_TOPICS if topic in used]
        return known + sorted(used - set(known))

    def event_types_on(self, topic: str) -> list[str]:
        """The event types published to ``topic``, sorted."""
        return [
            event_type for event_type in self.event_types() if self.topic_for(event_type) == topic
        ]

    @staticmethod
    def dlq_topic(group: str) -> str:
        """The dead-letter topic of consumer group ``group``: ``<group>.dlq``."""
        return dlq_topic(group)

    @staticmethod
    def partition_key(event: Event) -> bytes:
        """The Kafka key of ``event``: its tenant id, UTF-8."""
        return event.tenant_id.encode()

    @cached_property
    def union(self) -> Any:
        """``Annotated[Union[...], Discriminator]`` over every model, tagged by event type.

        Usable as a field annotation or with ``TypeAdapter``; an ``Event`` instance picks
        its own model (so it serialises with all its fields), a mapping picks the model
        named by its ``event_type`` key.
        """
        tagged = tuple(Annotated[model, Tag(model.event_type)] for model in self.models())
        if not tagged:
            raise ValueError("an empty registry has no union")
        return Annotated[Union[tagged], Discriminator(_event_type_of)]  # noqa: UP007

    @cached_property
    def adapter(self) -> TypeAdapter[Event]:
        """A ``TypeAdapter`` of ``union``: validates and serialises any registered event."""
        return TypeAdapter(self.union)

    def parse_json_valid(self, event_type: str, raw: bytes | str) -> Event | None:
        """The event of ``event_type`` in the JSON document ``raw`` when it is a valid
        one, else ``None`` (then ``parse`` of the decoded JSON says what is wrong).

        pydantic reads the JSON itself: about a third of the cost of ``json.loads`` and
        ``parse``, on every consumed event. The result is the same model ``parse`` gives
        (unknown fields ignored; no model of the catalog is strict).
        """
        model = self._models.get(event_type)
        if model is None:
            return None
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            return None

    def parse(self, event_type: str, data: Mapping[str, Any]) -> Event:
        """Validate ``data`` (decoded JSON) as an event of ``event_type``.

        Raises ``UnknownEventType`` for an unregistered type and ``EventDecodeError`` when
        ``data`` is not a valid instance of the model. Unknown fields are ignored.
        """
        if event_type not in self._models:
            raise UnknownEventType(event_type)
        if not isinstance(data, Mapping):
            raise EventDecodeError(f"{event_type} data must be a JSON object")
        try:
            return self.adapter.validate_python({**data, DISCRIMINATOR_KEY: event_type})
        except ValidationError as error:
            raise EventDecodeError(f"invalid {event_type} data: {error}") from error


ALL_EVENTS: tuple[type[Event], ...] = (
    tickets.EVENTS + onboarding.EVENTS + billing.EVENTS + escalation.EVENTS
)
"""Every event type of the catalog, grouped by producing service."""

registry = EventRegistry(ALL_EVENTS)
"""The supportops catalog."""
