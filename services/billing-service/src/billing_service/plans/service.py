"""Plans: a local catalog mirrored as Stripe products and prices; seeded and archived."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan
from billing_service.plans import repository
from billing_service.plans.schemas import PlanIn
from billing_service.stripe_gateway import StripeGateway
from servicekit.db import Database
from servicekit.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from servicekit.etag import IfMatch
from supportops_events.billing import PlanTier

SEED_NAMESPACE = uuid.UUID("5b0f3c1e-7a52-4d55-9a63-2f1d8e3b7c40")
"""Seeded plans get ids derived from their code, so the Stripe idempotency keys derived
from those ids are the same on every run (and on every fresh database)."""


@dataclass(frozen=True)
class DefaultPlan:
    code: str
    name: str
    tier: PlanTier
    unit_amount: int
    interval: str
    currency: str = "usd"


_MONTHLY = {
    PlanTier.starter: 900,
    PlanTier.team: 1900,
    PlanTier.business: 3900,
    PlanTier.enterprise: 7900,
}

DEFAULT_PLANS: tuple[DefaultPlan, ...] = tuple(
    plan
    for tier, monthly in _MONTHLY.items()
    for plan in (
        DefaultPlan(
            code=f"{tier.value}-monthly",
            name=f"{tier.value.title()} (monthly)",
            tier=tier,
            unit_amount=monthly,
            interval="month",
        ),
        # a year costs ten months: two months free for paying up front
        DefaultPlan(
            code=f"{tier.value}-yearly",
            name=f"{tier.value.title()} (yearly)",
            tier=tier,
            unit_amount=monthly * 10,
            interval="year",
        ),
    )
)
"""One monthly and one yearly plan per tier the ticket service keys its SLAs on."""


def seeded_plan_id(code: str) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"plan:{code}"))


async def get(session: AsyncSession, plan_id: str, *, lock: bool = False) -> Plan:
    plan = await repository.get(session, plan_id, lock=lock)
    if plan is None:
        raise NotFound("plan not found")
    return plan


async def selectable(session: AsyncSession, code: str) -> Plan:
    """The plan a new subscription or a change may name: known and not archived."""
    plan = await repository.by_code(session, code)
    if plan is None:
        raise Unprocessable(f"unknown plan {code!r}", code="unknown-plan", field="plan_code")
    if plan.archived_at is not None:
        raise Unprocessable(
            f"plan {code!r} is archived and cannot be chosen",
            code="plan-archived",
            field="plan_code",
        )
    return plan


async def create_plan(*, db: Database, stripe: StripeGateway, body: PlanIn) -> Plan:
    """Intent first (committed), then Stripe with keys derived from the plan id, then the
    ids recorded. A crash in between leaves a plan without Stripe ids; ``ensure_on_stripe``
    (run again by the next subscription on it, or by ``seed-plans``) finishes it with the
    same keys."""
    async with db.unit_of_work() as session:
        if await repository.by_code(session, body.code) is not None:
            raise Conflict(f"a plan with code {body.code!r} exists", code="plan-exists")
        plan = await repository.add(
            session, Plan(**body.model_dump(mode="json"), stripe_price_active=True)
        )
        plan_id = plan.id
    return await ensure_on_stripe(db=db, stripe=stripe, plan_id=plan_id)


async def ensure_on_stripe(*, db: Database, stripe: StripeGateway, plan_id: str) -> Plan:
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id)
        product_id, price_id = plan.stripe_product_id, plan.stripe_price_id
        snapshot = (plan.code, plan.name, plan.tier, plan.currency, plan.unit_amount, plan.interval)
        if product_id is not None and price_id is not None:
            session.expunge(plan)
            return plan
    code, name, tier, currency, unit_amount, interval = snapshot
    if product_id is None:
        product = await stripe.create_product(
            key=f"plan-product-{plan_id}",
            name=name,
            metadata={"plan_code": code, "plan_tier": tier, "plan_id": plan_id},
        )
        product_id = str(product["id"])
    if price_id is None:
        price = await stripe.create_price(
            key=f"plan-price-{plan_id}",
            product=product_id,
            currency=currency,
            unit_amount=unit_amount,
            interval=interval,
            metadata={"plan_code": code, "plan_id": plan_id},
        )
        price_id = str(price["id"])
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id, lock=True)
        plan.stripe_product_id = plan.stripe_product_id or product_id
        plan.stripe_price_id = plan.stripe_price_id or price_id
        await session.flush()
        session.expunge(plan)
    return plan


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    on_stripe: list[str] = field(default_factory=list)
    """Plans whose Stripe product and price were created (or confirmed) by this run."""


async def seed_plans(
    *, db: Database, stripe: StripeGateway, plans: tuple[DefaultPlan, ...] = DEFAULT_PLANS
) -> SeedReport:
    """Idempotent: inserts the default plans that are missing (never touching a plan an
    admin already has under that code), then finishes every seeded plan on Stripe."""
    report = SeedReport()
    async with db.unit_of_work() as session:
        for default in plans:
            if await repository.insert_seeded(
                session,
                plan_id=seeded_plan_id(default.code),
                code=default.code,
                name=default.name,
                tier=default.tier,
                unit_amount=default.unit_amount,
                currency=default.currency,
                interval=default.interval,
            ):
                report.created.append(default.code)
            else:
                report.existing.append(default.code)
        unfinished = await repository.not_on_stripe(session, [p.code for p in plans])
    for plan_id in unfinished:
        plan = await ensure_on_stripe(db=db, stripe=stripe, plan_id=plan_id)
        report.on_stripe.append(plan.code)
    return report


async def archive(
    *, db: Database, stripe: StripeGateway, plan_id: str, if_match: IfMatch, now: datetime
) -> Plan:
    """Archive now (committed: no new subscription or change can choose it from here on),
    then deactivate the Stripe price. A Stripe failure leaves the deactivation as an
    intent the Stripe worker (or a repeated archive request) finishes."""
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id, lock=True)
        if_match.require(plan.version)
        if plan.archived_at is not None and not _price_to_deactivate(plan):
            raise InvalidTransition(
                "plan",
                current="archived",
                requested="archived",
                allowed=[],
                detail="the plan is already archived",
            )
        if plan.archived_at is None:
            plan.archived_at = now
            plan.version += 1
        if not plan.stripe_price_id:
            plan.stripe_price_active = False
    return await deactivate_price(db=db, stripe=stripe, plan_id=plan_id)


def _price_to_deactivate(plan: Plan) -> bool:
    return plan.stripe_price_id is not None and plan.stripe_price_active


async def deactivate_price(*, db: Database, stripe: StripeGateway, plan_id: str) -> Plan:
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id)
        price_id = plan.stripe_price_id if _price_to_deactivate(plan) else None
        if price_id is None:
            session.expunge(plan)
            return plan
    await stripe.deactivate_price(price_id, key=f"plan-archive-{plan_id}")
    async with db.unit_of_work() as session:
        plan = await get(session, plan_id, lock=True)
        if plan.stripe_price_active:
            plan.stripe_price_active = False
            plan.version += 1
        await session.flush()
        session.expunge(plan)
    return plan


async def archived_with_active_price(
    session: AsyncSession, *, archived_before: datetime
) -> list[str]:
    """Archives whose Stripe price is still active — older than ``archived_before``, so the
    worker does not race the archive request still talking to Stripe."""
    return await repository.archived_with_active_price(session, archived_before=archived_before)
