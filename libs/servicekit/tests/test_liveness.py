"""Worker liveness: a consumer with events waiting that processes none for too long fails
``/healthz``; an idle one (nothing waiting) or a slow-but-moving one stays alive."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from servicekit.liveness import ProgressWatch
from servicekit.metrics import CONSUMER_LAG
from servicekit.testing import unique_name


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lag_without_progress_for_too_long_is_dead() -> None:
    time = FakeTime()
    watch = ProgressWatch(stall_after_seconds=60, clock=time)
    assert watch.check(processed=5, lag=10).alive
    time.now += 59
    assert watch.check(processed=5, lag=10).alive
    time.now += 2
    verdict = watch.check(processed=5, lag=10)
    assert not verdict.alive
    assert verdict.reason == "10 events waiting and none processed for 61s"
    # it moves again: alive at once
    assert watch.check(processed=6, lag=9).alive


def test_idle_is_alive_and_slow_progress_is_alive() -> None:
    time = FakeTime()
    watch = ProgressWatch(stall_after_seconds=60, clock=time)
    for _ in range(10):  # nothing waiting for ten minutes: idle, not hung
        time.now += 60
        assert watch.check(processed=0, lag=0).alive
    for processed in range(1, 10):  # one event a minute under a big lag: slow, not hung
        time.now += 59
        assert watch.check(processed=processed, lag=5000).alive


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int


class Assignment:
    def __init__(self, *partitions: Partition) -> None:
        self.partitions = set(partitions)

    def assignment(self) -> set[Partition]:
        return self.partitions


@dataclass
class StuckConsumer:
    group_id: str
    consumer: Assignment
    processed: int = 3


async def test_healthz_fails_for_a_stuck_consumer(app: FastAPI) -> None:
    time = FakeTime()
    app.state.liveness = ProgressWatch(stall_after_seconds=30, clock=time)
    group = unique_name("stuck")
    original = app.state.kafka.consumer
    stuck = StuckConsumer(group_id=group, consumer=Assignment(Partition("tickets.events", 0)))
    app.state.kafka.consumer = stuck
    CONSUMER_LAG.labels(group, "tickets.events", 0).set(7)
    CONSUMER_LAG.labels(group, "tickets.events", 1).set(5)  # assigned elsewhere now
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
            time.now += 31
            stalled = await client.get("/healthz")
            assert stalled.status_code == 503
            assert stalled.json() == {
                "status": "stalled",
                "reason": "7 events waiting and none processed for 31s",
            }
            stuck.processed += 1  # it moved
            assert (await client.get("/healthz")).status_code == 200
            # a lagging partition this member no longer has is not its problem
            stuck.consumer = Assignment(Partition("tickets.events", 2))
            time.now += 3600
            assert (await client.get("/healthz")).status_code == 200
    finally:
        app.state.kafka.consumer = original
        CONSUMER_LAG.remove(group, "tickets.events", 0)
        CONSUMER_LAG.remove(group, "tickets.events", 1)
