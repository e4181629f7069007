"""Helpers for tests on the real PostgreSQL and Kafka: databases, tokens, topics.

One broker and one PostgreSQL serve the whole run; isolation comes from a database per
test session (truncated between tests) and a topic prefix per test.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import asyncpg
import asyncpg.connection
import asyncpg.prepared_stmt
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.auth import mint_token
from servicekit.db import Database
from servicekit.localstack import default_database_url, default_kafka_bootstrap
from servicekit.settings import DEV_JWT_SECRET
from supportops_events import Envelope, Event, EventDecodeError, UnknownEventType

T = TypeVar("T")
E = TypeVar("E", bound=Event)

# The local stack's addresses (SUPPORTOPS_PG_PORT / SUPPORTOPS_KAFKA_PORT), unless given.
PG_ADMIN_URL = os.environ.get("SUPPORTOPS_PG_ADMIN_URL") or default_database_url(
    "postgres", driver="postgresql"
)
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or default_kafka_bootstrap()


def asyncpg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


def sqlalchemy_url(database: str) -> str:
    return asyncpg_url(database).replace("postgresql://", "postgresql+asyncpg://", 1)


async def create_database(name: str) -> str:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return sqlalchemy_url(name)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def free_ports(count: int) -> list[int]:
    """``count`` distinct local ports nobody listens on now: all are held open together
    while chosen, so the kernel cannot hand the same one out twice (probing one at a time
    can, and two services of one stack once got the same port)."""
    import socket

    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def truncate_all(db: Database, *metadatas: MetaData) -> None:
    names = sorted({t.name for m in metadatas for t in m.sorted_tables})
    if not names:
        return
    async with db.engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")
        )


def token(
    *roles: str, tenant_id: str | None = None, subject: str | None = None, **kwargs: Any
) -> str:
    return mint_token(
        secret=DEV_JWT_SECRET,
        roles=roles or ("agent",),
        tenant_id=tenant_id,
        subject=subject,
        **kwargs,
    )


def auth(*roles: str, tenant_id: str | None = None, subject: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, tenant_id=tenant_id, subject=subject)}"}


# Every prefix handed out in this process, so the session can delete its topics at the end
# (see ``delete_issued_topics``): a broker that keeps every test's topics runs out of file
# descriptors after a few full runs (each partition holds open files; the local broker's
# limit is the container's 20,000).
_ISSUED_PREFIXES: set[str] = set()


_REAL = "7c1f9a3e5b2d48c6a0e9f1b3d5c7a9e2"  # a value no placeholder check refuses


def production_values(settings_class: type[Any]) -> dict[str, Any]:
    """Real-looking values for everything production insists on (``secret_fields`` and
    ``production_fields`` of ``settings_class``), for tests that build a production
    app: ``Settings(**production_values(Settings), cors_origins=...)``."""
    values: dict[str, Any] = {"environment": "production"}
    for name in sorted(settings_class.secret_fields):
        values[name] = (
            f"postgresql+asyncpg://svc:{_REAL}@db.internal:5432/svc"
            if name == "database_url"
            else f"{name}-{_REAL}"
        )
    endpoints = {
        "kafka_bootstrap_servers": "kafka-0.kafka.internal:9093",
        "smtp_url": "smtp://relay.internal:587?starttls=true",
        "mail_from": "Support <support@vendor.example>",
    }
    for name in sorted(settings_class.production_fields):
        values[name] = endpoints.get(name, f"{name}-{_REAL}")
    return values


def topic_prefix() -> str:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    _ISSUED_PREFIXES.add(prefix)
    return prefix


async def delete_issued_topics(*, bootstrap_servers: str = KAFKA_BOOTSTRAP) -> int:
    """Delete the topics under every prefix ``topic_prefix`` issued in this process; returns
    how many. Meant for the end of a test session (the root ``conftest.py``), never
    mid-session: a test may stop an app and start another on the same prefix, expecting
    the first one's events to still be there."""
    from aiokafka.admin import AIOKafkaAdminClient

    if not _ISSUED_PREFIXES:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    await admin.start()
    try:
        prefixes = tuple(_ISSUED_PREFIXES)
        doomed = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        for start in range(0, len(doomed), 500):
            await admin.delete_topics(doomed[start : start + 500])
        _ISSUED_PREFIXES.clear()
        return len(doomed)
    finally:
        await admin.close()


