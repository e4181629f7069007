"""Republish dead-lettered events to the topic they came from; run as a one-off Job.

Each record of `<group>.dlq` keeps the original key, value and headers, plus `dlq_*`
headers naming the original topic (servicekit.consumer). This copies the chosen records
back to `dlq_original_topic` without the `dlq_*` headers. Every consumer group then
sees the event again: groups that processed it skip it (their inbox has its id); the
group that dead-lettered it processes it only if its inbox row was deleted first
(docs/operations.md, "Replay a dead-letter topic").

Settings (env): DLQ (topic), EVENT_IDS (comma-separated ce_id values, or "all"),
DRY_RUN ("true": only list), KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import Sequence
from typing import Any

Header = tuple[str, bytes]
DLQ_HEADER_PREFIX = "dlq_"


def say(line: str, *, stream: Any = None) -> None:
    (stream or sys.stdout).write(line + "\n")


def replay_target(headers: Sequence[Header]) -> tuple[str, list[Header]] | None:
    """The original topic and the headers to republish with, or None if not a DLQ record."""
    original = dict(headers).get("dlq_original_topic")
    if not original:
        return None
    kept = [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]
    return original.decode(), kept


def event_id(headers: Sequence[Header]) -> str | None:
    value = dict(headers).get("ce_id")
    return value.decode() if value else None


def selected(wanted: str, headers: Sequence[Header]) -> bool:
    if wanted.strip() == "all":
        return True
    ids = {i.strip() for i in wanted.split(",") if i.strip()}
    return event_id(headers) in ids


def kafka_options(env: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": env["KAFKA_BOOTSTRAP_SERVERS"],
        "security_protocol": env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
    }
    if env.get("KAFKA_SASL_MECHANISM"):
        options.update(
            sasl_mechanism=env["KAFKA_SASL_MECHANISM"],
            sasl_plain_username=env.get("KAFKA_SASL_USERNAME"),
            sasl_plain_password=env.get("KAFKA_SASL_PASSWORD"),
        )
    if options["security_protocol"] in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=env.get("KAFKA_SSL_CAFILE"))
    return options


async def replay(env: dict[str, str]) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.errors import KafkaError

    dlq, wanted = env["DLQ"], env["EVENT_IDS"]
    dry_run = env.get("DRY_RUN", "true").lower() != "false"
    options = kafka_options(env)
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**options, enable_idempotence=True, acks="all")
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        try:
            # The producer's metadata lookup waits for the topic; the consumer's does not.
            partitions = [
                TopicPartition(dlq, p) for p in sorted(await producer.partitions_for(dlq))
            ]
        except KafkaError as error:
            say(f"{dlq}: cannot read its partitions ({error!r})", stream=sys.stderr)
            return 2
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)

        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < end[tp]:
                    return True
            return False

        while await behind():
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    headers = list(record.headers)
                    target = replay_target(headers)
                    if target is None or not selected(wanted, headers):
                        continue
                    topic, kept = target
                    reason = dict(headers).get("dlq_reason", b"").decode()
                    action = "would replay" if dry_run else "replaying"
                    say(f"{action} {event_id(headers)} ({reason}) {dlq}@{record.offset} -> {topic}")
                    if not dry_run:
                        await producer.send_and_wait(
                            topic, value=record.value, key=record.key, headers=kept
                        )
                    replayed += 1
    finally:
        await consumer.stop()
        await producer.stop()
    say(f"{'would replay' if dry_run else 'replayed'} {replayed} event(s) from {dlq}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(replay(dict(os.environ))))
