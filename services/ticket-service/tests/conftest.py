"""Fixtures of the ticket-service tests: one migrated database per session, one app
(with its relay and consumers) per test module, data isolated by unique tenant ids."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from servicekit.testing import app_client, drop_database, migrated_database, topic_prefix
from ticket_service.config import TicketSettings
from ticket_service.main import create_app

sys.path.insert(0, str(Path(__file__).parent))

from ticket_service_testkit import Service

MIGRATIONS_DIR = Path(__file__).parents[1] / "src" / "ticket_service" / "migrations"


@pytest.fixture(scope="session")
async def ticket_db_url() -> AsyncIterator[str]:
    name, url = await migrated_database("ticket_test", MIGRATIONS_DIR)
    yield url
    await drop_database(name)


@pytest.fixture(scope="module")
async def svc(ticket_db_url: str) -> AsyncIterator[Service]:
    settings = TicketSettings(
        database_url=ticket_db_url, kafka_topic_prefix=topic_prefix(), environment="test"
    )
    app = create_app(settings)
    async with app_client(app) as client:
        yield Service(client=client, app=app, prefix=settings.kafka_topic_prefix, settings=settings)