async def read_topic(
    topic: str,
    *,
    until: Callable[[list[Envelope]], bool],
    timeout: float = 20.0,
    bootstrap_servers: str = KAFKA_BOOTSTRAP,
) -> list[Envelope]:
    """Read a topic from the beginning with a plain consumer (no group) until ``until``
    holds for what was read, or the timeout passes; returns what was read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    read: list[Envelope] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        partitions: set[int] | None = None
        while partitions is None:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()
                if asyncio.get_running_loop().time() > deadline:
                    return read
                await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not until(read) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(*tps, timeout_ms=200)
            for records in batch.values():
                for record in records:
                    try:
                        read.append(
                            Envelope.from_kafka(
                                headers=[(k, bytes(v)) for k, v in record.headers],
                                value=record.value or b"",
                            )
                        )
                    except (UnknownEventType, EventDecodeError):
                        continue
        return read
    finally:
        await consumer.stop()


def of_types(envelopes: Iterable[Envelope], *types: str) -> list[Envelope]:
    return [e for e in envelopes if e.type in types]


async def migrated_database(prefix: str, migrations_dir: Path) -> tuple[str, str]:
    """A new database with a service's migrations applied: returns (name, sqlalchemy url)."""
    from servicekit.migrations import upgrade

    name = unique_name(prefix)
    url = await create_database(name)
    await asyncio.to_thread(upgrade, migrations_dir.parent, url)
    return name, url


