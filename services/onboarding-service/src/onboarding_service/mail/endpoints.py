"""The mail sent about a user or a tenant, with its delivery status."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from onboarding_service.deps import TenantReader
from onboarding_service.mail import repository
from servicekit.authz import owned
from servicekit.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["mail"])


class MailOut(BaseModel):
    message_id: str
    kind: str
    """``user.invitation``, ``user.activation_reminder``, ``tenant.welcome``,
    ``tenant.onboarded``, ``access.confirmation_code``."""
    to: list[str]
    subject: str
    status: str
    """``queued`` (waiting or being retried), ``sent``, ``failed`` (refused for good)."""
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


async def _mail_of(session: SessionDep, ref: str) -> list[MailOut]:
    rows = await repository.mail_about(session, ref)
    return [
        MailOut(
            message_id=f"<{r.message_id}>",
            kind=r.kind,
            to=list(r.recipients),
            subject=r.subject,
            status=r.status,
            attempts=r.attempts,
            last_error=r.last_error,
            created_at=r.created_at,
            sent_at=r.sent_at,
        )
        for r in rows
    ]


@router.get(
    "/users/{user_id}/mail",
    dependencies=[owned(path={"user_id": "user"})],
    summary="The mail sent to a user (invitations, reminders) and its delivery status",
)
async def user_mail(
    user_id: uuid.UUID, session: SessionDep, principal: TenantReader
) -> list[MailOut]:
    return await _mail_of(session, f"user:{user_id}")


@router.get(
    "/tenants/{tenant_id}/mail",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="The mail sent to a tenant's admin (welcome, onboarding complete) and its status",
)
async def tenant_mail(
    tenant_id: uuid.UUID, session: SessionDep, principal: TenantReader
) -> list[MailOut]:
    return await _mail_of(session, f"tenant:{tenant_id}")
