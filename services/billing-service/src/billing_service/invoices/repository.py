"""Every query of invoices (and of the subscription an invoice bills)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Invoice, Subscription
from billing_service.repository import first, get_by_id, page_of
from servicekit.pagination import PageParams, SortParams


async def get(session: AsyncSession, invoice_id: str) -> Invoice | None:
    return await get_by_id(session, Invoice, invoice_id)


async def by_stripe_id(
    session: AsyncSession, stripe_invoice_id: Any, *, lock: bool = False
) -> Invoice | None:
    """Ours of a Stripe invoice, named by id or as an expanded object (``None`` when it
    names none)."""
    if isinstance(stripe_invoice_id, dict):
        stripe_invoice_id = stripe_invoice_id.get("id")
    if not isinstance(stripe_invoice_id, str):
        return None
    stmt = select(Invoice).where(Invoice.stripe_invoice_id == stripe_invoice_id)
    return await first(session, stmt.with_for_update() if lock else stmt)


async def paid_by_charge(session: AsyncSession, charge_id: str) -> Invoice | None:
    return await first(session, select(Invoice).where(Invoice.stripe_charge_id == charge_id))


async def subscription_for_customer(
    session: AsyncSession, *, customer: Any, stripe_subscription: str | None
) -> Subscription | None:
    """The subscription a Stripe object bills: by its subscription id, else by customer."""
    if stripe_subscription:
        sub = await first(
            session,
            select(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription),
        )
        if sub is not None:
            return sub
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if not customer_id:
        return None
    return await first(
        session, select(Subscription).where(Subscription.stripe_customer_id == str(customer_id))
    )


async def add(session: AsyncSession, invoice: Invoice) -> Invoice:
    session.add(invoice)
    await session.flush()
    return invoice


async def page(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    subscription_id: str | None,
    status: str | None,
    overdue: bool | None,
    now: datetime,
    params: PageParams,
    sort: SortParams,
) -> tuple[list[Invoice], str | None]:
    """One page of invoices in ``sort`` order (newest first by default)."""
    stmt = select(Invoice)
    if tenant_id is not None:
        stmt = stmt.where(Invoice.tenant_id == tenant_id)
    if subscription_id is not None:
        stmt = stmt.where(Invoice.subscription_id == subscription_id)
    if status is not None:
        stmt = stmt.where(Invoice.status == status)
    if overdue is not None:
        is_overdue = (Invoice.status == "open") & (Invoice.due_date < now)
        stmt = stmt.where(is_overdue if overdue else ~is_overdue)
    return await page_of(
        session,
        stmt,
        keys=[Invoice.created_at, Invoice.id],
        params=params,
        direction=sort.direction,
    )


async def open_past_due(session: AsyncSession, *, now: datetime) -> list[Invoice]:
    """Open invoices past their due date, locked (``SKIP LOCKED``: concurrent scans share
    the work)."""
    rows = await session.scalars(
        select(Invoice)
        .where(Invoice.status == "open", Invoice.due_date < now)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


def tenant_of(invoice_id: str) -> Select[tuple[str]]:
    """The owner of an invoice (for ``servicekit.authz.owner_of``)."""
    return select(Invoice.tenant_id).where(Invoice.id == invoice_id)


def tenant_of_charge(charge_id: str) -> Select[tuple[str]]:
    """A charge is known through the invoice it paid."""
    return select(Invoice.tenant_id).where(Invoice.stripe_charge_id == charge_id).limit(1)
