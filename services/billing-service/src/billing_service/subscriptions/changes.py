"""Subscription changes: an upgrade applies now with proration; a downgrade (fewer seats
or a cheaper plan) is a Stripe subscription schedule whose second phase starts at the
period end, shown as ``pending_change`` until Stripe's webhook shows the new phase in
effect; a cancellation ends now or at the period end. Stripe is called between our
transactions, never inside one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from billing_service.models import Plan
from billing_service.plans import service as plans
from billing_service.renewals import service as renewals
from billing_service.stripe_gateway import StripeGateway
from billing_service.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionChange,
    SubscriptionOut,
)
from billing_service.subscriptions.service import (
    clear_pending,
    ensure_action,
    event_fields,
    fields_of,
    get,
    render,
    supersede_older_events,
)
from servicekit.clock import Clock
from servicekit.db import Database
from servicekit.errors import Unprocessable
from servicekit.etag import IfMatch
from servicekit.outbox import publish
from supportops_events.billing import (
    SubscriptionCanceled,
    SubscriptionStatus,
    SubscriptionUpdated,
)

ChangeKind = Literal["same", "upgrade", "downgrade"]


def classify(*, old_plan: Plan, old_seats: int, new_plan: Plan, new_seats: int) -> ChangeKind:
    """A downgrade is fewer seats or a cheaper plan (per seat): it waits for the period
    end, even when combined with a step up in the other dimension."""
    if new_plan.id == old_plan.id and new_seats == old_seats:
        return "same"
    if new_seats < old_seats or new_plan.unit_amount < old_plan.unit_amount:
        return "downgrade"
    return "upgrade"


async def change(
    *,
    db: Database,
    stripe: StripeGateway,
    subscription_id: str,
    body: SubscriptionChange,
    if_match: IfMatch,
    tenant_guard: Any,
    clock: Clock,
) -> SubscriptionOut:
    """Upgrades take effect now (``proration_behavior=always_invoice``); downgrades are a
    subscription schedule whose next phase starts at the period end (no proration).
    Asking for the plan and seats in effect withdraws a scheduled downgrade."""
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id)
        tenant_guard(sub.tenant_id)
        if_match.require(sub.version)
        ensure_action(sub, "changed")
        assert sub.plan_id is not None
        old_plan = await plans.get(session, sub.plan_id)
        new_plan = old_plan
        if body.plan_code is not None and body.plan_code != old_plan.code:
            new_plan = await plans.selectable(session, body.plan_code)
        if new_plan.currency != old_plan.currency or new_plan.interval != old_plan.interval:
            raise Unprocessable(
                "the new plan must have the same currency and interval", field="plan_code"
            )
        seats = body.seats if body.seats is not None else sub.seats
        snapshot: dict[str, Any] = {
            "stripe_sub": sub.stripe_subscription_id,
            "item": sub.stripe_item_id,
            "version": sub.version,
            "seats": sub.seats,
            "schedule": sub.stripe_schedule_id,
            "pending": sub.pending_change_at is not None,
            "start": sub.current_period_start,
            "end": sub.current_period_end,
        }
    if new_plan.stripe_price_id is None:
        new_plan = await plans.ensure_on_stripe(db=db, stripe=stripe, plan_id=new_plan.id)
    if old_plan.stripe_price_id is None:
        old_plan = await plans.ensure_on_stripe(db=db, stripe=stripe, plan_id=old_plan.id)
    kind = classify(
        old_plan=old_plan, old_seats=int(snapshot["seats"]), new_plan=new_plan, new_seats=seats
    )
    base = f"{subscription_id}-v{snapshot['version']}"
    stripe_sub = str(snapshot["stripe_sub"])
    schedule_id: str | None = snapshot["schedule"]
    if kind == "same" and not snapshot["pending"] and schedule_id is None:
        async with db.unit_of_work() as session:
            return await render(session, await get(session, subscription_id))
    if kind in {"same", "upgrade"} and schedule_id is not None:
        await stripe.release_schedule(schedule_id, key=f"schedule-release-{base}")
    if kind == "upgrade":
        item_params: dict[str, Any] = {"quantity": seats}
        if snapshot["item"]:
            item_params["id"] = snapshot["item"]
        if new_plan.id != old_plan.id or not snapshot["item"]:
            item_params["price"] = new_plan.stripe_price_id
        await stripe.update_subscription(
            stripe_sub,
            key=f"change-{base}",
            params={"items": [item_params], "proration_behavior": "always_invoice"},
        )
    if kind == "downgrade":
        start, end = snapshot["start"], snapshot["end"]
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        if schedule_id is None:
            schedule = await stripe.schedule_from_subscription(stripe_sub, key=f"schedule-{base}")
            schedule_id = str(schedule["id"])
        await stripe.update_schedule(
            schedule_id,
            key=f"schedule-phases-{base}",
            params={
                "end_behavior": "release",
                "proration_behavior": "none",
                "phases": [
                    {
                        "items": [
                            {"price": old_plan.stripe_price_id, "quantity": snapshot["seats"]}
                        ],
                        "start_date": int(start.timestamp()),
                        "end_date": int(end.timestamp()),
                    },
                    {
                        "items": [{"price": new_plan.stripe_price_id, "quantity": seats}],
                        "duration": {"interval": new_plan.interval, "interval_count": 1},
                    },
                ],
                "metadata": {"subscription_id": subscription_id, "change": base},
            },
        )
    async with db.unit_of_work() as session:
        # No second version check: Stripe already made the change, so it is recorded
        # even if a webhook touched the row meanwhile (If-Match was checked before).
        sub = await get(session, subscription_id, lock=True)
        previous_plan, previous_seats = old_plan.code, sub.seats
        now = clock.now()
        changed: list[str] = []
        effective: Literal["now", "period_end"] | None = None
        match kind:
            case "upgrade":
                if new_plan.id != sub.plan_id:
                    changed.append("plan_code")
                if seats != sub.seats:
                    changed.append("seats")
                changed.append("recurring_amount")
                sub.plan_id, sub.seats = new_plan.id, seats
                if clear_pending(sub):
                    changed.append("pending_change")
                effective = "now"
            case "downgrade":
                sub.pending_plan_id, sub.pending_seats = new_plan.id, seats
                sub.pending_change_at = sub.current_period_end
                sub.stripe_schedule_id = schedule_id
                changed.append("pending_change")
                effective = "period_end"
            case "same":
                if clear_pending(sub):
                    changed.append("pending_change")
        supersede_older_events(sub, now)
        await session.flush()
        assert sub.plan_id is not None
        current_plan = await plans.get(session, sub.plan_id)
        if changed:
            await publish(
                session,
                SubscriptionUpdated(
                    **await fields_of(session, sub, current_plan, now),
                    changed_fields=changed,
                    previous_plan_code=previous_plan,
                    previous_seats=previous_seats,
                ),
            )
        return await render(session, sub, change_effective=effective)


async def cancel(
    *,
    db: Database,
    stripe: StripeGateway,
    subscription_id: str,
    body: SubscriptionCancel,
    if_match: IfMatch,
    tenant_guard: Any,
    clock: Clock,
) -> SubscriptionOut:
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id)
        tenant_guard(sub.tenant_id)
        if_match.require(sub.version)
        ensure_action(sub, "cancel_at_period_end" if body.at_period_end else "canceled")
        stripe_sub, version, schedule_id = (
            sub.stripe_subscription_id,
            sub.version,
            sub.stripe_schedule_id,
        )
    assert stripe_sub is not None
    key = f"cancel-{subscription_id}-v{version}"
    if schedule_id is not None:  # a scheduled downgrade has nothing left to do
        await stripe.release_schedule(schedule_id, key=f"schedule-release-{key}")
    if body.at_period_end:
        params: dict[str, Any] = {"cancel_at_period_end": True}
        if body.reason:
            params["cancellation_details"] = {"comment": body.reason}
        await stripe.update_subscription(stripe_sub, key=key, params=params)
    else:
        await stripe.cancel_subscription(stripe_sub, key=key, comment=body.reason)
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id, lock=True)
        assert sub.plan_id is not None
        plan = await plans.get(session, sub.plan_id)
        now = clock.now()
        sub.canceled_at, sub.cancel_reason = now, body.reason
        sub.cancel_announced_at = now
        clear_pending(sub)
        supersede_older_events(sub, now)
        if body.at_period_end:
            sub.cancel_at_period_end = True
        else:
            sub.status = SubscriptionStatus.canceled.value
        await session.flush()
        await publish(
            session,
            SubscriptionCanceled(
                **event_fields(sub, plan, now=now),
                canceled_at=now,
                ends_at=(sub.current_period_end or now) if body.at_period_end else now,
                reason=body.reason,
            ),
        )
        if not body.at_period_end:
            await renewals.on_subscription_ended(session, subscription_id=sub.id, now=now)
        return await render(session, sub)
