"""The registry against the ARCHITECTURE.md catalog; models follow the evolution rules."""

from __future__ import annotations

import inspect
import types
from enum import Enum, StrEnum
from typing import Union, get_args, get_origin

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from supportops_events import (
    ALL_TOPICS,
    Event,
    EventDecodeError,
    EventRegistry,
    UnknownEventType,
    billing,
    dlq_topic,
    escalation,
    onboarding,
    registry,
    tickets,
)
from supportops_events.samples import SAMPLE_TENANT_ID, sample

# The v1 catalog of ARCHITECTURE.md ("Events" > "Catalog"), plus what the flows added.
CATALOG: dict[str, str] = {
    **dict.fromkeys(
        [
            "ticket.created",
            "ticket.triaged",
            "ticket.assigned",
            "ticket.replied",
            "ticket.status_changed",
            "ticket.solved",
            "ticket.reopened",
            "ticket.sla_warning",
            "ticket.sla_breached",
            "ticket.escalated",
        ],
        "tickets.events",
    ),
    "access.action_requested": "onboarding.commands",
    **dict.fromkeys(
        [
            "tenant.created",
            "tenant.activated",
            "tenant.onboarded",
            "tenant.suspended",
            "tenant.reactivated",
            "user.invited",
            "user.activated",
            "user.deactivated",
            "user.reactivated",
            "user.locked",
            "user.unlocked",
            "user.mfa_reset",
            "access.action_completed",
            "access.action_rejected",
        ],
        "onboarding.events",
    ),
    **dict.fromkeys(
        [
            "subscription.created",
            "subscription.activated",
            "subscription.updated",
            "subscription.canceled",
            "invoice.finalized",
            "invoice.sent",
            "invoice.paid",
            "invoice.payment_failed",
            "invoice.overdue",
            "invoice.voided",
            "renewal.upcoming",
            "renewal.invoiced",
            "renewal.at_risk",
            "renewal.completed",
            "refund.issued",
            "credit_note.issued",
            "dispute.opened",
            "dispute.closed",
            "billing.followup_required",
        ],
        "billing.events",
    ),
    **dict.fromkeys(
        [
            "bug.reported",
            "bug.linked",
            "bug.reproduced",
            "bug.cannot_reproduce",
            "bug.needs_info",
            "bug.escalated",
            "bug.resolved",
            "bug.reopened",
            "bug.closed",
        ],
        "escalation.events",
    ),
}
# Added for flow 3: lets the ticket service solve the follow-up ticket automatically.
# Added in session 2: the tenant's terminal state, the user inactivity scan and the bug
# workflow's remaining transitions (one event per transition).
ADDITIONS: dict[str, str] = {
    "billing.followup_resolved": "billing.events",
    "tenant.churned": "onboarding.events",
    "tenant.updated": "onboarding.events",
    # issue 18: {"assignee_id": null} unassigns a ticket; the live console must learn of it
    "ticket.unassigned": "tickets.events",
    "user.marked_inactive": "onboarding.events",
    "bug.reproducing": "escalation.events",
    "bug.in_progress": "escalation.events",
    "bug.verified": "escalation.events",
    # issue 13: the out-of-band confirmation of an MFA reset (a one-time code)
    "access.confirmation_pending": "onboarding.events",
    "access.confirmation_failed": "onboarding.events",
    "access.confirmation_submitted": "onboarding.commands",
}

MODULES = {
    tickets: "ticket-service",
    onboarding: "onboarding-service",
    billing: "billing-service",
    escalation: "escalation-service",
}


def test_registry_holds_exactly_the_catalog() -> None:
    assert registry.event_types() == sorted(CATALOG | ADDITIONS)


@pytest.mark.parametrize(("event_type", "topic"), sorted((CATALOG | ADDITIONS).items()))
def test_event_type_goes_to_its_topic(event_type: str, topic: str) -> None:
    assert registry.topic_for(event_type) == topic
    assert registry.model_for(event_type).event_type == event_type


def test_topics() -> None:
    assert registry.topics() == [
        "tickets.events",
        "billing.events",
        "onboarding.events",
        "escalation.events",
        "onboarding.commands",
    ]
    assert list(ALL_TOPICS) == registry.topics()
    assert registry.event_types_on("onboarding.commands") == [
        "access.action_requested",
        "access.confirmation_submitted",
    ]


def test_dead_letter_topic_per_consumer_group() -> None:
    assert registry.dlq_topic("billing-service") == "billing-service.dlq"
    assert dlq_topic("ticket-service.billing-followups") == "ticket-service.billing-followups.dlq"
    with pytest.raises(ValueError, match="empty"):
        registry.dlq_topic("")
    with pytest.raises(ValueError, match="not a valid Kafka topic"):
        registry.dlq_topic("billing service")


def test_partition_key_is_the_tenant_id() -> None:
    assert registry.partition_key(sample("invoice.paid")) == SAMPLE_TENANT_ID.encode()


@pytest.mark.parametrize(("module", "producer"), MODULES.items(), ids=lambda m: str(m))
def test_every_event_defined_in_a_module_is_registered(
    module: types.ModuleType, producer: str
) -> None:
    defined = {
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Event)
        and obj.__module__ == module.__name__
        and obj.is_concrete()
    }

    assert defined == set(module.EVENTS)
    assert all(registry.model_for(model.event_type) is model for model in defined)
    assert {model.producer for model in defined} == {producer}


