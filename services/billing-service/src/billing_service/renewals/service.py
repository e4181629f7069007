"""Renewals: one tracker per subscription and period, and the scan that drives them.

States: ``upcoming`` → ``invoiced`` → ``paid``; ``at_risk`` (with its reason) from
``upcoming`` or ``invoiced``, ``overdue`` once the renewal invoice is past due; back to
``upcoming`` when a payment-method or cancellation risk goes away. Each transition emits
one event; a renewal-level risk (payment method, cancellation) also asks a person to
follow up, and that follow-up is resolved when the risk goes away or the renewal ends.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.clock import Clock
from billing_service.dunning import service as dunning
from billing_service.models import Invoice, Plan, Renewal, Subscription
from billing_service.stripe_gateway import StripeGateway
from servicekit.db import Database
from servicekit.outbox import publish
from supportops_events.billing import (
    BillingFollowupRequired,
    BillingFollowupResolved,
    CollectionMethod,
    FollowupCause,
    FollowupResolution,
    RenewalAtRisk,
    RenewalCompleted,
    RenewalInvoiced,
    RenewalInvoicedReason,
    RenewalRiskReason,
    RenewalUpcoming,
)

logger = logging.getLogger("billing_service.renewals")

RENEWABLE = ("active", "trialing", "past_due")
STALE_CLAIM = timedelta(minutes=10)
PAYMENT_METHOD_REASONS = {
    RenewalRiskReason.no_payment_method.value,
    RenewalRiskReason.payment_method_expiring.value,
}
FOLLOWUP_REASONS = {*PAYMENT_METHOD_REASONS, RenewalRiskReason.cancel_at_period_end.value}
"""Risks only the renewal knows of; invoice risks (failed payment, overdue) already have
the invoice's own follow-up."""


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
        pending = await session.get(Plan, sub.pending_plan_id)
        if pending is not None:
            return Terms(plan=pending, seats=sub.pending_seats)
    plan = await session.get(Plan, sub.plan_id)
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


async def _context(session: AsyncSession, renewal: Renewal) -> tuple[Subscription, Terms]:
    sub = await session.get(Subscription, renewal.subscription_id)
    assert sub is not None
    return sub, await terms_for(session, sub, renewal.period_start)


def _uuid() -> str:
    return str(uuid.uuid4())


# --- payment methods -------------------------------------------------------------------


