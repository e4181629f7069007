"""Refunds and credit notes issued by billing staff.

The Stripe idempotency key derives from the caller's ``Idempotency-Key`` (required
here), so a retry after a crash between Stripe's answer and our commit sends the very
same request to Stripe and gets the first refund back, never a second one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.corrections import repository
from billing_service.corrections.schemas import CorrectionOut, CreditNoteIn, RefundIn
from billing_service.invoices import repository as invoice_repository
from billing_service.invoices import service as invoices
from billing_service.models import Correction, Invoice
from billing_service.stripe_gateway import StripeGateway
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.errors import NotFound, Unprocessable
from servicekit.outbox import publish
from supportops_events.billing import CreditNoteIssued, RefundIssued


def stripe_key(kind: str, scope: str, key: str) -> str:
    return f"{kind}-" + hashlib.sha256(f"{scope}|{key}".encode()).hexdigest()[:40]


def out(record: Correction) -> CorrectionOut:
    return CorrectionOut.model_validate(record, from_attributes=True)


def refund_issued(record: Correction, *, default_status: str) -> RefundIssued:
    """``refund.issued`` for a recorded refund (ours through REST, or seen on a webhook)."""
    return RefundIssued(
        tenant_id=record.tenant_id,
        refund_id=record.id,
        stripe_refund_id=record.stripe_id,
        invoice_id=record.invoice_id,
        stripe_charge_id=record.stripe_charge_id,
        currency=record.currency,
        amount=record.amount,
        reason=record.reason,
        status=record.status or default_status,
    )


async def _invoice(session: AsyncSession, invoice_id: str, principal: Principal) -> Invoice:
    invoice = await invoice_repository.get(session, invoice_id)
    if invoice is None:
        raise Unprocessable("unknown invoice", code="unknown-invoice", field="invoice_id")
    principal.ensure_tenant(invoice.tenant_id, resource="invoice")
    return invoice


async def _invoice_paid_by(session: AsyncSession, charge_id: str, principal: Principal) -> Invoice:
    invoice = await invoice_repository.paid_by_charge(session, charge_id)
    if invoice is None:
        raise Unprocessable(
            "no invoice of ours was paid by this charge",
            code="unknown-charge",
            field="stripe_charge_id",
        )
    principal.ensure_tenant(invoice.tenant_id, resource="charge")
    return invoice


async def issue_refund(
    *, db: Database, stripe: StripeGateway, body: RefundIn, principal: Principal, key: str
) -> CorrectionOut:
    async with db.unit_of_work() as session:
        invoice = None
        if body.invoice_id is not None:
            invoice = await _invoice(session, str(body.invoice_id), principal)
            if invoice.stripe_charge_id not in (None, body.stripe_charge_id):
                raise Unprocessable(
                    "the charge did not pay this invoice",
                    code="charge-not-of-invoice",
                    field="stripe_charge_id",
                )
        else:
            # The charge's owner is the tenant of the invoice it paid, never the caller.
            invoice = await _invoice_paid_by(session, body.stripe_charge_id, principal)
        if invoice is not None:
            invoices.ensure_action(invoice, "refunded")
            if body.amount is not None and body.amount > invoice.amount_paid:
                raise Unprocessable("more than was paid", field="amount")
        tenant = invoice.tenant_id if invoice else None
        if tenant is None:
            raise Unprocessable(
                "name the invoice the refund belongs to", code="tenant-unknown", field="invoice_id"
            )
        snapshot = (invoice.id, invoice.currency) if invoice else (None, "usd")
    params: dict[str, Any] = {"charge": body.stripe_charge_id, "reason": body.reason}
    if body.amount is not None:
        params["amount"] = body.amount
    params["metadata"] = {"tenant_id": tenant}
    refund = await stripe.create_refund(key=key, params=params)
    async with db.unit_of_work() as session:
        existing = await repository.by_stripe_id(session, str(refund["id"]))
        if existing is not None:
            return out(existing)
        record = Correction(
            kind="refund",
            stripe_id=str(refund["id"]),
            tenant_id=tenant,
            invoice_id=snapshot[0],
            stripe_charge_id=body.stripe_charge_id,
            currency=str(refund.get("currency") or snapshot[1]),
            amount=int(body.amount if body.amount is not None else refund.get("amount") or 0),
            status=str(refund.get("status") or "pending"),
            reason=body.reason,
            stripe_state_at=0,
        )
        await repository.add(session, record)
        await publish(session, refund_issued(record, default_status="pending"))
        await session.refresh(record)
        return out(record)


async def issue_credit_note(
    *, db: Database, stripe: StripeGateway, body: CreditNoteIn, principal: Principal, key: str
) -> CorrectionOut:
    async with db.unit_of_work() as session:
        invoice = await _invoice(session, str(body.invoice_id), principal)
        invoices.ensure_action(invoice, "credited")
        if body.amount > invoice.amount_due:
            raise Unprocessable("more than the invoice asks for", field="amount")
        tenant, invoice_id = invoice.tenant_id, invoice.id
        stripe_invoice, currency = invoice.stripe_invoice_id, invoice.currency
    params: dict[str, Any] = {
        "invoice": stripe_invoice,
        "amount": body.amount,
        "reason": body.reason,
    }
    if body.memo:
        params["memo"] = body.memo
    note = await stripe.create_credit_note(key=key, params=params)
    async with db.unit_of_work() as session:
        existing = await repository.by_stripe_id(session, str(note["id"]))
        if existing is not None:
            return out(existing)
        record = Correction(
            kind="credit_note",
            stripe_id=str(note["id"]),
            tenant_id=tenant,
            invoice_id=invoice_id,
            currency=currency,
            amount=body.amount,
            status=str(note.get("status") or "issued"),
            reason=body.reason,
            stripe_state_at=0,
        )
        await repository.add(session, record)
        await publish(
            session,
            CreditNoteIssued(
                tenant_id=tenant,
                credit_note_id=record.id,
                stripe_credit_note_id=record.stripe_id,
                number=note.get("number"),
                invoice_id=invoice_id,
                currency=currency,
                amount=body.amount,
                reason=body.reason,
            ),
        )
        await session.refresh(record)
        return out(record)


async def get(session: AsyncSession, *, correction_id: str, kind: str) -> Correction:
    record = await repository.get(session, correction_id)
    if record is None or record.kind != kind:
        raise NotFound(f"{kind.replace('_', ' ')} not found")
    return record
