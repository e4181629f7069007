"""Attachments of inbound mail: metadata in ``attachments``, bytes in a store.

``AttachmentStore`` is the small interface (``put``/``get`` by key) the rest of the
service uses; ``PostgresStore`` keeps the bytes in the service's own database, in the
transaction of the mail that brought them (fine up to the inbound size limit). An
S3-compatible store can implement the same two methods and be configured instead.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.mail.inbound import ParsedAttachment
from ticket_service.mail.models import Attachment, AttachmentBlob


class AttachmentStore(Protocol):
    async def put(self, session: AsyncSession, key: str, content: bytes) -> None: ...

    async def get(self, session: AsyncSession, key: str) -> bytes | None: ...


class PostgresStore:
    """Bytes in ``attachment_blobs``, written in the caller's transaction."""

    async def put(self, session: AsyncSession, key: str, content: bytes) -> None:
        session.add(AttachmentBlob(key=key, content=content))

    async def get(self, session: AsyncSession, key: str) -> bytes | None:
        blob = await session.get(AttachmentBlob, key)
        return None if blob is None else blob.content


STORE: AttachmentStore = PostgresStore()


async def store_attachments(
    session: AsyncSession,
    *,
    files: list[ParsedAttachment],
    ticket_id: uuid.UUID,
    entry_id: uuid.UUID,
    tenant_id: str,
    at: datetime,
    store: AttachmentStore = STORE,
) -> list[Attachment]:
    stored = []
    for file in files:
        attachment_id = uuid.uuid4()
        key = f"{tenant_id}/{ticket_id}/{attachment_id}"
        await store.put(session, key, file.content)
        row = Attachment(
            id=attachment_id,
            ticket_id=ticket_id,
            entry_id=entry_id,
            tenant_id=tenant_id,
            filename=file.filename,
            content_type=file.content_type,
            size=len(file.content),
            sha256=hashlib.sha256(file.content).hexdigest(),
            storage_key=key,
            created_at=at,
        )
        session.add(row)
        stored.append(row)
    await session.flush()
    return stored
