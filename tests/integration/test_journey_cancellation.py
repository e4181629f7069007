"""Flow 6, cancellation: a subscription canceled through billing's REST API ends service
at its end — at period end for one customer (onboarding schedules the suspension and
its scheduled-suspension scan carries it out once the period is over), at once for
another — and the ticket service's account view shows it. Public REST APIs and signed
Stripe webhooks only."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from flows import (
    DAY,
    Customer,
    account_until,
    assert_events,
    at,
    onboarded_customer,
    position,
    stripe_subscription,
)
from journey import Journey

from servicekit.testing import stripe as stripe_objects

PERIOD_LEFT = 15
"""Seconds left in the current period when the customer cancels at its end."""


async def cancel(journey: Journey, customer: Customer, *, at_period_end: bool) -> dict[str, Any]:
    sub_id = customer.subscription["id"]
    current = await journey.request(
        "billing", "GET", f"/v1/subscriptions/{sub_id}", roles=("billing",), expect=200
    )
    canceled: dict[str, Any] = await journey.post(
        "billing",
        f"/v1/subscriptions/{sub_id}/cancel",
        {"at_period_end": at_period_end, "reason": "moving to another vendor"},
        roles=("billing",),
        headers={"If-Match": current.headers["ETag"]},
        expect=200,
    )
    return canceled


async def scheduled_suspension_scan(journey: Journey) -> dict[str, Any]:
    """What onboarding's ``scheduled-suspensions`` CronJob runs, through its REST trigger."""
    report: dict[str, Any] = await journey.post(
        "onboarding", "/v1/scans/scheduled-suspensions", roles=("onboarding",), expect=200
    )
    return report


async def test_cancel_at_period_end_suspends_the_tenant_when_the_period_is_over(
    journey: Journey,
) -> None:
    customer = await onboarded_customer(journey)
    tenant_id = customer.tenant_id
    sub_id = customer.subscription["id"]
    now = int(time.time())
    period_end = now + PERIOD_LEFT
    await stripe_subscription(journey, customer, start=period_end - 30 * DAY, end=period_end)

    canceled = await cancel(journey, customer, at_period_end=True)
    assert canceled["cancel_at_period_end"] is True and canceled["status"] == "active", canceled
    (announced,) = await journey.events(tenant_id, "subscription.canceled")
    assert int(at(announced.data["ends_at"]).timestamp()) == period_end, announced.data

    # until the period is over the customer keeps the service; the suspension is scheduled
    async def scheduled() -> dict[str, Any]:
        tenant: dict[str, Any] = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
        assert tenant["scheduled_suspension_at"] is not None, tenant
        return tenant

    tenant = await journey.until(scheduled)
    assert tenant["status"] == "active"
    assert int(at(tenant["scheduled_suspension_at"]).timestamp()) == period_end
    account = await account_until(journey, tenant_id, lambda a: a["cancel_at_period_end"] is True)
    assert account["tenant_status"] == "active" and account["subscription_status"] == "active"
    assert int(at(account["renewal_date"]).timestamp()) == period_end
    # the scan before the period end leaves the tenant alone
    assert time.time() < period_end - 1, "the steps above took longer than PERIOD_LEFT"
    await scheduled_suspension_scan(journey)
    assert (await journey.get("onboarding", f"/v1/tenants/{tenant_id}"))["status"] == "active"
    assert not journey.tap.select(tenant=tenant_id, types=("tenant.suspended",))

    # the period is over: the scheduled scan suspends the tenant
    await asyncio.sleep(max(0.0, period_end + 1 - time.time()))
    report = await scheduled_suspension_scan(journey)
    assert report["suspended"] >= 1, report
    (suspended,) = await journey.events(tenant_id, "tenant.suspended")
    assert suspended.data["reason"] == "subscription_canceled", suspended.data
    # and Stripe ends the subscription (customer.subscription.deleted)
    await journey.stripe_webhook(
        "customer.subscription.deleted",
        stripe_objects.subscription_object(
            customer.subscription,
            status="canceled",
            price_id=(await journey.get("billing", f"/v1/plans/{customer.plan['id']}"))[
                "stripe_price_id"
            ],
            quantity=customer.subscription["seats"],
            period_start=period_end - 30 * DAY,
            period_end=period_end,
            cancel_at_period_end=True,
            canceled_at=int(at(canceled["canceled_at"]).timestamp()),
            ended_at=period_end,
        ),
    )

    # final state, as each service reports it
    async def ended() -> dict[str, Any]:
        sub: dict[str, Any] = await journey.get("billing", f"/v1/subscriptions/{sub_id}")
        assert sub["status"] == "canceled", sub
        return sub

    await journey.until(ended)
    tenant = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
    assert tenant["status"] == "suspended", tenant
    assert tenant["suspension_reason"] == "subscription_canceled"
    assert tenant["scheduled_suspension_at"] is None
    account = await account_until(
        journey,
        tenant_id,
        lambda a: a["tenant_status"] == "suspended" and a["subscription_status"] == "canceled",
    )
    assert account["plan_code"] == customer.plan["code"]

    # the events
    found = assert_events(
        journey,
        tenant_id,
        [("subscription.canceled", "billing-service"), ("tenant.suspended", "onboarding-service")],
    )
    # one subscription.canceled per cancellation: Stripe's deletion at period end is news
    # only as a status change
    assert found["subscription.canceled"] == [announced] and announced.subject == sub_id
    assert announced.data["cancel_at_period_end"] is True
    assert announced.data["reason"] == "moving to another vendor"
    (ended_event,) = journey.tap.select(
        tenant=tenant_id,
        types=("subscription.updated",),
        where=lambda e: e.data.get("status") == "canceled",
    )
    journey.assert_cloudevent(ended_event, tenant=tenant_id, source="billing-service")
    assert ended_event.correlation == journey.correlation_id
    assert position(journey, suspended) < position(journey, ended_event)
    assert found["tenant.suspended"] == [suspended] and suspended.subject == tenant_id
    assert position(journey, announced) < position(journey, suspended)
    # nothing suspended the tenant before the scan, nor twice
    assert len(journey.tap.select(tenant=tenant_id, types=("tenant.suspended",))) == 1

    await journey.assert_one_trace("billing", "onboarding", "ticket")


