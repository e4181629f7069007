"""Auth: missing, expired, bad signature, wrong role, cross-tenant — status and problem body."""

from __future__ import annotations

import time

import httpx
import jwt

from servicekit.auth import mint_token
from servicekit.errors import PROBLEM_JSON
from servicekit.settings import DEV_JWT_SECRET
from servicekit.testing import auth


def assert_problem(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body = resp.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"]
    return body


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/items")
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401(client: httpx.AsyncClient) -> None:
    expired = mint_token(
        secret=DEV_JWT_SECRET, roles=["agent"], ttl_seconds=60, now=time.time() - 3600
    )
    resp = await client.get("/v1/items", headers={"Authorization": f"Bearer {expired}"})
    body = assert_problem(resp, 401, "token-expired")
    assert "expired" in str(body["detail"])


async def test_bad_signature_is_401(client: httpx.AsyncClient) -> None:
    forged = mint_token(secret="another-secret-of-enough-length-32b", roles=["admin"])
    resp = await client.get("/v1/items", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(resp, 401, "invalid-token")


async def test_garbage_and_unsigned_tokens_are_401(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/items", headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(resp, 401, "invalid-token")
    unsigned = jwt.encode({"sub": "x", "roles": ["admin"], "exp": time.time() + 60}, None, "none")
    resp = await client.get("/v1/items", headers={"Authorization": f"Bearer {unsigned}"})
    assert_problem(resp, 401, "invalid-token")


async def test_wrong_role_is_403_naming_the_roles(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/admin-only", headers=auth("agent"))
    body = assert_problem(resp, 403, "insufficient-role")
    assert body["required_roles"] == ["admin"]
    ok = await client.get("/v1/admin-only", headers=auth("admin", subject="root"))
    assert ok.status_code == 200
    assert ok.json() == {"subject": "root"}


async def test_tenant_token_never_sees_another_tenant(client: httpx.AsyncClient) -> None:
    admin = auth("agent")
    mine = await client.post("/v1/items", json={"tenant_id": "t-a", "name": "a"}, headers=admin)
    theirs = await client.post("/v1/items", json={"tenant_id": "t-b", "name": "b"}, headers=admin)
    assert mine.status_code == theirs.status_code == 201
    scoped = auth("agent", tenant_id="t-a")

    listed = await client.get("/v1/items", headers=scoped)
    assert [i["tenant_id"] for i in listed.json()["items"]] == ["t-a"]

    other = await client.get(f"/v1/items/{theirs.json()['id']}", headers=scoped)
    assert_problem(other, 404, "not-found")
    own = await client.get(f"/v1/items/{mine.json()['id']}", headers=scoped)
    assert own.status_code == 200

    # Another tenant does not exist for this token (servicekit.authz): 404, as for its items.
    asked = await client.get("/v1/items", params={"tenant_id": "t-b"}, headers=scoped)
    assert_problem(asked, 404, "not-found")

    created = await client.post(
        "/v1/items", json={"tenant_id": "t-b", "name": "sneaky"}, headers=scoped
    )
    assert_problem(created, 404, "not-found")
    everything = await client.get("/v1/items", headers=admin)
    assert sorted(i["name"] for i in everything.json()["items"]) == ["a", "b"]


async def test_health_and_metrics_are_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
