"""The base of every event model and the small value types events share."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{3}$"),
    Field(description="ISO 4217 currency code, lowercase as Stripe writes it (e.g. `usd`)."),
]
MinorUnits = Annotated[
    int,
    Field(ge=0, description="An amount in the currency's minor unit (cents for usd)."),
]


class Payload(BaseModel):
    """A value carried in an event: parsed leniently, written exactly.

    Unknown fields are ignored on parse (a newer producer may have added them) and only
    declared fields are written, so old and new versions of a model can talk.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)


class Event(Payload):
    """One fact (or, for commands, one request) published on Kafka.

    Concrete events set the class variables; intermediate bases (one per domain) set
    ``topic`` and ``producer`` only. The wire name ``event_type`` is explicit, dotted,
    lowercase and past tense; it never derives from the class name.
    """

    event_type: ClassVar[str]
    """The CloudEvents ``type``, e.g. ``invoice.paid``."""
    version: ClassVar[int] = 1
    """The data version (CloudEvents extension ``dataversion``); fields are only added."""
    topic: ClassVar[str]
    """The Kafka topic the event is published to."""
    producer: ClassVar[str]
    """The service that publishes the event (documentation, AsyncAPI)."""
    subject_field: ClassVar[str | None] = None
    """The field whose value is the envelope's default CloudEvents ``subject``."""

    tenant_id: str = Field(min_length=1)
    """The tenant the event is about; the Kafka partition key, so order per tenant holds."""

    def default_subject(self) -> str | None:
        """The CloudEvents ``subject`` used when the producer names none."""
        if self.subject_field is None:
            return None
        value: Any = getattr(self, self.subject_field)
        return None if value is None else str(value)

    @classmethod
    def is_concrete(cls) -> bool:
        """Whether this class is a publishable event rather than a shared base."""
        return "event_type" in cls.__dict__
