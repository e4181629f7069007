"""Invoices: the local mirror of Stripe's invoices and their ``invoice.*`` events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Invoice, Subscription
from billing_service.stripe_time import ts
from supportops_events.billing import CollectionMethod, InvoiceStatus

KNOWN_STATUSES = {s.value for s in InvoiceStatus}


def stripe_subscription_of(obj: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: top-level in older API versions, under
    ``parent.subscription_details`` in newer ones."""
    direct = obj.get("subscription")
    if isinstance(direct, str):
        return direct
    if isinstance(direct, dict):
        return str(direct.get("id"))
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    found = details.get("subscription")
    return str(found) if isinstance(found, str) else None


async def subscription_for_customer(
    session: AsyncSession, *, customer: Any, stripe_subscription: str | None
) -> Subscription | None:
    if stripe_subscription:
        sub = (
            await session.scalars(
                select(Subscription).where(
                    Subscription.stripe_subscription_id == stripe_subscription
                )
            )
        ).first()
        if sub is not None:
            return sub
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if not customer_id:
        return None
    return (
        await session.scalars(
            select(Subscription).where(Subscription.stripe_customer_id == str(customer_id))
        )
    ).first()


async def by_stripe_id(session: AsyncSession, stripe_invoice_id: str) -> Invoice | None:
    return (
        await session.scalars(
            select(Invoice).where(Invoice.stripe_invoice_id == stripe_invoice_id).with_for_update()
        )
    ).first()


async def mirror(
    session: AsyncSession, *, obj: dict[str, Any], event_created: int, now: datetime
) -> tuple[Invoice | None, str]:
    """Upsert the invoice from a Stripe object unless a newer state is already applied.

    Returns the invoice and ``applied``, ``stale`` or ``unmatched``.
    """
    stripe_id = obj.get("id")
    if not isinstance(stripe_id, str):
        return None, "unmatched"
    invoice = await by_stripe_id(session, stripe_id)
    if invoice is not None and event_created < invoice.stripe_state_at:
        return invoice, "stale"
    sub = await subscription_for_customer(
        session, customer=obj.get("customer"), stripe_subscription=stripe_subscription_of(obj)
    )
    if invoice is None:
        if sub is None:
            return None, "unmatched"
        invoice = Invoice(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            stripe_invoice_id=stripe_id,
            sent=False,
            overdue_days_reported=0,
            stripe_state_at=0,
        )
        session.add(invoice)
    raw_status = str(obj.get("status") or "draft")
    method = str(obj.get("collection_method") or CollectionMethod.charge_automatically.value)
    invoice.status = raw_status if raw_status in KNOWN_STATUSES else invoice.status or "draft"
    invoice.number = obj.get("number") or invoice.number
    invoice.collection_method = (
        method if method in {m.value for m in CollectionMethod} else "charge_automatically"
    )
    invoice.currency = str(obj.get("currency") or "usd").lower()
    invoice.amount_due = int(obj.get("amount_due") or 0)
    invoice.amount_paid = int(obj.get("amount_paid") or 0)
    invoice.amount_remaining = int(obj.get("amount_remaining") or 0)
    invoice.attempt_count = int(obj.get("attempt_count") or 0)
    invoice.due_date = ts(obj.get("due_date"))
    invoice.period_start = ts(obj.get("period_start")) or now
    invoice.period_end = ts(obj.get("period_end")) or now
    invoice.hosted_invoice_url = obj.get("hosted_invoice_url")
    charge = obj.get("charge")
    if isinstance(charge, dict):  # expanded
        charge = charge.get("id")
    if isinstance(charge, str) and charge:
        invoice.stripe_charge_id = charge
    invoice.is_renewal = obj.get("billing_reason") == "subscription_cycle" or invoice.is_renewal
    invoice.stripe_state_at = event_created
    await session.flush()
    return invoice, "applied"


def event_fields(invoice: Invoice) -> dict[str, Any]:
    return {
        "tenant_id": invoice.tenant_id,
        "invoice_id": invoice.id,
        "stripe_invoice_id": invoice.stripe_invoice_id,
        "number": invoice.number,
        "subscription_id": invoice.subscription_id,
        "status": InvoiceStatus(invoice.status),
        "collection_method": CollectionMethod(invoice.collection_method),
        "currency": invoice.currency,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "amount_remaining": invoice.amount_remaining,
        "due_date": invoice.due_date,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "attempt_count": invoice.attempt_count,
        "is_renewal": invoice.is_renewal,
    }
