"""Handlers of support's access commands (``onboarding.commands``): each hands its typed
command to ``access.service``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.access.confirmation import CodeGenerator
from onboarding_service.access.service import (
    ConfirmationPolicy,
    handle_access_request,
    handle_confirmation,
)
from onboarding_service.config import OnboardingSettings
from servicekit.consumer import EventRouter, Received
from supportops_events.tickets import AccessActionRequested, AccessConfirmationSubmitted


def register(events: EventRouter, *, settings: OnboardingSettings, codes: CodeGenerator) -> None:
    confirmation = ConfirmationPolicy(
        codes=codes,
        ttl=timedelta(minutes=settings.confirmation_code_ttl_minutes),
        attempts=settings.confirmation_code_attempts,
    )
    invitation_ttl = timedelta(hours=settings.invitation_ttl_hours)

    @events.on(AccessActionRequested)
    async def on_access_request(
        session: AsyncSession, received: Received[AccessActionRequested]
    ) -> None:
        await handle_access_request(
            session,
            command=received.data,
            now=received.clock.now(),
            invitation_ttl=invitation_ttl,
            confirmation=confirmation,
        )

    @events.on(AccessConfirmationSubmitted)
    async def on_confirmation(
        session: AsyncSession, received: Received[AccessConfirmationSubmitted]
    ) -> None:
        await handle_confirmation(
            session, command=received.data, now=received.clock.now(), invitation_ttl=invitation_ttl
        )
