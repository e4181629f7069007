"""Exactly-once effects over the real broker and PostgreSQL: outbox, relay, inbox, DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kitapp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from sqlalchemy import func, select, text

from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.kafka import client_options, ensure_topics, make_producer
from servicekit.outbox import publish, publish_all
from servicekit.relay import OutboxRelay
from servicekit.testing import KAFKA_BOOTSTRAP, count_statements, payload, read_topic
from supportops_events.tickets import TicketCreated

TOPIC = "tickets.events"
GROUP = "kit-consumer"
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Backbone:
    db: Database
    prefix: str
    options: dict[str, Any]
    producer: AIOKafkaProducer

    @property
    def topic(self) -> str:
        return self.prefix + TOPIC

    @property
    def dlq(self) -> str:
        return self.prefix + f"{GROUP}.dlq"

    def relay(self, **kwargs: Any) -> OutboxRelay:
        return OutboxRelay(
            self.db, self.producer, service_name="kit-test", topic_prefix=self.prefix, **kwargs
        )

    def consumer(self, handled_by: str = "", **kwargs: Any) -> EventConsumer:
        return EventConsumer(
            db=self.db,
            router=kitapp.effect_router(handled_by),
            group_id=GROUP,
            kafka_options=self.options,
            dlq_producer=self.producer,
            topic_prefix=self.prefix,
            retry_backoff=0.01,
            **kwargs,
        )


@pytest.fixture
async def backbone(db: Database, settings: kitapp.KitSettings) -> AsyncIterator[Backbone]:
    prefix = settings.kafka_topic_prefix  # the same as the test app's, when a test uses both
    options = client_options(KAFKA_BOOTSTRAP)
    await ensure_topics(options, [prefix + TOPIC, prefix + f"{GROUP}.dlq"], partitions=3)
    producer = make_producer(options)
    await producer.start()
    try:
        yield Backbone(db=db, prefix=prefix, options=options, producer=producer)
    finally:
        await producer.stop()


async def publish_stream(db: Database, tenants: int, per_tenant: int) -> int:
    async with db.unit_of_work() as session:
        for seq in range(per_tenant):
            for t in range(tenants):
                await publish(session, kitapp.ticket_created(f"tenant-{t}", seq))
    return tenants * per_tenant


async def effects(db: Database) -> list[kitapp.Effect]:
    async with db.sessionmaker() as session:
        return list((await session.scalars(select(kitapp.Effect).order_by(kitapp.Effect.id))).all())


async def consume_until(
    consumer: EventConsumer, db: Database, expected: int, timeout: float = 60.0
) -> list[kitapp.Effect]:
    task = asyncio.create_task(consumer.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            done = await effects(db)
            if len(done) >= expected or asyncio.get_running_loop().time() > deadline:
                # a little longer, so a double effect would have time to show
                await asyncio.sleep(0.5)
                return await effects(db)
            if task.done():
                task.result()
            await asyncio.sleep(0.1)
    finally:
        consumer.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)


def assert_exactly_once(done: list[kitapp.Effect], expected: int) -> None:
    ids = [e.event_id for e in done]
    assert len(ids) == expected, f"{len(ids)} effects for {expected} events"
    assert len(set(ids)) == expected, "an event had a second effect"


async def test_rolled_back_events_never_appear(backbone: Backbone) -> None:
    with pytest.raises(RuntimeError):
        async with backbone.db.unit_of_work() as session:
            await publish(session, kitapp.ticket_created("tenant-x", 1, subject="rolled-back"))
            raise RuntimeError("the state change failed")
    async with backbone.db.unit_of_work() as session:
        await publish(session, kitapp.ticket_created("tenant-x", 2, subject="committed"))
    assert await backbone.relay().drain() == 1
    seen = await read_topic(backbone.topic, until=lambda got: len(got) >= 1, timeout=10)
    await asyncio.sleep(0.5)
    seen = await read_topic(backbone.topic, until=lambda got: False, timeout=2)
    assert [payload(e, TicketCreated).subject for e in seen] == ["committed"]


async def test_published_event_arrives_with_cloudevent_attributes(backbone: Backbone) -> None:
    event = kitapp.ticket_created("tenant-a", 7)
    async with backbone.db.unit_of_work() as session:
        session.info["service_name"] = "kit-test"
        sent = await publish(session, event)
    await backbone.relay().drain()
    (got,) = await read_topic(backbone.topic, until=lambda got: len(got) >= 1)
    assert got.data == event
    assert got.id == sent.id
    assert got.type == "ticket.created"
    assert got.tenant_id == "tenant-a"
    assert got.source == "kit-test"


async def test_crash_between_send_and_mark_republishes_and_consumers_apply_once(
    backbone: Backbone,
) -> None:
    total = await publish_stream(backbone.db, tenants=4, per_tenant=25)

    class CrashAfterSend(OutboxRelay):
        async def _send(self, rows: list[Any]) -> None:
            await super()._send(rows)
            raise ConnectionResetError("relay died after Kafka acknowledged")

    crashing = CrashAfterSend(
        backbone.db,
        backbone.producer,
        service_name="kit-test",
        topic_prefix=backbone.prefix,
        batch_size=40,
    )
    with pytest.raises(ConnectionResetError):
        await crashing.publish_pending()
    assert await backbone.relay().drain() == total  # nothing was marked: all go again
    on_topic = await read_topic(backbone.topic, until=lambda got: len(got) >= total + 40)
    assert len(on_topic) == total + 40  # the first batch is on the topic twice

    done = await consume_until(backbone.consumer(), backbone.db, total)
    assert_exactly_once(done, total)


async def test_relay_process_killed_mid_stream_loses_nothing(backbone: Backbone) -> None:
    # 5,000 events: enough that a fast relay is still mid-stream when it is killed
    total = await publish_stream(backbone.db, tenants=5, per_tenant=1000)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "relay_process.py"),
            backbone.db.url,
            backbone.prefix,
            "20",
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    try:
        # kill -9 once it is part-way through
        for _ in range(600):
            async with backbone.db.engine.connect() as conn:
                published = await conn.scalar(
                    text("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
                )
            if published and published >= 100:
                break
            await asyncio.sleep(0.02)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    async with backbone.db.engine.connect() as conn:
        left = await conn.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    assert 0 < left < total, "the relay was not killed part-way"
    await backbone.relay().drain()
    done = await consume_until(backbone.consumer(), backbone.db, total)
    assert_exactly_once(done, total)


async def test_redelivery_and_rewound_offsets_have_no_second_effect(backbone: Backbone) -> None:
    total = await publish_stream(backbone.db, tenants=3, per_tenant=10)
    await backbone.relay().drain()
    done = await consume_until(backbone.consumer(), backbone.db, total)
    assert_exactly_once(done, total)

    # rewind the group's committed offsets to the beginning and consume again
    from aiokafka import AIOKafkaConsumer, TopicPartition

    rewinder = AIOKafkaConsumer(
        group_id=backbone.prefix + GROUP,  # the group is namespaced like the topics
        enable_auto_commit=False,
        **backbone.options,
    )
    await rewinder.start()
    try:
        partitions = rewinder.partitions_for_topic(backbone.topic) or set()
        if not partitions:
            await rewinder._client.force_metadata_update()
            partitions = rewinder.partitions_for_topic(backbone.topic) or set()
        tps = [TopicPartition(backbone.topic, p) for p in partitions]
        rewinder.assign(tps)
        # the consumer committed under its namespaced group
        committed = [await rewinder.committed(tp) for tp in tps]
        assert sum(offset or 0 for offset in committed) >= total, committed
        await rewinder.commit({tp: 0 for tp in tps})
    finally:
        await rewinder.stop()

    again = backbone.consumer()
    done = await consume_until(again, backbone.db, total + 1, timeout=4)
    assert_exactly_once(done, total)
    assert again.processed == 0


async def test_poison_message_is_dead_lettered_and_the_partition_moves_on(
    backbone: Backbone,
) -> None:
    # all on one key, hence one partition: the good ones sit behind the bad ones
    async with backbone.db.unit_of_work() as session:
        await publish(session, kitapp.ticket_created("tenant-p", 0))
        await publish(session, kitapp.ticket_created("tenant-p", 1, subject="poison"))
        await publish(session, kitapp.ticket_created("tenant-p", 2, subject="reject"))
    await backbone.relay().drain()
    await backbone.producer.send_and_wait(
        backbone.topic,
        key=b"tenant-p",
        value=b"{not json",
        headers=[("ce_type", b"ticket.created")],
    )
    async with backbone.db.unit_of_work() as session:
        await publish(session, kitapp.ticket_created("tenant-p", 3))
    await backbone.relay().drain()

    consumer = backbone.consumer(max_retries=2)
    done = await consume_until(consumer, backbone.db, 2)
    assert sorted(e.seq for e in done) == [0, 3]

    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(auto_offset_reset="earliest", **backbone.options)
    await reader.start()
    try:
        partitions = sorted(reader.partitions_for_topic(backbone.dlq) or [])
        if not partitions:
            await reader._client.force_metadata_update()
            partitions = sorted(reader.partitions_for_topic(backbone.dlq) or [])
        tps = [TopicPartition(backbone.dlq, p) for p in partitions]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        dead: list[Any] = []
        for _ in range(50):
            batch = await reader.getmany(timeout_ms=200)
            for records in batch.values():
                dead.extend(records)
            if len(dead) >= 3:
                break
    finally:
        await reader.stop()
    reasons = sorted(dict(r.headers)["dlq_reason"].decode() for r in dead)
    assert reasons == ["ValueError", "decode", "rejected"]
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlq_original_topic"].decode() == backbone.topic
        assert headers["dlq_error"]
    poison = next(r for r in dead if dict(r.headers)["dlq_reason"] == b"ValueError")
    assert dict(poison.headers)["dlq_attempts"] == b"3"  # first try + 2 retries


async def test_per_tenant_order_with_two_relays_and_two_consumers(backbone: Backbone) -> None:
    """Both consumers join the group (and hold partitions) before a single event reaches the
    topic, so the work is shared whatever the timing; CI once saw the first consumer drain
    all 320 events while the second was still joining."""
    total = await publish_stream(backbone.db, tenants=8, per_tenant=40)
    first, second = backbone.consumer("a"), backbone.consumer("b")
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:  # a settled group: each consumer holds partitions, all three held
            held = [c.consumer.assignment() if c.consumer else set() for c in (first, second)]
            if all(held) and len(held[0] | held[1]) == 3 and not held[0] & held[1]:
                break
            for task in tasks:
                if task.done():
                    task.result()
            assert loop.time() < deadline, f"the group never settled: {held}"
            await asyncio.sleep(0.1)

        relay_a, relay_b = backbone.relay(batch_size=25), backbone.relay(batch_size=25)
        await asyncio.gather(relay_a.drain(), relay_b.drain())
        assert relay_a.stats.published + relay_b.stats.published == total

        deadline = loop.time() + 60
        while loop.time() < deadline:
            if len(await effects(backbone.db)) >= total:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a little longer, so a double effect would have time to show
    finally:
        first.stop()
        second.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
    done = await effects(backbone.db)
    assert_exactly_once(done, total)
    by_tenant: dict[str, list[int]] = {}
    for effect in done:  # ordered by insertion, i.e. by processing
        by_tenant.setdefault(effect.tenant_id, []).append(effect.seq)
    for tenant, seqs in by_tenant.items():
        assert seqs == sorted(seqs), f"{tenant} processed out of order"
    # every partition holds some of the eight tenants (murmur2: 4, 2 and 2), so each
    # consumer of a settled group has events to handle
    assert {e.handled_by for e in done} == {"a", "b"}, "both consumers should share the work"


async def test_one_trace_from_request_to_handler(
    client: Any, backbone: Backbone, tracing: Any
) -> None:
    from servicekit.testing import auth

    tracing.clear()
    resp = await client.post(
        "/v1/items/with-event", json={"tenant_id": "tenant-t", "seq": 1}, headers=auth("agent")
    )
    assert resp.status_code == 202
    await backbone.relay().drain()
    await consume_until(backbone.consumer(), backbone.db, 1)
    spans = tracing.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER" and "/v1/items/with-event" in s.name]
    handler = [s for s in spans if s.name == "ticket.created process"]
    publish_spans = [s for s in spans if s.name.endswith("publish")]
    assert server and handler and publish_spans
    trace_id = server[0].context.trace_id
    assert handler[-1].context.trace_id == trace_id
    assert publish_spans[-1].context.trace_id == trace_id
    assert handler[-1].parent is not None


@pytest.mark.slow
async def test_broker_restart_during_a_stream_of_1000_events(backbone: Backbone) -> None:
    kafka = ROOT / "deploy/local/kafka.sh"
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("the broker is external (KAFKA_BOOTSTRAP_SERVERS): this test restarts ours")
    relay = backbone.relay(batch_size=50, poll_interval=0.1)
    relay_task = asyncio.create_task(relay.run())
    consumer = backbone.consumer()
    consumer_task = asyncio.create_task(consumer.run())
    try:
        for chunk in range(10):
            async with backbone.db.unit_of_work() as session:
                for seq in range(100):
                    await publish(
                        session, kitapp.ticket_created(f"tenant-{seq % 5}", chunk * 100 + seq)
                    )
            if chunk == 3:
                await asyncio.to_thread(subprocess.run, [str(kafka), "stop"], check=True)
            if chunk == 6:
                await asyncio.sleep(5)
                await asyncio.to_thread(subprocess.run, [str(kafka), "start"], check=True)
            await asyncio.sleep(0.2)
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            async with backbone.db.sessionmaker() as session:
                count = await session.scalar(select(func.count()).select_from(kitapp.Effect))
            if count and count >= 1000:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)
    finally:
        subprocess.run([str(kafka), "start"], check=False)
        relay.stop()
        consumer.stop()
        for task in (relay_task, consumer_task):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
    assert_exactly_once(await effects(backbone.db), 1000)


# -- batches and their round trips (issue 15) ---------------------------------------


async def test_a_deep_outbox_drains_in_full_batches_in_order_per_tenant(
    backbone: Backbone,
) -> None:
    """1,000 events committed at once leave in transactions of at most ``batch_size``
    (five of 200, then one that finds nothing): the relay's round trips grow with the
    events over the batch size, not with the events; each tenant's events arrive in the
    order they were published, which is the order of the outbox ids."""
    tenants, per_tenant = 4, 250
    events = [
        kitapp.ticket_created(f"tenant-{t}", seq)
        for seq in range(per_tenant)
        for t in range(tenants)
    ]
    async with backbone.db.unit_of_work() as session:
        sent = await publish_all(session, events)
    async with backbone.db.sessionmaker() as session:
        stored = (await session.execute(text("SELECT event_id FROM outbox ORDER BY id"))).all()
    assert [row[0] for row in stored] == [e.id for e in sent], "outbox ids not in call order"

    relay = backbone.relay(batch_size=200)
    with count_statements(backbone.db.engine) as statements:
        assert await relay.drain() == len(events)
    claims = [s for s in statements if "candidate_keys" in s.sql]
    marks = [s for s in statements if s.sql.startswith("UPDATE outbox SET published_at")]
    assert len(claims) == 6, f"{len(claims)} claim transactions for 1,000 events"
    assert [
        len(s.parameters["ids"] if isinstance(s.parameters, dict) else s.parameters[0])
        for s in marks
    ] == [200] * 5

    seen = await read_topic(backbone.topic, until=lambda got: len(got) >= len(events))
    assert len(seen) == len(events)
    by_tenant: dict[str, list[int]] = {}
    for envelope in seen:
        data = payload(envelope, TicketCreated)
        by_tenant.setdefault(data.tenant_id, []).append(int(data.ticket_id.rsplit("-", 1)[1]))
    assert by_tenant == {f"tenant-{t}": list(range(per_tenant)) for t in range(tenants)}


async def test_the_consumer_claims_a_whole_fetch_with_one_prepared_statement(
    backbone: Backbone,
) -> None:
    """A fetch is handled in one transaction whatever partitions it spans, and its inbox
    claim is one statement with the same text every time (asyncpg prepares it once per
    connection), never one rendered per batch size; every event still has exactly one
    effect. Six tenants' events lie on more than one of the three partitions."""
    total = await publish_stream(backbone.db, tenants=6, per_tenant=50)
    await backbone.relay().drain()
    async with backbone.db.sessionmaker() as session:
        keys = dict((await session.execute(text("SELECT event_id, key FROM outbox"))).all())
    partition = {
        event_id: (murmur2(key.encode()) & 0x7FFFFFFF) % 3 for event_id, key in keys.items()
    }
    assert len(set(partition.values())) > 1

    with count_statements(backbone.db.engine) as statements:
        done = await consume_until(backbone.consumer(), backbone.db, total)
    assert_exactly_once(done, total)
    claims = [s for s in statements if s.sql.lstrip().upper().startswith("INSERT INTO INBOX")]
    assert claims, "the consumer's statements were not counted"
    assert len({s.sql for s in claims}) == 1, "the inbox claim's SQL varies with the batch"
    claimed = [
        list(s.parameters["ids"] if isinstance(s.parameters, dict) else s.parameters[1])
        for s in claims
    ]
    assert sum(len(ids) for ids in claimed) == total
    spans = max(len({partition[i] for i in ids}) for ids in claimed)
    assert spans > 1, "every transaction handled one partition only"
    assert len(claims) <= total / 50, f"{len(claims)} claim transactions for {total} events"


