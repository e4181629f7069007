"""A read-only request runs without a transaction
(docs/decisions/0039-reads-without-a-transaction.md): a ``GET`` sends its statements and
nothing else (no ``BEGIN``/``COMMIT``), on connections where PostgreSQL refuses writes,
so a write reached from a ``GET`` is a problem response and leaves nothing behind;
writes keep their unit of work; ``custom_plans`` still plans a search for its values."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import kitapp
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from servicekit.app import create_service_app
from servicekit.authz import owned
from servicekit.db import Database, custom_plans
from servicekit.deps import SessionDep, WriteSessionDep
from servicekit.testing import auth, count_round_trips, count_statements, topic_prefix

AGENT = auth("agent")
READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction

extra = APIRouter(prefix="/v1")


@extra.get("/writing-get", dependencies=[owned(query={"tenant_id": "tenant"})])
async def writing_get(session: SessionDep, tenant_id: str) -> dict[str, str]:
    """A GET that (wrongly) writes: the read-only connection must refuse it."""
    session.add(kitapp.Item(tenant_id=tenant_id, name="written by a GET"))
    await session.flush()
    return {"written": "yes"}


@extra.get("/counting-get", dependencies=[owned(query={"tenant_id": "tenant"})])
async def counting_get(session: WriteSessionDep, tenant_id: str) -> dict[str, str]:
    """A GET that legitimately writes takes the unit of work explicitly."""
    session.add(kitapp.Item(tenant_id=tenant_id, name="counted view"))
    return {"written": "yes"}


@pytest.fixture
async def client(kit_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = kitapp.KitSettings(
        database_url=kit_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        run_relay=False,
        run_consumers=False,
    )
    defn = kitapp.definition(settings)
    app = create_service_app(dataclasses.replace(defn, routers=[*defn.routers, extra]))
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://kit", timeout=60)
        )


def database_of(client: httpx.AsyncClient) -> Database:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    db = app.state.db
    assert isinstance(db, Database)
    return db


def kinds(trips: list[object]) -> list[str]:
    """Round trips by kind, a statement's first Parse on a connection left out."""
    out = []
    for trip in trips:
        call, query = trip  # type: ignore[misc]
        if call == "prepare":
            continue
        word = query.split(maxsplit=1)[0].rstrip(";").upper()
        out.append(word if word in {"BEGIN", "COMMIT", "ROLLBACK"} else "statement")
    return out


