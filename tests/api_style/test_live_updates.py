"""Live updates on the services (docs/api-style.md, "Live updates"): every service
documents ``GET /v1/events`` as ``text/event-stream`` and refuses it without a token; on
the ticket service, a real ``POST /v1/tickets`` reaches a staff stream and the stream of
the ticket's tenant, never another tenant's (through its outbox, relay and Kafka)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from stylekit import IDS, SERVICES, Service

from servicekit.testing import (
    SseReader,
    auth,
    drop_database,
    known_tenant,
    migrated_database,
    served,
)

TICKET = SERVICES[0]
STAFF = auth("admin", subject="live-admin")


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
def test_the_stream_is_documented_as_server_sent_events(service: Service) -> None:
    operation = service.shared_test_app().openapi()["paths"]["/v1/events"]["get"]
    assert operation["operationId"] == "events.stream"
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert any(p["name"] == "Last-Event-ID" for p in operation["parameters"])
    assert "401" in operation["responses"]


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
async def test_no_token_is_a_401_problem(service: Service) -> None:
    transport = httpx.ASGITransport(app=service.shared_test_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        response = await client.get("/v1/events")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


@asynccontextmanager
async def ticket_service() -> AsyncIterator[tuple[str, list[str]]]:
    """The ticket service behind a real server on its own migrated database, with two
    known tenants."""
    database, url = await migrated_database("live_ticket", TICKET.migrations)
    try:
        app = TICKET.test_app(
            database_url=url, live_heartbeat_seconds=1.0, relay_poll_interval_seconds=0.1
        )
        async with served(app) as base_url:
            tenants = [await known_tenant(app) for _ in range(2)]
            yield base_url, tenants
    finally:
        await drop_database(database)


@asynccontextmanager
async def stream(base_url: str, headers: dict[str, str]) -> AsyncIterator[SseReader]:
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        client.stream("GET", "/v1/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        reader = SseReader(response)
        assert (await reader.next()).comment == "connected"  # subscribed from here on
        yield reader


async def create_ticket(base_url: str, tenant_id: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/v1/tickets",
            json={
                "tenant_id": tenant_id,
                "requester": {"email": "pat@example.com", "name": "Pat Doe"},
                "channel": "email",
                "subject": "Cannot log in",
                "body": "I lost my phone and with it my MFA codes.",
            },
            headers={**STAFF, "Idempotency-Key": uuid.uuid4().hex},
        )
    assert response.status_code == 201, response.text
    ticket_id: str = response.json()["id"]
    return ticket_id


@pytest.mark.infra
async def test_ticket_events_reach_staff_and_only_their_tenant() -> None:
    async with ticket_service() as (base_url, (mine, theirs)):
        confined = auth("agent", tenant_id=mine, subject="live-agent")
        async with stream(base_url, STAFF) as staff, stream(base_url, confined) as own:
            other_ticket = await create_ticket(base_url, theirs)
            own_ticket = await create_ticket(base_url, mine)
            staff_seen = {}
            while len(staff_seen) < 2:  # other events (triage...) may come in between
                message = await staff.next_event()
                data = json.loads(message.data)
                if message.event == "ticket.created":
                    staff_seen[data["data"]["ticket_id"]] = data["tenant_id"]
            assert staff_seen == {other_ticket: theirs, own_ticket: mine}
            # the hub has fanned both out by now: the confined stream holds only its own
            message = await own.next_event()
            while message.event != "ticket.created":
                assert json.loads(message.data)["tenant_id"] == mine
                message = await own.next_event()
            assert json.loads(message.data)["data"]["ticket_id"] == own_ticket
            marker = await create_ticket(base_url, mine)
            message = await own.next_event()
            while message.event != "ticket.created":
                assert json.loads(message.data)["tenant_id"] == mine
                message = await own.next_event()
            assert json.loads(message.data)["data"]["ticket_id"] == marker
