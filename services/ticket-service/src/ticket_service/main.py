"""The ticket-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from servicekit.app import ServiceDefinition, create_service_app
from servicekit.db import Database
from ticket_service.access.endpoints import router as access_router
from ticket_service.accounts.endpoints import router as accounts_router
from ticket_service.agents.endpoints import router as agents_router
from ticket_service.config import TicketSettings
from ticket_service.config_cache import CONFIG_CACHE_KEY, ConfigCache
from ticket_service.consumers import events
from ticket_service.csat.endpoints import router as csat_router
from ticket_service.csat.service import SESSION_INFO_KEY, SurveyLinks
from ticket_service.escalations.endpoints import router as escalations_router
from ticket_service.intake.endpoints import router as intake_router
from ticket_service.metrics.endpoints import router as metrics_router
from ticket_service.sla.endpoints import router as sla_router
from ticket_service.templates.endpoints import router as templates_router
from ticket_service.tickets.endpoints import router as tickets_router
from ticket_service.triage.endpoints import router as triage_router

DESCRIPTION = "intake, triage, SLAs, templates, account context, escalation and CSAT"
SERVICE_NAME = "ticket-service"
logger = logging.getLogger("ticket_service")
PRODUCES = ["tickets.events", "onboarding.commands"]


def configure_sessions(db: Database, settings: TicketSettings) -> None:
    """Give every session of ``db`` what domain code needs beyond the database: the
    survey links of these settings (solving a ticket sends one, in a request or a
    consumer alike), and the process's configuration cache (rules, policies, calendars,
    agents; checked against the database's config version on use)."""
    info = dict(db.sessionmaker.kw.get("info") or {})
    info[SESSION_INFO_KEY] = SurveyLinks.from_settings(settings)
    info[CONFIG_CACHE_KEY] = ConfigCache()
    db.sessionmaker.configure(info=info)


def create_app(settings: TicketSettings | None = None) -> FastAPI:
    settings = settings or TicketSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # runs before the consumers' first poll: no await between start and here
        configure_sessions(app.state.db, settings)
        yield

    app = create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings,
            title="supportops ticket-service",
            description=DESCRIPTION,
            routers=[
                tickets_router,
                access_router,
                escalations_router,
                triage_router,
                agents_router,
                accounts_router,
                templates_router,
                csat_router,
                metrics_router,
                intake_router,
                sla_router,
            ],
            events=events,
            produces=PRODUCES,
            extra_lifespan=lifespan,
        )
    )
    return app
