"""Live updates (servicekit.live): ``GET /v1/events`` streams the service's own events from
Kafka as server-sent events, confined to the caller's tenant, resumable with
``Last-Event-ID`` within the retention window, with heartbeats; a slow reader is dropped
with ``overflow``. The first tests run the kit's test app behind a real server on the
shared Kafka; the last ones drive the hub directly."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from kitapp import KitSettings, definition

from servicekit.app import create_service_app
from servicekit.auth import Principal, Role
from servicekit.db import Database
from servicekit.live import OVERFLOW, LiveEvents, _messages, visible_to
from servicekit.metrics import HTTP_LATENCY
from servicekit.testing import SseMessage, SseReader, auth, eventually, served, topic_prefix
from supportops_events import Envelope
from supportops_events.samples import sample

pytestmark = pytest.mark.infra

HEARTBEAT = 0.3


@pytest.fixture
async def base_url(db: Database, kit_db_url: str) -> AsyncIterator[str]:
    settings = KitSettings(
        database_url=kit_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        live_heartbeat_seconds=HEARTBEAT,
        relay_poll_interval_seconds=0.1,
    )
    app = create_service_app(definition(settings))
    async with served(app) as url:
        yield url


@asynccontextmanager
async def stream(
    base_url: str, headers: dict[str, str], *, last_event_id: str | None = None
) -> AsyncIterator[SseReader]:
    """An open event stream, read past its ``connected`` comment: the server has
    subscribed it, so whatever is published from now on reaches it."""
    sent = dict(headers)
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        client.stream("GET", "/v1/events", headers=sent) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        # proxies (nginx Ingress, Caddy) must pass it through unbuffered and uncached
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-store"
        reader = SseReader(response)
        first = await reader.next()
        assert first.comment == "connected"
        yield reader


async def publish(base_url: str, tenant_id: str, seq: int = 0) -> str:
    """Through the app's own outbox and relay, as a real state change would."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/v1/items/with-event",
            json={"tenant_id": tenant_id, "seq": seq},
            headers=auth("agent"),
        )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["event_id"]
    return event_id


def body(message: SseMessage) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(message.data)
    return parsed


async def test_a_staff_stream_sees_what_the_service_publishes(base_url: str, db: Database) -> None:
    tenant = str(uuid.uuid4())
    async with stream(base_url, auth("agent")) as events:
        # the endpoint holds no database connection while it streams
        assert db.engine.pool.checkedout() == 0
        event_id = await publish(base_url, tenant, seq=7)
        message = await events.next_event()
    assert (message.id, message.event) == (event_id, "ticket.created")
    got = body(message)
    assert got["id"] == event_id and got["type"] == "ticket.created"
    assert got["tenant_id"] == tenant
    assert got["subject"] == f"tkt-{tenant}-7"
    assert got["time"].endswith("Z")
    assert got["data"]["ticket_id"] == f"tkt-{tenant}-7"
    assert got["data"]["subject"] == "seq-7"


async def test_a_tenant_token_sees_its_tenant_and_not_another(base_url: str) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    async with (
        stream(base_url, auth("agent")) as staff,
        stream(base_url, auth("agent", tenant_id=mine)) as confined,
    ):
        other = await publish(base_url, theirs, seq=1)
        own = await publish(base_url, mine, seq=2)
        seen = {(await staff.next_event()).id for _ in range(2)}
        assert seen == {other, own}  # both went through the hub by now
        marker = await publish(base_url, mine, seq=3)
        received = [(await confined.next_event()).id for _ in range(2)]
    assert received == [own, marker]  # the other tenant's event never came


async def test_last_event_id_resumes_exactly_after_that_event(base_url: str) -> None:
    tenant = str(uuid.uuid4())
    async with stream(base_url, auth("agent")) as first:
        # one tenant: one partition, so this is also the order the hub sees
        ids = [await publish(base_url, tenant, seq=n) for n in range(4)]
        assert [(await first.next_event()).id for _ in ids] == ids
    async with stream(base_url, auth("agent"), last_event_id=ids[1]) as resumed:
        replayed = [(await resumed.next_event()).id for _ in range(2)]
        assert replayed == ids[2:]
        later = await publish(base_url, tenant, seq=9)
        assert (await resumed.next_event()).id == later  # no loss, no duplicate


