"""The API-style rules on every operation of the four services (docs/api-style.md),
enumerated from each app's OpenAPI document: malformed JSON and non-UTF-8 bodies are a
400 ``malformed-json``, a body of the wrong shape a 422 naming its fields, unknown query
parameters a 400 ``unknown-query-parameter`` naming them, a malformed ``If-Match`` a 400
``malformed-if-match``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from opskit import Operation, Running

from servicekit.errors import PROBLEM_BASE, PROBLEM_JSON
from servicekit.testing import auth

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

ADMIN = auth("admin", subject="style-admin")


def problem(response: httpx.Response, status: int, code: str, label: str) -> dict[str, Any]:
    assert response.status_code == status, f"{label}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), label
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + code, f"{label}: {body}"
    return body


def every(services: dict[str, Running]) -> list[tuple[Running, Operation]]:
    return [(r, op) for r in services.values() for op in r.operations]


async def send(
    running: Running,
    op: Operation,
    *,
    content: bytes | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await running.client.request(
        op.method.upper(),
        op.url(),
        content=content,
        params=params,
        headers={
            **ADMIN,
            "Idempotency-Key": uuid.uuid4().hex,
            **({"Content-Type": "application/json"} if content is not None else {}),
            **(headers or {}),
        },
    )


async def test_a_body_that_is_not_json_is_400_malformed_json(services: dict[str, Running]) -> None:
    checked = 0
    for running, op in every(services):
        if op.json_body is None:
            continue
        for raw, why in ((b'{"subject": "half', "syntax"), (b'{"a": "\xff\xfe"}', "not UTF-8")):
            response = await send(running, op, content=raw)
            body = problem(response, 400, "malformed-json", f"{op.label} ({why})")
            assert "not valid JSON" in body["detail"], op.label
            checked += 1
    assert checked >= 2 * 40, f"only {checked} probes: are the JSON bodies still documented?"


async def test_a_body_of_the_wrong_shape_stays_422_naming_the_fields(
    services: dict[str, Running],
) -> None:
    """``{}`` where fields are required (on operations without path ids, so nothing but
    the body can be at fault): 422 ``validation-error`` naming each missing field."""
    checked = 0
    for running, op in every(services):
        schema = op.json_body
        if schema is None or op.params("path"):
            continue
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        required = op.document["components"]["schemas"].get(name, {}).get("required", [])
        if not required:
            continue
        response = await send(running, op, content=b"{}")
        body = problem(response, 422, "validation-error", op.label)
        named = {e["field"] for e in body["errors"]}
        assert named and named <= set(required), f"{op.label}: {named} vs {required}"
        checked += 1
    assert checked >= 10, checked


async def test_an_unknown_query_parameter_is_400_naming_it(services: dict[str, Running]) -> None:
    checked = 0
    for running, op in every(services):
        response = await send(running, op, params={"stauts": "open", "zz_top": "1"})
        body = problem(response, 400, "unknown-query-parameter", op.label)
        assert body["parameters"] == ["stauts", "zz_top"], op.label
        assert "stauts" in body["detail"], op.label
        checked += 1
    assert checked >= 100, checked


async def test_declared_query_parameters_are_not_refused(services: dict[str, Running]) -> None:
    """The check must know every parameter a route declares (its dependencies' too)."""
    checked = 0
    for running, op in every(services):
        names = [p["name"] for p in op.params("query")]
        if not names:
            continue
        response = await send(running, op, params={n: "1" for n in names})
        if response.status_code == 400:
            assert response.json()["type"] != PROBLEM_BASE + "unknown-query-parameter", (
                f"{op.label}: {response.text}"
            )
        checked += 1
    assert checked >= 15, checked


async def test_a_malformed_if_match_is_400_on_every_operation_taking_it(
    services: dict[str, Running],
) -> None:
    checked = 0
    for running, op in every(services):
        if not any(p["name"].lower() == "if-match" for p in op.params("header")):
            continue
        for value in ("3", "garbage", '"3'):
            response = await send(running, op, headers={"If-Match": value})
            body = problem(response, 400, "malformed-if-match", f"{op.label} If-Match {value}")
            assert body["field"] == "If-Match"
        checked += 1
    assert checked >= 5, checked
