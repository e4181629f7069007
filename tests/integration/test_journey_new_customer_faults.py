"""Flow 1 with a crash: a service is SIGKILLed mid-journey and started again. The journey
completes and nothing happens twice."""

from __future__ import annotations

import asyncio

import pytest
from journey import Journey
from stack import Stack
from test_journey_new_customer import (
    create_plan,
    create_tenant,
    finish_onboarding,
    pay_first_invoice,
    subscription_of,
)


async def crash_and_restart(stack: Stack, name: str) -> None:
    stack[name].kill()
    await asyncio.sleep(0.5)
    stack.restart(name)
    await stack.wait_ready(name)


@pytest.mark.parametrize(
    "victim",
    [
        # billing dies while it consumes tenant.created and calls Stripe
        "billing-service",
        # onboarding dies while it consumes invoice.paid and ticks the checklist
        "onboarding-service",
    ],
)
async def test_new_customer_survives_a_crashed_service(
    journey: Journey, stack: Stack, victim: str
) -> None:
    plan = await create_plan(journey)
    created = await create_tenant(journey, plan)
    tenant_id = created["tenant"]["id"]
    try:
        if victim == "billing-service":
            await journey.events(tenant_id, "tenant.created")
            await crash_and_restart(stack, victim)
            sub = await subscription_of(journey, tenant_id)
            await pay_first_invoice(journey, sub)
        else:
            sub = await subscription_of(journey, tenant_id)
            await pay_first_invoice(journey, sub)
            await journey.events(tenant_id, "invoice.paid")
            await crash_and_restart(stack, victim)
    finally:
        if stack[victim].process is None or stack[victim].process.poll() is not None:
            stack.restart(victim)
            await stack.wait_ready(victim)

    await finish_onboarding(journey, created)
    await journey.events(tenant_id, "tenant.onboarded", timeout=60)

    # nothing twice: one subscription (so one Stripe customer and subscription), one of
    # each event, one paid invoice
    listed = await journey.get("billing", "/v1/subscriptions", params={"tenant_id": tenant_id})
    assert [s["stripe_subscription_id"] for s in listed["items"]] == [sub["stripe_subscription_id"]]
    invoices = await journey.get("billing", "/v1/invoices", params={"tenant_id": tenant_id})
    assert [i["status"] for i in invoices["items"]] == ["paid"]
    checklist = await journey.get("onboarding", f"/v1/tenants/{tenant_id}/onboarding")
    assert checklist["complete"] is True
    await asyncio.sleep(1.0)  # give a duplicate, if any, the time to show up
    for event_type in (
        "tenant.created",
        "subscription.created",
        "invoice.paid",
        "tenant.activated",
        "tenant.onboarded",
    ):
        events = journey.tap.select(tenant=tenant_id, types=(event_type,))
        assert len(events) == 1, (event_type, [e.attributes["id"] for e in events])

    async def account_active() -> None:
        account = await journey.get("ticket", f"/v1/accounts/{tenant_id}", roles=("agent",))
        assert account["tenant_status"] == "active", account

    await journey.until(account_active)
