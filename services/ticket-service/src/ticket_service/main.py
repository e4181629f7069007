"""The ticket-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from servicekit.app import ServiceDefinition, create_service_app
from servicekit.db import Database
from servicekit.scheduler import running_scheduler
from ticket_service.access.endpoints import router as access_router
from ticket_service.accounts.endpoints import router as accounts_router
from ticket_service.agents.endpoints import router as agents_router
from ticket_service.config import TicketSettings
from ticket_service.config_cache import CONFIG_CACHE_KEY, ConfigCache
from ticket_service.consumers import events
from ticket_service.csat.endpoints import router as csat_router
from ticket_service.csat.service import SESSION_INFO_KEY, SurveyLinks, on_ticket_solved
from ticket_service.escalations.endpoints import router as escalations_router
from ticket_service.intake.endpoints import router as intake_router
from ticket_service.intake.raw_endpoints import raw_router as mail_raw_router
from ticket_service.mail.endpoints import router as mail_router
from ticket_service.mail.outbound import on_public_reply
from ticket_service.mail.wiring import configure_mail, ticket_mail_sender
from ticket_service.metrics.endpoints import router as metrics_router
from ticket_service.ownership import ownership
from ticket_service.schedule import build_jobs
from ticket_service.sla.endpoints import router as sla_router
from ticket_service.templates.endpoints import router as templates_router
from ticket_service.tickets.endpoints import router as tickets_router
from ticket_service.tickets.service import public_reply_added
from ticket_service.tickets.status import ticket_solved
from ticket_service.triage.classifier import CLASSIFIER_INFO_KEY, TriageClassifier
from ticket_service.triage.endpoints import model_router as triage_model_router
from ticket_service.triage.endpoints import router as triage_router

DESCRIPTION = "intake, triage, SLAs, templates, account context, escalation and CSAT"
SERVICE_NAME = "ticket-service"
logger = logging.getLogger("ticket_service")
PRODUCES = ["tickets.events", "onboarding.commands"]


def register_hooks() -> None:
    """Wire the features that react to a lower one's occurrences (see ``hooks``): a
    solved ticket sends the CSAT survey, a public reply is mailed to the requester.
    Idempotent; every start (app or command) calls it, so a consumer, a request or a
    scheduled job solving a ticket behaves alike."""
    ticket_solved.add(on_ticket_solved)
    public_reply_added.add(on_public_reply)


def configure_sessions(db: Database, settings: TicketSettings) -> TriageClassifier:
    """Give every session of ``db`` what domain code needs beyond the database: the
    survey links of these settings (solving a ticket sends one, in a request or a
    consumer alike), the process's configuration cache (rules, policies, calendars,
    agents; checked against the database's config version on use) and the process's
    triage classifier (held in memory, refreshed by ``follow_triage_model``). Also
    registers the hooks (``register_hooks``)."""
    register_hooks()
    info = dict(db.sessionmaker.kw.get("info") or {})
    info[SESSION_INFO_KEY] = SurveyLinks.from_settings(settings)
    info[CONFIG_CACHE_KEY] = ConfigCache()
    classifier = TriageClassifier(review_below=settings.triage_review_below)
    info[CLASSIFIER_INFO_KEY] = classifier
    db.sessionmaker.configure(info=info)
    return classifier


async def follow_triage_model(db: Database, classifier: TriageClassifier, *, every: float) -> None:
    """Fit the current triage model now, then pick up each newer refit (``triage-refit``
    records it): one cheap query per period, never one per request."""
    while True:
        try:
            async with db.unit_of_work() as session:
                await classifier.refresh(session)
        except Exception:  # the database may be away; the model in memory keeps serving
            logger.warning("could not refresh the triage model", exc_info=True)
        await asyncio.sleep(every)


def create_app(settings: TicketSettings | None = None) -> FastAPI:
    settings = settings or TicketSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # runs before the consumers' first poll: no await between start and here
        classifier = configure_sessions(app.state.db, settings)
        configure_mail(app.state.db, settings)
        try:
            async with app.state.db.unit_of_work() as session:
                await classifier.refresh(session)  # fit once at startup (well under 2 s)
        except Exception:
            logger.warning("triage model not fitted at startup", exc_info=True)
        follower = asyncio.create_task(
            follow_triage_model(app.state.db, classifier, every=settings.triage_model_poll_seconds)
        )
        try:
            async with (
                running_scheduler(
                    app.state.db,
                    service=SERVICE_NAME,
                    jobs=build_jobs(app, settings),
                    enabled=bool(settings.run_scheduler),
                ) as scheduler,
                ticket_mail_sender(app.state.db, settings) as mail_sender,
            ):
                app.state.scheduler = scheduler
                app.state.mail_sender = mail_sender
                yield
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

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
                triage_model_router,
                agents_router,
                accounts_router,
                templates_router,
                csat_router,
                metrics_router,
                mail_raw_router,  # before intake_router: message/rfc822 bodies
                intake_router,
                mail_router,
                sla_router,
            ],
            events=events,
            produces=PRODUCES,
            ownership=ownership,
            extra_lifespan=lifespan,
        )
    )
    return app
