"""``/v1/invoices``: list and filter, read, send, void."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from billing_service.deps import BillingReader, DatabaseDep, run_idempotent
from billing_service.invoices import repository, service
from billing_service.invoices.schemas import InvoiceActionOut, InvoiceOut
from billing_service.models import Invoice
from billing_service.stripe_gateway import StripeDep
from servicekit.auth import Principal
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.db import Database
from servicekit.deps import SessionDep
from servicekit.errors import NotFound
from servicekit.etag import PRECONDITION_RESPONSES, IfMatch, IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep, SortDep
from servicekit.roles import Billing
from supportops_events.billing import CollectionMethod, InvoiceStatus

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


def out(invoice: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=invoice.id,
        tenant_id=invoice.tenant_id,
        subscription_id=invoice.subscription_id,
        stripe_invoice_id=invoice.stripe_invoice_id,
        number=invoice.number,
        status=InvoiceStatus(invoice.status),
        collection_method=CollectionMethod(invoice.collection_method),
        currency=invoice.currency,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_remaining=invoice.amount_remaining,
        attempt_count=invoice.attempt_count,
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        hosted_invoice_url=invoice.hosted_invoice_url,
        stripe_charge_id=invoice.stripe_charge_id,
        is_renewal=invoice.is_renewal,
        sent=invoice.sent,
        followup_open=invoice.followup_cause is not None,
        version=invoice.version,
    )


@router.get(
    "", dependencies=[owned(query={"tenant_id": "tenant", "subscription_id": "subscription"})]
)
async def list_invoices(
    session: SessionDep,
    principal: BillingReader,
    page: PageDep,
    sort: SortDep,
    clock: ClockDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    subscription_id: uuid.UUID | None = None,
    status: InvoiceStatus | None = None,
    overdue: Annotated[bool | None, Query(description="open and past its due date")] = None,
) -> Page[InvoiceOut]:
    rows, cursor = await repository.page(
        session,
        tenant_id=principal.tenant_filter(tenant_id),
        subscription_id=str(subscription_id) if subscription_id is not None else None,
        status=status.value if status is not None else None,
        overdue=overdue,
        now=clock.now(),
        params=page,
        sort=sort,
    )
    return Page[InvoiceOut](items=[out(r) for r in rows], next_cursor=cursor)


async def _load(session: SessionDep, invoice_id: uuid.UUID, principal: Principal) -> Invoice:
    invoice = await repository.get(session, str(invoice_id))
    if invoice is None:
        raise NotFound("invoice not found")
    principal.ensure_tenant(invoice.tenant_id, resource="invoice")
    return invoice


@router.get("/{invoice_id}", dependencies=[owned(path={"invoice_id": "invoice"})])
async def get_invoice(
    invoice_id: uuid.UUID, session: SessionDep, principal: BillingReader, response: Response
) -> InvoiceOut:
    invoice = await _load(session, invoice_id, principal)
    response.headers["ETag"] = etag(invoice.version)
    return out(invoice)


class InvoiceActionIn(BaseModel):
    """No fields: the action is the path."""


async def _actionable(
    db: Database,
    invoice_id: uuid.UUID,
    principal: Principal,
    if_match: IfMatch,
    *,
    requested: str,
) -> InvoiceOut:
    """The invoice as read, checked against ``If-Match`` and the statuses the action
    allows; the Stripe call is made after this transaction, never inside it."""
    async with db.unit_of_work() as session:
        invoice = await _load(session, invoice_id, principal)
        if_match.require(invoice.version)
        service.ensure_action(invoice, requested)
        return out(invoice)


@router.post(
    "/{invoice_id}/send",
    dependencies=[owned(path={"invoice_id": "invoice"})],
    status_code=202,
    response_model=InvoiceActionOut,
    responses=PRECONDITION_RESPONSES,
)
async def send_invoice(
    invoice_id: uuid.UUID,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
    if_match: IfMatchHeader,
) -> object:
    """Ask Stripe to e-mail the invoice; ``invoice.sent`` follows from the webhook.
    ``If-Match`` required; ``Idempotency-Key`` honoured."""

    async def action() -> InvoiceActionOut:
        snapshot = await _actionable(db, invoice_id, principal, if_match, requested="sent")
        # keyed by the version read: sending again after Stripe's answer is a new send
        await stripe.send_invoice(
            snapshot.stripe_invoice_id, key=f"send-{snapshot.id}-v{snapshot.version}"
        )
        return InvoiceActionOut(invoice=snapshot, requested="send")

    return await run_idempotent(
        db=db, idem=idem, body=InvoiceActionIn(), action=action, status_code=202
    )


@router.post(
    "/{invoice_id}/void",
    dependencies=[owned(path={"invoice_id": "invoice"})],
    status_code=202,
    response_model=InvoiceActionOut,
    responses=PRECONDITION_RESPONSES,
)
async def void_invoice(
    invoice_id: uuid.UUID,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
    if_match: IfMatchHeader,
) -> object:
    """Ask Stripe to void an open invoice; ``invoice.voided`` follows from the webhook.
    ``If-Match`` required; ``Idempotency-Key`` honoured."""

    async def action() -> InvoiceActionOut:
        snapshot = await _actionable(db, invoice_id, principal, if_match, requested="void")
        await stripe.void_invoice(snapshot.stripe_invoice_id, key=f"void-{snapshot.id}")
        return InvoiceActionOut(invoice=snapshot, requested="void")

    return await run_idempotent(
        db=db, idem=idem, body=InvoiceActionIn(), action=action, status_code=202
    )
