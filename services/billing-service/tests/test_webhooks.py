"""Signed Stripe webhooks: verification, dedup, order, mapping to catalog events."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from billing_fixtures import (
    AGENT,
    BillingApp,
    charge_object,
    deliver,
    dispute_object,
    if_match,
    invoice_object,
    of_tenant,
    sign,
    stripe_event,
    subscribed,
    subscription_object,
    upcoming_invoice_object,
)
from sqlalchemy import func, select

from billing_service.models import StripeEvent, Subscription
from billing_service.stripe_gateway import StripeGateway
from billing_service.subscriptions import intents as subscriptions
from billing_service.subscriptions.schemas import SubscriptionIn
from billing_service.webhooks.worker import StripeWorker, reconcile
from servicekit.testing import auth, eventually, read_topic

NOW = int(time.time())
DAY = 86400


async def stored_count(billing: BillingApp) -> int:
    async with billing.db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


async def processed(billing: BillingApp, event_id: str) -> str:
    async def check() -> str:
        async with billing.db.unit_of_work() as session:
            row = await session.get(StripeEvent, event_id)
            assert row is not None
            assert row.processed_at is not None
            return str(row.outcome)

    return await eventually(check)


async def get_sub(billing: BillingApp, sub: dict[str, Any]) -> dict[str, Any]:
    response = await billing.client.get(f"/v1/subscriptions/{sub['id']}", headers=AGENT)
    body: dict[str, Any] = response.json()
    return body


async def test_bad_and_stale_signatures_are_refused_and_nothing_is_stored(
    billing: BillingApp,
) -> None:
    before = await stored_count(billing)
    event = stripe_event("invoice.paid", {"id": "in_x", "object": "invoice"}, created=NOW)
    payload = json.dumps(event)
    wrong_secret = await deliver(billing.client, event, signature=sign(payload, secret="whsec_no"))
    assert wrong_secret.status_code == 400
    assert wrong_secret.json()["type"].endswith("/invalid-signature")
    stale = await deliver(billing.client, event, signature=sign(payload, at=NOW - 3600))
    assert stale.status_code == 400
    assert stale.json()["type"].endswith("/invalid-signature")
    tampered = await billing.client.post(
        "/v1/stripe/webhooks",
        content=payload.replace("in_x", "in_y"),
        headers={"Stripe-Signature": sign(payload)},
    )
    assert tampered.status_code == 400
    missing = await billing.client.post("/v1/stripe/webhooks", content=payload)
    assert missing.status_code == 400
    not_an_event = await billing.client.post(
        "/v1/stripe/webhooks", content="[1]", headers={"Stripe-Signature": sign("[1]")}
    )
    assert not_an_event.status_code == 400
    assert not_an_event.json()["type"].endswith("/invalid-event")
    assert await stored_count(billing) == before


async def test_unknown_type_is_acknowledged_and_ignored(billing: BillingApp) -> None:
    event = stripe_event("payout.paid", {"id": "po_1", "object": "payout"}, created=NOW)
    response = await deliver(billing.client, event)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False, "event_id": event["id"]}
    assert await processed(billing, event["id"]) == "ignored"


async def test_activation_duplicates_and_out_of_order_delivery(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant = sub["tenant_id"]
    period = {"period_start": NOW - DAY, "period_end": NOW + 29 * DAY}
    price = plan["stripe_price_id"]
    active = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="active", price_id=price, quantity=3, **period),
        created=NOW - 100,
    )
    past_due = stripe_event(
        "customer.subscription.updated",
        subscription_object(sub, status="past_due", price_id=price, quantity=3, **period),
        created=NOW - 50,
    )
    # newer first, then the older one arrives late, then a duplicate of the newer one
    assert (await deliver(billing.client, past_due)).status_code == 200
    assert await processed(billing, past_due["id"]) == "applied"
    assert (await deliver(billing.client, active)).status_code == 200
    # the late snapshot changes no state, but its fact (the activation) is still news
    assert await processed(billing, active["id"]) == "applied"
    duplicate = await deliver(billing.client, past_due)
    assert duplicate.status_code == 200
    assert duplicate.json()["duplicate"] is True
    state = await get_sub(billing, sub)
    assert state["status"] == "past_due"
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "subscription.activated")),
    )
    changes = of_tenant(envelopes, tenant, "subscription.updated", "subscription.activated")
    # announced once, carrying the current state, so no consumer moves back to active
    assert [(e.type, e.data.model_dump()["status"]) for e in changes] == [
        ("subscription.updated", "past_due"),
        ("subscription.activated", "past_due"),
    ]


async def test_first_activation_emits_subscription_activated(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    event = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=4,
            period_start=NOW,
            period_end=NOW + 30 * DAY,
        ),
        created=NOW,
    )
    await deliver(billing.client, event)
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, sub["tenant_id"], "subscription.activated")),
    )
    (activated,) = of_tenant(envelopes, sub["tenant_id"], "subscription.activated")
    assert activated.data.model_dump()["seats"] == 4
    assert (await get_sub(billing, sub))["seats"] == 4


async def test_failed_payment_requires_followup_and_payment_resolves_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant = sub["tenant_id"]
    period = {"period_start": NOW, "period_end": NOW + 30 * DAY}
    invoice_id = f"in_{tenant}"
    failed = stripe_event(
        "invoice.payment_failed",
        invoice_object(
            sub,
            stripe_invoice_id=invoice_id,
            attempt_count=2,
            next_payment_attempt=NOW + 3 * DAY,
            **period,
        ),
        created=NOW + 10,
    )
    paid = stripe_event(
        "invoice.paid",
        invoice_object(
            sub,
            stripe_invoice_id=invoice_id,
            status="paid",
            amount_paid=4500,
            attempt_count=3,
            **period,
        ),
        created=NOW + 20,
    )
    await deliver(billing.client, failed)
    await processed(billing, failed["id"])
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}&status=open", headers=AGENT)
    (invoice,) = listed.json()["items"]
    assert invoice["followup_open"] is True
    assert invoice["attempt_count"] == 2
    await deliver(billing.client, paid)
    await processed(billing, paid["id"])
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "billing.followup_resolved")),
    )
    types = [e.type for e in of_tenant(envelopes, tenant) if not e.type.startswith("subscr")]
    # a failed payment shows the invoice was finalized: that fact is announced first
    assert types == [
        "invoice.finalized",
        "invoice.payment_failed",
        "billing.followup_required",
        "invoice.paid",
        "billing.followup_resolved",
    ]
    (required,) = of_tenant(envelopes, tenant, "billing.followup_required")
    data = required.data.model_dump()
    assert (data["cause"], data["amount_due"], data["attempt_count"]) == ("payment_failed", 4500, 2)
    assert int(data["next_retry_at"].timestamp()) == NOW + 3 * DAY
    paid_list = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    assert paid_list.json()["items"][0]["status"] == "paid"
    assert paid_list.json()["items"][0]["followup_open"] is False


async def test_refund_and_dispute_become_catalog_events(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant = sub["tenant_id"]
    charge = charge_object(sub, charge_id=f"ch_{tenant}", amount=4500)
    refund = {
        **charge["refunds"]["data"][0],
        "id": f"re_{tenant}",
        "charge": charge["id"],
        "amount": 1000,
        "currency": "usd",
        "reason": "requested_by_customer",
        "status": "succeeded",
    }
    charge.update(
        {
            "amount_refunded": 1000,
            "refunds": {**charge["refunds"], "data": [refund]},
        }
    )
    await deliver(billing.client, stripe_event("charge.refunded", charge, created=NOW))
    dispute = dispute_object(
        dispute_id=f"dp_{tenant}", charge_id=charge["id"], amount=3500, status="needs_response"
    )
    dispute["evidence_details"]["due_by"] = NOW + 7 * DAY
    await deliver(billing.client, stripe_event("charge.dispute.created", dispute, created=NOW + 1))
    won = {**dispute, "status": "won"}
    await deliver(billing.client, stripe_event("charge.dispute.closed", won, created=NOW + 2))
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "dispute.closed"))
    )
    types = [e.type for e in of_tenant(envelopes, tenant) if not e.type.startswith("subscr")]
    assert types == [
        "refund.issued",
        "dispute.opened",
        "billing.followup_required",
        "dispute.closed",
        "billing.followup_resolved",
    ]
    (refund,) = of_tenant(envelopes, tenant, "refund.issued")
    assert refund.data.model_dump()["amount"] == 1000
    (closed,) = of_tenant(envelopes, tenant, "dispute.closed")
    assert closed.data.model_dump()["status"] == "won"


async def test_events_stored_before_a_crash_are_processed_and_reconcile_lists_stripe(
    billing: BillingApp,
) -> None:
    # A row committed but never processed (the process died right after answering 200).
    event = stripe_event("balance.available", {"id": "bal", "object": "balance"}, created=NOW)
    async with billing.db.unit_of_work() as session:
        session.add(
            StripeEvent(id=event["id"], type=event["type"], created=NOW, payload=event, attempts=0)
        )
    assert await processed(billing, event["id"]) == "ignored"
    stripe: StripeGateway = billing.app.state.stripe
    worker = StripeWorker(db=billing.db, stripe=stripe, clock=billing.clock, poll_seconds=1)
    listed, stored = await reconcile(
        db=billing.db, stripe=stripe, worker=worker, since=billing.clock.now()
    )
    assert listed >= 1  # stripe-mock's canned list
    again = await reconcile(db=billing.db, stripe=stripe, worker=worker, since=billing.clock.now())
    assert again == (listed, 0)
    assert stored <= listed


async def test_event_older_than_our_own_change_does_not_undo_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    upgraded = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/change",
        json={"seats": 9},
        headers=if_match(f'"{sub["version"]}"'),
    )
    assert upgraded.json()["seats"] == 9
    created_before = int(billing.clock.now().timestamp()) - 60
    late = stripe_event(
        "customer.subscription.created",
        subscription_object(
            sub,
            status="incomplete",
            price_id=plan["stripe_price_id"],
            quantity=3,
            period_start=created_before,
            period_end=created_before + 30 * DAY,
        ),
        created=created_before,
    )
    await deliver(billing.client, late)
    assert await processed(billing, late["id"]) == "stale"
    assert (await get_sub(billing, sub))["seats"] == 9


async def test_event_arriving_before_our_intent_is_recorded_waits_for_it(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    tenant = await billing.tenant()
    async with billing.db.unit_of_work() as session:
        intent = await subscriptions.record_intent(
            session, body=SubscriptionIn(tenant_id=tenant, plan_code=plan["code"], seats=2)
        )
        intent.next_sync_at = billing.clock.now() + timedelta(hours=1)  # Stripe still answering
        sub_id = intent.id
    early_sub = {
        "id": sub_id,
        "tenant_id": tenant,
        "stripe_subscription_id": f"sub_{tenant}",
        "stripe_customer_id": f"cus_{tenant}",
        "collection_method": "charge_automatically",
    }
    paid = stripe_event(
        "invoice.paid",
        invoice_object(
            early_sub, status="paid", amount_paid=3000, period_start=NOW, period_end=NOW + DAY
        ),
        created=NOW,
    )
    await deliver(billing.client, paid)
    await asyncio.sleep(0.5)
    async with billing.db.unit_of_work() as session:
        row = await session.get(StripeEvent, paid["id"])
        assert row is not None
        assert row.processed_at is None  # waiting, not dropped as unmatched
        # Stripe's answer is recorded (what drive_pending does after the call returns)
        sub = await session.get(Subscription, sub_id)
        assert sub is not None
        sub.stripe_customer_id = early_sub["stripe_customer_id"]
        sub.stripe_subscription_id = early_sub["stripe_subscription_id"]
        sub.sync_state = "synced"
    assert await processed(billing, paid["id"]) == "applied"
    listed = await billing.client.get(f"/v1/invoices?tenant_id={tenant}", headers=AGENT)
    assert [i["status"] for i in listed.json()["items"]] == ["paid"]


async def test_cancellation_made_on_stripe_is_announced_once_per_cancellation(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    """Canceled in Stripe's dashboard: the flag is the cancellation (``subscription.canceled``
    with ``ends_at``); Stripe deleting the subscription later is ``subscription.updated``.
    A withdrawn cancellation followed by a new one is a second cancellation."""
    sub = await subscribed(billing, plan)
    tenant = sub["tenant_id"]
    base = int(billing.clock.now().timestamp()) + 100
    start, end = base - DAY, base + 29 * DAY

    def state(created: int, **changes: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "status": "active",
            "price_id": plan["stripe_price_id"],
            "quantity": 3,
            "period_start": start,
            "period_end": end,
            **changes,
        }
        return stripe_event(
            "customer.subscription.deleted"
            if fields["status"] == "canceled"
            else "customer.subscription.updated",
            subscription_object(sub, **fields),
            created=created,
        )

    sequence = [
        state(base),  # activated
        state(base + 1, cancel_at_period_end=True),  # canceled, ends at period end
        state(base + 2, cancel_at_period_end=False),  # withdrawn: updated
        state(base + 3, cancel_at_period_end=True),  # canceled again
        state(base + 4, cancel_at_period_end=True, status="canceled", ended_at=end),  # updated
    ]
    for event in sequence:
        await deliver(billing.client, event)
        assert await processed(billing, event["id"]) == "applied"
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: len(of_tenant(es, tenant, "subscription.updated")) >= 2,
    )
    lifecycle = [
        (e.type, e.data.model_dump()["cancel_at_period_end"], e.data.model_dump()["status"])
        for e in of_tenant(envelopes, tenant)
        if e.type != "subscription.created"
    ]
    assert lifecycle == [
        ("subscription.activated", False, "active"),
        ("subscription.canceled", True, "active"),
        ("subscription.updated", False, "active"),
        ("subscription.canceled", True, "active"),
        ("subscription.updated", True, "canceled"),
    ]
    canceled = of_tenant(envelopes, tenant, "subscription.canceled")
    assert {int(e.data.model_dump()["ends_at"].timestamp()) for e in canceled} == {end}


async def test_cancel_now_through_rest_then_stripes_deletion_is_one_cancellation(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant = sub["tenant_id"]
    canceled = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False, "reason": "fraud"},
        headers=if_match(f'"{sub["version"]}"'),
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    now = int(billing.clock.now().timestamp()) + 5
    deleted = stripe_event(
        "customer.subscription.deleted",
        subscription_object(
            sub,
            status="canceled",
            price_id=plan["stripe_price_id"],
            quantity=3,
            period_start=now - DAY,
            period_end=now + 29 * DAY,
            canceled_at=now,
            ended_at=now,
        ),
        created=now,
    )
    await deliver(billing.client, deleted)
    assert await processed(billing, deleted["id"]) == "applied"
    envelopes = await read_topic(
        billing.events_topic,
        until=lambda es: bool(of_tenant(es, tenant, "subscription.updated")),
    )
    assert [e.type for e in of_tenant(envelopes, tenant)] == [
        "subscription.created",
        "subscription.canceled",
        "subscription.updated",  # the period Stripe reported, nothing more to announce
    ]
    ended = await billing.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers=if_match("*"),
    )
    assert ended.status_code == 409
    assert ended.json()["type"].endswith("/invalid-transition")
    assert (ended.json()["current_status"], ended.json()["allowed"]) == ("canceled", [])


async def test_invoice_upcoming_announces_the_renewal_once(
    billing: BillingApp, plan: dict[str, Any]
) -> None:
    sub = await subscribed(billing, plan)
    tenant = sub["tenant_id"]
    now = int(billing.clock.now().timestamp()) + 200
    end = now + 5 * DAY
    active = stripe_event(
        "customer.subscription.updated",
        subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=3,
            period_start=end - 30 * DAY,
            period_end=end,
        ),
        created=now,
    )
    await deliver(billing.client, active)
    await processed(billing, active["id"])
    upcoming = stripe_event(
        "invoice.upcoming", upcoming_invoice_object(sub, period_end=end), created=now + 1
    )
    again = stripe_event(
        "invoice.upcoming", upcoming_invoice_object(sub, period_end=end), created=now + 2
    )
    await deliver(billing.client, upcoming)
    assert await processed(billing, upcoming["id"]) == "applied"
    await deliver(billing.client, again)
    assert await processed(billing, again["id"]) == "unchanged"
    scan = await billing.client.post("/v1/renewals/scan", headers=auth("admin"))
    assert scan.status_code == 200
    envelopes = await read_topic(
        billing.events_topic, until=lambda es: bool(of_tenant(es, tenant, "renewal.upcoming"))
    )
    (announced,) = of_tenant(envelopes, tenant, "renewal.upcoming")
    assert int(announced.data.model_dump()["renews_at"].timestamp()) == end
