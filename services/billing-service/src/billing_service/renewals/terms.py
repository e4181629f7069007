"""What a renewal period is sold at, and the fields every renewal event carries."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan, Renewal, Subscription
from billing_service.plans import repository as plans
from billing_service.renewals import repository
from supportops_events.billing import CollectionMethod


def add_interval(start: datetime, interval: str) -> datetime:
    if interval == "year":
        months = 12
    elif interval == "month":
        months = 1
    else:
        return start + timedelta(days=7 if interval == "week" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Terms:
    """What a renewal period is sold at: the plan and seats in effect, or those of a
    downgrade scheduled to take effect when that period starts."""

    plan: Plan
    seats: int

    @property
    def amount(self) -> int:
        return self.plan.unit_amount * self.seats


async def terms_for(session: AsyncSession, sub: Subscription, period_start: datetime) -> Terms:
    assert sub.plan_id is not None  # trackers exist only for subscriptions on Stripe
    if (
        sub.pending_plan_id is not None
        and sub.pending_seats is not None
        and sub.pending_change_at is not None
        and sub.pending_change_at <= period_start + timedelta(minutes=1)
    ):
        pending = await plans.get(session, sub.pending_plan_id)
        if pending is not None:
            return Terms(plan=pending, seats=sub.pending_seats)
    plan = await plans.get(session, sub.plan_id)
    assert plan is not None
    return Terms(plan=plan, seats=sub.seats)


def renewal_fields(renewal: Renewal, sub: Subscription, terms: Terms) -> dict[str, Any]:
    return {
        "tenant_id": sub.tenant_id,
        "subscription_id": sub.id,
        "plan_code": terms.plan.code,
        "seats": terms.seats,
        "collection_method": CollectionMethod(sub.collection_method),
        "period_start": renewal.period_start,
        "period_end": renewal.period_end,
        "currency": terms.plan.currency,
        "amount": terms.amount,
    }


async def context(session: AsyncSession, renewal: Renewal) -> tuple[Subscription, Terms]:
    """The tracker's subscription and the terms of its period."""
    sub = await repository.subscription(session, renewal.subscription_id)
    assert sub is not None
    return sub, await terms_for(session, sub, renewal.period_start)
