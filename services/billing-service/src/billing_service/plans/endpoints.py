"""``/v1/plans``: admins write and archive, every authenticated caller reads."""

from __future__ import annotations

import uuid
from typing import cast

from fastapi import APIRouter, Response

from billing_service.deps import BillingReader, DatabaseDep, run_idempotent
from billing_service.models import Plan
from billing_service.plans import repository, service
from billing_service.plans.schemas import Interval, PlanIn, PlanOut
from billing_service.stripe_gateway import StripeDep
from servicekit.authz import GLOBAL_CONFIG, owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import PRECONDITION_RESPONSES, IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep
from servicekit.roles import AdminOnly
from supportops_events.billing import PlanTier

router = APIRouter(prefix="/v1/plans", tags=["plans"])


def out(plan: Plan) -> PlanOut:
    return PlanOut(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        tier=PlanTier(plan.tier),
        unit_amount=plan.unit_amount,
        currency=plan.currency,
        interval=cast(Interval, plan.interval),
        stripe_product_id=plan.stripe_product_id,
        stripe_price_id=plan.stripe_price_id,
        archived=plan.archived_at is not None,
        archived_at=plan.archived_at,
        stripe_price_active=plan.stripe_price_active,
        version=plan.version,
    )


@router.post(
    "",
    dependencies=[
        owned(exempt={"stripe_product_id": GLOBAL_CONFIG, "stripe_price_id": GLOBAL_CONFIG})
    ],
    status_code=201,
    response_model=PlanOut,
)
async def create_plan(
    body: PlanIn,
    principal: AdminOnly,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
) -> object:
    """Creates the Stripe product and price unless their ids are given."""

    async def action() -> PlanOut:
        return out(await service.create_plan(db=db, stripe=stripe, body=body))

    return await run_idempotent(db=db, idem=idem, body=body, action=action)


@router.get("")
async def list_plans(
    session: SessionDep, principal: BillingReader, page: PageDep, archived: bool | None = None
) -> Page[PlanOut]:
    """Every plan, archived ones included unless ``archived=false``."""
    rows, cursor = await repository.page(session, archived=archived, params=page)
    return Page[PlanOut](items=[out(r) for r in rows], next_cursor=cursor)


@router.get("/{plan_id}", dependencies=[owned(exempt={"plan_id": GLOBAL_CONFIG})])
async def get_plan(
    plan_id: uuid.UUID, session: SessionDep, principal: BillingReader, response: Response
) -> PlanOut:
    plan = await service.get(session, str(plan_id))
    response.headers["ETag"] = etag(plan.version)
    return out(plan)


@router.post(
    "/{plan_id}/archive",
    dependencies=[owned(exempt={"plan_id": GLOBAL_CONFIG})],
    responses=PRECONDITION_RESPONSES,
)
async def archive_plan(
    plan_id: uuid.UUID,
    principal: AdminOnly,
    db: DatabaseDep,
    stripe: StripeDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader,
) -> PlanOut:
    """No new subscription or change can choose the plan from now on; its subscribers
    keep it; it stays readable; Stripe's price is deactivated."""
    plan = await service.archive(
        db=db, stripe=stripe, plan_id=str(plan_id), if_match=if_match, now=clock.now()
    )
    response.headers["ETag"] = etag(plan.version)
    return out(plan)
