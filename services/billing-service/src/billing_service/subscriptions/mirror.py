"""The mirror of Stripe's subscription: webhooks merged so that any delivery order gives
the in-order state, and each fact announced once (decision 0010)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan, Subscription
from billing_service.plans import repository as plan_repository
from billing_service.plans import service as plans
from billing_service.renewals import service as renewals
from billing_service.stripe_time import ts
from billing_service.subscriptions import repository
from billing_service.subscriptions.service import (
    KNOWN_STATUSES,
    PHASE_TOLERANCE,
    clear_pending,
    fields_of,
    require_followup,
    valid_period,
)
from servicekit.outbox import publish
from supportops_events.billing import (
    FollowupCause,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionEvent,
    SubscriptionStatus,
    SubscriptionUpdated,
)

STATUS_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 2,
    "unpaid": 2,
    "paused": 2,
    "canceled": 3,
    "incomplete_expired": 3,
}
"""How far along its life a subscription is: two snapshots stamped the same second are
ordered by it; within one rank (active / past_due / …) only Stripe can tell."""

Order = Literal["newer", "older", "tie"]


def _order(
    sub: Subscription, *, plan: Plan, obj: dict[str, Any], incoming: str, event_created: int
) -> Order:
    if event_created != sub.stripe_state_at:
        return "newer" if event_created > sub.stripe_state_at else "older"
    rank, stored = STATUS_RANK.get(incoming, 2), STATUS_RANK.get(sub.status, 2)
    if rank != stored:
        return "newer" if rank > stored else "older"
    items = (obj.get("items") or {}).get("data") or []
    price_id = (items[0].get("price") or {}).get("id") if items else plan.stripe_price_id
    quantity = items[0].get("quantity") if items else sub.seats
    same = (
        incoming == sub.status
        and price_id == plan.stripe_price_id
        and int(quantity or sub.seats) == sub.seats
        and bool(obj.get("cancel_at_period_end", sub.cancel_at_period_end))
        == sub.cancel_at_period_end
    )
    return "newer" if same else "tie"  # the same state again is harmless


async def apply_stripe_state(
    session: AsyncSession,
    *,
    obj: dict[str, Any],
    event_created: int,
    now: datetime,
    fetched: bool = False,
) -> str:
    """Mirror a Stripe subscription object onto ours and announce the facts it shows.

    The state (status, plan, seats, period, ``cancel_at_period_end``) comes from the
    newest snapshot: newest by ``created``, then by how far along its life it is; when
    that does not settle it the caller fetches the subscription from Stripe and calls
    again with ``fetched=True`` (Stripe's current state is newer than every event so far).
    The facts are announced from the merged state, each once: ``subscription.activated``
    (the first time it is active — an older snapshot arriving late still brings it),
    ``subscription.canceled`` (once per cancellation: ``cancel_at_period_end`` turned on,
    or the subscription ended without notice); otherwise a change is a
    ``subscription.updated`` (Stripe deleting the subscription at the end of a period
    whose cancellation was announced included). An impossible period is ignored (logged,
    counted, a follow-up) and the rest of the snapshot applied."""
    sub = await repository.by_stripe_id(session, obj.get("id"))
    if sub is None:
        return "unmatched"
    assert sub.plan_id is not None
    previous = SubscriptionStatus(sub.status)
    raw = str(obj.get("status") or sub.status)
    current = SubscriptionStatus(raw) if raw in KNOWN_STATUSES else previous
    old_plan = await plans.get(session, sub.plan_id)
    order: Order = (
        "newer"
        if fetched
        else _order(
            sub, plan=old_plan, obj=obj, incoming=current.value, event_created=event_created
        )
    )
    if order == "tie":
        return "refetch"
    start, end, impossible = valid_period(obj, subscription_id=sub.id)
    if impossible:
        await require_followup(
            session,
            sub=sub,
            cause=FollowupCause.stripe_data_invalid,
            detail=(
                f"Stripe shows subscription {sub.stripe_subscription_id} with a period that "
                "ends before it starts; the period was ignored: check it on Stripe"
            ),
            plan=old_plan,
        )
    if order == "older":
        return await _late_facts(session, sub=sub, plan=old_plan, current=current, now=now)
    plan = old_plan
    changed: list[str] = []
    items = (obj.get("items") or {}).get("data") or []
    price_id = (items[0].get("price") or {}).get("id") if items else None
    quantity = items[0].get("quantity") if items else None
    if price_id and price_id != plan.stripe_price_id:
        found = await plan_repository.by_price(session, price_id)
        if found is not None:
            plan = found
            changed.append("plan_code")
    if quantity is not None and int(quantity) != sub.seats:
        changed.append("seats")
    if start is not None and start != sub.current_period_start:
        changed.append("current_period_start")
    if end is not None and end != sub.current_period_end:
        changed.append("current_period_end")
    cape = bool(obj.get("cancel_at_period_end", sub.cancel_at_period_end))
    if cape != sub.cancel_at_period_end:
        changed.append("cancel_at_period_end")
    if current is not previous:
        changed.append("status")
    if sub.pending_change_at is not None and _pending_settled(
        sub,
        obj=obj,
        plan=plan,
        quantity=quantity,
        start=start,
        ended=current is SubscriptionStatus.canceled,
    ):
        clear_pending(sub)
        changed.append("pending_change")
    previous_seats, previous_cape = sub.seats, sub.cancel_at_period_end
    sub.stripe_state_at = max(event_created, int(now.timestamp())) if fetched else event_created
    sub.plan_id = plan.id
    sub.seats = int(quantity) if quantity else sub.seats
    sub.current_period_start = start or sub.current_period_start
    sub.current_period_end = end or sub.current_period_end
    sub.cancel_at_period_end = cape
    sub.status = current.value
    if previous_cape and not cape and current is not SubscriptionStatus.canceled:
        # the cancellation was withdrawn: a later one is a new cancellation
        sub.cancel_announced_at = sub.canceled_at = sub.cancel_reason = None
    await session.flush()
    fields = await fields_of(session, sub, plan, now)
    events: list[SubscriptionEvent] = []
    if current is SubscriptionStatus.active and not sub.ever_activated:
        sub.ever_activated = True
        events.append(SubscriptionActivated(**fields))
    ended = current is SubscriptionStatus.canceled and previous is not SubscriptionStatus.canceled
    if ended:
        sub.canceled_at = sub.canceled_at or ts(obj.get("canceled_at")) or now
        await renewals.on_subscription_ended(session, subscription_id=sub.id, now=now)
    if (ended or cape) and sub.cancel_announced_at is None:
        sub.cancel_announced_at = now
        sub.canceled_at = sub.canceled_at or ts(obj.get("canceled_at")) or now
        comment = (obj.get("cancellation_details") or {}).get("comment")
        events.append(
            SubscriptionCanceled(
                **fields,
                canceled_at=sub.canceled_at,
                ends_at=(ts(obj.get("ended_at")) or now)
                if current is SubscriptionStatus.canceled
                else sub.current_period_end or now,
                reason=sub.cancel_reason or comment,
            )
        )
    if not events and changed:
        events.append(_updated(fields, changed, old_plan, previous_seats, previous))
    await session.flush()
    for event in events:
        await publish(session, event)
    return "applied" if events or changed else "unchanged"


async def _late_facts(
    session: AsyncSession,
    *,
    sub: Subscription,
    plan: Plan,
    current: SubscriptionStatus,
    now: datetime,
) -> str:
    """An older snapshot changes no state, but it may prove a fact never announced: the
    subscription was active once (its activation arrived after a newer state). The
    announcement carries the current state, so no consumer moves back. An older
    cancellation is not news: a newer state without it means it was withdrawn."""
    if current is not SubscriptionStatus.active or sub.ever_activated:
        return "stale"
    sub.ever_activated = True
    await session.flush()
    await publish(session, SubscriptionActivated(**await fields_of(session, sub, plan, now)))
    return "applied"


def _updated(
    fields: dict[str, Any],
    changed: list[str],
    old_plan: Plan,
    previous_seats: int,
    previous: SubscriptionStatus,
) -> SubscriptionUpdated:
    return SubscriptionUpdated(
        **fields,
        changed_fields=changed,
        previous_plan_code=old_plan.code,
        previous_seats=previous_seats,
        previous_status=previous,
    )


def _pending_settled(
    sub: Subscription,
    *,
    obj: dict[str, Any],
    plan: Plan,
    quantity: Any,
    start: datetime | None,
    ended: bool,
) -> bool:
    """The scheduled downgrade is over: Stripe shows its phase in effect (the new plan
    and seats, in a period starting at the change), the subscription ended, or the
    schedule is gone from the subscription without having applied (released on Stripe)."""
    assert sub.pending_change_at is not None
    if ended:
        return True
    in_effect = (
        plan.id == sub.pending_plan_id
        and quantity is not None
        and int(quantity) == sub.pending_seats
        and start is not None
        and start >= sub.pending_change_at - PHASE_TOLERANCE
    )
    released = "schedule" in obj and obj.get("schedule") is None
    return in_effect or released
