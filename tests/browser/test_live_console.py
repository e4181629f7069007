"""A real browser against the real stack (issue #18, docs/testing.md "Browser tier"):
headless Chromium (Debian's package, driven by Playwright; no browser download) opens a
small agent console (tests/browser/page/, plain HTML and a module script) served from
``http://127.0.0.1:5173``. Through the gateway (Caddy, ``deploy/local/gateway.sh``) in
front of the ticket service served by uvicorn, the page lists tickets, follows
``/ticket/v1/events`` with ``fetch`` streaming, opens a ticket cross-origin (a CORS
preflight) and shows the ``ticket.created`` event for it; everything is asserted from the
DOM, with Playwright's auto-waiting ``expect``."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, BrowserContext, async_playwright, expect
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

import ticket_service
from servicekit.testing import drop_database, known_tenant, migrated_database, token, topic_prefix
from ticket_service.config import TicketSettings
from ticket_service.main import create_app

pytestmark = [pytest.mark.infra, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "deploy/local/gateway.sh"
PAGE = Path(__file__).parent / "page"
# The port a Vite dev server uses, and so one of the development CORS origins.
CONSOLE_PORT = 5173
CHROMIUM = os.environ.get("SUPPORTOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The event has to go outbox -> relay -> Kafka -> the service's hub -> the stream.
EVENT_TIMEOUT_MS = 30_000


def listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def console_socket() -> socket.socket:
    """5173 when free (another run may hold it: then any free port, allowed explicitly)."""
    try:
        return listening_socket(CONSOLE_PORT)
    except OSError:
        return listening_socket(0)


def free_port() -> int:
    with listening_socket(0) as sock:
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Preflight:
    origin: str | None
    requested_method: str | None
    status: int
    allowed: dict[str, str]


@dataclass
class Recorder:
    """The ticket app as the gateway reaches it, recording each CORS preflight for
    ``/v1/tickets`` and the service's answer: the test sees that the browser asked."""

    app: Any
    preflights: list[Preflight] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "OPTIONS"
            or scope["path"] != "/v1/tickets"
        ):
            await self.app(scope, receive, send)
            return
        asked = {k.decode(): v.decode() for k, v in scope["headers"]}

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                answered = {k.decode(): v.decode() for k, v in message.get("headers", [])}
                self.preflights.append(
                    Preflight(
                        asked.get("origin"),
                        asked.get("access-control-request-method"),
                        message["status"],
                        {k: v for k, v in answered.items() if k.startswith("access-control-")},
                    )
                )
            await send(message)

        await self.app(scope, receive, recording_send)


