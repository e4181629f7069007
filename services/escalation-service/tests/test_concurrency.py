"""Race safety: reports, escalations, links and merges arriving at the same moment."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from escalation_fixtures import (
    AGENT,
    QA,
    Running,
    bug_events,
    create,
    escalated_ticket,
    report,
    uid,
)

from escalation_service.config import EscalationSettings
from escalation_service.consumers import build_events
from servicekit.db import Database
from servicekit.testing import payload
from supportops_events import Envelope
from supportops_events.escalation import BugLinked, BugReported

SAME_BUG = {
    "title": "Exporting an invoice as PDF shows a blank page",
    "steps": ["Open Billing > Invoices", "Open a paid invoice", "Click Export as PDF"],
    "actual": "A blank white PDF page downloads",
}


def _ticket_of(envelope: Envelope) -> str:
    """The ticket a ``bug.reported`` or ``bug.linked`` event names."""
    if envelope.type == "bug.linked":
        return payload(envelope, BugLinked).ticket_id
    return payload(envelope, BugReported).ticket_id


async def post_report(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/bugs", json=body, headers={**AGENT, "Idempotency-Key": uid("k")})


async def test_reports_of_one_bug_filed_at_once_make_one_bug(running: Running) -> None:
    bodies = [report(**SAME_BUG) for _ in range(6)]
    responses = await asyncio.gather(*(post_report(running.client, b) for b in bodies))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 200, 201], [r.text for r in responses]
    bug_ids = {r.json()["bug"]["id"] for r in responses}
    assert len(bug_ids) == 1
    bug_id = bug_ids.pop()
    detail = (await running.client.get(f"/v1/bugs/{bug_id}", headers=QA)).json()
    tickets = {b["linked_tickets"][0]["ticket_id"] for b in bodies}
    assert {t["ticket_id"] for t in detail["linked_tickets"]} == tickets
    assert sorted(detail["affected_tenants"]) == sorted(b["tenant_id"] for b in bodies)
    assert len((await running.client.get("/v1/bugs", headers=QA)).json()["items"]) == 1

    events = await bug_events(running.prefix, bug_id, count=6)
    assert sorted(e.type for e in events) == ["bug.linked"] * 5 + ["bug.reported"]
    assert {_ticket_of(e) for e in events} == tickets


async def test_one_ticket_reported_twice_at_once_is_linked_once(running: Running) -> None:
    body = report(**SAME_BUG)
    twice = await asyncio.gather(*(post_report(running.client, body) for _ in range(2)))
    assert sorted(r.status_code for r in twice) == [200, 201], [r.text for r in twice]
    bug = next(r.json()["bug"] for r in twice if r.status_code == 201)
    linked = next(r.json() for r in twice if r.status_code == 200)
    assert linked["outcome"] == "linked_to_duplicate"
    assert linked["bug"]["id"] == bug["id"]
    assert len(linked["bug"]["linked_tickets"]) == 1

    forced = {**report(title="Calendar sync duplicates recurring events"), "force_new": True}
    forced_twice = await asyncio.gather(*(post_report(running.client, forced) for _ in range(2)))
    assert sorted(r.status_code for r in forced_twice) == [201, 409]
    refused = next(r for r in forced_twice if r.status_code == 409)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/ticket-already-linked")
    assert len((await running.client.get("/v1/bugs", headers=QA)).json()["items"]) == 2


async def test_one_ticket_linked_by_hand_to_two_bugs_at_once(running: Running) -> None:
    first = await create(running.client, report())
    second = await create(running.client, report(title="Search ignores accents", force_new=True))
    ticket = {"ticket_id": uid("tkt"), "tenant_id": uid("ten")}
    responses = await asyncio.gather(
        *(
            running.client.post(f"/v1/bugs/{bug['id']}/links", json=ticket, headers=AGENT)
            for bug in (first, second)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    holders = [
        bug["id"]
        for bug in (first, second)
        if ticket["ticket_id"]
        in [
            t["ticket_id"]
            for t in (await running.client.get(f"/v1/bugs/{bug['id']}", headers=QA)).json()[
                "linked_tickets"
            ]
        ]
    ]
    assert len(holders) == 1
    same_again = await asyncio.gather(
        *(
            running.client.post(f"/v1/bugs/{holders[0]}/links", json=ticket, headers=AGENT)
            for _ in range(2)
        )
    )
    assert [r.status_code for r in same_again] == [200, 200]
    events = await bug_events(running.prefix, holders[0], count=2)
    assert [e.type for e in events] == ["bug.reported", "bug.linked"]


async def test_escalations_handled_at_once_by_two_replicas_make_one_bug(
    running: Running,
) -> None:
    """Two consumer replicas (one per partition) filing escalations of one bug at once,
    and the same escalation carried by two event ids."""
    threshold = EscalationSettings().duplicate_threshold
    handler = build_events(duplicate_threshold=threshold).handlers["ticket.escalated"]
    escalations = [
        escalated_ticket(tenant_id=uid("ten"), ticket_id=uid("tkt"), **SAME_BUG) for _ in range(4)
    ]
    envelopes = [Envelope.new(e, source="ticket-service") for e in escalations]
    envelopes.append(Envelope.new(escalations[0], source="ticket-service"))  # a second id
    db = Database(running.settings.database_url)

    async def replica(envelope: Envelope) -> None:
        async with db.unit_of_work() as session:
            await handler(session, envelope)

    try:
        await asyncio.gather(*(replica(e) for e in envelopes))
    finally:
        await db.dispose()

    bugs = (await running.client.get("/v1/bugs", headers=QA)).json()["items"]
    assert len(bugs) == 1
    assert {t["ticket_id"] for t in bugs[0]["linked_tickets"]} == {e.ticket_id for e in escalations}
    events = await bug_events(running.prefix, bugs[0]["id"], count=4)
    assert sorted(e.type for e in events) == ["bug.linked"] * 3 + ["bug.reported"]


async def test_merges_in_opposite_directions_at_once(running: Running) -> None:
    # Several rounds: locking the two bugs in request order deadlocked about one in four.
    for _ in range(8):
        one = await create(
            running.client, report(title=f"Widget {uid('w')} crashes", force_new=True)
        )
        other = await create(
            running.client, report(title=f"Search {uid('s')} ignores accents", force_new=True)
        )
        responses = await asyncio.gather(
            running.client.post(
                f"/v1/bugs/{one['id']}/merge", json={"into_bug_id": other["id"]}, headers=QA
            ),
            running.client.post(
                f"/v1/bugs/{other['id']}/merge", json={"into_bug_id": one["id"]}, headers=QA
            ),
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        survivor = next(r.json() for r in responses if r.status_code == 200)
        assert survivor["status"] == "reported"
        assert len(survivor["linked_tickets"]) == 2
        refused = next(r.json() for r in responses if r.status_code == 409)
        assert refused["type"].endswith("/bug-closed")
