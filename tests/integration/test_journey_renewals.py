"""Flow 4, renewals: billing's renewal scan (its admin REST endpoint) announces a renewal
inside the window, issues the renewal invoice itself when Stripe's automation did not
fire in time or the customer is invoiced by hand, and completes the renewal when that
invoice is paid; where Stripe's own renewal invoice arrived, it issues nothing.

The services run on the real clock, so a renewal "at period end" is a subscription whose
Stripe period (set by a signed ``customer.subscription.updated`` webhook, as Stripe
reports it) ended in the past: for a card customer more than the grace period
(``BILLING_RENEWAL_GRACE_HOURS``, 24 h) ago."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from events import Event
from journey import Journey
from test_journey_new_customer import create_plan, create_tenant, epoch, subscription_of

from servicekit.testing import stripe as stripe_objects

DAY = 86400
GRACE_HOURS = 24  # billing's default BILLING_RENEWAL_GRACE_HOURS
RENEWAL_TYPES = ("renewal.upcoming", "renewal.invoiced", "renewal.at_risk", "renewal.completed")


async def renewing_customer(
    journey: Journey, *, collection_method: str, period_start: int, period_end: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tenant onboarded through onboarding, subscribed by billing on Stripe, whose
    current period Stripe reports as ``period_start``..``period_end``."""
    plan = await create_plan(journey)
    created = await create_tenant(journey, plan, collection_method=collection_method)
    sub = await subscription_of(journey, created["tenant"]["id"])
    assert sub["collection_method"] == collection_method, sub
    await stripe_period(journey, sub, plan, start=period_start, end=period_end)
    return plan, sub


async def stripe_period(
    journey: Journey, sub: dict[str, Any], plan: dict[str, Any], *, start: int, end: int
) -> None:
    """Stripe's ``customer.subscription.updated``: active, current period on the item."""
    await journey.stripe_webhook(
        "customer.subscription.updated",
        stripe_objects.subscription_object(
            sub,
            status="active",
            price_id=plan["stripe_price_id"],
            quantity=sub["seats"],
            period_start=start,
            period_end=end,
        ),
    )

    async def applied() -> None:
        got = await journey.get("billing", f"/v1/subscriptions/{sub['id']}")
        assert got["status"] == "active", got
        assert got["current_period_end"] and epoch(got["current_period_end"]) == end, got

    await journey.until(applied)


async def scan(journey: Journey) -> dict[str, Any]:
    """``POST /v1/renewals/scan``: what the renewal-scan CronJob runs."""
    report: dict[str, Any] = await journey.post(
        "billing", "/v1/renewals/scan", roles=("admin",), expect=200
    )
    return report


async def renewals_of(journey: Journey, tenant_id: str) -> list[dict[str, Any]]:
    listed = await journey.get("billing", "/v1/renewals", params={"tenant_id": tenant_id})
    items: list[dict[str, Any]] = listed["items"]
    return items


async def invoices_of(journey: Journey, tenant_id: str) -> list[dict[str, Any]]:
    listed = await journey.get("billing", "/v1/invoices", params={"tenant_id": tenant_id})
    items: list[dict[str, Any]] = listed["items"]
    return items


