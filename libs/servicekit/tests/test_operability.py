"""What on-call relies on: honest lag metrics (idle, revoked, publishing failing), the
consumer watchdog, event delivery under request-pool exhaustion, readiness per process
role, and 503 (not 500) while the database is away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import kitapp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from throwaway_pg import free_port

from servicekit.app import create_service_app
from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.kafka import client_options, ensure_topics, make_producer
from servicekit.outbox import publish
from servicekit.relay import OutboxRelay
from servicekit.testing import KAFKA_BOOTSTRAP, auth, eventually, read_topic, topic_prefix

pytestmark = pytest.mark.infra

TOPIC = "tickets.events"


def metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


@pytest.fixture
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    kafka = make_producer(client_options(KAFKA_BOOTSTRAP))
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def topics(prefix: str, group: str) -> None:
    await ensure_topics(
        client_options(KAFKA_BOOTSTRAP), [prefix + TOPIC, prefix + f"{group}.dlq"], partitions=3
    )


def make_consumer(
    db: Database, producer: AIOKafkaProducer, prefix: str, group: str, **kwargs: Any
) -> EventConsumer:
    return EventConsumer(
        db=db,
        router=kitapp.effect_router(),
        group_id=group,
        kafka_options=client_options(KAFKA_BOOTSTRAP),
        dlq_producer=producer,
        topic_prefix=prefix,
        retry_backoff=0.01,
        lag_refresh_seconds=0.2,
        **kwargs,
    )


async def effect_count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(kitapp.Effect)) or 0)


async def stop(consumer: EventConsumer, task: asyncio.Task[None]) -> None:
    consumer.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 20)


def lags(group: str, topic: str) -> list[float | None]:
    return [
        metric("consumer_lag_messages", group=group, topic=topic, partition=str(p))
        for p in range(3)
    ]


async def test_consumer_lag_is_reported_for_idle_partitions_and_dropped_when_revoked(
    db: Database, producer: AIOKafkaProducer
) -> None:
    prefix, group = topic_prefix(), "kit-lag"
    await topics(prefix, group)
    async with db.unit_of_work() as session:
        for seq in range(40):
            await publish(session, kitapp.ticket_created("one-tenant", seq))  # one partition
    relay = OutboxRelay(db, producer, service_name="kit-test", topic_prefix=prefix)
    await relay.drain()

    first = make_consumer(db, producer, prefix, group)
    first_task = asyncio.create_task(first.run())
    second: EventConsumer | None = None
    second_task: asyncio.Task[None] | None = None
    try:
        # Drained, then idle: every partition reports 0, the two that never had a
        # message included (no batch ever arrives for them).
        async def idle_zero() -> None:
            assert await effect_count(db) == 40
            assert lags(group, prefix + TOPIC) == [0.0, 0.0, 0.0]

        await eventually(idle_zero, timeout=30)

        # A second member takes partitions away: the first stops reporting them.
        second = make_consumer(db, producer, prefix, group)
        second_task = asyncio.create_task(second.run())

        async def rebalanced() -> None:
            assert first.consumer is not None and second is not None
            assert second.consumer is not None
            mine = set(first.consumer.assignment())
            assert 0 < len(mine) < 3
            assert first.reported_partitions() == mine

        await eventually(rebalanced, timeout=30)
    finally:
        await stop(first, first_task)
        if second is not None and second_task is not None:
            await stop(second, second_task)
    # stopped consumers report nothing rather than a frozen number
    assert lags(group, prefix + TOPIC) == [None, None, None]


async def test_watchdog_restarts_a_consumer_whose_partitions_have_lag_and_no_progress(
    db: Database, producer: AIOKafkaProducer
) -> None:
    prefix, group = topic_prefix(), "kit-watchdog"
    await topics(prefix, group)
    restarts_before = metric("consumer_watchdog_restarts_total", group=group) or 0.0
    consumer = make_consumer(db, producer, prefix, group, stall_seconds=3.0)
    task = asyncio.create_task(consumer.run())
    try:

        async def assigned() -> None:
            assert consumer.consumer is not None
            assert len(consumer.consumer.assignment()) == 3

        await eventually(assigned, timeout=30)
        # A fetcher that stopped fetching (what a SIGKILL overlapping a broker restart
        # left behind): the partitions are assigned, but no batch ever comes.
        assert consumer.consumer is not None
        consumer.consumer.pause(*consumer.consumer.assignment())
        async with db.unit_of_work() as session:
            for seq in range(20):
                await publish(session, kitapp.ticket_created(f"tenant-{seq % 4}", seq))
        await OutboxRelay(db, producer, service_name="kit-test", topic_prefix=prefix).drain()

        # The lag shows although no batch arrives: it is read from the broker on a timer.
        async def lag_reported() -> None:
            assert sum(v or 0.0 for v in lags(group, prefix + TOPIC)) == 20

        await eventually(lag_reported, timeout=10, interval=0.05)

        async def caught_up() -> None:
            assert await effect_count(db) == 20
            assert lags(group, prefix + TOPIC) == [0.0, 0.0, 0.0]

        await eventually(caught_up, timeout=60)
    finally:
        await stop(consumer, task)
    assert consumer.restarts >= 1
    assert (metric("consumer_watchdog_restarts_total", group=group) or 0.0) > restarts_before


class BrokerAway:
    """A producer whose broker is unreachable: every send fails."""

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9")


async def test_outbox_lag_grows_while_publishing_fails_and_returns_to_zero(
    db: Database, producer: AIOKafkaProducer
) -> None:
    prefix, service = topic_prefix(), f"kit-outbox-{topic_prefix().strip('.')}"
    await topics(prefix, "unused")
    async with db.unit_of_work() as session:
        for seq in range(3):
            await publish(session, kitapp.ticket_created("tenant-o", seq))
    failing = OutboxRelay(
        db,
        BrokerAway(),  # type: ignore[arg-type]
        service_name=service,
        topic_prefix=prefix,
        lag_refresh_seconds=0.1,
        max_backoff=0.2,
    )
    task = asyncio.create_task(failing.run())
    try:

        async def lag_grows() -> None:
            assert metric("outbox_pending_events", service=service) == 3
            assert (metric("outbox_lag_seconds", service=service) or 0.0) >= 1.0
            assert (metric("outbox_publish_failures_total", service=service) or 0.0) >= 2

        await eventually(lag_grows, timeout=20)
    finally:
        failing.stop()
        await asyncio.wait_for(task, 10)

    working = OutboxRelay(
        db, producer, service_name=service, topic_prefix=prefix, lag_refresh_seconds=0.1
    )
    task = asyncio.create_task(working.run())
    try:

        async def back_to_zero() -> None:
            assert metric("outbox_pending_events", service=service) == 0
            assert metric("outbox_lag_seconds", service=service) == 0.0

        await eventually(back_to_zero, timeout=20)
    finally:
        working.stop()
        await asyncio.wait_for(task, 10)


async def test_events_are_delivered_while_the_request_pool_is_exhausted(
    db: Database, settings: kitapp.KitSettings
) -> None:
    settings.db_pool_size = 1  # one connection plus one overflow for requests
    app = create_service_app(kitapp.definition(settings))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        await eventually(lambda: _relay_running(app), timeout=30)
        request_engine = app.state.db.engine
        held = [await request_engine.connect() for _ in range(2)]
        try:
            assert request_engine.pool.checkedout() == 2  # no request could get one now
            async with db.unit_of_work() as session:
                sent = await publish(session, kitapp.ticket_created("tenant-pool", 1))
            read = await read_topic(
                settings.kafka_topic_prefix + TOPIC,
                until=lambda got: any(e.id == sent.id for e in got),
                timeout=15,
            )
            assert sent.id in {e.id for e in read}
        finally:
            for conn in held:
                await conn.close()


async def _relay_running(app: FastAPI) -> None:
    assert app.state.kafka.relay is not None


def offline_kafka_settings(settings: kitapp.KitSettings, **roles: bool) -> kitapp.KitSettings:
    return settings.model_copy(
        update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}", **roles}
    )


async def readyz(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        return await client.get("/readyz")


async def test_api_pods_are_ready_without_kafka_and_workers_are_not(
    db: Database, settings: kitapp.KitSettings
) -> None:
    api = create_service_app(
        kitapp.definition(
            offline_kafka_settings(settings, run_api=True, run_relay=False, run_consumers=False)
        )
    )
    async with LifespanManager(api, startup_timeout=30, shutdown_timeout=30):
        response = await readyz(api)
        # it publishes nothing (the workers' relay does): no producer, no broker retries
        await asyncio.wait_for(api.state.kafka.ready.wait(), 5)
        assert api.state.kafka.producer is None
        assert [t.get_name() for t in api.state.kafka._tasks if not t.done()] == []
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok"}

    worker = create_service_app(
        kitapp.definition(
            offline_kafka_settings(settings, run_api=False, run_relay=True, run_consumers=True)
        )
    )
    async with LifespanManager(worker, startup_timeout=30, shutdown_timeout=30):
        response = await readyz(worker)
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["kafka"].startswith("unavailable")


async def test_requests_answer_503_with_retry_after_while_the_database_is_unreachable(
    settings: kitapp.KitSettings,
) -> None:
    gone = kitapp.without_database(settings)
    app = create_service_app(kitapp.definition(gone))
    # a browser console's request: the 503 must reach it with its CORS headers, or the
    # browser hides the status and the Retry-After from the page
    browser = {**auth("agent"), "Origin": "http://localhost:5173", "X-Correlation-Id": "c-1"}
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        # raise_app_exceptions stays on: the error is answered inside the app, through
        # the kit's middleware, and nothing escapes to the server (which would log a
        # second, unstructured traceback and send a response without those headers)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            listing = await client.get("/v1/items", headers=browser)
            write = await client.post(
                "/v1/items/with-event", json={"tenant_id": "t"}, headers=browser
            )
            bug = await client.get("/v1/boom", headers=browser)
    for response in (listing, write):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["Retry-After"] == "5"
        body = response.json()
        assert body["type"] == "https://supportops.dev/problems/unavailable"
        assert "5432" not in response.text and "Connect call" not in response.text
    assert bug.status_code == 500  # a bug is still a bug
    assert bug.json()["type"] == "https://supportops.dev/problems/internal-error"
    for response in (listing, write, bug):
        # the same headers as every other response: CORS, the correlation id, the timing
        assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "Retry-After" in response.headers["access-control-expose-headers"]
        assert response.headers["X-Correlation-Id"] == "c-1"
        assert response.headers["Server-Timing"].startswith("app;dur=")
    documented = app.openapi()["paths"]["/v1/items"]["get"]["responses"]["503"]
    assert "application/problem+json" in documented["content"]
    assert "Retry-After" in documented["headers"]
