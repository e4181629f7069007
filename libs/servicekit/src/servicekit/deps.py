"""Typed FastAPI dependencies shared by every service (``SessionDep``, ``IdempotencyDep``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Database

READ_METHODS = frozenset({"GET", "HEAD"})
"""Requests that change nothing: their session reads without a transaction."""


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: the one place a request's changes are committed.

    ``scope="function"`` makes the commit happen before the response is sent, so a
    client never sees success for something that did not commit.

    A ``GET``/``HEAD`` gets ``Database.read_session()`` instead: each statement in
    autocommit on a connection where PostgreSQL refuses writes, so no ``BEGIN`` and
    ``COMMIT`` round trips (docs/decisions/0039-reads-without-a-transaction.md). A
    route that must write on a GET takes ``WriteSessionDep``.
    """
    async with request_session(request) as session:
        yield session


def request_session(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """The session ``get_session`` gives ``request``: the read session for a ``GET`` or
    ``HEAD``, the unit of work otherwise (shared with ``servicekit.guard``)."""
    db: Database = request.app.state.db
    return db.read_session() if request.method in READ_METHODS else db.unit_of_work()


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work whatever the method (a GET that must write)."""
    db: Database = request.app.state.db
    async with db.unit_of_work() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
