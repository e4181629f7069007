"""Test helpers of the escalation-service: report bodies, event reads, the clock's start."""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from escalation_service.config import EscalationSettings
from servicekit.testing import TestClock, auth, deliver, known_tenant, read_topic
from supportops_events import Envelope
from supportops_events.samples import sample
from supportops_events.tickets import TicketEscalated

QA = auth("qa", subject="qa-ada")
AGENT = auth("agent", subject="agent-bob")


START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
"""Where every test's clock starts (``servicekit.testing.TestClock``)."""


@dataclass
class Running:
    client: httpx.AsyncClient
    settings: EscalationSettings
    clock: TestClock
    prefix: str
    app: FastAPI | None = None


def escalated_ticket(**fields: Any) -> TicketEscalated:
    """A ``ticket.escalated`` sample, typed."""
    event = sample("ticket.escalated", **fields)
    assert isinstance(event, TicketEscalated)
    return event


def uid(prefix: str) -> str:
    if prefix == "ten":
        return str(uuid.uuid4())  # tenant ids are onboarding's UUIDs
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def announce_ticket(app: FastAPI, *, ticket_id: str, tenant_id: str) -> None:
    """The ticket as the ticket-service's ``ticket.created`` would make it known (a ticket
    already known keeps its real tenant)."""
    await deliver(app, sample("ticket.created", ticket_id=ticket_id, tenant_id=tenant_id))


def announcing(app: FastAPI) -> Any:
    """An httpx request hook standing in for onboarding and the ticket-service: the
    tenants and tickets a test's bug reports and links name are announced to the app
    before the request, as their events would have (docs/testing.md). Tests of unknown
    or foreign ids use a client without it (``bare_client``)."""

    async def hook(request: httpx.Request) -> None:
        path = request.url.path
        if request.method != "POST" or not (path == "/v1/bugs" or path.endswith("/links")):
            return
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        refs = [body] if path.endswith("/links") else list(body.get("linked_tickets") or [])
        tenants = [body.get("tenant_id"), *(body.get("affected_tenants") or [])]
        tenants += [ref.get("tenant_id") for ref in refs if isinstance(ref, dict)]
        for tenant in {t for t in tenants if isinstance(t, str)}:
            with contextlib.suppress(Exception):  # not a UUID: the app refuses it
                await known_tenant(app, tenant)
        for ref in refs:
            if isinstance(ref, dict) and all(isinstance(ref.get(k), str) for k in KEYS):
                with contextlib.suppress(Exception):
                    await announce_ticket(
                        app, ticket_id=ref["ticket_id"], tenant_id=ref["tenant_id"]
                    )

    return hook


KEYS = ("ticket_id", "tenant_id")


def report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": uid("ten"),
        "title": "Exporting an invoice as PDF shows a blank page",
        "summary": "Since the last release every PDF export is empty.",
        "steps": [
            "Open Billing > Invoices",
            "Open any paid invoice",
            "Click Export as PDF",
        ],
        "expected": "A PDF with the invoice lines downloads",
        "actual": "A blank white PDF page downloads",
        "environment": {
            "app_version": "4.12.0",
            "browser": "Firefox 123",
            "os": "macOS 14.3",
            "tenant_configuration": {"locale": "de-DE"},
        },
        "severity": "high",
        "attachments": [{"kind": "link", "url": "https://example.com/shot.png"}],
    }
    body.update(overrides)
    if "linked_tickets" not in overrides:
        body["linked_tickets"] = [{"ticket_id": uid("tkt"), "tenant_id": body["tenant_id"]}]
    return body


async def create(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/bugs", json=body, headers={**AGENT, "Idempotency-Key": uid("k"), **headers}
    )
    assert response.status_code == 201, response.text
    bug: dict[str, Any] = response.json()["bug"]
    return bug


async def move(client: httpx.AsyncClient, bug_id: str, to: str, **extra: Any) -> httpx.Response:
    return await client.post(f"/v1/bugs/{bug_id}/transitions", json={"to": to, **extra}, headers=QA)


async def reproduce(client: httpx.AsyncClient, bug_id: str, outcome: str = "reproduced") -> None:
    response = await client.post(
        f"/v1/bugs/{bug_id}/reproductions",
        json={
            "environment": {"app_version": "4.12.0", "browser": "Chrome 122"},
            "steps_followed": ["Open invoice", "Export as PDF"],
            "outcome": outcome,
            "evidence": [{"kind": "log_excerpt", "content": "PdfRenderer: font not found"}],
        },
        headers={**QA, "Idempotency-Key": uid("k")},
    )
    assert response.status_code == 201, response.text


async def bug_events(
    prefix: str, bug_id: str, *, count: int, timeout: float = 15.0
) -> list[Envelope]:
    def mine(read: list[Envelope]) -> list[Envelope]:
        return [e for e in read if getattr(e.data, "bug_id", None) == bug_id]

    read = await read_topic(
        prefix + "escalation.events", until=lambda r: len(mine(r)) >= count, timeout=timeout
    )
    return mine(read)