async def test_without_a_span_exporter_the_trace_still_reaches_the_handler(
    backbone: Backbone, tracing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When spans go nowhere, the relay forwards the stored trace headers instead of
    recording a publish span, and the consumer makes the event's trace current instead
    of recording a process span: no span of theirs is recorded, and the handler still
    runs in the publisher's trace (what it publishes stays in that trace)."""
    import servicekit.consumer as consumer_module
    import servicekit.relay as relay_module
    from servicekit.consumer import EventRouter, Received
    from servicekit.telemetry import current_trace_id, tracer

    monkeypatch.setattr(relay_module, "tracing_exported", lambda: False)
    monkeypatch.setattr(consumer_module, "tracing_exported", lambda: False)
    with tracer("kit-test").start_as_current_span("request") as span:
        origin = format(span.get_span_context().trace_id, "032x")
        async with backbone.db.unit_of_work() as session:
            await publish(session, kitapp.ticket_created("tenant-trace", 1))
    tracing.clear()

    handled: list[str | None] = []
    router = EventRouter()

    @router.on(TicketCreated)
    async def on_created(session: Any, received: Received[TicketCreated]) -> None:
        handled.append(current_trace_id())
        session.add(kitapp.Effect(event_id=received.id, tenant_id="tenant-trace", seq=1))
        await session.flush()

    await backbone.relay().drain()
    (record,) = await read_topic(backbone.topic, until=lambda got: len(got) >= 1)
    assert record.traceparent is not None and record.traceparent.split("-")[1] == origin
    consumer = backbone.consumer()
    consumer.router = router
    await consume_until(consumer, backbone.db, 1)
    assert handled == [origin]
    names = [s.name for s in tracing.get_finished_spans()]
    assert not [n for n in names if n.endswith((" publish", " process"))], names
