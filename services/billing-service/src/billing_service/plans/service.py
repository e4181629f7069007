"""Plans: a local catalog mirrored as Stripe products and prices."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan
from billing_service.plans.schemas import PlanIn
from billing_service.stripe_gateway import StripeGateway
from servicekit.db import Database
from servicekit.errors import Conflict, NotFound


async def by_code(session: AsyncSession, code: str) -> Plan | None:
    return (await session.scalars(select(Plan).where(Plan.code == code))).first()


async def get(session: AsyncSession, plan_id: str) -> Plan:
    plan = await session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("plan not found")
    return plan


async def create_plan(*, db: Database, stripe: StripeGateway, body: PlanIn) -> Plan:
    """Intent first (committed), then Stripe with keys derived from the plan id, then the
    ids recorded. A crash in between leaves a plan without Stripe ids; ``ensure_on_stripe``
    (run again by the worker) finishes it with the same keys."""
    async with db.unit_of_work() as session:
        if await by_code(session, body.code) is not None:
            raise Conflict(f"a plan with code {body.code!r} exists", code="plan-exists")
        plan = Plan(**body.model_dump(mode="json"))
        session.add(plan)
        await session.flush()
        plan_id = plan.id
    return await ensure_on_stripe(db=db, stripe=stripe, plan_id=plan_id)


async def ensure_on_stripe(*, db: Database, stripe: StripeGateway, plan_id: str) -> Plan:
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id)
        product_id, price_id = plan.stripe_product_id, plan.stripe_price_id
        snapshot = (plan.code, plan.name, plan.currency, plan.unit_amount, plan.interval)
    code, name, currency, unit_amount, interval = snapshot
    if product_id is None:
        product = await stripe.create_product(
            key=f"plan-product-{plan_id}", name=name, metadata={"plan_code": code}
        )
        product_id = str(product["id"])
    if price_id is None:
        price = await stripe.create_price(
            key=f"plan-price-{plan_id}",
            product=product_id,
            currency=currency,
            unit_amount=unit_amount,
            interval=interval,
        )
        price_id = str(price["id"])
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id)
        plan.stripe_product_id = plan.stripe_product_id or product_id
        plan.stripe_price_id = plan.stripe_price_id or price_id
        await session.flush()
        session.expunge(plan)
    return plan
