"""The renewal scan, driven by an injected clock across period boundaries."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from billing_fixtures import (
    ADMIN,
    AGENT,
    BILLING,
    BillingApp,
    deliver,
    invoice_object,
    new_tenant,
    of_tenant,
    stripe_event,
    subscription_object,
)
from sqlalchemy import select

from billing_service.models import StripeEvent
from billing_service.renewals import service as renewals
from servicekit.testing import eventually, read_topic


async def active_subscription(
    billing: BillingApp, plan: dict[str, Any], *, period_days: int, **extra: Any
) -> tuple[dict[str, Any], int, int]:
    """A subscription whose Stripe period (set by a signed webhook) ends in ``period_days``."""
    tenant = new_tenant()
    response = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": tenant, "plan_code": plan["code"], "seats": 3, **extra},
        headers=BILLING,
    )
    assert response.status_code == 201, response.text
    sub: dict[str, Any] = response.json()
    now = int(billing.clock().timestamp())
    start, end = now - (30 - period_days) * 86400, now + period_days * 86400
    event = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=3,
            period_start=start,
            period_end=end,
        ),
        created=now,
    )
    await deliver(billing.client, event)

    async def applied() -> None:
        got = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)
        assert got.json()["status"] == "active"

    await eventually(applied)
    return sub, start, end


async def scan(billing: BillingApp) -> None:
    response = await billing.client.post("/v1/renewals/scan", headers=ADMIN)
    assert response.status_code == 200, response.text


async def processed(billing: BillingApp, event_id: str) -> None:
    async def check() -> None:
        async with billing.db.unit_of_work() as session:
            row = await session.scalar(select(StripeEvent).where(StripeEvent.id == event_id))
            assert row is not None
            assert row.processed_at is not None

    await eventually(check)


async def test_manual_invoicing_renewal_is_announced_once_and_invoiced_once(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub, _, end = await active_subscription(
        billing, plan, period_days=40, collection_method="send_invoice", days_until_due=15
    )
    tenant = sub["tenant_id"]
    await scan(billing)  # 40 days out: outside the 30-day window
    billing.clock.advance(days=15)
    await scan(billing)
    await scan(billing)  # a second run announces nothing new
    billing.clock.advance(days=25, hours=1)  # the new period has started
    stripe = billing.app.state.stripe
    reports = await asyncio.gather(
        *(
            renewals.scan(
                db=billing.db, stripe=stripe, clock=billing.clock, window_days=30, grace_hours=24
            )
            for _ in range(2)
        )
    )
    assert sum(r.invoiced for r in reports) >= 1
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    await asyncio.sleep(0.5)  # let a (wrong) second invoice event reach the topic
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    renewal_events = of_tenant(envelopes, tenant, "renewal.upcoming", "renewal.invoiced")
    assert [e.type for e in renewal_events] == ["renewal.upcoming", "renewal.invoiced"]
    invoiced = renewal_events[1].data.model_dump()
    assert invoiced["reason"] == "manual_invoicing"
    assert invoiced["amount"] == 4500
    assert int(invoiced["period_start"].timestamp()) == end
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    (invoice,) = listed.json()["items"]
    assert invoice["is_renewal"] is True
    assert invoice["id"] == invoiced["invoice_id"]
    trackers = await billing.client.get(f"/v1/renewals?tenant_id={tenant}", headers=AGENT)
    assert [t["state"] for t in trackers.json()["items"]] == ["invoiced"]

    # the customer pays the renewal invoice: the renewal is completed
    now = int(billing.clock().timestamp())
    paid = stripe_event(
        "invoice.paid",
        invoice_object(
            sub,
            stripe_invoice_id=invoice["stripe_invoice_id"],
            status="paid",
            amount_paid=4500,
            period_start=end,
            period_end=end + 30 * 86400,
            billing_reason="manual",
        ),
        created=now,
    )
    await deliver(billing.client, paid)
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.completed"))
    )
    (completed,) = of_tenant(envelopes, tenant, "renewal.completed")
    assert completed.data.model_dump()["amount_paid"] == 4500


async def test_stripe_automatic_renewal_invoice_is_recognised_not_duplicated(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    billing.clock.set(billing.clock() - timedelta(days=0))
    sub, start, end = await active_subscription(billing, plan, period_days=10)
    tenant = sub["tenant_id"]
    await scan(billing)
    finalized = stripe_event(
        "invoice.finalized",
        invoice_object(
            sub,
            period_start=start,
            period_end=end,
            billing_reason="subscription_cycle",
            amount_due=4500,
        ),
        created=end + 60,
    )
    billing.clock.advance(days=10, hours=1)
    await deliver(billing.client, finalized)
    await processed(billing, finalized["id"])
    billing.clock.advance(days=2)  # well past the grace period
    await scan(billing)
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.invoiced"))
    )
    kinds = [e.type for e in of_tenant(envelopes, tenant) if e.type.startswith("renewal.")]
    assert kinds == ["renewal.upcoming", "renewal.invoiced"]
    (invoiced,) = of_tenant(envelopes, tenant, "renewal.invoiced")
    assert invoiced.data.model_dump()["reason"] == "stripe_automatic"
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    assert len(listed.json()["items"]) == 1


async def test_scan_is_admin_only(billing: BillingApp) -> None:
    response = await billing.client.post("/v1/renewals/scan", headers=BILLING)
    assert response.status_code == 403
    bad = await billing.client.get("/v1/renewals?state=bogus", headers=AGENT)
    assert bad.status_code == 422
