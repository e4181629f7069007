"""The OpenAPI document tells the truth about errors and methods."""

from __future__ import annotations

from datetime import time
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from test_auth import assert_problem

from servicekit.errors import PROBLEM_JSON
from servicekit.openapi import document_problems, install_problem_documentation
from servicekit.testing import auth

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    document: dict[str, Any] = resp.json()
    return document


async def test_every_api_operation_documents_its_problems(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
    ]
    assert operations
    for path, method, operation in operations:
        responses = operation["responses"]
        for status in ("400", "401", "403", "404", "409", "422"):
            assert responses[status]["content"] == {PROBLEM_JSON: {"schema": PROBLEM_REF}}, (
                path,
                method,
                status,
            )
    idempotent = document["paths"]["/v1/items"]["post"]["responses"]
    assert "428" in idempotent  # it takes an Idempotency-Key
    assert "412" not in idempotent  # it takes no If-Match
    schemas = document["components"]["schemas"]
    assert schemas["Problem"]["required"] == ["type", "title", "status"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "/healthz" in document["paths"]
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}


async def test_a_real_error_is_what_the_document_says(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    problem = document["components"]["schemas"]["Problem"]
    resp = await client.post("/v1/items", json={"rank": "x"}, headers=auth("agent"))
    body = assert_problem(resp, 422, "validation-error")
    assert set(problem["required"]) <= set(body)
    field_problem = document["components"]["schemas"]["FieldProblem"]
    for error in body["errors"]:  # type: ignore[attr-defined]
        assert set(field_problem["required"]) <= set(error)


async def test_options_names_every_method_of_the_resource(client: httpx.AsyncClient) -> None:
    resp = await client.request("OPTIONS", "/v1/items", headers=auth("agent"))
    assert_problem(resp, 405, "method-not-allowed")
    assert resp.headers["allow"] == "GET, HEAD, POST"


async def test_a_concrete_path_wins_over_a_templated_sibling(client: httpx.AsyncClient) -> None:
    # /v1/items/{item_id} would take the URL and answer 422 (not a UUID); the resource
    # /v1/items/fail-after-write only supports POST.
    resp = await client.get("/v1/items/fail-after-write", headers=auth("agent"))
    assert_problem(resp, 405, "method-not-allowed")
    assert resp.headers["allow"] == "POST"
    resp = await client.delete("/v1/items/00000000-0000-0000-0000-000000000000")
    assert_problem(resp, 405, "method-not-allowed")
    assert resp.headers["allow"] == "GET, HEAD"


class Opening(BaseModel):
    opens: time


def test_a_wall_clock_time_is_not_documented_as_an_rfc3339_time() -> None:
    app = FastAPI()

    @app.post("/v1/openings")
    async def create(body: Opening) -> Opening:
        return body

    install_problem_documentation(app)
    opens = app.openapi()["components"]["schemas"]["Opening"]["properties"]["opens"]
    assert opens["format"] == "partial-time"
    assert opens["pattern"].startswith("^")
    assert document_problems({"paths": {}})["components"]["schemas"]["Problem"]
