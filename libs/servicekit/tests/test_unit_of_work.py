"""One commit per request; a failing request leaves nothing half-written."""

from __future__ import annotations

import httpx
import kitapp
import pytest
from sqlalchemy import func, select

from servicekit.db import Database
from servicekit.testing import auth


async def count_items(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(kitapp.Item)) or 0)


async def test_failed_request_rolls_back_its_flushed_write(
    client: httpx.AsyncClient, db: Database
) -> None:
    resp = await client.post(
        "/v1/items/fail-after-write", json={"tenant_id": "t", "name": "x"}, headers=auth("agent")
    )
    assert resp.status_code == 404
    assert await count_items(db) == 0


async def test_successful_request_commits_once_before_responding(
    client: httpx.AsyncClient, db: Database
) -> None:
    resp = await client.post(
        "/v1/items", json={"tenant_id": "t", "name": "x"}, headers=auth("agent")
    )
    assert resp.status_code == 201
    # visible from another connection as soon as the response arrived
    assert await count_items(db) == 1


async def test_unit_of_work_rolls_back_on_error_and_commits_on_success(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            session.add(kitapp.Item(tenant_id="t", name="lost"))
            await session.flush()
            raise RuntimeError("boom")
    assert await count_items(db) == 0
    async with db.unit_of_work() as session:
        session.add(kitapp.Item(tenant_id="t", name="kept"))
    assert await count_items(db) == 1
