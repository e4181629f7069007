"""Every ``tenant.*`` event may carry the tenant's time zone: an optional field, so
events published before it (and consumers that ignore it) keep working."""

from __future__ import annotations

from pathlib import Path

from supportops_events import Envelope, registry
from supportops_events.export import breaking_changes, event_schema, find_root
from supportops_events.onboarding import TenantActivated, TenantCreated, TenantEvent
from supportops_events.samples import sample

TENANT_TYPES = [t for t in registry.event_types() if t.startswith("tenant.")]


def test_every_tenant_event_carries_an_optional_timezone() -> None:
    assert len(TENANT_TYPES) == 7
    for event_type in TENANT_TYPES:
        model = registry.model_for(event_type)
        assert issubclass(model, TenantEvent)
        assert registry.version_for(event_type) == 2  # a field was added (docs/events.md)
        schema = event_schema(model)
        assert "timezone" in schema["properties"], event_type
        assert "timezone" not in schema.get("required", []), event_type


def test_timezone_travels_in_the_envelope_and_old_payloads_still_parse() -> None:
    event = sample("tenant.created", timezone="Asia/Tokyo")
    received = Envelope.from_dict(Envelope.new(event, source="test").to_dict()).data
    assert isinstance(received, TenantCreated)
    assert received.timezone == "Asia/Tokyo"

    old = sample("tenant.activated").model_dump(mode="json")
    del old["timezone"]  # what a producer without the field published
    assert TenantActivated.model_validate(old).timezone is None


def test_adding_the_timezone_breaks_no_released_schema() -> None:
    incompatible = breaking_changes(find_root(Path(__file__).parent))
    assert not [i for i in incompatible if "tenant." in str(i)]