def _card_expiry(card: dict[str, Any]) -> datetime | None:
    """A card works through the last day of its expiry month."""
    try:
        month, year = int(card["exp_month"]), int(card["exp_year"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 1 <= month <= 12 or year < 1970:
        return None
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def payment_method_risk(
    remote: dict[str, Any], *, renews_at: datetime
) -> tuple[RenewalRiskReason, str] | None:
    """What keeps Stripe from charging the renewal, judged from the subscription with its
    payment methods expanded: Stripe uses the subscription's own default payment method,
    then its default source, then the customer's invoice default, then the customer's
    default source. ``None``: a usable method that outlives the renewal date."""
    customer = remote.get("customer")
    candidates: list[Any] = [remote.get("default_payment_method"), remote.get("default_source")]
    if isinstance(customer, dict):
        if customer.get("deleted"):
            return RenewalRiskReason.no_payment_method, "the Stripe customer was deleted"
        settings = customer.get("invoice_settings") or {}
        candidates += [settings.get("default_payment_method"), customer.get("default_source")]
    method = next((c for c in candidates if c), None)
    if method is None:
        return (
            RenewalRiskReason.no_payment_method,
            "no default payment method on the subscription or the customer",
        )
    if not isinstance(method, dict):
        return None  # not expanded: present, nothing more to judge
    kind = method.get("object")
    card = method.get("card") if kind == "payment_method" else method if kind == "card" else None
    if isinstance(card, dict):
        expires = _card_expiry(card)
        if expires is not None and expires <= renews_at:
            brand = str(card.get("brand") or "card")
            return (
                RenewalRiskReason.payment_method_expiring,
                f"the {brand} card ending {card.get('last4') or '????'} expires "
                f"{int(card['exp_month']):02d}/{card['exp_year']}, before the renewal on "
                f"{renews_at:%Y-%m-%d}",
            )
        return None
    if kind == "bank_account" and method.get("status") in {"errored", "verification_failed"}:
        return (
            RenewalRiskReason.no_payment_method,
            f"the default bank account is {method.get('status')}",
        )
    return None


# --- follow-ups --------------------------------------------------------------------------


def followup_key(renewal: Renewal, reason: str) -> str:
    return f"renewal:{renewal.id}:{reason}"


async def _resolve_followup(
    session: AsyncSession, *, renewal: Renewal, resolution: FollowupResolution, now: datetime
) -> None:
    if renewal.followup_reason is None:
        return
    key = followup_key(renewal, renewal.followup_reason)
    renewal.followup_reason = None
    await session.flush()
    await publish(
        session,
        BillingFollowupResolved(
            tenant_id=renewal.tenant_id,
            followup_key=key,
            cause=FollowupCause.renewal_at_risk,
            resolution=resolution,
            subscription_id=renewal.subscription_id,
            resolved_at=now,
        ),
    )


def _superseded_by(reason: str) -> FollowupResolution:
    if reason == RenewalRiskReason.cancel_at_period_end.value:
        return FollowupResolution.cancellation_withdrawn
    return FollowupResolution.payment_method_updated


async def _require_followup(
    session: AsyncSession,
    *,
    renewal: Renewal,
    sub: Subscription,
    terms: Terms,
    reason: RenewalRiskReason,
    detail: str | None,
    now: datetime,
) -> None:
    if renewal.followup_reason == reason.value:
        return
    if renewal.followup_reason is not None:
        await _resolve_followup(
            session,
            renewal=renewal,
            resolution=_superseded_by(renewal.followup_reason),
            now=now,
        )
    renewal.followup_reason = reason.value
    await session.flush()
    await publish(
        session,
        BillingFollowupRequired(
            tenant_id=sub.tenant_id,
            followup_key=followup_key(renewal, reason.value),
            cause=FollowupCause.renewal_at_risk,
            subscription_id=sub.id,
            currency=terms.plan.currency,
            amount_due=terms.amount,
            due_date=renewal.period_start,
            billing_email=sub.billing_email,
            detail=f"renewal on {renewal.period_start:%Y-%m-%d} at risk ({reason.value})"
            + (f": {detail}" if detail else ""),
        ),
    )


# --- transitions -------------------------------------------------------------------------


async def tracker_for_invoice(session: AsyncSession, invoice: Invoice) -> Renewal | None:
    """The renewal an invoice bills: a renewal invoice's period ends where the renewed
    period starts (Stripe bills the period just ended plus the new one's seats)."""
    if invoice.subscription_id is None:
        return None
    stmt = (
        select(Renewal)
        .where(Renewal.subscription_id == invoice.subscription_id)
        .where(
            (Renewal.stripe_invoice_id == invoice.stripe_invoice_id)
            | (Renewal.period_start == invoice.period_end)
        )
        .with_for_update()
    )
    found = (await session.scalars(stmt)).first()
    if found is None and invoice.is_renewal:
        sub = await session.get(Subscription, invoice.subscription_id)
        if sub is None or sub.plan_id is None:
            return None
        plan = await session.get(Plan, sub.plan_id)
        assert plan is not None
        await session.execute(
            insert(Renewal)
            .values(
                id=_uuid(),
                tenant_id=invoice.tenant_id,
                subscription_id=sub.id,
                period_start=invoice.period_end,
                period_end=add_interval(invoice.period_end, plan.interval),
                state="upcoming",
            )
            .on_conflict_do_nothing()
        )
        found = (await session.scalars(stmt)).first()
    return found


async def track(
    session: AsyncSession, *, sub: Subscription, plan: Plan, now: datetime
) -> tuple[Renewal, bool]:
    """The tracker of the subscription's next renewal, created (and ``renewal.upcoming``
    emitted) the first time; the unique constraint makes that once per period."""
    assert sub.current_period_end is not None
    renews_at = sub.current_period_end
    inserted = await session.execute(
        insert(Renewal)
        .values(
            id=_uuid(),
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            period_start=renews_at,
            period_end=add_interval(renews_at, plan.interval),
            state="upcoming",
        )
        .on_conflict_do_nothing()
        .returning(Renewal.id)
    )
    renewal_id = inserted.scalar_one_or_none()
    fresh = renewal_id is not None
    renewal = (
        await session.scalars(
            select(Renewal)
            .where(Renewal.subscription_id == sub.id, Renewal.period_start == renews_at)
            .with_for_update()
        )
    ).one()
    if fresh:
        await publish(
            session,
            RenewalUpcoming(
                **renewal_fields(renewal, sub, await terms_for(session, sub, renews_at)),
                renews_at=renews_at,
                days_until_renewal=max(0, (renews_at - now).days),
            ),
        )
    return renewal, fresh


async def on_invoice_issued(
    session: AsyncSession, *, invoice: Invoice, reason: RenewalInvoicedReason
) -> None:
    """Stripe's renewal invoice was finalized or sent (or we issued one)."""
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is None:
        return
    match renewal.state:
        case "upcoming" | "at_risk":
            renewal.state, renewal.reason = "invoiced", reason.value
            renewal.invoice_id, renewal.stripe_invoice_id = invoice.id, invoice.stripe_invoice_id
            sub, terms = await _context(session, renewal)
            await session.flush()
            await publish(
                session,
                RenewalInvoiced(
                    **renewal_fields(renewal, sub, terms),
                    invoice_id=invoice.id,
                    stripe_invoice_id=invoice.stripe_invoice_id,
                    reason=reason,
                    due_date=invoice.due_date,
                    hosted_invoice_url=invoice.hosted_invoice_url,
                ),
            )
        case _:  # invoiced, overdue or paid already
            return


async def on_invoice_paid(
    session: AsyncSession, *, invoice: Invoice, paid_at: datetime, now: datetime
) -> None:
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is None or renewal.state == "paid":
        return
    renewal.state, renewal.reason = "paid", None
    renewal.invoice_id, renewal.stripe_invoice_id = invoice.id, invoice.stripe_invoice_id
    sub, terms = await _context(session, renewal)
    await session.flush()
    await publish(
        session,
        RenewalCompleted(
            **renewal_fields(renewal, sub, terms),
            invoice_id=invoice.id,
            amount_paid=invoice.amount_paid,
            paid_at=paid_at,
        ),
    )
    await _resolve_followup(
        session, renewal=renewal, resolution=FollowupResolution.renewal_completed, now=now
    )


async def mark_at_risk(
    session: AsyncSession,
    *,
    renewal: Renewal,
    reason: RenewalRiskReason,
    now: datetime,
    invoice_id: str | None = None,
    detail: str | None = None,
) -> bool:
    """``renewal.at_risk`` once per (tracker, reason); ``overdue`` for an overdue renewal
    invoice. Returns whether the tracker changed."""
    target = "overdue" if reason is RenewalRiskReason.invoice_overdue else "at_risk"
    match (renewal.state, target):
        case ("paid", _):
            return False
        case ("overdue", "at_risk"):
            return False  # the invoice is already late: the graver state stays
        case (state, _) if state == target and renewal.reason == reason.value:
            return False
        case _:
            pass
    renewal.state, renewal.reason = target, reason.value
    sub, terms = await _context(session, renewal)
    await session.flush()
    await publish(
        session,
        RenewalAtRisk(
            **renewal_fields(renewal, sub, terms),
            reason=reason,
            invoice_id=invoice_id,
            detail=detail,
        ),
    )
    if reason.value in FOLLOWUP_REASONS:
        await _require_followup(
            session, renewal=renewal, sub=sub, terms=terms, reason=reason, detail=detail, now=now
        )
    return True


async def back_on_track(
    session: AsyncSession, *, renewal: Renewal, resolution: FollowupResolution, now: datetime
) -> None:
    """A payment-method or cancellation risk went away before the period started."""
    if renewal.state != "at_risk" or renewal.reason not in FOLLOWUP_REASONS:
        return
    renewal.state, renewal.reason = "upcoming", None
    await _resolve_followup(session, renewal=renewal, resolution=resolution, now=now)


async def on_invoice_trouble(
    session: AsyncSession, *, invoice: Invoice, reason: RenewalRiskReason, now: datetime
) -> None:
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is not None:
        await mark_at_risk(session, renewal=renewal, reason=reason, now=now, invoice_id=invoice.id)


async def on_subscription_ended(
    session: AsyncSession, *, subscription_id: str, now: datetime
) -> None:
    """The subscription is canceled: open renewal follow-ups have nothing left to save."""
    open_trackers = await session.scalars(
        select(Renewal)
        .where(Renewal.subscription_id == subscription_id, Renewal.followup_reason.is_not(None))
        .with_for_update()
    )
    for renewal in open_trackers:
        await _resolve_followup(
            session, renewal=renewal, resolution=FollowupResolution.subscription_canceled, now=now
        )


# --- the scan ----------------------------------------------------------------------------


@dataclass
class ScanReport:
    upcoming: int = 0
    invoiced: int = 0
    at_risk: int = 0
    overdue: int = 0
    payment_methods_checked: int = 0
    errors: list[str] = field(default_factory=list)


async def scan(
    *,
    db: Database,
    stripe: StripeGateway,
    clock: Clock,
    window_days: int,
    grace_hours: int,
    claim_timeout: timedelta = STALE_CLAIM,
) -> ScanReport:
    """Idempotent: run it as often as you like, and concurrently; every event is emitted
    once per period and at most one renewal invoice is issued per subscription and period."""
    report = ScanReport()
    now = clock()
    await _announce(db=db, now=now, window_days=window_days, report=report)
    await _check_payment_methods(db=db, stripe=stripe, now=now, report=report)
    # Renewals whose period started without an invoice: claim, then issue outside locks.
    async with db.unit_of_work() as session:
        due = list(
            await session.scalars(
                select(Renewal.id)
                .join(Subscription, Subscription.id == Renewal.subscription_id)
                .where(
                    Renewal.invoice_id.is_(None),
                    Renewal.state.in_(("upcoming", "at_risk")),
                    Renewal.period_start <= now,
                    Subscription.cancel_at_period_end.is_(False),
                    Subscription.status.in_(RENEWABLE),
                )
            )
        )
    for renewal_id in due:
        try:
            if await _issue_if_due(
                db=db,
                stripe=stripe,
                renewal_id=renewal_id,
                now=now,
                grace_hours=grace_hours,
                claim_timeout=claim_timeout,
            ):
                report.invoiced += 1
        except Exception as exc:  # one bad subscription must not stop the scan
            logger.exception("issuing the renewal invoice of %s failed", renewal_id)
            report.errors.append(f"{renewal_id}: {exc}")
    async with db.unit_of_work() as session:
        for invoice in await dunning.report_overdue(session, now=now):
            report.overdue += 1
            if invoice.is_renewal:
                await on_invoice_trouble(
                    session, invoice=invoice, reason=RenewalRiskReason.invoice_overdue, now=now
                )
    return report


async def _announce(*, db: Database, now: datetime, window_days: int, report: ScanReport) -> None:
    """Trackers for renewals inside the window; a subscription ending at period end puts
    its renewal at risk (and back on track if the cancellation is withdrawn)."""
    async with db.unit_of_work() as session:
        subs = list(
            await session.scalars(
                select(Subscription)
                .where(
                    Subscription.sync_state == "synced",
                    Subscription.status.in_(RENEWABLE),
                    Subscription.current_period_end.is_not(None),
                )
                .order_by(Subscription.id)  # concurrent scans lock trackers in one order
            )
        )
        for sub in subs:
            assert sub.current_period_end is not None
            assert sub.plan_id is not None
            if now < sub.current_period_end - timedelta(days=window_days):
                continue
            plan = await session.get(Plan, sub.plan_id)
            assert plan is not None
            renewal, fresh = await track(session, sub=sub, plan=plan, now=now)
            report.upcoming += int(fresh)
            if sub.cancel_at_period_end:
                if await mark_at_risk(
                    session,
                    renewal=renewal,
                    reason=RenewalRiskReason.cancel_at_period_end,
                    now=now,
                    detail=f"the subscription ends on {renewal.period_start:%Y-%m-%d}",
                ):
                    report.at_risk += 1
            elif renewal.reason == RenewalRiskReason.cancel_at_period_end.value:
                await back_on_track(
                    session,
                    renewal=renewal,
                    resolution=FollowupResolution.cancellation_withdrawn,
                    now=now,
                )


async def _check_payment_methods(
    *, db: Database, stripe: StripeGateway, now: datetime, report: ScanReport
) -> None:
    """Card customers whose renewal has not started: is there a payment method Stripe can
    charge on the renewal date? Stripe is asked outside any transaction."""
    async with db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(Renewal.id, Subscription.stripe_subscription_id, Renewal.period_start)
                .join(Subscription, Subscription.id == Renewal.subscription_id)
                .where(
                    Subscription.collection_method == CollectionMethod.charge_automatically.value,
                    Subscription.cancel_at_period_end.is_(False),
                    Subscription.status.in_(RENEWABLE),
                    Subscription.stripe_subscription_id.is_not(None),
                    Renewal.invoice_id.is_(None),
                    Renewal.period_start > now,
                    (Renewal.state == "upcoming")
                    | (
                        (Renewal.state == "at_risk")
                        & Renewal.reason.in_(sorted(PAYMENT_METHOD_REASONS))
                    ),
                )
                .order_by(Renewal.period_start)
            )
        ).all()
    for renewal_id, stripe_subscription_id, renews_at in rows:
        try:
            remote = await stripe.retrieve_subscription_with_payment_methods(
                str(stripe_subscription_id)
            )
        except Exception as exc:
            logger.exception("reading the payment methods of %s failed", stripe_subscription_id)
            report.errors.append(f"{renewal_id}: {exc}")
            continue
        report.payment_methods_checked += 1
        risk = payment_method_risk(remote, renews_at=renews_at)
        async with db.unit_of_work() as session:
            renewal = (
                await session.scalars(
                    select(Renewal).where(Renewal.id == renewal_id).with_for_update()
                )
            ).one()
            if risk is not None:
                reason, detail = risk
                if await mark_at_risk(
                    session, renewal=renewal, reason=reason, now=now, detail=detail
                ):
                    report.at_risk += 1
            elif renewal.reason in PAYMENT_METHOD_REASONS:
                await back_on_track(
                    session,
                    renewal=renewal,
                    resolution=FollowupResolution.payment_method_updated,
                    now=now,
                )


