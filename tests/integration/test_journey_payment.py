"""Flow 3, failed payment: Stripe reports a failed and then an overdue renewal invoice;
billing asks for a person → ONE proactive ticket in the billing queue; the payment solves
it automatically. Long overdue beyond policy suspends the tenant, the payment brings it
back. Signed Stripe webhooks and public REST APIs only."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flows import Customer, account_until, assert_events, at, onboarded_customer, position
from journey import Journey

from servicekit.testing import stripe as stripe_objects

DAY = 86400


def renewal_invoice(customer: Customer, stripe_invoice_id: str, **fields: Any) -> dict[str, Any]:
    """The subscription's renewal invoice, as Stripe's webhooks carry it."""
    sub = customer.subscription
    return stripe_objects.invoice_object(
        sub,
        stripe_invoice_id=stripe_invoice_id,
        amount_due=sub["recurring_amount"],
        billing_reason="subscription_cycle",
        **fields,
    )


async def billing_tickets(journey: Journey, tenant_id: str) -> list[dict[str, Any]]:
    listed = await journey.get(
        "ticket",
        "/v1/tickets",
        roles=("agent",),
        params={"tenant_id": tenant_id, "queue": "billing"},
    )
    return list(listed["items"])


async def billing_invoice(journey: Journey, tenant_id: str, stripe_id: str) -> dict[str, Any]:
    listed = await journey.get("billing", "/v1/invoices", params={"tenant_id": tenant_id})
    (invoice,) = [i for i in listed["items"] if i["stripe_invoice_id"] == stripe_id]
    return dict(invoice)


async def test_failed_then_overdue_invoice_makes_one_ticket_solved_by_the_payment(
    journey: Journey,
) -> None:
    customer = await onboarded_customer(journey)
    tenant_id = customer.tenant_id
    stripe_id = f"in_{uuid.uuid4().hex[:14]}"
    now = int(time.time())
    period = {"period_start": now - 30 * DAY, "period_end": now}
    key = f"invoice:{stripe_id}"
    of_key = lambda e: e.data.get("followup_key") == key  # noqa: E731

    # the card was declined on the renewal invoice
    await journey.stripe_webhook(
        "invoice.payment_failed",
        renewal_invoice(
            customer,
            stripe_id,
            attempt_count=1,
            next_payment_attempt=now + 3 * DAY,
            **period,
        ),
        created=now,
    )
    await journey.tap.wait_types(tenant_id, "billing.followup_required", where=of_key)

    async def one_ticket() -> dict[str, Any]:
        tickets = await billing_tickets(journey, tenant_id)
        assert len(tickets) == 1, tickets
        return tickets[0]

    ticket = await journey.until(one_ticket)
    assert ticket["followup_key"] == key and ticket["channel"] == "proactive", ticket
    assert (ticket["category"], ticket["priority"]) == ("billing", "high")
    assert {"billing_followup", "payment_failed"} <= set(ticket["tags"])

    # a few days later the invoice is overdue: billing asks again, about the same problem
    await journey.stripe_webhook(
        "invoice.overdue",
        renewal_invoice(customer, stripe_id, attempt_count=2, due_date=now - 3 * DAY, **period),
        created=now + 1,
    )
    await journey.tap.wait_for(
        lambda tap: (
            len(tap.select(tenant=tenant_id, types=("billing.followup_required",), where=of_key))
            == 2
        ),
        what="the second follow-up",
    )
    second = journey.tap.select(
        tenant=tenant_id, types=("billing.followup_required",), where=of_key
    )[-1]
    assert (second.data["cause"], second.data["days_overdue"]) == ("invoice_overdue", 3)

    # the ticket service took the second follow-up in (it heard of it) and opened no ticket
    invoice = await billing_invoice(journey, tenant_id, stripe_id)
    account = await account_until(
        journey,
        tenant_id,
        lambda a: (
            a["last_heard_at"] is not None
            and at(a["last_heard_at"]) >= at(second.attributes["time"])
            and [i["invoice_id"] for i in a["overdue_invoices"]] == [invoice["id"]]
        ),
    )
    assert account["tenant_status"] == "active"  # 3 days: within the suspension policy
    assert [t["id"] for t in await billing_tickets(journey, tenant_id)] == [ticket["id"]]

    # the customer pays: the follow-up is resolved and its ticket solved automatically
    await journey.stripe_webhook(
        "invoice.paid",
        renewal_invoice(
            customer,
            stripe_id,
            status="paid",
            amount_paid=customer.subscription["recurring_amount"],
            attempt_count=2,
            paid_at=now + 2,
            **period,
        ),
        created=now + 2,
    )

    async def solved() -> dict[str, Any]:
        detail: dict[str, Any] = await journey.get(
            "ticket", f"/v1/tickets/{ticket['id']}", roles=("agent",)
        )
        assert detail["status"] == "solved", detail["status"]
        return detail

    detail = await journey.until(solved)
    assert any(e["action"] == "followup_resolved" for e in detail["timeline"]), detail["timeline"]

    # final state, as each service reports it
    invoice = await billing_invoice(journey, tenant_id, stripe_id)
    assert invoice["status"] == "paid", invoice
    account = await account_until(journey, tenant_id, lambda a: a["open_invoices"] == [])
    assert account["overdue_invoices"] == [] and account["tenant_status"] == "active"
    tenant = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
    assert tenant["status"] == "active" and tenant["restricted"] is False, tenant
    assert len(await billing_tickets(journey, tenant_id)) == 1

    # the events
    of_invoice = lambda e: e.data.get("stripe_invoice_id") == stripe_id  # noqa: E731
    money = assert_events(
        journey,
        tenant_id,
        [
            ("invoice.payment_failed", "billing-service"),
            ("invoice.overdue", "billing-service"),
            ("invoice.paid", "billing-service"),
        ],
        where=of_invoice,
    )
    followups = assert_events(
        journey,
        tenant_id,
        [
            ("billing.followup_required", "billing-service"),
            ("billing.followup_resolved", "billing-service"),
        ],
        where=of_key,
    )
    required = followups["billing.followup_required"]
    assert [e.data["cause"] for e in required] == ["payment_failed", "invoice_overdue"]
    assert all(e.subject == key for e in required)
    (resolved,) = followups["billing.followup_resolved"]
    assert resolved.data["resolution"] == "invoice_paid"
    of_ticket = lambda e: e.data.get("ticket_id") == ticket["id"]  # noqa: E731
    tickets = assert_events(
        journey,
        tenant_id,
        [("ticket.created", "ticket-service"), ("ticket.solved", "ticket-service")],
        where=of_ticket,
    )
    (created,) = tickets["ticket.created"]
    assert created.data["followup_key"] == key and created.data["channel"] == "proactive"
    (solved_event,) = tickets["ticket.solved"]
    assert solved_event.data["automatic"] is True
    # exactly one proactive ticket was ever opened for the tenant
    assert len(journey.tap.select(tenant=tenant_id, types=("ticket.created",))) == 1
    assert (
        position(journey, money["invoice.payment_failed"][0])
        < position(journey, required[0])
        < position(journey, created)
    )
    assert (
        position(journey, money["invoice.overdue"][0])
        < position(journey, required[1])
        < position(journey, money["invoice.paid"][0])
        < min(position(journey, resolved), position(journey, solved_event))
    )

    await journey.assert_one_trace("billing", "ticket")


async def test_long_overdue_suspends_the_tenant_and_the_payment_reactivates_it(
    journey: Journey,
) -> None:
    customer = await onboarded_customer(journey)
    tenant_id = customer.tenant_id
    stripe_id = f"in_{uuid.uuid4().hex[:14]}"
    now = int(time.time())
    period = {"period_start": now - 75 * DAY, "period_end": now - 45 * DAY}
    key = f"invoice:{stripe_id}"

    # 45 days overdue: beyond the default policy (30 days)
    await journey.stripe_webhook(
        "invoice.overdue",
        renewal_invoice(customer, stripe_id, attempt_count=1, due_date=now - 45 * DAY, **period),
        created=now,
    )
    (suspended,) = await journey.events(tenant_id, "tenant.suspended")
    assert suspended.data["reason"] == "payment_overdue", suspended.data

    invoice = await billing_invoice(journey, tenant_id, stripe_id)
    assert invoice["status"] == "open"
    tenant = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
    assert tenant["status"] == "suspended" and tenant["restricted"] is True, tenant
    assert tenant["suspension_reason"] == "payment_overdue"
    account = await account_until(
        journey,
        tenant_id,
        lambda a: (
            a["tenant_status"] == "suspended"
            and [i["invoice_id"] for i in a["overdue_invoices"]] == [invoice["id"]]
        ),
    )
    assert account["overdue_invoices"][0]["amount_remaining"] == invoice["amount_remaining"]

    async def one_ticket() -> dict[str, Any]:
        tickets = await journey.get(
            "ticket", "/v1/tickets", roles=("agent",), params={"tenant_id": tenant_id}
        )
        followups = [t for t in tickets["items"] if t["followup_key"] == key]
        assert len(followups) == 1, tickets
        return dict(followups[0])

    ticket = await journey.until(one_ticket)
    assert ticket["queue"] == "billing" and "invoice_overdue" in ticket["tags"]

    # paid at last: the tenant is reactivated and the follow-up solved
    await journey.stripe_webhook(
        "invoice.paid",
        renewal_invoice(
            customer,
            stripe_id,
            status="paid",
            amount_paid=customer.subscription["recurring_amount"],
            attempt_count=1,
            paid_at=now + 1,
            **period,
        ),
        created=now + 1,
    )
    (reactivated,) = await journey.events(tenant_id, "tenant.reactivated")
    assert reactivated.data["reason"] == "payment_received"
    assert reactivated.data["invoice_id"] == invoice["id"]

    tenant = await journey.get("onboarding", f"/v1/tenants/{tenant_id}")
    assert tenant["status"] == "active" and tenant["restricted"] is False, tenant
    assert (await billing_invoice(journey, tenant_id, stripe_id))["status"] == "paid"
    account = await account_until(
        journey,
        tenant_id,
        lambda a: a["tenant_status"] == "active" and a["open_invoices"] == [],
    )
    assert account["overdue_invoices"] == []

    async def solved() -> None:
        detail = await journey.get("ticket", f"/v1/tickets/{ticket['id']}", roles=("agent",))
        assert detail["status"] == "solved", detail["status"]

    await journey.until(solved)

    of_invoice = lambda e: e.data.get("stripe_invoice_id") == stripe_id  # noqa: E731
    billing = assert_events(
        journey,
        tenant_id,
        [("invoice.overdue", "billing-service"), ("invoice.paid", "billing-service")],
        where=of_invoice,
    )
    (overdue,) = billing["invoice.overdue"]
    assert overdue.data["days_overdue"] == 45
    lifecycle = assert_events(
        journey,
        tenant_id,
        [("tenant.suspended", "onboarding-service"), ("tenant.reactivated", "onboarding-service")],
    )
    assert suspended.subject == tenant_id and lifecycle["tenant.suspended"] == [suspended]
    assert lifecycle["tenant.reactivated"] == [reactivated]
    assert (
        position(journey, overdue)
        < position(journey, suspended)
        < position(journey, billing["invoice.paid"][0])
        < position(journey, reactivated)
    )

    await journey.assert_one_trace("billing", "onboarding", "ticket")
