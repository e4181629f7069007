from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit.app import create_service_app
from servicekit.db import Database
from servicekit.tables import kit_metadata
from servicekit.telemetry import setup_tracing
from servicekit.testing import (
    create_database,
    drop_database,
    topic_prefix,
    truncate_all,
    unique_name,
)

sys.path.insert(0, str(Path(__file__).parent))

import kitapp
import throwaway_pg

SPANS = InMemorySpanExporter()


@pytest.fixture(scope="session", autouse=True)
def tracing() -> InMemorySpanExporter:
    setup_tracing("kit-test", exporter=SPANS)
    return SPANS


@pytest.fixture(scope="session")
async def kit_db_url() -> AsyncIterator[str]:
    name = unique_name("kit_test")
    url = await create_database(name)
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
        await conn.run_sync(kitapp.Base.metadata.create_all)
    # the NOTIFY trigger lives in the migration helper; install it here too
    from sqlalchemy import text

    from servicekit.tables import NOTIFY_FUNCTION_SQL, NOTIFY_TRIGGER_SQL

    async with db.engine.begin() as conn:
        await conn.execute(text(NOTIFY_FUNCTION_SQL))
        await conn.execute(text(NOTIFY_TRIGGER_SQL))
    await db.dispose()
    yield url
    await drop_database(name)


@pytest.fixture
async def db(kit_db_url: str) -> AsyncIterator[Database]:
    database = Database(kit_db_url)
    await truncate_all(database, kit_metadata, kitapp.Base.metadata)
    yield database
    await database.dispose()


@pytest.fixture
def settings(kit_db_url: str) -> kitapp.KitSettings:
    return kitapp.KitSettings(
        database_url=kit_db_url, kafka_topic_prefix=topic_prefix(), environment="test"
    )


@pytest.fixture
async def app(db: Database, settings: kitapp.KitSettings) -> AsyncIterator[FastAPI]:
    application = create_service_app(kitapp.definition(settings))
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as c:
        yield c


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[throwaway_pg.ThrowawayPostgres]:
    """Our own PostgreSQL on a free port, for tests that crash or stop it (never the
    shared one). Started once, on first use (~10 s)."""
    cluster = throwaway_pg.start_throwaway()
    try:
        yield cluster
    finally:
        throwaway_pg.stop_throwaway(cluster)
