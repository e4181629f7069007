"""The onboarding-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from fastapi import FastAPI

from onboarding_service.config import OnboardingSettings
from onboarding_service.consumers import events
from servicekit.app import ServiceDefinition, create_service_app

DESCRIPTION = "tenants, users, invitations, the onboarding checklist and access actions"
SERVICE_NAME = "onboarding-service"
PRODUCES = ["onboarding.events"]


def create_app(settings: OnboardingSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings or OnboardingSettings(),
            title="supportops onboarding-service",
            description=DESCRIPTION,
            routers=[],
            events=events,
            produces=PRODUCES,
        )
    )
