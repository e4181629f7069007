"""Live updates: ``GET /v1/events``, the service's own domain events as server-sent events
(docs/api-style.md, "Live updates"; docs/decisions/0022-sse-live-updates.md).

One Kafka consumer per process, with no consumer group (every partition assigned,
starting at the end), reads the service's ``*.events`` topics and fans each event out to
the open streams through bounded in-memory queues: a stream that falls ``live_queue_size``
events behind is ended with ``event: overflow`` instead of growing memory. The last
``live_buffer_size`` events (at most ``live_buffer_seconds`` old) stay in a ring buffer so
a reconnecting client's ``Last-Event-ID`` replays exactly what followed; an id no longer
(or never) in it gets ``event: reset``. The consumer starts with the first stream, so a
process nobody watches opens no extra Kafka connection. No database session is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import APIRouter, Depends, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from servicekit.auth import Principal, Role, require_roles
from servicekit.errors import ServiceUnavailable
from servicekit.kafka import ensure_topics
from supportops_events import Envelope, EventDecodeError, UnknownEventType

logger = logging.getLogger("servicekit.live")

EVENTS_PATH: Final = "/v1/events"
RETRY_MILLISECONDS: Final = 3000
"""How long a browser's ``EventSource`` waits before reconnecting (the ``retry:`` field)."""
START_TIMEOUT_SECONDS: Final = 15.0

Visible = Callable[[Envelope], bool]


@dataclass(frozen=True)
class LiveEvent:
    """One event as streams send it: encoded once, whatever the number of streams."""

    seq: int
    envelope: Envelope
    received_at: float
    data: str

    def sse(self) -> ServerSentEvent:
        return ServerSentEvent(data=self.data, event=self.envelope.type, id=self.envelope.id)


