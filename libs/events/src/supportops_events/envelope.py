"""The CloudEvents 1.0 envelope and its Kafka binary-mode and JSON (outbox) forms."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from supportops_events.base import Event
from supportops_events.catalog import EventRegistry, registry
from supportops_events.errors import EventDecodeError, UnknownEventType

SPECVERSION: Final = "1.0"
DATACONTENTTYPE: Final = "application/json"

CE_PREFIX: Final = "ce_"
CONTENT_TYPE_HEADER: Final = "content-type"
TRACEPARENT_HEADER: Final = "traceparent"
TRACESTATE_HEADER: Final = "tracestate"

# CloudEvents extension attributes of the catalog (lowercase alphanumerics, as the spec wants).
TENANTID: Final = "tenantid"
CORRELATIONID: Final = "correlationid"
CAUSATIONID: Final = "causationid"
DATAVERSION: Final = "dataversion"

_REQUIRED_ATTRIBUTES: Final = ("specversion", "id", "source", "type", "time", TENANTID, DATAVERSION)

Headers = Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None]
"""Kafka headers as any client gives them: a list of (name, value) pairs or a mapping."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What a producer sends: client-neutral, so this library needs no Kafka client."""

    topic: str
    key: bytes
    """The tenant id, UTF-8: every event of one tenant goes to one partition, in order."""
    value: bytes
    """The event data as JSON (CloudEvents binary mode: the body is the data only)."""
    headers: list[tuple[str, bytes]]
    """``ce_*`` attributes, ``content-type`` and the W3C trace context."""


