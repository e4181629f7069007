"""Stale pooled connections are replaced cheaply (docs/decisions/0037-idle-gated-ping.md):
no ping on a connection used moments ago, one round trip on a connection idle past
``DB_PING_IDLE_SECONDS``, none on one whose socket the server already closed; whatever
breaks under a request is a 503 with ``Retry-After`` and the next request succeeds.

The tests that terminate backends or restart PostgreSQL do it on a throwaway cluster
(``throwaway_pg``), never the shared one; the silently dropped connections go through a
TCP relay of this module in front of the shared one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import kitapp
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from throwaway_pg import ThrowawayPostgres, create_kit_schema

from servicekit.app import create_service_app
from servicekit.db import PING_QUERY, Database
from servicekit.testing import (
    auth,
    count_round_trips,
    count_statements,
    eventually,
    topic_prefix,
    unique_name,
)

AGENT = auth("agent")

AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def kit_app() -> AsyncIterator[AppFactory]:
    """Start the kit's test app on a database URL with a given ping threshold (no relay,
    no consumers: only requests use the pool)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(url: str, *, ping_idle_seconds: float = 5.0) -> httpx.AsyncClient:
            settings = kitapp.KitSettings(
                database_url=url,
                kafka_topic_prefix=topic_prefix(),
                environment="test",
                run_relay=False,
                run_consumers=False,
                db_ping_idle_seconds=ping_idle_seconds,
            )
            app = create_service_app(kitapp.definition(settings))
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://kit", timeout=60)
            )

        yield start


def app_of(client: httpx.AsyncClient) -> FastAPI:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    return app


def database_of(client: httpx.AsyncClient) -> Database:
    db = app_of(client).state.db
    assert isinstance(db, Database)
    return db


async def create_item(client: httpx.AsyncClient) -> str:
    created = await client.post(
        "/v1/items",
        json={"tenant_id": "tenant-1", "name": "printer"},
        headers={**AGENT, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    item_id: str = created.json()["id"]
    return item_id


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) > 0


# --- no ping under back-to-back requests -------------------------------------------------


async def test_back_to_back_requests_send_no_ping(kit_app: AppFactory, kit_db_url: str) -> None:
    client = await kit_app(kit_db_url)
    item_id = await create_item(client)
    db = database_of(client)
    # the first read also prepares its statements (one Parse round trip each, once
    # per connection)
    assert (await client.get(f"/v1/items/{item_id}", headers=AGENT)).status_code == 200
    for _ in range(3):
        with count_round_trips() as trips, count_statements(db) as statements:
            got = await client.get(f"/v1/items/{item_id}", headers=AGENT)
        assert got.status_code == 200, got.text
        # the request's statements and nothing else go to PostgreSQL (pool_pre_ping
        # added BEGIN; ";"; ROLLBACK before them; a read has no BEGIN/COMMIT of its
        # own since decision 0039)
        assert statements, "the request reads the item"
        queries = [t.query for t in trips]
        assert queries == [" ".join(s.sql.split()) for s in statements], queries
        assert PING_QUERY not in queries, queries
    # a write: BEGIN, its statements, COMMIT, no ping either
    await create_item(client)
    with count_round_trips() as trips, count_statements(db) as statements:
        await create_item(client)
    queries = [t.query for t in trips if t.call != "prepare"]
    assert len(queries) == len(statements) + 2, queries
    assert queries[0].startswith("BEGIN") and queries[-1].startswith("COMMIT"), queries
    assert PING_QUERY not in queries, queries


async def test_a_connection_idle_past_the_threshold_is_pinged_once(
    kit_app: AppFactory, kit_db_url: str
) -> None:
    # threshold 0: every reused connection has been idle "too long"
    client = await kit_app(kit_db_url, ping_idle_seconds=0)
    item_id = await create_item(client)
    assert (await client.get(f"/v1/items/{item_id}", headers=AGENT)).status_code == 200
    with count_round_trips() as trips, count_statements(database_of(client)) as sql:
        got = await client.get(f"/v1/items/{item_id}", headers=AGENT)
    assert got.status_code == 200, got.text
    # one round trip, no transaction around it; the connection kept (its statements
    # stay prepared)
    queries = [t.query for t in trips]
    assert queries == [PING_QUERY, *(" ".join(s.sql.split()) for s in sql)], queries


# --- connections that went stale while idle ----------------------------------------------


@dataclass
class Flow:
    client_writer: asyncio.StreamWriter
    upstream_writer: asyncio.StreamWriter
    dropped: bool = False


@dataclass
class SilentDropRelay:
    """A TCP relay to PostgreSQL that can forget its flows the way a firewall or a NAT
    forgets an idle connection: PostgreSQL sees the client go, but the client's socket
    stays open and it learns only when it next speaks (the relay then resets it)."""

    target_host: str
    target_port: int
    flows: list[Flow] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for flow in self.flows:
            flow.client_writer.transport.abort()
            flow.upstream_writer.transport.abort()

    def drop_all(self) -> None:
        for flow in self.flows:
            flow.dropped = True
            flow.upstream_writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        flow = Flow(writer, up_writer)
        self.flows.append(flow)
        await asyncio.gather(
            self._pipe(reader, up_writer, flow, to_client=False),
            self._pipe(up_reader, writer, flow, to_client=True),
            return_exceptions=True,
        )

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        target: asyncio.StreamWriter,
        flow: Flow,
        *,
        to_client: bool,
    ) -> None:
        try:
            while data := await source.read(65536):
                if flow.dropped:
                    break
                target.write(data)
                await target.drain()
        finally:
            if not flow.dropped:
                target.close()
            elif not to_client:
                flow.client_writer.transport.abort()  # the client spoke into a dead flow


