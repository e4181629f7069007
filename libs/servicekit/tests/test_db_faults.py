"""PostgreSQL crashing or refusing connections while writes and events flow, on a
throwaway cluster (``throwaway_pg``; the shared one is never touched): no acknowledged
write lost, no event on Kafka without its outbox row, no consumed event missing from the
inbox, nothing dead-lettered for an outage, and requests meanwhile answer 503."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import kitapp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select
from throwaway_pg import ThrowawayPostgres, create_kit_schema

from servicekit.app import create_service_app
from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.kafka import client_options, ensure_topics, make_producer
from servicekit.outbox import publish
from servicekit.tables import inbox, outbox
from servicekit.testing import KAFKA_BOOTSTRAP, auth, eventually, topic_prefix, unique_name

pytestmark = [pytest.mark.infra, pytest.mark.slow]

TOPIC = "tickets.events"
GROUP = "kit-faults"


@dataclass
class Stack:
    cluster: ThrowawayPostgres
    database: str
    db: Database
    prefix: str
    options: dict[str, Any]
    producer: AIOKafkaProducer
    app: FastAPI
    client: httpx.AsyncClient
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.prefix + TOPIC

    @property
    def dlq(self) -> str:
        return self.prefix + f"{GROUP}.dlq"

    def consumer(self) -> EventConsumer:
        return EventConsumer(
            db=self.db,
            router=kitapp.effect_router(),
            group_id=GROUP,
            kafka_options=self.options,
            dlq_producer=self.producer,
            topic_prefix=self.prefix,
            retry_backoff=0.05,
            max_backoff=0.5,
            max_retries=2,
        )


@pytest.fixture
async def stack(throwaway_postgres: ThrowawayPostgres) -> AsyncIterator[Stack]:
    name = unique_name("kit_faults")
    url = await throwaway_postgres.create_database(name)
    await create_kit_schema(url, kitapp.Base.metadata)
    prefix = topic_prefix()
    options = client_options(KAFKA_BOOTSTRAP)
    await ensure_topics(options, [prefix + TOPIC, prefix + f"{GROUP}.dlq"], partitions=3)
    producer = make_producer(options)
    await producer.start()
    settings = kitapp.KitSettings(
        database_url=url,
        kafka_topic_prefix=prefix,
        environment="test",
        relay_poll_interval_seconds=0.2,
    )
    app = create_service_app(kitapp.definition(settings))
    db = Database(url)
    try:
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=60):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://kit", timeout=60
            ) as client:
                yield Stack(throwaway_postgres, name, db, prefix, options, producer, app, client)
    finally:
        await producer.stop()
        await db.dispose()


async def run_consumer(consumer: EventConsumer) -> asyncio.Task[None]:
    return asyncio.create_task(consumer.run())


async def stop_consumer(consumer: EventConsumer, task: asyncio.Task[None]) -> None:
    consumer.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 20)


async def read_all(stack: Stack, topic: str) -> list[Any]:
    """Every record on the topic up to its current end offsets."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=KAFKA_BOOTSTRAP,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topic)
        if not partitions:
            await reader._client.force_metadata_update()
            partitions = reader.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        ends = await reader.end_offsets(tps)
        records: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 30
        while [tp for tp in tps if await reader.position(tp) < ends[tp]]:
            assert asyncio.get_running_loop().time() < deadline, "could not read the topic"
            batch = await reader.getmany(*tps, timeout_ms=200)
            for chunk in batch.values():
                records.extend(chunk)
        return records
    finally:
        await reader.stop()


def event_id(record: Any) -> str:
    return dict(record.headers)["ce_id"].decode()


async def outbox_state(stack: Stack) -> tuple[set[str], int]:
    async with stack.db.engine.connect() as conn:
        ids = set((await conn.execute(select(outbox.c.event_id))).scalars())
        pending = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    return ids, int(pending or 0)


async def effect_ids(stack: Stack) -> list[str]:
    async with stack.db.engine.connect() as conn:
        return list((await conn.execute(select(kitapp.Effect.event_id))).scalars())


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["type"].endswith("/unavailable")


