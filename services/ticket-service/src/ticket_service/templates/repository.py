"""Queries of templates (versioned; a key's versions are rows) and macros."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageParams, paginate
from ticket_service.models import Macro, Template


async def newest(
    session: AsyncSession, key: str, *, approved_only: bool = False
) -> Template | None:
    """The newest version of ``key`` (of its approved versions with ``approved_only``)."""
    stmt = select(Template).where(Template.key == key)
    if approved_only:
        stmt = stmt.where(Template.approved.is_(True))
    return (await session.scalars(stmt.order_by(Template.version.desc()).limit(1))).first()


async def key_exists(session: AsyncSession, key: str) -> bool:
    found = await session.scalar(select(Template.id).where(Template.key == key).limit(1))
    return found is not None


async def lock_version(session: AsyncSession, key: str, version: int) -> Template | None:
    found: Template | None = await session.scalar(
        select(Template).where(Template.key == key, Template.version == version).with_for_update()
    )
    return found


async def insert_unique(session: AsyncSession, row: Template | Macro, *, refresh: bool) -> bool:
    """Insert ``row`` (read back its database defaults with ``refresh``); False if its
    unique key was taken meanwhile (the savepoint keeps the transaction usable)."""
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    if refresh:
        await session.refresh(row)
    return True


async def get_macro(session: AsyncSession, macro_id: uuid.UUID) -> Macro | None:
    return await session.get(Macro, macro_id)


async def version_of(session: AsyncSession, key: str, version: int) -> Template | None:
    found: Template | None = await session.scalar(
        select(Template).where(Template.key == key, Template.version == version)
    )
    return found


async def newest_page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    """One page of the templates, the newest version of each key, by key."""
    newest = select(Template.key, func.max(Template.version).label("v")).group_by(Template.key)
    sub = newest.subquery()
    stmt = select(Template).join(sub, (Template.key == sub.c.key) & (Template.version == sub.c.v))
    return await paginate(session, stmt, keys=[Template.key, Template.id], params=params)


async def macros_page(session: AsyncSession, params: PageParams) -> tuple[list[Any], str | None]:
    """One page of the macros, by name."""
    return await paginate(session, select(Macro), keys=[Macro.name, Macro.id], params=params)
