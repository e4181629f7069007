"""Interop with the `cloudevents` Python SDK's Kafka binding, both ways, and its JSON format.

The SDK ships two Kafka bindings: the classic ``to_binary``/``from_binary`` with a
``KafkaMessage`` (``cloudevents.kafka`` before 2.0, ``cloudevents.v1.kafka`` since) and
the newer ``cloudevents.core.bindings.kafka``. Both must read what we write and write
what we read.
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from supportops_events import Envelope, registry
from supportops_events.samples import SAMPLE_TENANT_ID, sample


def _first_module(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


# The lock pins cloudevents 2.x: the classic API lives under v1, the new one under core.
# Both bindings must read and write our records; neither is optional.
classic_kafka = _first_module("cloudevents.kafka", "cloudevents.v1.kafka")
ClassicCloudEvent = _first_module("cloudevents.http", "cloudevents.v1.http").CloudEvent
core_kafka = importlib.import_module("cloudevents.core.bindings.kafka")
core_json = importlib.import_module("cloudevents.core.formats.json")
core_event = importlib.import_module("cloudevents.core.v1.event")

ALL_TYPES = registry.event_types()
TIME = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def our_envelope(event_type: str) -> Envelope:
    return Envelope.new(
        sample(event_type),
        source="test-service",
        subject="subject-1",
        event_id=f"id-{event_type}",
        time=TIME,
        correlation_id="corr-1",
        causation_id="cause-1",
        traceparent=TRACEPARENT,
    )


def sdk_attributes(event_type: str) -> dict[str, Any]:
    """What a non-Python-kit producer sets, as CloudEvents attributes."""
    return {
        "specversion": "1.0",
        "id": f"id-{event_type}",
        "source": "test-service",
        "type": event_type,
        "subject": "subject-1",
        "datacontenttype": "application/json",
        "tenantid": SAMPLE_TENANT_ID,
        "correlationid": "corr-1",
        "causationid": "cause-1",
        "dataversion": str(registry.version_for(event_type)),
        "partitionkey": SAMPLE_TENANT_ID,
    }


def expected_from_sdk(event_type: str) -> Envelope:
    env = our_envelope(event_type)
    env.traceparent = None  # W3C trace context is not a CloudEvents attribute
    return env


# --- classic binding (to_binary / from_binary with KafkaMessage) ----------------------


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_classic_sdk_reads_our_records(event_type: str) -> None:
    env = our_envelope(event_type)
    record = env.to_kafka()

    event = classic_kafka.from_binary(
        classic_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )

    assert event["specversion"] == "1.0"
    assert event["id"] == env.id
    assert event["type"] == event_type
    assert event["source"] == "test-service"
    assert event["subject"] == "subject-1"
    assert datetime.fromisoformat(event["time"]) == TIME
    assert event["datacontenttype"] == "application/json"
    assert event["tenantid"] == SAMPLE_TENANT_ID
    assert event["correlationid"] == "corr-1"
    assert event["causationid"] == "cause-1"
    assert event["dataversion"] == str(registry.model_for(event_type).version)
    assert event["partitionkey"] == SAMPLE_TENANT_ID.encode()
    assert event.get_data() == env.data.model_dump(mode="json")


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_we_read_classic_sdk_records(event_type: str) -> None:
    attributes = sdk_attributes(event_type) | {"time": "2025-03-01T12:30:15.123456Z"}
    event = ClassicCloudEvent(attributes, sample(event_type).model_dump(mode="json"))

    message = classic_kafka.to_binary(event)
    env = Envelope.from_kafka(headers=list(message.headers.items()), value=message.value)

    assert message.key == SAMPLE_TENANT_ID
    assert env == expected_from_sdk(event_type)


# --- core binding (cloudevents.core.bindings.kafka) -----------------------------------


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_core_sdk_reads_our_records(event_type: str) -> None:
    env = our_envelope(event_type)
    record = env.to_kafka()

    event = core_kafka.from_binary(
        core_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
        core_json.JSONFormat(),
    )

    assert event.get_id() == env.id
    assert event.get_type() == event_type
    assert event.get_source() == "test-service"
    assert event.get_subject() == "subject-1"
    assert event.get_time() == TIME
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("tenantid") == SAMPLE_TENANT_ID
    assert event.get_extension("correlationid") == "corr-1"
    assert event.get_extension("causationid") == "cause-1"
    assert event.get_extension("dataversion") == str(registry.model_for(event_type).version)
    assert event.get_extension("partitionkey") == SAMPLE_TENANT_ID
    assert event.get_data() == env.data.model_dump(mode="json")


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_we_read_core_sdk_records(event_type: str) -> None:
    event = core_event.CloudEvent(
        attributes=sdk_attributes(event_type) | {"time": TIME},
        data=sample(event_type).model_dump(mode="json"),
    )

    message = core_kafka.to_binary(event, core_json.JSONFormat())
    env = Envelope.from_kafka(headers=message.headers, value=message.value)

    assert message.key == SAMPLE_TENANT_ID
    assert env == expected_from_sdk(event_type)


# --- structured JSON (the outbox form) ------------------------------------------------


def test_core_sdk_reads_our_outbox_row_as_structured_cloudevent() -> None:
    env = our_envelope("invoice.paid")

    event = core_json.JSONFormat().read(None, json.dumps(env.to_dict()).encode())

    assert event.get_id() == env.id
    assert event.get_type() == "invoice.paid"
    assert event.get_time() == TIME
    assert event.get_extension("tenantid") == SAMPLE_TENANT_ID
    assert event.get_extension("traceparent") == TRACEPARENT
    assert event.get_data() == env.data.model_dump(mode="json")


def test_we_read_a_structured_cloudevent_written_by_the_core_sdk() -> None:
    attributes = sdk_attributes("tenant.created") | {"time": TIME}
    attributes.pop("partitionkey")
    event = core_event.CloudEvent(
        attributes=attributes, data=sample("tenant.created").model_dump(mode="json")
    )

    env = Envelope.from_dict(json.loads(core_json.JSONFormat().write(event)))

    assert env == expected_from_sdk("tenant.created")