def message_data(envelope: Envelope) -> str:
    """The ``data:`` of an event's message: what a console needs besides the payload,
    with the payload itself under ``data`` (its own fields, e.g. a ticket's ``subject``,
    never clash with the envelope's)."""
    return json.dumps(
        {
            "id": envelope.id,
            "type": envelope.type,
            "time": envelope.time.isoformat().replace("+00:00", "Z"),
            "subject": envelope.subject,
            "tenant_id": envelope.tenant_id,
            "correlation_id": envelope.correlation_id,
            "data": envelope.data.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


def visible_to(principal: Principal) -> Visible:
    """Staff (no ``tenant_id`` claim) see every event; a tenant-confined token sees its own
    tenant's, except those marked internal (``visibility: internal``, e.g. an internal note
    on a ticket), which are for staff only."""
    tenant = principal.tenant_id
    if tenant is None:
        return lambda envelope: True

    def visible(envelope: Envelope) -> bool:
        if envelope.tenant_id != tenant:
            return False
        return str(getattr(envelope.data, "visibility", "")) != "internal"

    return visible


class _Overflow:
    """Put in a subscriber's (emptied) queue when it fell too far behind."""


OVERFLOW: Final = _Overflow()


@dataclass(eq=False)
class Subscription:
    visible: Visible
    queue: asyncio.Queue[LiveEvent | _Overflow]
    replay: list[LiveEvent] = field(default_factory=list)
    reset: bool = False
    resume_id: str | None = None
    """After a reset: the newest visible buffered event id, so a reconnect resumes there."""


class LiveEvents:
    """The per-process hub: one group-less consumer, a ring buffer, bounded fan-out."""

    def __init__(
        self,
        *,
        topics: list[str],
        kafka_options: dict[str, Any],
        buffer_size: int = 1000,
        buffer_seconds: float = 300.0,
        queue_size: int = 500,
        partitions: int = 3,
        replication_factor: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = topics
        self.kafka_options = kafka_options
        self.buffer_seconds = buffer_seconds
        self.queue_size = queue_size
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.monotonic = monotonic
        self.buffer: deque[LiveEvent] = deque(maxlen=buffer_size)
        self._seq_of: dict[str, int] = {}
        self._seq = 0
        self.subscribers: set[Subscription] = set()
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self.started = asyncio.Event()

    # --- the buffer and the fan-out (synchronous: no await between a lookup and a
    # registration, so nothing is missed or sent twice between replay and live) ----------

    def publish(self, envelope: Envelope) -> LiveEvent | None:
        """Take one event into the buffer and hand it to every stream that may see it.
        A redelivered event (the relay publishes at least once) is dropped."""
        if envelope.id in self._seq_of:
            return None
        self._seq += 1
        event = LiveEvent(self._seq, envelope, self.monotonic(), message_data(envelope))
        if len(self.buffer) == self.buffer.maxlen:
            self._seq_of.pop(self.buffer[0].envelope.id, None)
        self.buffer.append(event)
        self._seq_of[envelope.id] = event.seq
        for sub in list(self.subscribers):
            if not sub.visible(envelope):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A slow reader: free what it holds and end its stream; it reconnects
                # with Last-Event-ID and resumes from the buffer.
                self.subscribers.discard(sub)
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(OVERFLOW)
        return event

    def _expire(self) -> None:
        oldest_kept = self.monotonic() - self.buffer_seconds
        while self.buffer and self.buffer[0].received_at < oldest_kept:
            self._seq_of.pop(self.buffer.popleft().envelope.id, None)

    def subscribe(self, visible: Visible, last_event_id: str | None = None) -> Subscription:
        self._expire()
        sub = Subscription(visible=visible, queue=asyncio.Queue(maxsize=self.queue_size))
        if last_event_id:
            after = self._seq_of.get(last_event_id)
            if after is None:
                sub.reset = True
                newest = next((e for e in reversed(self.buffer) if visible(e.envelope)), None)
                sub.resume_id = newest.envelope.id if newest else None
            else:
                sub.replay = [e for e in self.buffer if e.seq > after and visible(e.envelope)]
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    # --- the consumer --------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Start the consumer once, positioned at the end of every partition (idempotent)."""
        if self.started.is_set():
            return
        async with self._start_lock:
            if self.started.is_set():
                return
            await ensure_topics(
                self.kafka_options,
                self.topics,
                partitions=self.partitions,
                replication_factor=self.replication_factor,
            )
            consumer = AIOKafkaConsumer(
                group_id=None,  # every process sees every event: no group, no commits
                enable_auto_commit=False,
                auto_offset_reset="latest",
                isolation_level="read_committed",
                **self.kafka_options,
            )
            await consumer.start()
            try:
                partitions = await self._partitions(consumer)
                consumer.assign(partitions)
                await consumer.seek_to_end(*partitions)
                for tp in partitions:
                    # resolves the end offset now: an event published after this returns
                    # is one this process streams
                    await consumer.position(tp)
            except BaseException:
                await consumer.stop()
                raise
            self.consumer = consumer
            self._task = asyncio.create_task(self._consume(consumer), name="live-events")
            self.started.set()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        found: list[TopicPartition] = []
        for topic in self.topics:
            numbers = consumer.partitions_for_topic(topic)
            for _ in range(50):
                if numbers:
                    break
                await consumer._client.force_metadata_update()
                numbers = consumer.partitions_for_topic(topic)
                if not numbers:
                    await asyncio.sleep(0.1)
            if not numbers:
                raise RuntimeError(f"no partitions found for {topic}")
            found.extend(TopicPartition(topic, p) for p in sorted(numbers))
        return found

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                # aiokafka reconnects by itself; a broker away only delays the stream
                logger.warning("live events: fetching failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        envelope = Envelope.from_kafka(
                            headers=[(k, bytes(v)) for k, v in record.headers],
                            value=record.value or b"",
                        )
                    except (UnknownEventType, EventDecodeError):
                        continue  # not ours to show (a newer producer's type, or garbage)
                    self.publish(envelope)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.stop()


def events_topics(produces: list[str], prefix: str) -> list[str]:
    """The topics a service's stream shows: its own domain events (``*.events``), not the
    commands it sends to others."""
    return sorted(prefix + t for t in produces if t.endswith(".events"))


# --- the endpoint ----------------------------------------------------------------------

Viewer = Annotated[Principal, Depends(require_roles(*Role))]

STREAM_DESCRIPTION = """\
Server-sent events (`text/event-stream`): this service's domain events, live.

Each message: `id:` the CloudEvent id, `event:` its type (`ticket.created`…),
`data:` JSON `{id, type, time, subject, tenant_id, correlation_id, data}` where `data`
is the event's payload. A token with a `tenant_id` claim sees only that tenant's events
(and no internal ones). Reconnect with `Last-Event-ID` to resume without loss within the
retention window; outside it the stream starts with `event: reset` (reload your lists).
`event: overflow` ends a stream that fell too far behind (reconnect with
`Last-Event-ID`). Comment lines are heartbeats. See docs/api-style.md, "Live updates".
"""


def live_router() -> APIRouter:
    router = APIRouter(tags=["live updates"])

    @router.get(
        EVENTS_PATH,
        summary="Stream this service's events (server-sent events)",
        description=STREAM_DESCRIPTION,
        operation_id="events.stream",
        response_class=EventSourceResponse,
        responses={
            200: {
                "description": "An endless stream of events",
                "content": {
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "example": (
                            "id: 6f1c…\nevent: ticket.created\n"
                            'data: {"id":"6f1c…","type":"ticket.created",'
                            '"time":"2026-12-06T11:00:00Z","subject":"…",'
                            '"tenant_id":"…","correlation_id":"…","data":{…}}\n\n'
                        ),
                    }
                },
            },
            503: {"description": "The event stream cannot start (Kafka unreachable)"},
        },
    )
    async def stream_events(
        request: Request,
        principal: Viewer,
        last_event_id: Annotated[
            str | None,
            Header(
                alias="Last-Event-ID",
                max_length=200,
                description="The id of the last event received: resume after it",
            ),
        ] = None,
    ) -> EventSourceResponse:
        hub: LiveEvents = request.app.state.live
        settings = request.app.state.settings
        try:
            await asyncio.wait_for(hub.ensure_started(), START_TIMEOUT_SECONDS)
        except Exception as exc:
            logger.warning("live events could not start: %r", exc)
            raise ServiceUnavailable(
                "the event stream is not available right now",
                code="unavailable",
                headers={"Retry-After": "5"},
            ) from exc
        sub = hub.subscribe(visible_to(principal), last_event_id)
        return EventSourceResponse(
            _messages(hub, sub),
            ping=settings.live_heartbeat_seconds,
            headers={"Cache-Control": "no-store"},
        )

    return router


async def _messages(hub: LiveEvents, sub: Subscription) -> AsyncIterator[ServerSentEvent]:
    try:
        # first, at once: the client knows it is subscribed (and how soon to reconnect)
        yield ServerSentEvent(comment="connected", retry=RETRY_MILLISECONDS)
        if sub.reset:
            yield ServerSentEvent(
                event="reset",
                id=sub.resume_id,
                data=json.dumps({"reason": "Last-Event-ID is not in the retention window"}),
            )
        for event in sub.replay:
            yield event.sse()
        sub.replay = []
        while True:
            item = await sub.queue.get()
            if isinstance(item, _Overflow):
                yield ServerSentEvent(
                    event="overflow",
                    data=json.dumps({"reason": "the stream fell too far behind; reconnect"}),
                )
                return
            yield item.sse()
    finally:
        hub.unsubscribe(sub)
