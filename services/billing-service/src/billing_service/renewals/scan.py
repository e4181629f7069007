"""The renewal scan: trackers for renewals inside the window, payment methods checked,
renewal invoices issued where Stripe's automation did not, overdue invoices reported.
Idempotent and safe to run concurrently."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from billing_service.dunning import service as dunning
from billing_service.invoices import repository as invoices
from billing_service.models import Invoice
from billing_service.plans import repository as plans
from billing_service.renewals import repository
from billing_service.renewals.lifecycle import INVOICEABLE, RenewalState, transition_renewal
from billing_service.renewals.payment_methods import PAYMENT_METHOD_REASONS, payment_method_risk
from billing_service.renewals.service import (
    RENEWABLE,
    back_on_track,
    mark_at_risk,
    on_invoice_trouble,
    track,
)
from billing_service.renewals.terms import context
from billing_service.stripe_gateway import StripeGateway
from servicekit.clock import Clock
from servicekit.db import Database
from supportops_events.billing import (
    CollectionMethod,
    FollowupResolution,
    RenewalInvoicedReason,
    RenewalRiskReason,
)

logger = logging.getLogger("billing_service.renewals")

STALE_CLAIM = timedelta(minutes=10)


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
    now = clock.now()
    await _announce(db=db, now=now, window_days=window_days, report=report)
    await _check_payment_methods(db=db, stripe=stripe, now=now, report=report)
    # Renewals whose period started without an invoice: claim, then issue outside locks.
    async with db.unit_of_work() as session:
        due = await repository.due_without_invoice(
            session, now=now, states=INVOICEABLE, statuses=RENEWABLE
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
        for sub in await repository.renewable_subscriptions(session, statuses=RENEWABLE):
            assert sub.current_period_end is not None
            assert sub.plan_id is not None
            if now < sub.current_period_end - timedelta(days=window_days):
                continue
            plan = await plans.get(session, sub.plan_id)
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
        rows = await repository.card_renewals_to_check(
            session, now=now, statuses=RENEWABLE, risk_reasons=sorted(PAYMENT_METHOD_REASONS)
        )
    for renewal_id, stripe_subscription_id, renews_at in rows:
        try:
            remote = await stripe.retrieve_subscription_with_payment_methods(stripe_subscription_id)
        except Exception as exc:
            logger.exception("reading the payment methods of %s failed", stripe_subscription_id)
            report.errors.append(f"{renewal_id}: {exc}")
            continue
        report.payment_methods_checked += 1
        risk = payment_method_risk(remote, renews_at=renews_at)
        async with db.unit_of_work() as session:
            renewal = await repository.get(session, renewal_id, lock=True)
            assert renewal is not None
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
        renewal = await repository.get(session, renewal_id)
        assert renewal is not None
        sub, terms = await context(session, renewal)
        manual = sub.collection_method == CollectionMethod.send_invoice.value
        if not manual and now < renewal.period_start + timedelta(hours=grace_hours):
            return False
        # The claim: one scan wins; a claim older than claim_timeout (a crashed scan) is
        # taken over and re-driven with the same Stripe idempotency keys.
        if not await repository.claim_for_issuing(
            session, renewal_id=renewal_id, now=now, claim_timeout=claim_timeout
        ):
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
        renewal = await repository.get(session, renewal_id, lock=True)
        assert renewal is not None
        if renewal.invoice_id is not None:
            return False
        sub, terms = await context(session, renewal)
        local = await invoices.add(
            session,
            Invoice(
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
            ),
        )
        return await transition_renewal(
            session,
            renewal=renewal,
            target=RenewalState.invoiced,
            now=now,
            invoice=local,
            invoiced_reason=reason,
        )