async def test_crash_loses_no_acknowledged_write_and_invents_no_event(stack: Stack) -> None:
    consumer = stack.consumer()
    consumer_task = await run_consumer(consumer)
    acked_items: list[str] = []
    acked_events: list[str] = []
    refused: list[int] = []
    done = asyncio.Event()

    async def writer(tenant: int) -> None:
        seq = 0
        while not done.is_set():
            seq += 1
            try:
                if seq % 2:
                    response = await stack.client.post(
                        "/v1/items",
                        json={"tenant_id": f"tenant-{tenant}", "name": f"item-{seq}"},
                        headers={**auth("agent"), "Idempotency-Key": str(uuid.uuid4())},
                    )
                else:
                    response = await stack.client.post(
                        "/v1/items/with-event",
                        json={"tenant_id": f"tenant-{tenant}", "seq": seq},
                        headers=auth("agent"),
                    )
            except httpx.HTTPError:
                continue  # not acknowledged: whatever happened to it is allowed
            if response.status_code == 201:
                acked_items.append(response.json()["id"])
            elif response.status_code == 202:
                acked_events.append(response.json()["event_id"])
            else:
                refused.append(response.status_code)

    async def acknowledged(at_least: int) -> None:
        assert len(acked_items) + len(acked_events) >= at_least

    writers = [asyncio.create_task(writer(t)) for t in range(4)]
    try:
        await eventually(lambda: acknowledged(150), timeout=60)
        await asyncio.to_thread(stack.cluster.restart_immediate)
        crashed_at = len(acked_items) + len(acked_events)
        await eventually(lambda: acknowledged(crashed_at + 150), timeout=90)
    finally:
        done.set()
        await asyncio.gather(*writers, return_exceptions=True)

    # Every acknowledged write is there.
    async with stack.db.engine.connect() as conn:
        items = {str(i) for i in (await conn.execute(select(kitapp.Item.id))).scalars()}
    assert set(acked_items) <= items, f"{len(set(acked_items) - items)} acknowledged writes lost"
    assert all(status == 503 for status in refused), refused

    # Every acknowledged event is in the outbox, and the relay publishes them all.
    async def drained() -> set[str]:
        ids, pending = await outbox_state(stack)
        assert pending == 0
        return ids

    outbox_ids = await eventually(drained, timeout=60)
    assert set(acked_events) <= outbox_ids, "acknowledged events lost from the outbox"

    # No phantom: every record on Kafka has its outbox row.
    on_kafka = {event_id(r) for r in await read_all(stack, stack.topic)}
    assert on_kafka <= outbox_ids, (
        f"{len(on_kafka - outbox_ids)} events on Kafka with no outbox row"
    )
    assert outbox_ids <= on_kafka

    # Nothing dropped from the inbox: every event gets its effect, once.
    async def all_applied() -> list[str]:
        ids = await effect_ids(stack)
        assert set(ids) >= on_kafka, f"{len(on_kafka - set(ids))} consumed events never applied"
        return ids

    applied = await eventually(all_applied, timeout=60)
    await stop_consumer(consumer, consumer_task)
    assert len(applied) == len(set(applied)), "an event had a second effect"
    async with stack.db.engine.connect() as conn:
        inboxed = set(
            (await conn.execute(select(inbox.c.event_id).where(inbox.c.consumer == GROUP)))
            .scalars()
            .all()
        )
    assert on_kafka <= inboxed


async def test_database_refusing_connections_dead_letters_nothing_and_requests_get_503(
    stack: Stack,
) -> None:
    backlog = 30
    async with stack.db.unit_of_work() as session:
        for seq in range(backlog):
            await publish(session, kitapp.ticket_created(f"tenant-{seq % 3}", seq))

    async def published() -> None:
        assert (await outbox_state(stack))[1] == 0

    await eventually(published, timeout=30)

    # 1. Shutting down: new connections get 57P03 (CannotConnectNowError), and every
    #    existing session is terminated (57P01) but the one we hold.
    held = await asyncpg.connect(stack.cluster.url(stack.database, driver="postgresql"))
    await asyncio.to_thread(stack.cluster.stop_smart_nowait)
    await held.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    consumer = stack.consumer()
    consumer_task = await run_consumer(consumer)
    loop = asyncio.get_running_loop()
    outage_started = loop.time()
    responses: list[httpx.Response] = []
    while loop.time() - outage_started < 5:
        responses.append(await stack.client.get("/v1/items", headers=auth("agent")))
        responses.append(
            await stack.client.post(
                "/v1/items/with-event", json={"tenant_id": "t", "seq": 1}, headers=auth("agent")
            )
        )
        await asyncio.sleep(0.25)  # the outage's length, not a wait for a result
    assert await held.fetchval("SELECT count(*) FROM effects") == 0, "the outage was no outage"

    # 2. Stopped: connections refused.
    await held.close()

    async def refused() -> None:
        try:
            conn = await asyncpg.connect(
                stack.cluster.url(stack.database, driver="postgresql"), timeout=2
            )
        except (OSError, asyncpg.PostgresError):
            return
        await conn.close()
        raise AssertionError("PostgreSQL still accepts connections")

    await eventually(refused, timeout=30)
    stopped_at = loop.time()
    while loop.time() - stopped_at < 5:
        responses.append(await stack.client.get("/v1/items", headers=auth("agent")))
        await asyncio.sleep(0.25)
    ready = await stack.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")
    assert not consumer_task.done()

    for response in responses:
        assert_unavailable(response)

    # 3. Back: every event applied once, none dead-lettered.
    await asyncio.to_thread(stack.cluster.start)

    async def all_applied() -> list[str]:
        ids = await effect_ids(stack)
        assert len(ids) >= backlog
        return ids

    applied = await eventually(all_applied, timeout=60)
    await asyncio.sleep(0.5)  # time for a second effect to show, were there one
    applied = await effect_ids(stack)
    await stop_consumer(consumer, consumer_task)
    assert len(applied) == backlog
    assert len(set(applied)) == backlog
    assert await read_all(stack, stack.dlq) == [], "events were dead-lettered for an outage"
    async with stack.db.engine.connect() as conn:
        outcomes = set((await conn.execute(select(inbox.c.outcome))).scalars())
    assert outcomes == {"processed"}
    assert (await stack.client.get("/v1/items", headers=auth("agent"))).status_code == 200
