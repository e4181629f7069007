"""The envelope: Kafka binary mode and outbox (JSON) round trips, defaults and decode errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from supportops_events import (
    Envelope,
    Event,
    EventDecodeError,
    KafkaRecord,
    UnknownEventType,
    registry,
)
from supportops_events.billing import BillingEvent, InvoicePaid
from supportops_events.samples import SAMPLE_TENANT_ID, sample

ALL_TYPES = registry.event_types()
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
EVENT_ID = "0b8a4c9e-6f1e-4a57-9d0b-0c8f3b1e2a11"
TIME = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def envelope(event_type: str = "invoice.paid", **overrides: object) -> Envelope:
    options: dict[str, object] = {
        "source": "billing-service",
        "event_id": EVENT_ID,
        "time": TIME,
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
    }
    options.update(overrides)
    return Envelope.new(sample(event_type), **options)  # type: ignore[arg-type]


def headers_of(record: KafkaRecord) -> dict[str, bytes]:
    return dict(record.headers)


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_event_type_round_trips_through_kafka(event_type: str) -> None:
    sent = envelope(event_type)

    record = sent.to_kafka()
    received = Envelope.from_kafka(headers=record.headers, value=record.value)

    assert received == sent
    assert type(received.data) is registry.model_for(event_type)
    assert received.data == sample(event_type)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_event_type_round_trips_through_an_outbox_row(event_type: str) -> None:
    sent = envelope(event_type)

    row = json.loads(json.dumps(sent.to_dict()))  # what a JSONB column gives back
    rebuilt = Envelope.from_dict(row)

    assert rebuilt == sent
    assert rebuilt.to_kafka() == sent.to_kafka()


def test_record_is_binary_mode_keyed_by_tenant() -> None:
    sent = envelope("invoice.paid", subject="inv_123")

    record = sent.to_kafka()

    assert record.topic == "billing.events"
    assert record.key == SAMPLE_TENANT_ID.encode()
    assert json.loads(record.value) == sent.data.model_dump(mode="json")
    assert headers_of(record) == {
        "ce_specversion": b"1.0",
        "ce_id": EVENT_ID.encode(),
        "ce_source": b"billing-service",
        "ce_type": b"invoice.paid",
        "ce_subject": b"inv_123",
        "ce_time": b"2025-03-01T12:30:15.123456Z",
        "content-type": b"application/json",
        "ce_tenantid": SAMPLE_TENANT_ID.encode(),
        "ce_correlationid": b"corr-1",
        "ce_causationid": b"cause-1",
        "ce_dataversion": b"1",
        "traceparent": TRACEPARENT.encode(),
        "tracestate": b"vendor=1",
    }


def test_outbox_row_is_cloudevents_json() -> None:
    row = envelope("invoice.paid").to_dict()

    assert row["specversion"] == "1.0"
    assert row["type"] == "invoice.paid"
    assert row["time"] == "2025-03-01T12:30:15.123456Z"
    assert row["tenantid"] == SAMPLE_TENANT_ID
    assert row["dataversion"] == "1"
    assert row["traceparent"] == TRACEPARENT
    assert row["data"]["invoice_id"] == "inv_1001"


def test_command_goes_to_the_owners_commands_topic() -> None:
    assert envelope("access.action_requested").to_kafka().topic == "onboarding.commands"


# --- Envelope.new ---------------------------------------------------------------------


def test_new_fills_in_defaults() -> None:
    before = datetime.now(UTC)
    env = Envelope.new(sample("invoice.paid"), source="billing-service")

    assert env.id
    assert env.correlation_id == env.id
    assert env.causation_id is None
    assert env.subject == "inv_1001"  # the invoice id, the event's main entity
    assert env.time.tzinfo is not None
    assert before <= env.time <= datetime.now(UTC)
    assert env.type == "invoice.paid"
    assert env.tenant_id == SAMPLE_TENANT_ID
    assert env.data_version == InvoicePaid.version
    assert env.traceparent is None
    assert env.tracestate is None
    assert Envelope.new(sample("invoice.paid"), source="b").id != env.id


def test_new_normalises_time_to_utc() -> None:
    local = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    env = Envelope.new(sample("invoice.paid"), source="billing-service", time=local)

    assert env.time == local
    assert env.time.utcoffset() == timedelta(0)


def test_new_rejects_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Envelope.new(sample("invoice.paid"), source="billing-service", time=datetime(2025, 3, 1))


def test_empty_subject_falls_back_to_the_main_id() -> None:
    env = Envelope.new(sample("ticket.created"), source="ticket-service", subject="")

    assert env.subject == "tkt_1001"


def test_caused_by_continues_the_correlation() -> None:
    cause = envelope("tenant.created", correlation_id="flow-7")

    effect = Envelope.new(sample("subscription.created"), source="billing", caused_by=cause)

    assert effect.correlation_id == "flow-7"
    assert effect.causation_id == cause.id
    assert effect.id != cause.id


def test_trace_context_set_after_new_is_sent() -> None:
    env = Envelope.new(sample("invoice.paid"), source="billing-service")
    env.traceparent = TRACEPARENT

    record = env.to_kafka()
    received = Envelope.from_kafka(headers=record.headers, value=record.value)

    assert received.traceparent == TRACEPARENT
    assert received.tracestate is None


def test_new_rejects_a_base_class() -> None:
    with pytest.raises(TypeError, match="base class"):
        Envelope.new(BillingEvent(tenant_id="ten_1"), source="billing-service")


def test_new_rejects_an_unregistered_model() -> None:
    class NotInCatalog(Event):
        event_type = "not.in_catalog"
        topic = "tickets.events"
        producer = "nobody"

    with pytest.raises(UnknownEventType):
        Envelope.new(NotInCatalog(tenant_id="ten_1"), source="x")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("type", "invoice.sent", "does not match data"),
        ("tenant_id", "ten_other", "does not match data tenant"),
        ("time", datetime(2025, 3, 1), "timezone-aware"),
        ("data_version", 0, "data_version"),
        ("id", "", "id must not be empty"),
    ],
)
def test_envelope_keeps_its_invariants(field: str, value: object, message: str) -> None:
    good = envelope()
    fields = {name: getattr(good, name) for name in good.__dataclass_fields__}
    fields[field] = value

    with pytest.raises(ValueError, match=message):
        Envelope(**fields)


# --- evolution ------------------------------------------------------------------------


def test_unknown_fields_are_ignored_and_never_written() -> None:
    record = envelope("invoice.paid").to_kafka()
    data = json.loads(record.value)
    data["loyalty_points"] = 12  # a field a newer producer added

    received = Envelope.from_kafka(headers=record.headers, value=json.dumps(data).encode())

    assert received.data == sample("invoice.paid")
    assert "loyalty_points" not in json.loads(received.to_kafka().value)
    assert "loyalty_points" not in received.to_dict()["data"]


def test_newer_data_version_is_read() -> None:
    record = envelope("invoice.paid").to_kafka()
    headers = [(n, b"2" if n == "ce_dataversion" else v) for n, v in record.headers]

    received = Envelope.from_kafka(headers=headers, value=record.value)

    assert received.data_version == 2
    assert received.data == sample("invoice.paid")


def test_headers_are_accepted_as_a_mapping_with_any_case_and_extra_headers() -> None:
    record = envelope("invoice.paid").to_kafka()
    headers = {name.upper(): value for name, value in record.headers}
    headers["x-retry-count"] = b"3"
    headers["ce_partitionkey"] = b"ten_acme"

    received = Envelope.from_kafka(headers=headers, value=record.value)

    assert received == envelope("invoice.paid")


def test_missing_correlation_id_defaults_to_the_event_id() -> None:
    record = envelope("invoice.paid").to_kafka()
    headers = [(n, v) for n, v in record.headers if n != "ce_correlationid"]

    received = Envelope.from_kafka(headers=headers, value=record.value)

    assert received.correlation_id == EVENT_ID


# --- unknown types --------------------------------------------------------------------


def _replace_header(record: KafkaRecord, name: str, value: bytes | None) -> list[tuple[str, bytes]]:
    headers = [(n, v) for n, v in record.headers if n != name]
    if value is not None:
        headers.append((name, value))
    return headers


def test_unknown_type_is_its_own_error() -> None:
    record = envelope("invoice.paid").to_kafka()
    headers = _replace_header(record, "ce_type", b"invoice.teleported")

    with pytest.raises(UnknownEventType) as raised:
        Envelope.from_kafka(headers=headers, value=record.value)

    assert raised.value.event_type == "invoice.teleported"
    assert raised.value.event_id == EVENT_ID
    assert not isinstance(raised.value, EventDecodeError)  # skip it, don't dead-letter it


def test_unknown_type_wins_over_an_unreadable_body() -> None:
    record = envelope("invoice.paid").to_kafka()
    headers = _replace_header(record, "ce_type", b"invoice.teleported")

    with pytest.raises(UnknownEventType):
        Envelope.from_kafka(headers=headers, value=b"\x00not json")


def test_unknown_type_in_an_outbox_row() -> None:
    row = envelope("invoice.paid").to_dict()
    row["type"] = "invoice.teleported"

    with pytest.raises(UnknownEventType):
        Envelope.from_dict(row)


def test_registry_lookup_of_unknown_type() -> None:
    with pytest.raises(UnknownEventType):
        registry.model_for("invoice.teleported")
    with pytest.raises(UnknownEventType):
        registry.topic_for("invoice.teleported")


# --- malformed input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_tenantid",
        "ce_dataversion",
    ],
)
def test_missing_required_header_is_a_decode_error(header: str) -> None:
    record = envelope("invoice.paid").to_kafka()

    with pytest.raises(EventDecodeError, match=header.removeprefix("ce_")):
        Envelope.from_kafka(headers=_replace_header(record, header, None), value=record.value)


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("ce_specversion", b"0.3", "specversion"),
        ("ce_time", b"yesterday", "RFC 3339"),
        ("ce_time", b"2025-03-01T12:00:00", "UTC offset"),
        ("ce_dataversion", b"one", "not an integer"),
        ("content-type", b"application/cloudevents+json", "content type"),
        ("content-type", b"application/avro", "content type"),
        ("ce_tenantid", b"ten_other", "tenant"),
        ("ce_id", b"\xff\xfe", "UTF-8"),
    ],
)
def test_invalid_header_is_a_decode_error(header: str, value: bytes, message: str) -> None:
    record = envelope("invoice.paid").to_kafka()

    with pytest.raises(EventDecodeError, match=message):
        Envelope.from_kafka(headers=_replace_header(record, header, value), value=record.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "no body"),
        (b"", "no body"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"invoice"', "JSON object"),
        (b'{"tenant_id": "ten_acme"}', "invalid invoice.paid data"),
    ],
)
def test_bad_body_is_a_decode_error(body: bytes | None, message: str) -> None:
    record = envelope("invoice.paid").to_kafka()

    with pytest.raises(EventDecodeError, match=message) as raised:
        Envelope.from_kafka(headers=record.headers, value=body)

    assert raised.value.event_id == EVENT_ID


def test_invalid_field_value_is_a_decode_error() -> None:
    record = envelope("invoice.paid").to_kafka()
    data = json.loads(record.value)
    data["amount_due"] = "a lot"
    data["currency"] = "US dollars"

    with pytest.raises(EventDecodeError, match="amount_due") as raised:
        Envelope.from_kafka(headers=record.headers, value=json.dumps(data))

    assert "currency" in str(raised.value)


def test_no_headers_at_all_is_a_decode_error() -> None:
    with pytest.raises(EventDecodeError, match="missing"):
        Envelope.from_kafka(headers=None, value=b"{}")


@pytest.mark.parametrize(
    "broken",
    [
        lambda row: row.pop("data"),
        lambda row: row.pop("id"),
        lambda row: row.pop("time"),
        lambda row: row.update(data="not an object"),
        lambda row: row.update(specversion="0.3"),
        lambda row: row["data"].pop("invoice_id"),
    ],
    ids=["no data", "no id", "no time", "data not an object", "old specversion", "bad data"],
)
def test_broken_outbox_row_is_a_decode_error(broken) -> None:  # type: ignore[no-untyped-def]
    row = envelope("invoice.paid").to_dict()
    broken(row)

    with pytest.raises(EventDecodeError):
        Envelope.from_dict(row)


def test_outbox_row_that_is_not_an_object_is_a_decode_error() -> None:
    with pytest.raises(EventDecodeError):
        Envelope.from_dict(["not", "a", "row"])  # type: ignore[arg-type]
