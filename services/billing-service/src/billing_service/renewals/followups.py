"""Renewal-level follow-ups: a person is asked to act on a risk only the renewal knows of
(payment method, cancellation), and told when it went away."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Renewal, Subscription
from billing_service.renewals.payment_methods import PAYMENT_METHOD_REASONS
from billing_service.renewals.terms import Terms
from servicekit.outbox import publish
from supportops_events.billing import (
    BillingFollowupRequired,
    BillingFollowupResolved,
    FollowupCause,
    FollowupResolution,
    RenewalRiskReason,
)

FOLLOWUP_REASONS = {*PAYMENT_METHOD_REASONS, RenewalRiskReason.cancel_at_period_end.value}
"""Risks only the renewal knows of; invoice risks (failed payment, overdue) already have
the invoice's own follow-up."""


def followup_key(renewal: Renewal, reason: str) -> str:
    return f"renewal:{renewal.id}:{reason}"


async def resolve(
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


async def require(
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
        await resolve(
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
