"""The event-loop lag probe (``EVENT_LOOP_LAG_PROBE_SECONDS``): when on, a loop blocked by
anything (a CPU-bound call, a synchronous library, a long collection) shows in the
``event_loop_lag_seconds`` histogram, which is how a slow request is told from a blocked
service; off by default, and then it costs nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from kitapp import KitSettings, definition
from prometheus_client.parser import text_string_to_metric_families

from servicekit.app import create_service_app
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
    defn = definition(settings)
    defn.routers = [*defn.routers, blocking]
    app: FastAPI = create_service_app(defn)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            yield client


def _lags(text: str, where: str = "off_cpu") -> tuple[float, float]:
    """(observations, observations over 50 ms) of the kit-test service's probe, of the
    lags spent ``where`` (on_cpu, off_cpu)."""
    total = under = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("service") != "kit-test" or sample.labels.get("where") != where:
                continue
            if sample.name == "event_loop_lag_seconds_count":
                total = sample.value
            elif sample.name == "event_loop_lag_seconds_bucket" and sample.labels["le"] == "0.05":
                under = sample.value
    return total, total - under


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
        total, _ = _lags((await probed.get("/metrics")).text)
        assert total > 0  # the probe runs
        return total

    await eventually(ticking, timeout=10)
    _, stalls_before = _lags((await probed.get("/metrics")).text)
    assert (await probed.post("/v1/block")).status_code == 200

    async def stall_seen() -> None:
        _, stalls = _lags((await probed.get("/metrics")).text)
        assert stalls >= stalls_before + 1

    await eventually(stall_seen, timeout=10)


async def test_a_stall_says_whether_the_process_was_running(probed: httpx.AsyncClient) -> None:
    # a CPU-bound stall is on_cpu; the sleeping one above (a blocking call) is off_cpu
    _, burns_before = _lags((await probed.get("/metrics")).text, "on_cpu")
    _, waits_before = _lags((await probed.get("/metrics")).text, "off_cpu")
    assert (await probed.post("/v1/burn")).status_code == 200

    async def burn_seen() -> None:
        _, burns = _lags((await probed.get("/metrics")).text, "on_cpu")
        assert burns >= burns_before + 1

    await eventually(burn_seen, timeout=10)
    assert _lags((await probed.get("/metrics")).text, "off_cpu")[1] == waits_before


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
