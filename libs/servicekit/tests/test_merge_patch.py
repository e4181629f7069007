"""The kit's merge patch: RFC 7396's own examples, validation naming fields, the schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from servicekit.merge_patch import apply_merge_patch, merge_patch, merge_patch_schema

# RFC 7396, Appendix A (a selection, including the ones a hand-written merge gets wrong)
RFC_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("document", "patch", "expected"), RFC_EXAMPLES)
def test_rfc_7396_examples(document: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(document)
    assert merge_patch(document, patch) == expected
    assert document == before  # the current document is not modified


class Sso(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    protocol: str | None = None


class Settable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    locale: str = "en-US"
    sso: Sso = Field(default_factory=Sso)
    tags: list[str] = Field(default_factory=list)


CURRENT = {"name": "Acme", "locale": "de-DE", "sso": {"enabled": True, "protocol": "oidc"}}


def test_a_merged_document_is_validated_whole() -> None:
    merged = apply_merge_patch(
        Settable, document=CURRENT, patch={"locale": None, "sso": {"enabled": False}}
    )
    assert merged.model_dump() == {
        "name": "Acme",
        "locale": "en-US",
        "sso": {"enabled": False, "protocol": "oidc"},
        "tags": [],
    }
    with pytest.raises(RequestValidationError) as caught:
        apply_merge_patch(Settable, document=CURRENT, patch={"name": None, "sso": {"x": 1}})
    assert sorted(tuple(e["loc"]) for e in caught.value.errors()) == [
        ("body", "name"),
        ("body", "sso", "x"),
    ]


def test_the_schema_of_a_merge_patch() -> None:
    schema = merge_patch_schema(Settable)
    assert "required" not in schema
    assert "$defs" not in schema
    assert schema["additionalProperties"] is False
    name = schema["properties"]["name"]
    assert {"type": "null"} in name["anyOf"]
    assert name["anyOf"][0]["minLength"] == 1
    sso = schema["properties"]["sso"]["anyOf"][0]  # nested object: partial too
    assert "required" not in sso
    assert {"type": "null"} in sso["properties"]["enabled"]["anyOf"]
    tags = schema["properties"]["tags"]["anyOf"][0]  # arrays are replaced whole
    assert tags["items"] == {"type": "string"}