async def _issue_if_due(
    *,
    db: Database,
    stripe: StripeGateway,
    renewal_id: str,
    now: datetime,
    grace_hours: int,
    claim_timeout: timedelta = STALE_CLAIM,
) -> bool:
    async with db.unit_of_work() as session:
        renewal = await session.get(Renewal, renewal_id)
        assert renewal is not None
        sub, terms = await _context(session, renewal)
        manual = sub.collection_method == CollectionMethod.send_invoice.value
        if not manual and now < renewal.period_start + timedelta(hours=grace_hours):
            return False
        # The claim: one scan wins; a claim older than claim_timeout (a crashed scan) is
        # taken over and re-driven with the same Stripe idempotency keys.
        claimed = await session.execute(
            update(Renewal)
            .where(
                Renewal.id == renewal_id,
                Renewal.invoice_id.is_(None),
                (Renewal.issuing_since.is_(None)) | (Renewal.issuing_since < now - claim_timeout),
            )
            .values(issuing_since=now)
            .returning(Renewal.id)
        )
        if claimed.first() is None:
            return False
        reason = (
            RenewalInvoicedReason.manual_invoicing
            if manual
            else RenewalInvoicedReason.automation_did_not_fire
        )
        intent: dict[str, Any] = {
            "customer": sub.stripe_customer_id,
            "subscription": sub.stripe_subscription_id,
            "days_until_due": sub.days_until_due if sub.days_until_due is not None else 30,
            "amount": terms.amount,
            "currency": terms.plan.currency,
            "description": f"{terms.plan.name}: {terms.seats} seats, renewal",
            "start": int(renewal.period_start.timestamp()),
            "end": int(renewal.period_end.timestamp()),
        }
    key = f"renewal-{renewal_id}"
    invoice = await stripe.create_invoice(
        key=f"{key}-invoice",
        params={
            "customer": intent["customer"],
            "collection_method": "send_invoice",
            "days_until_due": intent["days_until_due"],
            "auto_advance": False,
            "metadata": {"renewal_id": renewal_id},
        },
    )
    await stripe.create_invoice_item(
        key=f"{key}-item",
        params={
            "customer": intent["customer"],
            "invoice": invoice["id"],
            "amount": intent["amount"],
            "currency": intent["currency"],
            "description": intent["description"],
            "period": {"start": intent["start"], "end": intent["end"]},
        },
    )
    await stripe.finalize_invoice(str(invoice["id"]), key=f"{key}-finalize")
    sent = await stripe.send_invoice(str(invoice["id"]), key=f"{key}-send")
    async with db.unit_of_work() as session:
        renewal = (
            await session.scalars(select(Renewal).where(Renewal.id == renewal_id).with_for_update())
        ).one()
        if renewal.invoice_id is not None:
            return False
        sub, terms = await _context(session, renewal)
        local = Invoice(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            stripe_invoice_id=str(sent.get("id") or invoice["id"]),
            number=sent.get("number"),
            status="open",
            collection_method="send_invoice",
            currency=terms.plan.currency,
            amount_due=int(intent["amount"]),
            amount_paid=0,
            amount_remaining=int(intent["amount"]),
            attempt_count=0,
            due_date=now + timedelta(days=int(intent["days_until_due"])),
            period_start=renewal.period_start,
            period_end=renewal.period_end,
            hosted_invoice_url=sent.get("hosted_invoice_url"),
            is_renewal=True,
            sent=True,
            overdue_days_reported=0,
            stripe_state_at=0,
        )
        session.add(local)
        await session.flush()
        renewal.state, renewal.reason = "invoiced", reason.value
        renewal.invoice_id, renewal.stripe_invoice_id = local.id, local.stripe_invoice_id
        await session.flush()
        await publish(
            session,
            RenewalInvoiced(
                **renewal_fields(renewal, sub, terms),
                invoice_id=local.id,
                stripe_invoice_id=local.stripe_invoice_id,
                reason=reason,
                due_date=local.due_date,
                hosted_invoice_url=local.hosted_invoice_url,
            ),
        )
    return True
