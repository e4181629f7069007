"""The AsyncAPI document parses, names every topic and message, and its refs resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from supportops_events import _yaml, registry
from supportops_events.export import ASYNCAPI_PATH, asyncapi_document, find_root

ROOT = find_root(Path(__file__).parent)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((ROOT / ASYNCAPI_PATH).read_text())
    return parsed


def test_committed_yaml_parses_to_the_generated_document(document: dict[str, Any]) -> None:
    assert document == asyncapi_document()
    assert document["asyncapi"] == "3.0.0"


def test_every_topic_is_a_channel(document: dict[str, Any]) -> None:
    addresses = {channel["address"] for channel in document["channels"].values()}

    assert addresses == set(registry.topics())


def test_every_event_type_is_a_message_on_its_topic(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    names = {message["name"] for message in messages.values()}
    assert names == set(registry.event_types())

    for channel in document["channels"].values():
        on_channel = {
            resolve(document, ref["$ref"])["name"] for ref in channel["messages"].values()
        }
        assert on_channel == set(registry.event_types_on(channel["address"]))


def test_message_describes_headers_key_and_payload(document: dict[str, Any]) -> None:
    message = next(
        m for m in document["components"]["messages"].values() if m["name"] == "invoice.paid"
    )

    payload = resolve(document, message["payload"]["$ref"])
    assert "amount_due" in payload["properties"]
    assert message["headers"]["allOf"][1]["properties"]["ce_type"] == {"const": "invoice.paid"}
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
    assert (
        "ce_tenantid"
        in resolve(document, "#/components/schemas/CloudEventsKafkaHeaders")["required"]
    )


def test_every_operation_sends_its_channels_messages(document: dict[str, Any]) -> None:
    assert len(document["operations"]) == len(document["channels"])
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        channel = resolve(document, operation["channel"]["$ref"])
        sent = {resolve(document, m["$ref"])["$ref"] for m in operation["messages"]}
        assert sent == {m["$ref"] for m in channel["messages"].values()}


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = list(find_refs(document))

    assert refs
    for ref in refs:
        assert resolve(document, ref) is not None, ref


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def find_refs(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from find_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from find_refs(item)


# --- the YAML writer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"plain": "text", "number": 3, "ratio": 0.5, "yes": True, "no": False, "none": None},
        {"on": "reserved keys", "null": 1, "y": 2, "123": "digits", "a key": "spaces"},
        {"$ref": "#/components/x", "x-producer": "a", "content-type": "b", "a.b/c": "d"},
        {"quotes": 'say "hi"', "backslash": "C:\\temp", "colon": "a: b", "hash": "# no"},
        {"lines": "one\ntwo\n", "tab": "a\tb", "control": "bell\x07", "nel": "a\x85b"},
        {"unicode": "Größe \u2013 ✓ 😀", "separators": "a\u2028b\u2029c", "bom": "\ufeffx"},
        {"empty_dict": {}, "empty_list": [], "empty_string": "", "leading": "  spaced  "},
        {"nested": {"deeper": {"deepest": [1, "two", {"three": 3}]}}},
        {"list_of_dicts": [{"a": 1, "b": [1, 2]}, {"c": {"d": "e"}}], "lists": [[1, 2], [], [3]]},
        {"numberish": ["1", "1.0", "0x1F", "1e3", "true", "~", "null", "-", "- a", "*x", "&y"]},
        ["top", "level", {"list": True}],
    ],
)
def test_yaml_writer_round_trips_through_pyyaml(value: Any) -> None:
    assert yaml.safe_load(_yaml.dump(value)) == value


def test_yaml_writer_is_block_style() -> None:
    text = _yaml.dump({"channels": {"a": {"messages": [{"$ref": "#/x"}, {"$ref": "#/y"}]}}})

    assert text == ('channels:\n  a:\n    messages:\n      - $ref: "#/x"\n      - $ref: "#/y"\n')


def test_yaml_writer_rejects_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        _yaml.dump({"when": object()})
    with pytest.raises(TypeError):
        _yaml.dump({1: "non-string key"})
