"""The local gateway (deploy/local/gateway.sh, Caddy) in front of two real services
served by uvicorn on free ports: the prefix is stripped, forwarded headers reach the
service, ``Location`` comes back with the prefix and ``ETag``/``If-Match`` pass through,
responses are not buffered, an unknown prefix is a 404 problem and a service that is
down a 502 problem (decision 0023)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

import billing_service
import ticket_service
from billing_service.config import BillingSettings
from billing_service.main import create_app as billing_app
from servicekit.errors import PROBLEM_BASE, PROBLEM_JSON
from servicekit.testing import (
    auth,
    drop_database,
    free_ports,
    known_tenant,
    migrated_database,
    topic_prefix,
)
from ticket_service.config import TicketSettings
from ticket_service.main import create_app as ticket_app

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "deploy/local/gateway.sh"
STREAM_PATH = "/__test_stream"


@dataclass
class Recorder:
    """ASGI wrapper of a service app: records what each request looked like on arrival
    (the path after the gateway, its headers), and serves one streaming test path that
    sends a first chunk, then waits for the test to have received it."""

    app: FastAPI
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.seen.append((scope["path"], headers))
            if scope["path"] == STREAM_PATH:
                await self.stream(send)
                return
        await self.app(scope, receive, send)

    async def stream(self, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"n": 1}\n', "more_body": True})
        # a buffering proxy holds the first chunk back: the test then never sees it and
        # never releases the second
        await asyncio.wait_for(self.release.wait(), 20)
        await send({"type": "http.response.body", "body": b'{"n": 2}\n', "more_body": False})


@dataclass
class Gateway:
    url: str
    ticket: Recorder
    billing: Recorder
    ticket_app: FastAPI


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            return server, task
        if task.done():
            await task
            raise RuntimeError(f"uvicorn on :{port} exited")
        await asyncio.sleep(0.05)
    raise RuntimeError(f"uvicorn on :{port} did not start")


def gateway_sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GATEWAY), command], env={**os.environ, **env}, capture_output=True, text=True
    )


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    quiet = {"environment": "test", "run_relay": False, "run_consumers": False}
    ticket_db, ticket_url = await migrated_database(
        "gw_ticket", Path(ticket_service.__file__).parent / "migrations"
    )
    billing_db, billing_url = await migrated_database(
        "gw_billing", Path(billing_service.__file__).parent / "migrations"
    )
    t_app = ticket_app(
        TicketSettings(database_url=ticket_url, kafka_topic_prefix=topic_prefix(), **quiet)
    )
    b_app = billing_app(
        BillingSettings(database_url=billing_url, kafka_topic_prefix=topic_prefix(), **quiet)
    )
    ticket, billing = Recorder(t_app), Recorder(b_app)
    names = ("gw", "ticket", "billing", "onboarding", "escalation")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = {
        "SUPPORTOPS_STATE_DIR": str(tmp_path / "state"),
        "SUPPORTOPS_GATEWAY_PORT": str(ports["gw"]),
        "TICKET_PORT": str(ports["ticket"]),
        "BILLING_PORT": str(ports["billing"]),
        # nothing listens there: those paths must answer a 502 problem
        "ONBOARDING_PORT": str(ports["onboarding"]),
        "ESCALATION_PORT": str(ports["escalation"]),
    }
    servers = []
    try:
        servers.append(await serve(ticket, ports["ticket"]))
        servers.append(await serve(billing, ports["billing"]))
        started = await asyncio.to_thread(gateway_sh, "start", env)
        assert started.returncode == 0, started.stdout + started.stderr
        yield Gateway(f"http://127.0.0.1:{ports['gw']}", ticket, billing, t_app)
    finally:
        stopped = await asyncio.to_thread(gateway_sh, "stop", env)
        for server, task in servers:
            server.should_exit = True
            await task
        await drop_database(ticket_db)
        await drop_database(billing_db)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + code
    assert body["status"] == status
    return body


async def test_one_origin_in_front_of_the_services(gateway: Gateway) -> None:
    staff = auth("admin", subject="gw-admin")
    tenant = await known_tenant(gateway.ticket_app)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        created = await client.post(
            "/ticket/v1/tickets",
            json={
                "tenant_id": tenant,
                "requester": {"email": "pat@example.com", "name": "Pat Doe"},
                "channel": "email",
                "subject": "Through the gateway",
                "body": "Hello",
            },
            headers={**staff, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        # the service said /v1/tickets/<id>; through the gateway that is under /ticket
        assert created.headers["location"] == f"/ticket/v1/tickets/{ticket_id}"
        etag = created.headers["etag"]
        assert etag == '"1"'

        # the prefix is stripped on the way in, and the forwarded headers are set
        path, headers = gateway.ticket.seen[-1]
        assert path == "/v1/tickets"
        assert headers["x-forwarded-prefix"] == "/ticket"
        assert headers["x-forwarded-proto"] == "http"
        assert headers["x-forwarded-host"] == gateway.url.removeprefix("http://")
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["authorization"] == staff["Authorization"]

        # Location can be followed through the gateway; the ETag survives
        read = await client.get(created.headers["location"], headers=staff)
        assert read.status_code == 200, read.text
        assert read.json()["id"] == ticket_id
        assert read.headers["etag"] == etag
        assert gateway.ticket.seen[-1][0] == f"/v1/tickets/{ticket_id}"

        # If-Match goes through, and the service's 412 problem comes back as it is
        stale = await client.patch(
            f"/ticket/v1/tickets/{ticket_id}",
            json={"priority": "high"},
            headers={**staff, "If-Match": '"7"'},
        )
        assert assert_problem(stale, 412, "etag-mismatch")["current_etag"] == etag
        assert gateway.ticket.seen[-1][1]["if-match"] == '"7"'

        # the other service, under its own prefix
        plans = await client.get("/billing/v1/plans", headers=auth("billing"))
        assert plans.status_code == 200, plans.text
        assert gateway.billing.seen[-1][0] == "/v1/plans"
        assert all(path != "/v1/plans" for path, _ in gateway.ticket.seen)


async def test_unknown_prefixes_and_absent_services_are_problems(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        for path in ("/v1/tickets", "/tickets/v1/tickets", "/nope/healthz", "/"):
            body = assert_problem(await client.get(path), 404, "not-found")
            assert body["instance"] == path
        # onboarding is routed, but nothing listens behind it in this test
        down = await client.get("/onboarding/v1/tenants", headers=auth("admin"))
        assert assert_problem(down, 502, "bad-gateway")["instance"] == "/onboarding/v1/tenants"
        health = await client.get("/ticket/healthz")
        assert health.status_code == 200, health.text


async def test_responses_are_streamed_not_buffered(gateway: Gateway) -> None:
    """Live updates (server-sent events) need each chunk passed on as it is written."""
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as client,
        client.stream("GET", f"/ticket{STREAM_PATH}") as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        first = await asyncio.wait_for(anext(lines), 10)
        assert first == '{"n": 1}'
        gateway.ticket.release.set()
        assert await asyncio.wait_for(anext(lines), 10) == '{"n": 2}'
