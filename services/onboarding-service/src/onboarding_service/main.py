"""The onboarding-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from onboarding_service.access.confirmation import CodeGenerator, random_code
from onboarding_service.access.endpoints import router as access_router
from onboarding_service.checklist.endpoints import router as checklist_router
from onboarding_service.config import OnboardingSettings
from onboarding_service.consumers import build_events
from onboarding_service.mail.endpoints import router as mail_router
from onboarding_service.mail.wiring import configure_mail, onboarding_mail_sender
from onboarding_service.ownership import ownership
from onboarding_service.provisioning.endpoints import router as provisioning_router
from onboarding_service.scans.endpoints import router as scans_router
from onboarding_service.schedule import build_jobs
from onboarding_service.tenants.endpoints import router as tenants_router
from onboarding_service.users.endpoints import router as users_router
from servicekit.app import ServiceDefinition, create_service_app
from servicekit.clock import Clock, SystemClock
from servicekit.scheduler import running_scheduler

DESCRIPTION = "tenants, users, invitations, the onboarding checklist and access actions"
SERVICE_NAME = "onboarding-service"
PRODUCES = ["onboarding.events"]


def create_app(
    settings: OnboardingSettings | None = None,
    *,
    clock: Clock | None = None,
    codes: CodeGenerator = random_code,
) -> FastAPI:
    """``codes`` makes the one-time codes of MFA resets; tests pass their own to know them."""
    settings = settings or OnboardingSettings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def run_workers(app: FastAPI) -> AsyncIterator[None]:
        configure_mail(app.state.db, settings)
        async with (
            running_scheduler(
                app.state.db,
                service=SERVICE_NAME,
                jobs=build_jobs(app, settings),
                enabled=bool(settings.run_scheduler),
            ) as scheduler,
            onboarding_mail_sender(app.state.db, settings) as mail_sender,
        ):
            app.state.scheduler = scheduler
            app.state.mail_sender = mail_sender
            yield

    app = create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings,
            title="supportops onboarding-service",
            description=DESCRIPTION,
            routers=[
                provisioning_router,
                tenants_router,
                users_router,
                access_router,
                checklist_router,
                scans_router,
                mail_router,
            ],
            events=build_events(settings=settings, codes=codes),
            produces=PRODUCES,
            ownership=ownership,
            extra_lifespan=run_workers,
            clock=clock,
        )
    )
    return app
