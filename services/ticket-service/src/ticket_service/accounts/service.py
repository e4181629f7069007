"""The verified account context: a read model fed only by onboarding and billing events.

Each entity remembers the time of the event that last set its state; an older event
(a different event id carrying a state already superseded) changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events import Event
from supportops_events.billing import (
    CreditNoteIssued,
    DisputeEvent,
    InvoiceEvent,
    InvoiceOverdue,
    RefundIssued,
    RenewalEvent,
    SubscriptionEvent,
)
from supportops_events.escalation import BugEvent
from supportops_events.onboarding import (
    TenantChurned,
    TenantCreated,
    TenantEvent,
    TenantReactivated,
    TenantSuspended,
    UserEvent,
)
from ticket_service.accounts import repository
from ticket_service.accounts.schemas import (
    AccountBugOut,
    AccountCorrectionOut,
    AccountDisputeOut,
    AccountInvoiceOut,
    AccountOut,
    AccountUserOut,
)
from ticket_service.models import (
    Account,
    AccountDispute,
    AccountInvoice,
    AccountUser,
    Bug,
    Ticket,
)
from ticket_service.sla.service import refresh_many


async def _account(session: AsyncSession, tenant_id: str) -> Account:
    account = await repository.lock(session, Account, tenant_id)
    if account is None:
        account = Account(tenant_id=tenant_id, domains=[], cancel_at_period_end=False)
        repository.add(session, account)
    return account


def _newer(previous: datetime | None, current: datetime) -> bool:
    return previous is None or current >= previous


async def heard(session: AsyncSession, event: Event, *, time: datetime) -> Account:
    """Record that we heard about the tenant (an event of ``time``, the CloudEvents
    time); returns its account row."""
    account = await _account(session, event.tenant_id)
    if account.last_heard_at is None or time >= account.last_heard_at:
        account.last_heard_at = time
        account.last_event_type = event.event_type
    return account


async def apply_tenant_event(
    session: AsyncSession, event: TenantEvent, *, time: datetime, at: datetime
) -> None:
    account = await heard(session, event, time=time)
    previous_zone = account.timezone
    account.company_name = event.company_name
    if isinstance(event, TenantCreated):
        account.domains = [d.lower() for d in event.domains]
        account.plan_code = account.plan_code or event.plan_code
        account.seats = account.seats if account.seats is not None else event.seats
    if _newer(account.tenant_status_at, time):
        account.tenant_status = event.status.value
        account.tenant_status_at = time
        account.tenant_status_reason = _status_reason(event)
        # an event of a producer that did not carry the zone yet leaves it as it was
        account.timezone = event.timezone or account.timezone
    await session.flush()
    if account.timezone != previous_zone:
        # the zone sets the resolution deadlines of the tenant's open tickets
        await refresh_many(session, at=at, where=[Ticket.tenant_id == account.tenant_id])


def _status_reason(event: TenantEvent) -> str | None:
    """Why the tenant is in its status, when the event says (suspended, churned...)."""
    match event:
        case TenantSuspended() | TenantReactivated():
            return event.reason.value
        case TenantChurned():
            return (event.reason or "churned")[:200]
        case _:
            return None


async def apply_user_event(session: AsyncSession, event: UserEvent, *, time: datetime) -> bool:
    """Store the user's state; False when the event is older than the state we hold."""
    await heard(session, event, time=time)
    fresh = True
    user = await repository.lock(session, AccountUser, event.user_id)
    if user is None:
        repository.add(
            session,
            AccountUser(
                user_id=event.user_id,
                tenant_id=event.tenant_id,
                email=event.email.lower(),
                name=event.name,
                status=event.status.value,
                role=event.role.value,
                state_at=time,
            ),
        )
    elif _newer(user.state_at, time):
        user.email = event.email.lower()
        user.name = event.name or user.name
        user.status = event.status.value
        user.role = event.role.value
        user.state_at = time
    else:
        fresh = False
    await session.flush()
    return fresh


async def apply_subscription_event(
    session: AsyncSession, event: SubscriptionEvent, *, time: datetime, at: datetime
) -> None:
    account = await heard(session, event, time=time)
    previous_tier = account.plan_tier
    if _newer(account.subscription_at, time):
        account.subscription_id = event.subscription_id
        account.subscription_status = event.status.value
        account.plan_code = event.plan_code
        account.plan_tier = event.plan_tier.value
        account.seats = event.seats
        account.renewal_date = event.current_period_end
        account.cancel_at_period_end = event.cancel_at_period_end
        account.subscription_at = time
    await session.flush()
    if account.plan_tier != previous_tier:
        # the tier sets the SLA targets of the tenant's open tickets
        await refresh_many(session, at=at, where=[Ticket.tenant_id == account.tenant_id])


