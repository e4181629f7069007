"""Every event the stack publishes, read with a plain Kafka consumer (no consumer group)
and decoded with the `cloudevents` SDK's Kafka binding, not with our own envelope code:
the journeys check what any other consumer of the topics would see."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from cloudevents.v1.kafka import KafkaMessage, from_binary

from servicekit.testing import KAFKA_BOOTSTRAP

TOPICS = (
    "tickets.events",
    "billing.events",
    "onboarding.events",
    "escalation.events",
    "onboarding.commands",
)


@dataclass(frozen=True)
class Event:
    """One record as a CloudEvent: attributes, extensions and the JSON data."""

    topic: str
    key: str | None
    attributes: dict[str, Any]
    data: dict[str, Any]
    headers: dict[str, bytes] = field(repr=False)

    @property
    def type(self) -> str:
        return str(self.attributes["type"])

    @property
    def tenant(self) -> str | None:
        return self.attributes.get("tenantid")

    @property
    def subject(self) -> str | None:
        return self.attributes.get("subject")

    @property
    def source(self) -> str:
        return str(self.attributes["source"])

    @property
    def correlation(self) -> str | None:
        return self.attributes.get("correlationid")

    @property
    def trace_id(self) -> str | None:
        traceparent = self.headers.get("traceparent")
        return traceparent.decode().split("-")[1] if traceparent else None


class EventTap:
    """Tails the stack's topics from the beginning for the whole test session."""

    def __init__(self, prefix: str, bootstrap_servers: str = KAFKA_BOOTSTRAP) -> None:
        self.prefix = prefix
        self.events: list[Event] = []
        self.undecodable: list[tuple[str, bytes | None]] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            metadata_max_age_ms=1000,
        )
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> EventTap:
        await self._consumer.start()
        self._consumer.subscribe([self.prefix + t for t in TOPICS])
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    self._add(record.topic, record.key, record.value, list(record.headers))
            if batch:
                self._changed.set()

    def _add(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        header_map = {k: bytes(v) for k, v in headers}
        try:
            ce = from_binary(
                KafkaMessage(headers=header_map, key=key, value=value or b""),
                data_unmarshaller=lambda body: json.loads(body),
            )
        except Exception:  # kept for the assertion that nothing was undecodable
            self.undecodable.append((topic, value))
            return
        attributes = dict(ce.get_attributes())
        self.events.append(
            Event(
                topic=topic.removeprefix(self.prefix),
                key=key.decode() if key else None,
                attributes=attributes,
                data=ce.get_data() or {},
                headers=header_map,
            )
        )

    def select(
        self,
        *,
        tenant: str | None = None,
        types: tuple[str, ...] | None = None,
        where: Callable[[Event], bool] | None = None,
    ) -> list[Event]:
        return [
            e
            for e in self.events
            if (tenant is None or e.tenant == tenant)
            and (types is None or e.type in types)
            and (where is None or where(e))
        ]

    async def wait_for(
        self,
        condition: Callable[[EventTap], bool],
        *,
        timeout: float = 30.0,
        what: str = "events",
    ) -> None:
        """Wait until ``condition(self)`` holds for what was read."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(e.type, e.tenant) for e in self.events[-30:]]
                raise AssertionError(f"timed out waiting for {what}; last events: {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))

    async def wait_types(
        self,
        tenant: str,
        *types: str,
        timeout: float = 30.0,
        where: Callable[[Event], bool] | None = None,
    ) -> list[Event]:
        """Wait until each of ``types`` was seen at least once for ``tenant``."""
        await self.wait_for(
            lambda tap: all(tap.select(tenant=tenant, types=(t,), where=where) for t in types),
            timeout=timeout,
            what=f"{types} of tenant {tenant}",
        )
        return self.select(tenant=tenant, types=types, where=where)