@pytest.fixture
async def relay(kit_db_url: str) -> AsyncIterator[tuple[SilentDropRelay, str]]:
    """The relay in front of the shared PostgreSQL, and the kit database's URL through it."""
    parts = urlsplit(kit_db_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = SilentDropRelay(parts.hostname, parts.port)
    port = await proxy.start()
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    try:
        yield proxy, urlunsplit(parts._replace(netloc=netloc))
    finally:
        await proxy.stop()


async def test_a_silently_dropped_idle_connection_is_pinged_and_replaced(
    kit_app: AppFactory, relay: tuple[SilentDropRelay, str]
) -> None:
    proxy, url = relay
    client = await kit_app(url, ping_idle_seconds=0)
    item_id = await create_item(client)
    proxy.drop_all()
    # the ping finds the dead connection before the request uses it: no error at all
    for _ in range(3):
        got = await client.get(f"/v1/items/{item_id}", headers=AGENT)
        assert got.status_code == 200, got.text


async def test_a_silently_dropped_connection_used_recently_fails_once_then_recovers(
    kit_app: AppFactory, relay: tuple[SilentDropRelay, str]
) -> None:
    # not idle long enough to be pinged: handled optimistically, as SQLAlchemy
    # documents it, a 503 (never a 500), and the pool replaces the connection
    proxy, url = relay
    client = await kit_app(url, ping_idle_seconds=3600)
    item_id = await create_item(client)
    # the reads' pool holds a connection too (a GET uses it)
    assert (await client.get(f"/v1/items/{item_id}", headers=AGENT)).status_code == 200
    proxy.drop_all()
    assert_unavailable(await client.get(f"/v1/items/{item_id}", headers=AGENT))
    got = await client.get(f"/v1/items/{item_id}", headers=AGENT)
    assert got.status_code == 200, got.text


@pytest.fixture
async def throwaway_db(throwaway_postgres: ThrowawayPostgres) -> str:
    name = unique_name("kit_stale")
    url = await throwaway_postgres.create_database(name)
    await create_kit_schema(url, kitapp.Base.metadata)
    return name


async def backends(cluster: ThrowawayPostgres, database: str) -> list[int]:
    conn = await asyncpg.connect(cluster.url("postgres", driver="postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def grow_pool(client: httpx.AsyncClient, item_id: str) -> None:
    """Several connections in the pool: concurrent requests each check one out."""
    answers = await asyncio.gather(
        *(client.get(f"/v1/items/{item_id}", headers=AGENT) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [200] * 4


async def all_succeed(client: httpx.AsyncClient, item_id: str) -> None:
    # one at a time (the most recently returned connection first), then four at once
    # (every pooled connection checked out)
    for _ in range(3):
        got = await client.get(f"/v1/items/{item_id}", headers=AGENT)
        assert got.status_code == 200, got.text
    answers = await asyncio.gather(
        *(client.get(f"/v1/items/{item_id}", headers=AGENT) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]


@pytest.mark.infra
@pytest.mark.slow
async def test_idle_connections_terminated_by_postgresql_are_replaced_at_checkout(
    kit_app: AppFactory, throwaway_postgres: ThrowawayPostgres, throwaway_db: str
) -> None:
    # a threshold no test reaches: the closed sockets are seen without a ping
    client = await kit_app(throwaway_postgres.url(throwaway_db), ping_idle_seconds=3600)
    item_id = await create_item(client)
    await grow_pool(client, item_id)
    pids = await backends(throwaway_postgres, throwaway_db)
    assert len(pids) >= 2, "the pool holds several connections"
    admin = await asyncpg.connect(throwaway_postgres.url("postgres", driver="postgresql"))
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
    finally:
        await admin.close()

    async def gone() -> None:
        assert not set(pids) & set(await backends(throwaway_postgres, throwaway_db))

    await eventually(gone)
    await all_succeed(client, item_id)


@pytest.mark.infra
@pytest.mark.slow
async def test_idle_connections_survive_a_postgresql_restart(
    kit_app: AppFactory, throwaway_postgres: ThrowawayPostgres, throwaway_db: str
) -> None:
    client = await kit_app(throwaway_postgres.url(throwaway_db), ping_idle_seconds=3600)
    item_id = await create_item(client)
    await grow_pool(client, item_id)
    await asyncio.to_thread(throwaway_postgres.restart_immediate)
    await all_succeed(client, item_id)


@pytest.mark.infra
@pytest.mark.slow
async def test_a_connection_killed_under_a_request_is_a_503_and_the_pool_recovers(
    kit_app: AppFactory, throwaway_postgres: ThrowawayPostgres, throwaway_db: str
) -> None:
    client = await kit_app(throwaway_postgres.url(throwaway_db))
    item_id = await create_item(client)
    # a read's pooled connection exists already (GETs have a pool of their own)
    assert (await client.get("/v1/items", headers=AGENT)).status_code == 200
    locker = await asyncpg.connect(throwaway_postgres.url(throwaway_db, driver="postgresql"))
    try:
        # the request's statement waits on a lock, so its connection is busy when killed
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(client.get("/v1/items", headers=AGENT))

        async def waiting() -> int:
            # pg_stat_activity is read once per transaction unless the snapshot is cleared
            await locker.execute("SELECT pg_stat_clear_snapshot()")
            pid = await locker.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = "
                "'Lock' AND pid <> pg_backend_pid()",
                throwaway_db,
            )
            assert pid is not None, "the request is not waiting on the lock yet"
            return int(pid)

        pid = await eventually(waiting)
        await locker.execute("SELECT pg_terminate_backend($1)", pid)
        assert_unavailable(await request)
        await lock.rollback()
    finally:
        await locker.close()
    await all_succeed(client, item_id)
