"""Fault variants: a service is killed with SIGKILL mid-journey (a crashed pod) and
started again on the same database and topics; the journey completes and nothing
happens twice. Every variant restarts what it killed in a ``finally`` so the session's
stack stays whole for the journeys after it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from journey import Journey
from stack import Stack
from test_journey_bug import (
    assert_bug_flow,
    assert_ticket_flow,
    bug_events,
    distinct,
    escalate,
    filed_bug,
    linked_tickets,
    open_ticket,
    qa_reproduces_escalates_and_fixes,
    told_fixed,
    two_customers,
    wait_bug_events,
)
from test_journey_renewals import (
    DAY,
    GRACE_HOURS,
    assert_renewal_events,
    invoices_of,
    pay_renewal_invoice,
    renewal_in_state,
    renewals_of,
    renewing_customer,
    scan,
    settle,
    stripe_reports_sent,
)

RESTART_TIMEOUT = 60.0  # a restarted consumer waits out the dead member's session

# Another bug than test_journey_bug's: in one session, the same report would be linked to
# that (fixed) bug as a regression instead of filing a new one.
CSV_FIRST: dict[str, Any] = {
    "subject": "Importing contacts from a CSV file fails with an error",
    "body": "The contact import is broken: uploading any CSV file ends with an error message.",
    "report": {
        "steps": ["Open Contacts", "Click Import and choose a CSV file", "Press Start import"],
        "expected": "All contacts from the file are added",
        "actual": "An 'unexpected column' error appears and nothing is imported",
        "environment": {"app_version": "4.12.0", "browser": "Safari 17", "os": "macOS 14"},
        "severity": "high",
    },
}
CSV_DUPLICATE: dict[str, Any] = {
    "subject": "CSV contact import fails with an error",
    "body": "We cannot import contacts: the CSV upload is not working and shows an error.",
    "report": {
        "steps": ["Go to Contacts", "Click Import and pick a CSV file", "Click Start import"],
        "expected": "The contacts are imported",
        "actual": "An 'unexpected column' error is shown and no contact is imported",
        "environment": {"app_version": "4.12.0", "browser": "Edge 122", "os": "Windows 11"},
        "severity": "medium",
    },
}

# each restart waits for the service to be ready and its consumers to rejoin their group
# (the dead member's Kafka session expires first); the session's stack may start first
pytestmark = pytest.mark.timeout(300)


@contextlib.asynccontextmanager
async def killed(stack: Stack, name: str) -> AsyncIterator[None]:
    """SIGKILL ``name`` now; whatever happens in the block, start it again and wait until
    it is ready."""
    stack[name].kill()
    try:
        yield
    finally:
        stack[name].start()
        await stack.wait_ready(name)


async def test_billing_killed_while_issuing_and_while_processing_the_payment(
    journey: Journey, stack: Stack
) -> None:
    now = int(time.time())
    renews_at = now - (GRACE_HOURS + 1) * 3600
    _, sub = await renewing_customer(
        journey,
        collection_method="charge_automatically",
        period_start=renews_at - 30 * DAY,
        period_end=renews_at,
    )
    tenant_id = sub["tenant_id"]

    # the scan that issues the renewal invoice is under way when billing dies
    request = asyncio.create_task(
        journey.request("billing", "POST", "/v1/renewals/scan", roles=("admin",))
    )
    await asyncio.sleep(0.15)
    async with killed(stack, "billing-service"):
        with contextlib.suppress(httpx.HTTPError):
            await request  # answered before the kill, or cut off by it

    # the next CronJob runs finish the job (a claim left by the dead scan is taken over)
    async def issued() -> dict[str, object]:
        await scan(journey)
        renewals = await renewals_of(journey, tenant_id)
        assert [r["state"] for r in renewals] == ["invoiced"], renewals
        return renewals[0]

    renewal = await journey.until(issued, timeout=RESTART_TIMEOUT, interval=1.0)
    assert renewal["reason"] == "automation_did_not_fire"
    await scan(journey)
    invoices = [i for i in await invoices_of(journey, tenant_id) if i["is_renewal"]]
    assert len(invoices) == 1, invoices
    (invoice,) = invoices
    assert renewal["invoice_id"] == invoice["id"]
    await stripe_reports_sent(journey, sub, invoice)

    # Stripe's invoice.paid was stored (answered 200) when billing dies: processed after
    # the restart, once
    await pay_renewal_invoice(journey, sub, invoice, billing_reason="manual")
    async with killed(stack, "billing-service"):
        pass
    renewal = await renewal_in_state(journey, tenant_id, "paid")
    (paid,) = [i for i in await invoices_of(journey, tenant_id) if i["is_renewal"]]
    assert (paid["id"], paid["status"]) == (invoice["id"], "paid")

    await journey.events(tenant_id, "renewal.completed", timeout=RESTART_TIMEOUT)
    await settle()
    by_type = assert_renewal_events(
        journey,
        tenant_id,
        sub,
        expected=["renewal.upcoming", "renewal.invoiced", "renewal.completed"],
        period_start=renews_at,
    )
    assert by_type["renewal.invoiced"].data["invoice_id"] == invoice["id"]
    assert by_type["renewal.completed"].data["invoice_id"] == invoice["id"]
    paid_events = distinct(
        journey.tap.select(
            tenant=tenant_id,
            types=("invoice.paid",),
            where=lambda e: e.data["invoice_id"] == invoice["id"],
        )
    )
    assert len(paid_events) == 1, paid_events
    await journey.assert_one_trace("onboarding", "billing", "ticket")


async def test_escalation_killed_while_filing_and_ticket_killed_while_fanning_out(
    journey: Journey, stack: Stack
) -> None:
    first_tenant, second_tenant = await two_customers(journey)
    first = await open_ticket(journey, first_tenant, CSV_FIRST)
    duplicate = await open_ticket(journey, second_tenant, CSV_DUPLICATE)

    # ticket.escalated is on the topic; the escalation service dies before (or while)
    # filing the bug
    await escalate(journey, first, CSV_FIRST)
    await journey.tap.wait_for(
        lambda tap: bool(
            tap.select(
                types=("ticket.escalated",), where=lambda e: e.data["ticket_id"] == first["id"]
            )
        ),
        what="ticket.escalated",
    )
    async with killed(stack, "escalation-service"):
        pass
    bug = await filed_bug(journey, first["id"], timeout=RESTART_TIMEOUT)

    # later steps work: the duplicate is linked, QA takes the bug through to the fix
    await escalate(journey, duplicate, CSV_DUPLICATE)
    await linked_tickets(journey, bug["id"], [first["id"], duplicate["id"]])
    await qa_reproduces_escalates_and_fixes(journey, bug["id"], CSV_FIRST)

    # bug.resolved is on the topic; the ticket service dies while fanning it out
    await wait_bug_events(journey, bug["id"], "bug.resolved")
    async with killed(stack, "ticket-service"):
        pass
    for ticket in (first, duplicate):
        await told_fixed(journey, ticket["id"], bug, timeout=RESTART_TIMEOUT)

    # one bug, one bug.reported, one fixed reply per ticket (told_fixed), and the
    # events once each
    for tenant in (first_tenant, second_tenant):
        listed = await journey.get(
            "escalation", "/v1/bugs", params={"tenant_id": tenant}, roles=("qa",)
        )
        assert [b["id"] for b in listed["items"]] == [bug["id"]], listed
    await settle()
    reported = [e for e in bug_events(journey, bug["id"]) if e.type == "bug.reported"]
    assert len(reported) == 1, reported
    for_first = distinct(
        journey.tap.select(
            types=("bug.reported",), where=lambda e: e.data["ticket_id"] == first["id"]
        )
    )
    assert len(for_first) == 1, for_first
    assert_bug_flow(journey, bug, first=first, duplicate=duplicate, story=CSV_FIRST)
    for ticket in (first, duplicate):
        assert_ticket_flow(journey, ticket, bug)
    await journey.assert_one_trace("ticket", "escalation")
