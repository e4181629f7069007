"""``/v1/plans``: admins write, every authenticated caller reads."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy import select

from billing_service.deps import Admin, DatabaseDep, Reader, run_idempotent
from billing_service.models import Plan
from billing_service.plans import service
from billing_service.plans.schemas import PlanIn, PlanOut
from billing_service.stripe_gateway import StripeDep
from servicekit.deps import SessionDep
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/v1/plans", tags=["plans"])


def _out(plan: Plan) -> PlanOut:
    return PlanOut.model_validate(plan, from_attributes=True)


@router.post("", status_code=201, response_model=PlanOut)
async def create_plan(
    body: PlanIn,
    principal: Admin,
    db: DatabaseDep,
    stripe: StripeDep,
    idem: IdempotencyDep,
) -> object:
    async def action() -> PlanOut:
        return _out(await service.create_plan(db=db, stripe=stripe, body=body))

    return await run_idempotent(db=db, idem=idem, body=body, action=action)


@router.get("")
async def list_plans(session: SessionDep, principal: Reader, page: PageDep) -> Page[PlanOut]:
    rows, cursor = await paginate(session, select(Plan), keys=[Plan.code, Plan.id], params=page)
    return Page[PlanOut](items=[_out(r) for r in rows], next_cursor=cursor)


@router.get("/{plan_id}")
async def get_plan(plan_id: uuid.UUID, session: SessionDep, principal: Reader) -> PlanOut:
    return _out(await service.get(session, str(plan_id)))