async def test_immediate_cancellation_suspends_the_tenant_at_once(journey: Journey) -> None:
    customer = await onboarded_customer(journey)
    tenant_id = customer.tenant_id
    sub_id = customer.subscription["id"]

    canceled = await cancel(journey, customer, at_period_end=False)
    assert canceled["status"] == "canceled", canceled
    (announced,) = await journey.events(tenant_id, "subscription.canceled")
    (suspended,) = await journey.events(tenant_id, "tenant.suspended")
    assert suspended.data["reason"] == "subscription_canceled", suspended.data

    sub = await journey.get("billing", f"/v1/subscriptions/{sub_id}")
    assert sub["status"] == "canceled" and sub["cancel_reason"] == "moving to another vendor"
    tenant = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
    assert tenant["status"] == "suspended", tenant
    assert tenant["suspension_reason"] == "subscription_canceled"
    assert tenant["scheduled_suspension_at"] is None
    account = await account_until(
        journey,
        tenant_id,
        lambda a: a["tenant_status"] == "suspended" and a["subscription_status"] == "canceled",
    )
    assert account["cancel_at_period_end"] is False

    found = assert_events(
        journey,
        tenant_id,
        [("subscription.canceled", "billing-service"), ("tenant.suspended", "onboarding-service")],
    )
    assert found["subscription.canceled"] == [announced] and announced.subject == sub_id
    assert announced.data["status"] == "canceled"
    assert at(announced.data["ends_at"]) <= at(suspended.data["suspended_at"])
    assert found["tenant.suspended"] == [suspended]
    assert position(journey, announced) < position(journey, suspended)

    await journey.assert_one_trace("billing", "onboarding", "ticket")
