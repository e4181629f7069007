"""The mirror of Stripe's corrections: refunds, credit notes and disputes seen on
webhooks become ours (recorded once, by their Stripe ids) and are announced once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.corrections import repository
from billing_service.corrections.service import refund_issued
from billing_service.invoices import repository as invoices
from billing_service.models import Correction
from billing_service.stripe_time import ts
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
)

DISPUTE_STATUSES = {s.value for s in DisputeStatus}
CLOSED_DISPUTE_STATUSES = {"won", "lost", "warning_closed"}


async def _tenant_of_charge(session: AsyncSession, charge: dict[str, Any]) -> str | None:
    invoice = await invoices.by_stripe_id(session, charge.get("invoice"))
    if invoice is not None:
        return invoice.tenant_id
    sub = await invoices.subscription_for_customer(
        session, customer=charge.get("customer"), stripe_subscription=None
    )
    return sub.tenant_id if sub is not None else None


async def mirror_refunds(session: AsyncSession, *, charge: dict[str, Any], created: int) -> str:
    """``charge.refunded``: each refund not recorded yet becomes ours and is announced
    once (refunds are keyed by their own ids, so the order does not matter)."""
    tenant = await _tenant_of_charge(session, charge)
    if tenant is None:
        return "unmatched"
    invoice = await invoices.by_stripe_id(session, charge.get("invoice"))
    emitted = 0
    for refund in (charge.get("refunds") or {}).get("data") or []:
        if not isinstance(refund, dict) or not refund.get("id"):
            continue
        if await repository.by_stripe_id(session, str(refund["id"])) is not None:
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
        await repository.add(session, record)
        await publish(session, refund_issued(record, default_status="succeeded"))
        emitted += 1
    return "applied" if emitted else "unchanged"


async def mirror_credit_note(session: AsyncSession, *, obj: dict[str, Any], created: int) -> str:
    """``credit_note.created``: recorded and announced once."""
    invoice = await invoices.by_stripe_id(session, obj.get("invoice"))
    if invoice is None or not obj.get("id"):
        return "unmatched"
    if await repository.by_stripe_id(session, str(obj["id"])) is not None:
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
    await repository.add(session, record)
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


async def mirror_dispute(
    session: AsyncSession, *, obj: dict[str, Any], created: int, closed: bool, now: datetime
) -> str:
    """``charge.dispute.created`` / ``.closed``: a closed dispute stays closed (an opening
    of the same second is older); a closing that arrives first announces the implied
    opening before it, without a follow-up (nothing is left to do)."""
    dispute_id = obj.get("id")
    charge = obj.get("charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    if not isinstance(dispute_id, str) or not isinstance(charge_id, str):
        return "unmatched"
    record = await repository.by_stripe_id(session, dispute_id, lock=True)
    if record is not None and (
        created < record.stripe_state_at
        # a closed dispute stays closed: an opening of the same second is older
        or (not closed and record.status in CLOSED_DISPUTE_STATUSES)
    ):
        return "stale"
    if record is None:
        tenant = await _tenant_of_charge(session, charge) if isinstance(charge, dict) else None
        if tenant is None:  # learned from this charge's refunds or earlier disputes
            known = await repository.any_of_charge(session, charge_id)
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
