"""Turns stored Stripe events into local state and catalog events, one per transaction.

Order-insensitive (decision 0010): each kind of object merges its snapshots so that any
order gives the in-order result, and announces each fact once. The invoice facts live
here; subscriptions and corrections (refunds, credit notes, disputes) have their own
mirrors. Unknown types are marked ``ignored``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.corrections import mirror as corrections
from billing_service.dunning import service as dunning
from billing_service.invoices import repository as invoice_repository
from billing_service.invoices import service as invoices
from billing_service.plans import service as plans
from billing_service.renewals import service as renewals
from billing_service.stripe_time import ts
from billing_service.subscriptions import mirror as subscriptions
from servicekit.outbox import publish
from supportops_events.billing import (
    FollowupCause,
    FollowupResolution,
    InvoiceFinalized,
    InvoiceOverdue,
    InvoicePaid,
    InvoicePaymentFailed,
    InvoiceSent,
    InvoiceVoided,
    RenewalInvoicedReason,
    RenewalRiskReason,
)

SUBSCRIPTION_TYPES = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
INVOICE_TYPES = {
    "invoice.created",
    "invoice.finalized",
    "invoice.sent",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.marked_uncollectible",
    "invoice.voided",
    "invoice.overdue",
}
HANDLED_TYPES = (
    SUBSCRIPTION_TYPES
    | INVOICE_TYPES
    | {
        "invoice.upcoming",
        "charge.refunded",
        "credit_note.created",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
)


async def process(
    session: AsyncSession, *, event: dict[str, Any], now: datetime, fetched: bool = False
) -> str:
    """Apply one Stripe event; returns the outcome recorded on the stored event, or
    ``refetch`` when the event's order cannot be settled from its payload: the worker
    then fetches the object from Stripe (outside any transaction) and calls again with
    the fetched object in ``data.object`` and ``fetched=True``."""
    event_type = str(event.get("type"))
    created = int(event.get("created") or 0)
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if event_type in SUBSCRIPTION_TYPES:
        return await subscriptions.apply_stripe_state(
            session, obj=obj, event_created=created, now=now, fetched=fetched
        )
    if event_type in INVOICE_TYPES:
        return await _invoice(
            session, event_type=event_type, obj=obj, created=created, now=now, fetched=fetched
        )
    if event_type == "charge.refunded":
        return await corrections.mirror_refunds(session, charge=obj, created=created)
    if event_type == "credit_note.created":
        return await corrections.mirror_credit_note(session, obj=obj, created=created)
    if event_type in {"charge.dispute.created", "charge.dispute.closed"}:
        return await corrections.mirror_dispute(
            session, obj=obj, created=created, closed=event_type.endswith("closed"), now=now
        )
    if event_type == "invoice.upcoming":
        return await _upcoming(session, obj=obj, now=now)
    return "ignored"


async def _upcoming(session: AsyncSession, *, obj: dict[str, Any], now: datetime) -> str:
    """Stripe announces the renewal invoice (it has no id yet): ``renewal.upcoming``, once
    per period, whether Stripe or the renewal scan says it first."""
    sub = await invoice_repository.subscription_for_customer(
        session, customer=None, stripe_subscription=invoices.stripe_subscription_of(obj)
    )
    if sub is None:
        return "unmatched"
    if (
        sub.sync_state != "synced"
        or sub.status not in renewals.RENEWABLE
        or sub.current_period_end is None
        or sub.plan_id is None
    ):
        return "unchanged"
    plan = await plans.get(session, sub.plan_id)
    _, fresh = await renewals.track(session, sub=sub, plan=plan, now=now)
    return "applied" if fresh else "unchanged"


async def _invoice(
    session: AsyncSession,
    *,
    event_type: str,
    obj: dict[str, Any],
    created: int,
    now: datetime,
    fetched: bool,
) -> str:
    """Merge the invoice, then announce every fact its merged state holds that was not
    announced yet, in the order the facts happen (finalized, sent, payment failed, paid,
    voided). A fact implied by a newer state (``paid`` implies ``finalized``) is
    announced with it, just before it, so a late ``invoice.finalized`` has nothing left
    to say; no fact is announced twice and none after a state that contradicts it (a
    payment failure arriving after the invoice is paid or void, or after a later
    attempt's failure, is recorded, not news)."""
    invoice, outcome = await invoices.mirror(
        session, obj=obj, event_created=created, now=now, fetched=fetched
    )
    if invoice is None or outcome in {"unmatched", "refetch"}:
        return outcome
    if outcome == "rejected":
        await dunning.require_data_check(session, invoice=invoice, now=now)
        return outcome
    facts = dict(invoice.facts or {})
    announced = False

    def fresh(fact: str, at: datetime) -> bool:
        nonlocal announced
        if fact in facts:
            return False
        facts[fact] = at.isoformat()
        announced = True
        return True

    fields = invoices.event_fields(invoice)
    at = ts(created) or now
    transitions = obj.get("status_transitions") or {}
    if invoice.status != "draft":
        finalized_at = ts(transitions.get("finalized_at")) or at
        if fresh("finalized", finalized_at):
            await publish(session, InvoiceFinalized(**fields, finalized_at=finalized_at))
            if invoice.is_renewal and invoice.collection_method == "charge_automatically":
                await renewals.on_invoice_issued(
                    session,
                    invoice=invoice,
                    reason=RenewalInvoicedReason.stripe_automatic,
                    now=now,
                )
    if event_type == "invoice.sent" and fresh("sent", at):
        invoice.sent = True  # sticky: no older event clears it
        await publish(
            session, InvoiceSent(**fields, sent_at=at, billing_email=obj.get("customer_email"))
        )
        if invoice.is_renewal:
            await renewals.on_invoice_issued(
                session, invoice=invoice, reason=RenewalInvoicedReason.stripe_automatic, now=now
            )
    attempt = int(obj.get("attempt_count") or 0)
    failed_before = [int(f.split(":")[1]) for f in facts if f.startswith("payment_failed:")]
    if (
        event_type == "invoice.payment_failed"
        and invoice.status not in invoices.TERMINAL
        # an older attempt's failure arriving after a newer one's is not news
        and attempt > max(failed_before, default=-1)
        and fresh(f"payment_failed:{attempt}", at)
    ):
        next_attempt = ts(obj.get("next_payment_attempt"))
        error = obj.get("last_finalization_error") or {}
        await publish(
            session,
            InvoicePaymentFailed(
                **fields,
                failure_code=error.get("code"),
                failure_message=error.get("message"),
                next_payment_attempt=next_attempt,
            ),
        )
        await dunning.require_for_invoice(
            session,
            invoice=invoice,
            cause=FollowupCause.payment_failed,
            next_retry_at=next_attempt,
            billing_email=obj.get("customer_email"),
            detail=error.get("message") or f"payment attempt {attempt} failed",
        )
        if invoice.is_renewal:
            await renewals.on_invoice_trouble(
                session, invoice=invoice, reason=RenewalRiskReason.payment_failed, now=now
            )
    paid_at = ts(transitions.get("paid_at")) or at
    if invoice.status == "paid" and fresh("paid", paid_at):
        await publish(session, InvoicePaid(**fields, paid_at=paid_at))
        await dunning.resolve_for_invoice(
            session, invoice=invoice, resolution=FollowupResolution.invoice_paid, now=now
        )
        await renewals.on_invoice_paid(session, invoice=invoice, paid_at=paid_at, now=now)
    voided_at = ts(transitions.get("voided_at")) or at
    if invoice.status == "void" and fresh("voided", voided_at):
        await publish(session, InvoiceVoided(**fields, voided_at=voided_at))
        await dunning.resolve_for_invoice(
            session, invoice=invoice, resolution=FollowupResolution.invoice_voided, now=now
        )
    if event_type == "invoice.overdue" and invoice.status == "open":
        days = max(0, (now - invoice.due_date).days) if invoice.due_date else 0
        invoice.overdue_days_reported = max(invoice.overdue_days_reported, days)
        announced = True
        await publish(session, InvoiceOverdue(**fields, days_overdue=days))
        await dunning.require_for_invoice(
            session,
            invoice=invoice,
            cause=FollowupCause.invoice_overdue,
            days_overdue=days,
            billing_email=obj.get("customer_email"),
            detail=f"invoice {invoice.number or invoice.stripe_invoice_id} is {days} days late",
        )
        if invoice.is_renewal:
            await renewals.on_invoice_trouble(
                session, invoice=invoice, reason=RenewalRiskReason.invoice_overdue, now=now
            )
    invoice.facts = facts
    await session.flush()
    return "applied" if announced else outcome
