"""Worker liveness: a consumer that has events waiting and processes none for too long is
hung, and ``/healthz`` says so (503), so the kubelet restarts the pod.

Kept apart from the consumer on purpose: ``ProgressWatch`` only needs two numbers, how
many events were processed so far and how many wait (the lag), from whatever progress
signal the consumer offers; ``consumer_signal`` reads the ones ``EventConsumer`` has.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from servicekit.metrics import CONSUMER_LAG


@dataclass(frozen=True)
class Liveness:
    alive: bool
    reason: str
    lag: int
    seconds_without_progress: float


@dataclass
class ProgressWatch:
    """Remembers when the consumer last made progress; idle (no lag) counts as fine."""

    stall_after_seconds: float
    clock: Callable[[], float] = time.monotonic
    _processed: int | None = None
    _last_progress: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._last_progress = self.clock()

    def check(self, *, processed: int, lag: int) -> Liveness:
        now = self.clock()
        if self._processed is None or processed != self._processed or lag <= 0:
            self._processed = processed
            self._last_progress = now
        idle_for = now - self._last_progress
        if lag > 0 and idle_for > self.stall_after_seconds:
            return Liveness(
                alive=False,
                reason=f"{lag} events waiting and none processed for {idle_for:.0f}s",
                lag=lag,
                seconds_without_progress=idle_for,
            )
        return Liveness(alive=True, reason="ok", lag=lag, seconds_without_progress=idle_for)


def group_lag(group: str, assigned: set[tuple[str, str]] | None = None) -> int:
    """The group's lag as this process last measured it, over the partitions it is
    ``assigned`` (topic, partition) when given: a partition moved to another member
    keeps its last, stale value here and must not count."""
    total = 0.0
    for metric in CONSUMER_LAG.collect():
        for sample in metric.samples:
            labels = sample.labels
            if labels.get("group") != group:
                continue
            if (
                assigned is not None
                and (labels.get("topic"), labels.get("partition")) not in assigned
            ):
                continue
            total += sample.value
    return int(total)


def consumer_signal(consumer: Any) -> tuple[int, int]:
    """(events processed, lag of the assigned partitions) of an ``EventConsumer``."""
    assigned: set[tuple[str, str]] | None = None
    kafka_consumer = getattr(consumer, "consumer", None)
    if kafka_consumer is not None:
        with contextlib.suppress(Exception):  # not started, or closing
            assigned = {(tp.topic, str(tp.partition)) for tp in kafka_consumer.assignment()}
    return int(getattr(consumer, "processed", 0)), group_lag(str(consumer.group_id), assigned)
