"""The outbox relay: moves committed outbox rows to Kafka, in order per key, at least once.

Several replicas may run: each claims a batch with ``FOR UPDATE SKIP LOCKED`` and takes
a transaction-scoped advisory lock per partition key first, so two relays never publish
events of the same key at once (per-key order holds). A crash after Kafka acknowledged
but before the rows were marked re-publishes them; consumers' inboxes absorb that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from servicekit.db import Database
from servicekit.metrics import (
    OUTBOX_LAG,
    OUTBOX_PENDING,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
)
from servicekit.tables import OUTBOX_CHANNEL
from servicekit.telemetry import (
    context_from_carrier,
    current_trace_carrier,
    tracer,
    tracing_exported,
)

logger = logging.getLogger("servicekit.relay")

TRACE_HEADERS = ("traceparent", "tracestate")
ADVISORY_NAMESPACE = 0x0B0C  # first key of the two-key advisory lock: "outbox"

CLAIM_SQL = text(
    """
WITH candidate_keys AS MATERIALIZED (
    SELECT key, min(id) AS first_id
    FROM outbox
    WHERE published_at IS NULL
    GROUP BY key
    ORDER BY first_id
    LIMIT :max_keys
), locked_keys AS MATERIALIZED (
    SELECT key FROM candidate_keys
    WHERE pg_try_advisory_xact_lock(:namespace, hashtext(key))
), batch AS MATERIALIZED (
    -- the ids first: sorting only ids (not every pending row with its payload, which
    -- went to disk with a deep outbox: 25 ms of a 500-event claim) and stopping at
    -- batch_size
    SELECT id FROM outbox
    WHERE published_at IS NULL AND key IN (SELECT key FROM locked_keys)
    ORDER BY id
    LIMIT :batch_size
)
SELECT o.id, o.event_id, o.event_type, o.topic, o.key, o.headers, o.payload
FROM outbox o
WHERE o.id IN (SELECT id FROM batch) AND o.published_at IS NULL
ORDER BY o.id
FOR UPDATE OF o SKIP LOCKED
"""
)

MARK_SQL = text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")
FAILED_SQL = text(
    "UPDATE outbox SET attempts = attempts + 1, last_error = :error WHERE id = ANY(:ids)"
)
LAG_SQL = text(
    "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at)) "
    "FROM outbox WHERE published_at IS NULL"
)


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        producer: AIOKafkaProducer,
        *,
        service_name: str,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 10.0,
        topic_prefix: str = "",
        lag_refresh_seconds: float = 5.0,
    ) -> None:
        self.lag_refresh_seconds = lag_refresh_seconds
        self.topic_prefix = topic_prefix
        self.db = db
        self.producer = producer
        self.service_name = service_name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.stats = RelayStats()
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listen_conn: asyncpg.Connection | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Claim and publish one batch; returns how many events were published."""
        async with self.db.unit_of_work() as session:
            rows = (
                await session.execute(
                    CLAIM_SQL,
                    {
                        "max_keys": self.batch_size,
                        "namespace": ADVISORY_NAMESPACE,
                        "batch_size": self.batch_size,
                    },
                )
            ).all()
            if not rows:
                return 0
            try:
                await self._send(list(rows))
            except Exception as exc:
                OUTBOX_PUBLISH_FAILURES.labels(self.service_name).inc()
                self.stats.failures += 1
                await session.rollback()
                await self._record_failure([r.id for r in rows], exc)
                raise
            await session.execute(MARK_SQL, {"ids": [r.id for r in rows]})
        self.stats.published += len(rows)
        # one labelled increment per (topic, type) of the batch, not one per event
        for (topic, event_type), count in Counter((r.topic, r.event_type) for r in rows).items():
            OUTBOX_PUBLISHED.labels(self.service_name, topic, event_type).inc(count)
        return len(rows)

    async def _send(self, rows: list[Any]) -> None:
        traced = tracing_exported()
        pending = []
        for row in rows:
            if traced:
                headers = self._traced_headers(row)
            else:
                # Nothing records a publish span: the stored trace headers go out as
                # they are, so the consumer still continues the producer's trace, and
                # the per-event span and propagation work (a third of the relay's CPU)
                # is skipped.
                headers = [(name, value.encode()) for name, value in row.headers]
            pending.append(
                await self.producer.send(
                    self.topic_prefix + row.topic,
                    value=bytes(row.payload),
                    key=row.key.encode(),
                    headers=headers,
                )
            )
        # The idempotent producer keeps per-partition order; wait for every ack.
        await asyncio.gather(*pending)

    def _traced_headers(self, row: Any) -> list[tuple[str, bytes]]:
        """The record's headers with the trace continued from a publish span."""
        stored = {name: value for name, value in row.headers}
        parent = context_from_carrier({k: stored[k] for k in TRACE_HEADERS if k in stored})
        with tracer("servicekit.relay").start_as_current_span(
            f"{row.topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row.topic,
                "messaging.message.id": row.event_id,
                "cloudevents.event_type": row.event_type,
            },
        ):
            # continue the trace from this span: replace the stored trace headers
            headers = [
                (name, value.encode()) for name, value in row.headers if name not in TRACE_HEADERS
            ]
            headers.extend((k, v.encode()) for k, v in current_trace_carrier().items())
        return headers

    async def _record_failure(self, ids: list[int], exc: Exception) -> None:
        with contextlib.suppress(Exception):
            async with self.db.unit_of_work() as session:
                await session.execute(FAILED_SQL, {"ids": ids, "error": repr(exc)[:2000]})

    async def refresh_lag(self) -> tuple[int, float]:
        async with self.db.engine.connect() as conn:
            count, age = (await conn.execute(LAG_SQL)).one()
        OUTBOX_PENDING.labels(self.service_name).set(count)
        OUTBOX_LAG.labels(self.service_name).set(float(age or 0.0))
        return int(count), float(age or 0.0)

    async def drain(self) -> int:
        """Publish until the outbox is empty (used by tests and at shutdown)."""
        total = 0
        while True:
            published = await self.publish_pending()
            total += published
            if published == 0:
                return total

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen_forever(), name="outbox-listen")
        backoff = 0.2
        last_lag = -self.lag_refresh_seconds
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                failed: Exception | None = None
                published = 0
                try:
                    published = await self.publish_pending()
                    backoff = 0.2
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failed = exc
                # Whatever the outcome: while publishing fails is exactly when on-call
                # needs outbox_lag_seconds to grow (the runbook's alert).
                if loop.time() - last_lag >= self.lag_refresh_seconds:
                    with contextlib.suppress(Exception):
                        await self.refresh_lag()
                    last_lag = loop.time()
                if failed is not None:
                    logger.warning("relay publish failed, retrying in %.1fs: %r", backoff, failed)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                if published == self.batch_size:
                    continue  # more is waiting
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def _listen_forever(self) -> None:
        """LISTEN for inserts; polling in ``run`` covers the gaps while disconnected."""
        while not self._stopping.is_set():
            try:
                conn = await asyncpg.connect(self.db.asyncpg_dsn)
                self._listen_conn = conn
                await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wakeup.set())
                self._wakeup.set()  # catch what was inserted while we were away
                while not conn.is_closed():
                    # wake every second to notice a dropped connection
                    await self._sleep(1.0)
                    if self._stopping.is_set():
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("outbox LISTEN connection failed: %r", exc)
                await self._sleep(2.0)
            finally:
                conn_ = self._listen_conn
                self._listen_conn = None
                if conn_ is not None and not conn_.is_closed():
                    conn_.terminate()  # immediate: never hang a shutdown on a goodbye
