"""Idempotency-Key: replay, body mismatch, and a concurrent race on real PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import kitapp
from test_auth import assert_problem
from test_unit_of_work import count_items

from servicekit.db import Database
from servicekit.testing import auth


async def test_replay_returns_the_first_response(client: httpx.AsyncClient, db: Database) -> None:
    headers = {**auth("agent", subject="u1"), "Idempotency-Key": "k-1"}
    body = {"tenant_id": "t", "name": "once"}
    first = await client.post("/v1/items", json=body, headers=headers)
    second = await client.post("/v1/items", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await count_items(db) == 1


async def test_same_key_with_another_body_is_rejected(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = {**auth("agent", subject="u1"), "Idempotency-Key": "k-2"}
    await client.post("/v1/items", json={"tenant_id": "t", "name": "a"}, headers=headers)
    resp = await client.post("/v1/items", json={"tenant_id": "t", "name": "b"}, headers=headers)
    assert_problem(resp, 422, "idempotency-key-reused")
    assert await count_items(db) == 1


async def test_keys_are_scoped_per_caller(client: httpx.AsyncClient, db: Database) -> None:
    body = {"tenant_id": "t", "name": "a"}
    a = await client.post(
        "/v1/items", json=body, headers={**auth("agent", subject="a"), "Idempotency-Key": "shared"}
    )
    b = await client.post(
        "/v1/items", json=body, headers={**auth("agent", subject="b"), "Idempotency-Key": "shared"}
    )
    assert a.json()["id"] != b.json()["id"]
    assert await count_items(db) == 2


async def test_concurrent_requests_with_one_key_have_one_effect(
    client: httpx.AsyncClient, db: Database
) -> None:
    kitapp.CALLS["create"] = 0
    headers = {**auth("agent", subject="racer"), "Idempotency-Key": "race"}
    body = {"tenant_id": "t", "name": "raced"}
    responses = await asyncio.gather(
        *(client.post("/v1/items", json=body, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert kitapp.CALLS["create"] == 1
    assert await count_items(db) == 1


async def test_without_a_key_each_request_creates(client: httpx.AsyncClient, db: Database) -> None:
    body = {"tenant_id": "t", "name": "x"}
    for _ in range(2):
        await client.post("/v1/items", json=body, headers=auth("agent"))
    assert await count_items(db) == 2
