"""Python function calls per request of the ticket-service's create, get and /healthz,
against the request-path benchmark's baselines (bare FastAPI, ORM + outbox), counted
with cProfile in-process: deterministic, so it can be compared on a busy machine where
wall-clock and CPU timings are noise.

    uv run python -m benchmarks.request_calls [--requests 200] [--top 25] [--only get]

Each request is sent through ``httpx.ASGITransport``; only the app's own call (its
middleware, routing, handler, database driver work while awaited) is profiled, not the
client. ``--top`` prints the functions with the most own calls for the ticket-service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from benchmarks.request_path import (
    STAFF,
    TICKET_MIGRATIONS,
    _ticket_body,
    bare_app,
    orm_app,
    seed_tenants,
)
from servicekit.testing import drop_database, migrated_database, topic_prefix

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]


class Profiled:
    """An ASGI wrapper that profiles HTTP calls into ``app`` while ``on`` is set."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.profile = cProfile.Profile()
        self.on = False
        self.timing = False
        self.requests = 0
        self.cpu_ns = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.on:
            await self.app(scope, receive, send)
            return
        self.requests += 1
        if self.timing:
            started = time.thread_time_ns()
            try:
                await self.app(scope, receive, send)
            finally:
                self.cpu_ns += time.thread_time_ns() - started
            return
        self.profile.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            self.profile.disable()

    def calls_per_request(self) -> float:
        stats = pstats.Stats(self.profile)
        return stats.total_calls / max(self.requests, 1)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def client_of(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Profiled]]:
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app, startup_timeout=60) as manager:
        profiled = Profiled(manager.app)
        transport = httpx.ASGITransport(app=profiled)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, profiled


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def measure(
    client: httpx.AsyncClient, profiled: Profiled, send: Send, requests: int
) -> Profiled:
    for n in range(5):  # warm caches (configuration, statements, metric children)
        (await send(client, 1_000 + n)).raise_for_status()
    profiled.profile = cProfile.Profile()
    profiled.requests = 0
    profiled.on = True
    try:
        for n in range(requests):
            (await send(client, 2_000 + n)).raise_for_status()
    finally:
        profiled.on = False
    return profiled


async def main(args: argparse.Namespace) -> list[str]:
    from ticket_service.config import TicketSettings
    from ticket_service.main import create_app

    name, url = await migrated_database("bench_request_calls", TICKET_MIGRATIONS)
    os.environ["BENCH_DATABASE_URL"] = url
    rows: list[tuple[str, float, float, str]] = []
    tops: list[str] = []
    n = args.requests
    try:
        await seed_tenants(url)
        ticket = create_app(
            TicketSettings(
                database_url=url,
                kafka_topic_prefix=topic_prefix(),
                environment="test",
                run_relay=False,
                run_consumers=False,
                log_level="WARNING",
            )
        )
        async with (
            client_of(ticket) as (tc, tp),
            client_of(orm_app()) as (oc, op),
            client_of(bare_app()) as (bc, bp),
        ):
            made = await tc.post("/v1/tickets", json=_ticket_body(0), headers=STAFF)
            ticket_id = made.json()["id"]

            def create(headers: dict[str, str]) -> Send:
                return lambda c, i: c.post("/v1/tickets", json=_ticket_body(i), headers=headers)

            def get(headers: dict[str, str]) -> Send:
                return lambda c, i: c.get(f"/v1/tickets/{ticket_id}", headers=headers)

            def health() -> Send:
                return lambda c, i: c.get("/healthz")

            cases = {
                "create": (create(STAFF), create({}), op, oc, "ORM + outbox"),
                "get": (get(STAFF), get({}), op, oc, "ORM get"),
                "healthz": (health(), health(), bp, bc, "bare FastAPI"),
            }
            for what, (send, base_send, base_p, base_c, base_name) in cases.items():
                if args.only and what != args.only:
                    continue
                subject = await measure(tc, tp, send, n)
                baseline = await measure(base_c, base_p, base_send, n)
                s, b = subject.calls_per_request(), baseline.calls_per_request()
                rows.append((what, s, b, base_name))
                if args.dump:
                    subject.profile.dump_stats(f"{args.dump}/{what}-subject.prof")
                    baseline.profile.dump_stats(f"{args.dump}/{what}-baseline.prof")
                if args.top:
                    out = _Capture()
                    stats = pstats.Stats(subject.profile, stream=out)
                    stats.sort_stats(args.sort).print_stats(args.top)
                    tops.append(f"### {what}: top {args.top} by {args.sort}\n{out.text()}")
    finally:
        await drop_database(name)
    lines = [
        f"## Function calls per request (cProfile, {n} requests each)",
        "",
        "| request | ticket-service | baseline | ratio |",
        "|---|---|---|---|",
    ]
    for what, s, b, base_name in rows:
        lines.append(f"| {what} | {s:,.0f} | {b:,.0f} ({base_name}) | {s / b:.2f}x |")
    return [*lines, "", *tops]


class _Capture:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def text(self) -> str:
        return "".join(self.parts)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="function calls per request")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--top", type=int, default=0)
    p.add_argument("--sort", default="tottime", help="pstats key: tottime, cumulative, calls")
    p.add_argument("--dump", help="a directory to write the raw profiles to")
    p.add_argument("--only", choices=["create", "get", "healthz"])
    return p


if __name__ == "__main__":
    for line in asyncio.run(main(parser().parse_args())):
        print(line)  # noqa: T201
