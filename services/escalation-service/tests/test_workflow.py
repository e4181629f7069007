"""The bug workflow: transitions, one event each, reproductions, the quality gate, metrics."""

from __future__ import annotations

from escalation_fixtures import (
    AGENT,
    QA,
    Running,
    bug_events,
    create,
    move,
    report,
    reproduce,
    uid,
)


async def test_a_bug_goes_from_report_to_closed_with_one_event_per_transition(
    running: Running,
) -> None:
    client = running.client
    body = report()
    bug = await create(client, body)
    bug_id = bug["id"]
    second_ticket = uid("tkt")
    linked = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": second_ticket, "tenant_id": uid("ten")},
        headers=AGENT,
    )
    assert linked.status_code == 200, linked.text

    assert (await move(client, bug_id, "reproducing")).status_code == 200
    premature = await move(client, bug_id, "reproduced")
    assert premature.status_code == 409
    assert premature.json()["missing"] == ["successful_reproduction"]

    await reproduce(client, bug_id, outcome="not_reproduced")
    running.clock.advance(hours=2)
    await reproduce(client, bug_id)
    reproduced = await move(client, bug_id, "reproduced", note="fails with font missing")
    assert reproduced.status_code == 200
    assert reproduced.json()["completeness"]["score"] == 100

    for target in ("escalated", "in_progress"):
        response = await move(client, bug_id, target)
        assert response.status_code == 200, response.text
    fixed = await move(client, bug_id, "fixed", fixed_in_version="4.12.1")
    assert fixed.json()["resolution"] == "fixed"
    assert (await move(client, bug_id, "verified")).status_code == 200
    closed = await move(client, bug_id, "closed")
    assert closed.json()["status"] == "closed"
    assert [h["to_status"] for h in closed.json()["history"]] == [
        "reported",
        "reproducing",
        "reproduced",
        "escalated",
        "in_progress",
        "fixed",
        "verified",
        "closed",
    ]

    tickets = [body["linked_tickets"][0]["ticket_id"], second_ticket]
    events = await bug_events(running.prefix, bug_id, count=6)
    assert [e.type for e in events] == [
        "bug.reported",
        "bug.linked",
        "bug.reproduced",
        "bug.escalated",
        "bug.resolved",
        "bug.closed",
    ]
    resolved, closed_event = events[4].data, events[5].data
    assert resolved.linked_ticket_ids == tickets  # type: ignore[union-attr]
    assert resolved.fixed_in_version == "4.12.1"  # type: ignore[union-attr]
    assert closed_event.linked_ticket_ids == tickets  # type: ignore[union-attr]
    assert closed_event.status == "closed"  # type: ignore[union-attr]

    metrics = await client.get("/v1/metrics", params={"tenant_id": body["tenant_id"]}, headers=QA)
    assert metrics.status_code == 200
    assert metrics.json() == {
        "bugs": 1,
        "average_report_quality": 100.0,
        "escalated": 1,
        "escalated_without_rework_share": 1.0,
        "mean_time_to_reproduce_seconds": 7200.0,
        "reproduction_rate": 1.0,
    }


async def test_a_transition_that_does_not_exist_is_a_409_listing_the_allowed_ones(
    running: Running,
) -> None:
    bug = await create(running.client, report())
    response = await move(running.client, bug["id"], "fixed")
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["from_status"] == "reported"
    assert problem["allowed"] == ["reproducing", "needs_info", "wont_fix"]

    stale = await running.client.post(
        f"/v1/bugs/{bug['id']}/transitions",
        json={"to": "reproducing"},
        headers={**QA, "If-Match": '"41"'},
    )
    assert stale.status_code == 412

    unknown = await move(running.client, bug["id"], "teleported")
    assert unknown.status_code == 422
    assert (await running.client.get(f"/v1/bugs/{bug['id']}", headers=QA)).json()[
        "status"
    ] == "reported"


async def test_escalating_an_incomplete_report_names_the_missing_items(running: Running) -> None:
    client = running.client
    bug = await create(
        client,
        report(
            steps=["Click export"], expected="A blank page", actual="a blank   page", environment={}
        ),
    )
    await move(client, bug["id"], "reproducing")
    await reproduce(client, bug["id"])
    await move(client, bug["id"], "reproduced")
    refused = await move(client, bug["id"], "escalated")
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/quality-gate-failed")
    assert refused.json()["missing"] == [
        "steps",
        "expected_differs_from_actual",
        "environment.app_version",
    ]
    current = await client.get(f"/v1/bugs/{bug['id']}", headers=QA)
    fixed = await client.patch(
        f"/v1/bugs/{bug['id']}",
        json={
            "steps": ["Open an invoice", "Click export"],
            "expected": "The invoice as PDF",
            "environment": {"app_version": "4.12.0"},
        },
        headers={**QA, "If-Match": current.headers["ETag"]},
    )
    assert fixed.status_code == 200, fixed.text
    escalated = await move(client, bug["id"], "escalated")
    assert escalated.status_code == 200
    assert escalated.json()["status"] == "escalated"


async def test_needs_info_asks_a_question_and_counts_as_rework(running: Running) -> None:
    client = running.client
    body = report()
    bug = await create(client, body)
    no_question = await move(client, bug["id"], "needs_info")
    assert no_question.status_code == 422
    assert no_question.json()["errors"][0]["field"] == "question"
    asked = await move(client, bug["id"], "needs_info", question="Which printer driver?")
    assert asked.status_code == 200
    events = await bug_events(running.prefix, bug["id"], count=2)
    assert events[-1].type == "bug.needs_info"
    assert events[-1].data.question == "Which printer driver?"  # type: ignore[union-attr]
    for step in ("reproducing",):
        await move(client, bug["id"], step)
    await reproduce(client, bug["id"])
    await move(client, bug["id"], "reproduced")
    await move(client, bug["id"], "escalated")
    metrics = await client.get("/v1/metrics", params={"tenant_id": body["tenant_id"]}, headers=QA)
    assert metrics.json()["escalated_without_rework_share"] == 0.0


async def test_a_ticket_linked_after_the_fix_reopens_the_bug(running: Running) -> None:
    client = running.client
    bug = await create(client, report())
    bug_id = bug["id"]
    await move(client, bug_id, "reproducing")
    await reproduce(client, bug_id)
    for target in ("reproduced", "escalated", "fixed"):
        assert (await move(client, bug_id, target)).status_code == 200
    late_ticket = uid("tkt")
    linked = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": late_ticket, "tenant_id": bug["tenant_id"]},
        headers=AGENT,
    )
    assert linked.status_code == 200
    assert linked.json()["status"] == "reopened"
    assert linked.json()["resolution"] is None
    events = await bug_events(running.prefix, bug_id, count=6)
    assert [e.type for e in events][-2:] == ["bug.linked", "bug.reopened"]
    reopened = events[-1].data
    assert reopened.previous_status == "resolved"  # type: ignore[union-attr]
    assert late_ticket in reopened.linked_ticket_ids  # type: ignore[union-attr]
    again = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": late_ticket, "tenant_id": bug["tenant_id"]},
        headers=AGENT,
    )
    assert again.status_code == 200
    assert len(again.json()["linked_tickets"]) == 2
