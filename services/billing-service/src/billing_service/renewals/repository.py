"""Every query of renewal trackers (and of the subscriptions the scan walks)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Renewal, Subscription
from billing_service.repository import first, get_by_id, page_of
from servicekit.pagination import PageParams
from supportops_events.billing import CollectionMethod


async def get(session: AsyncSession, renewal_id: str, *, lock: bool = False) -> Renewal | None:
    return await get_by_id(session, Renewal, renewal_id, lock=lock)


async def subscription(session: AsyncSession, subscription_id: str) -> Subscription | None:
    """The subscription a tracker renews (read only: subscriptions own their rows)."""
    return await get_by_id(session, Subscription, subscription_id)


async def insert_if_absent(
    session: AsyncSession,
    *,
    tenant_id: str,
    subscription_id: str,
    period_start: datetime,
    period_end: datetime,
) -> bool:
    """A tracker for this subscription and period, ``upcoming``, unless one exists (the
    unique constraint makes that once per period); whether it was inserted."""
    inserted = await session.execute(
        insert(Renewal)
        .values(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            subscription_id=subscription_id,
            period_start=period_start,
            period_end=period_end,
            state="upcoming",
        )
        .on_conflict_do_nothing()
        .returning(Renewal.id)
    )
    return inserted.scalar_one_or_none() is not None


async def of_period(
    session: AsyncSession, *, subscription_id: str, period_start: datetime
) -> Renewal:
    """The (existing) tracker of a period, locked."""
    return (
        await session.scalars(
            select(Renewal)
            .where(Renewal.subscription_id == subscription_id, Renewal.period_start == period_start)
            .with_for_update()
        )
    ).one()


async def for_invoice(
    session: AsyncSession, *, subscription_id: str, stripe_invoice_id: str, period_end: datetime
) -> Renewal | None:
    """The tracker an invoice bills, locked: named by the invoice, or the period starting
    where the invoice's period ends."""
    return await first(
        session,
        select(Renewal)
        .where(Renewal.subscription_id == subscription_id)
        .where(
            (Renewal.stripe_invoice_id == stripe_invoice_id) | (Renewal.period_start == period_end)
        )
        .with_for_update(),
    )


async def with_open_followups(session: AsyncSession, subscription_id: str) -> list[Renewal]:
    rows = await session.scalars(
        select(Renewal)
        .where(Renewal.subscription_id == subscription_id, Renewal.followup_reason.is_not(None))
        .with_for_update()
    )
    return list(rows)


async def renewable_subscriptions(
    session: AsyncSession, *, statuses: tuple[str, ...]
) -> list[Subscription]:
    """Synced subscriptions in a renewable status with a known period end, in id order
    (concurrent scans then lock trackers in one order)."""
    rows = await session.scalars(
        select(Subscription)
        .where(
            Subscription.sync_state == "synced",
            Subscription.status.in_(statuses),
            Subscription.current_period_end.is_not(None),
        )
        .order_by(Subscription.id)
    )
    return list(rows)


async def due_without_invoice(
    session: AsyncSession, *, now: datetime, states: tuple[str, ...], statuses: tuple[str, ...]
) -> list[str]:
    """Trackers whose period started without an invoice, of subscriptions still renewing."""
    rows = await session.scalars(
        select(Renewal.id)
        .join(Subscription, Subscription.id == Renewal.subscription_id)
        .where(
            Renewal.invoice_id.is_(None),
            Renewal.state.in_(states),
            Renewal.period_start <= now,
            Subscription.cancel_at_period_end.is_(False),
            Subscription.status.in_(statuses),
        )
    )
    return list(rows)


async def card_renewals_to_check(
    session: AsyncSession, *, now: datetime, statuses: tuple[str, ...], risk_reasons: list[str]
) -> list[tuple[str, str, datetime]]:
    """(tracker id, Stripe subscription id, renewal date) of card customers whose renewal
    has not started, upcoming or at risk for their payment method."""
    rows = await session.execute(
        select(Renewal.id, Subscription.stripe_subscription_id, Renewal.period_start)
        .join(Subscription, Subscription.id == Renewal.subscription_id)
        .where(
            Subscription.collection_method == CollectionMethod.charge_automatically.value,
            Subscription.cancel_at_period_end.is_(False),
            Subscription.status.in_(statuses),
            Subscription.stripe_subscription_id.is_not(None),
            Renewal.invoice_id.is_(None),
            Renewal.period_start > now,
            (Renewal.state == "upcoming")
            | ((Renewal.state == "at_risk") & Renewal.reason.in_(risk_reasons)),
        )
        .order_by(Renewal.period_start)
    )
    return [(str(a), str(b), c) for a, b, c in rows.tuples()]


async def claim_for_issuing(
    session: AsyncSession, *, renewal_id: str, now: datetime, claim_timeout: timedelta
) -> bool:
    """One scan wins the right to issue the tracker's invoice; a claim older than
    ``claim_timeout`` (a crashed scan) is taken over."""
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
    return claimed.first() is not None


async def page(
    session: AsyncSession, *, tenant_id: str | None, state: str | None, params: PageParams
) -> tuple[list[Renewal], str | None]:
    stmt = select(Renewal)
    if tenant_id is not None:
        stmt = stmt.where(Renewal.tenant_id == tenant_id)
    if state is not None:
        stmt = stmt.where(Renewal.state == state)
    return await page_of(session, stmt, keys=[Renewal.period_start, Renewal.id], params=params)
