"""Every query of subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Subscription
from billing_service.repository import first, page_of
from servicekit.pagination import PageParams


async def get(
    session: AsyncSession, subscription_id: str, *, lock: bool = False
) -> Subscription | None:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    return await first(session, stmt.with_for_update() if lock else stmt)


async def by_tenant(session: AsyncSession, tenant_id: str) -> Subscription | None:
    """The tenant's subscription (one per tenant), locked."""
    return await first(
        session, select(Subscription).where(Subscription.tenant_id == tenant_id).with_for_update()
    )


async def by_stripe_id(session: AsyncSession, stripe_subscription_id: Any) -> Subscription | None:
    """Ours of a Stripe subscription, locked."""
    return await first(
        session,
        select(Subscription)
        .where(Subscription.stripe_subscription_id == stripe_subscription_id)
        .with_for_update(),
    )


async def insert_if_absent(session: AsyncSession, *, tenant_id: str, **values: Any) -> None:
    """Insert the tenant's first subscription (a concurrent insert for the same tenant
    wins; read it back with ``by_tenant``)."""
    await session.execute(
        insert(Subscription)
        .values(id=str(uuid.uuid4()), tenant_id=tenant_id, **values)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )


async def origin_context(session: AsyncSession, subscription_id: str) -> Any:
    """The correlation and trace of whoever asked for the subscription."""
    return await session.scalar(
        select(Subscription.origin_context).where(Subscription.id == subscription_id)
    )


async def record_sync_failure(
    session: AsyncSession, *, subscription_id: str, error: str, next_sync_at: datetime
) -> None:
    """One more failed attempt to create a pending subscription on Stripe."""
    await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.sync_state == "pending")
        .values(
            sync_attempts=Subscription.sync_attempts + 1,
            sync_error=error,
            next_sync_at=next_sync_at,
        )
    )


async def record_customer(session: AsyncSession, *, subscription_id: str, customer_id: str) -> None:
    """The Stripe customer created for the subscription (kept even if Stripe then refuses
    the subscription)."""
    await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.stripe_customer_id.is_(None))
        .values(stripe_customer_id=customer_id, version=Subscription.version + 1)
    )


async def pending_ids(session: AsyncSession, *, now: datetime) -> list[str]:
    """Intents not on Stripe yet whose retry is due, oldest first."""
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


async def any_pending(session: AsyncSession) -> bool:
    """Whether some intent is still being created on Stripe."""
    found = await session.scalar(
        select(Subscription.id).where(Subscription.sync_state == "pending").limit(1)
    )
    return found is not None


async def page(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    status: str | None,
    sync_state: str | None,
    params: PageParams,
    direction: Literal["asc", "desc"] = "desc",
) -> tuple[list[Subscription], str | None]:
    """One page of subscriptions, newest first unless ``asc``."""
    stmt = select(Subscription)
    if tenant_id is not None:
        stmt = stmt.where(Subscription.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(Subscription.status == status)
    if sync_state is not None:
        stmt = stmt.where(Subscription.sync_state == sync_state)
    return await page_of(
        session,
        stmt,
        keys=[Subscription.created_at, Subscription.id],
        params=params,
        direction=direction,
    )


def tenant_of(subscription_id: str) -> Select[tuple[str]]:
    """The owner of a subscription (for ``servicekit.authz.owner_of``)."""
    return select(Subscription.tenant_id).where(Subscription.id == subscription_id)
