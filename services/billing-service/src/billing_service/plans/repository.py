"""Every query of the plan catalog."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan
from billing_service.repository import first, get_by_id, page_of
from servicekit.pagination import PageParams
from supportops_events.billing import PlanTier


async def get(session: AsyncSession, plan_id: str, *, lock: bool = False) -> Plan | None:
    return await get_by_id(session, Plan, plan_id, lock=lock)


async def by_code(session: AsyncSession, code: str) -> Plan | None:
    return await first(session, select(Plan).where(Plan.code == code))


async def by_price(session: AsyncSession, stripe_price_id: str) -> Plan | None:
    return await first(session, select(Plan).where(Plan.stripe_price_id == stripe_price_id))


async def add(session: AsyncSession, plan: Plan) -> Plan:
    session.add(plan)
    await session.flush()
    return plan


async def insert_seeded(
    session: AsyncSession,
    *,
    plan_id: str,
    code: str,
    name: str,
    tier: PlanTier,
    unit_amount: int,
    currency: str,
    interval: str,
) -> bool:
    """Insert a default plan unless a plan has that code; whether it was inserted."""
    inserted = await session.execute(
        insert(Plan)
        .values(
            id=plan_id,
            code=code,
            name=name,
            tier=tier.value,
            unit_amount=unit_amount,
            currency=currency,
            interval=interval,
            version=1,
            stripe_price_active=True,
        )
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(Plan.id)
    )
    return inserted.first() is not None


async def not_on_stripe(session: AsyncSession, codes: list[str]) -> list[str]:
    """Ids of the plans with these codes that lack a Stripe product or price."""
    rows = await session.scalars(
        select(Plan.id)
        .where(Plan.code.in_(codes))
        .where((Plan.stripe_product_id.is_(None)) | (Plan.stripe_price_id.is_(None)))
        .order_by(Plan.code)
    )
    return list(rows)


async def archived_with_active_price(
    session: AsyncSession, *, archived_before: datetime
) -> list[str]:
    rows = await session.scalars(
        select(Plan.id).where(
            Plan.archived_at < archived_before,
            Plan.stripe_price_active.is_(True),
            Plan.stripe_price_id.is_not(None),
        )
    )
    return list(rows)


async def page(
    session: AsyncSession, *, archived: bool | None, params: PageParams
) -> tuple[list[Plan], str | None]:
    stmt = select(Plan)
    if archived is not None:
        stmt = stmt.where(Plan.archived_at.is_not(None) if archived else Plan.archived_at.is_(None))
    return await page_of(session, stmt, keys=[Plan.code, Plan.id], params=params)
