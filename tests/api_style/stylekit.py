"""The four services as the API-style suite builds them: each one's ``create_app`` with
its own settings class, in the test environment or a complete production one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from servicekit.settings import ServiceSettings
from servicekit.testing import production_values, topic_prefix
from ticket_service.config import TicketSettings
from ticket_service.main import create_app as ticket_app

_SHARED: dict[str, FastAPI] = {}


@dataclass(frozen=True)
class Service:
    name: str
    settings: type[ServiceSettings]
    create_app: Callable[..., FastAPI]
    package: Any
    events_topic: str

    def shared_test_app(self) -> FastAPI:
        """One test app per service for the whole session, for checks that never start its
        lifespan (building an app and its OpenAPI document takes a second or two)."""
        app = _SHARED.get(self.name)
        if app is None:
            app = _SHARED[self.name] = self.test_app()
        return app

    @property
    def migrations(self) -> Path:
        return Path(self.package.__file__).parent / "migrations"

    def test_app(self, **fields: Any) -> FastAPI:
        values: dict[str, Any] = {"environment": "test", "kafka_topic_prefix": topic_prefix()}
        return self.create_app(self.settings(**{**values, **fields}))

    def production_app(self, **fields: Any) -> FastAPI:
        """Production with every secret set to a real-looking value (no origins unless
        ``fields`` name some)."""
        values = production_values(self.settings)
        return self.create_app(self.settings(**{**values, **fields}))


SERVICES = [
    Service("ticket", TicketSettings, ticket_app, ticket_service, "tickets.events"),
    Service("billing", BillingSettings, billing_app, billing_service, "billing.events"),
    Service(
        "onboarding", OnboardingSettings, onboarding_app, onboarding_service, "onboarding.events"
    ),
    Service(
        "escalation", EscalationSettings, escalation_app, escalation_service, "escalation.events"
    ),
]
IDS = [s.name for s in SERVICES]
