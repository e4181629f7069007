"""Every query on access requests (handled once per ``request_id``) and on the one-time code
confirmations of MFA resets."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service import repository as base
from onboarding_service.models import AccessConfirmation, AccessRequest

REQUEST_ID_LENGTH = 128
"""Request ids are stored (and looked up) cut to the column's length."""


async def handled_request(session: AsyncSession, request_id: str) -> AccessRequest | None:
    return await base.get(session, AccessRequest, request_id[:REQUEST_ID_LENGTH])


def add_request(session: AsyncSession, request: AccessRequest) -> None:
    """Stage the handled request; the caller flushes (a duplicate id fails there)."""
    session.add(request)


async def confirmation(session: AsyncSession, request_id: str) -> AccessConfirmation | None:
    return await base.get(session, AccessConfirmation, request_id[:REQUEST_ID_LENGTH])


async def lock_confirmation(session: AsyncSession, request_id: str) -> AccessConfirmation | None:
    return await base.lock(session, AccessConfirmation, request_id[:REQUEST_ID_LENGTH])


async def add_confirmation(session: AsyncSession, confirmation: AccessConfirmation) -> None:
    await base.add(session, confirmation)