async def renewal_in_state(journey: Journey, tenant_id: str, state: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        renewals = await renewals_of(journey, tenant_id)
        assert len(renewals) == 1, renewals
        assert renewals[0]["state"] == state, renewals
        return renewals[0]

    return await journey.until(check)


def distinct(events: Iterable[Event]) -> list[Event]:
    """One entry per CloudEvent id: delivery is at-least-once (a relay killed between
    publishing and marking may publish a record again, with the same id)."""
    seen: dict[str, Event] = {}
    for event in events:
        seen.setdefault(str(event.attributes["id"]), event)
    return list(seen.values())


def renewal_events(journey: Journey, tenant_id: str) -> list[Event]:
    return distinct(journey.tap.select(tenant=tenant_id, types=RENEWAL_TYPES))


async def settle() -> None:
    """Give a (wrong) second event the time to reach the topic before counting."""
    await asyncio.sleep(1.5)


async def issued_renewal_invoice(journey: Journey, tenant_id: str) -> dict[str, Any]:
    """The renewal invoice billing issued: exactly one, open and sent."""
    invoices = [i for i in await invoices_of(journey, tenant_id) if i["is_renewal"]]
    assert len(invoices) == 1, invoices
    (invoice,) = invoices
    assert (invoice["status"], invoice["sent"]) == ("open", True), invoice
    assert invoice["collection_method"] == "send_invoice", invoice
    return invoice


async def stripe_reports_sent(
    journey: Journey, sub: dict[str, Any], invoice: dict[str, Any]
) -> None:
    """What Stripe sends after billing finalized and sent the invoice it created."""
    obj = stripe_objects.invoice_object(
        sub,
        stripe_invoice_id=invoice["stripe_invoice_id"],
        status="open",
        amount_due=invoice["amount_due"],
        period_start=epoch(invoice["period_start"]),
        period_end=epoch(invoice["period_end"]),
        billing_reason="manual",
        due_date=epoch(invoice["due_date"]),
    )
    obj["collection_method"] = "send_invoice"
    await journey.stripe_webhook("invoice.finalized", obj)
    await journey.stripe_webhook("invoice.sent", obj)


async def pay_renewal_invoice(
    journey: Journey, sub: dict[str, Any], invoice: dict[str, Any], *, billing_reason: str
) -> None:
    """The customer paid: Stripe's signed ``invoice.paid`` for the renewal invoice."""
    now = int(time.time())
    obj = stripe_objects.invoice_object(
        sub,
        stripe_invoice_id=invoice["stripe_invoice_id"],
        status="paid",
        amount_due=invoice["amount_due"],
        amount_paid=invoice["amount_due"],
        period_start=epoch(invoice["period_start"]),
        period_end=epoch(invoice["period_end"]),
        billing_reason=billing_reason,
        paid_at=now,
    )
    obj["collection_method"] = invoice["collection_method"]
    await journey.stripe_webhook("invoice.paid", obj)


def assert_renewal_events(
    journey: Journey,
    tenant_id: str,
    sub: dict[str, Any],
    *,
    expected: list[str],
    period_start: int,
) -> dict[str, Event]:
    """Exactly one of each expected renewal event, in that order, as CloudEvents from
    billing about the subscription, carrying the journey's correlation id."""
    events = [e for e in renewal_events(journey, tenant_id) if e.type != "renewal.at_risk"]
    assert [e.type for e in events] == expected, [(e.type, e.data) for e in events]
    for event in events:
        journey.assert_cloudevent(event, tenant=tenant_id, source="billing-service")
        assert event.topic == "billing.events", event
        assert event.subject == sub["id"], event.attributes
        assert event.data["subscription_id"] == sub["id"], event.data
        assert epoch(event.data["period_start"]) == period_start, event.data
        assert event.correlation == journey.correlation_id, (event.type, event.attributes)
    return {e.type: e for e in events}


async def account_after_renewal(
    journey: Journey, tenant_id: str, renewal: dict[str, Any]
) -> dict[str, Any]:
    """The ticket service's account view: the renewal date (the day the subscription
    renews, i.e. the renewal's period start) and no open or overdue invoice."""

    async def check() -> dict[str, Any]:
        account: dict[str, Any] = await journey.get(
            "ticket", f"/v1/accounts/{tenant_id}", roles=("agent",)
        )
        assert account["renewal_date"] is not None, account
        assert epoch(account["renewal_date"]) == epoch(renewal["period_start"]), account
        assert account["open_invoices"] == [] and account["overdue_invoices"] == [], account
        return account

    return await journey.until(check)


async def test_renewal_is_announced_once_inside_the_window(journey: Journey) -> None:
    now = int(time.time())
    renews_at = now + 5 * DAY  # inside the 30-day window
    plan, sub = await renewing_customer(
        journey,
        collection_method="charge_automatically",
        period_start=renews_at - 30 * DAY,
        period_end=renews_at,
    )
    tenant_id = sub["tenant_id"]

    await scan(journey)
    await scan(journey)  # the CronJob runs again: nothing new
    await asyncio.gather(scan(journey), scan(journey))  # and two replicas at once

    (renewal,) = await renewals_of(journey, tenant_id)
    assert epoch(renewal["period_start"]) == renews_at
    assert renewal["state"] in ("upcoming", "at_risk"), renewal  # at_risk: no card on file
    assert renewal["invoice_id"] is None
    # nothing is invoiced before the period starts
    assert [i for i in await invoices_of(journey, tenant_id) if i["is_renewal"]] == []

    await settle()
    (upcoming,) = [e for e in renewal_events(journey, tenant_id) if e.type == "renewal.upcoming"]
    assert not journey.tap.select(tenant=tenant_id, types=("renewal.invoiced",))
    journey.assert_cloudevent(upcoming, tenant=tenant_id, source="billing-service")
    assert upcoming.subject == sub["id"]
    assert upcoming.correlation == journey.correlation_id, upcoming.attributes
    assert epoch(upcoming.data["renews_at"]) == renews_at
    assert upcoming.data["days_until_renewal"] in (4, 5)
    assert upcoming.data["plan_code"] == plan["code"] and upcoming.data["seats"] == sub["seats"]
    assert upcoming.data["amount"] == plan["unit_amount"] * sub["seats"]

    async def account_knows_the_renewal() -> None:
        account = await journey.get("ticket", f"/v1/accounts/{tenant_id}", roles=("agent",))
        assert account["renewal_date"] is not None, account
        assert epoch(account["renewal_date"]) == epoch(renewal["period_start"]), account

    await journey.until(account_knows_the_renewal)
    await journey.assert_one_trace("onboarding", "billing", "ticket")


async def test_card_renewal_stripe_did_not_invoice_is_issued_once_and_completed_when_paid(
    journey: Journey,
) -> None:
    now = int(time.time())
    renews_at = now - (GRACE_HOURS + 1) * 3600  # Stripe's grace period is over
    plan, sub = await renewing_customer(
        journey,
        collection_method="charge_automatically",
        period_start=renews_at - 30 * DAY,
        period_end=renews_at,
    )
    tenant_id = sub["tenant_id"]

    # two scans at once (two CronJob runs overlapping): one renewal invoice
    await asyncio.gather(scan(journey), scan(journey))
    await scan(journey)
    renewal = await renewal_in_state(journey, tenant_id, "invoiced")
    assert renewal["reason"] == "automation_did_not_fire"
    assert epoch(renewal["period_start"]) == renews_at
    invoice = await issued_renewal_invoice(journey, tenant_id)
    assert renewal["invoice_id"] == invoice["id"]
    assert renewal["stripe_invoice_id"] == invoice["stripe_invoice_id"]
    assert invoice["amount_due"] == plan["unit_amount"] * sub["seats"]
    assert epoch(invoice["period_start"]) == renews_at

    await stripe_reports_sent(journey, sub, invoice)
    await pay_renewal_invoice(journey, sub, invoice, billing_reason="manual")
    renewal = await renewal_in_state(journey, tenant_id, "paid")
    (paid,) = [i for i in await invoices_of(journey, tenant_id) if i["is_renewal"]]
    assert (paid["id"], paid["status"], paid["amount_paid"]) == (
        invoice["id"],
        "paid",
        invoice["amount_due"],
    )
    await account_after_renewal(journey, tenant_id, renewal)

    await journey.events(tenant_id, "renewal.completed")
    await settle()
    by_type = assert_renewal_events(
        journey,
        tenant_id,
        sub,
        expected=["renewal.upcoming", "renewal.invoiced", "renewal.completed"],
        period_start=renews_at,
    )
    invoiced = by_type["renewal.invoiced"].data
    assert invoiced["reason"] == "automation_did_not_fire"
    assert invoiced["collection_method"] == "charge_automatically"
    assert (invoiced["invoice_id"], invoiced["stripe_invoice_id"]) == (
        invoice["id"],
        invoice["stripe_invoice_id"],
    )
    assert invoiced["amount"] == invoice["amount_due"]
    completed = by_type["renewal.completed"].data
    assert (completed["invoice_id"], completed["amount_paid"]) == (
        invoice["id"],
        invoice["amount_due"],
    )
    (invoice_paid,) = distinct(
        journey.tap.select(
            tenant=tenant_id,
            types=("invoice.paid",),
            where=lambda e: e.data["invoice_id"] == invoice["id"],
        )
    )
    journey.assert_cloudevent(invoice_paid, tenant=tenant_id, source="billing-service")
    assert invoice_paid.data["is_renewal"] is True
    assert invoice_paid.correlation == journey.correlation_id, invoice_paid.attributes
    await journey.assert_one_trace("onboarding", "billing", "ticket")


async def test_manual_invoicing_renewal_is_issued_at_period_start_and_completed_when_paid(
    journey: Journey,
) -> None:
    now = int(time.time())
    renews_at = now - 3600  # an hour ago: well inside any grace period
    plan, sub = await renewing_customer(
        journey,
        collection_method="send_invoice",
        period_start=renews_at - 30 * DAY,
        period_end=renews_at,
    )
    tenant_id = sub["tenant_id"]

    await asyncio.gather(scan(journey), scan(journey))
    renewal = await renewal_in_state(journey, tenant_id, "invoiced")
    assert renewal["reason"] == "manual_invoicing"
    invoice = await issued_renewal_invoice(journey, tenant_id)
    assert renewal["invoice_id"] == invoice["id"]
    assert invoice["amount_due"] == plan["unit_amount"] * sub["seats"]
    assert invoice["due_date"] is not None

    await stripe_reports_sent(journey, sub, invoice)

    async def account_shows_the_open_invoice() -> None:
        account = await journey.get("ticket", f"/v1/accounts/{tenant_id}", roles=("agent",))
        assert [i["invoice_id"] for i in account["open_invoices"]] == [invoice["id"]], account

    await journey.until(account_shows_the_open_invoice)
    await scan(journey)  # a later run issues nothing more
    await pay_renewal_invoice(journey, sub, invoice, billing_reason="manual")
    renewal = await renewal_in_state(journey, tenant_id, "paid")
    assert len([i for i in await invoices_of(journey, tenant_id) if i["is_renewal"]]) == 1
    await account_after_renewal(journey, tenant_id, renewal)

    await journey.events(tenant_id, "renewal.completed")
    await settle()
    by_type = assert_renewal_events(
        journey,
        tenant_id,
        sub,
        expected=["renewal.upcoming", "renewal.invoiced", "renewal.completed"],
        period_start=renews_at,
    )
    invoiced = by_type["renewal.invoiced"].data
    assert invoiced["reason"] == "manual_invoicing"
    assert invoiced["collection_method"] == "send_invoice"
    assert invoiced["invoice_id"] == invoice["id"]
    assert by_type["renewal.completed"].data["amount_paid"] == invoice["amount_due"]
    await journey.assert_one_trace("onboarding", "billing", "ticket")


async def test_renewal_stripe_invoiced_itself_is_recognised_and_not_issued_again(
    journey: Journey,
) -> None:
    now = int(time.time())
    renews_at = now - (GRACE_HOURS + 1) * 3600
    plan, sub = await renewing_customer(
        journey,
        collection_method="charge_automatically",
        period_start=renews_at - 30 * DAY,
        period_end=renews_at,
    )
    tenant_id = sub["tenant_id"]

    # Stripe's automation fired a minute after the period ended: its renewal invoice
    # (billing_reason subscription_cycle) was created and finalized within the grace period
    stripe_invoice = stripe_objects.invoice_object(
        sub,
        status="draft",
        amount_due=plan["unit_amount"] * sub["seats"],
        period_start=renews_at - 30 * DAY,
        period_end=renews_at,
        billing_reason="subscription_cycle",
    )
    await journey.stripe_webhook("invoice.created", stripe_invoice, created=renews_at + 60)
    finalized = {**stripe_invoice, "status": "open"}
    await journey.stripe_webhook("invoice.finalized", finalized, created=renews_at + 120)
    renewal = await renewal_in_state(journey, tenant_id, "invoiced")
    assert renewal["reason"] == "stripe_automatic"
    assert renewal["stripe_invoice_id"] == stripe_invoice["id"]

    # the scan runs after the grace period, twice at once: it issues nothing
    await asyncio.gather(scan(journey), scan(journey))
    await scan(journey)
    (invoice,) = await invoices_of(journey, tenant_id)
    assert invoice["stripe_invoice_id"] == stripe_invoice["id"]
    assert (invoice["is_renewal"], invoice["status"]) == (True, "open")
    assert invoice["collection_method"] == "charge_automatically"
    (renewal,) = await renewals_of(journey, tenant_id)
    assert renewal["state"] == "invoiced" and renewal["invoice_id"] == invoice["id"]

    # Stripe charges the card
    now = int(time.time())
    await journey.stripe_webhook(
        "invoice.paid",
        {
            **finalized,
            "status": "paid",
            "amount_paid": finalized["amount_due"],
            "amount_remaining": 0,
            "status_transitions": {"finalized_at": renews_at + 120, "paid_at": now},
        },
    )
    renewal = await renewal_in_state(journey, tenant_id, "paid")
    (paid,) = await invoices_of(journey, tenant_id)
    assert (paid["id"], paid["status"]) == (invoice["id"], "paid")
    await account_after_renewal(journey, tenant_id, renewal)

    await journey.events(tenant_id, "renewal.completed")
    await settle()
    by_type = assert_renewal_events(
        journey,
        tenant_id,
        sub,
        expected=["renewal.invoiced", "renewal.completed"],
        period_start=renews_at,
    )
    invoiced = by_type["renewal.invoiced"].data
    assert invoiced["reason"] == "stripe_automatic"
    assert invoiced["stripe_invoice_id"] == stripe_invoice["id"]
    assert by_type["renewal.completed"].data["invoice_id"] == invoice["id"]
    (finalized_event,) = distinct(
        journey.tap.select(tenant=tenant_id, types=("invoice.finalized",))
    )
    assert finalized_event.data["invoice_id"] == invoice["id"]
    assert finalized_event.data["is_renewal"] is True
    await journey.assert_one_trace("onboarding", "billing", "ticket")
