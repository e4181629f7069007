"""Fixtures of the escalation-service tests: one migrated database, one app per module."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from escalation_fixtures import START, Running, announcing

import escalation_service
from escalation_service.config import EscalationSettings
from escalation_service.main import create_app
from escalation_service.models import Base
from servicekit.db import Database
from servicekit.tables import kit_metadata
from servicekit.testing import (
    TestClock,
    app_client,
    drop_database,
    migrated_database,
    topic_prefix,
    truncate_all,
)

MIGRATIONS_DIR = Path(escalation_service.__file__).parent / "migrations"


@pytest.fixture(scope="session")
async def escalation_db() -> AsyncIterator[str]:
    name, url = await migrated_database("escalation_test", MIGRATIONS_DIR)
    yield url
    await drop_database(name)


def make_settings(url: str, **overrides: object) -> EscalationSettings:
    return EscalationSettings(
        database_url=url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        relay_poll_interval_seconds=0.1,
        **overrides,
    )


@pytest.fixture(scope="module")
async def running(escalation_db: str) -> AsyncIterator[Running]:
    settings = make_settings(escalation_db)
    clock = TestClock(START)
    app = create_app(settings, clock=clock)
    async with app_client(app) as client:
        client.event_hooks["request"].append(announcing(app))
        yield Running(client, settings, clock, settings.kafka_topic_prefix, app)


@pytest.fixture(autouse=True)
async def clean_tables(escalation_db: str) -> None:
    db = Database(escalation_db)
    try:
        await truncate_all(db, Base.metadata, kit_metadata)
    finally:
        await db.dispose()
