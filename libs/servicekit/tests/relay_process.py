"""A relay in its own process, for the kill -9 test: relay_process.py DB_URL PREFIX BATCH."""

from __future__ import annotations

import asyncio
import sys

from servicekit.db import Database
from servicekit.kafka import client_options, make_producer
from servicekit.relay import OutboxRelay
from servicekit.testing import KAFKA_BOOTSTRAP


async def main(url: str, prefix: str, batch: int) -> None:
    db = Database(url)
    producer = make_producer(client_options(KAFKA_BOOTSTRAP))
    await producer.start()
    relay = OutboxRelay(
        db,
        producer,
        service_name="kit-test",
        topic_prefix=prefix,
        batch_size=batch,
        poll_interval=0.05,
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
