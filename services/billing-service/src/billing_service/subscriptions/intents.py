"""Subscription intents: recorded locally, then driven to Stripe.

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

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Plan, Subscription
from billing_service.plans import service as plans
from billing_service.stripe_gateway import StripeGateway, StripeRejected
from billing_service.stripe_time import ts
from billing_service.subscriptions import repository
from billing_service.subscriptions.schemas import (
    SubscriptionIn,
)
from billing_service.subscriptions.service import (
    NEEDS_ATTENTION,
    event_fields,
    get,
    require_followup,
    resolve_followup,
    valid_period,
)
from servicekit.clock import Clock
from servicekit.context import capture_context, resume_context
from servicekit.db import Database
from servicekit.errors import Conflict, Unprocessable
from servicekit.outbox import publish
from supportops_events.billing import (
    CollectionMethod,
    FollowupCause,
    SubscriptionCreated,
    SubscriptionStatus,
)


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
    await repository.insert_if_absent(
        session,
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
    sub = await repository.by_tenant(session, body.tenant_id)
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
    sub = await repository.by_tenant(session, body.tenant_id)
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
    sub = await repository.by_tenant(session, body.tenant_id)
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
    await require_followup(session, sub=sub, cause=cause, detail=detail, plan=None)
    return sub


def _key_suffix(intent_seq: int) -> str:
    return f"-r{intent_seq}" if intent_seq else ""


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
        origin = await repository.origin_context(session, subscription_id)
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
        plan = await plans.get(session, sub.plan_id)
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
                    await require_followup(
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
            await repository.record_sync_failure(
                session,
                subscription_id=subscription_id,
                error=str(exc)[:2000],
                next_sync_at=clock.now() + backoff,
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
            sub.current_period_start = start or clock.now()
            sub.current_period_end = end or (clock.now() + timedelta(days=30))
            sub.sync_state = "synced"
            sub.sync_error = None
            sub.next_sync_at = None
            await session.flush()
            trial_end = ts(remote.get("trial_end")) if remote.get("trial_end") else None
            await publish(
                session,
                SubscriptionCreated(
                    **event_fields(sub, plan, now=clock.now()), trial_end=trial_end
                ),
            )
            await resolve_followup(session, sub=sub, now=clock.now())
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
            await repository.record_customer(
                session, subscription_id=subscription_id, customer_id=customer_id
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
    """Intents the worker re-drives now."""
    return await repository.pending_ids(session, now=now)
