"""The read model of the tenants onboarding announced, for services that do not own tenants:
what a ``tenant_id`` a request names is checked against (the ``tenant`` resolver of
``servicekit.authz``), fed by onboarding's ``tenant.*`` events.

Each service keeps the rows in its own database (its own ORM model with the columns
``tenant_id``, ``status`` and ``heard_at``); this module is the one way to write and read
them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.authz import Owner, owner_of
from supportops_events import Envelope
from supportops_events.onboarding import TenantEvent


class KnownTenants:
    """Remembers announced tenants in ``model`` and answers who owns a ``tenant`` id."""

    def __init__(self, model: type[Any]) -> None:
        self.model = model

    async def remember(
        self, session: AsyncSession, *, tenant_id: str, status: str, at: datetime
    ) -> None:
        model = self.model
        statement = insert(model).values(tenant_id=tenant_id, status=status, heard_at=at)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[model.tenant_id],
                set_={"status": statement.excluded.status, "heard_at": statement.excluded.heard_at},
                # a late, older event never overwrites a newer status
                where=model.heard_at <= statement.excluded.heard_at,
            )
        )

    async def hear(self, session: AsyncSession, envelope: Envelope) -> None:
        """A consumer handler for every ``tenant.*`` event."""
        data = envelope.data
        assert isinstance(data, TenantEvent)
        await self.remember(
            session, tenant_id=str(data.tenant_id), status=data.status.value, at=envelope.time
        )

    async def owner(self, session: AsyncSession, value: str) -> Owner:
        """The ``tenant`` resolver: the tenant itself once announced, else unknown."""
        tenant_id = str(uuid.UUID(value))  # onboarding's ids are UUIDs; anything else is 422
        return await owner_of(
            session, select(self.model.tenant_id).where(self.model.tenant_id == tenant_id)
        )
