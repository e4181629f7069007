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
    # every record any service published decoded as a CloudEvent with the SDK
    assert running.undecodable == [], running.undecodable[:3]


@pytest.fixture
async def journey(stack: Stack, tap: EventTap, traces: TraceCollector) -> AsyncIterator[Journey]:
    running = Journey(stack, tap, traces)
    try:
        yield running
    finally:
        await running.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first journey of a run also starts the stack (about 30 s, more on a busy
    machine): give journeys a longer budget than the suite's default."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(300))
