"""Python function calls per request of the ticket-service's create, get and /healthz,
against the request-path benchmark's baselines (bare FastAPI, ORM + outbox), counted
with cProfile in-process: deterministic, so it can be compared on a busy machine where
wall-clock and CPU timings are noise.

    uv run python -m benchmarks.request_calls [--requests 200] [--top 25] [--only get]

``list`` (``GET /v1/tickets?limit=20``, the console's queue) has no baseline of its own.

Each request is sent through ``httpx.ASGITransport``; only the app's own call (its
middleware, routing, handler, database driver work while awaited) is profiled, not the
client. ``--top`` prints the functions with the most own calls for the ticket-service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
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
    ticket_app,
)
from servicekit.testing import drop_database, migrated_database

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
        total: int = stats.total_calls  # type: ignore[attr-defined]
        return total / max(self.requests, 1)


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


def _create(headers: dict[str, str]) -> Send:
    return lambda c, i: c.post("/v1/tickets", json=_ticket_body(i), headers=headers)


def _get(ticket_id: str, headers: dict[str, str]) -> Send:
    return lambda c, i: c.get(f"/v1/tickets/{ticket_id}", headers=headers)


def _list(headers: dict[str, str]) -> Send:
    return lambda c, i: c.get("/v1/tickets?limit=20", headers=headers)


def _health() -> Send:
    return lambda c, i: c.get("/healthz")


async def main(args: argparse.Namespace) -> list[str]:
    name, url = await migrated_database("bench_request_calls", TICKET_MIGRATIONS)
    os.environ["BENCH_DATABASE_URL"] = url
    n = args.requests
    wanted = [w for w in ("create", "get", "list", "healthz") if not args.only or w == args.only]
    baselines: dict[str, float] = {}
    subjects: dict[str, float] = {}
    tops: list[str] = []
    try:
        await seed_tenants(url)
        # the baselines first, before the ticket-service's app exists: creating it sets
        # up the process's tracing, which would make the baselines' FastAPI record spans
        async with client_of(orm_app()) as (oc, op), client_of(bare_app()) as (bc, bp):
            made = await oc.post("/v1/tickets", json=_ticket_body(0))
            orm_ticket = made.json()["id"]
            base_cases = {
                "create": (oc, op, _create({})),
                "get": (oc, op, _get(orm_ticket, {})),
                "healthz": (bc, bp, _health()),
            }
            for what in wanted:
                if what not in base_cases:
                    continue
                client, profiled, send = base_cases[what]
                baselines[what] = (await measure(client, profiled, send, n)).calls_per_request()
                if args.dump:
                    profiled.profile.dump_stats(f"{args.dump}/{what}-baseline.prof")

        ticket = ticket_app(url)
        async with client_of(ticket) as (tc, tp):
            made = await tc.post("/v1/tickets", json=_ticket_body(0), headers=STAFF)
            cases = {
                "create": _create(STAFF),
                "get": _get(made.json()["id"], STAFF),
                "list": _list(STAFF),
                "healthz": _health(),
            }
            for what in wanted:
                profiled = await measure(tc, tp, cases[what], n)
                subjects[what] = profiled.calls_per_request()
                if args.dump:
                    profiled.profile.dump_stats(f"{args.dump}/{what}-subject.prof")
                if args.top:
                    out = io.StringIO()
                    stats = pstats.Stats(profiled.profile, stream=out)
                    stats.sort_stats(args.sort).print_stats(args.top)
                    tops.append(f"### {what}: top {args.top} by {args.sort}\n{out.getvalue()}")
    finally:
        await drop_database(name)
    names = {"create": "ORM + outbox", "get": "ORM get", "healthz": "bare FastAPI"}
    lines = [
        f"## Function calls per request (cProfile, {n} requests each)",
        "",
        "| request | ticket-service | baseline | ratio |",
        "|---|---|---|---|",
    ]
    for what in wanted:
        s = subjects[what]
        if what not in baselines:
            lines.append(f"| {what} | {s:,.0f} | - | - |")
            continue
        b = baselines[what]
        lines.append(f"| {what} | {s:,.0f} | {b:,.0f} ({names[what]}) | {s / b:.2f}x |")
    return [*lines, "", *tops]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="function calls per request")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--top", type=int, default=0)
    p.add_argument("--sort", default="tottime", help="pstats key: tottime, cumulative, calls")
    p.add_argument("--dump", help="a directory to write the raw profiles to")
    p.add_argument("--only", choices=["create", "get", "list", "healthz"])
    return p


if __name__ == "__main__":
    for line in asyncio.run(main(parser().parse_args())):
        print(line)  # noqa: T201