@pytest.mark.parametrize("model", registry.models(), ids=lambda m: m.event_type)
def test_model_follows_the_event_rules(model: type[Event]) -> None:
    assert model.version >= 1
    assert model.model_config.get("extra") == "ignore"
    assert model.model_fields["tenant_id"].annotation is str
    assert model.model_fields["tenant_id"].is_required()
    assert model.__doc__, "the docstring becomes the schema description"
    if model.subject_field is not None:
        assert model.subject_field in model.model_fields


def _enums_in(annotation: object) -> list[type[Enum]]:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [e for f in annotation.model_fields.values() for e in _enums_in(f.annotation)]
    if get_origin(annotation) in (Union, types.UnionType, list, dict):
        return [e for arg in get_args(annotation) for e in _enums_in(arg)]
    return []


@pytest.mark.parametrize("model", registry.models(), ids=lambda m: m.event_type)
def test_closed_value_sets_are_str_enums(model: type[Event]) -> None:
    enums = [e for f in model.model_fields.values() for e in _enums_in(f.annotation)]

    assert all(issubclass(enum, StrEnum) for enum in enums)


def test_registry_rejects_bad_registrations() -> None:
    with pytest.raises(ValueError, match="base class"):
        EventRegistry([billing.InvoiceEvent])
    with pytest.raises(ValueError, match="twice"):
        EventRegistry([billing.InvoicePaid, billing.InvoicePaid])

    class CamelCase(Event):
        event_type = "InvoicePaid"

    with pytest.raises(ValueError, match="dotted lowercase"):
        EventRegistry([CamelCase])


# --- the discriminated union ----------------------------------------------------------


def test_union_picks_the_model_by_event_type() -> None:
    data = sample("invoice.paid").model_dump(mode="json")

    parsed = registry.parse("invoice.paid", data)
    as_sent = registry.parse("invoice.sent", data | {"sent_at": "2025-03-02T00:00:00Z"})

    assert type(parsed) is billing.InvoicePaid
    assert type(as_sent) is billing.InvoiceSent


def test_union_serialises_each_event_with_all_its_fields() -> None:
    adapter: TypeAdapter[list[Event]] = TypeAdapter(list[registry.union])  # type: ignore[name-defined]
    events = [sample("invoice.paid"), sample("ticket.escalated")]

    dumped = adapter.dump_python(events, mode="json")

    assert dumped == [event.model_dump(mode="json") for event in events]
    assert adapter.validate_python(events) == events


def test_union_rejects_a_mapping_without_a_known_type() -> None:
    with pytest.raises(ValidationError):
        registry.adapter.validate_python({"tenant_id": "ten_1"})
    with pytest.raises(ValidationError):
        registry.adapter.validate_python({"event_type": "invoice.teleported", "tenant_id": "t"})


def test_parse_errors() -> None:
    with pytest.raises(UnknownEventType):
        registry.parse("invoice.teleported", {})
    with pytest.raises(EventDecodeError, match=r"invalid invoice\.paid"):
        registry.parse("invoice.paid", {"tenant_id": SAMPLE_TENANT_ID})


# --- samples --------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", registry.event_types())
def test_sample_is_a_complete_valid_event(event_type: str) -> None:
    event = sample(event_type)

    assert type(event) is registry.model_for(event_type)
    assert event.tenant_id == SAMPLE_TENANT_ID
    # every optional field is filled, so round-trip tests cover them too
    unset = [name for name, value in event if value is None]
    assert unset == []


def test_sample_overrides_are_validated() -> None:
    assert sample("invoice.paid", tenant_id="ten_other").tenant_id == "ten_other"
    with pytest.raises(ValidationError):
        sample("invoice.paid", amount_due=-1)


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("invoice.paid", "status", "paid"),
        ("invoice.voided", "status", "void"),
        ("subscription.canceled", "status", "canceled"),
        ("tenant.suspended", "status", "suspended"),
        ("user.locked", "status", "locked"),
        ("bug.resolved", "status", "resolved"),
        ("ticket.solved", "status", "solved"),
    ],
)
def test_samples_are_consistent_with_their_event(event_type: str, field: str, value: str) -> None:
    assert getattr(sample(event_type), field) == value


def test_every_catalog_event_reads_the_same_from_json_the_quick_way() -> None:
    """Consumers decode a valid body with pydantic's own JSON reader: for every event of
    the catalog it yields exactly what json.loads + ``parse`` yields, and a body that is
    not valid event data is left to ``parse`` (None), which names the problem."""
    import json

    from supportops_events.samples import sample

    for model in registry.models():
        event = sample(model.event_type)
        raw = event.model_dump_json().encode()
        quick = registry.parse_json_valid(model.event_type, raw)
        assert quick == registry.parse(model.event_type, json.loads(raw)), model.event_type
        assert type(quick) is model
        assert registry.parse_json_valid(model.event_type, b"[1, 2]") is None
        assert registry.parse_json_valid(model.event_type, b"{not json") is None
        assert registry.parse_json_valid(model.event_type, b"{}") is None
    assert registry.parse_json_valid("no.such.event", b"{}") is None
