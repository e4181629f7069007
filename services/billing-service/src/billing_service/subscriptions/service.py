"""Subscriptions: intents recorded locally, driven to Stripe, mirrored from webhooks.

Never call Stripe inside a transaction holding row locks: (1) record the intent and
commit, (2) call Stripe with an idempotency key derived from our row, (3) record the
answer in a second transaction. A crash between (1) and (3) leaves ``sync_state =
pending``; the worker (and ``reconcile-stripe``) re-drives pending rows with the same
keys, so Stripe answers with the objects it already created.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.clock import Clock
from billing_service.models import Plan, Subscription
from billing_service.plans import service as plans
from billing_service.stripe_gateway import StripeGateway
from billing_service.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionChange,
    SubscriptionIn,
    SubscriptionOut,
)
from servicekit.db import Database
from servicekit.errors import InvalidTransition, NotFound, PreconditionFailed, Unprocessable
from servicekit.outbox import publish
from supportops_events.billing import (
    CollectionMethod,
    PlanTier,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionEvent,
    SubscriptionStatus,
    SubscriptionUpdated,
)

KNOWN_STATUSES = {s.value for s in SubscriptionStatus}


def ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def out(sub: Subscription, plan: Plan, *, change_effective: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        tenant_id=sub.tenant_id,
        plan_code=plan.code,
        seats=sub.seats,
        status=SubscriptionStatus(sub.status),
        collection_method=CollectionMethod(sub.collection_method),
        days_until_due=sub.days_until_due,
        currency=plan.currency,
        recurring_amount=plan.unit_amount * sub.seats,
        stripe_customer_id=sub.stripe_customer_id,
        stripe_subscription_id=sub.stripe_subscription_id,
        sync_state=sub.sync_state,
        current_period_start=sub.current_period_start,
        current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        canceled_at=sub.canceled_at,
        cancel_reason=sub.cancel_reason,
        version=sub.version,
        change_effective=change_effective,
    )


def event_fields(sub: Subscription, plan: Plan, *, now: datetime) -> dict[str, Any]:
    start = sub.current_period_start or now
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
    }


async def get(session: AsyncSession, subscription_id: str, *, lock: bool = False) -> Subscription:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if lock:
        stmt = stmt.with_for_update()
    sub = (await session.scalars(stmt)).first()
    if sub is None:
        raise NotFound("subscription not found")
    return sub


async def record_intent(session: AsyncSession, *, body: SubscriptionIn) -> Subscription:
    """Get-or-create the tenant's subscription intent (one subscription per tenant)."""
    plan = await plans.by_code(session, body.plan_code)
    if plan is None:
        raise Unprocessable(
            f"unknown plan {body.plan_code!r}", code="unknown-plan", field="plan_code"
        )
    await session.execute(
        insert(Subscription)
        .values(
            id=str(uuid.uuid4()),
            tenant_id=body.tenant_id,
            company_name=body.company_name,
            billing_email=body.billing_email,
            plan_id=plan.id,
            seats=body.seats,
            collection_method=body.collection_method.value,
            days_until_due=body.days_until_due
            if body.collection_method is CollectionMethod.send_invoice
            else None,
            status=SubscriptionStatus.incomplete.value,
            sync_state="pending",
            sync_attempts=0,
            trial_days=body.trial_days,
            cancel_at_period_end=False,
            ever_activated=False,
            stripe_state_at=0,
            version=1,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    sub = (
        await session.scalars(select(Subscription).where(Subscription.tenant_id == body.tenant_id))
    ).one()
    return sub


def _period_of(obj: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Current period: on the subscription (older API versions) or on its first item."""
    start, end = obj.get("current_period_start"), obj.get("current_period_end")
    items = (obj.get("items") or {}).get("data") or []
    if (start is None or end is None) and items:
        start = items[0].get("current_period_start")
        end = items[0].get("current_period_end")
    return ts(start), ts(end)


async def drive_pending(
    *,
    db: Database,
    stripe: StripeGateway,
    subscription_id: str,
    clock: Clock,
) -> Subscription:
    """Create the Stripe customer and subscription of a pending intent (idempotent)."""
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id)
        if sub.sync_state != "pending":
            session.expunge(sub)
            return sub
        plan = await session.get(Plan, sub.plan_id)
        assert plan is not None
        intent: dict[str, Any] = {
            "tenant_id": sub.tenant_id,
            "email": sub.billing_email,
            "name": sub.company_name,
            "customer": sub.stripe_customer_id,
            "seats": sub.seats,
            "collection_method": sub.collection_method,
            "days_until_due": sub.days_until_due,
            "trial_days": sub.trial_days,
            "attempts": sub.sync_attempts,
        }
    try:
        plan, customer_id, remote = await _create_on_stripe(
            stripe=stripe, db=db, subscription_id=subscription_id, plan=plan, intent=intent
        )
    except Exception as exc:
        backoff = timedelta(seconds=min(2 ** int(intent["attempts"]), 300))
        async with db.unit_of_work() as session:
            await session.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id, Subscription.sync_state == "pending")
                .values(
                    sync_attempts=Subscription.sync_attempts + 1,
                    sync_error=str(exc)[:2000],
                    next_sync_at=clock() + backoff,
                )
            )
        raise
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id, lock=True)
        if sub.sync_state == "pending":  # a concurrent driver may have finished first
            start, end = _period_of(remote)
            items = (remote.get("items") or {}).get("data") or []
            sub.stripe_customer_id = str(customer_id)
            sub.stripe_subscription_id = str(remote["id"])
            sub.stripe_item_id = str(items[0]["id"]) if items else None
            sub.current_period_start = start or clock()
            sub.current_period_end = end or (clock() + timedelta(days=30))
            sub.sync_state = "synced"
            sub.sync_error = None
            sub.next_sync_at = None
            await session.flush()
            trial_end = ts(remote.get("trial_end")) if remote.get("trial_end") else None
            await publish(
                session,
                SubscriptionCreated(**event_fields(sub, plan, now=clock()), trial_end=trial_end),
            )
        await session.flush()
        session.expunge(sub)
    return sub


async def _create_on_stripe(
    *,
    stripe: StripeGateway,
    db: Database,
    subscription_id: str,
    plan: Plan,
    intent: dict[str, Any],
) -> tuple[Plan, str, dict[str, Any]]:
    if plan.stripe_price_id is None:
        plan = await plans.ensure_on_stripe(db=db, stripe=stripe, plan_id=plan.id)
    assert plan.stripe_price_id is not None
    customer_id = intent["customer"]
    if customer_id is None:
        customer = await stripe.create_customer(
            key=f"customer-{subscription_id}",
            email=intent["email"],
            name=intent["name"],
            metadata={"tenant_id": str(intent["tenant_id"]), "subscription_id": subscription_id},
        )
        customer_id = str(customer["id"])
    remote = await stripe.create_subscription(
        key=f"subscription-{subscription_id}",
        customer=str(customer_id),
        price=plan.stripe_price_id,
        seats=int(intent["seats"]),
        collection_method=str(intent["collection_method"]),
        days_until_due=intent["days_until_due"],
        trial_days=intent["trial_days"],
        metadata={"tenant_id": str(intent["tenant_id"]), "subscription_id": subscription_id},
    )
    return plan, str(customer_id), remote


async def pending_ids(session: AsyncSession, *, now: datetime) -> list[str]:
    rows = await session.scalars(
        select(Subscription.id)
        .where(
            Subscription.sync_state == "pending",
            (Subscription.next_sync_at.is_(None)) | (Subscription.next_sync_at <= now),
        )
        .order_by(Subscription.created_at)
        .limit(100)
    )
    return list(rows)


def _supersede_older_events(sub: Subscription, now: datetime) -> None:
    """A change we made on Stripe is newer than any event Stripe created before it; the
    one-second margin absorbs clock skew (Stripe's timestamps have one-second grain)."""
    sub.stripe_state_at = max(sub.stripe_state_at, int(now.timestamp()) - 1)


def _check_version(sub: Subscription, if_match: int | None) -> None:
    if if_match is not None and if_match != sub.version:
        raise PreconditionFailed(
            "the subscription changed since you read it", current_version=sub.version
        )


async def change(
    *,
    db: Database,
    stripe: StripeGateway,
    subscription_id: str,
    body: SubscriptionChange,
    if_match: int | None,
    tenant_guard: Any,
    clock: Clock,
) -> SubscriptionOut:
    """Upgrades take effect now with proration; downgrades are billed from the next
    period (no credit for the current one: ``proration_behavior=none``)."""
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id)
        tenant_guard(sub.tenant_id)
        _check_version(sub, if_match)
        if sub.sync_state != "synced" or sub.status in {"canceled", "incomplete_expired"}:
            raise InvalidTransition(f"a {sub.status} subscription cannot be changed")
        old_plan = await session.get(Plan, sub.plan_id)
        assert old_plan is not None
        new_plan = old_plan
        if body.plan_code is not None:
            found = await plans.by_code(session, body.plan_code)
            if found is None:
                raise Unprocessable("unknown plan", code="unknown-plan", field="plan_code")
            new_plan = found
        if new_plan.currency != old_plan.currency or new_plan.interval != old_plan.interval:
            raise Unprocessable(
                "the new plan must have the same currency and interval", field="plan_code"
            )
        seats = body.seats if body.seats is not None else sub.seats
        stripe_sub, item, version = sub.stripe_subscription_id, sub.stripe_item_id, sub.version
    if new_plan.stripe_price_id is None:
        new_plan = await plans.ensure_on_stripe(db=db, stripe=stripe, plan_id=new_plan.id)
    upgrade = new_plan.unit_amount * seats >= old_plan.unit_amount * sub.seats
    item_params: dict[str, Any] = {"price": new_plan.stripe_price_id, "quantity": seats}
    if item:
        item_params["id"] = item
    assert stripe_sub is not None
    await stripe.update_subscription(
        stripe_sub,
        key=f"change-{subscription_id}-v{version}",
        params={
            "items": [item_params],
            "proration_behavior": "always_invoice" if upgrade else "none",
        },
    )
    async with db.unit_of_work() as session:
        # No second version check: Stripe already made the change, so it is recorded
        # even if a webhook touched the row meanwhile (If-Match was checked before).
        sub = await get(session, subscription_id, lock=True)
        previous_plan, previous_seats = old_plan.code, sub.seats
        changed = []
        if new_plan.id != sub.plan_id:
            changed.append("plan_code")
        if seats != sub.seats:
            changed.append("seats")
        sub.plan_id, sub.seats = new_plan.id, seats
        _supersede_older_events(sub, clock())
        await session.flush()
        if changed:
            await publish(
                session,
                SubscriptionUpdated(
                    **event_fields(sub, new_plan, now=clock()),
                    changed_fields=[*changed, "recurring_amount"],
                    previous_plan_code=previous_plan,
                    previous_seats=previous_seats,
                ),
            )
        return out(sub, new_plan, change_effective="now" if upgrade else "period_end")


async def cancel(
    *,
    db: Database,
    stripe: StripeGateway,
    subscription_id: str,
    body: SubscriptionCancel,
    if_match: int | None,
    tenant_guard: Any,
    clock: Clock,
) -> SubscriptionOut:
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id)
        tenant_guard(sub.tenant_id)
        _check_version(sub, if_match)
        if sub.sync_state != "synced" or sub.status == "canceled":
            raise InvalidTransition(f"a {sub.status} subscription cannot be canceled")
        if body.at_period_end and sub.cancel_at_period_end:
            raise InvalidTransition("the subscription already ends at period end")
        stripe_sub, version = sub.stripe_subscription_id, sub.version
    assert stripe_sub is not None
    key = f"cancel-{subscription_id}-v{version}"
    if body.at_period_end:
        params: dict[str, Any] = {"cancel_at_period_end": True}
        if body.reason:
            params["cancellation_details"] = {"comment": body.reason}
        await stripe.update_subscription(stripe_sub, key=key, params=params)
    else:
        await stripe.cancel_subscription(stripe_sub, key=key, comment=body.reason)
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id, lock=True)
        plan = await session.get(Plan, sub.plan_id)
        assert plan is not None
        now = clock()
        sub.canceled_at, sub.cancel_reason = now, body.reason
        _supersede_older_events(sub, now)
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
        return out(sub, plan)


async def apply_stripe_state(
    session: AsyncSession, *, obj: dict[str, Any], event_created: int, now: datetime
) -> str:
    """Mirror a Stripe subscription object onto ours, unless we already applied a newer
    one. One event per transition, chosen by ``match (previous, current)``."""
    sub = (
        await session.scalars(
            select(Subscription)
            .where(Subscription.stripe_subscription_id == obj.get("id"))
            .with_for_update()
        )
    ).first()
    if sub is None:
        return "unmatched"
    if event_created < sub.stripe_state_at:
        return "stale"
    previous = SubscriptionStatus(sub.status)
    raw = str(obj.get("status") or sub.status)
    current = SubscriptionStatus(raw) if raw in KNOWN_STATUSES else previous
    old_plan = await session.get(Plan, sub.plan_id)
    assert old_plan is not None
    plan = old_plan
    changed: list[str] = []
    items = (obj.get("items") or {}).get("data") or []
    if items:
        price_id = (items[0].get("price") or {}).get("id")
        if price_id and price_id != plan.stripe_price_id:
            found = (
                await session.scalars(select(Plan).where(Plan.stripe_price_id == price_id))
            ).first()
            if found is not None:
                plan = found
                changed.append("plan_code")
        quantity = items[0].get("quantity")
        if quantity is not None and int(quantity) != sub.seats:
            changed.append("seats")
    start, end = _period_of(obj)
    if start is not None and start != sub.current_period_start:
        changed.append("current_period_start")
    if end is not None and end != sub.current_period_end:
        changed.append("current_period_end")
    cape = bool(obj.get("cancel_at_period_end", sub.cancel_at_period_end))
    if cape != sub.cancel_at_period_end:
        changed.append("cancel_at_period_end")
    if current is not previous:
        changed.append("status")
    previous_seats, previous_cape = sub.seats, sub.cancel_at_period_end
    sub.stripe_state_at = event_created
    sub.plan_id = plan.id
    sub.seats = int(items[0]["quantity"]) if items and items[0].get("quantity") else sub.seats
    sub.current_period_start = start or sub.current_period_start
    sub.current_period_end = end or sub.current_period_end
    sub.cancel_at_period_end = cape
    sub.status = current.value
    await session.flush()
    if not changed:
        return "unchanged"
    fields = event_fields(sub, plan, now=now)
    event: SubscriptionEvent
    match (previous, current):
        case (_, SubscriptionStatus.canceled) if previous is not SubscriptionStatus.canceled:
            sub.canceled_at = sub.canceled_at or ts(obj.get("canceled_at")) or now
            event = SubscriptionCanceled(
                **fields,
                canceled_at=sub.canceled_at,
                ends_at=ts(obj.get("ended_at")) or now,
                reason=sub.cancel_reason
                or ((obj.get("cancellation_details") or {}).get("comment")),
            )
        case (
            SubscriptionStatus.incomplete | SubscriptionStatus.trialing,
            SubscriptionStatus.active,
        ) if not sub.ever_activated:
            sub.ever_activated = True
            event = SubscriptionActivated(**fields)
        case _ if cape and not previous_cape:
            event = SubscriptionCanceled(
                **fields,
                canceled_at=ts(obj.get("canceled_at")) or now,
                ends_at=sub.current_period_end or now,
                reason=(obj.get("cancellation_details") or {}).get("comment"),
            )
        case _:
            event = SubscriptionUpdated(
                **fields,
                changed_fields=changed,
                previous_plan_code=old_plan.code,
                previous_seats=previous_seats,
                previous_status=previous,
            )
    if current is SubscriptionStatus.active:
        sub.ever_activated = True
    await session.flush()
    await publish(session, event)
    return "applied"
