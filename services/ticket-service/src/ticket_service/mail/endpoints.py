"""The attachments inbound mail brought: list a ticket's, download one (exact bytes).

Raw inbound mail itself is taken in by ``intake.raw_endpoints``."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.authz import Owner, owned, owner_of
from servicekit.deps import SessionDep
from servicekit.errors import NotFound
from servicekit.roles import AgentOrService
from ticket_service.mail import repository
from ticket_service.mail.attachments import STORE
from ticket_service.mail.models import Attachment
from ticket_service.mail.schemas import AttachmentOut
from ticket_service.ownership import ownership


@ownership.resolver("attachment")
async def attachment_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(
        session, select(Attachment.tenant_id).where(Attachment.id == uuid.UUID(value))
    )


router = APIRouter(tags=["intake"])


@router.get(
    "/v1/tickets/{ticket_id}/attachments",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    summary="List the files that came with a ticket's e-mails",
)
async def list_attachments(
    ticket_id: uuid.UUID, session: SessionDep, principal: AgentOrService
) -> list[AttachmentOut]:
    rows = await repository.attachments_of(session, ticket_id)
    return [AttachmentOut.model_validate(a, from_attributes=True) for a in rows]


@router.get(
    "/v1/attachments/{attachment_id}",
    dependencies=[owned(path={"attachment_id": "attachment"})],
    summary="Download an attachment (its exact bytes)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
)
async def download_attachment(
    attachment_id: uuid.UUID, session: SessionDep, principal: AgentOrService
) -> Response:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("attachment not found")
    content = await STORE.get(session, attachment.storage_key)
    if content is None:
        raise NotFound("attachment content not found")
    headers: dict[str, Any] = {
        "Content-Disposition": _disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff",
        # never rendered as a page of ours: a customer's HTML file cannot run here
        "Content-Security-Policy": "sandbox",
    }
    return Response(content=content, media_type=attachment.content_type, headers=headers)


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
