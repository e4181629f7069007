"""Turns stored Stripe events into local state and catalog events, one per transaction.

Order-insensitive: each mirrored object remembers the ``created`` of the newest Stripe
event applied to it (``stripe_state_at``); an older event changes nothing and emits
nothing. Unknown types are marked ``ignored``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.corrections import service as corrections
from billing_service.dunning import service as dunning
from billing_service.invoices import service as invoices
from billing_service.models import Correction, Invoice, Plan
from billing_service.renewals import service as renewals
from billing_service.stripe_time import ts
from billing_service.subscriptions import service as subscriptions
from servicekit.outbox import publish
from supportops_events.billing import (
    BillingFollowupRequired,
    BillingFollowupResolved,
    CreditNoteIssued,
    DisputeClosed,
    DisputeOpened,
    DisputeStatus,
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
DISPUTE_STATUSES = {s.value for s in DisputeStatus}
CLOSED_DISPUTE_STATUSES = {"won", "lost", "warning_closed"}


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
        return await _refunds(session, charge=obj, created=created)
    if event_type == "credit_note.created":
        return await _credit_note(session, obj=obj, created=created)
    if event_type in {"charge.dispute.created", "charge.dispute.closed"}:
        return await _dispute(
            session, obj=obj, created=created, closed=event_type.endswith("closed"), now=now
        )
    if event_type == "invoice.upcoming":
        return await _upcoming(session, obj=obj, now=now)
    return "ignored"


async def _upcoming(session: AsyncSession, *, obj: dict[str, Any], now: datetime) -> str:
    """Stripe announces the renewal invoice (it has no id yet): ``renewal.upcoming``, once
    per period, whether Stripe or the renewal scan says it first."""
    sub = await invoices.subscription_for_customer(
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
    plan = await session.get(Plan, sub.plan_id)
    assert plan is not None
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
                    session, invoice=invoice, reason=RenewalInvoicedReason.stripe_automatic
                )
    if event_type == "invoice.sent" and fresh("sent", at):
        invoice.sent = True  # sticky: no older event clears it
        await publish(
            session, InvoiceSent(**fields, sent_at=at, billing_email=obj.get("customer_email"))
        )
        if invoice.is_renewal:
            await renewals.on_invoice_issued(
                session, invoice=invoice, reason=RenewalInvoicedReason.stripe_automatic
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


async def _invoice_by_stripe(session: AsyncSession, stripe_id: Any) -> Invoice | None:
    if isinstance(stripe_id, dict):
        stripe_id = stripe_id.get("id")
    if not isinstance(stripe_id, str):
        return None
    return (
        await session.scalars(select(Invoice).where(Invoice.stripe_invoice_id == stripe_id))
    ).first()


async def _tenant_of_charge(session: AsyncSession, charge: dict[str, Any]) -> str | None:
    invoice = await _invoice_by_stripe(session, charge.get("invoice"))
    if invoice is not None:
        return invoice.tenant_id
    sub = await invoices.subscription_for_customer(
        session, customer=charge.get("customer"), stripe_subscription=None
    )
    return sub.tenant_id if sub is not None else None


async def _refunds(session: AsyncSession, *, charge: dict[str, Any], created: int) -> str:
    tenant = await _tenant_of_charge(session, charge)
    if tenant is None:
        return "unmatched"
    invoice = await _invoice_by_stripe(session, charge.get("invoice"))
    emitted = 0
    for refund in (charge.get("refunds") or {}).get("data") or []:
        if not isinstance(refund, dict) or not refund.get("id"):
            continue
        if await corrections.by_stripe_id(session, str(refund["id"])) is not None:
            continue
        record = Correction(
            kind="refund",
            stripe_id=str(refund["id"]),
            tenant_id=tenant,
            invoice_id=invoice.id if invoice else None,
            stripe_charge_id=str(charge.get("id")),
            currency=str(refund.get("currency") or charge.get("currency") or "usd"),
            amount=int(refund.get("amount") or 0),
            status=str(refund.get("status") or "succeeded"),
            reason=refund.get("reason"),
            stripe_state_at=created,
        )
        session.add(record)
        await session.flush()
        await publish(session, corrections.refund_issued(record, default_status="succeeded"))
        emitted += 1
    return "applied" if emitted else "unchanged"


async def _credit_note(session: AsyncSession, *, obj: dict[str, Any], created: int) -> str:
    invoice = await _invoice_by_stripe(session, obj.get("invoice"))
    if invoice is None or not obj.get("id"):
        return "unmatched"
    if await corrections.by_stripe_id(session, str(obj["id"])) is not None:
        return "unchanged"
    record = Correction(
        kind="credit_note",
        stripe_id=str(obj["id"]),
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        currency=str(obj.get("currency") or invoice.currency),
        amount=int(obj.get("amount") or 0),
        status=obj.get("status"),
        reason=obj.get("reason"),
        stripe_state_at=created,
    )
    session.add(record)
    await session.flush()
    await publish(
        session,
        CreditNoteIssued(
            tenant_id=invoice.tenant_id,
            credit_note_id=record.id,
            stripe_credit_note_id=record.stripe_id,
            number=obj.get("number"),
            invoice_id=invoice.id,
            currency=record.currency,
            amount=record.amount,
            reason=record.reason,
        ),
    )
    return "applied"


async def _dispute(
    session: AsyncSession, *, obj: dict[str, Any], created: int, closed: bool, now: datetime
) -> str:
    dispute_id = obj.get("id")
    charge = obj.get("charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    if not isinstance(dispute_id, str) or not isinstance(charge_id, str):
        return "unmatched"
    record = (
        await session.scalars(
            select(Correction).where(Correction.stripe_id == dispute_id).with_for_update()
        )
    ).first()
    if record is not None and (
        created < record.stripe_state_at
        # a closed dispute stays closed: an opening of the same second is older
        or (not closed and record.status in CLOSED_DISPUTE_STATUSES)
    ):
        return "stale"
    if record is None:
        tenant = await _tenant_of_charge(session, charge) if isinstance(charge, dict) else None
        if tenant is None:  # learned from this charge's refunds or earlier disputes
            known = (
                await session.scalars(
                    select(Correction).where(Correction.stripe_charge_id == charge_id)
                )
            ).first()
            tenant = known.tenant_id if known is not None else None
        if tenant is None:
            tenant = (obj.get("metadata") or {}).get("tenant_id")
        if not tenant:
            return "unmatched"
        record = Correction(kind="dispute", stripe_id=dispute_id, tenant_id=str(tenant))
        session.add(record)
    previous_status = record.status
    raw_status = str(obj.get("status") or "needs_response")
    status = (
        DisputeStatus(raw_status)
        if raw_status in DISPUTE_STATUSES
        else DisputeStatus.needs_response
    )
    record.stripe_charge_id = charge_id
    record.currency = str(obj.get("currency") or "usd")
    record.amount = int(obj.get("amount") or 0)
    record.status = status.value
    record.reason = str(obj.get("reason") or "general")
    record.stripe_state_at = created
    await session.flush()
    common: dict[str, Any] = {
        "tenant_id": record.tenant_id,
        "dispute_id": record.id,
        "stripe_dispute_id": dispute_id,
        "stripe_charge_id": charge_id,
        "invoice_id": record.invoice_id,
        "currency": record.currency,
        "amount": record.amount,
        "reason": record.reason,
        "status": status,
    }
    key = f"dispute:{dispute_id}"
    if closed:
        if previous_status in CLOSED_DISPUTE_STATUSES:
            return "unchanged"
        if previous_status is None:
            # closed before its opening arrived: the opening is implied and announced
            # first (no follow-up: there is nothing left to do), so the late
            # charge.dispute.created has nothing left to say
            due_by = ts((obj.get("evidence_details") or {}).get("due_by"))
            await publish(session, DisputeOpened(**common, evidence_due_by=due_by))
        await publish(session, DisputeClosed(**common, closed_at=ts(created) or now))
        if previous_status is not None:
            await publish(
                session,
                BillingFollowupResolved(
                    tenant_id=record.tenant_id,
                    followup_key=key,
                    cause=FollowupCause.dispute_opened,
                    resolution=FollowupResolution.dispute_closed,
                    dispute_id=record.id,
                    resolved_at=now,
                ),
            )
        return "applied"
    if previous_status is not None:
        return "unchanged"
    due_by = ts((obj.get("evidence_details") or {}).get("due_by"))
    await publish(session, DisputeOpened(**common, evidence_due_by=due_by))
    await publish(
        session,
        BillingFollowupRequired(
            tenant_id=record.tenant_id,
            followup_key=key,
            cause=FollowupCause.dispute_opened,
            dispute_id=record.id,
            currency=record.currency,
            amount_due=record.amount,
            due_date=due_by,
            detail=f"payment disputed ({record.reason}); evidence due {due_by:%Y-%m-%d}"
            if due_by
            else f"payment disputed ({record.reason})",
        ),
    )
    return "applied"


def utc_now() -> datetime:
    return datetime.now(UTC)
