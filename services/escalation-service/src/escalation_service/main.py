"""The escalation-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from escalation_service.bugs.endpoints import router as bugs_router
from escalation_service.config import EscalationSettings
from escalation_service.consumers import build_events
from escalation_service.metrics.endpoints import router as metrics_router
from escalation_service.ownership import ownership
from escalation_service.tracker.base import InternalTracker, QaTracker
from escalation_service.tracker.factory import tracker_from_settings
from escalation_service.tracker_sync.endpoints import router as jira_router
from servicekit.app import ServiceDefinition, create_service_app
from servicekit.clock import Clock

DESCRIPTION = "bug reports, duplicate detection, reproduction, QA escalation and fan-out"
SERVICE_NAME = "escalation-service"
PRODUCES = ["escalation.events"]


def create_app(
    settings: EscalationSettings | None = None,
    *,
    clock: Clock | None = None,
    qa_tracker: QaTracker | None = None,
) -> FastAPI:
    settings = settings or EscalationSettings()
    tracker = qa_tracker or tracker_from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await tracker.aclose()

    app = create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings,
            title="supportops escalation-service",
            description=DESCRIPTION,
            routers=[bugs_router, metrics_router, jira_router],
            events=build_events(duplicate_threshold=settings.duplicate_threshold),
            clock=clock,
            produces=PRODUCES,
            ownership=ownership,
            extra_lifespan=lifespan,
        )
    )
    app.state.settings = settings
    app.state.qa_tracker = tracker
    return app


__all__ = ["InternalTracker", "create_app"]
