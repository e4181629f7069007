"""``/v1/refunds`` and ``/v1/credit-notes`` (billing role; ``Idempotency-Key`` required)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from billing_service.corrections import repository, service
from billing_service.corrections.schemas import CorrectionOut, CreditNoteIn, RefundIn
from billing_service.deps import DatabaseDep, run_idempotent
from billing_service.stripe_gateway import StripeDep
from servicekit.auth import Principal
from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.errors import PreconditionRequired
from servicekit.idempotency import Idempotency, IdempotencyDep
from servicekit.pagination import Page, PageDep, SortDep, SortParams
from servicekit.roles import Billing

router = APIRouter(tags=["refunds and credit notes"])


def _require_key(idem: Idempotency) -> str:
    if idem.key is None:
        raise PreconditionRequired(
            "moving money needs an Idempotency-Key header",
            code="idempotency-key-required",
            field="Idempotency-Key",
        )
    return idem.key


async def _list(
    session: SessionDep,
    principal: Principal,
    page: PageDep,
    sort: SortParams,
    *,
    kind: str,
    tenant_id: str | None,
) -> Page[CorrectionOut]:
    rows, cursor = await repository.page(
        session, kind=kind, tenant_id=principal.tenant_filter(tenant_id), params=page, sort=sort
    )
    return Page[CorrectionOut](items=[service.out(r) for r in rows], next_cursor=cursor)


@router.post(
    "/v1/refunds",
    dependencies=[owned(body={"invoice_id": "invoice", "stripe_charge_id": "charge"})],
    status_code=201,
    response_model=CorrectionOut,
)
async def create_refund(
    body: RefundIn,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
) -> object:
    """Full (no amount) or partial refund of a charge, with a reason."""
    key = service.stripe_key("refund", idem.scope, _require_key(idem))

    async def action() -> CorrectionOut:
        return await service.issue_refund(
            db=db, stripe=stripe, body=body, principal=principal, key=key
        )

    return await run_idempotent(db=db, idem=idem, body=body, action=action)


@router.get("/v1/refunds", dependencies=[owned(query={"tenant_id": "tenant"})])
async def list_refunds(
    session: SessionDep,
    principal: Billing,
    page: PageDep,
    sort: SortDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[CorrectionOut]:
    return await _list(session, principal, page, sort, kind="refund", tenant_id=tenant_id)


@router.get("/v1/refunds/{refund_id}", dependencies=[owned(path={"refund_id": "refund"})])
async def get_refund(
    refund_id: uuid.UUID, session: SessionDep, principal: Billing
) -> CorrectionOut:
    record = await service.get(session, correction_id=str(refund_id), kind="refund")
    principal.ensure_tenant(record.tenant_id, resource="refund")
    return service.out(record)


@router.post(
    "/v1/credit-notes",
    dependencies=[owned(body={"invoice_id": "invoice"})],
    status_code=201,
    response_model=CorrectionOut,
)
async def create_credit_note(
    body: CreditNoteIn,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
) -> object:
    """Reduce what an invoice asks for, with a reason."""
    key = service.stripe_key("credit-note", idem.scope, _require_key(idem))

    async def action() -> CorrectionOut:
        return await service.issue_credit_note(
            db=db, stripe=stripe, body=body, principal=principal, key=key
        )

    return await run_idempotent(db=db, idem=idem, body=body, action=action)


@router.get("/v1/credit-notes", dependencies=[owned(query={"tenant_id": "tenant"})])
async def list_credit_notes(
    session: SessionDep,
    principal: Billing,
    page: PageDep,
    sort: SortDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[CorrectionOut]:
    return await _list(session, principal, page, sort, kind="credit_note", tenant_id=tenant_id)