async def create_item(client: httpx.AsyncClient, tenant: str) -> str:
    created = await client.post(
        "/v1/items",
        json={"tenant_id": tenant, "name": "printer"},
        headers={**AGENT, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    item_id: str = created.json()["id"]
    return item_id


async def items_of(db: Database, tenant: str) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.scalars(
            select(kitapp.Item.name).where(kitapp.Item.tenant_id == tenant).order_by("name")
        )
        return list(rows)


async def test_a_get_is_its_statements_and_nothing_else(client: httpx.AsyncClient) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    item_id = await create_item(client, tenant)
    db = database_of(client)
    assert (await client.get(f"/v1/items/{item_id}", headers=AGENT)).status_code == 200
    with count_round_trips() as trips, count_statements(db) as sql:
        got = await client.get(f"/v1/items/{item_id}", headers=AGENT)
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "printer"
    # the ownership check and the read: two statements, two round trips, no BEGIN/COMMIT
    assert kinds(trips) == ["statement"] * len(sql) == ["statement", "statement"], trips

    listed = await client.get(f"/v1/items?tenant_id={tenant}", headers=AGENT)
    with count_round_trips() as trips:
        listed = await client.get(f"/v1/items?tenant_id={tenant}", headers=AGENT)
    assert [i["id"] for i in listed.json()["items"]] == [item_id]
    assert "BEGIN" not in kinds(trips) and "COMMIT" not in kinds(trips), trips


async def test_a_write_keeps_its_transaction(client: httpx.AsyncClient) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await create_item(client, tenant)
    with count_round_trips() as trips:
        await create_item(client, tenant)
    sent = kinds(trips)
    assert sent[0] == "BEGIN" and sent[-1] == "COMMIT", sent
    assert await items_of(database_of(client), tenant) == ["printer", "printer"]


async def test_a_write_on_a_gets_session_is_refused_and_leaves_nothing(
    client: httpx.AsyncClient,
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    got = await client.get(f"/v1/writing-get?tenant_id={tenant}", headers=AGENT)
    assert got.status_code == 500, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    assert "written" not in got.text
    assert await items_of(database_of(client), tenant) == []

    # the route that declares it writes gets the unit of work, and its write commits
    counted = await client.get(f"/v1/counting-get?tenant_id={tenant}", headers=AGENT)
    assert counted.status_code == 200, counted.text
    assert await items_of(database_of(client), tenant) == ["counted view"]


async def test_postgresql_itself_refuses_writes_on_the_read_pool(kit_db_url: str) -> None:
    db = Database(kit_db_url)
    try:
        async with db.read_session() as session:
            with pytest.raises(DBAPIError) as refused:
                await session.execute(
                    text("INSERT INTO items (id, tenant_id, name, rank) VALUES (:i, 't', 'x', 0)"),
                    {"i": uuid.uuid4()},
                )
            assert getattr(refused.value.orig, "sqlstate", None) == READ_ONLY_SQLSTATE
        async with db.read_session() as session:
            # and row locks, which a read-only transaction cannot take either
            with pytest.raises(DBAPIError):
                await session.execute(select(kitapp.Item).with_for_update())
        async with db.read_session() as session:
            # the connection is usable afterwards: autocommit, nothing left open
            assert await session.scalar(select(func.count()).select_from(kitapp.Item)) >= 0
    finally:
        await db.dispose()


async def test_custom_plans_on_a_read_session(kit_db_url: str) -> None:
    db = Database(kit_db_url)
    show = text("SELECT current_setting('plan_cache_mode')")
    try:
        async with db.read_session() as session:
            assert await session.scalar(show) == "auto"  # connected, statement prepared
            with count_round_trips() as trips:
                async with custom_plans(session):
                    inside = await session.scalar(show)
            after = await session.scalar(show)
            # SET LOCAL would be ignored in autocommit: the block gets a transaction of
            # its own, opened with the setting in one round trip
            assert inside == "force_custom_plan"
            assert after == "auto"
            assert kinds(trips) == ["BEGIN", "statement", "COMMIT"], trips

            # a failing statement inside rolls the block back; the session goes on
            with pytest.raises(DBAPIError):
                async with custom_plans(session):
                    await session.execute(text("SELECT 1/0"))
            assert await session.scalar(show) == "auto"

        async with db.unit_of_work() as session, custom_plans(session):
            assert await session.scalar(show) == "force_custom_plan"
    finally:
        await db.dispose()


async def test_the_read_pool_has_its_own_size(kit_db_url: str) -> None:
    db = Database(kit_db_url, pool_size=4, read_pool_size=2)
    try:
        assert db.read_engine.pool.size() == 2  # type: ignore[attr-defined]
        assert db.engine.pool.size() == 4  # type: ignore[attr-defined]
        assert Database(kit_db_url, pool_size=3).read_engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_a_tenant_confined_token_cannot_name_another_tenant_on_either_session(
    client: httpx.AsyncClient,
) -> None:
    """Both routes added here name a tenant id: the ownership check resolves it before the
    endpoint runs, on the read session of a GET and beside the unit of work of a GET
    that writes; another tenant's id is refused and nothing is written for either."""
    mine, theirs = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    await create_item(client, mine)
    await create_item(client, theirs)
    confined = auth("agent", tenant_id=mine)
    db = database_of(client)
    for path in ("/v1/writing-get", "/v1/counting-get"):
        refused = await client.get(f"{path}?tenant_id={theirs}", headers=confined)
        assert refused.status_code in (403, 404), (path, refused.status_code, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert await items_of(db, theirs) == ["printer"]
    assert await items_of(db, mine) == ["printer"]
    # its own tenant goes through the same check to the endpoint
    own = await client.get(f"/v1/counting-get?tenant_id={mine}", headers=confined)
    assert own.status_code == 200, own.text
    assert await items_of(db, mine) == ["counted view", "printer"]
