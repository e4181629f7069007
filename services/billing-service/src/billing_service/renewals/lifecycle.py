"""The renewal tracker's state machine: one match per transition, one event each.

``upcoming`` → ``invoiced`` → ``paid``; ``at_risk`` (with its reason) from ``upcoming``,
``invoiced`` or another risk; ``overdue`` once the renewal invoice is past due; back to
``upcoming`` when a payment-method or cancellation risk goes away; ``paid`` from any
state but itself, and terminal. Stripe's webhooks arrive in any order, so a refused
transition is not an error: nothing changes, nothing is announced, and the caller is
told (``False``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Invoice, Renewal
from billing_service.renewals import followups
from billing_service.renewals.terms import context, renewal_fields
from servicekit.outbox import publish
from supportops_events.billing import (
    FollowupResolution,
    RenewalAtRisk,
    RenewalCompleted,
    RenewalInvoiced,
    RenewalInvoicedReason,
    RenewalRiskReason,
)


class RenewalState(StrEnum):
    upcoming = "upcoming"
    invoiced = "invoiced"
    at_risk = "at_risk"
    overdue = "overdue"
    paid = "paid"


S = RenewalState

ALLOWED: dict[RenewalState, frozenset[RenewalState]] = {
    S.upcoming: frozenset({S.invoiced, S.at_risk, S.overdue, S.paid}),
    S.invoiced: frozenset({S.at_risk, S.overdue, S.paid}),
    # at_risk → at_risk: another risk (the same one again changes nothing)
    S.at_risk: frozenset({S.upcoming, S.invoiced, S.at_risk, S.overdue, S.paid}),
    # an overdue invoice is the graver risk: only its payment ends it
    S.overdue: frozenset({S.paid}),
    S.paid: frozenset(),
}
"""Documentation of the match below (the unit test checks both agree, pair by pair)."""

INVOICEABLE = (S.upcoming.value, S.at_risk.value)
"""The states a renewal invoice can be issued from."""


async def transition_renewal(
    session: AsyncSession,
    *,
    renewal: Renewal,
    target: RenewalState,
    now: datetime,
    invoice: Invoice | None = None,
    invoiced_reason: RenewalInvoicedReason | None = None,
    paid_at: datetime | None = None,
    risk: RenewalRiskReason | None = None,
    detail: str | None = None,
    resolution: FollowupResolution | None = None,
) -> bool:
    """Move ``renewal`` (whose row the caller holds) to ``target``; whether it moved.

    ``invoiced`` needs the ``invoice`` and ``invoiced_reason``; ``paid`` the ``invoice``
    (``paid_at`` defaults to ``now``); ``at_risk`` and ``overdue`` the ``risk`` (and the
    invoice behind it, if any); ``upcoming`` the ``resolution`` of the risk's follow-up.
    """
    previous = RenewalState(renewal.state)
    match (previous, target):
        case (S.upcoming | S.at_risk, S.invoiced):
            assert invoice is not None
            assert invoiced_reason is not None
            renewal.state, renewal.reason = target.value, invoiced_reason.value
            renewal.invoice_id, renewal.stripe_invoice_id = invoice.id, invoice.stripe_invoice_id
            sub, terms = await context(session, renewal)
            await session.flush()
            await publish(
                session,
                RenewalInvoiced(
                    **renewal_fields(renewal, sub, terms),
                    invoice_id=invoice.id,
                    stripe_invoice_id=invoice.stripe_invoice_id,
                    reason=invoiced_reason,
                    due_date=invoice.due_date,
                    hosted_invoice_url=invoice.hosted_invoice_url,
                ),
            )
        case (S.upcoming | S.invoiced | S.at_risk | S.overdue, S.paid):
            assert invoice is not None
            renewal.state, renewal.reason = target.value, None
            renewal.invoice_id, renewal.stripe_invoice_id = invoice.id, invoice.stripe_invoice_id
            sub, terms = await context(session, renewal)
            await session.flush()
            await publish(
                session,
                RenewalCompleted(
                    **renewal_fields(renewal, sub, terms),
                    invoice_id=invoice.id,
                    amount_paid=invoice.amount_paid,
                    paid_at=paid_at or now,
                ),
            )
            await followups.resolve(
                session, renewal=renewal, resolution=FollowupResolution.renewal_completed, now=now
            )
        case (S.upcoming | S.invoiced | S.at_risk, S.at_risk | S.overdue) if (
            previous is not target or renewal.reason != (risk.value if risk else None)
        ):
            assert risk is not None
            assert (target is S.overdue) == (risk is RenewalRiskReason.invoice_overdue)
            renewal.state, renewal.reason = target.value, risk.value
            sub, terms = await context(session, renewal)
            await session.flush()
            await publish(
                session,
                RenewalAtRisk(
                    **renewal_fields(renewal, sub, terms),
                    reason=risk,
                    invoice_id=invoice.id if invoice is not None else None,
                    detail=detail,
                ),
            )
            if risk.value in followups.FOLLOWUP_REASONS:
                await followups.require(
                    session,
                    renewal=renewal,
                    sub=sub,
                    terms=terms,
                    reason=risk,
                    detail=detail,
                    now=now,
                )
        case (S.at_risk, S.upcoming):
            assert resolution is not None
            renewal.state, renewal.reason = target.value, None
            await followups.resolve(session, renewal=renewal, resolution=resolution, now=now)
        case _:
            return False
    return True