@asynccontextmanager
async def app_client(
    app: FastAPI, base_url: str = "http://test"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (relay and consumers included), and a client."""
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def send_events(
    events: Iterable[Event | Envelope],
    *,
    prefix: str,
    source: str = "test",
    bootstrap_servers: str = KAFKA_BOOTSTRAP,
) -> list[Envelope]:
    """Put events on their topics (under ``prefix``) as another service's relay would."""
    from servicekit.kafka import client_options, ensure_topics, make_producer

    envelopes = [e if isinstance(e, Envelope) else Envelope.new(e, source=source) for e in events]
    options = client_options(bootstrap_servers)
    await ensure_topics(options, {prefix + e.topic for e in envelopes}, partitions=3)
    producer = make_producer(options)
    await producer.start()
    try:
        for envelope in envelopes:
            record = envelope.to_kafka()
            await producer.send_and_wait(
                prefix + record.topic, value=record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()
    return envelopes


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
) -> T:
    """Retry ``check`` until it returns without raising AssertionError (or time runs out)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(interval)


def sync_dependencies(app: FastAPI) -> list[str]:
    """Every plain ``def`` dependency: FastAPI runs each in a thread pool per request."""
    found: list[str] = []

    def walk(dependant: Dependant) -> None:
        for sub in dependant.dependencies:
            call = sub.call
            if call is not None and not (
                inspect.iscoroutinefunction(call)
                or inspect.isasyncgenfunction(call)
                or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
            ):
                found.append(getattr(call, "__qualname__", repr(call)))
            walk(sub)

    # every route as served, those of included routers too (FastAPI 0.165 keeps an
    # included router as one entry of ``app.routes``)
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            walk(context.dependant)
    return sorted(set(found))


class Statement(NamedTuple):
    sql: str
    parameters: Any


_statement_sink: ContextVar[list[Statement] | None] = ContextVar("statement_sink", default=None)


def _record_statement(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    sink = _statement_sink.get()
    if sink is not None:
        sink.append(Statement(statement, parameters))


@contextmanager
def count_statements(engine: AsyncEngine | Database) -> Iterator[list[Statement]]:
    """The SQL statements (with their parameters) the current task, and what it awaits
    (e.g. an in-process ASGI request), sends through ``engine`` inside the block; a
    background task's (relay, consumers) are not counted. An ``executemany`` is one
    statement, as it is one round trip of insertmanyvalues. Given a ``Database``, both
    its pools: the unit of work's and the reads' (a GET's statements)."""
    engines = [engine.engine, engine.read_engine] if isinstance(engine, Database) else [engine]
    for one in engines:
        if not event.contains(one.sync_engine, "before_cursor_execute", _record_statement):
            event.listen(one.sync_engine, "before_cursor_execute", _record_statement)
    sink: list[Statement] = []
    token = _statement_sink.set(sink)
    try:
        yield sink
    finally:
        _statement_sink.reset(token)


class RoundTrip(NamedTuple):
    call: str
    """The asyncpg call: ``execute`` (BEGIN, COMMIT, a simple-protocol ping…), ``prepare``
    (the Parse of a statement new to the connection), ``fetch``…"""
    query: str
    """The query sent, whitespace collapsed."""


_round_trip_sink: ContextVar[list[RoundTrip] | None] = ContextVar("round_trip_sink", default=None)

# asyncpg's public calls that each send one request and wait for PostgreSQL's answer
# (one round trip). BEGIN, COMMIT, ROLLBACK and simple-protocol pings go through
# ``Connection.execute``; SQLAlchemy's statements through its cached
# ``PreparedStatement``s (``Connection.prepare`` is the Parse of a new one).
_ROUND_TRIP_METHODS: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (
        asyncpg.connection.Connection,
        ("execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare"),
    ),
    (asyncpg.prepared_stmt.PreparedStatement, ("fetch", "fetchrow", "fetchval", "executemany")),
)


def _counting(method: Callable[..., Awaitable[Any]], prepared: bool) -> Callable[..., Any]:
    @functools.wraps(method)
    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _round_trip_sink.get()
        if sink is not None:
            query = self.get_query() if prepared else (args[0] if args else kwargs.get("query"))
            sink.append(RoundTrip(method.__name__, " ".join(str(query).split())))
        return await method(self, *args, **kwargs)

    counted.__servicekit_round_trip__ = True  # type: ignore[attr-defined]
    return counted


def _install_round_trip_counter() -> None:
    for cls, names in _ROUND_TRIP_METHODS:
        prepared = cls is asyncpg.prepared_stmt.PreparedStatement
        for name in names:
            method = getattr(cls, name)
            if not getattr(method, "__servicekit_round_trip__", False):
                setattr(cls, name, _counting(method, prepared))


@contextmanager
def count_round_trips() -> Iterator[list[RoundTrip]]:
    """The requests the current task (and what it awaits, e.g. an in-process ASGI
    request) sends to PostgreSQL through asyncpg inside the block, one entry per round
    trip: ``BEGIN`` / a statement / ``COMMIT``, pings included (which
    ``count_statements`` does not see). SQLAlchemy prepares each statement once per
    connection (a ``prepare`` entry before its first ``fetch``); a Parse that asyncpg's
    own statement cache does internally for a first ``Connection.fetch*`` of a query is
    not counted. Installs counting wrappers on asyncpg's classes on first use (for the
    process; they record only inside this block)."""
    _install_round_trip_counter()
    sink: list[RoundTrip] = []
    token = _round_trip_sink.set(sink)
    try:
        yield sink
    finally:
        _round_trip_sink.reset(token)


async def deliver(app: FastAPI, *events: Event | Envelope, source: str = "test") -> None:
    """Apply events with the app's own handlers in one unit of work, as its consumer would
    (no Kafka, no inbox): the quick way to give a service's read models a state. The app's
    lifespan must be running."""
    router = app.state.kafka.defn.events
    db: Database = app.state.db
    async with db.unit_of_work() as session:
        for event in events:
            envelope = event if isinstance(event, Envelope) else Envelope.new(event, source=source)
            await router.handlers[envelope.type](session, envelope)


async def known_tenant(
    app: FastAPI,
    tenant_id: str | None = None,
    *,
    event_type: str = "tenant.activated",
    **fields: Any,
) -> str:
    """A tenant the app knows, as if onboarding's ``tenant.activated`` had been consumed
    (``tenant.activated`` rather than ``tenant.created``: billing answers the latter with
    a subscription request of its own).

    Every ``tenant_id`` a request names must be a known tenant (docs/security.md), so
    tests that invent tenants make them with this."""
    from supportops_events.samples import sample

    tenant_id = tenant_id or str(uuid.uuid4())
    await deliver(app, sample(event_type, tenant_id=tenant_id, **fields))
    return tenant_id


class TestClock:
    """The one test clock: a fixed, timezone-aware UTC instant that the test moves.

    Satisfies ``servicekit.clock.Clock`` (``now()``) and is callable like the old
    function-shaped clocks. Put it in ``ServiceDefinition.clock`` or ``app.state.clock``.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, at: datetime) -> None:
        self._at = self._utc(at)

    @staticmethod
    def _utc(at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("TestClock needs a timezone-aware datetime (UTC)")
        return at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def __call__(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = self._utc(at)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new now."""
        step = (delta or timedelta()) + timedelta(**kwargs)
        self._at += step
        return self._at


def payload(envelope: Envelope, model: type[E]) -> E:
    """``envelope.data`` as ``model``, asserted: typed access in tests, no ``type: ignore``."""
    data = envelope.data
    assert isinstance(data, model), f"{envelope.type} carries {type(data).__name__}, not {model}"
    return data


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn server on a free local port, its lifespan included;
    yields the base URL. For streaming responses (``GET /v1/events``): httpx's in-process
    ``ASGITransport`` returns a response only once its body is complete."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", timeout_graceful_shutdown=5, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="served-app")
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not server.started:
            if task.done():
                task.result()  # raises what made the start-up fail
                raise RuntimeError("the server stopped while starting")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the app did not start within 60 s")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        # should_exit, not handle_exit: sse-starlette hooks the latter into a process-wide
        # "shutting down" flag that would end every later test's streams
        server.should_exit = True
        await task
        sock.close()


class SseMessage(NamedTuple):
    """One server-sent event as a browser's ``EventSource`` would dispatch it, or a
    comment (``event`` ``""``, the comment text in ``comment``)."""

    event: str
    data: str
    id: str | None
    comment: str | None = None


class SseReader:
    """Reads messages of an ``httpx`` streaming response one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, *, timeout: float = 20.0) -> SseMessage:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SseMessage:
        event, ident, comment = "", None, None
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data or event or ident is not None:
                    return SseMessage(event or "message", "\n".join(data), ident)
                if comment is not None:
                    return SseMessage("", "", None, comment)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                comment = value
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                ident = value
        raise EOFError("the stream ended")

    async def next_event(self, *, timeout: float = 20.0) -> SseMessage:
        """The next message that is not a comment (heartbeats and ``connected`` skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await self.next(timeout=max(remaining, 0.01))
            if message.event:
                return message
