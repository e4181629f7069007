"""Invoices: the local mirror of Stripe's invoices and their ``invoice.*`` events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.invoices import repository
from billing_service.models import Invoice
from billing_service.stripe_data import impossible_period
from billing_service.stripe_time import ts
from servicekit.errors import InvalidTransition
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


STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
"""The invoice status lattice: draft < open < uncollectible < paid | void. Stripe only
moves an invoice up it (an uncollectible invoice can still be paid or voided)."""
TERMINAL = frozenset({"paid", "void"})
"""Terminal for the status: whichever of the two is seen first stays."""


def join_status(current: str | None, incoming: str) -> str:
    """The status after seeing ``incoming``: the higher of the two in the lattice, so the
    order (and the one-second grain of Stripe's timestamps) never moves it back."""
    if current is None:
        return incoming
    if current in TERMINAL:
        return current
    return incoming if STATUS_RANK[incoming] > STATUS_RANK[current] else current


ACTIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"credited", "sent", "void"}),
    "uncollectible": frozenset({"void"}),
    "paid": frozenset({"credited", "refunded"}),
}
"""What a request may do to an invoice in each status (draft and void: nothing)."""
_VERBS = {"credited": "credited", "sent": "sent", "void": "voided", "refunded": "refunded"}


def ensure_action(invoice: Invoice, requested: str) -> None:
    """409 ``invalid-transition`` (the kit's one body) unless ``requested`` is allowed."""
    allowed = ACTIONS.get(invoice.status, frozenset())
    if requested not in allowed:
        raise InvalidTransition(
            "invoice",
            current=invoice.status,
            requested=requested,
            allowed=allowed,
            detail=f"a {invoice.status} invoice cannot be {_VERBS[requested]}",
        )


MirrorOutcome = Literal["applied", "stale", "unmatched", "refetch", "rejected"]


async def mirror(
    session: AsyncSession,
    *,
    obj: dict[str, Any],
    event_created: int,
    now: datetime,
    fetched: bool = False,
) -> tuple[Invoice | None, MirrorOutcome]:
    """Merge a Stripe invoice object into ours, whatever the order events arrive in.

    The status joins the lattice; ``amount_paid`` and ``attempt_count`` never go back;
    ``is_renewal`` is sticky. The other fields come from the newest snapshot, newest by
    ``(created, status rank)``: a ``paid`` and a ``finalized`` stamped the same second
    are ordered by the lattice. When that does not settle it (same second, same rank, a
    different amount or due date), the caller fetches the invoice from Stripe and calls
    again with ``fetched=True``: Stripe's current state is newer than every event so far.

    Returns the invoice and ``applied`` (the snapshot was the newest), ``stale`` (older
    snapshot: only the monotone facts merged), ``unmatched``, ``refetch`` or
    ``rejected`` (Stripe's answer to the re-fetch carries an impossible period: it is not
    trusted, nothing of it is applied).
    """
    stripe_id = obj.get("id")
    if not isinstance(stripe_id, str):
        return None, "unmatched"
    invoice = await repository.by_stripe_id(session, stripe_id, lock=True)
    raw_status = str(obj.get("status") or "draft")
    incoming = raw_status if raw_status in KNOWN_STATUSES else None
    if invoice is None:
        sub = await repository.subscription_for_customer(
            session, customer=obj.get("customer"), stripe_subscription=stripe_subscription_of(obj)
        )
        if sub is None:
            return None, "unmatched"
        invoice = Invoice(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            stripe_invoice_id=stripe_id,
            sent=False,
            overdue_days_reported=0,
            stripe_state_at=-1,
            facts={},
            amount_paid=0,
            attempt_count=0,
            is_renewal=False,
        )
        session.add(invoice)  # flushed with the merged fields below
        newest = True
    elif fetched and impossible_period(
        ts(obj.get("period_start")),
        ts(obj.get("period_end")),
        kind="invoice",
        stripe_id=stripe_id,
        ours=invoice.id,
    ):
        return invoice, "rejected"
    else:
        incoming_key = (event_created, STATUS_RANK.get(incoming or "", -1))
        stored_key = (invoice.stripe_state_at, STATUS_RANK.get(invoice.status, -1))
        newest = fetched or incoming_key > stored_key
        if not fetched and incoming_key == stored_key and _differs(invoice, obj):
            return invoice, "refetch"
        newest = newest or incoming_key == stored_key
    # monotone facts, merged from every snapshot, older ones included
    invoice.status = join_status(invoice.status, incoming) if incoming else invoice.status
    invoice.status = invoice.status or "draft"
    invoice.amount_paid = max(invoice.amount_paid or 0, int(obj.get("amount_paid") or 0))
    invoice.attempt_count = max(invoice.attempt_count or 0, int(obj.get("attempt_count") or 0))
    invoice.is_renewal = (
        bool(invoice.is_renewal) or obj.get("billing_reason") == "subscription_cycle"
    )
    invoice.number = invoice.number or obj.get("number")
    if newest:
        method = str(obj.get("collection_method") or CollectionMethod.charge_automatically.value)
        invoice.collection_method = (
            method if method in {m.value for m in CollectionMethod} else "charge_automatically"
        )
        invoice.currency = str(obj.get("currency") or "usd").lower()
        invoice.amount_due = int(obj.get("amount_due") or 0)
        invoice.due_date = ts(obj.get("due_date"))
        invoice.period_start = ts(obj.get("period_start")) or now
        invoice.period_end = ts(obj.get("period_end")) or now
        invoice.hosted_invoice_url = obj.get("hosted_invoice_url") or invoice.hosted_invoice_url
        invoice.stripe_state_at = (
            max(event_created, int(now.timestamp())) if fetched else event_created
        )
    # derived, so it is the same whatever the order the parts arrived in
    invoice.amount_remaining = (
        0 if invoice.status == "paid" else max(0, invoice.amount_due - invoice.amount_paid)
    )
    # the charge that paid it: a sticky fact (refunds resolve charges through it)
    charge = obj.get("charge")
    if isinstance(charge, dict):  # expanded
        charge = charge.get("id")
    if isinstance(charge, str) and charge:
        invoice.stripe_charge_id = charge
    await session.flush()
    return invoice, "applied" if newest else "stale"


def _differs(invoice: Invoice, obj: dict[str, Any]) -> bool:
    """Whether two snapshots of one rank and second disagree on what the rank does not
    settle (the amount or due date of a draft being edited)."""
    return (
        int(obj.get("amount_due") or 0) != invoice.amount_due
        or ts(obj.get("due_date")) != invoice.due_date
    )


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
