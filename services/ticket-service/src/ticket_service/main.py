"""The ticket-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit.app import ServiceDefinition, create_service_app
from ticket_service.config import TicketSettings
from ticket_service.consumers import events

DESCRIPTION = "intake, triage, SLAs, templates, account context, escalation and CSAT"
SERVICE_NAME = "ticket-service"
PRODUCES = ["tickets.events", "onboarding.commands"]


def create_app(settings: TicketSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings or TicketSettings(),
            title="supportops ticket-service",
            description=DESCRIPTION,
            routers=[],
            events=events,
            produces=PRODUCES,
        )
    )
