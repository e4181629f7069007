"""The event-loop lag probe (``EVENT_LOOP_LAG_PROBE_SECONDS``): when on, a loop blocked by
anything (a CPU-bound call, a synchronous library, a long collection) shows in the
``event_loop_lag_seconds`` histogram, which is how a slow request is told from a blocked
service; off by default, and then it costs nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import APIRouter
from kitapp import KitSettings, served_client
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from servicekit.app import probe_loop_lag
from servicekit.testing import eventually

BLOCK_SECONDS = 0.08

blocking = APIRouter(prefix="/v1")


@blocking.post("/block")
async def block_the_loop() -> dict[str, str]:
    time.sleep(BLOCK_SECONDS)  # noqa: ASYNC251 -- the stall the probe must see
    return {"blocked": "yes"}


@blocking.post("/burn")
async def burn_the_cpu() -> dict[str, str]:
    until = time.process_time() + BLOCK_SECONDS  # CPU-bound work that does not yield
    while time.process_time() < until:
        pass
    return {"burnt": "yes"}


async def _client(settings: KitSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with served_client(settings, blocking) as client:
        yield client


def _lags(text: str, where: str, service: str = "kit-test") -> tuple[float, float]:
    """(observations, observations over 50 ms) of the kit-test service's probe, of the
    lags spent ``where`` (on_cpu, off_cpu)."""
    total = under = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("service") != service or sample.labels.get("where") != where:
                continue
            if sample.name == "event_loop_lag_seconds_count":
                total = sample.value
            elif sample.name == "event_loop_lag_seconds_bucket" and sample.labels["le"] == "0.05":
                under = sample.value
    return total, total - under


def _all_lags(text: str, service: str = "kit-test") -> tuple[float, float]:
    on, off = _lags(text, "on_cpu", service), _lags(text, "off_cpu", service)
    return on[0] + off[0], on[1] + off[1]


@pytest.fixture
async def probed(settings: KitSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(settings.model_copy(update={"event_loop_lag_probe_seconds": 0.01})):
        yield client


@pytest.fixture
async def unprobed(settings: KitSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(settings):
        yield client


async def test_a_blocked_loop_shows_in_the_lag_histogram(probed: httpx.AsyncClient) -> None:
    async def ticking() -> float:
        total, _ = _all_lags((await probed.get("/metrics")).text)
        assert total > 0  # the probe runs
        return total

    await eventually(ticking, timeout=10)
    _, stalls_before = _all_lags((await probed.get("/metrics")).text)
    assert (await probed.post("/v1/block")).status_code == 200

    async def stall_seen() -> None:
        _, stalls = _all_lags((await probed.get("/metrics")).text)
        assert stalls >= stalls_before + 1

    await eventually(stall_seen, timeout=10)


def test_a_stall_says_whether_the_loop_was_running_code() -> None:
    # on a loop of its own (a pytest process's loop also runs what earlier tests left):
    # a blocking call is an off-CPU lag, CPU-bound work an on-CPU one
    service = "lag-probe-unit"

    async def scenario() -> None:
        probe = asyncio.create_task(probe_loop_lag(service, 0.01))
        await asyncio.sleep(0.05)
        time.sleep(BLOCK_SECONDS)  # noqa: ASYNC251 -- a blocking call
        await asyncio.sleep(0.05)
        until = time.thread_time() + BLOCK_SECONDS
        while time.thread_time() < until:  # CPU-bound work that does not yield
            pass
        await asyncio.sleep(0.05)
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe

    before = generate_latest().decode()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()
    after = generate_latest().decode()
    for where in ("on_cpu", "off_cpu"):
        stalls = _lags(after, where, service)[1] - _lags(before, where, service)[1]
        assert stalls == 1, where


async def test_off_by_default(unprobed: httpx.AsyncClient, settings: KitSettings) -> None:
    assert settings.event_loop_lag_probe_seconds == 0
    text = (await unprobed.get("/metrics")).text
    before = _lags(text, "on_cpu"), _lags(text, "off_cpu")
    assert (await unprobed.post("/v1/block")).status_code == 200
    assert (await unprobed.post("/v1/burn")).status_code == 200
    for _ in range(3):
        await unprobed.get("/healthz")
    text = (await unprobed.get("/metrics")).text
    assert (_lags(text, "on_cpu"), _lags(text, "off_cpu")) == before
