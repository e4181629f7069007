from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from events import EventTap
from journey import Journey
from otlp import TraceCollector
from stack import Stack, start_stack, stop_stack


@pytest.fixture(scope="session")
def traces() -> Iterator[TraceCollector]:
    collector = TraceCollector().start()
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture(scope="session")
async def stack(traces: TraceCollector) -> AsyncIterator[Stack]:
    running = await start_stack(
        otlp_endpoint=traces.endpoint,
        extra_env={
            # a renewal-invoice claim left by a killed billing-service is taken over soon
            "BILLING_RENEWAL_CLAIM_TIMEOUT_SECONDS": "5",
        },
    )
    try:
        yield running
    finally:
        await stop_stack(running)


@pytest.fixture(scope="session")
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    running = await EventTap(stack.prefix).start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def journey(stack: Stack, tap: EventTap, traces: TraceCollector) -> AsyncIterator[Journey]:
    running = Journey(stack, tap, traces)
    try:
        yield running
    finally:
        await running.close()
