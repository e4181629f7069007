"""Duplicate detection (full-text, trigram, error fingerprint), judged on labelled pairs;
linking duplicates; candidates for a human; ``POST /v1/bugs/similar``; merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from escalation_fixtures import (
    AGENT,
    QA,
    Running,
    bug_events,
    create,
    escalated_ticket,
    move,
    report,
    uid,
)

from escalation_service.bugs import repository
from servicekit.db import Database
from servicekit.testing import eventually, payload, send_events
from supportops_events.escalation import BugClosed, BugLinked

PAIRS = json.loads((Path(__file__).parent / "escalation_duplicate_pairs.json").read_text())


async def test_labelled_pairs_are_decided_right_at_the_configured_threshold(
    running: Running,
) -> None:
    threshold = running.settings.duplicate_threshold
    db = Database(running.settings.database_url)
    try:
        async with db.unit_of_work() as session:
            scores = [
                (
                    pair["duplicate"],
                    (
                        await repository.pair_signals(
                            session, existing=_probe(pair["a"]), new=_probe(pair["b"])
                        )
                    ).score(),
                )
                for pair in PAIRS
            ]
    finally:
        await db.dispose()
    right = sum(1 for is_dup, score in scores if (score >= threshold) == is_dup)
    print(f"duplicate detection: {right}/{len(scores)} right at {threshold}; scores {scores}")
    assert len(scores) >= 10
    assert right / len(scores) >= 0.8
    # auto-linking must be right: no different defect is linked
    assert not any(score >= threshold for is_dup, score in scores if not is_dup)


def _probe(part: dict[str, str]) -> repository.Probe:
    return repository.Probe(
        title=part["title"],
        description=part.get("description", ""),
        steps=tuple(part["steps"].splitlines()),
        actual=part["actual"],
    )


async def test_an_escalated_ticket_like_an_open_bug_is_linked_to_it(running: Running) -> None:
    first = escalated_ticket(
        tenant_id=uid("ten"),
        ticket_id=uid("tkt"),
        title="Exporting an invoice as PDF shows a blank page",
        steps=["Open Billing > Invoices", "Open a paid invoice", "Click Export as PDF"],
        actual="A blank white PDF page downloads",
    )
    second = escalated_ticket(
        tenant_id=uid("ten"),
        ticket_id=uid("tkt"),
        title="Invoice PDF export is blank",
        steps=["Go to Billing > Invoices", "Open an invoice", "Click Export as PDF"],
        actual="The downloaded PDF is a blank page",
    )
    await send_events([first], prefix=running.prefix)

    async def filed() -> list[dict[str, Any]]:
        response = await running.client.get(
            "/v1/bugs",
            params={"ticket_id": first.ticket_id},
            headers=QA,
        )
        items: list[dict[str, Any]] = response.json()["items"]
        assert items
        return items

    bug = (await eventually(filed))[0]
    assert bug["title"] == first.title
    await send_events([second, first], prefix=running.prefix)

    async def linked() -> dict[str, Any]:
        detail: dict[str, Any] = (
            await running.client.get(f"/v1/bugs/{bug['id']}", headers=QA)
        ).json()
        assert len(detail["linked_tickets"]) == 2
        return detail

    detail = await eventually(linked)
    assert [t["ticket_id"] for t in detail["linked_tickets"]] == [
        first.ticket_id,
        second.ticket_id,
    ]
    assert detail["affected_tenants"] == sorted([first.tenant_id, second.tenant_id])
    all_bugs = (await running.client.get("/v1/bugs", headers=QA)).json()["items"]
    assert len(all_bugs) == 1
    events = await bug_events(running.prefix, str(bug["id"]), count=2)
    assert [e.type for e in events] == ["bug.reported", "bug.linked"]
    assert payload(events[1], BugLinked).is_duplicate is True


async def test_a_rest_report_of_a_known_bug_returns_the_candidates(running: Running) -> None:
    original = await create(running.client, report())
    duplicate_body = report(
        title="Invoice PDF export is blank",
        steps=["Go to Billing > Invoices", "Open an invoice", "Click Export as PDF"],
        actual="The downloaded PDF is a blank page",
    )
    response = await running.client.post(
        "/v1/bugs", json=duplicate_body, headers={**AGENT, "Idempotency-Key": uid("k")}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "linked_to_duplicate"
    assert result["bug"]["id"] == original["id"]
    assert result["candidates"][0]["bug_id"] == original["id"]
    assert result["candidates"][0]["score"] >= running.settings.duplicate_threshold
    assert duplicate_body["linked_tickets"][0]["ticket_id"] in [
        t["ticket_id"] for t in result["bug"]["linked_tickets"]
    ]

    forced = await running.client.post(
        "/v1/bugs",
        json={**report(title=duplicate_body["title"]), "force_new": True},
        headers={**AGENT, "Idempotency-Key": uid("k")},
    )
    assert forced.status_code == 201
    assert forced.json()["outcome"] == "created"


async def test_merging_moves_links_and_history_and_closes_the_source(running: Running) -> None:
    target = await create(running.client, report())
    source = await create(
        running.client,
        report(title="Unrelated-looking report of a calendar bug", force_new=True),
    )
    await move(running.client, source["id"], "reproducing")
    merged = await running.client.post(
        f"/v1/bugs/{source['id']}/merge", json={"into_bug_id": target["id"]}, headers=QA
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert {t["ticket_id"] for t in body["linked_tickets"]} == {
        target["linked_tickets"][0]["ticket_id"],
        source["linked_tickets"][0]["ticket_id"],
    }
    moved = [h for h in body["history"] if h["origin_bug_key"] == source["key"]]
    assert [h["to_status"] for h in moved] == ["reported", "reproducing", "closed"]
    closed = (await running.client.get(f"/v1/bugs/{source['id']}", headers=QA)).json()
    assert closed["status"] == "closed"
    assert closed["resolution"] == "duplicate"
    assert closed["duplicate_of_id"] == target["id"]

    events = await bug_events(running.prefix, source["id"], count=3)
    assert [e.type for e in events] == ["bug.reported", "bug.reproducing", "bug.closed"]
    assert payload(events[-1], BugClosed).resolution == "duplicate"
    again = await running.client.post(
        f"/v1/bugs/{source['id']}/merge", json={"into_bug_id": target["id"]}, headers=QA
    )
    assert again.status_code == 409
