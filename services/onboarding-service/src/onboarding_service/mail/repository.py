"""The mail feature's queries: the kit's ``mail_outbox`` rows about one user or tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.mail import mail_outbox


async def mail_about(session: AsyncSession, ref: str, *, limit: int = 200) -> Sequence[Row[Any]]:
    return (
        await session.execute(
            select(mail_outbox)
            .where(mail_outbox.c.ref == ref)
            .order_by(mail_outbox.c.created_at, mail_outbox.c.id)
            .limit(limit)
        )
    ).all()