async def test_an_unknown_last_event_id_gets_reset(base_url: str) -> None:
    async with stream(base_url, auth("agent"), last_event_id=str(uuid.uuid4())) as events:
        message = await events.next_event()
    assert message.event == "reset"
    assert "retention" in body(message)["reason"]


async def test_heartbeats_are_sent_as_comments(base_url: str) -> None:
    async with stream(base_url, auth("agent")) as events:
        beat = await events.next(timeout=HEARTBEAT * 20)
    assert beat.event == "" and beat.comment is not None and "ping" in beat.comment


async def test_no_token_is_a_401_problem(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/v1/events")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


# --- the hub itself (no Kafka) ----------------------------------------------------------


def hub(**kwargs: Any) -> LiveEvents:
    return LiveEvents(topics=[], kafka_options={}, **kwargs)


def event(tenant_id: str, **fields: Any) -> Envelope:
    return Envelope.new(sample("ticket.created", tenant_id=tenant_id, **fields), source="test")


STAFF = Principal(subject="staff", roles=frozenset({Role.agent}))


async def test_a_slow_reader_is_dropped_with_overflow_not_buffered() -> None:
    live = hub(queue_size=2)
    sub = live.subscribe(visible_to(STAFF))
    for _ in range(3):
        live.publish(event("t-1"))
    assert sub.queue.qsize() == 1 and sub.queue.get_nowait() is OVERFLOW
    assert sub not in live.subscribers  # nothing more is queued for it

    slow = live.subscribe(visible_to(STAFF))
    for _ in range(3):
        live.publish(event("t-1"))
    messages = [m async for m in _messages(live, slow)]
    assert [m.event for m in messages] == [None, "overflow"]  # connected, then overflow


async def test_the_retention_window_is_bounded_by_count_and_age() -> None:
    now = [1000.0]
    live = hub(buffer_size=3, buffer_seconds=60, monotonic=lambda: now[0])
    ids = [live.publish(event("t-1")) for _ in range(4)]
    assert all(ids)
    evicted, kept = ids[0], ids[1]
    assert evicted is not None and kept is not None
    assert live.subscribe(visible_to(STAFF), evicted.envelope.id).reset
    resumed = live.subscribe(visible_to(STAFF), kept.envelope.id)
    assert not resumed.reset and [e.seq for e in resumed.replay] == [3, 4]
    now[0] += 61
    assert live.subscribe(visible_to(STAFF), kept.envelope.id).reset


async def test_a_redelivered_event_is_streamed_once() -> None:
    live = hub()
    sub = live.subscribe(visible_to(STAFF))
    once = event("t-1")
    live.publish(once)
    live.publish(once)
    assert sub.queue.qsize() == 1


async def test_internal_notes_are_for_staff_only() -> None:
    tenant = "t-1"
    customer = Principal(subject="pat", roles=frozenset({Role.agent}), tenant_id=tenant)
    note = Envelope.new(
        sample("ticket.replied", tenant_id=tenant, visibility="internal"), source="test"
    )
    reply = Envelope.new(
        sample("ticket.replied", tenant_id=tenant, visibility="public"), source="test"
    )
    assert visible_to(STAFF)(note)
    assert not visible_to(customer)(note)
    assert visible_to(customer)(reply)


async def test_a_stream_ends_its_subscription_when_closed() -> None:
    live = hub()
    sub = live.subscribe(visible_to(STAFF))
    messages = _messages(live, sub)
    await anext(messages)
    await messages.aclose()
    assert sub not in live.subscribers


async def test_a_long_stream_is_not_a_slow_request_in_the_latency_metric(base_url: str) -> None:
    route = HTTP_LATENCY.labels("kit-test", "GET", "/v1/events")
    async with stream(base_url, auth("agent")):  # the hub's consumer has started
        before = route._sum.get()
        async with stream(base_url, auth("agent")) as events:
            for _ in range(4):  # held open for several heartbeats, over a second
                await events.next(timeout=HEARTBEAT * 20)

        async def recorded() -> None:
            assert route._sum.get() > before

        await eventually(recorded)
        assert route._sum.get() - before < 2 * HEARTBEAT  # time to start, not time open
