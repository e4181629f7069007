"""Typed FastAPI dependencies shared by every service (``SessionDep``, ``IdempotencyDep``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: the one place a request's changes are committed.

    ``scope="function"`` makes the commit happen before the response is sent, so a
    client never sees success for something that did not commit.
    """
    db: Database = request.app.state.db
    async with db.unit_of_work() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
