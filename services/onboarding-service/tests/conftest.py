"""Fixtures of the onboarding-service tests: one migrated database and one running app
(with its relay and consumers) per session; tests isolate by creating their own tenants."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from onboarding_service.config import OnboardingSettings
from onboarding_service.main import create_app
from onboarding_service.models import Base
from servicekit.db import Database
from servicekit.outbox import SOURCE_INFO_KEY
from servicekit.tables import kit_metadata

sys.path.insert(0, str(Path(__file__).parent))

from onboarding_fixtures import OPERATOR, KnownCodes, tenant_body

from servicekit.testing import (
    TestClock,
    app_client,
    drop_database,
    migrated_database,
    read_topic,
    topic_prefix,
    truncate_all,
)
from supportops_events import Envelope

MIGRATIONS_DIR = Path(__file__).parents[1] / "src" / "onboarding_service" / "migrations"


@pytest.fixture(scope="session")
async def onboarding_db_url() -> AsyncIterator[str]:
    name, url = await migrated_database("onboarding_test", MIGRATIONS_DIR)
    db = Database(url)
    await truncate_all(db, Base.metadata, kit_metadata)
    await db.dispose()
    yield url
    await drop_database(name)


@pytest.fixture(scope="session")
def onboarding_settings(onboarding_db_url: str) -> OnboardingSettings:
    return OnboardingSettings(
        database_url=onboarding_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        relay_poll_interval_seconds=0.2,
    )


@pytest.fixture(scope="session")
def clock() -> TestClock:
    """The app's clock (``servicekit.testing.TestClock``): it stands still until a test
    moves it."""
    return TestClock(datetime.now(UTC))


@pytest.fixture(autouse=True)
def _clock_at_the_present(clock: TestClock) -> None:
    """Each test starts at the wall clock's present (what a test before it moved is undone)."""
    clock.set(datetime.now(UTC))


@pytest.fixture(scope="session")
def codes() -> KnownCodes:
    return KnownCodes()


@pytest.fixture(scope="session")
async def client(
    onboarding_settings: OnboardingSettings, clock: TestClock, codes: KnownCodes
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(onboarding_settings, clock=clock, codes=codes)) as c:
        yield c


@pytest.fixture
async def db(onboarding_db_url: str) -> AsyncIterator[Database]:
    database = Database(onboarding_db_url)
    database.sessionmaker.configure(info={SOURCE_INFO_KEY: "onboarding-service"})
    yield database
    await database.dispose()


@pytest.fixture
def new_tenant(client: httpx.AsyncClient) -> Callable[..., Any]:
    async def create(**overrides: Any) -> dict[str, Any]:
        response = await client.post("/v1/tenants", json=tenant_body(**overrides), headers=OPERATOR)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return create


@pytest.fixture
def published(onboarding_settings: OnboardingSettings) -> Callable[..., Any]:
    """Events this service published for one tenant, waiting until ``types`` are there."""

    async def read(tenant_id: str, *types: str, count: int = 1) -> list[Envelope]:
        def enough(envelopes: list[Envelope]) -> bool:
            mine = [e for e in envelopes if e.tenant_id == tenant_id]
            return all(sum(1 for e in mine if e.type == t) >= count for t in types)

        envelopes = await read_topic(
            onboarding_settings.kafka_topic_prefix + "onboarding.events", until=enough
        )
        mine = [e for e in envelopes if e.tenant_id == tenant_id]
        assert enough(envelopes), [e.type for e in mine]
        return mine

    return read
