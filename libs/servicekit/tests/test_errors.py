"""Error shapes: validation errors name each field; no stack trace ever leaves."""

from __future__ import annotations

import httpx
from test_auth import assert_problem

from servicekit.testing import auth


async def test_validation_error_names_each_bad_field(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/items", json={"tenant_id": "", "rank": -1}, headers=auth("agent"))
    body = assert_problem(resp, 422, "validation-error")
    fields = {e["field"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"tenant_id", "name", "rank"}
    assert "name" in str(body["detail"])


async def test_malformed_json_is_400_not_500(client: httpx.AsyncClient) -> None:
    # issue #18: a syntax error is the client's serializer, not a field: 400, not 422
    resp = await client.post(
        "/v1/items",
        content=b"{not json",
        headers={**auth("agent"), "content-type": "application/json"},
    )
    assert_problem(resp, 400, "malformed-json")


async def test_bad_query_and_path_parameters(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/items", params={"limit": 0}, headers=auth("agent"))
    body = assert_problem(resp, 422, "validation-error")
    assert body["errors"][0]["field"] == "limit"  # type: ignore[index]
    resp = await client.get("/v1/items/not-a-uuid", headers=auth("agent"))
    body = assert_problem(resp, 422, "validation-error")
    assert body["errors"][0]["field"] == "item_id"  # type: ignore[index]


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here", headers=auth("agent")), 404, "not-found")
    assert_problem(
        await client.delete("/v1/items", headers=auth("agent")), 405, "method-not-allowed"
    )


async def test_unexpected_error_is_500_problem_without_internals(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("/v1/boom", headers=auth("agent"))
    body = assert_problem(resp, 500, "internal-error")
    assert "hunter2" not in resp.text
    assert "Traceback" not in resp.text
    assert set(body) == {"type", "title", "status", "detail", "instance"}


async def test_correlation_id_is_echoed(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz", headers={"X-Correlation-Id": "abc-123"})
    assert resp.headers["x-correlation-id"] == "abc-123"
    fresh = await client.get("/healthz")
    assert len(fresh.headers["x-correlation-id"]) == 36


async def test_a_value_postgres_cannot_store_is_422_not_500(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/items", json={"tenant_id": "t", "name": "nul\u0000byte"}, headers=auth("agent")
    )
    assert_problem(resp, 422, "unstorable-value")
