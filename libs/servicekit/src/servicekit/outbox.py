"""Transactional outbox: an event is stored in the caller's transaction, never sent here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.context import current_event_context
from servicekit.tables import outbox
from servicekit.telemetry import current_trace_carrier
from supportops_events import Envelope, Event

SOURCE_INFO_KEY = "service_name"


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
    envelopes, rows = [], []
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
        rows.append(
            {
                "event_id": envelope.id,
                "event_type": envelope.type,
                "topic": record.topic,
                "key": record.key.decode(),
                "headers": [[name, value.decode()] for name, value in record.headers],
                "payload": record.value,
            }
        )
    await session.execute(outbox.insert(), rows)
    return envelopes
