"""Renewals: one tracker per subscription and period, and the scan that drives them.

States: ``upcoming`` → ``invoiced`` → ``paid``; ``at_risk`` from ``upcoming`` or
``invoiced`` (and back to ``invoiced``/``paid``). Each transition emits one event.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    CollectionMethod,
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


def renewal_fields(renewal: Renewal, sub: Subscription, plan: Plan) -> dict[str, Any]:
    return {
        "tenant_id": sub.tenant_id,
        "subscription_id": sub.id,
        "plan_code": plan.code,
        "seats": sub.seats,
        "collection_method": CollectionMethod(sub.collection_method),
        "period_start": renewal.period_start,
        "period_end": renewal.period_end,
        "currency": plan.currency,
        "amount": plan.unit_amount * sub.seats,
    }


async def _context(session: AsyncSession, renewal: Renewal) -> tuple[Subscription, Plan]:
    sub = await session.get(Subscription, renewal.subscription_id)
    assert sub is not None
    plan = await session.get(Plan, sub.plan_id)
    assert plan is not None
    return sub, plan


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
        if sub is None:
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


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


async def on_invoice_issued(
    session: AsyncSession, *, invoice: Invoice, reason: RenewalInvoicedReason
) -> None:
    """Stripe's renewal invoice was finalized or sent (or we issued one)."""
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is None:
        return
    match (renewal.state, "invoiced"):
        case ("upcoming" | "at_risk", "invoiced"):
            renewal.state, renewal.reason = "invoiced", reason.value
            renewal.invoice_id, renewal.stripe_invoice_id = invoice.id, invoice.stripe_invoice_id
            sub, plan = await _context(session, renewal)
            await session.flush()
            await publish(
                session,
                RenewalInvoiced(
                    **renewal_fields(renewal, sub, plan),
                    invoice_id=invoice.id,
                    stripe_invoice_id=invoice.stripe_invoice_id,
                    reason=reason,
                    due_date=invoice.due_date,
                    hosted_invoice_url=invoice.hosted_invoice_url,
                ),
            )
        case _:
            return


async def on_invoice_paid(session: AsyncSession, *, invoice: Invoice, paid_at: datetime) -> None:
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is None or renewal.state == "paid":
        return
    renewal.state = "paid"
    renewal.invoice_id, renewal.stripe_invoice_id = invoice.id, invoice.stripe_invoice_id
    sub, plan = await _context(session, renewal)
    await session.flush()
    await publish(
        session,
        RenewalCompleted(
            **renewal_fields(renewal, sub, plan),
            invoice_id=invoice.id,
            amount_paid=invoice.amount_paid,
            paid_at=paid_at,
        ),
    )


async def on_at_risk(
    session: AsyncSession,
    *,
    renewal: Renewal,
    reason: RenewalRiskReason,
    invoice_id: str | None = None,
    detail: str | None = None,
) -> None:
    if renewal.state in {"paid", "at_risk"}:
        return
    renewal.state, renewal.reason = "at_risk", reason.value
    sub, plan = await _context(session, renewal)
    await session.flush()
    await publish(
        session,
        RenewalAtRisk(
            **renewal_fields(renewal, sub, plan),
            reason=reason,
            invoice_id=invoice_id,
            detail=detail,
        ),
    )


async def on_invoice_trouble(
    session: AsyncSession, *, invoice: Invoice, reason: RenewalRiskReason
) -> None:
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is not None:
        await on_at_risk(session, renewal=renewal, reason=reason, invoice_id=invoice.id)


# --- the scan --------------------------------------------------------------------------


@dataclass
class ScanReport:
    upcoming: int = 0
    invoiced: int = 0
    at_risk: int = 0
    overdue: int = 0
    errors: list[str] = field(default_factory=list)


async def scan(
    *,
    db: Database,
    stripe: StripeGateway,
    clock: Clock,
    window_days: int,
    grace_hours: int,
) -> ScanReport:
    """Idempotent: run it as often as you like, and concurrently; every event is emitted
    once per period and at most one renewal invoice is issued per subscription and period."""
    report = ScanReport()
    now = clock()
    async with db.unit_of_work() as session:
        subs = list(
            await session.scalars(
                select(Subscription).where(
                    Subscription.sync_state == "synced",
                    Subscription.status.in_(RENEWABLE),
                    Subscription.current_period_end.is_not(None),
                )
            )
        )
        for sub in subs:
            plan = await session.get(Plan, sub.plan_id)
            assert plan is not None
            assert sub.current_period_end is not None
            renews_at = sub.current_period_end
            if now < renews_at - timedelta(days=window_days):
                continue
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
            if renewal_id is None:
                continue
            renewal = await session.get(Renewal, renewal_id)
            assert renewal is not None
            report.upcoming += 1
            await publish(
                session,
                RenewalUpcoming(
                    **renewal_fields(renewal, sub, plan),
                    renews_at=renews_at,
                    days_until_renewal=max(0, (renews_at - now).days),
                ),
            )
            if sub.cancel_at_period_end:
                await on_at_risk(
                    session, renewal=renewal, reason=RenewalRiskReason.cancel_at_period_end
                )
                report.at_risk += 1
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
                db=db, stripe=stripe, renewal_id=renewal_id, now=now, grace_hours=grace_hours
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
                    session, invoice=invoice, reason=RenewalRiskReason.invoice_overdue
                )
    return report


async def _issue_if_due(
    *, db: Database, stripe: StripeGateway, renewal_id: str, now: datetime, grace_hours: int
) -> bool:
    async with db.unit_of_work() as session:
        renewal = await session.get(Renewal, renewal_id)
        assert renewal is not None
        sub, plan = await _context(session, renewal)
        manual = sub.collection_method == CollectionMethod.send_invoice.value
        if not manual and now < renewal.period_start + timedelta(hours=grace_hours):
            return False
        # The claim: one scan wins; a claim older than STALE_CLAIM (a crashed scan) is
        # taken over and re-driven with the same Stripe idempotency keys.
        claimed = await session.execute(
            update(Renewal)
            .where(
                Renewal.id == renewal_id,
                Renewal.invoice_id.is_(None),
                (Renewal.issuing_since.is_(None)) | (Renewal.issuing_since < now - STALE_CLAIM),
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
            "amount": plan.unit_amount * sub.seats,
            "currency": plan.currency,
            "description": f"{plan.name}: {sub.seats} seats, renewal",
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
        sub, plan = await _context(session, renewal)
        local = Invoice(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            stripe_invoice_id=str(sent.get("id") or invoice["id"]),
            number=sent.get("number"),
            status="open",
            collection_method="send_invoice",
            currency=plan.currency,
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
                **renewal_fields(renewal, sub, plan),
                invoice_id=local.id,
                stripe_invoice_id=local.stripe_invoice_id,
                reason=reason,
                due_date=local.due_date,
                hosted_invoice_url=local.hosted_invoice_url,
            ),
        )
    return True
