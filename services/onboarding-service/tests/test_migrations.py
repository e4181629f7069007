"""The migrations build exactly the tables the ORM models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from onboarding_service.models import Base
from servicekit.db import Database


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    # the kit's tables (outbox, inbox, idempotency keys) have their own metadata
    return type_ != "table" or name in Base.metadata.tables


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"include_name": _ours, "compare_type": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(onboarding_db_url: str) -> None:
    db = Database(onboarding_db_url)
    try:
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await db.dispose()
    assert differences == []
