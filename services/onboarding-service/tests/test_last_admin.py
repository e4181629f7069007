"""A tenant always keeps an active admin: no role change, deactivation or removal may take
the power of the last one, not even two admins demoting each other at the same moment."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR

from servicekit.testing import payload
from supportops_events import onboarding as ev

RULE = "a tenant keeps at least one active admin"


async def invite_active(
    client: httpx.AsyncClient, tenant_id: str, *, role: str, name: str
) -> dict[str, Any]:
    invited = await client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": f"{name}@example.com", "name": name, "role": role},
        headers=OPERATOR,
    )
    assert invited.status_code == 201, invited.text
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"token": invited.json()["invitation_token"]},
        headers=IDENTITY,
    )
    assert accepted.status_code == 200, accepted.text
    user: dict[str, Any] = accepted.json()
    return user


async def tenant_with_active_admin(
    client: httpx.AsyncClient, new_tenant: Any
) -> tuple[str, dict[str, Any]]:
    created = await new_tenant()
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    assert accepted.status_code == 200, accepted.text
    return created["tenant"]["id"], accepted.json()


async def demote(client: httpx.AsyncClient, user: dict[str, Any]) -> httpx.Response:
    url = f"/v1/users/{user['id']}"
    etag = (await client.get(url, headers=OPERATOR)).headers["ETag"]
    return await client.patch(url, json={"role": "member"}, headers={**OPERATOR, "If-Match": etag})


def assert_last_admin_problem(response: httpx.Response, user: dict[str, Any]) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://supportops.dev/problems/last-admin"
    assert problem["title"] == "Last active admin"
    assert problem["status"] == 409
    assert problem["rule"] == RULE
    assert problem["user_id"] == user["id"]
    assert user["email"] in problem["detail"]


async def active_admin_ids(client: httpx.AsyncClient, tenant_id: str) -> set[str]:
    listed = await client.get(
        f"/v1/tenants/{tenant_id}/users", params={"role": "admin"}, headers=OPERATOR
    )
    return {u["id"] for u in listed.json()["items"] if u["status"] in {"active", "inactive"}}


async def test_the_last_active_admin_cannot_be_deactivated(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id, admin = await tenant_with_active_admin(client, new_tenant)

    refused = await client.post(f"/v1/users/{admin['id']}/deactivate", json={}, headers=OPERATOR)

    assert_last_admin_problem(refused, admin)
    after = (await client.get(f"/v1/users/{admin['id']}", headers=OPERATOR)).json()
    assert after["status"] == "active"
    assert after["session_epoch"] == admin["session_epoch"]  # sessions not revoked either

    # with a second active admin the first may go, and then the second is the last
    second = await invite_active(client, tenant_id, role="admin", name="grace")
    off = await client.post(f"/v1/users/{admin['id']}/deactivate", json={}, headers=OPERATOR)
    assert off.status_code == 200, off.text
    assert off.json()["status"] == "deactivated"
    again = await client.post(f"/v1/users/{second['id']}/deactivate", json={}, headers=OPERATOR)
    assert_last_admin_problem(again, second)
    assert await active_admin_ids(client, tenant_id) == {second["id"]}


async def test_the_last_active_admin_keeps_the_role(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id, admin = await tenant_with_active_admin(client, new_tenant)
    member = await invite_active(client, tenant_id, role="member", name="linus")

    refused = await demote(client, admin)

    assert_last_admin_problem(refused, admin)
    # members come and go freely; promoting one makes the demotion possible
    url = f"/v1/users/{member['id']}"
    etag = (await client.get(url, headers=OPERATOR)).headers["ETag"]
    promoted = await client.patch(
        url, json={"role": "admin"}, headers={**OPERATOR, "If-Match": etag}
    )
    assert promoted.status_code == 200, promoted.text
    assert (await demote(client, admin)).status_code == 200
    assert await active_admin_ids(client, tenant_id) == {member["id"]}


async def test_the_last_active_admin_cannot_be_removed(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id, admin = await tenant_with_active_admin(client, new_tenant)
    member = await invite_active(client, tenant_id, role="member", name="ada")

    refused = await client.delete(f"/v1/users/{admin['id']}", headers=OPERATOR)

    assert_last_admin_problem(refused, admin)
    assert (await client.get(f"/v1/users/{admin['id']}", headers=OPERATOR)).status_code == 200
    # a member can go: deactivated (sessions revoked, read models told), then forgotten
    removed = await client.delete(f"/v1/users/{member['id']}", headers=OPERATOR)
    assert removed.status_code == 204, removed.text
    assert (await client.get(f"/v1/users/{member['id']}", headers=OPERATOR)).status_code == 404
    events = await published(tenant_id, "user.deactivated")
    gone = payload(next(e for e in events if e.type == "user.deactivated"), ev.UserDeactivated)
    assert (gone.user_id, gone.reason) == (member["id"], "removed")
    # and so can an admin once another one can run the tenant
    second = await invite_active(client, tenant_id, role="admin", name="joan")
    assert (await client.delete(f"/v1/users/{admin['id']}", headers=OPERATOR)).status_code == 204
    assert await active_admin_ids(client, tenant_id) == {second["id"]}
    # the e-mail of a removed user can be invited again
    again = await client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": member["email"], "role": "member"},
        headers=OPERATOR,
    )
    assert again.status_code == 201, again.text


async def test_a_locked_admin_does_not_count_as_active(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    """A locked admin cannot sign in: demoting the only one who can would lock the
    tenant out until support unlocks someone."""
    tenant_id, admin = await tenant_with_active_admin(client, new_tenant)
    other = await invite_active(client, tenant_id, role="admin", name="barbara")
    locked = await client.post(f"/v1/users/{other['id']}/lock", json={}, headers=IDENTITY)
    assert locked.json()["status"] == "locked"

    assert_last_admin_problem(await demote(client, admin), admin)
    deactivated = await client.post(
        f"/v1/users/{admin['id']}/deactivate", json={}, headers=OPERATOR
    )
    assert_last_admin_problem(deactivated, admin)
    # the locked admin itself may still be deactivated: it holds no active power
    off = await client.post(f"/v1/users/{other['id']}/deactivate", json={}, headers=OPERATOR)
    assert off.status_code == 200, off.text


async def test_two_admins_demoting_each_other_at_once_leave_one(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id, first = await tenant_with_active_admin(client, new_tenant)
    second = await invite_active(client, tenant_id, role="admin", name="margaret")

    responses = await asyncio.gather(demote(client, first), demote(client, second))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    refused_index = [r.status_code for r in responses].index(409)
    assert_last_admin_problem(responses[refused_index], [first, second][refused_index])
    assert len(await active_admin_ids(client, tenant_id)) == 1


async def test_demotion_deactivation_and_removal_at_once_leave_one(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id, first = await tenant_with_active_admin(client, new_tenant)
    second = await invite_active(client, tenant_id, role="admin", name="katherine")
    third = await invite_active(client, tenant_id, role="admin", name="dorothy")

    responses = await asyncio.gather(
        demote(client, first),
        client.post(f"/v1/users/{second['id']}/deactivate", json={}, headers=OPERATOR),
        client.delete(f"/v1/users/{third['id']}", headers=OPERATOR),
    )

    assert sorted(r.status_code for r in responses)[-1] == 409, [r.text for r in responses]
    assert len([r for r in responses if r.status_code == 409]) == 1
    assert len(await active_admin_ids(client, tenant_id)) == 1
