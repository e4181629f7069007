"""Flow 1, new customer: onboarding → billing → Stripe → onboarding → ticket, through the
public APIs and a signed Stripe webhook only."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from journey import Journey

from servicekit.testing import stripe as stripe_objects


async def create_plan(journey: Journey, tier: str = "business") -> dict[str, Any]:
    code = f"{tier}-{uuid.uuid4().hex[:8]}"
    return await journey.post(
        "billing",
        "/v1/plans",
        {
            "code": code,
            "name": f"{tier.title()} ({code})",
            "tier": tier,
            "unit_amount": 1500,
            "currency": "usd",
            "interval": "month",
        },
        roles=("admin",),
    )


async def create_tenant(
    journey: Journey, plan: dict[str, Any], *, collection_method: str = "charge_automatically"
) -> dict[str, Any]:
    slug = uuid.uuid4().hex[:10]
    billing: dict[str, Any] = {
        "collection_method": collection_method,
        "billing_email": f"ap@{slug}.example.com",
    }
    return await journey.post(
        "onboarding",
        "/v1/tenants",
        {
            "company_name": f"Acme {slug}",
            "domains": [f"{slug}.example.com"],
            "plan_code": plan["code"],
            "seats": 3,
            "billing": billing,
            "admin": {"email": f"admin@{slug}.example.com", "name": "Ada Admin"},
        },
        roles=("onboarding",),
        idempotency_key=f"tenant-{slug}",
        expect=201,
    )


async def subscription_of(journey: Journey, tenant_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        listed = await journey.get("billing", "/v1/subscriptions", params={"tenant_id": tenant_id})
        assert len(listed["items"]) == 1, listed
        sub = listed["items"][0]
        assert sub["stripe_subscription_id"] and sub["stripe_customer_id"], sub
        return sub

    return await journey.until(check)


def epoch(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


async def pay_first_invoice(journey: Journey, sub: dict[str, Any]) -> dict[str, Any]:
    """Stripe charged the card: the signed ``invoice.paid`` webhook of the first invoice."""
    now = int(time.time())
    return await journey.stripe_webhook(
        "invoice.paid",
        stripe_objects.invoice_object(
            sub,
            status="paid",
            amount_due=sub["recurring_amount"],
            amount_paid=sub["recurring_amount"],
            period_start=now,
            period_end=now + 30 * 86400,
            paid_at=now,
        ),
    )


async def finish_onboarding(journey: Journey, created: dict[str, Any]) -> None:
    """The customer's admin accepts the invitation, support applies the configuration
    and sends the welcome e-mail."""
    tenant_id = created["tenant"]["id"]
    await journey.post(
        "onboarding",
        "/v1/invitations/accept",
        {"token": created["admin_invitation"]["invitation_token"], "name": "Ada Admin"},
        roles=("service",),
        expect=200,
    )
    current = await journey.request(
        "onboarding", "GET", f"/v1/tenants/{tenant_id}", roles=("onboarding",), expect=200
    )
    await journey.request(
        "onboarding",
        "PATCH",
        f"/v1/tenants/{tenant_id}",
        roles=("onboarding",),
        json_body={"configuration": {**current.json()["configuration"], "locale": "en-GB"}},
        headers={"If-Match": current.headers["ETag"]},
        expect=200,
    )
    await journey.post(
        "onboarding",
        f"/v1/tenants/{tenant_id}/onboarding/welcome",
        {},
        roles=("onboarding",),
        idempotency_key=f"welcome-{tenant_id}",
    )


async def test_new_customer_is_subscribed_paid_onboarded_and_visible_to_support(
    journey: Journey,
) -> None:
    plan = await create_plan(journey)
    created = await create_tenant(journey, plan)
    tenant_id = created["tenant"]["id"]

    # billing subscribed the tenant in Stripe on its own, from tenant.created
    sub = await subscription_of(journey, tenant_id)
    assert (sub["plan_code"], sub["seats"]) == (plan["code"], 3)
    assert sub["collection_method"] == "charge_automatically"
    await pay_first_invoice(journey, sub)
    await finish_onboarding(journey, created)

    (onboarded,) = await journey.events(tenant_id, "tenant.onboarded")

    # final state, as each service's API reports it
    checklist = await journey.get("onboarding", f"/v1/tenants/{tenant_id}/onboarding")
    assert checklist["complete"] is True
    assert all(step["done"] for step in checklist["steps"]), checklist["steps"]
    sources = {step["step"]: step["source"] for step in checklist["steps"]}
    assert sources["subscription_attached"] == "subscription.created"
    assert sources["payment_confirmed"] == "invoice.paid"
    assert checklist["report"] is not None
    tenant = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
    assert tenant["status"] == "active" and tenant["onboarded_at"] is not None

    invoices = await journey.get("billing", "/v1/invoices", params={"tenant_id": tenant_id})
    assert [i["status"] for i in invoices["items"]] == ["paid"]

    async def account_shows_active_and_paid() -> dict[str, Any]:
        account = await journey.get("ticket", f"/v1/accounts/{tenant_id}", roles=("agent",))
        assert account["tenant_status"] == "active", account
        assert account["plan_code"] == plan["code"], account
        assert account["subscription_status"] is not None, account
        assert account["open_invoices"] == [] and account["overdue_invoices"] == [], account
        assert [u["status"] for u in account["users"]] == ["active"], account
        return account

    await journey.until(account_shows_active_and_paid)

    # the events, read as CloudEvents by a plain consumer
    flow = [
        ("tenant.created", "onboarding-service"),
        ("subscription.created", "billing-service"),
        ("invoice.paid", "billing-service"),
        ("user.activated", "onboarding-service"),
        ("tenant.activated", "onboarding-service"),
        ("tenant.onboarded", "onboarding-service"),
    ]
    for event_type, source in flow:
        (event,) = journey.tap.select(tenant=tenant_id, types=(event_type,))
        journey.assert_cloudevent(event, tenant=tenant_id, source=source)
        assert event.correlation == journey.correlation_id, (event_type, event.attributes)
    (tenant_created,) = journey.tap.select(tenant=tenant_id, types=("tenant.created",))
    assert tenant_created.subject == tenant_id
    assert tenant_created.data["plan_code"] == plan["code"]
    assert onboarded.subject == tenant_id
    assert set(onboarded.data["completed_steps"]) >= {"subscription_attached", "payment_confirmed"}
    order = [e.type for e in journey.tap.select(tenant=tenant_id) if e.topic == "onboarding.events"]
    assert order.index("tenant.created") < order.index("tenant.onboarded")

    # one trace: the client's request, billing's consumer and worker, ticket's consumer
    await journey.assert_one_trace("onboarding", "billing", "ticket")

    async def deferred_work_in_trace() -> None:
        billing_spans = journey.traces.names_in(journey.trace_id, "billing-service")
        assert "billing.subscription.create_on_stripe" in billing_spans, billing_spans
        assert "billing.stripe_event invoice.paid" in billing_spans, billing_spans

    await journey.until(deferred_work_in_trace)
