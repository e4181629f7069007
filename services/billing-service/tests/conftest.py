from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from billing_service.config import BillingSettings
from billing_service.main import create_app
from billing_service.models import Base
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

sys.path.insert(0, str(Path(__file__).parent))

from billing_fixtures import ADMIN, BillingApp

MIGRATIONS_DIR = Path(__file__).parents[1] / "src" / "billing_service" / "migrations"


@pytest.fixture(scope="session")
async def billing_db_url() -> AsyncIterator[str]:
    name, url = await migrated_database("billing_test", MIGRATIONS_DIR)
    database = Database(url)
    await truncate_all(database, Base.metadata, kit_metadata)
    await database.dispose()
    yield url
    await drop_database(name)


@pytest.fixture(scope="module")
async def billing(billing_db_url: str) -> AsyncIterator[BillingApp]:
    """One app per test module (own topic prefix); tests isolate by unique tenant ids."""
    settings = BillingSettings(
        database_url=billing_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        webhook_worker_poll_seconds=0.1,
        relay_poll_interval_seconds=0.1,
    )
    clock = TestClock(datetime.now(UTC))
    app = create_app(settings, clock=clock)
    async with app_client(app) as client:
        yield BillingApp(app=app, client=client, clock=clock, settings=settings, db=app.state.db)


@pytest.fixture(scope="module")
async def plan(billing: BillingApp) -> dict[str, Any]:
    code = f"team-{uuid.uuid4().hex[:6]}"
    response = await billing.client.post(
        "/v1/plans",
        json={
            "code": code,
            "name": "Team",
            "tier": "team",
            "unit_amount": 1500,
            "currency": "usd",
            "interval": "month",
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
