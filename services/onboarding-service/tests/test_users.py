"""Users: invitations, activation, the status machine, seats under concurrency, scans."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR

from onboarding_service.scans.service import run_inactive_user_scan
from servicekit.db import Database
from servicekit.testing import auth, payload
from supportops_events import onboarding as ev


async def invite(
    client: httpx.AsyncClient, tenant_id: str, email: str | None = None, role: str = "member"
) -> httpx.Response:
    return await client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": email or f"u-{uuid.uuid4().hex[:8]}@example.com", "role": role},
        headers=OPERATOR,
    )


async def test_invite_accept_activates_and_emits(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    invited = await invite(client, tenant_id, "Pat@Example.com")
    assert invited.status_code == 201, invited.text
    body = invited.json()
    assert body["user"]["status"] == "invited"
    assert body["user"]["email"] == "pat@example.com"

    duplicate = await invite(client, tenant_id, "pat@example.com")
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/user-exists")

    accepted = await client.post(
        "/v1/invitations/accept",
        json={"token": body["invitation_token"], "name": "Pat"},
        headers=IDENTITY,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active"
    assert accepted.json()["name"] == "Pat"
    again = await client.post(
        "/v1/invitations/accept", json={"token": body["invitation_token"]}, headers=IDENTITY
    )
    assert again.status_code == 404

    events = await published(tenant_id, "user.activated")
    activated = payload(next(e for e in events if e.type == "user.activated"), ev.UserActivated)
    assert activated.user_id == body["user"]["id"]
    assert activated.status == "active"


async def test_expired_invitation_cannot_be_accepted(
    client: httpx.AsyncClient, new_tenant: Any, clock: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    token = (await invite(client, tenant_id)).json()["invitation_token"]
    present = clock.now()
    clock.advance(timedelta(days=30))
    try:
        response = await client.post(
            "/v1/invitations/accept", json={"token": token}, headers=IDENTITY
        )
    finally:
        clock.set(present)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/invitation-expired")


async def test_seat_limit_counts_pending_invitations(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id = (await new_tenant(seats=2))["tenant"]["id"]  # the admin holds one seat
    assert (await invite(client, tenant_id)).status_code == 201
    full = await invite(client, tenant_id)
    assert full.status_code == 409
    problem = full.json()
    assert problem["type"].endswith("/seat-limit-reached")
    assert problem["seat_limit"] == 2


async def test_concurrent_invitations_never_exceed_the_seat_limit(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id = (await new_tenant(seats=6))["tenant"]["id"]

    responses = await asyncio.gather(*(invite(client, tenant_id) for _ in range(20)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 5  # six seats, one held by the invited admin
    assert statuses.count(409) == 15
    users = (await client.get(f"/v1/tenants/{tenant_id}/users?limit=100", headers=OPERATOR)).json()[
        "items"
    ]
    assert len(users) == 6


async def test_deactivate_and_reactivate_keep_the_role(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    created = await new_tenant()
    tenant_id = created["tenant"]["id"]
    admin = created["admin_invitation"]
    await client.post(
        "/v1/invitations/accept", json={"token": admin["invitation_token"]}, headers=IDENTITY
    )
    user_id = admin["user"]["id"]
    # a second active admin: the last one could not be deactivated (test_last_admin.py)
    second = await client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": "second-admin@example.com", "role": "admin"},
        headers=OPERATOR,
    )
    await client.post(
        "/v1/invitations/accept",
        json={"token": second.json()["invitation_token"]},
        headers=IDENTITY,
    )

    off = await client.post(
        f"/v1/users/{user_id}/deactivate", json={"reason": "left"}, headers=OPERATOR
    )
    assert off.status_code == 200, off.text
    assert off.json()["status"] == "deactivated"
    assert off.json()["role"] == "admin"
    twice = await client.post(f"/v1/users/{user_id}/deactivate", json={}, headers=OPERATOR)
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/invalid-transition")
    # the one transition body (servicekit.errors.InvalidTransition): where it is, what
    # was asked, and where it could go instead
    assert twice.json()["current_status"] == "deactivated"
    assert twice.json()["requested_status"] == "deactivated"
    assert twice.json()["allowed"] == ["active"]

    on = await client.post(
        f"/v1/users/{user_id}/actions", json={"action": "reactivate"}, headers=OPERATOR
    )
    assert on.status_code == 200, on.text
    assert on.json()["user"]["status"] == "active"
    assert on.json()["user"]["role"] == "admin"
    await published(tenant_id, "user.deactivated", "user.reactivated")


async def test_lock_reported_by_identity_system_then_unlock(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    created = await new_tenant()
    admin = created["admin_invitation"]
    user_id = admin["user"]["id"]
    await client.post(
        "/v1/invitations/accept", json={"token": admin["invitation_token"]}, headers=IDENTITY
    )

    not_service = await client.post(f"/v1/users/{user_id}/lock", json={}, headers=OPERATOR)
    assert not_service.status_code == 403
    locked = await client.post(f"/v1/users/{user_id}/lock", json={}, headers=IDENTITY)
    assert locked.json()["status"] == "locked"
    assert locked.json()["session_epoch"] == 1
    sign_in = await client.post(f"/v1/users/{user_id}/sign-ins", json={}, headers=IDENTITY)
    assert sign_in.status_code == 409

    unlocked = await client.post(
        f"/v1/users/{user_id}/actions", json={"action": "unlock"}, headers=OPERATOR
    )
    assert unlocked.json()["user"]["status"] == "active"
    await published(created["tenant"]["id"], "user.locked", "user.unlocked")


async def test_update_user_role_needs_etag_and_keeps_an_admin(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    created = await new_tenant()
    admin = created["admin_invitation"]
    await client.post(
        "/v1/invitations/accept", json={"token": admin["invitation_token"]}, headers=IDENTITY
    )
    url = f"/v1/users/{admin['user']['id']}"
    etag = (await client.get(url, headers=OPERATOR)).headers["ETag"]

    assert (await client.patch(url, json={"role": "member"}, headers=OPERATOR)).status_code == 428
    last = await client.patch(url, json={"role": "member"}, headers={**OPERATOR, "If-Match": etag})
    assert last.status_code == 409
    assert last.json()["type"].endswith("/last-admin")
    renamed = await client.patch(url, json={"name": "Ada"}, headers={**OPERATOR, "If-Match": etag})
    assert renamed.status_code == 200
    assert renamed.headers["ETag"] != etag


async def test_inactive_scan_and_sign_in(
    client: httpx.AsyncClient, new_tenant: Any, db: Database, clock: Any
) -> None:
    created = await new_tenant()
    admin = created["admin_invitation"]
    user_id = admin["user"]["id"]
    await client.post(
        "/v1/invitations/accept", json={"token": admin["invitation_token"]}, headers=IDENTITY
    )
    now = clock.now()

    await run_inactive_user_scan(db, now=now + timedelta(days=10), after_days=90)
    assert (await client.get(f"/v1/users/{user_id}", headers=OPERATOR)).json()["status"] == (
        "active"
    )
    await run_inactive_user_scan(db, now=now + timedelta(days=91), after_days=90)
    user = (await client.get(f"/v1/users/{user_id}", headers=OPERATOR)).json()
    assert user["status"] == "inactive"
    assert user["role"] == "admin"

    signed_in = await client.post(f"/v1/users/{user_id}/sign-ins", json={}, headers=IDENTITY)
    assert signed_in.status_code == 200
    assert signed_in.json()["status"] == "active"
    assert signed_in.json()["last_sign_in_at"] is not None


async def test_user_endpoints_answer_bad_input_with_problems(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    bad = await client.post(
        f"/v1/tenants/{tenant_id}/users", json={"email": "x", "role": "owner"}, headers=OPERATOR
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"email", "role"}
    assert (await client.get(f"/v1/users/{uuid.uuid4()}", headers=OPERATOR)).status_code == 404
    assert (await client.get("/v1/users/123", headers=OPERATOR)).status_code == 422
    unknown_tenant = await invite(client, str(uuid.uuid4()))
    assert unknown_tenant.status_code == 404
    short = await client.post("/v1/invitations/accept", json={"token": "x"}, headers=IDENTITY)
    assert short.status_code == 422
    other = auth("onboarding", tenant_id=str(uuid.uuid4()))
    hidden = await client.get(f"/v1/tenants/{tenant_id}/users", headers=other)
    assert hidden.status_code == 404
