"""The billing-service app: ``create_app()`` for uvicorn (``--factory``)."""

from __future__ import annotations

from fastapi import FastAPI

from billing_service.config import BillingSettings
from billing_service.consumers import events
from servicekit.app import ServiceDefinition, create_service_app

DESCRIPTION = (
    "plans, subscriptions, invoices, Stripe webhooks, renewals, refunds, credits, "
    "disputes and dunning"
)
SERVICE_NAME = "billing-service"
PRODUCES = ["billing.events"]


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceDefinition(
            name=SERVICE_NAME,
            settings=settings or BillingSettings(),
            title="supportops billing-service",
            description=DESCRIPTION,
            routers=[],
            events=events,
            produces=PRODUCES,
        )
    )
