"""Every query of the stored Stripe events (the webhook inbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import StripeEvent
from billing_service.repository import first, get_by_id


def object_id_of(event: dict[str, Any]) -> str | None:
    """The id of the Stripe object an event is about (its per-object ordering key)."""
    found = ((event.get("data") or {}).get("object") or {}).get("id")
    return str(found)[:255] if found is not None else None


async def store(
    session: AsyncSession,
    *,
    event: dict[str, Any],
    source: str,
    origin_context: dict[str, Any] | None = None,
) -> bool:
    """Store a Stripe event unless its id is stored already; whether it is new."""
    stored = await session.execute(
        insert(StripeEvent)
        .values(
            id=str(event["id"]),
            type=str(event.get("type")),
            created=int(event.get("created") or 0),
            payload=event,
            source=source,
            attempts=0,
            origin_context=origin_context,
            object_id=object_id_of(event),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    )
    return stored.first() is not None


async def unprocessed(
    session: AsyncSession, *, limit: int
) -> list[tuple[str, str | None, datetime | None]]:
    """(id, object id, next attempt) of unprocessed events in Stripe's ``created`` order."""
    rows = await session.execute(
        select(StripeEvent.id, StripeEvent.object_id, StripeEvent.next_attempt_at)
        .where(StripeEvent.processed_at.is_(None))
        .order_by(StripeEvent.created, StripeEvent.received_at, StripeEvent.id)
        .limit(limit)
    )
    return list(rows.tuples())


async def claim_unprocessed(session: AsyncSession, event_id: str) -> StripeEvent | None:
    """The event, locked, unless it is processed or another replica holds it."""
    return await first(
        session,
        select(StripeEvent)
        .where(StripeEvent.id == event_id, StripeEvent.processed_at.is_(None))
        .with_for_update(skip_locked=True),
    )


async def get(session: AsyncSession, event_id: str, *, lock: bool = False) -> StripeEvent | None:
    return await get_by_id(session, StripeEvent, event_id, lock=lock)


async def pending_count_and_oldest(session: AsyncSession) -> tuple[int, datetime | None]:
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(StripeEvent.received_at)).where(
                StripeEvent.processed_at.is_(None)
            )
        )
    ).one()
    return int(count or 0), oldest
