"""Subscriptions: intents recorded locally, driven to Stripe, mirrored from webhooks.

Never call Stripe inside a transaction holding row locks: (1) record the intent and
commit, (2) call Stripe with an idempotency key derived from our row, (3) record the
answer in a second transaction. A crash between (1) and (3) leaves ``sync_state =
pending``; the worker (and ``reconcile-stripe``) re-drives pending rows with the same
keys, so Stripe answers with the objects it already created.

A request that cannot go to Stripe as it is (an unknown or archived plan from
``tenant.created``, or a request Stripe refused) is kept as ``needs_attention`` with a
``billing.followup_required``; the next ``POST /v1/subscriptions`` for the tenant
replaces it and, once on Stripe, resolves the follow-up.

Changes: an upgrade applies now with proration; a downgrade (fewer seats or a cheaper
plan) is a Stripe subscription schedule whose second phase starts at the period end,
shown as ``pending_change`` until Stripe's webhook shows the new phase in effect.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.clock import Clock
from billing_service.models import Plan, Subscription
from billing_service.plans import service as plans
from billing_service.renewals import service as renewals
from billing_service.stripe_gateway import StripeGateway, StripeRejected
from billing_service.stripe_time import ts
from billing_service.subscriptions.schemas import (
    PendingChange,
    SubscriptionCancel,
    SubscriptionChange,
    SubscriptionIn,
    SubscriptionOut,
)
from billing_service.webhooks.metrics import INVALID_STRIPE_DATA
from servicekit.context import capture_context, resume_context
from servicekit.db import Database
from servicekit.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from servicekit.etag import IfMatch
from servicekit.outbox import publish
from supportops_events.billing import (
    BillingFollowupRequired,
    BillingFollowupResolved,
    CollectionMethod,
    FollowupCause,
    FollowupResolution,
    PlanTier,
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionEvent,
    SubscriptionStatus,
    SubscriptionUpdated,
)

logger = logging.getLogger("billing_service.subscriptions")

KNOWN_STATUSES = {s.value for s in SubscriptionStatus}
NEEDS_ATTENTION = "needs_attention"
FOLLOWUP_CURRENCY = "usd"
"""The currency of a follow-up about a request whose plan (hence currency) is unknown."""
PHASE_TOLERANCE = timedelta(minutes=1)

ChangeKind = Literal["same", "upgrade", "downgrade"]


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
        sync_state=sub.sync_state,  # type: ignore[arg-type]
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
    plan = await session.get(Plan, sub.plan_id) if sub.plan_id else None
    pending = await session.get(Plan, sub.pending_plan_id) if sub.pending_plan_id else None
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


async def _fields(
    session: AsyncSession, sub: Subscription, plan: Plan, now: datetime
) -> dict[str, Any]:
    pending = await session.get(Plan, sub.pending_plan_id) if sub.pending_plan_id else None
    return event_fields(sub, plan, now=now, pending_plan=pending)


async def get(session: AsyncSession, subscription_id: str, *, lock: bool = False) -> Subscription:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if lock:
        stmt = stmt.with_for_update()
    sub = (await session.scalars(stmt)).first()
    if sub is None:
        raise NotFound("subscription not found")
    return sub


async def _by_tenant(session: AsyncSession, tenant_id: str) -> Subscription | None:
    return (
        await session.scalars(
            select(Subscription).where(Subscription.tenant_id == tenant_id).with_for_update()
        )
    ).first()


# --- follow-ups about the request itself --------------------------------------------------


def followup_key(sub: Subscription) -> str:
    return f"subscription:{sub.id}"


async def _require_followup(
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


async def _resolve_followup(session: AsyncSession, *, sub: Subscription, now: datetime) -> None:
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


# --- intents -----------------------------------------------------------------------------


def _request_values(body: SubscriptionIn, *, origin: str) -> dict[str, Any]:
    return {
        "seats": body.seats,
        "collection_method": body.collection_method.value,
        "days_until_due": body.days_until_due
        if body.collection_method is CollectionMethod.send_invoice
        else None,
        "trial_days": body.trial_days,
        "origin": origin,
    }


async def _insert_request(
    session: AsyncSession,
    *,
    body: SubscriptionIn,
    origin: str,
    plan_id: str | None,
    sync_state: str,
    **extra: Any,
) -> Subscription:
    """Insert the tenant's first subscription request (a concurrent insert for the same
    tenant wins and is returned instead)."""
    await session.execute(
        insert(Subscription)
        .values(
            id=str(uuid.uuid4()),
            tenant_id=body.tenant_id,
            company_name=body.company_name,
            billing_email=body.billing_email,
            plan_id=plan_id,
            status=SubscriptionStatus.incomplete.value,
            sync_state=sync_state,
            sync_attempts=0,
            intent_seq=0,
            cancel_at_period_end=False,
            ever_activated=False,
            stripe_state_at=0,
            version=1,
            origin_context=capture_context(),
            **_request_values(body, origin=origin),
            **extra,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    sub = await _by_tenant(session, body.tenant_id)
    assert sub is not None
    return sub


async def record_intent(
    session: AsyncSession,
    *,
    body: SubscriptionIn,
    origin: str = "rest",
    refuse_existing: bool = False,
) -> Subscription:
    """Get-or-create the tenant's subscription intent (one subscription per tenant). A
    request kept as ``needs_attention`` is replaced by this one."""
    plan = await plans.selectable(session, body.plan_code)
    sub = await _by_tenant(session, body.tenant_id)
    if sub is None:
        sub = await _insert_request(
            session, body=body, origin=origin, plan_id=plan.id, sync_state="pending"
        )
    if sub.sync_state == NEEDS_ATTENTION:
        for name, value in _request_values(body, origin=origin).items():
            setattr(sub, name, value)
        sub.origin_context = capture_context()
        sub.plan_id, sub.requested_plan_code = plan.id, None
        sub.billing_email = body.billing_email or sub.billing_email
        sub.company_name = body.company_name or sub.company_name
        sub.attention_reason = sub.attention_detail = None
        sub.sync_state, sub.sync_attempts, sub.sync_error = "pending", 0, None
        sub.next_sync_at = None
        sub.intent_seq += 1
        await session.flush()
    elif refuse_existing and sub.sync_state == "synced":
        raise Conflict(
            "the tenant already has a subscription; change or cancel it instead",
            code="subscription-exists",
            subscription_id=sub.id,
        )
    return sub


async def record_tenant_request(session: AsyncSession, *, body: SubscriptionIn) -> Subscription:
    """``tenant.created``: the intent, or — when the plan cannot be subscribed to — the
    request kept for a person, with a follow-up. Never dead-letters a real tenant."""
    try:
        return await record_intent(session, body=body, origin="tenant.created")
    except Unprocessable as exc:
        if exc.code not in {"unknown-plan", "plan-archived"}:
            raise
        cause = (
            FollowupCause.plan_archived
            if exc.code == "plan-archived"
            else FollowupCause.plan_unknown
        )
    return await _record_attention(session, body=body, cause=cause)


async def _record_attention(
    session: AsyncSession, *, body: SubscriptionIn, cause: FollowupCause
) -> Subscription:
    reason = cause.value
    detail = (
        f"tenant asked for plan {body.plan_code!r} ({body.seats} seats), which "
        + ("is archived" if cause is FollowupCause.plan_archived else "billing does not know")
        + "; create the subscription with POST /v1/subscriptions and a plan that exists"
    )
    sub = await _by_tenant(session, body.tenant_id)
    if sub is None:
        sub = await _insert_request(
            session,
            body=body,
            origin="tenant.created",
            plan_id=None,
            sync_state=NEEDS_ATTENTION,
            requested_plan_code=body.plan_code,
            attention_reason=reason,
            attention_detail=detail,
        )
    elif sub.sync_state == NEEDS_ATTENTION:
        for name, value in _request_values(body, origin="tenant.created").items():
            setattr(sub, name, value)
        sub.plan_id, sub.requested_plan_code = None, body.plan_code
        sub.attention_reason, sub.attention_detail = reason, detail
        await session.flush()
    if sub.sync_state != NEEDS_ATTENTION:
        return sub  # the tenant already has a subscription: nothing to fix
    await _require_followup(session, sub=sub, cause=cause, detail=detail, plan=None)
    return sub


def _key_suffix(intent_seq: int) -> str:
    return f"-r{intent_seq}" if intent_seq else ""


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
    """Create the Stripe customer and subscription of a pending intent (idempotent),
    continuing the correlation and trace of whoever asked for it."""
    async with db.unit_of_work() as session:
        origin = await session.scalar(
            select(Subscription.origin_context).where(Subscription.id == subscription_id)
        )
    with resume_context(origin, "billing.subscription.create_on_stripe"):
        return await _drive_pending(
            db=db, stripe=stripe, subscription_id=subscription_id, clock=clock
        )


async def _drive_pending(
    *,
    db: Database,
    stripe: StripeGateway,
    subscription_id: str,
    clock: Clock,
) -> Subscription:
    async with db.unit_of_work() as session:
        sub = await get(session, subscription_id)
        if sub.sync_state != "pending" or sub.plan_id is None:
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
            "seq": sub.intent_seq,
        }
    try:
        plan, customer_id, remote = await _create_on_stripe(
            stripe=stripe, db=db, subscription_id=subscription_id, plan=plan, intent=intent
        )
    except StripeRejected as exc:
        # Retrying the same request cannot help: a person must change it.
        async with db.unit_of_work() as session:
            sub = await get(session, subscription_id, lock=True)
            if sub.sync_state == "pending" and sub.intent_seq == intent["seq"]:
                detail = f"Stripe refused the subscription: {exc.detail or exc}"[:2000]
                sub.sync_state, sub.attention_reason = NEEDS_ATTENTION, "stripe_rejected"
                sub.attention_detail = sub.sync_error = detail
                await session.flush()
                if sub.origin == "tenant.created":  # no person saw the refusal yet
                    await _require_followup(
                        session,
                        sub=sub,
                        cause=FollowupCause.subscription_rejected,
                        detail=detail,
                        plan=plan,
                    )
        raise
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
            # An impossible period in Stripe's answer is not stored (it is logged and
            # counted); the placeholder below lasts until a webhook brings the real one.
            start, end, _ = valid_period(remote, subscription_id=sub.id)
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
            await _resolve_followup(session, sub=sub, now=clock())
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
    suffix = _key_suffix(int(intent["seq"]))
    customer_id = intent["customer"]
    if customer_id is None:
        customer = await stripe.create_customer(
            key=f"customer-{subscription_id}{suffix}",
            email=intent["email"],
            name=intent["name"],
            metadata={"tenant_id": str(intent["tenant_id"]), "subscription_id": subscription_id},
        )
        customer_id = str(customer["id"])
        async with db.unit_of_work() as session:  # kept even if the subscription is refused
            await session.execute(
                update(Subscription)
                .where(
                    Subscription.id == subscription_id,
                    Subscription.stripe_customer_id.is_(None),
                )
                .values(stripe_customer_id=customer_id, version=Subscription.version + 1)
            )
    remote = await stripe.create_subscription(
        key=f"subscription-{subscription_id}{suffix}",
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


def _clear_pending(sub: Subscription) -> bool:
    had = sub.pending_change_at is not None or sub.stripe_schedule_id is not None
    sub.pending_plan_id = sub.pending_seats = sub.pending_change_at = None
    sub.stripe_schedule_id = None
    return had


# --- changes -----------------------------------------------------------------------------


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
        if sub.sync_state != "synced" or sub.status in {"canceled", "incomplete_expired"}:
            raise InvalidTransition(f"a {sub.status} subscription cannot be changed")
        if sub.cancel_at_period_end:
            raise InvalidTransition("the subscription ends at period end and cannot be changed")
        assert sub.plan_id is not None
        old_plan = await session.get(Plan, sub.plan_id)
        assert old_plan is not None
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
        now = clock()
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
                if _clear_pending(sub):
                    changed.append("pending_change")
                effective = "now"
            case "downgrade":
                sub.pending_plan_id, sub.pending_seats = new_plan.id, seats
                sub.pending_change_at = sub.current_period_end
                sub.stripe_schedule_id = schedule_id
                changed.append("pending_change")
                effective = "period_end"
            case "same":
                if _clear_pending(sub):
                    changed.append("pending_change")
        _supersede_older_events(sub, now)
        await session.flush()
        current_plan = await session.get(Plan, sub.plan_id) if sub.plan_id else None
        assert current_plan is not None
        if changed:
            await publish(
                session,
                SubscriptionUpdated(
                    **await _fields(session, sub, current_plan, now),
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
        if sub.sync_state != "synced" or sub.status == "canceled":
            raise InvalidTransition(f"a {sub.status} subscription cannot be canceled")
        if body.at_period_end and sub.cancel_at_period_end:
            raise InvalidTransition("the subscription already ends at period end")
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
        plan = await session.get(Plan, sub.plan_id)
        assert plan is not None
        now = clock()
        sub.canceled_at, sub.cancel_reason = now, body.reason
        sub.cancel_announced_at = now
        _clear_pending(sub)
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
        if not body.at_period_end:
            await renewals.on_subscription_ended(session, subscription_id=sub.id, now=now)
        return await render(session, sub)


# --- the mirror of Stripe's subscription --------------------------------------------------


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


def valid_period(
    obj: dict[str, Any], *, subscription_id: str | None
) -> tuple[datetime | None, datetime | None, bool]:
    """The object's current period, or (None, None, True) when it is impossible (it ends
    before it starts, as stripe-mock answers): such a period is logged, counted and never
    stored or acted on."""
    start, end = _period_of(obj)
    if start is not None and end is not None and start > end:
        INVALID_STRIPE_DATA.labels(object="subscription", problem="period_ends_before_start").inc()
        logger.warning(
            "Stripe subscription %s (ours %s) has an impossible period %s .. %s: ignored",
            obj.get("id"),
            subscription_id,
            start.isoformat(),
            end.isoformat(),
        )
        return None, None, True
    return start, end, False


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
    sub = (
        await session.scalars(
            select(Subscription)
            .where(Subscription.stripe_subscription_id == obj.get("id"))
            .with_for_update()
        )
    ).first()
    if sub is None:
        return "unmatched"
    assert sub.plan_id is not None
    previous = SubscriptionStatus(sub.status)
    raw = str(obj.get("status") or sub.status)
    current = SubscriptionStatus(raw) if raw in KNOWN_STATUSES else previous
    old_plan = await session.get(Plan, sub.plan_id)
    assert old_plan is not None
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
        await _require_followup(
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
        found = (
            await session.scalars(select(Plan).where(Plan.stripe_price_id == price_id))
        ).first()
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
        _clear_pending(sub)
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
    fields = await _fields(session, sub, plan, now)
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
    await publish(session, SubscriptionActivated(**await _fields(session, sub, plan, now)))
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
