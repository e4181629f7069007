"""The base every feature repository builds on: a row by its key, plainly or FOR UPDATE, and
adding or deleting rows (polar's ``kit/repository/base.py``, kept small). Each feature's own
queries live in its ``<feature>/repository.py``."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.models import Base

M = TypeVar("M", bound=Base)


async def get(session: AsyncSession, model: type[M], key: Any) -> M | None:
    """The row with primary key ``key`` (from the session's identity map when it is there)."""
    return await session.get(model, key)


async def lock(session: AsyncSession, model: type[M], key: Any) -> M | None:
    """The row FOR UPDATE, re-read from the database even when the session holds it already
    (a copy read before the lock may be stale)."""
    return await session.get(model, key, with_for_update=True, populate_existing=True)


async def add(session: AsyncSession, *rows: Base) -> None:
    """Insert ``rows`` now (flushed: a constraint is violated here, not at commit)."""
    session.add_all(rows)
    await session.flush()


async def delete(session: AsyncSession, row: Base) -> None:
    await session.delete(row)
    await session.flush()
