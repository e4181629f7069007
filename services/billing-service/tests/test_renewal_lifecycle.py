"""The renewal state machine, pair by pair: every (state, target) is either a move that
announces its events or a refusal that changes and announces nothing (issue 20)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from billing_fixtures import BILLING, BillingApp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Invoice, Renewal
from billing_service.renewals.lifecycle import ALLOWED, RenewalState, transition_renewal
from servicekit.tables import outbox
from supportops_events.billing import (
    FollowupResolution,
    RenewalInvoicedReason,
    RenewalRiskReason,
)

S = RenewalState

EXPECTED: dict[tuple[RenewalState, RenewalState], list[str] | None] = {
    # None: refused (nothing changes, nothing is announced)
    (S.upcoming, S.upcoming): None,
    (S.upcoming, S.invoiced): ["renewal.invoiced"],
    (S.upcoming, S.at_risk): ["renewal.at_risk"],
    (S.upcoming, S.overdue): ["renewal.at_risk"],
    (S.upcoming, S.paid): ["renewal.completed"],
    (S.invoiced, S.upcoming): None,
    (S.invoiced, S.invoiced): None,
    (S.invoiced, S.at_risk): ["renewal.at_risk"],
    (S.invoiced, S.overdue): ["renewal.at_risk"],
    (S.invoiced, S.paid): ["renewal.completed"],
    # the payment-method risk went away: its follow-up is resolved
    (S.at_risk, S.upcoming): ["billing.followup_resolved"],
    (S.at_risk, S.invoiced): ["renewal.invoiced"],
    (S.at_risk, S.at_risk): ["renewal.at_risk"],  # another risk (payment failed)
    (S.at_risk, S.overdue): ["renewal.at_risk"],
    (S.at_risk, S.paid): ["renewal.completed", "billing.followup_resolved"],
    (S.overdue, S.upcoming): None,
    (S.overdue, S.invoiced): None,
    (S.overdue, S.at_risk): None,  # the graver state stays
    (S.overdue, S.overdue): None,
    (S.overdue, S.paid): ["renewal.completed"],
    (S.paid, S.upcoming): None,
    (S.paid, S.invoiced): None,
    (S.paid, S.at_risk): None,
    (S.paid, S.overdue): None,
    (S.paid, S.paid): None,
}

REASON_IN: dict[RenewalState, str | None] = {
    S.upcoming: None,
    S.invoiced: RenewalInvoicedReason.stripe_automatic.value,
    S.at_risk: RenewalRiskReason.payment_method_expiring.value,
    S.overdue: RenewalRiskReason.invoice_overdue.value,
    S.paid: None,
}


def test_the_table_names_every_pair_and_agrees_with_the_documented_one() -> None:
    assert set(EXPECTED) == {(a, b) for a in S for b in S}
    for (previous, target), events in EXPECTED.items():
        assert (target in ALLOWED[previous]) == (events is not None), (previous, target)


@pytest.fixture(scope="module")
async def subscription(billing: BillingApp, plan: dict[str, Any]) -> dict[str, Any]:
    response = await billing.client.post(
        "/v1/subscriptions",
        json={"tenant_id": await billing.tenant(), "plan_code": plan["code"], "seats": 2},
        headers=BILLING,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def session(billing: BillingApp) -> AsyncIterator[AsyncSession]:
    """A transaction rolled back after the test: the pairs leave nothing behind."""
    async with billing.db.sessionmaker() as session, session.begin():
        yield session
        await session.rollback()


async def invoice_of(session: AsyncSession, sub: dict[str, Any], start: datetime) -> Invoice:
    invoice = Invoice(
        tenant_id=sub["tenant_id"],
        subscription_id=sub["id"],
        stripe_invoice_id=f"in_{uuid.uuid4().hex[:14]}",
        status="open",
        collection_method="charge_automatically",
        currency="usd",
        amount_due=3000,
        amount_paid=3000,
        amount_remaining=0,
        attempt_count=1,
        due_date=start,
        period_start=start - timedelta(days=30),
        period_end=start,
        is_renewal=True,
        sent=False,
        overdue_days_reported=0,
        stripe_state_at=0,
    )
    session.add(invoice)
    await session.flush()
    return invoice


async def announced_since(session: AsyncSession, last_id: int) -> list[str]:
    rows = await session.scalars(
        select(outbox.c.event_type).where(outbox.c.id > last_id).order_by(outbox.c.id)
    )
    return list(rows)


async def last_outbox_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(outbox.c.id), 0))) or 0)


def arguments(target: RenewalState, invoice: Invoice) -> dict[str, Any]:
    match target:
        case S.upcoming:
            return {"resolution": FollowupResolution.payment_method_updated}
        case S.invoiced:
            return {"invoice": invoice, "invoiced_reason": RenewalInvoicedReason.stripe_automatic}
        case S.at_risk:
            return {"invoice": invoice, "risk": RenewalRiskReason.payment_failed}
        case S.overdue:
            return {"invoice": invoice, "risk": RenewalRiskReason.invoice_overdue}
        case S.paid:
            return {"invoice": invoice, "paid_at": datetime.now(UTC)}


@pytest.mark.parametrize(("previous", "target"), sorted(EXPECTED))
async def test_every_transition_is_allowed_or_refused(
    session: AsyncSession,
    subscription: dict[str, Any],
    previous: RenewalState,
    target: RenewalState,
) -> None:
    start = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=len(previous) * 40 + len(target))
    invoice = await invoice_of(session, subscription, start)
    renewal = Renewal(
        tenant_id=subscription["tenant_id"],
        subscription_id=subscription["id"],
        period_start=start,
        period_end=start + timedelta(days=30),
        state=previous.value,
        reason=REASON_IN[previous],
        followup_reason=REASON_IN[previous] if previous is S.at_risk else None,
        invoice_id=invoice.id if previous in {S.invoiced, S.overdue, S.paid} else None,
    )
    session.add(renewal)
    await session.flush()
    before = await last_outbox_id(session)

    moved = await transition_renewal(
        session, renewal=renewal, target=target, now=datetime.now(UTC), **arguments(target, invoice)
    )

    expected = EXPECTED[(previous, target)]
    events = await announced_since(session, before)
    if expected is None:
        assert moved is False
        assert (renewal.state, renewal.reason) == (previous.value, REASON_IN[previous])
        assert events == []
    else:
        assert moved is True
        assert renewal.state == target.value
        assert events == expected


async def test_the_same_risk_again_is_refused(
    session: AsyncSession, subscription: dict[str, Any]
) -> None:
    start = datetime(2032, 6, 1, tzinfo=UTC)
    invoice = await invoice_of(session, subscription, start)
    renewal = Renewal(
        tenant_id=subscription["tenant_id"],
        subscription_id=subscription["id"],
        period_start=start,
        period_end=start + timedelta(days=30),
        state="upcoming",
    )
    session.add(renewal)
    await session.flush()
    before = await last_outbox_id(session)
    risk = {"invoice": invoice, "risk": RenewalRiskReason.payment_failed}
    now = datetime.now(UTC)
    assert await transition_renewal(session, renewal=renewal, target=S.at_risk, now=now, **risk)
    assert not await transition_renewal(session, renewal=renewal, target=S.at_risk, now=now, **risk)
    assert await announced_since(session, before) == ["renewal.at_risk"]
