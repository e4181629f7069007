"""Every query of refunds, credit notes and disputes (the ``corrections`` table)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Correction
from billing_service.repository import first, get_by_id, page_of
from servicekit.pagination import PageParams, SortParams


async def by_stripe_id(
    session: AsyncSession, stripe_id: str, *, lock: bool = False
) -> Correction | None:
    """The refund, credit note or dispute Stripe knows as ``stripe_id``, if recorded."""
    stmt = select(Correction).where(Correction.stripe_id == stripe_id)
    return await first(session, stmt.with_for_update() if lock else stmt)


async def any_of_charge(session: AsyncSession, charge_id: str) -> Correction | None:
    """A refund or dispute of this charge we already recorded (it names the tenant)."""
    return await first(session, select(Correction).where(Correction.stripe_charge_id == charge_id))


async def get(session: AsyncSession, correction_id: str) -> Correction | None:
    return await get_by_id(session, Correction, correction_id)


async def add(session: AsyncSession, record: Correction) -> Correction:
    session.add(record)
    await session.flush()
    return record


async def page(
    session: AsyncSession,
    *,
    kind: str,
    tenant_id: str | None,
    params: PageParams,
    sort: SortParams,
) -> tuple[list[Correction], str | None]:
    """One page of refunds or credit notes in ``sort`` order (newest first by default)."""
    stmt = select(Correction).where(Correction.kind == kind)
    if tenant_id is not None:
        stmt = stmt.where(Correction.tenant_id == tenant_id)
    return await page_of(
        session,
        stmt,
        keys=[Correction.created_at, Correction.id],
        params=params,
        direction=sort.direction,
    )


def tenant_of(correction_id: str, *, kind: str) -> Select[tuple[str]]:
    """The owner of a refund, credit note or dispute (for ``servicekit.authz.owner_of``)."""
    return select(Correction.tenant_id).where(
        Correction.id == correction_id, Correction.kind == kind
    )
