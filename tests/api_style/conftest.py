"""Fixtures of the API-style suite: the four apps running, each on its own migrated
database (opskit.py); the harness and ``scripts`` on the import path."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # scripts.operation_ids

from opskit import SERVICES, Running, operations

from servicekit.testing import app_client, drop_database, migrated_database


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def services() -> AsyncIterator[dict[str, Running]]:
    """The four apps running (lifespan included) on fresh migrated databases."""
    running: dict[str, Running] = {}
    databases: list[str] = []
    async with AsyncExitStack() as stack:
        try:
            for name, (package, make) in SERVICES.items():
                database, url = await migrated_database(
                    f"style_{name.split('-')[0]}", Path(package.__file__).parent / "migrations"
                )
                databases.append(database)
                app = make(url)
                client = await stack.enter_async_context(app_client(app))
                running[name] = Running(app, client, operations(name, app))
            yield running
        finally:
            await stack.aclose()
            for database in databases:
                await drop_database(database)
