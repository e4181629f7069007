"""Kafka clients with safe settings, and idempotent topic creation."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

logger = logging.getLogger("servicekit.kafka")


def client_options(
    bootstrap_servers: str,
    *,
    security_protocol: str = "PLAINTEXT",
    ssl_cafile: str | None = None,
    sasl_mechanism: str | None = None,
    sasl_username: str | None = None,
    sasl_password: str | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "security_protocol": security_protocol,
    }
    if security_protocol in ("SSL", "SASL_SSL"):
        # aiokafka needs an SSL context for TLS; trust the cluster CA when one is given
        options["ssl_context"] = ssl.create_default_context(cafile=ssl_cafile)
    if sasl_mechanism:
        options.update(
            sasl_mechanism=sasl_mechanism,
            sasl_plain_username=sasl_username,
            sasl_plain_password=sasl_password,
        )
    return options


def make_producer(options: dict[str, Any], **overrides: Any) -> AIOKafkaProducer:
    """Idempotent producer with acks=all: no duplicates from retries, no loss on failover."""
    config: dict[str, Any] = {
        "enable_idempotence": True,
        "acks": "all",
        # no linger: the relay hands over a whole batch at once, and latency matters
        "linger_ms": 0,
        "request_timeout_ms": 15000,
        "retry_backoff_ms": 200,
        **options,
    }
    config.update(overrides)
    return AIOKafkaProducer(**config)


def make_consumer(
    options: dict[str, Any], *topics: str, group_id: str, **overrides: Any
) -> AIOKafkaConsumer:
    """Manual commits after the database commit; new groups read from the beginning."""
    config: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 500,
        "session_timeout_ms": 10000,
        "heartbeat_interval_ms": 3000,
        **options,
    }
    config.update(overrides)
    return AIOKafkaConsumer(*topics, **config)


async def ensure_topics(
    options: dict[str, Any],
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create the missing ones; an existing topic is left as it is. Returns those created."""
    wanted = sorted(set(topics))
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        for topic in missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name=topic,
                            num_partitions=partitions,
                            replication_factor=replication_factor,
                        )
                    ]
                )
                created.append(topic)
            except TopicAlreadyExistsError:
                pass
        if missing:
            await _wait_for_metadata(admin, missing, timeout)
    finally:
        await admin.close()
    if created:
        logger.info("created topics %s", created)
    return created


async def _wait_for_metadata(admin: AIOKafkaAdminClient, topics: list[str], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        described = await admin.describe_topics(topics)
        ready = all(d.get("error_code", 0) == 0 and d.get("partitions") for d in described)
        if ready or asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.2)
