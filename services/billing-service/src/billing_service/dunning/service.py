"""Dunning: a person must contact the customer, and later no longer needs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.invoices import repository as invoices
from billing_service.invoices.service import event_fields
from billing_service.models import Invoice
from servicekit.outbox import publish
from supportops_events.billing import (
    BillingFollowupRequired,
    BillingFollowupResolved,
    FollowupCause,
    FollowupResolution,
    InvoiceOverdue,
)


def followup_key(invoice: Invoice) -> str:
    return f"invoice:{invoice.stripe_invoice_id}"


async def require_for_invoice(
    session: AsyncSession,
    *,
    invoice: Invoice,
    cause: FollowupCause,
    next_retry_at: datetime | None = None,
    days_overdue: int | None = None,
    billing_email: str | None = None,
    detail: str | None = None,
) -> None:
    invoice.followup_cause = cause.value
    await session.flush()
    await publish(
        session,
        BillingFollowupRequired(
            tenant_id=invoice.tenant_id,
            followup_key=followup_key(invoice),
            cause=cause,
            invoice_id=invoice.id,
            subscription_id=invoice.subscription_id,
            currency=invoice.currency,
            amount_due=invoice.amount_remaining,
            attempt_count=invoice.attempt_count,
            next_retry_at=next_retry_at,
            due_date=invoice.due_date,
            days_overdue=days_overdue,
            hosted_invoice_url=invoice.hosted_invoice_url,
            billing_email=billing_email,
            detail=detail,
        ),
    )


async def require_data_check(session: AsyncSession, *, invoice: Invoice, now: datetime) -> None:
    """Stripe answered with an invoice that cannot be true (its period ends before it
    starts): a person checks it on Stripe. Once per invoice (a fact), under its own key,
    so it neither replaces nor is resolved by the invoice's dunning follow-up."""
    facts = dict(invoice.facts or {})
    if "stripe_data_invalid" in facts:
        return
    facts["stripe_data_invalid"] = now.isoformat()
    invoice.facts = facts
    await session.flush()
    await publish(
        session,
        BillingFollowupRequired(
            tenant_id=invoice.tenant_id,
            followup_key=f"stripe-data:{followup_key(invoice)}",
            cause=FollowupCause.stripe_data_invalid,
            invoice_id=invoice.id,
            subscription_id=invoice.subscription_id,
            currency=invoice.currency,
            amount_due=invoice.amount_remaining,
            attempt_count=invoice.attempt_count,
            due_date=invoice.due_date,
            hosted_invoice_url=invoice.hosted_invoice_url,
            detail=(
                f"Stripe shows invoice {invoice.stripe_invoice_id} with a period that ends "
                "before it starts; it was not applied: check it on Stripe"
            ),
        ),
    )


async def resolve_for_invoice(
    session: AsyncSession, *, invoice: Invoice, resolution: FollowupResolution, now: datetime
) -> None:
    """Only when a follow-up is open: one ``followup_resolved`` per ``followup_required``."""
    if invoice.followup_cause is None:
        return
    cause = FollowupCause(invoice.followup_cause)
    invoice.followup_cause = None
    await session.flush()
    await publish(
        session,
        BillingFollowupResolved(
            tenant_id=invoice.tenant_id,
            followup_key=followup_key(invoice),
            cause=cause,
            resolution=resolution,
            invoice_id=invoice.id,
            subscription_id=invoice.subscription_id,
            resolved_at=now,
        ),
    )


async def report_overdue(session: AsyncSession, *, now: datetime) -> list[Invoice]:
    """Open invoices past their due date: ``invoice.overdue`` and a follow-up once per
    additional day overdue, so policies like "suspend after 30 days" can act on them.
    ``SKIP LOCKED`` lets concurrent scans share the work without double announcements."""
    announced = []
    for invoice in await invoices.open_past_due(session, now=now):
        assert invoice.due_date is not None
        days = (now - invoice.due_date).days
        if days < 1 or days <= invoice.overdue_days_reported:
            continue
        invoice.overdue_days_reported = days
        await session.flush()
        await publish(session, InvoiceOverdue(**event_fields(invoice), days_overdue=days))
        await require_for_invoice(
            session,
            invoice=invoice,
            cause=FollowupCause.invoice_overdue,
            days_overdue=days,
            detail=f"invoice {invoice.number or invoice.stripe_invoice_id} is {days} days late",
        )
        announced.append(invoice)
    return announced
