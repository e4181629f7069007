"""The verified account context: a read model fed only by onboarding and billing events.

Each entity remembers the time of the event that last set its state; an older event
(a different event id carrying a state already superseded) changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events import Envelope
from supportops_events.billing import (
    InvoiceEvent,
    InvoiceOverdue,
    RenewalEvent,
    SubscriptionEvent,
)
from supportops_events.escalation import BugEvent
from supportops_events.onboarding import TenantCreated, TenantEvent, UserEvent
from ticket_service.accounts.schemas import (
    AccountBugOut,
    AccountInvoiceOut,
    AccountOut,
    AccountUserOut,
)
from ticket_service.models import Account, AccountInvoice, AccountUser, Bug, Ticket, TicketBug

CLOSED_BUG_STATUSES = ("resolved", "closed")


async def _account(session: AsyncSession, tenant_id: str) -> Account:
    account = await session.get(Account, tenant_id, with_for_update=True)
    if account is None:
        account = Account(tenant_id=tenant_id, domains=[], cancel_at_period_end=False)
        session.add(account)
    return account


def _newer(previous: datetime | None, current: datetime) -> bool:
    return previous is None or current >= previous


async def heard(session: AsyncSession, envelope: Envelope) -> Account:
    """Record that we heard about the tenant; returns its account row."""
    account = await _account(session, envelope.tenant_id)
    if account.last_heard_at is None or envelope.time >= account.last_heard_at:
        account.last_heard_at = envelope.time
        account.last_event_type = envelope.type
    return account


async def apply_tenant_event(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, TenantEvent)
    account = await heard(session, envelope)
    account.company_name = event.company_name
    if isinstance(event, TenantCreated):
        account.domains = [d.lower() for d in event.domains]
        account.plan_code = account.plan_code or event.plan_code
        account.seats = account.seats if account.seats is not None else event.seats
    if _newer(account.tenant_status_at, envelope.time):
        account.tenant_status = event.status.value
        account.tenant_status_at = envelope.time
    await session.flush()


async def apply_user_event(session: AsyncSession, envelope: Envelope) -> bool:
    """Store the user's state; False when the event is older than the state we hold."""
    event = envelope.data
    assert isinstance(event, UserEvent)
    await heard(session, envelope)
    fresh = True
    user = await session.get(AccountUser, event.user_id, with_for_update=True)
    if user is None:
        session.add(
            AccountUser(
                user_id=event.user_id,
                tenant_id=event.tenant_id,
                email=event.email.lower(),
                name=event.name,
                status=event.status.value,
                role=event.role.value,
                state_at=envelope.time,
            )
        )
    elif _newer(user.state_at, envelope.time):
        user.email = event.email.lower()
        user.name = event.name or user.name
        user.status = event.status.value
        user.role = event.role.value
        user.state_at = envelope.time
    else:
        fresh = False
    await session.flush()
    return fresh


async def apply_subscription_event(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, SubscriptionEvent)
    account = await heard(session, envelope)
    if _newer(account.subscription_at, envelope.time):
        account.subscription_id = event.subscription_id
        account.subscription_status = event.status.value
        account.plan_code = event.plan_code
        account.plan_tier = event.plan_tier.value
        account.seats = event.seats
        account.renewal_date = event.current_period_end
        account.cancel_at_period_end = event.cancel_at_period_end
        account.subscription_at = envelope.time
    await session.flush()


async def apply_invoice_event(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, InvoiceEvent)
    await heard(session, envelope)
    invoice = await session.get(AccountInvoice, event.invoice_id, with_for_update=True)
    overdue = isinstance(event, InvoiceOverdue)
    if invoice is None:
        session.add(
            AccountInvoice(
                invoice_id=event.invoice_id,
                tenant_id=event.tenant_id,
                number=event.number,
                status=event.status.value,
                overdue=overdue and event.status.value == "open",
                currency=event.currency,
                amount_remaining=event.amount_remaining,
                due_date=event.due_date,
                state_at=envelope.time,
            )
        )
    elif _newer(invoice.state_at, envelope.time):
        invoice.number = event.number or invoice.number
        invoice.status = event.status.value
        invoice.overdue = event.status.value == "open" and (overdue or invoice.overdue)
        invoice.amount_remaining = event.amount_remaining
        invoice.due_date = event.due_date
        invoice.state_at = envelope.time
    await session.flush()


async def apply_renewal_event(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, RenewalEvent)
    account = await heard(session, envelope)
    if account.subscription_at is None or envelope.time >= account.subscription_at:
        account.renewal_date = event.period_end
    await session.flush()


async def apply_bug_state(session: AsyncSession, envelope: Envelope) -> bool:
    """Store the bug's state; False when the event is older than the state we hold."""
    event = envelope.data
    assert isinstance(event, BugEvent)
    await heard(session, envelope)
    bug = await session.get(Bug, event.bug_id, with_for_update=True)
    if bug is None:
        bug = Bug(
            bug_id=event.bug_id,
            tenant_id=event.tenant_id,
            key=event.key,
            title=event.title,
            status=event.status.value,
            severity=event.severity.value,
            state_at=envelope.time,
        )
        session.add(bug)
        fresh = True
    elif _newer(bug.state_at, envelope.time):
        fresh = True
        bug.key = event.key
        bug.title = event.title
        bug.status = event.status.value
        bug.severity = event.severity.value
        bug.state_at = envelope.time
    else:
        fresh = False
    await session.flush()
    return fresh


async def account_view(session: AsyncSession, tenant_id: str) -> AccountOut | None:
    account = await session.get(Account, tenant_id)
    if account is None:
        return None
    users = (
        await session.scalars(
            select(AccountUser)
            .where(AccountUser.tenant_id == tenant_id)
            .order_by(AccountUser.email)
        )
    ).all()
    invoices = (
        await session.scalars(
            select(AccountInvoice)
            .where(AccountInvoice.tenant_id == tenant_id, AccountInvoice.status == "open")
            .order_by(AccountInvoice.due_date.asc().nulls_last(), AccountInvoice.invoice_id)
        )
    ).all()
    linked = select(TicketBug.bug_id).join(Ticket, Ticket.id == TicketBug.ticket_id)
    bugs = (
        await session.scalars(
            select(Bug)
            .where(
                or_(
                    Bug.tenant_id == tenant_id,
                    Bug.bug_id.in_(linked.where(Ticket.tenant_id == tenant_id)),
                ),
                Bug.status.not_in(CLOSED_BUG_STATUSES),
            )
            .order_by(Bug.key)
        )
    ).all()
    invoice_out = [AccountInvoiceOut.model_validate(i, from_attributes=True) for i in invoices]
    return AccountOut(
        tenant_id=account.tenant_id,
        company_name=account.company_name,
        tenant_status=account.tenant_status,
        domains=list(account.domains or []),
        subscription_status=account.subscription_status,
        plan_code=account.plan_code,
        plan_tier=account.plan_tier,
        seats=account.seats,
        renewal_date=account.renewal_date,
        cancel_at_period_end=account.cancel_at_period_end,
        users=[AccountUserOut.model_validate(u, from_attributes=True) for u in users],
        open_invoices=invoice_out,
        overdue_invoices=[i for i in invoice_out if i.overdue],
        open_bugs=[AccountBugOut.model_validate(b, from_attributes=True) for b in bugs],
        last_heard_at=account.last_heard_at,
        last_event_type=account.last_event_type,
    )
