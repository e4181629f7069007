"""Subscriptions: what every part of the feature shares — the rendering, the lookup,
the follow-ups about a request, and the facts of a period.

The feature's parts: ``intents`` (recorded locally, driven to Stripe), ``changes``
(upgrades now, downgrades at the period end, cancellations), ``mirror`` (Stripe's
webhooks), each calling ``repository`` for every query.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan, Subscription
from billing_service.plans import service as plans
from billing_service.stripe_data import impossible_period
from billing_service.stripe_time import ts
from billing_service.subscriptions import repository
from billing_service.subscriptions.schemas import (
    SYNC_STATES,
    PendingChange,
    SubscriptionOut,
)
from servicekit.errors import InvalidTransition, NotFound
from servicekit.outbox import publish
from supportops_events.billing import (
    BillingFollowupRequired,
    BillingFollowupResolved,
    CollectionMethod,
    FollowupCause,
    FollowupResolution,
    PlanTier,
    SubscriptionStatus,
)

KNOWN_STATUSES = {s.value for s in SubscriptionStatus}
NEEDS_ATTENTION = "needs_attention"
FOLLOWUP_CURRENCY = "usd"
"""The currency of a follow-up about a request whose plan (hence currency) is unknown."""
PHASE_TOLERANCE = timedelta(minutes=1)


# --- rendering ---------------------------------------------------------------------------


def out(
    sub: Subscription,
    plan: Plan | None,
    *,
    pending_plan: Plan | None = None,
    change_effective: Literal["now", "period_end"] | None = None,
) -> SubscriptionOut:
    pending = None
    if pending_plan is not None and sub.pending_seats is not None and sub.pending_change_at:
        pending = PendingChange(
            plan_code=pending_plan.code,
            seats=sub.pending_seats,
            effective_at=sub.pending_change_at,
            recurring_amount=pending_plan.unit_amount * sub.pending_seats,
            stripe_schedule_id=sub.stripe_schedule_id,
        )
    return SubscriptionOut(
        id=sub.id,
        tenant_id=sub.tenant_id,
        plan_code=plan.code if plan is not None else sub.requested_plan_code or "",
        seats=sub.seats,
        status=SubscriptionStatus(sub.status),
        collection_method=CollectionMethod(sub.collection_method),
        days_until_due=sub.days_until_due,
        currency=plan.currency if plan is not None else None,
        recurring_amount=plan.unit_amount * sub.seats if plan is not None else None,
        stripe_customer_id=sub.stripe_customer_id,
        stripe_subscription_id=sub.stripe_subscription_id,
        sync_state=SYNC_STATES.validate_python(sub.sync_state),
        attention_reason=sub.attention_reason,
        attention_detail=sub.attention_detail,
        current_period_start=sub.current_period_start,
        current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        canceled_at=sub.canceled_at,
        cancel_reason=sub.cancel_reason,
        pending_change=pending,
        version=sub.version,
        change_effective=change_effective,
    )


async def render(
    session: AsyncSession,
    sub: Subscription,
    *,
    change_effective: Literal["now", "period_end"] | None = None,
) -> SubscriptionOut:
    plan = await plans.get(session, sub.plan_id) if sub.plan_id else None
    pending = await plans.get(session, sub.pending_plan_id) if sub.pending_plan_id else None
    return out(sub, plan, pending_plan=pending, change_effective=change_effective)


def event_fields(
    sub: Subscription, plan: Plan, *, now: datetime, pending_plan: Plan | None = None
) -> dict[str, Any]:
    start = sub.current_period_start or now
    pending = pending_plan is not None and sub.pending_change_at is not None
    return {
        "tenant_id": sub.tenant_id,
        "subscription_id": sub.id,
        "stripe_subscription_id": sub.stripe_subscription_id or "",
        "stripe_customer_id": sub.stripe_customer_id or "",
        "plan_code": plan.code,
        "plan_tier": PlanTier(plan.tier),
        "seats": sub.seats,
        "status": SubscriptionStatus(sub.status),
        "collection_method": CollectionMethod(sub.collection_method),
        "days_until_due": sub.days_until_due,
        "currency": plan.currency,
        "recurring_amount": plan.unit_amount * sub.seats,
        "current_period_start": start,
        "current_period_end": sub.current_period_end or start,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "pending_plan_code": pending_plan.code if pending and pending_plan else None,
        "pending_seats": sub.pending_seats if pending else None,
        "pending_change_at": sub.pending_change_at if pending else None,
    }


async def fields_of(
    session: AsyncSession, sub: Subscription, plan: Plan, now: datetime
) -> dict[str, Any]:
    pending = await plans.get(session, sub.pending_plan_id) if sub.pending_plan_id else None
    return event_fields(sub, plan, now=now, pending_plan=pending)


async def get(session: AsyncSession, subscription_id: str, *, lock: bool = False) -> Subscription:
    sub = await repository.get(session, subscription_id, lock=lock)
    if sub is None:
        raise NotFound("subscription not found")
    return sub


# --- what a request may still do -----------------------------------------------------------


def actions_allowed(sub: Subscription) -> list[str]:
    """What a subscription in its state can still be asked to do: be ``changed``, set to
    end at the period end (``cancel_at_period_end``), be ``canceled`` now."""
    if sub.sync_state != "synced" or sub.status == SubscriptionStatus.canceled.value:
        return []
    allowed = {"canceled"}
    if not sub.cancel_at_period_end:
        allowed.add("cancel_at_period_end")
        if sub.status != SubscriptionStatus.incomplete_expired.value:
            allowed.add("changed")
    return sorted(allowed)


_VERBS = {
    "changed": "changed",
    "cancel_at_period_end": "set to end at period end",
    "canceled": "canceled",
}


def ensure_action(sub: Subscription, requested: str) -> None:
    """409 ``invalid-transition`` (the kit's one body) unless ``requested`` is allowed."""
    allowed = actions_allowed(sub)
    if requested in allowed:
        return
    verb = _VERBS[requested]
    if sub.sync_state != "synced":
        detail = f"a subscription not on Stripe yet ({sub.sync_state}) cannot be {verb}"
    elif sub.cancel_at_period_end and sub.status != SubscriptionStatus.canceled.value:
        detail = f"the subscription already ends at period end: it cannot be {verb}"
    else:
        detail = f"a {sub.status} subscription cannot be {verb}"
    raise InvalidTransition(
        "subscription", current=sub.status, requested=requested, allowed=allowed, detail=detail
    )


# --- follow-ups about the request itself --------------------------------------------------


def followup_key(sub: Subscription) -> str:
    return f"subscription:{sub.id}"


async def require_followup(
    session: AsyncSession,
    *,
    sub: Subscription,
    cause: FollowupCause,
    detail: str,
    plan: Plan | None,
) -> None:
    if sub.followup_cause == cause.value:
        return  # already asked; the ticket service keeps one ticket per key anyway
    sub.followup_cause = cause.value
    await session.flush()
    await publish(
        session,
        BillingFollowupRequired(
            tenant_id=sub.tenant_id,
            followup_key=followup_key(sub),
            cause=cause,
            subscription_id=sub.id,
            currency=plan.currency if plan is not None else FOLLOWUP_CURRENCY,
            amount_due=plan.unit_amount * sub.seats if plan is not None else 0,
            billing_email=sub.billing_email,
            detail=detail,
        ),
    )


async def resolve_followup(session: AsyncSession, *, sub: Subscription, now: datetime) -> None:
    if sub.followup_cause is None:
        return
    cause = FollowupCause(sub.followup_cause)
    sub.followup_cause = None
    await session.flush()
    await publish(
        session,
        BillingFollowupResolved(
            tenant_id=sub.tenant_id,
            followup_key=followup_key(sub),
            cause=cause,
            resolution=FollowupResolution.subscription_created,
            subscription_id=sub.id,
            resolved_at=now,
        ),
    )


# --- the facts of a period ---------------------------------------------------------------


def period_of(obj: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Current period: on the subscription (older API versions) or on its first item."""
    start, end = obj.get("current_period_start"), obj.get("current_period_end")
    items = (obj.get("items") or {}).get("data") or []
    if (start is None or end is None) and items:
        start = items[0].get("current_period_start")
        end = items[0].get("current_period_end")
    return ts(start), ts(end)


def valid_period(
    obj: dict[str, Any], *, subscription_id: str | None
) -> tuple[datetime | None, datetime | None, bool]:
    """The object's current period, or (None, None, True) when it is impossible (it ends
    before it starts, as stripe-mock answers): such a period is logged, counted and never
    stored or acted on."""
    start, end = period_of(obj)
    if impossible_period(
        start, end, kind="subscription", stripe_id=obj.get("id"), ours=subscription_id
    ):
        return None, None, True
    return start, end, False


def supersede_older_events(sub: Subscription, now: datetime) -> None:
    """A change we made on Stripe is newer than any event Stripe created before it; the
    one-second margin absorbs clock skew (Stripe's timestamps have one-second grain)."""
    sub.stripe_state_at = max(sub.stripe_state_at, int(now.timestamp()) - 1)


def clear_pending(sub: Subscription) -> bool:
    had = sub.pending_change_at is not None or sub.stripe_schedule_id is not None
    sub.pending_plan_id = sub.pending_seats = sub.pending_change_at = None
    sub.stripe_schedule_id = None
    return had
