"""The operation-enumerating API-style harness: the four apps (relay and consumers off:
only HTTP behaviour is asserted) and their operations read from each app's OpenAPI
document, so a new endpoint is covered as soon as it exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

import billing_service
import escalation_service
import onboarding_service
import ticket_service
from billing_service.config import BillingSettings
from billing_service.main import create_app as billing_app
from escalation_service.config import EscalationSettings
from escalation_service.main import create_app as escalation_app
from onboarding_service.config import OnboardingSettings
from onboarding_service.main import create_app as onboarding_app
from servicekit.testing import topic_prefix
from ticket_service.config import TicketSettings
from ticket_service.main import create_app as ticket_app

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _settings(cls: type[Any], url: str) -> Any:
    return cls(
        database_url=url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        run_relay=False,
        run_consumers=False,
    )


SERVICES: dict[str, tuple[Any, Callable[[str], FastAPI]]] = {
    "ticket-service": (ticket_service, lambda u: ticket_app(_settings(TicketSettings, u))),
    "billing-service": (billing_service, lambda u: billing_app(_settings(BillingSettings, u))),
    "onboarding-service": (
        onboarding_service,
        lambda u: onboarding_app(_settings(OnboardingSettings, u)),
    ),
    "escalation-service": (
        escalation_service,
        lambda u: escalation_app(_settings(EscalationSettings, u)),
    ),
}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    spec: dict[str, Any]
    document: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.service} {self.method.upper()} {self.path}"

    def url(self) -> str:
        """The path with every parameter filled (a well-formed uuid or a word)."""
        url = self.path
        for param in self.spec.get("parameters", []):
            if param["in"] == "path":
                schema = param.get("schema", {})
                value = "00000000-0000-4000-8000-000000000000"
                if schema.get("type") == "integer":
                    value = "1"
                elif schema.get("format") != "uuid":
                    value = "x"
                url = url.replace("{" + param["name"] + "}", value)
        return url

    def params(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def json_body(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        return content.get("application/json", {}).get("schema")


def operations(service: str, app: FastAPI) -> list[Operation]:
    document = app.openapi()
    return [
        Operation(service, method, path, spec, document)
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in HTTP_METHODS
    ]


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    operations: list[Operation]
