"""Transactional outbox: an event is stored in the caller's transaction, never sent here."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.context import current_event_context
from servicekit.telemetry import current_trace_carrier
from supportops_events import Envelope, Event

SOURCE_INFO_KEY = "service_name"

_COLUMNS = ("event_ids", "event_types", "topics", "keys", "headers", "payloads")
# One constant statement for any number of events (arrays, one element per event):
# asyncpg prepares it once per connection, where a multi-row insert was rendered anew
# per call. ``WITH ORDINALITY ... ORDER BY`` keeps the ids (the relay's order) in the
# caller's order.
INSERT_SQL = text(
    "INSERT INTO outbox (event_id, event_type, topic, key, headers, payload) "
    "SELECT e.event_id, e.event_type, e.topic, e.key, CAST(e.headers AS jsonb), e.payload "
    "FROM unnest(CAST(:event_ids AS text[]), CAST(:event_types AS text[]), "
    "CAST(:topics AS text[]), CAST(:keys AS text[]), CAST(:headers AS text[]), "
    "CAST(:payloads AS bytea[])) "
    "WITH ORDINALITY AS e(event_id, event_type, topic, key, headers, payload, n) "
    "ORDER BY e.n"
)


async def publish(
    session: AsyncSession,
    event: Event,
    *,
    subject: str | None = None,
    source: str | None = None,
) -> Envelope:
    """Add ``event`` to the outbox in ``session``'s transaction.

    It reaches Kafka only if, and after, that transaction commits. Correlation and
    causation come from the request or event being handled; the current trace context
    is stored so the relay can continue the trace.
    """
    (envelope,) = await publish_all(session, [event], subject=subject, source=source)
    return envelope


async def publish_all(
    session: AsyncSession,
    events: list[Event],
    *,
    subject: str | None = None,
    source: str | None = None,
) -> list[Envelope]:
    """Several events in one statement, in order (same rules as ``publish``)."""
    if not events:
        return []
    ctx = current_event_context.get()
    carrier = current_trace_carrier()
    origin = source or str(session.info.get(SOURCE_INFO_KEY, "supportops"))
    envelopes: list[Envelope] = []
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    for event in events:
        envelope = Envelope.new(
            event,
            source=origin,
            subject=subject,
            correlation_id=ctx.correlation_id,
            causation_id=ctx.causation_id,
        )
        if "traceparent" in carrier:
            envelope.traceparent = carrier["traceparent"]
            envelope.tracestate = carrier.get("tracestate")
        record = envelope.to_kafka()
        envelopes.append(envelope)
        columns["event_ids"].append(envelope.id)
        columns["event_types"].append(envelope.type)
        columns["topics"].append(record.topic)
        columns["keys"].append(record.key.decode())
        columns["headers"].append(
            json.dumps([[name, value.decode()] for name, value in record.headers])
        )
        columns["payloads"].append(record.value)
    await session.execute(INSERT_SQL, columns)
    return envelopes
