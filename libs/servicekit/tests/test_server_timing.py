"""Every response says how long the service took to start answering (``Server-Timing:
app;dur=<ms>``): browsers' devtools show it, and the scale benchmark uses it to tell the
service's share of a slow request from the network's and the load generator's."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from kitapp import KitSettings, served_client

SERVER_TIMING = re.compile(r"^app;dur=(\d+\.\d), cpu;dur=(\d+\.\d)$")
PAUSE_SECONDS = 0.05

slow = APIRouter(prefix="/v1")


@slow.get("/slow")
async def slow_answer() -> dict[str, str]:
    await asyncio.sleep(PAUSE_SECONDS)  # the time the header must account for
    return {"ok": "yes"}


@slow.get("/busy")
async def busy_answer() -> dict[str, str]:
    until = time.process_time() + PAUSE_SECONDS  # CPU the header must account for
    while time.process_time() < until:
        pass
    return {"ok": "yes"}


@pytest.fixture
async def timed_client(settings: KitSettings) -> AsyncIterator[httpx.AsyncClient]:
    # the producer's boot is awaited first: its CPU would land in the first requests' figures
    async with served_client(settings, slow) as client:
        yield client


async def _timed(client: httpx.AsyncClient, method: str, url: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.request(method, url)
    return response, (time.perf_counter() - started) * 1000


def _timings(response: httpx.Response) -> tuple[float, float]:
    """(app, cpu) in ms."""
    values = response.headers.get_list("server-timing")
    assert len(values) == 1, values
    match = SERVER_TIMING.match(values[0])
    assert match, values[0]
    return float(match.group(1)), float(match.group(2))


def _app_ms(response: httpx.Response) -> float:
    return _timings(response)[0]


async def test_a_response_says_how_long_the_service_took(
    timed_client: httpx.AsyncClient,
) -> None:
    response, wall_ms = await _timed(timed_client, "GET", "/v1/slow")
    assert response.status_code == 200
    # at least the endpoint's own pause, at most what the caller waited
    assert PAUSE_SECONDS * 1000 <= _app_ms(response) <= wall_ms + 0.1

    probe, probe_wall_ms = await _timed(timed_client, "GET", "/healthz")
    assert probe.status_code == 200
    assert 0 <= _app_ms(probe) <= probe_wall_ms + 0.1
    assert _app_ms(probe) < PAUSE_SECONDS * 1000  # measured per request, not carried over


async def test_a_response_says_how_much_of_that_time_was_cpu(
    timed_client: httpx.AsyncClient,
) -> None:
    await timed_client.get("/v1/slow")  # a first request builds what routes build lazily
    waited = await timed_client.get("/v1/slow")  # 50 ms asleep: off the CPU
    app, cpu = _timings(waited)
    assert cpu < app - PAUSE_SECONDS * 1000 / 2
    busy = await timed_client.get("/v1/busy")  # 50 ms of CPU
    app, cpu = _timings(busy)
    assert PAUSE_SECONDS * 1000 <= cpu <= app + 1.0


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/v1/items", 401),  # no token: the auth dependency's problem
        ("GET", "/v1/nowhere", 404),  # no route
        ("DELETE", "/healthz", 405),  # the kit's own 405 rule
    ],
)
async def test_problem_responses_are_timed_too(
    timed_client: httpx.AsyncClient, method: str, url: str, status: int
) -> None:
    response, wall_ms = await _timed(timed_client, method, url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert 0 <= _app_ms(response) <= wall_ms + 0.1


async def test_cross_origin_pages_get_no_timing_allowance(
    timed_client: httpx.AsyncClient,
) -> None:
    # decision 0047: devtools show Server-Timing anyway; a page script on another
    # origin does not read the service's timings (no Timing-Allow-Origin)
    response = await timed_client.get("/healthz", headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 200
    assert "server-timing" in response.headers
    assert "timing-allow-origin" not in response.headers
