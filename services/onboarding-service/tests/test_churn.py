"""Churn: the REST action, the allowed transitions, automatic churn after a subscription
ended, and ``tenant.churned`` published exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR

from onboarding_service.config import OnboardingSettings
from onboarding_service.scans.service import apply_scheduled_suspensions
from servicekit.db import Database
from servicekit.testing import auth, eventually, payload, send_events
from supportops_events import billing as bev
from supportops_events import onboarding as ev
from supportops_events.samples import sample


async def tenant_in(client: httpx.AsyncClient, new_tenant: Any, *path: str) -> dict[str, Any]:
    """A new tenant walked through ``path`` (e.g. ``"active", "suspended"``)."""
    created: dict[str, Any] = await new_tenant()
    for status in path:
        response = await client.post(
            f"/v1/tenants/{created['tenant']['id']}/status",
            json={"status": status},
            headers=OPERATOR,
        )
        assert response.status_code == 200, response.text
    return created


async def test_churn_action_from_active_and_from_suspended(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    active = (await tenant_in(client, new_tenant, "active"))["tenant"]
    suspended = (await tenant_in(client, new_tenant, "active", "suspended"))["tenant"]

    from_active = await client.post(
        f"/v1/tenants/{active['id']}/churn", json={"reason": "budget cut"}, headers=OPERATOR
    )
    from_suspended = await client.post(f"/v1/tenants/{suspended['id']}/churn", headers=OPERATOR)

    assert from_active.status_code == 200, from_active.text
    assert from_active.json()["status"] == "churned"
    assert from_active.json()["churn_reason"] == "budget cut"
    assert from_active.json()["churned_at"] is not None
    assert from_active.headers["ETag"] == f'"{from_active.json()["version"]}"'
    assert from_suspended.status_code == 200, from_suspended.text
    assert from_suspended.json()["churn_reason"] == "manual"
    churned = payload(
        next(
            e for e in await published(active["id"], "tenant.churned") if e.type == "tenant.churned"
        ),
        ev.TenantChurned,
    )
    assert churned.status == "churned"
    assert churned.reason == "budget cut"
    assert churned.company_name == active["company_name"]
    other = await published(suspended["id"], "tenant.churned")
    assert [e.type for e in other if e.type.startswith("tenant.")][-2:] == [
        "tenant.suspended",
        "tenant.churned",
    ]


async def test_tenant_churned_is_published_exactly_once(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    created = await tenant_in(client, new_tenant, "active")
    tenant_id = created["tenant"]["id"]
    url = f"/v1/tenants/{tenant_id}/churn"

    assert (await client.post(url, headers=OPERATOR)).status_code == 200
    again = await client.post(url, headers=OPERATOR)
    by_status = await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "churned"}, headers=OPERATOR
    )
    # the subscription ending afterwards changes nothing either
    template = sample("subscription.canceled")
    assert isinstance(template, bev.SubscriptionCanceled)
    await send_events(
        [
            sample(
                "subscription.canceled",
                tenant_id=tenant_id,
                subscription_id=f"sub-{tenant_id}",
                ends_at=template.ends_at - timedelta(days=1),
            )
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-transition")
    assert again.json()["current_status"] == "churned"
    assert by_status.status_code == 409

    async def subscription_heard() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["subscription_id"] == f"sub-{tenant_id}"

    await eventually(subscription_heard)
    # a later event of the same tenant: everything before it has been published
    user_id = created["admin_invitation"]["user"]["id"]
    off = await client.post(f"/v1/users/{user_id}/deactivate", json={}, headers=OPERATOR)
    assert off.status_code == 200
    events = await published(tenant_id, "user.deactivated")
    assert [e.type for e in events].count("tenant.churned") == 1
    assert "tenant.suspended" not in [e.type for e in events]
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "churned"
    assert tenant["scheduled_suspension_at"] is None


async def test_churn_needs_the_operator_and_a_known_tenant(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    url = f"/v1/tenants/{tenant_id}/churn"

    assert (await client.post(url, headers=auth("agent"))).status_code == 403
    assert (await client.post(url)).status_code == 401
    unknown = await client.post(f"/v1/tenants/{uuid.uuid4()}/churn", headers=OPERATOR)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    too_long = await client.post(url, json={"reason": "x" * 501}, headers=OPERATOR)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "reason"
    unknown_field = await client.post(url, json={"when": "now"}, headers=OPERATOR)
    assert unknown_field.status_code == 422
    stale = await client.post(url, headers={**OPERATOR, "If-Match": '"99"'})
    assert stale.status_code == 412
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "onboarding"


async def test_an_onboarding_tenant_can_be_churned_but_not_suspended(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]

    suspended = await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "suspended"}, headers=OPERATOR
    )
    churned = await client.post(f"/v1/tenants/{tenant_id}/churn", headers=OPERATOR)

    assert suspended.status_code == 409
    assert suspended.json()["allowed"] == ["active", "churned"]
    assert churned.status_code == 200
    events = await published(tenant_id, "tenant.churned")
    assert [e.type for e in events if e.type.startswith("tenant.")] == [
        "tenant.created",
        "tenant.churned",
    ]
    # a churned tenant takes no new users and is not a stuck onboarding
    invite = await client.post(
        f"/v1/tenants/{tenant_id}/users", json={"email": "late@example.com"}, headers=OPERATOR
    )
    assert invite.status_code == 409
    assert invite.json()["type"].endswith("/tenant-not-active")


async def test_a_canceled_subscription_suspends_then_churns_after_the_grace_period(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    db: Database,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = (await tenant_in(client, new_tenant, "active"))["tenant"]["id"]
    ends_at = clock.now() + timedelta(days=10)
    await send_events(
        [
            sample(
                "subscription.canceled",
                tenant_id=tenant_id,
                subscription_id=f"sub-{tenant_id}",
                ends_at=ends_at,
            )
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def scheduled() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["scheduled_suspension_at"] is not None

    await eventually(scheduled)
    grace = timedelta(days=30)
    at_end = ends_at + timedelta(hours=1)
    first = await apply_scheduled_suspensions(db, now=at_end, churn_after=grace)
    assert first.suspended >= 1
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "suspended"
    assert tenant["scheduled_churn_at"] is not None
    assert tenant["scheduled_churn_at"].startswith((at_end + grace).date().isoformat())

    await apply_scheduled_suspensions(db, now=at_end + grace - timedelta(days=1), churn_after=grace)
    still = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert still["status"] == "suspended"

    later = at_end + grace + timedelta(minutes=1)
    await apply_scheduled_suspensions(db, now=later, churn_after=grace)
    await apply_scheduled_suspensions(db, now=later + timedelta(days=1), churn_after=grace)
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "churned"
    assert tenant["churn_reason"] == "subscription_canceled"
    assert tenant["scheduled_churn_at"] is None
    events = await published(tenant_id, "tenant.churned")
    tenant_events = [e for e in events if e.type.startswith("tenant.")]
    assert [e.type for e in tenant_events][-2:] == ["tenant.suspended", "tenant.churned"]
    churned = payload(tenant_events[-1], ev.TenantChurned)
    assert churned.reason == "subscription_canceled"
    assert churned.subscription_id == f"sub-{tenant_id}"


async def test_reactivation_during_the_grace_period_stops_the_churn(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    db: Database,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    created = await tenant_in(client, new_tenant, "active")
    tenant_id = created["tenant"]["id"]
    now = clock.now()
    await send_events(
        [
            sample(
                "subscription.canceled",
                tenant_id=tenant_id,
                subscription_id=f"sub-{tenant_id}",
                ends_at=now - timedelta(minutes=1),  # canceled immediately
            )
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def suspended() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["status"] == "suspended"
        assert tenant["suspension_reason"] == "subscription_canceled"
        assert tenant["scheduled_churn_at"] is not None

    await eventually(suspended)
    back = await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    assert back.status_code == 200
    assert back.json()["scheduled_churn_at"] is None

    await apply_scheduled_suspensions(
        db, now=now + timedelta(days=365), churn_after=timedelta(days=30)
    )
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "active"
    user_id = created["admin_invitation"]["user"]["id"]
    await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    await client.post(f"/v1/users/{user_id}/lock", json={}, headers=IDENTITY)
    events = await published(tenant_id, "user.locked")
    assert "tenant.churned" not in [e.type for e in events]