async def apply_invoice_event(
    session: AsyncSession, event: InvoiceEvent, *, time: datetime
) -> None:
    await heard(session, event, time=time)
    invoice = await repository.lock(session, AccountInvoice, event.invoice_id)
    overdue = isinstance(event, InvoiceOverdue)
    if invoice is None:
        repository.add(
            session,
            AccountInvoice(
                invoice_id=event.invoice_id,
                tenant_id=event.tenant_id,
                number=event.number,
                status=event.status.value,
                overdue=overdue and event.status.value == "open",
                currency=event.currency,
                amount_remaining=event.amount_remaining,
                due_date=event.due_date,
                state_at=time,
            ),
        )
    elif _newer(invoice.state_at, time):
        invoice.number = event.number or invoice.number
        invoice.status = event.status.value
        invoice.overdue = event.status.value == "open" and (overdue or invoice.overdue)
        invoice.amount_remaining = event.amount_remaining
        invoice.due_date = event.due_date
        invoice.state_at = time
    await session.flush()


async def apply_renewal_event(
    session: AsyncSession, event: RenewalEvent, *, time: datetime
) -> None:
    account = await heard(session, event, time=time)
    if account.subscription_at is None or time >= account.subscription_at:
        account.renewal_date = event.period_start  # renews as it starts
    await session.flush()


async def apply_dispute_event(
    session: AsyncSession, event: DisputeEvent, *, time: datetime
) -> None:
    await heard(session, event, time=time)
    dispute = await repository.lock(session, AccountDispute, event.dispute_id)
    if dispute is None:
        dispute = AccountDispute(dispute_id=event.dispute_id, tenant_id=event.tenant_id)
        repository.add(session, dispute)
    elif not _newer(dispute.state_at, time):
        return
    dispute.invoice_id = event.invoice_id
    dispute.currency = event.currency
    dispute.amount = event.amount
    dispute.reason = event.reason[:64]
    dispute.status = event.status.value
    dispute.evidence_due_by = getattr(event, "evidence_due_by", None) or dispute.evidence_due_by
    dispute.state_at = time
    await session.flush()


async def apply_correction_event(
    session: AsyncSession, event: RefundIssued | CreditNoteIssued, *, time: datetime
) -> None:
    await heard(session, event, time=time)
    if isinstance(event, RefundIssued):
        kind, billing_id = "refund", event.refund_id
    else:
        kind, billing_id = "credit_note", event.credit_note_id
    await repository.add_correction_once(
        session,
        id=f"{kind}:{billing_id}"[:100],
        tenant_id=event.tenant_id,
        kind=kind,
        invoice_id=event.invoice_id,
        currency=event.currency,
        amount=event.amount,
        reason=event.reason[:200] if event.reason else None,
        issued_at=time,
    )


async def apply_bug_state(session: AsyncSession, event: BugEvent, *, time: datetime) -> bool:
    """Store the bug's state; False when the event is older than the state we hold."""
    await heard(session, event, time=time)
    bug = await repository.lock(session, Bug, event.bug_id)
    if bug is None:
        bug = Bug(
            bug_id=event.bug_id,
            tenant_id=event.tenant_id,
            key=event.key,
            title=event.title,
            status=event.status.value,
            severity=event.severity.value,
            state_at=time,
        )
        repository.add(session, bug)
        fresh = True
    elif _newer(bug.state_at, time):
        fresh = True
        bug.key = event.key
        bug.title = event.title
        bug.status = event.status.value
        bug.severity = event.severity.value
        bug.state_at = time
    else:
        fresh = False
    await session.flush()
    return fresh


async def account_view(session: AsyncSession, tenant_id: str) -> AccountOut | None:
    """The tenant's account context in one statement: the account row with its users,
    open invoices, open bugs, open disputes and recent corrections as JSON arrays (a
    ticket's detail shows it; six round trips were most of that request's time)."""
    row = await repository.account_view_row(session, tenant_id)
    if row is None:
        return None
    return account_out(row[0], *row[1:])


def account_out(
    account: Account,
    users_rows: list[dict[str, Any]],
    invoice_rows: list[dict[str, Any]],
    bug_rows: list[dict[str, Any]],
    dispute_rows: list[dict[str, Any]],
    correction_rows: list[dict[str, Any]],
) -> AccountOut:
    """The account context from its row and JSON arrays (``account_context_columns``),
    read on their own (``account_view``) or with a ticket (its detail)."""
    invoice_out = [AccountInvoiceOut.model_validate(i) for i in invoice_rows]
    return AccountOut(
        tenant_id=account.tenant_id,
        company_name=account.company_name,
        tenant_status=account.tenant_status,
        tenant_status_reason=account.tenant_status_reason,
        tenant_status_since=account.tenant_status_at,
        timezone=account.timezone,
        domains=list(account.domains or []),
        subscription_status=account.subscription_status,
        plan_code=account.plan_code,
        plan_tier=account.plan_tier,
        seats=account.seats,
        renewal_date=account.renewal_date,
        cancel_at_period_end=account.cancel_at_period_end,
        users=[
            AccountUserOut(
                user_id=u["user_id"],
                email=u["email"],
                name=u["name"],
                status=u["status"],
                role=u["role"],
                reported_at=u["state_at"],
            )
            for u in users_rows
        ],
        open_invoices=invoice_out,
        overdue_invoices=[i for i in invoice_out if i.overdue],
        open_disputes=[AccountDisputeOut.model_validate(d) for d in dispute_rows],
        recent_corrections=[AccountCorrectionOut.model_validate(c) for c in correction_rows],
        open_bugs=[AccountBugOut.model_validate(b) for b in bug_rows],
        last_heard_at=account.last_heard_at,
        last_event_type=account.last_event_type,
    )
