"""The compatibility checker catches every kind of breaking change, and only those."""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any, ClassVar

import pytest
from pydantic import AwareDatetime, Field

from supportops_events import Event, Payload
from supportops_events.compat import Incompatibility, Rule, check_catalog, check_schema
from supportops_events.export import event_schema


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Place(Payload):
    city: str
    zip_code: str | None = None


class Released(Event):
    """The released v1 of a test event."""

    event_type: ClassVar[str] = "thing.happened"
    topic: ClassVar[str] = "things.events"
    producer: ClassVar[str] = "thing-service"

    name: str
    count: int
    colour: Colour
    note: str | None = None
    happened_at: AwareDatetime
    tags: list[str] = Field(default_factory=list)
    place: Place
    labels: dict[str, str] = Field(default_factory=dict)


RELEASED = event_schema(Released)


def problems(new: dict[str, Any], old: dict[str, Any] = RELEASED) -> list[tuple[Rule, str]]:
    return [(p.rule, p.path) for p in check_schema(old, new)]


def variant(**changes: Any) -> dict[str, Any]:
    """The released schema with properties replaced (None removes one)."""
    schema = copy.deepcopy(RELEASED)
    for name, value in changes.items():
        if value is None:
            del schema["properties"][name]
            schema["required"] = [r for r in schema["required"] if r != name]
        else:
            schema["properties"][name] = value
    return schema


# --- what stays compatible ------------------------------------------------------------


def test_identical_schema_is_compatible() -> None:
    assert check_schema(RELEASED, event_schema(Released)) == []


def test_adding_optional_fields_and_enum_values_and_bumping_version_is_compatible() -> None:
    class Colour2(StrEnum):
        red = "red"
        blue = "blue"
        green = "green"

    class Place2(Payload):
        city: str
        zip_code: str | None = None
        country: str | None = None

    class Evolved(Event):
        """Docs may change too."""

        event_type: ClassVar[str] = "thing.happened"
        version: ClassVar[int] = 2
        topic: ClassVar[str] = "things.events"
        producer: ClassVar[str] = "thing-service"

        name: str
        count: int
        colour: Colour2
        note: str | None = None
        happened_at: AwareDatetime
        tags: list[str] = Field(default_factory=list)
        place: Place2
        labels: dict[str, str] = Field(default_factory=dict)
        weight_grams: int = 0
        """A new field, optional with a default."""

    assert check_schema(RELEASED, event_schema(Evolved)) == []


def test_required_field_becoming_optional_is_compatible() -> None:
    # Producers write every declared field, so old consumers still get it.
    schema = variant()
    schema["required"].remove("count")
    schema["properties"]["count"]["default"] = 0

    assert problems(schema) == []


# --- removed_field --------------------------------------------------------------------


def test_removed_field_is_caught() -> None:
    assert problems(variant(count=None)) == [(Rule.removed_field, "count")]


def test_removed_optional_field_is_caught() -> None:
    assert problems(variant(note=None)) == [(Rule.removed_field, "note")]


def test_removed_nested_field_is_caught() -> None:
    class ShortPlace(Payload):
        city: str

    class Broken(Released):
        place: ShortPlace  # type: ignore[assignment]

    assert problems(event_schema(Broken)) == [(Rule.removed_field, "place.zip_code")]


# --- retyped_field --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "schema", "path"),
    [
        ("count", {"type": "string"}, "count"),
        ("count", {"type": "number"}, "count"),
        ("happened_at", {"type": "string"}, "happened_at"),
        ("happened_at", {"type": "string", "format": "date"}, "happened_at"),
        ("name", {"anyOf": [{"type": "string"}, {"type": "null"}]}, "name"),
        ("note", {"type": "string"}, "note"),
        ("colour", {"type": "string"}, "colour"),
        ("colour", {"enum": ["red"], "type": "string"}, "colour"),
        ("tags", {"type": "array", "items": {"type": "integer"}}, "tags[]"),
        ("tags", {"type": "string"}, "tags"),
        ("labels", {"type": "object", "additionalProperties": {"type": "integer"}}, "labels.*"),
        ("place", {"type": "string"}, "place"),
    ],
    ids=[
        "int to str",
        "int to number",
        "date-time to plain string",
        "date-time to date",
        "became nullable",
        "no longer nullable",
        "enum to free string",
        "enum value removed",
        "list items",
        "list to scalar",
        "map values",
        "object to scalar",
    ],
)
def test_retyped_field_is_caught(field: str, schema: dict[str, Any], path: str) -> None:
    assert problems(variant(**{field: schema})) == [(Rule.retyped_field, path)]


def test_retyped_nested_field_from_models_is_caught() -> None:
    class OtherPlace(Payload):
        city: int
        zip_code: str | None = None

    class Broken(Released):
        place: OtherPlace  # type: ignore[assignment]

    assert problems(event_schema(Broken)) == [(Rule.retyped_field, "place.city")]


def test_changed_union_is_caught() -> None:
    old = variant(note={"anyOf": [{"type": "string"}, {"type": "integer"}]})
    new = variant(note={"anyOf": [{"type": "string"}, {"type": "boolean"}]})

    assert problems(new, old) == [(Rule.retyped_field, "note")]
    assert problems(old, old) == []


# --- new_required_field ---------------------------------------------------------------


def test_new_required_field_is_caught() -> None:
    class Broken(Released):
        priority: int

    assert problems(event_schema(Broken)) == [(Rule.new_required_field, "priority")]


def test_optional_field_becoming_required_is_caught() -> None:
    class Broken(Released):
        note: str | None  # no default any more

    assert problems(event_schema(Broken)) == [(Rule.new_required_field, "note")]


def test_new_required_nested_field_is_caught() -> None:
    class BiggerPlace(Payload):
        city: str
        zip_code: str | None = None
        country: str

    class Broken(Released):
        place: BiggerPlace  # type: ignore[assignment]

    assert problems(event_schema(Broken)) == [(Rule.new_required_field, "place.country")]


# --- catalog-level rules --------------------------------------------------------------


def test_removed_event_type_is_caught() -> None:
    found = check_catalog([RELEASED], [])

    assert [(p.rule, p.event_type, p.version) for p in found] == [
        (Rule.removed_event_type, "thing.happened", 1)
    ]


def test_moved_topic_is_caught() -> None:
    class Moved(Released):
        topic: ClassVar[str] = "other.events"

    assert problems(event_schema(Moved)) == [(Rule.topic_changed, "")]


def test_lowered_version_is_caught() -> None:
    class V2(Released):
        version: ClassVar[int] = 2

    assert problems(event_schema(Released), old=event_schema(V2)) == [(Rule.version_regressed, "")]


def test_every_released_version_is_checked() -> None:
    class V2(Released):
        version: ClassVar[int] = 2
        weight_grams: int = 0

    class V3WithoutWeight(Released):
        version: ClassVar[int] = 3

    found = check_catalog(
        [event_schema(Released), event_schema(V2)], [event_schema(V3WithoutWeight)]
    )

    assert [(p.version, p.rule, p.path) for p in found] == [(2, Rule.removed_field, "weight_grams")]


def test_incompatibility_reads_well() -> None:
    problem = Incompatibility("invoice.paid", 1, Rule.removed_field, "amount_due", "gone")

    assert str(problem) == "invoice.paid v1 amount_due: removed_field: gone"