@dataclass(kw_only=True)
class Envelope:
    """One event with its CloudEvents attributes.

    ``traceparent`` and ``tracestate`` may be set after construction (the outbox adds
    the current trace context); everything else is fixed by ``new`` or by decoding.
    """

    id: str
    type: str
    source: str
    time: datetime
    tenant_id: str
    correlation_id: str
    data_version: int
    data: Event
    subject: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    def __post_init__(self) -> None:
        for name in ("id", "source", "correlation_id"):
            if not getattr(self, name):
                raise ValueError(f"envelope {name} must not be empty")
        if self.type != type(self.data).event_type:
            raise ValueError(
                f"envelope type {self.type!r} does not match data of {type(self.data).event_type!r}"
            )
        if self.tenant_id != self.data.tenant_id:
            raise ValueError(
                f"envelope tenant {self.tenant_id!r} does not match data tenant "
                f"{self.data.tenant_id!r}"
            )
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("envelope time must be timezone-aware")
        if self.data_version < 1:
            raise ValueError(f"envelope data_version must be >= 1, got {self.data_version}")

    @classmethod
    def new(
        cls,
        event: Event,
        *,
        source: str,
        subject: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
        traceparent: str | None = None,
        tracestate: str | None = None,
        caused_by: Envelope | None = None,
    ) -> Envelope:
        """Wrap ``event`` for publishing.

        ``subject`` defaults to the event's main id (e.g. the invoice id); ``event_id``
        to a new UUID; ``time`` to now. ``caused_by`` is the envelope being handled when
        this event is emitted: its correlation id is kept and its id becomes the
        causation id, unless given explicitly. With neither, the event starts a new
        correlation: ``correlation_id`` defaults to the event's own id.
        """
        model = type(event)
        if not model.is_concrete():
            raise TypeError(f"{model.__name__} is a base class, not an event type")
        if registry.model_for(model.event_type) is not model:
            raise TypeError(f"{model.__name__} is not the registered model of {model.event_type}")
        if time is not None and (time.tzinfo is None or time.utcoffset() is None):
            raise ValueError("time must be timezone-aware")
        event_id = event_id or str(uuid.uuid4())
        if caused_by is not None:
            correlation_id = correlation_id or caused_by.correlation_id
            causation_id = causation_id or caused_by.id
        return cls(
            id=event_id,
            type=model.event_type,
            source=source,
            subject=subject or event.default_subject(),
            time=(time or datetime.now(UTC)).astimezone(UTC),
            tenant_id=event.tenant_id,
            correlation_id=correlation_id or event_id,
            causation_id=causation_id,
            data_version=model.version,
            data=event,
            traceparent=traceparent,
            tracestate=tracestate,
        )

    @property
    def topic(self) -> str:
        return type(self.data).topic

    @property
    def key(self) -> bytes:
        return self.tenant_id.encode()

    def attributes(self) -> dict[str, str]:
        """The CloudEvents context attributes (extensions included) as strings."""
        attributes = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": _format_time(self.time),
            "datacontenttype": DATACONTENTTYPE,
            TENANTID: self.tenant_id,
            CORRELATIONID: self.correlation_id,
            CAUSATIONID: self.causation_id,
            DATAVERSION: str(self.data_version),
            TRACEPARENT_HEADER: self.traceparent,
            TRACESTATE_HEADER: self.tracestate,
        }
        return {name: value for name, value in attributes.items() if value is not None}

    # --- Kafka, binary content mode ---------------------------------------------------

    def to_kafka(self) -> KafkaRecord:
        """The Kafka record: ``ce_*`` headers, key = tenant id, value = JSON of the data."""
        headers: list[tuple[str, bytes]] = []
        for name, value in self.attributes().items():
            if name == "datacontenttype":
                header = CONTENT_TYPE_HEADER
            elif name in (TRACEPARENT_HEADER, TRACESTATE_HEADER):
                header = name  # W3C trace context travels in its own headers
            else:
                header = CE_PREFIX + name
            headers.append((header, value.encode()))
        return KafkaRecord(
            topic=self.topic,
            key=self.key,
            value=self.data.model_dump_json().encode(),
            headers=headers,
        )

    @classmethod
    def from_kafka(
        cls,
        *,
        headers: Headers | None,
        value: bytes | str | None,
        registry: EventRegistry = registry,
    ) -> Envelope:
        """Decode a binary-mode record into a typed envelope.

        Raises ``UnknownEventType`` when ``ce_type`` is not in the catalog and
        ``EventDecodeError`` for anything malformed. Unknown headers, unknown ``ce_*``
        extensions and unknown data fields are ignored.
        """
        attributes: dict[str, str] = {}
        for name, raw in _header_items(headers):
            lowered = name.lower()
            if lowered.startswith(CE_PREFIX):
                attribute = lowered.removeprefix(CE_PREFIX)
            elif lowered == CONTENT_TYPE_HEADER:
                attribute = "datacontenttype"
            elif lowered in (TRACEPARENT_HEADER, TRACESTATE_HEADER):
                attribute = lowered
            else:
                continue
            if raw is None:
                continue
            try:
                attributes[attribute] = raw.decode() if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError:
                raise EventDecodeError(f"header {name} is not UTF-8") from None

        def load_data() -> Any:
            event_id = attributes.get("id")
            if value is None or len(value) == 0:
                raise EventDecodeError("the message has no body", event_id=event_id)
            try:
                return json.loads(value)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise EventDecodeError(
                    f"the body is not JSON: {error}", event_id=event_id
                ) from None

        def parse_valid(event_type: str) -> Event | None:
            return registry.parse_json_valid(event_type, value) if value else None

        return cls._from_attributes(
            attributes, load_data, registry=registry, parse_valid=parse_valid
        )

    # --- JSON (structured content mode): outbox rows, logs, dead letters --------------

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents JSON form (structured mode): JSON-safe, for an outbox row."""
        return {**self.attributes(), "data": self.data.model_dump(mode="json")}

    @classmethod
    def from_dict(
        cls, document: Mapping[str, Any], *, registry: EventRegistry = registry
    ) -> Envelope:
        """Rebuild an envelope from ``to_dict`` output (or any CloudEvents JSON of the catalog)."""
        if not isinstance(document, Mapping):
            raise EventDecodeError("a CloudEvents document must be a JSON object")
        attributes: dict[str, str] = {}
        for name, value in document.items():
            # Attributes are strings (dataversion may also be written as an integer);
            # anything else is an extension this catalog does not use.
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                attributes[name.lower()] = str(value)

        def load_data() -> Any:
            if "data" not in document:
                raise EventDecodeError("the document has no data", event_id=attributes.get("id"))
            return document["data"]

        return cls._from_attributes(attributes, load_data, registry=registry)

    @classmethod
    def _from_attributes(
        cls,
        attributes: Mapping[str, str],
        load_data: Callable[[], Any],
        *,
        registry: EventRegistry,
        parse_valid: Callable[[str], Event | None] | None = None,
    ) -> Envelope:
        event_id = attributes.get("id")
        missing = [name for name in _REQUIRED_ATTRIBUTES if not attributes.get(name)]
        if missing:
            raise EventDecodeError(
                "missing CloudEvents attributes: " + ", ".join(missing), event_id=event_id
            )
        if attributes["specversion"] != SPECVERSION:
            raise EventDecodeError(
                f"unsupported specversion {attributes['specversion']!r}", event_id=event_id
            )
        content_type = attributes.get("datacontenttype", DATACONTENTTYPE)
        if content_type.split(";")[0].strip().lower() != DATACONTENTTYPE:
            raise EventDecodeError(f"unsupported content type {content_type!r}", event_id=event_id)
        event_type = attributes["type"]
        if event_type not in registry:
            raise UnknownEventType(event_type, event_id=event_id)
        try:
            data_version = int(attributes[DATAVERSION])
        except ValueError:
            raise EventDecodeError(
                f"{DATAVERSION} {attributes[DATAVERSION]!r} is not an integer", event_id=event_id
            ) from None
        time = _parse_time(attributes["time"], event_id=event_id)
        # The type is checked before the body is read: an unknown type is skipped, not
        # dead-lettered, whatever its body looks like.
        # The quick way for a valid body; anything else is decoded the slow way, which
        # names the problem (not JSON, not an object, which field is invalid).
        event = parse_valid(event_type) if parse_valid is not None else None
        try:
            if event is None:
                event = registry.parse(event_type, load_data())
        except EventDecodeError as error:
            if error.event_id is not None:
                raise
            raise EventDecodeError(error.reason, event_id=event_id) from error
        try:
            return cls(
                id=attributes["id"],
                type=event_type,
                source=attributes["source"],
                subject=attributes.get("subject"),
                time=time,
                tenant_id=attributes[TENANTID],
                correlation_id=attributes.get(CORRELATIONID) or attributes["id"],
                causation_id=attributes.get(CAUSATIONID),
                data_version=data_version,
                data=event,
                traceparent=attributes.get(TRACEPARENT_HEADER),
                tracestate=attributes.get(TRACESTATE_HEADER),
            )
        except ValueError as error:
            raise EventDecodeError(str(error), event_id=event_id) from None


def _header_items(headers: Headers | None) -> Iterable[tuple[str, bytes | None]]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _format_time(time: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as CloudEvents writes time."""
    return time.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str, *, event_id: str | None) -> datetime:
    try:
        # RFC 3339 allows a lowercase "t" and "z"; fromisoformat does not.
        time = datetime.fromisoformat(text.upper())
    except ValueError:
        raise EventDecodeError(f"time {text!r} is not RFC 3339", event_id=event_id) from None
    if time.tzinfo is None:
        raise EventDecodeError(f"time {text!r} has no UTC offset", event_id=event_id)
    return time.astimezone(UTC)
