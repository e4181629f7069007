"""Billing follow-ups: one proactive ticket per ``followup_key``, solved when paid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events.billing import BillingFollowupRequired, BillingFollowupResolved, InvoicePaid
from supportops_events.tickets import TicketChannel, TicketPriority, TicketStatus
from ticket_service.categories import Category, Channel
from ticket_service.followups import repository
from ticket_service.models import Ticket
from ticket_service.tickets.creation import create_ticket
from ticket_service.tickets.schemas import RequesterIn, TicketIn
from ticket_service.tickets.status import change_status
from ticket_service.tickets.timeline import SYSTEM, system_note

BILLING_QUEUE = "billing"
DONE = (TicketStatus.solved.value, TicketStatus.closed.value)
CAUSE_TEXT = {
    "payment_failed": "a payment failed",
    "invoice_overdue": "an invoice is overdue",
    "renewal_at_risk": "the renewal is at risk",
    "dispute_opened": "a payment was disputed",
    "plan_unknown": "the plan the tenant signed up for is unknown to billing",
    "plan_archived": "the tenant signed up for an archived plan",
    "subscription_rejected": "Stripe refused to create the subscription",
}


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


async def open_followup(
    session: AsyncSession, event: BillingFollowupRequired, *, at: datetime
) -> None:
    existing = await repository.ticket_of_key(session, event.followup_key)
    if existing is not None:
        return  # one ticket per follow-up key, however often billing asks
    account = await repository.get_account(session, event.tenant_id)
    company = account.company_name if account and account.company_name else event.tenant_id
    cause = CAUSE_TEXT.get(event.cause.value, event.cause.value)
    lines = [
        f"Billing needs a person to contact {company}: {cause}.",
        f"Amount due: {_money(event.amount_due, event.currency)}.",
    ]
    if event.invoice_id:
        lines.append(f"Invoice: {event.invoice_id}.")
    if event.days_overdue is not None:
        lines.append(f"Days overdue: {event.days_overdue}.")
    if event.hosted_invoice_url:
        lines.append(f"Payment link: {event.hosted_invoice_url}")
    if event.detail:
        lines.append(event.detail)
    email = event.billing_email or ""
    if not (0 < len(email) <= 320 and "@" in email):
        email = "billing-contact@unknown.invalid"
    # built without validation: the values come from a trusted event, bounded above
    body = TicketIn.model_construct(
        tenant_id=event.tenant_id,
        requester=RequesterIn.model_construct(
            email=email,
            name=company[:200],
            user_id=None,
        ),
        channel=Channel.api,
        subject=f"Billing follow-up: {cause} ({company})"[:300],
        body="\n".join(lines),
    )
    ticket = await create_ticket(
        session,
        body=body,
        actor=SYSTEM,
        at=at,
        channel=TicketChannel.proactive,
        followup_key=event.followup_key,
        forced_triage=(
            Category.billing,
            None,
            TicketPriority.high,
            BILLING_QUEUE,
            ["billing_followup", event.cause.value],
        ),
    )
    ticket.followup_invoice_id = event.invoice_id
    await session.flush()


async def _solve(session: AsyncSession, *, ticket: Ticket, note: str, at: datetime) -> None:
    if ticket.status in DONE:
        return
    await system_note(session, ticket=ticket, action="followup_resolved", body=note, at=at)
    await change_status(
        session,
        ticket=ticket,
        to=TicketStatus.solved,
        actor=SYSTEM,
        at=at,
        reason=note,
        resolution="billing follow-up resolved",
    )


async def resolve_followup(
    session: AsyncSession, event: BillingFollowupResolved, *, at: datetime
) -> None:
    ticket = await repository.ticket_of_key(session, event.followup_key, for_update=True)
    if ticket is not None:
        await _solve(
            session,
            ticket=ticket,
            note=f"billing reports the follow-up resolved: {event.resolution.value}",
            at=at,
        )


async def invoice_paid(session: AsyncSession, event: InvoicePaid, *, at: datetime) -> None:
    tickets = await repository.lock_tickets_of_invoice(
        session, tenant_id=event.tenant_id, invoice_id=event.invoice_id
    )
    for ticket in tickets:
        await _solve(
            session,
            ticket=ticket,
            note=f"invoice {event.number or event.invoice_id} was paid "
            f"({_money(event.amount_paid, event.currency)})",
            at=at,
        )
