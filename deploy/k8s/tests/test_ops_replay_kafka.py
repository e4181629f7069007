"""The dead-letter replay tool against a real broker (the one `make test` starts)."""

from __future__ import annotations

import os
import socket
import uuid
from types import ModuleType

import pytest
from k8s_support import K8S_DIR, load_module

from servicekit.localstack import default_kafka_bootstrap

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or default_kafka_bootstrap()

pytestmark = pytest.mark.infra


def broker_reachable() -> bool:
    host, _, port = BOOTSTRAP.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    # make test starts a broker: an unreachable one is a failure, not a reason to skip
    assert broker_reachable(), f"no Kafka at {BOOTSTRAP}"
    return load_module("supportops_replay_dlq", K8S_DIR / "ops" / "dlq-replay" / "replay_dlq.py")


async def test_replay_republishes_only_the_chosen_dead_letters(tool: ModuleType) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    run = uuid.uuid4().hex[:8]
    origin, dlq = f"replay-{run}.billing.events", f"replay-{run}.ticket-service.dlq"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in (origin, dlq)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        for event in ("evt-1", "evt-2"):
            await producer.send_and_wait(
                dlq,
                key=b"tenant-1",
                value=f'{{"id": "{event}"}}'.encode(),
                headers=[
                    ("ce_id", event.encode()),
                    ("dlq_reason", b"failed"),
                    ("dlq_original_topic", origin.encode()),
                ],
            )
    finally:
        await producer.stop()

    env = {"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP, "DLQ": dlq, "EVENT_IDS": "evt-2"}
    assert await tool.replay({**env, "DRY_RUN": "true"}) == 0
    assert await tool.replay({**env, "DRY_RUN": "false"}) == 0

    consumer = AIOKafkaConsumer(
        origin, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
        records = [r for rs in batches.values() for r in rs]
        more = await consumer.getmany(timeout_ms=500)
        records += [r for rs in more.values() for r in rs]
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.delete_topics([origin, dlq])
    finally:
        await admin.close()
    # Only evt-2, once (the dry run sent nothing), with its key, body and ce_* headers.
    assert [(r.key, r.value, list(r.headers)) for r in records] == [
        (b"tenant-1", b'{"id": "evt-2"}', [("ce_id", b"evt-2")])
    ]
