"""Small typed helpers for the ticket-service tests (unique module name on purpose)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from servicekit.testing import auth, known_tenant, read_topic, token
from supportops_events import Envelope
from ticket_service.config import TicketSettings

AGENT = auth("agent", subject="agent-ann")
ADMIN = auth("admin", subject="admin-ada")
REVIEWER = auth("admin", subject="admin-rex")  # a second admin: four eyes on templates


@dataclass
class Service:
    client: httpx.AsyncClient
    app: FastAPI
    prefix: str
    settings: TicketSettings

    async def tenant(self, **fields: Any) -> str:
        """A new tenant this service knows (as if onboarding announced it)."""
        return await known_tenant(self.app, **fields)

    async def events_of(
        self, topic: str, *, subject: str, count: int, types: set[str] | None = None
    ) -> list[Envelope]:
        """The events of one subject (ticket id, request id) on ``topic``, in order."""

        def mine(read: list[Envelope]) -> list[Envelope]:
            return [e for e in read if e.subject == subject and (types is None or e.type in types)]

        read = await read_topic(self.prefix + topic, until=lambda r: len(mine(r)) >= count)
        return mine(read)


async def patch_ticket(
    client: httpx.AsyncClient, ticket_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """PATCH a ticket as an agent with a fresh If-Match; returns the updated ticket."""
    url = f"/v1/tickets/{ticket_id}"
    etag = (await client.get(url, headers=AGENT)).headers["ETag"]
    response = await client.patch(url, json=changes, headers={**AGENT, "If-Match": etag})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def post_message(
    client: httpx.AsyncClient,
    ticket_id: str,
    headers: dict[str, str],
    body: str,
    kind: str = "reply",
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/tickets/{ticket_id}/messages", json={"kind": kind, "body": body}, headers=headers
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def tenant() -> str:
    """A tenant id nobody announced: requests naming it are refused (422); use
    ``await svc.tenant()`` for a known one."""
    return str(uuid.uuid4())


def ticket_body(
    tenant_id: str,
    *,
    subject: str = "Question",
    body: str = "Hello there",
    channel: str = "email",
    email: str = "pat@example.com",
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "requester": {"email": email, "name": "Pat Doe"},
        "channel": channel,
        "subject": subject,
        "body": body,
    }


async def open_ticket(
    client: httpx.AsyncClient, tenant_id: str, headers: dict[str, str] | None = None, **kw: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/tickets", json=ticket_body(tenant_id, **kw), headers=headers or AGENT
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


async def portal_ticket(svc: Service, tenant_id: str, user_id: str, **kw: Any) -> dict[str, Any]:
    """A ticket opened through the customer portal by ``user_id``: like the portal's, the
    token's subject is the user's id (what the access gate identifies the requester by) and
    its e-mail claim the user's address (what a customer may file tickets as)."""
    kw.setdefault("email", f"{user_id.rsplit('-', 1)[-1]}@{tenant_id}.example")
    bearer = token("agent", tenant_id=tenant_id, subject=user_id, email=kw["email"])
    portal = {"Authorization": f"Bearer {bearer}"}
    return await open_ticket(svc.client, tenant_id, headers=portal, **kw)
