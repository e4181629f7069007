"""RFC 7396 JSON Merge Patch for every PATCH of every service: read, merge, validate, document.

A PATCH body is a merge patch of the resource's *settable document* (a pydantic model of
everything the PATCH may change): a member that is absent stays as it is, a value
replaces it, ``null`` removes it (so it falls back to its default, or is refused with a
422 when it has none), and an object merges into the object it names, key by key, so
``{"configuration": {"locale": "en-GB"}}`` changes the locale and nothing else. Arrays
are values: they are replaced whole. The merged document is validated as a whole, so a
bad value is a 422 naming the field (``configuration.locale``) and cross-field rules
still hold.

Usage in a router::

    @router.patch("/{id}", summary="…", **merge_patch_route(TenantSettable))
    async def update(id: UUID, patch: MergePatch, …):
        merged = apply_merge_patch(TenantSettable, document=settable_of(row), patch=patch)

Both ``application/merge-patch+json`` and ``application/json`` are accepted (FastAPI reads
any ``+json`` type as JSON) and documented.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import json_merge_patch
from fastapi import Body
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

MERGE_PATCH_MEDIA_TYPE = "application/merge-patch+json"

M = TypeVar("M", bound=BaseModel)

MergePatch = Annotated[
    dict[str, Any],
    Body(
        description="An RFC 7396 JSON Merge Patch of the resource's settable fields",
        media_type=MERGE_PATCH_MEDIA_TYPE,
    ),
]
"""The body of a PATCH: a JSON object (anything else is a 422 from FastAPI)."""

MERGE_PATCH_DESCRIPTION = (
    "The body is a JSON Merge Patch (RFC 7396), sent as `application/merge-patch+json` "
    "or `application/json`: a member left out stays as it is, a value replaces it, "
    "`null` removes it (it falls back to its default; a member without one cannot be "
    "removed), and an object is merged into the current one key by key (so "
    '`{"configuration": {"locale": "en-GB"}}` changes the locale and keeps every other '
    "key). Arrays are replaced whole. The result is validated as a whole: an invalid "
    "value is a 422 naming the field."
)


def merge_patch(document: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with ``patch`` applied (RFC 7396); neither argument is modified."""
    # the library merges into its first argument in place: give it a copy
    merged: dict[str, Any] = json_merge_patch.merge(copy.deepcopy(dict(document)), patch)
    return merged


def apply_merge_patch(
    model: type[M], *, document: Mapping[str, Any], patch: Mapping[str, Any]
) -> M:
    """Merge ``patch`` into the current ``document`` (JSON-compatible: dump it with
    ``mode="json"``) and validate the result as ``model``.

    Errors are request validation errors located in the body, so the kit's handler
    answers 422 ``validation-error`` naming each field (``configuration.sso.enabled``).
    """
    merged = merge_patch(document, patch)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            error = dict(error)  # type: ignore[assignment]
            error["loc"] = ("body", *error.get("loc", ()))
            error.pop("url", None)
            errors.append(error)
        raise RequestValidationError(errors) from None


def changed(merged: BaseModel, document: Mapping[str, Any]) -> set[str]:
    """Top-level fields whose merged value differs from the current document."""
    dumped = merged.model_dump(mode="json")
    return {name for name, value in dumped.items() if document.get(name) != value}


def merge_patch_route(model: type[BaseModel], *, description: str = "") -> dict[str, Any]:
    """Keyword arguments for ``@router.patch``: the operation's description says it takes
    a merge patch, and its request body is documented in both media types with the merge
    patch schema of ``model`` (every member optional and nullable, objects partial)."""
    schema = merge_patch_schema(model)
    body = {
        "required": True,
        "description": f"A JSON Merge Patch (RFC 7396) of {model.__name__}",
        "content": {
            MERGE_PATCH_MEDIA_TYPE: {"schema": schema},
            "application/json": {"schema": schema},
        },
    }
    text = f"{description}\n\n{MERGE_PATCH_DESCRIPTION}" if description else MERGE_PATCH_DESCRIPTION
    return {"description": text, "openapi_extra": {"requestBody": body}}


def merge_patch_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a merge patch of ``model``: references inlined, no member
    required, every member nullable, nested objects partial (arrays stay whole)."""
    full = model.model_json_schema(mode="validation")
    defs = full.pop("$defs", {})
    return _partial(_inline(full, defs))


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline({**target, **rest}, defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf", [])
    if schema.get("type") == "null" or any(o.get("type") == "null" for o in options):
        return schema
    described: dict[str, Any] = {k: schema[k] for k in ("title", "description") if k in schema}
    inner = {k: v for k, v in schema.items() if k not in ("title", "description", "default")}
    return {"anyOf": [inner, {"type": "null"}], **described}


def _partial(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose members may be left out or set to null; applied inside
    ``anyOf`` options too (``Sso | None``), never inside arrays, which are replaced whole."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [_partial(option) for option in schema["anyOf"]]}
    if schema.get("type") != "object":
        return schema
    out = {k: v for k, v in schema.items() if k not in ("required", "default")}
    if "properties" in out:
        out["properties"] = {
            name: _nullable(_partial(prop)) for name, prop in out["properties"].items()
        }
    extra = out.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _nullable(_partial(extra))
    return out
