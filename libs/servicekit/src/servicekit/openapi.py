"""What the OpenAPI document says about errors: every problem response a route can give,
documented once here as ``application/problem+json`` and added to every operation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from servicekit.errors import PROBLEM_JSON

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class FieldProblem(BaseModel):
    """One invalid input of a 422: where it is and what is wrong with it."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description="Dotted path of the field, e.g. `items.0.name`")
    in_: str | None = Field(None, alias="in", description="body, query, path or header")
    message: str
    code: str | None = Field(None, description="Machine name of the error, e.g. `missing`")


class Problem(BaseModel):
    """RFC 9457 problem details. `type` is stable per kind of problem; extension
    members (`errors`, `field`, `reasons`, `current_etag`…) may follow."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="A stable URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path")
    errors: list[FieldProblem] | None = Field(None, description="Invalid inputs (on a 422)")


# Which problems each kind of operation can answer with (besides its success).
PROBLEM_RESPONSES: dict[int, str] = {
    400: "Malformed request (an invalid cursor, a malformed If-Match, an unreadable header)",
    401: "Missing, invalid or expired bearer token",
    403: "The token lacks a role, or is confined to another tenant",
    404: "Not found (or another tenant's)",
    409: "Conflict: a state transition that is not allowed, a duplicate, "
    "an Idempotency-Key still in progress",
    412: "If-Match names a version that is no longer current",
    422: "Invalid input; `errors` names each field",
    428: "A precondition header (If-Match, or Idempotency-Key where it is mandatory) is missing",
    503: "The database (or broker) is temporarily unavailable; retry after `Retry-After` seconds",
}
# Every API operation: its webhooks authenticate by signature, so 401/403 apply there too;
# any of them may meet a database outage (servicekit.infra_errors), a 503.
ALWAYS = (400, 401, 403, 404, 409, 422, 503)
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 1},
}


def _has_header(operation: dict[str, Any], name: str) -> bool:
    return any(
        p.get("in") == "header" and str(p.get("name", "")).lower() == name.lower()
        for p in operation.get("parameters", [])
    )


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add the problem responses to every operation of ``document`` (in place).

    Error responses a route already declares keep their description but are described
    as what the service really sends: ``application/problem+json`` with the Problem
    schema (FastAPI's default 422 says ``application/json`` ``HTTPValidationError``).
    """
    components = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    for name, definition in problem_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["Problem"] = problem_schema
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    for path, item in document.get("paths", {}).items():
        if path in HEALTH_PATHS:
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            statuses = list(ALWAYS)
            if _has_header(operation, "If-Match"):
                statuses += [412, 428]
            if _has_header(operation, "Idempotency-Key"):
                statuses.append(428)  # where moving money makes the key mandatory
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(str(status), {"description": PROBLEM_RESPONSES[status]})
            responses["503"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
            for status, response in responses.items():
                if str(status).startswith(("4", "5")):
                    response["content"] = dict(content)
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))
    _describe_local_times(document)
    return document


LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"


def _describe_local_times(node: Any) -> None:
    """pydantic documents ``datetime.time`` as JSON Schema ``format: time`` (RFC 3339
    full-time, which requires a UTC offset) but sends a wall-clock ``09:00:00``: describe
    what is sent (a local time of day, its time zone given next to it)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            node["format"] = "partial-time"
            node.setdefault("pattern", LOCAL_TIME_PATTERN)
        for value in node.values():
            _describe_local_times(value)
    elif isinstance(node, list):
        for value in node:
            _describe_local_times(value)


def _drop_unused(document: dict[str, Any], names: tuple[str, ...]) -> None:
    """Remove component schemas nothing refers to any more (in the given order)."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        if name not in schemas:
            continue
        definition = schemas.pop(name)
        if f'"#/components/schemas/{name}"' in json.dumps(document):
            schemas[name] = definition


def install_problem_documentation(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``, ``/docs``) document problems."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
