"""Typed dependency aliases of the billing-service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy import delete, func

from servicekit.auth import Principal, Role
from servicekit.db import Database
from servicekit.idempotency import Idempotency
from servicekit.roles import roles
from servicekit.tables import idempotency_keys

BillingReader = Annotated[
    Principal,
    Depends(roles(Role.agent, Role.billing, Role.onboarding, Role.qa, Role.service)),
]
"""Who reads plans, subscriptions, invoices and renewals: staff and services (admin
always); a tenant-scoped token is then confined to its tenant. Writers use the kit's
names (``servicekit.roles.Billing``, ``AdminOnly``)."""


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]

M = TypeVar("M", bound=BaseModel)

ABANDONED_CLAIM = timedelta(minutes=10)
"""An ``Idempotency-Key`` claimed this long ago without a stored response belongs to a
request that died mid-way (a crash between Stripe's answer and ours): a retry takes it
over, and the Stripe keys derived from our records make that retry safe."""


async def run_idempotent(
    *,
    db: Database,
    idem: Idempotency,
    body: BaseModel,
    action: Callable[[], Awaitable[M]],
    status_code: int = 201,
) -> M:
    """``Idempotency-Key`` around an action that talks to Stripe between its own
    transactions: claim the key (committed), act, store the response; a failed action
    releases the key so the client's retry runs afresh (Stripe's own idempotency keys,
    derived from our records, keep that retry from duplicating anything). A replay is
    sent as stored (the kit's ``start`` raises ``Replayed``)."""
    async with db.unit_of_work() as session:
        if idem.key is not None:
            await session.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.scope == idem.scope,
                    idempotency_keys.c.key == idem.key,
                    idempotency_keys.c.status_code.is_(None),
                    idempotency_keys.c.created_at < func.now() - ABANDONED_CLAIM,
                )
            )
        await idem.start(session, body)
    try:
        out = await action()
    except BaseException:
        if idem.key is not None:
            async with db.unit_of_work() as session:
                await session.execute(
                    delete(idempotency_keys).where(
                        idempotency_keys.c.scope == idem.scope,
                        idempotency_keys.c.key == idem.key,
                        idempotency_keys.c.status_code.is_(None),
                    )
                )
        raise
    async with db.unit_of_work() as session:
        return await idem.complete(session, out, status_code=status_code)
