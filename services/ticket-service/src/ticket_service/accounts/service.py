"""The verified account context: a read model fed only by onboarding and billing events.

Each entity remembers the time of the event that last set its state; an older event
(a different event id carrying a state already superseded) changes nothing.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events import Envelope
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
    AccountCorrection,
    AccountDispute,
    AccountInvoice,
    AccountUser,
    Bug,
    Ticket,
    TicketBug,
)
from ticket_service.sla.service import refresh_many

CLOSED_DISPUTE_STATUSES = ("won", "lost", "warning_closed")
RECENT_CORRECTIONS = 10
# A bug is open until it is fixed (resolved, then verified) or given up (won't fix, closed).
CLOSED_BUG_STATUSES = ("resolved", "verified", "wont_fix", "closed")


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
        account.tenant_status_reason = _status_reason(event)
    await session.flush()


def _status_reason(event: TenantEvent) -> str | None:
    """Why the tenant is in its status, when the event says (suspended, churned...)."""
    match event:
        case TenantSuspended() | TenantReactivated():
            return event.reason.value
        case TenantChurned():
            return (event.reason or "churned")[:200]
        case _:
            return None


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


async def apply_subscription_event(
    session: AsyncSession, envelope: Envelope, *, at: datetime
) -> None:
    event = envelope.data
    assert isinstance(event, SubscriptionEvent)
    account = await heard(session, envelope)
    previous_tier = account.plan_tier
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
    if account.plan_tier != previous_tier:
        # the tier sets the SLA targets of the tenant's open tickets
        await refresh_many(session, at=at, where=[Ticket.tenant_id == account.tenant_id])


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
        account.renewal_date = event.period_start  # renews as it starts
    await session.flush()


async def apply_dispute_event(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, DisputeEvent)
    await heard(session, envelope)
    dispute = await session.get(AccountDispute, event.dispute_id, with_for_update=True)
    if dispute is None:
        dispute = AccountDispute(dispute_id=event.dispute_id, tenant_id=event.tenant_id)
        session.add(dispute)
    elif not _newer(dispute.state_at, envelope.time):
        return
    dispute.invoice_id = event.invoice_id
    dispute.currency = event.currency
    dispute.amount = event.amount
    dispute.reason = event.reason[:64]
    dispute.status = event.status.value
    dispute.evidence_due_by = getattr(event, "evidence_due_by", None) or dispute.evidence_due_by
    dispute.state_at = envelope.time
    await session.flush()


async def apply_correction_event(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, RefundIssued | CreditNoteIssued)
    await heard(session, envelope)
    if isinstance(event, RefundIssued):
        kind, billing_id = "refund", event.refund_id
    else:
        kind, billing_id = "credit_note", event.credit_note_id
    await session.execute(
        insert(AccountCorrection)
        .values(
            id=f"{kind}:{billing_id}"[:100],
            tenant_id=event.tenant_id,
            kind=kind,
            invoice_id=event.invoice_id,
            currency=event.currency,
            amount=event.amount,
            reason=event.reason[:200] if event.reason else None,
            issued_at=envelope.time,
        )
        .on_conflict_do_nothing()
    )


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


def _rows_json(stmt: Select[Any], *order: str) -> ScalarSelect[Any]:
    """``stmt``'s rows as one JSON array (``to_jsonb`` of each row), in ``order``
    (SQL on the rows, aliased ``r``)."""
    rows = stmt.subquery("r")
    ordered: list[ColumnElement[Any]] = [literal_column(o) for o in order]
    return (
        select(
            func.coalesce(
                func.jsonb_agg(aggregate_order_by(func.to_jsonb(rows.table_valued()), *ordered)),
                func.jsonb_build_array(),
            )
        )
        .select_from(rows)
        .scalar_subquery()
    )


@functools.cache
def _account_view_statement() -> Select[Any]:
    """Built once: constructing this statement (and its cache key) on every request cost
    more CPU than running it."""
    tenant_id = bindparam("tenant_id", type_=String())
    linked = select(TicketBug.bug_id).join(Ticket, Ticket.id == TicketBug.ticket_id)
    users = _rows_json(select(AccountUser).where(AccountUser.tenant_id == tenant_id), "r.email")
    invoices = _rows_json(
        select(AccountInvoice).where(
            AccountInvoice.tenant_id == tenant_id, AccountInvoice.status == "open"
        ),
        "r.due_date ASC NULLS LAST",
        "r.invoice_id",
    )
    bugs = _rows_json(
        select(Bug).where(
            or_(
                Bug.tenant_id == tenant_id,
                Bug.bug_id.in_(linked.where(Ticket.tenant_id == tenant_id)),
            ),
            Bug.status.not_in(CLOSED_BUG_STATUSES),
        ),
        "r.key",
    )
    disputes = _rows_json(
        select(AccountDispute).where(
            AccountDispute.tenant_id == tenant_id,
            AccountDispute.status.not_in(CLOSED_DISPUTE_STATUSES),
        ),
        "r.state_at DESC",
        "r.dispute_id",
    )
    corrections = _rows_json(
        select(AccountCorrection)
        .where(AccountCorrection.tenant_id == tenant_id)
        .order_by(AccountCorrection.issued_at.desc(), AccountCorrection.id)
        .limit(RECENT_CORRECTIONS),
        "r.issued_at DESC",
        "r.id",
    )
    return select(Account, users, invoices, bugs, disputes, corrections).where(
        Account.tenant_id == tenant_id
    )


async def account_view(session: AsyncSession, tenant_id: str) -> AccountOut | None:
    """The tenant's account context in one statement: the account row with its users,
    open invoices, open bugs, open disputes and recent corrections as JSON arrays (a
    ticket's detail shows it; six round trips were most of that request's time)."""
    row = (await session.execute(_account_view_statement(), {"tenant_id": tenant_id})).first()
    if row is None:
        return None
    account = row[0]
    users_rows, invoice_rows, bug_rows, dispute_rows, correction_rows = row[1:]
    invoice_out = [AccountInvoiceOut.model_validate(i) for i in invoice_rows]
    return AccountOut(
        tenant_id=account.tenant_id,
        company_name=account.company_name,
        tenant_status=account.tenant_status,
        tenant_status_reason=account.tenant_status_reason,
        tenant_status_since=account.tenant_status_at,
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
