"""The billing-service's small repository base: the lookups every feature's
``repository.py`` would otherwise repeat (by id, locked or not; the first row of a
statement; a page of a statement)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from billing_service.models import Base
from servicekit.pagination import PageParams, paginate

M = TypeVar("M", bound=Base)


async def get_by_id(
    session: AsyncSession, model: type[M], record_id: str, *, lock: bool = False
) -> M | None:
    """The row with this primary key; ``lock`` takes it ``FOR UPDATE`` (read again from
    the database, not from the identity map alone)."""
    if not lock:
        return await session.get(model, record_id)
    return await session.get(model, record_id, with_for_update=True, populate_existing=True)


async def first(session: AsyncSession, stmt: Select[tuple[M]]) -> M | None:
    return (await session.scalars(stmt)).first()


async def page_of(
    session: AsyncSession,
    stmt: Select[tuple[M]],
    *,
    keys: list[InstrumentedAttribute[Any]],
    params: PageParams,
    direction: Literal["asc", "desc"] = "asc",
) -> tuple[list[M], str | None]:
    """One page of ``stmt`` in ``keys`` order (the kit's cursor pagination)."""
    rows, cursor = await paginate(session, stmt, keys=keys, params=params, direction=direction)
    return list(rows), cursor
