"""The checklist ticking from billing events and actions to tenant.onboarded, stuck
onboardings, and the reactions to billing (seats, suspension, reactivation)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR

from onboarding_service.config import OnboardingSettings
from onboarding_service.scans.service import apply_scheduled_suspensions
from servicekit.db import Database
from servicekit.testing import eventually, payload, send_events
from supportops_events import onboarding as ev
from supportops_events.samples import sample


def subscription(event_type: str, tenant_id: str, **overrides: Any) -> Any:
    return sample(event_type, tenant_id=tenant_id, subscription_id=f"sub-{tenant_id}", **overrides)


async def steps(client: httpx.AsyncClient, tenant_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/tenants/{tenant_id}/onboarding", headers=OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_checklist_ticks_to_onboarded_with_a_report(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    created = await new_tenant(seats=5)
    tenant_id = created["tenant"]["id"]
    first = await steps(client, tenant_id)
    done = {s["step"] for s in first["steps"] if s["done"]}
    assert done == {"company_created", "admin_invited", "configuration_applied"}
    assert first["report"] is None

    await send_events(
        [
            subscription("subscription.created", tenant_id, seats=8),
            sample("invoice.paid", tenant_id=tenant_id),
        ],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def billing_ticked() -> None:
        body = await steps(client, tenant_id)
        ticked = {s["step"] for s in body["steps"] if s["done"]}
        assert {"subscription_attached", "payment_confirmed"} <= ticked

    await eventually(billing_ticked)
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["seat_limit"] == 8
    assert tenant["subscription_id"] == f"sub-{tenant_id}"

    await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    welcome = await client.post(
        f"/v1/tenants/{tenant_id}/onboarding/welcome", json={}, headers=OPERATOR
    )
    assert welcome.status_code == 201, welcome.text
    assert created["tenant"]["company_name"] in welcome.json()["subject"]
    assert "8 seats" in welcome.json()["body"]

    final = await steps(client, tenant_id)
    assert final["complete"] is True
    assert final["tenant_status"] == "active"
    report = final["report"]
    assert report["total_duration_seconds"] >= 0
    by_step = {s["step"]: s for s in report["steps"]}
    assert by_step["payment_confirmed"]["source"] == "invoice.paid"
    assert by_step["welcome_sent"]["completed_by"]
    events = await published(tenant_id, "tenant.onboarded", "tenant.activated")
    onboarded = payload(next(e for e in events if e.type == "tenant.onboarded"), ev.TenantOnboarded)
    assert len(onboarded.completed_steps) == 7
    assert onboarded.status == "active"


async def test_net_terms_confirm_payment_for_invoice_customers_only(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    card = (await new_tenant())["tenant"]["id"]
    refused = await client.post(f"/v1/tenants/{card}/onboarding/net-terms", headers=OPERATOR)
    assert refused.status_code == 409

    invoiced = (
        await new_tenant(
            billing={
                "collection_method": "send_invoice",
                "billing_email": "ap@example.com",
                "days_until_due": 30,
            }
        )
    )["tenant"]["id"]
    accepted = await client.post(f"/v1/tenants/{invoiced}/onboarding/net-terms", headers=OPERATOR)
    assert accepted.status_code == 200
    payment = next(s for s in accepted.json()["steps"] if s["step"] == "payment_confirmed")
    assert payment["done"] is True
    assert payment["source"] == "net_terms"


async def test_stuck_onboardings_list_overdue_steps(
    client: httpx.AsyncClient, new_tenant: Any, clock: Any
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    fresh = (await client.get("/v1/onboarding/stuck?limit=200", headers=OPERATOR)).json()
    assert tenant_id not in [t["tenant_id"] for t in fresh["items"]]

    present = clock.now()

    clock.advance(timedelta(days=3))
    try:
        later = await client.get("/v1/onboarding/stuck?limit=200", headers=OPERATOR)
    finally:
        clock.set(present)
    mine = next(t for t in later.json()["items"] if t["tenant_id"] == tenant_id)
    assert [s["step"] for s in mine["overdue_steps"]] == ["subscription_attached"]


async def test_seat_changes_follow_the_newest_subscription_state(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    tenant_id = (await new_tenant(seats=3))["tenant"]["id"]
    from supportops_events import Envelope

    newer = Envelope.new(subscription("subscription.updated", tenant_id, seats=10), source="t")
    older = Envelope.new(subscription("subscription.updated", tenant_id, seats=4), source="t")
    older.time = newer.time - timedelta(minutes=5)
    await send_events([newer, older], prefix=onboarding_settings.kafka_topic_prefix)

    async def limit_is_ten() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["seat_limit"] == 10

    await eventually(limit_is_ten)
    await send_events(
        [subscription("subscription.updated", tenant_id, seats=7)],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def limit_is_seven() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["seat_limit"] == 7

    await eventually(limit_is_seven)


async def test_overdue_beyond_policy_restricts_and_payment_reactivates(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    prefix = onboarding_settings.kafka_topic_prefix
    await send_events(
        [
            sample(
                "billing.followup_required",
                tenant_id=tenant_id,
                cause="invoice_overdue",
                days_overdue=3,
            ),
            sample(
                "billing.followup_required",
                tenant_id=tenant_id,
                cause="invoice_overdue",
                days_overdue=45,
                invoice_id="inv-late",
            ),
        ],
        prefix=prefix,
    )

    async def restricted() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["status"] == "suspended"
        assert tenant["restricted"] is True

    await eventually(restricted)
    await send_events([sample("invoice.paid", tenant_id=tenant_id)], prefix=prefix)

    async def reactivated() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["status"] == "active"
        assert tenant["restricted"] is False

    await eventually(reactivated)
    events = await published(tenant_id, "tenant.suspended", "tenant.reactivated")
    suspended = payload(next(e for e in events if e.type == "tenant.suspended"), ev.TenantSuspended)
    assert suspended.reason == "payment_overdue"
    assert suspended.invoice_id == "inv-late"
    reactivated_event = payload(
        next(e for e in events if e.type == "tenant.reactivated"), ev.TenantReactivated
    )
    assert reactivated_event.reason == "payment_received"


async def test_cancellation_suspends_at_period_end_via_the_scan(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    db: Database,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id = (await new_tenant())["tenant"]["id"]
    await client.post(
        f"/v1/tenants/{tenant_id}/status", json={"status": "active"}, headers=OPERATOR
    )
    ends_at = clock.now() + timedelta(days=20)
    await send_events(
        [subscription("subscription.canceled", tenant_id, ends_at=ends_at)],
        prefix=onboarding_settings.kafka_topic_prefix,
    )

    async def scheduled() -> None:
        tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
        assert tenant["scheduled_suspension_at"] is not None

    await eventually(scheduled)
    grace = timedelta(days=30)
    await apply_scheduled_suspensions(db, now=clock.now() + timedelta(days=1), churn_after=grace)
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "active"

    suspended_at = ends_at + timedelta(minutes=1)
    await apply_scheduled_suspensions(db, now=suspended_at, churn_after=grace)
    tenant = (await client.get(f"/v1/tenants/{tenant_id}", headers=OPERATOR)).json()
    assert tenant["status"] == "suspended"
    assert tenant["suspension_reason"] == "subscription_canceled"
    assert tenant["scheduled_suspension_at"] is None
    assert tenant["scheduled_churn_at"] is not None
    events = await published(tenant_id, "tenant.suspended")
    assert payload(
        next(e for e in events if e.type == "tenant.suspended"), ev.TenantSuspended
    ).reason == ("subscription_canceled")
