"""The mail feature's queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.mail.models import Attachment


async def attachments_of(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[Attachment]:
    return (
        await session.scalars(
            select(Attachment)
            .where(Attachment.ticket_id == ticket_id)
            .order_by(Attachment.created_at, Attachment.filename, Attachment.id)
        )
    ).all()
