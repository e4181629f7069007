"""The escalation-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from fastapi import FastAPI

from escalation_service.config import EscalationSettings
from escalation_service.consumers import events
from servicekit.app import ServiceDefinition, create_service_app

DESCRIPTION = "bug reports, duplicate detection, reproduction, QA escalation and fan-out"
SERVICE_NAME = "escalation-service"
PRODUCES = ["escalation.events"]


def create_app(settings: EscalationSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings or EscalationSettings(),
            title="supportops escalation-service",
            description=DESCRIPTION,
            routers=[],
            events=events,
            produces=PRODUCES,
        )
    )