@asynccontextmanager
async def serving(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """``app`` behind uvicorn on an already bound socket (no race for the port)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=5
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped while starting")
                await asyncio.sleep(0.05)
        yield
    finally:
        # should_exit, not handle_exit: sse-starlette would end later tests' streams
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def gateway(ticket_port: int, state: Path) -> AsyncIterator[str]:
    """deploy/local/gateway.sh on a free port in front of the ticket service; the other
    services' ports are free ones nothing listens on."""
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTOPS_STATE_DIR": str(state),
        "SUPPORTOPS_GATEWAY_PORT": str(port),
        "TICKET_PORT": str(ticket_port),
        "BILLING_PORT": str(free_port()),
        "ONBOARDING_PORT": str(free_port()),
        "ESCALATION_PORT": str(free_port()),
    }

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(GATEWAY), command], env=env, capture_output=True, text=True)

    try:
        started = await asyncio.to_thread(run, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(run, "stop")


@dataclass
class Stack:
    gateway: str
    console: str
    tenant: str
    ticket: Recorder


@pytest_asyncio.fixture(loop_scope="session")
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    console_sock = console_socket()
    console = f"http://127.0.0.1:{console_sock.getsockname()[1]}"
    # on 5173 the development default origins apply as they are; elsewhere the settings
    # must name the page's origin
    cors = {} if console.endswith(f":{CONSOLE_PORT}") else {"cors_origins": [console]}
    database, url = await migrated_database(
        "browser_ticket", Path(ticket_service.__file__).parent / "migrations"
    )
    try:
        app = create_app(
            TicketSettings(
                environment="test",
                database_url=url,
                kafka_topic_prefix=topic_prefix(),
                relay_poll_interval_seconds=0.1,
                # Caddy learns that the browser went away only when it next writes to it:
                # a short heartbeat lets the gateway stop at once, not after its 15 s
                live_heartbeat_seconds=1.0,
                **cors,
            )
        )
        ticket = Recorder(app)
        ticket_sock = listening_socket(0)
        static = Starlette(routes=[Mount("/", StaticFiles(directory=PAGE, html=True))])
        async with (
            serving(ticket, ticket_sock),
            serving(static, console_sock),
            gateway(ticket_sock.getsockname()[1], tmp_path / "state") as gateway_url,
        ):
            tenant = await known_tenant(app)
            yield Stack(gateway_url, console, tenant, ticket)
    finally:
        await drop_database(database)


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert os.access(CHROMIUM, os.X_OK), (
        f"{CHROMIUM} missing: apt-get install chromium (Debian), or set SUPPORTOPS_CHROMIUM"
    )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_the_console_lists_follows_creates_and_shows_the_live_event(
    stack: Stack, browser: Browser
) -> None:
    # an agent's console: a staff token (a tenant-confined one is a customer's portal)
    bearer = token("agent", subject="browser-agent")
    # a ticket that exists before the page opens: the list must show it
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=30) as client:
        seeded = await client.post(
            "/ticket/v1/tickets",
            json={
                "tenant_id": stack.tenant,
                "requester": {"email": "sam@example.com", "name": "Sam Roe"},
                "channel": "email",
                "subject": "Seeded before the console opened",
                "body": "Invoices are not downloadable.",
            },
            headers={"Authorization": f"Bearer {bearer}", "Idempotency-Key": uuid.uuid4().hex},
        )
    assert seeded.status_code == 201, seeded.text
    seeded_id = seeded.json()["id"]

    context = await browser.new_context()
    try:
        await drive_the_console(context, stack, bearer, seeded_id)
    finally:
        await context.close()  # ends the page's event stream before the gateway stops


async def drive_the_console(
    context: BrowserContext, stack: Stack, bearer: str, seeded_id: str
) -> None:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    query = urlencode({"api": stack.gateway, "token": bearer, "tenant": stack.tenant})
    await page.goto(f"{stack.console}/?{query}")

    # (1) the list, read through the gateway
    await expect(page.locator("#tickets")).to_contain_text(seeded_id)
    await expect(page.locator("#tickets")).to_contain_text("Seeded before the console opened")
    # (2) the stream is open (the server's "connected" comment came through Caddy)
    await expect(page.locator("#stream-state")).to_have_text("live", timeout=EVENT_TIMEOUT_MS)
    # (3) a ticket opened from the page, cross-origin
    await page.locator("#create").click()
    await expect(page.locator("#created")).to_contain_text("created ")
    created_id = await page.locator("#created").get_attribute("data-ticket-id")
    assert created_id and created_id != seeded_id
    # Location is readable by the script only because the API exposes it (CORS), and
    # carries the gateway's prefix
    location = await page.locator("#created").get_attribute("data-location")
    assert location == f"/ticket/v1/tickets/{created_id}"
    # (4) its ticket.created event, pushed over the open stream
    await expect(page.locator("#events")).to_contain_text(
        f"ticket.created {created_id}", timeout=EVENT_TIMEOUT_MS
    )
    assert errors == []

    # the browser asked first (Authorization, a JSON body and Idempotency-Key are not
    # CORS-safelisted; Chromium caches the answer for the URL, so one preflight may serve
    # both the list and the create), through the gateway, and the service allowed it all
    assert stack.ticket.preflights, "no CORS preflight reached the service"
    for preflight in stack.ticket.preflights:
        assert preflight.origin == stack.console
        assert preflight.status == 200
        assert preflight.allowed["access-control-allow-origin"] == stack.console
        assert "POST" in preflight.allowed["access-control-allow-methods"]
        allowed_headers = preflight.allowed["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "idempotency-key"):
            assert header in allowed_headers
