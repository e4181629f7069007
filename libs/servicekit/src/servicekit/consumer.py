"""Idempotent Kafka consumers: typed handlers, inbox, retries, dead letters, lag.

For each fetch (the records of every partition it yields), the handlers run in one
database transaction that also records every event id in the inbox; the Kafka offsets
are committed only after that transaction commits. A redelivered event finds its inbox
row and has no second effect. If a handler fails, the fetch is rolled back and replayed
one event per transaction, with bounded retries; an event that cannot be decoded, or
keeps failing, goes to ``<group>.dlq`` with the error in its headers, and the partition
moves on.
Infrastructure failures (``servicekit.infra_errors``: database or broker unreachable)
are retried without limit with capped exponential backoff, never dead-lettered: the
partition simply waits.

A monitor task refreshes ``consumer_lag_messages`` on a timer from the broker's end
offsets (idle partitions included, revoked ones dropped) and is the watchdog: a
partition with lag whose position has not moved for ``stall_seconds`` while the
consumer was not busy with a batch restarts the Kafka consumer (a fresh client, a
fresh group membership), logged and counted in ``consumer_watchdog_restarts_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.clock import Clock, SystemClock
from servicekit.context import EventContext, current_event_context
from servicekit.db import Database
from servicekit.infra_errors import describe as describe_infra
from servicekit.infra_errors import is_infrastructure_error
from servicekit.kafka import make_consumer
from servicekit.metrics import (
    CONSUMER_INFRA_RETRIES,
    CONSUMER_LAG,
    CONSUMER_PROCESSED,
    CONSUMER_RETRIES,
    CONSUMER_WATCHDOG_RESTARTS,
    DEAD_LETTERS,
)
from servicekit.tables import inbox
from servicekit.telemetry import context_from_carrier, tracer, tracing_exported
from supportops_events import (
    Envelope,
    Event,
    EventDecodeError,
    UnknownEventType,
    registry,
)

logger = logging.getLogger("servicekit.consumer")

LAG_REFRESH_SECONDS = 5.0

CLAIM_INBOX_SQL = text(
    "INSERT INTO inbox (consumer, event_id, event_type) "
    "SELECT :consumer, e.event_id, e.event_type "
    "FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[])) AS e(event_id, event_type) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
STALL_SECONDS = 30.0

E = TypeVar("E", bound=Event)
E1 = TypeVar("E1", bound=Event)
E2 = TypeVar("E2", bound=Event)
E3 = TypeVar("E3", bound=Event)
Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
"""The dispatch shape (and the deprecated handler style): the raw envelope."""


class Reject(Exception):
    """Raised by a handler for an event that can never be processed: dead-letter it now."""


@dataclass(frozen=True)
class Received(Generic[E]):
    """One consumed event handed to a typed handler: ``data`` is the payload model, typed;
    the CloudEvents attributes are properties; ``envelope`` is the raw escape hatch and
    ``clock`` the app's injected clock (``servicekit.clock``)."""

    data: E
    envelope: Envelope
    clock: Clock

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def time(self) -> datetime:
        return self.envelope.time

    @property
    def source(self) -> str:
        return self.envelope.source

    @property
    def subject(self) -> str | None:
        return self.envelope.subject

    @property
    def tenant_id(self) -> str:
        return self.envelope.tenant_id

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id

    @property
    def causation_id(self) -> str | None:
        return self.envelope.causation_id


TypedHandler = Callable[[AsyncSession, Received[E]], Awaitable[None]]


def _is_envelope_handler(handler: Callable[..., Any]) -> bool:
    """The deprecated style names ``Envelope`` as its second parameter's annotation
    (a class, or a string under ``from __future__ import annotations``)."""
    params = list(inspect.signature(handler).parameters.values())
    if len(params) < 2:
        return False
    annotation = params[1].annotation
    if annotation is Envelope:
        return True
    return isinstance(annotation, str) and annotation.rsplit(".", 1)[-1] == "Envelope"


