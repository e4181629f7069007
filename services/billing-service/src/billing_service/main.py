"""The billing-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from billing_service.config import BillingSettings
from billing_service.consumers import events
from billing_service.corrections.endpoints import router as corrections_router
from billing_service.invoices.endpoints import router as invoices_router
from billing_service.ownership import ownership
from billing_service.plans.endpoints import router as plans_router
from billing_service.renewals.endpoints import router as renewals_router
from billing_service.schedule import build_jobs
from billing_service.stripe_gateway import StripeGateway
from billing_service.subscriptions.endpoints import router as subscriptions_router
from billing_service.webhooks.endpoints import router as webhooks_router
from billing_service.webhooks.worker import StripeWorker
from servicekit.app import ServiceDefinition, create_service_app
from servicekit.clock import Clock, StateClock, SystemClock
from servicekit.scheduler import running_scheduler

DESCRIPTION = (
    "plans, subscriptions, invoices, Stripe webhooks, renewals, refunds, credits, "
    "disputes and dunning"
)
SERVICE_NAME = "billing-service"
PRODUCES = ["billing.events"]


def build_stripe(settings: BillingSettings) -> StripeGateway:
    return StripeGateway.build(
        api_key=settings.stripe_api_key,
        api_base=settings.stripe_base,
        max_retries=settings.stripe_max_network_retries,
    )


def create_app(settings: BillingSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or BillingSettings()

    @asynccontextmanager
    async def billing_lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.stripe = build_stripe(settings)
        worker = StripeWorker(
            db=app.state.db,
            stripe=app.state.stripe,
            clock=StateClock(app.state),  # a test replacing app.state.clock is seen
            poll_seconds=settings.webhook_worker_poll_seconds,
        )
        app.state.stripe_worker = worker
        if settings.run_consumers:
            worker.start()  # picks up events stored before a crash or restart
        try:
            async with running_scheduler(
                app.state.db,
                service=SERVICE_NAME,
                jobs=build_jobs(app, settings),
                enabled=bool(settings.run_scheduler),
            ) as scheduler:
                app.state.scheduler = scheduler
                yield
        finally:
            await worker.stop()

    return create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings,
            title="supportops billing-service",
            description=DESCRIPTION,
            routers=[
                plans_router,
                subscriptions_router,
                invoices_router,
                corrections_router,
                renewals_router,
                webhooks_router,
            ],
            events=events,
            produces=PRODUCES,
            ownership=ownership,
            extra_lifespan=billing_lifespan,
            clock=clock or SystemClock(),
        )
    )
