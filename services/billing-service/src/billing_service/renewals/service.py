"""Renewals: one tracker per subscription and period, moved by what Stripe and the scan
see (the moves themselves are ``lifecycle.transition_renewal``).

Each transition emits one event; a renewal-level risk (payment method, cancellation)
also asks a person to follow up, and that follow-up is resolved when the risk goes away
or the renewal ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Invoice, Plan, Renewal, Subscription
from billing_service.plans import repository as plans
from billing_service.renewals import followups, repository
from billing_service.renewals.lifecycle import RenewalState, transition_renewal
from billing_service.renewals.terms import add_interval, renewal_fields, terms_for
from servicekit.outbox import publish
from supportops_events.billing import (
    FollowupResolution,
    RenewalInvoicedReason,
    RenewalRiskReason,
    RenewalUpcoming,
)

RENEWABLE = ("active", "trialing", "past_due")


async def tracker_for_invoice(session: AsyncSession, invoice: Invoice) -> Renewal | None:
    """The renewal an invoice bills: a renewal invoice's period ends where the renewed
    period starts (Stripe bills the period just ended plus the new one's seats)."""
    if invoice.subscription_id is None:
        return None
    subscription_id = invoice.subscription_id

    async def lookup() -> Renewal | None:
        return await repository.for_invoice(
            session,
            subscription_id=subscription_id,
            stripe_invoice_id=invoice.stripe_invoice_id,
            period_end=invoice.period_end,
        )

    found = await lookup()
    if found is None and invoice.is_renewal:
        sub = await repository.subscription(session, invoice.subscription_id)
        if sub is None or sub.plan_id is None:
            return None
        plan = await plans.get(session, sub.plan_id)
        assert plan is not None
        await repository.insert_if_absent(
            session,
            tenant_id=invoice.tenant_id,
            subscription_id=sub.id,
            period_start=invoice.period_end,
            period_end=add_interval(invoice.period_end, plan.interval),
        )
        found = await lookup()
    return found


async def track(
    session: AsyncSession, *, sub: Subscription, plan: Plan, now: datetime
) -> tuple[Renewal, bool]:
    """The tracker of the subscription's next renewal, created (and ``renewal.upcoming``
    emitted) the first time; the unique constraint makes that once per period."""
    assert sub.current_period_end is not None
    renews_at = sub.current_period_end
    fresh = await repository.insert_if_absent(
        session,
        tenant_id=sub.tenant_id,
        subscription_id=sub.id,
        period_start=renews_at,
        period_end=add_interval(renews_at, plan.interval),
    )
    renewal = await repository.of_period(session, subscription_id=sub.id, period_start=renews_at)
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
    session: AsyncSession, *, invoice: Invoice, reason: RenewalInvoicedReason, now: datetime
) -> None:
    """Stripe's renewal invoice was finalized or sent (or we issued one)."""
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is not None:  # already invoiced, overdue or paid: nothing to do
        await transition_renewal(
            session,
            renewal=renewal,
            target=RenewalState.invoiced,
            now=now,
            invoice=invoice,
            invoiced_reason=reason,
        )


async def on_invoice_paid(
    session: AsyncSession, *, invoice: Invoice, paid_at: datetime, now: datetime
) -> None:
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is not None:
        await transition_renewal(
            session,
            renewal=renewal,
            target=RenewalState.paid,
            now=now,
            invoice=invoice,
            paid_at=paid_at,
        )


async def mark_at_risk(
    session: AsyncSession,
    *,
    renewal: Renewal,
    reason: RenewalRiskReason,
    now: datetime,
    invoice: Invoice | None = None,
    detail: str | None = None,
) -> bool:
    """``renewal.at_risk`` once per (tracker, reason); ``overdue`` for an overdue renewal
    invoice. Returns whether the tracker changed."""
    return await transition_renewal(
        session,
        renewal=renewal,
        target=RenewalState.overdue
        if reason is RenewalRiskReason.invoice_overdue
        else RenewalState.at_risk,
        now=now,
        invoice=invoice,
        risk=reason,
        detail=detail,
    )


async def back_on_track(
    session: AsyncSession, *, renewal: Renewal, resolution: FollowupResolution, now: datetime
) -> None:
    """A payment-method or cancellation risk went away before the period started (an
    invoice's risk only goes away with the invoice)."""
    if renewal.reason in followups.FOLLOWUP_REASONS:
        await transition_renewal(
            session, renewal=renewal, target=RenewalState.upcoming, now=now, resolution=resolution
        )


async def on_invoice_trouble(
    session: AsyncSession, *, invoice: Invoice, reason: RenewalRiskReason, now: datetime
) -> None:
    renewal = await tracker_for_invoice(session, invoice)
    if renewal is not None:
        await mark_at_risk(session, renewal=renewal, reason=reason, now=now, invoice=invoice)


async def on_subscription_ended(
    session: AsyncSession, *, subscription_id: str, now: datetime
) -> None:
    """The subscription is canceled: open renewal follow-ups have nothing left to save."""
    for renewal in await repository.with_open_followups(session, subscription_id):
        await followups.resolve(
            session, renewal=renewal, resolution=FollowupResolution.subscription_canceled, now=now
        )
