"""Test helpers of the escalation-service: a movable clock, report bodies, event reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from escalation_service.config import EscalationSettings
from servicekit.testing import auth, read_topic
from supportops_events import Envelope

QA = auth("qa", subject="qa-ada")
AGENT = auth("agent", subject="agent-bob")


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass
class Running:
    client: httpx.AsyncClient
    settings: EscalationSettings
    clock: FakeClock
    prefix: str


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


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