class _Registration(Generic[E]):
    """What ``EventRouter.on(...)`` returns: the decorator, typed for both handler styles."""

    def __init__(self, router: EventRouter, models: tuple[type[E], ...]) -> None:
        self._router = router
        self._models = models

    @overload
    def __call__(self, handler: TypedHandler[E]) -> TypedHandler[E]: ...

    @overload
    def __call__(self, handler: Handler) -> Handler: ...

    def __call__(self, handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        if _is_envelope_handler(handler):
            self._router.add(self._models, handler)
        else:
            self._router.add(self._models, self._adapt(handler))
        return handler

    def _adapt(self, handler: TypedHandler[E]) -> Handler:
        models = self._models
        router = self._router

        async def dispatch(session: AsyncSession, envelope: Envelope) -> None:
            data = envelope.data
            if not isinstance(data, models):  # the registry decoded another model
                raise Reject(f"{envelope.type} carries {type(data).__name__}, not {models}")
            await handler(session, Received(data=data, envelope=envelope, clock=router.clock))

        dispatch.__name__ = getattr(handler, "__name__", "dispatch")
        return dispatch


class EventRouter:
    """Handlers declared per event type with the typed model they accept.

    ``@router.on(Model)`` on ``async def handle(session, received: Received[Model])`` is
    the way; ``@router.on(A, B)`` gives ``Received[A | B]`` (match on ``received.data``).
    A handler whose second parameter is annotated ``Envelope`` still works but is
    deprecated. ``clock`` is what ``received.clock`` hands out; ``create_service_app``
    points it at ``app.state.clock``.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.handlers: dict[str, Handler] = {}
        self.clock: Clock = clock or SystemClock()

    @overload
    def on(self, m1: type[E1], /) -> _Registration[E1]: ...

    @overload
    def on(self, m1: type[E1], m2: type[E2], /) -> _Registration[E1 | E2]: ...

    @overload
    def on(self, m1: type[E1], m2: type[E2], m3: type[E3], /) -> _Registration[E1 | E2 | E3]: ...

    @overload
    def on(self, *models: type[Event]) -> _Registration[Event]: ...

    def on(self, *models: type[Event]) -> _Registration[Any]:
        return _Registration(self, models)

    def on_envelope(self, *models: type[Event]) -> Callable[[Handler], Handler]:
        """The deprecated raw style, explicit: the handler gets the ``Envelope``."""

        def register(handler: Handler) -> Handler:
            self.add(models, handler)
            return handler

        return register

    def add(self, models: Iterable[type[Event]], handler: Handler) -> None:
        for model in models:
            event_type = model.event_type
            if event_type in self.handlers:
                raise ValueError(f"a handler for {event_type} is already registered")
            self.handlers[event_type] = handler

    def include(self, other: EventRouter) -> None:
        for event_type, handler in other.handlers.items():
            if event_type in self.handlers:
                raise ValueError(f"a handler for {event_type} is already registered")
            self.handlers[event_type] = handler

    def topics(self) -> list[str]:
        return sorted({registry.topic_for(t) for t in self.handlers})


@dataclass
class _Decoded:
    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0


def _headers(record: ConsumerRecord[bytes, bytes]) -> list[tuple[str, bytes]]:
    return [(k, v if isinstance(v, bytes) else bytes(v or b"")) for k, v in record.headers or ()]


class EventConsumer:
    def __init__(
        self,
        *,
        db: Database,
        router: EventRouter,
        group_id: str,
        kafka_options: dict[str, Any],
        dlq_producer: AIOKafkaProducer,
        topics: Iterable[str] | None = None,
        max_retries: int = 3,
        retry_backoff: float = 0.2,
        max_backoff: float = 10.0,
        consumer_overrides: dict[str, Any] | None = None,
        topic_prefix: str = "",
        lag_refresh_seconds: float = LAG_REFRESH_SECONDS,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.db = db
        self.router = router
        self.group_id = group_id
        # The Kafka group is namespaced like the topics: stacks with different prefixes on
        # one broker (test runs) never share a group, nor its rebalances.
        self.kafka_group_id = topic_prefix + group_id
        self.dlq_topic = topic_prefix + registry.dlq_topic(group_id)
        base_topics = sorted(topics) if topics is not None else router.topics()
        self.topics = [topic_prefix + t for t in base_topics]
        self.kafka_options = kafka_options
        self.dlq_producer = dlq_producer
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.consumer_overrides = consumer_overrides or {}
        self.consumer: AIOKafkaConsumer | None = None
        self.lag_refresh_seconds = lag_refresh_seconds
        self.stall_seconds = stall_seconds
        self._stopping = asyncio.Event()
        self._stalled = asyncio.Event()
        self._busy = False  # inside a batch (handlers, infra retries): not a stall
        self._lag_labels: set[TopicPartition] = set()
        self.processed = 0
        self.restarts = 0

    async def start(self) -> None:
        self.consumer = make_consumer(
            self.kafka_options,
            *self.topics,
            group_id=self.kafka_group_id,
            **self.consumer_overrides,
        )
        await self.consumer.start()

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None

    async def run(self) -> None:
        """Consume until ``stop()``; a stalled partition restarts the Kafka consumer."""
        while not self._stopping.is_set():
            if self.consumer is None:
                await self.start()
            assert self.consumer is not None
            try:
                stalled = await self._consume(self.consumer)
            finally:
                await self.close()
            if not stalled:
                return
            self.restarts += 1
            CONSUMER_WATCHDOG_RESTARTS.labels(self.group_id).inc()
            logger.error(
                "consumer %s stalled (lag without progress for %.0fs): restarting it",
                self.group_id,
                self.stall_seconds,
            )

    async def _consume(self, consumer: AIOKafkaConsumer) -> bool:
        """The fetch loop; returns True when the watchdog asks for a restart."""
        self._stalled.clear()
        monitor = asyncio.create_task(self._monitor(consumer), name=f"{self.group_id}-monitor")
        try:
            while not self._stopping.is_set():
                if self._stalled.is_set():
                    return True
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                if not batch:
                    continue
                self._busy = True
                try:
                    processed = await self._process_fetch(batch)
                finally:
                    self._busy = False
                if processed:
                    # one commit for the whole fetch, after every handler transaction
                    await self._commit(consumer, processed)
            return False
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await monitor
            # a consumer that stopped reports no lag rather than a frozen number
            self._drop_lag(set(self._lag_labels))

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Partitions moved to another member: it re-reads from the last commit, and
            # the inbox makes the replay harmless.
            logger.warning("offset commit failed for %s: %r", sorted(offsets), exc)

    async def _monitor(self, consumer: AIOKafkaConsumer) -> None:
        """Lag on a timer (whether or not batches arrive) and the stall watchdog."""
        loop = asyncio.get_running_loop()
        last_position: dict[TopicPartition, int] = {}
        progress_at: dict[TopicPartition, float] = {}
        while True:
            await asyncio.sleep(self.lag_refresh_seconds)
            try:
                lags = await self.refresh_lag(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("consumer lag refresh failed: %r", exc)
                continue
            now = loop.time()
            for tp, (position, lag) in lags.items():
                moved = last_position.get(tp) != position
                last_position[tp] = position
                if moved or lag == 0 or self._busy or tp not in progress_at:
                    progress_at[tp] = now
                elif now - progress_at[tp] >= self.stall_seconds:
                    logger.error(
                        "partition %s[%d] of %s: lag %d, position %d unchanged for %.0fs",
                        tp.topic,
                        tp.partition,
                        self.group_id,
                        lag,
                        position,
                        now - progress_at[tp],
                    )
                    self._stalled.set()
                    return
            for tp in set(progress_at) - set(lags):
                progress_at.pop(tp, None)
                last_position.pop(tp, None)

    async def refresh_lag(
        self, consumer: AIOKafkaConsumer
    ) -> dict[TopicPartition, tuple[int, int]]:
        """Set ``consumer_lag_messages`` from the broker's end offsets for every assigned
        partition; drop the series of partitions no longer assigned. Returns
        ``{tp: (position, lag)}``."""
        assigned = set(consumer.assignment())
        self._drop_lag(self._lag_labels - assigned)
        if not assigned:
            return {}
        end_offsets = await asyncio.wait_for(consumer.end_offsets(list(assigned)), 10.0)
        lags: dict[TopicPartition, tuple[int, int]] = {}
        for tp in assigned:
            if tp not in consumer.assignment() or tp not in end_offsets:
                continue  # revoked meanwhile
            committed = await asyncio.wait_for(consumer.committed(tp), 10.0)
            position = await asyncio.wait_for(consumer.position(tp), 10.0)
            # what is fetched but not yet committed still counts as lag
            done = min(position, committed) if committed is not None else position
            lag = max(0, end_offsets[tp] - done)
            CONSUMER_LAG.labels(self.group_id, tp.topic, tp.partition).set(lag)
            self._lag_labels.add(tp)
            lags[tp] = (position, lag)
        return lags

    def reported_partitions(self) -> set[TopicPartition]:
        """The partitions this consumer currently reports lag for."""
        return set(self._lag_labels)

    def _drop_lag(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.group_id, tp.topic, str(tp.partition))
            self._lag_labels.discard(tp)

    # -- processing -----------------------------------------------------------------

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Decoded | None:
        try:
            envelope = Envelope.from_kafka(headers=_headers(record), value=record.value or b"")
        except UnknownEventType:
            CONSUMER_PROCESSED.labels(self.group_id, "unknown", "skipped").inc()
            return None
        except EventDecodeError as exc:
            return _Decoded(record=record, error=str(exc), error_type="decode")
        if envelope.type not in self.router.handlers:
            CONSUMER_PROCESSED.labels(self.group_id, envelope.type, "skipped").inc()
            return None
        return _Decoded(record=record, envelope=envelope)

    async def _process_fetch(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> dict[TopicPartition, int]:
        """Handle a whole fetch (every partition's records) in one transaction; returns
        the offsets to commit. One transaction per fetch rather than per partition: the
        offsets are still committed only after it commits, each partition's events are
        still handled in their order, and a failing handler still replays the fetch one
        event per transaction; it takes a third of the round trips on three partitions."""
        work: list[_Decoded] = []
        processed: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            if not records:
                continue
            items = [d for d in (self._decode(r) for r in records) if d is not None]
            for item in items:
                if item.error is not None:
                    await self._dead_letter(item, reason="decode")
            work.extend(d for d in items if d.envelope is not None)
            processed[tp] = records[-1].offset + 1
        if work:
            await self._run_with_infra_retry(lambda: self._process_batch(work), work)
        return processed

    async def _run_with_infra_retry(
        self, attempt: Callable[[], Awaitable[None]], work: list[_Decoded]
    ) -> None:
        backoff = self.retry_backoff
        while True:
            try:
                await attempt()
                return
            except Exception as exc:
                if is_infrastructure_error(exc):
                    if self._stopping.is_set():
                        raise
                    await self._infra_backoff(exc, backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                logger.info("batch failed (%r); replaying one event at a time", exc)
                for item in work:
                    await self._process_one_with_retries(item)
                return

    async def _infra_backoff(self, exc: BaseException, backoff: float) -> None:
        CONSUMER_INFRA_RETRIES.labels(self.group_id, describe_infra(exc)).inc()
        logger.warning(
            "infrastructure unavailable (%s), retrying in %.1fs: %r",
            describe_infra(exc),
            backoff,
            exc,
        )
        # stop() ends the wait early; the caller then re-raises on its next failure
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), backoff)

    async def _process_batch(self, work: list[_Decoded]) -> None:
        async with self.db.unit_of_work() as session:
            fresh = await self._claim(session, [d.envelope for d in work if d.envelope])
            seen: set[str] = set()
            for item in work:
                envelope = item.envelope
                assert envelope is not None
                if envelope.id not in fresh or envelope.id in seen:
                    continue
                seen.add(envelope.id)
                await self._handle(session, envelope)
        outcomes: Counter[tuple[str, str]] = Counter()
        for item in work:
            assert item.envelope is not None
            outcome = "processed" if item.envelope.id in seen else "duplicate"
            outcomes[(item.envelope.type, outcome)] += 1
        # one labelled increment per (type, outcome) of the batch, not one per event
        for (event_type, outcome), count in outcomes.items():
            CONSUMER_PROCESSED.labels(self.group_id, event_type, outcome).inc(count)
        self.processed += len(seen)

    async def _claim(self, session: AsyncSession, envelopes: list[Envelope]) -> set[str]:
        if not envelopes:
            return set()
        unique = {e.id: e.type for e in envelopes}
        # One constant statement whatever the batch size: asyncpg prepares it once per
        # connection, where a multi-row VALUES was compiled anew for every batch (the
        # largest CPU cost of the consumer in the events benchmark).
        result = await session.execute(
            CLAIM_INBOX_SQL,
            {"consumer": self.group_id, "ids": list(unique), "types": list(unique.values())},
        )
        return {row[0] for row in result}

    async def _handle(self, session: AsyncSession, envelope: Envelope) -> None:
        handler = self.router.handlers[envelope.type]
        carrier = {"traceparent": envelope.traceparent} if envelope.traceparent else {}
        if envelope.tracestate:
            carrier["tracestate"] = envelope.tracestate
        token = current_event_context.set(
            EventContext(correlation_id=envelope.correlation_id, causation_id=envelope.id)
        )
        try:
            if not tracing_exported():
                # No span is recorded anywhere: only make the event's trace context
                # current, so what the handler publishes stays in the same trace.
                trace_token = (
                    otel_context.attach(context_from_carrier(carrier)) if carrier else None
                )
                try:
                    await handler(session, envelope)
                finally:
                    if trace_token is not None:
                        otel_context.detach(trace_token)
                return
            with tracer("servicekit.consumer").start_as_current_span(
                f"{envelope.type} process",
                context=context_from_carrier(carrier),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.consumer.group.name": self.group_id,
                    "messaging.message.id": envelope.id,
                    "cloudevents.event_type": envelope.type,
                    "tenant.id": envelope.tenant_id,
                },
            ):
                await handler(session, envelope)
        finally:
            current_event_context.reset(token)

    async def _process_one_with_retries(self, item: _Decoded) -> None:
        assert item.envelope is not None
        envelope = item.envelope
        backoff = self.retry_backoff
        while True:
            item.attempts += 1
            try:
                async with self.db.unit_of_work() as session:
                    fresh = await self._claim(session, [envelope])
                    if envelope.id in fresh:
                        await self._handle(session, envelope)
                outcome = "processed" if envelope.id in fresh else "duplicate"
                CONSUMER_PROCESSED.labels(self.group_id, envelope.type, outcome).inc()
                self.processed += 1 if fresh else 0
                return
            except Reject as exc:
                item.error, item.error_type = str(exc) or "rejected", "rejected"
                break
            except Exception as exc:
                if is_infrastructure_error(exc):
                    if self._stopping.is_set():
                        raise
                    item.attempts -= 1  # not the event's fault: never dead-lettered for it
                    await self._infra_backoff(exc, backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                item.error, item.error_type = repr(exc), type(exc).__name__
                if item.attempts > self.max_retries:
                    break
                CONSUMER_RETRIES.labels(self.group_id).inc()
                logger.warning(
                    "handler for %s failed (attempt %d): %r",
                    envelope.type,
                    item.attempts,
                    exc,
                    extra={"event_id": envelope.id, "event_type": envelope.type},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        await self._dead_letter(item, reason=item.error_type or "failed")
        await self._remember_dead_letter(envelope)

    async def _remember_dead_letter(self, envelope: Envelope) -> None:
        """So a redelivery of a dead-lettered event is not dead-lettered again."""
        with contextlib.suppress(Exception):
            async with self.db.unit_of_work() as session:
                await session.execute(
                    insert(inbox)
                    .values(
                        consumer=self.group_id,
                        event_id=envelope.id,
                        event_type=envelope.type,
                        outcome="dead_lettered",
                    )
                    .on_conflict_do_nothing()
                )

    async def _dead_letter(self, item: _Decoded, *, reason: str) -> None:
        record = item.record
        headers = [
            *_headers(record),
            ("dlq_error", (item.error or "")[:4000].encode()),
            ("dlq_reason", reason.encode()),
            ("dlq_consumer_group", self.group_id.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_attempts", str(item.attempts).encode()),
        ]
        await self.dlq_producer.send_and_wait(
            self.dlq_topic, value=record.value, key=record.key, headers=headers
        )
        event_type = item.envelope.type if item.envelope else "undecodable"
        DEAD_LETTERS.labels(self.group_id, reason).inc()
        CONSUMER_PROCESSED.labels(self.group_id, event_type, "dead_lettered").inc()
        logger.error(
            "dead-lettered a message from %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            item.error,
        )
