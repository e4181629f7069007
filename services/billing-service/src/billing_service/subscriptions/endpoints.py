"""``/v1/subscriptions``: create, read, change plan or seats, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import select

from billing_service.clock import ClockDep
from billing_service.deps import BillingStaff, DatabaseDep, Reader, run_idempotent
from billing_service.models import Plan, Subscription
from billing_service.stripe_gateway import StripeDep
from billing_service.subscriptions import service
from billing_service.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionChange,
    SubscriptionIn,
    SubscriptionOut,
)
from servicekit.deps import SessionDep
from servicekit.errors import BadRequest
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep, paginate
from supportops_events.billing import SubscriptionStatus

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=64,
        description="The ETag of the last read; optional (412 on mismatch)",
    ),
]


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 9:
        raise BadRequest("If-Match must be an ETag returned by this API", field="If-Match")
    return int(raw)


@router.post("", status_code=201, response_model=SubscriptionOut)
async def create_subscription(
    body: SubscriptionIn,
    principal: BillingStaff,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> object:
    principal.ensure_tenant(body.tenant_id, resource="tenant")

    async def action() -> SubscriptionOut:
        async with db.unit_of_work() as session:
            sub = await service.record_intent(session, body=body)
            sub_id = sub.id
        sub = await service.drive_pending(db=db, stripe=stripe, subscription_id=sub_id, clock=clock)
        async with db.unit_of_work() as session:
            plan = await session.get(Plan, sub.plan_id)
            assert plan is not None
            return service.out(sub, plan)

    return await run_idempotent(db=db, idem=idem, body=body, action=action)


@router.get("")
async def list_subscriptions(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    status: SubscriptionStatus | None = None,
) -> Page[SubscriptionOut]:
    stmt = select(Subscription)
    tenant = principal.tenant_filter(tenant_id)
    if tenant is not None:
        stmt = stmt.where(Subscription.tenant_id == tenant)
    if status is not None:
        stmt = stmt.where(Subscription.status == status.value)
    rows, cursor = await paginate(
        session, stmt, keys=[Subscription.created_at, Subscription.id], params=page
    )
    items = []
    for sub in rows:
        plan = await session.get(Plan, sub.plan_id)
        assert plan is not None
        items.append(service.out(sub, plan))
    return Page[SubscriptionOut](items=items, next_cursor=cursor)


@router.get("/{subscription_id}")
async def get_subscription(
    subscription_id: uuid.UUID, session: SessionDep, principal: Reader, response: Response
) -> SubscriptionOut:
    sub = await service.get(session, str(subscription_id))
    principal.ensure_tenant(sub.tenant_id, resource="subscription")
    plan = await session.get(Plan, sub.plan_id)
    assert plan is not None
    response.headers["ETag"] = f'"{sub.version}"'
    return service.out(sub, plan)


@router.post("/{subscription_id}/change")
async def change_subscription(
    subscription_id: uuid.UUID,
    body: SubscriptionChange,
    principal: BillingStaff,
    db: DatabaseDep,
    stripe: StripeDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> SubscriptionOut:
    """Upgrade now (prorated) or downgrade from the next period."""
    return await service.change(
        db=db,
        stripe=stripe,
        subscription_id=str(subscription_id),
        body=body,
        if_match=_version(if_match),
        tenant_guard=lambda t: principal.ensure_tenant(t, resource="subscription"),
        clock=clock,
    )


@router.post("/{subscription_id}/cancel")
async def cancel_subscription(
    subscription_id: uuid.UUID,
    body: SubscriptionCancel,
    principal: BillingStaff,
    db: DatabaseDep,
    stripe: StripeDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> SubscriptionOut:
    """Cancel at period end (default) or now, with a reason."""
    return await service.cancel(
        db=db,
        stripe=stripe,
        subscription_id=str(subscription_id),
        body=body,
        if_match=_version(if_match),
        tenant_guard=lambda t: principal.ensure_tenant(t, resource="subscription"),
        clock=clock,
    )
