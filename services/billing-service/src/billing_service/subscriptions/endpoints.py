"""``/v1/subscriptions``: create, read, change plan or seats, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from billing_service.deps import BillingReader, DatabaseDep, run_idempotent
from billing_service.stripe_gateway import StripeDep
from billing_service.subscriptions import changes, intents, repository, service
from billing_service.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionChange,
    SubscriptionIn,
    SubscriptionOut,
    SyncState,
)
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import PRECONDITION_RESPONSES, IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep, SortDep
from servicekit.roles import Billing
from supportops_events.billing import SubscriptionStatus

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])


@router.post(
    "",
    dependencies=[owned(body={"tenant_id": "tenant"})],
    status_code=201,
    response_model=SubscriptionOut,
)
async def create_subscription(
    body: SubscriptionIn,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    response: Response,
) -> object:
    """One subscription per tenant: a pending request for the tenant is resumed, one that
    needs attention (unknown plan, refused by Stripe) is replaced by this one, an
    existing subscription is a 409."""
    principal.ensure_tenant(body.tenant_id, resource="tenant")

    async def action() -> SubscriptionOut:
        async with db.unit_of_work() as session:
            sub = await intents.record_intent(session, body=body, refuse_existing=True)
            sub_id = sub.id
        await intents.drive_pending(db=db, stripe=stripe, subscription_id=sub_id, clock=clock)
        async with db.unit_of_work() as session:
            created = await service.render(session, await service.get(session, sub_id))
        response.headers["ETag"] = etag(created.version)
        return created

    return await run_idempotent(db=db, idem=idem, body=body, action=action)


@router.get("", dependencies=[owned(query={"tenant_id": "tenant"})])
async def list_subscriptions(
    session: SessionDep,
    principal: BillingReader,
    page: PageDep,
    sort: SortDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    status: SubscriptionStatus | None = None,
    sync_state: Annotated[
        SyncState | None,
        Query(description="`needs_attention`: requests a person must fix"),
    ] = None,
) -> Page[SubscriptionOut]:
    rows, cursor = await repository.page(
        session,
        tenant_id=principal.tenant_filter(tenant_id),
        status=status.value if status is not None else None,
        sync_state=sync_state,
        params=page,
        direction=sort.direction,
    )
    items = [await service.render(session, sub) for sub in rows]
    return Page[SubscriptionOut](items=items, next_cursor=cursor)


@router.get("/{subscription_id}", dependencies=[owned(path={"subscription_id": "subscription"})])
async def get_subscription(
    subscription_id: uuid.UUID, session: SessionDep, principal: BillingReader, response: Response
) -> SubscriptionOut:
    sub = await service.get(session, str(subscription_id))
    principal.ensure_tenant(sub.tenant_id, resource="subscription")
    response.headers["ETag"] = etag(sub.version)
    return await service.render(session, sub)


@router.post(
    "/{subscription_id}/change",
    dependencies=[owned(path={"subscription_id": "subscription"})],
    response_model=SubscriptionOut,
    responses=PRECONDITION_RESPONSES,
)
async def change_subscription(
    subscription_id: uuid.UUID,
    body: SubscriptionChange,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    response: Response,
    if_match: IfMatchHeader,
) -> object:
    """Upgrade now (prorated) or downgrade at the period end (scheduled on Stripe, shown as
    ``pending_change``); naming the plan and seats in effect withdraws a scheduled
    downgrade. ``If-Match`` required; ``Idempotency-Key`` honoured."""

    async def action() -> SubscriptionOut:
        changed = await changes.change(
            db=db,
            stripe=stripe,
            subscription_id=str(subscription_id),
            body=body,
            if_match=if_match,
            tenant_guard=lambda t: principal.ensure_tenant(t, resource="subscription"),
            clock=clock,
        )
        response.headers["ETag"] = etag(changed.version)
        return changed

    return await run_idempotent(db=db, idem=idem, body=body, action=action, status_code=200)


@router.post(
    "/{subscription_id}/cancel",
    dependencies=[owned(path={"subscription_id": "subscription"})],
    response_model=SubscriptionOut,
    responses=PRECONDITION_RESPONSES,
)
async def cancel_subscription(
    subscription_id: uuid.UUID,
    body: SubscriptionCancel,
    principal: Billing,
    db: DatabaseDep,
    stripe: StripeDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    response: Response,
    if_match: IfMatchHeader,
) -> object:
    """Cancel at period end (default) or now, with a reason. ``If-Match`` required;
    ``Idempotency-Key`` honoured."""

    async def action() -> SubscriptionOut:
        canceled = await changes.cancel(
            db=db,
            stripe=stripe,
            subscription_id=str(subscription_id),
            body=body,
            if_match=if_match,
            tenant_guard=lambda t: principal.ensure_tenant(t, resource="subscription"),
            clock=clock,
        )
        response.headers["ETag"] = etag(canceled.version)
        return canceled

    return await run_idempotent(db=db, idem=idem, body=body, action=action, status_code=200)
