"""The bug workflow: transitions, one event each, reproductions, the quality gate, metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta

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

from escalation_service.bugs.schemas import BugState
from escalation_service.bugs.workflow import (
    OPEN_BEFORE_FIX,
    allowed_targets,
    event_status,
    transition_event,
)
from servicekit.testing import payload
from supportops_events.escalation import (
    EVENTS,
    BugCannotReproduce,
    BugClosed,
    BugEscalated,
    BugEvent,
    BugInProgress,
    BugLinked,
    BugNeedsInfo,
    BugReopened,
    BugReported,
    BugReproduced,
    BugReproducing,
    BugResolved,
    BugVerified,
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
    verified = await move(client, bug_id, "verified", fixed_in_version="4.12.2")
    assert verified.status_code == 200
    assert verified.json()["fixed_in_version"] == "4.12.2"
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
    events = await bug_events(running.prefix, bug_id, count=9)
    # One event per step, in order, each carrying the bug's own status and every ticket.
    assert [(e.type, payload(e, BugEvent).status) for e in events] == [
        ("bug.reported", "reported"),
        ("bug.linked", "reported"),
        ("bug.reproducing", "reproducing"),
        ("bug.reproduced", "reproduced"),
        ("bug.escalated", "escalated"),
        ("bug.in_progress", "in_progress"),
        ("bug.resolved", "resolved"),
        ("bug.verified", "verified"),
        ("bug.closed", "closed"),
    ]
    reported = payload(events[0], BugReported)
    linked_event = payload(events[1], BugLinked)
    reproducing = payload(events[2], BugReproducing)
    reproduced_event = payload(events[3], BugReproduced)
    escalated = payload(events[4], BugEscalated)
    in_progress = payload(events[5], BugInProgress)
    resolved = payload(events[6], BugResolved)
    verified_event = payload(events[7], BugVerified)
    closed_event = payload(events[8], BugClosed)
    assert reported.linked_ticket_ids == tickets[:1]
    for later in events[1:]:
        assert payload(later, BugEvent).linked_ticket_ids == tickets
    assert linked_event.ticket_id == second_ticket
    assert reproducing.started_at == running.clock.now() - timedelta(hours=2)
    assert reproduced_event.notes == "fails with font missing"
    assert reproduced_event.environment.browser == "Chrome 122"
    assert escalated.escalated_to == "engineering"
    assert in_progress.started_at == running.clock.now()
    assert resolved.resolution == "fixed"
    assert resolved.fixed_in_version == "4.12.1"
    assert verified_event.fixed_in_version == "4.12.2"
    assert closed_event.resolution == "fixed"
    assert all(payload(e, BugEvent).actor_id == "qa-ada" for e in events[2:])

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


async def test_side_branches_emit_their_own_event_and_status(running: Running) -> None:
    """needs_info, cannot_reproduce, closing without a fix, reopening and wont_fix."""
    client = running.client
    bug = await create(client, report())
    bug_id = bug["id"]
    steps: list[tuple[str, dict[str, str]]] = [
        ("needs_info", {"question": "Which PDF viewer?"}),
        ("reproducing", {}),
        ("cannot_reproduce", {"note": "renders fine on 4.12.0"}),
        ("closed", {}),
        ("reopened", {"note": "a customer sent a screen recording"}),
        ("reproducing", {}),
        ("wont_fix", {"note": "the legacy exporter is retired"}),
        ("closed", {}),
    ]
    for target, extra in steps:
        response = await move(client, bug_id, target, **extra)
        assert response.status_code == 200, (target, response.text)

    events = await bug_events(running.prefix, bug_id, count=1 + len(steps))
    assert [(e.type, payload(e, BugEvent).status) for e in events] == [
        ("bug.reported", "reported"),
        ("bug.needs_info", "needs_info"),
        ("bug.reproducing", "reproducing"),
        ("bug.cannot_reproduce", "cannot_reproduce"),
        ("bug.closed", "closed"),
        ("bug.reopened", "reopened"),
        ("bug.reproducing", "reproducing"),
        ("bug.resolved", "wont_fix"),
        ("bug.closed", "closed"),
    ]
    assert payload(events[1], BugNeedsInfo).question == "Which PDF viewer?"
    assert payload(events[3], BugCannotReproduce).notes == "renders fine on 4.12.0"
    assert payload(events[4], BugClosed).resolution == "cannot_reproduce"
    assert payload(events[5], BugReopened).previous_status == "closed"
    assert payload(events[5], BugReopened).reason == "a customer sent a screen recording"
    assert payload(events[7], BugResolved).resolution == "wont_fix"
    assert payload(events[7], BugResolved).resolution_note == "the legacy exporter is retired"
    assert payload(events[8], BugClosed).resolution == "wont_fix"


def test_every_transition_has_exactly_one_catalog_event() -> None:
    """The whole table: the event of each allowed move and the status it carries."""
    expected = {
        ("reported", "reproducing"): "bug.reproducing",
        ("needs_info", "reproducing"): "bug.reproducing",
        ("cannot_reproduce", "reproducing"): "bug.reproducing",
        ("reopened", "reproducing"): "bug.reproducing",
        ("reproducing", "reproduced"): "bug.reproduced",
        ("reproducing", "cannot_reproduce"): "bug.cannot_reproduce",
        ("reported", "needs_info"): "bug.needs_info",
        ("reproducing", "needs_info"): "bug.needs_info",
        ("reopened", "needs_info"): "bug.needs_info",
        ("reproduced", "escalated"): "bug.escalated",
        ("escalated", "in_progress"): "bug.in_progress",
        ("escalated", "fixed"): "bug.resolved",
        ("in_progress", "fixed"): "bug.resolved",
        ("fixed", "verified"): "bug.verified",
        ("verified", "closed"): "bug.closed",
        ("wont_fix", "closed"): "bug.closed",
        ("cannot_reproduce", "closed"): "bug.closed",
        **{(state.value, "wont_fix"): "bug.resolved" for state in OPEN_BEFORE_FIX},
        **{
            (state, "reopened"): "bug.reopened"
            for state in ("fixed", "verified", "closed", "wont_fix", "cannot_reproduce")
        },
    }
    allowed = {
        (previous.value, current.value): transition_event(previous, current).value
        for previous in BugState
        for current in allowed_targets(previous)
    }
    assert allowed == expected
    assert set(allowed.values()) | {"bug.reported", "bug.linked"} == {
        model.event_type for model in EVENTS
    }
    statuses = {state.value: event_status(state).value for state in BugState}
    assert statuses == {
        **{state.value: state.value for state in BugState if state != BugState.fixed},
        "fixed": "resolved",
    }


async def test_a_transition_that_does_not_exist_is_a_409_listing_the_allowed_ones(
    running: Running,
) -> None:
    bug = await create(running.client, report())
    response = await move(running.client, bug["id"], "fixed")
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    # the kit's one transition body (servicekit.errors.InvalidTransition)
    assert (problem["current_status"], problem["requested_status"]) == ("reported", "fixed")
    assert problem["allowed"] == ["needs_info", "reproducing", "wont_fix"]

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
    assert payload(events[-1], BugNeedsInfo).question == "Which printer driver?"
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
    assert (
        linked.json()["history"][-1]["note"]
        == f"regression: ticket {late_ticket} linked after the fix"
    )
    events = await bug_events(running.prefix, bug_id, count=7)
    assert [e.type for e in events] == [
        "bug.reported",
        "bug.reproducing",
        "bug.reproduced",
        "bug.escalated",
        "bug.resolved",
        "bug.linked",
        "bug.reopened",
    ]
    reopened = payload(events[-1], BugReopened)
    assert reopened.status == "reopened"
    assert reopened.previous_status == "resolved"
    assert reopened.linked_ticket_ids == [
        bug["linked_tickets"][0]["ticket_id"],
        late_ticket,
    ]
    again = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": late_ticket, "tenant_id": bug["tenant_id"]},
        headers=AGENT,
    )
    assert again.status_code == 200
    assert len(again.json()["linked_tickets"]) == 2
    assert again.json()["version"] == linked.json()["version"]


async def test_a_closed_fixed_bug_reopens_but_wont_fix_only_links(running: Running) -> None:
    client = running.client
    fixed = await create(client, report())
    await move(client, fixed["id"], "reproducing")
    await reproduce(client, fixed["id"])
    for target in ("reproduced", "escalated", "fixed", "verified", "closed"):
        assert (await move(client, fixed["id"], target)).status_code == 200
    declined = await create(
        client, report(title="Tooltip on the export button has a typo", force_new=True)
    )
    assert (await move(client, declined["id"], "wont_fix")).status_code == 200

    for bug, expected_status in ((fixed, "reopened"), (declined, "wont_fix")):
        response = await client.post(
            f"/v1/bugs/{bug['id']}/links",
            json={"ticket_id": uid("tkt"), "tenant_id": bug["tenant_id"]},
            headers=AGENT,
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected_status

    reopened = await bug_events(running.prefix, fixed["id"], count=9)
    assert [e.type for e in reopened][-2:] == ["bug.linked", "bug.reopened"]
    assert payload(reopened[-1], BugReopened).previous_status == "closed"
    only_linked = await bug_events(running.prefix, declined["id"], count=3)
    assert [(e.type, payload(e, BugEvent).status) for e in only_linked] == [
        ("bug.reported", "reported"),
        ("bug.resolved", "wont_fix"),
        ("bug.linked", "wont_fix"),
    ]


async def test_a_merged_bug_cannot_move_and_bad_merges_are_problems(running: Running) -> None:
    client = running.client
    target = await create(client, report())
    source = await create(
        client, report(title="Calendar sync drops recurring events", force_new=True)
    )
    merged = await client.post(
        f"/v1/bugs/{source['id']}/merge", json={"into_bug_id": target["id"]}, headers=QA
    )
    assert merged.status_code == 200, merged.text
    reopen = await move(client, source["id"], "reopened")
    assert reopen.status_code == 409
    assert reopen.json()["type"].endswith("/bug-merged")
    assert reopen.json()["duplicate_of_id"] == target["id"]
    assert (reopen.json()["current_status"], reopen.json()["requested_status"]) == (
        "closed",
        "reopened",
    )
    assert reopen.json()["allowed"] == []

    into_self = await client.post(
        f"/v1/bugs/{target['id']}/merge", json={"into_bug_id": target["id"]}, headers=QA
    )
    assert into_self.status_code == 409
    nowhere = await client.post(
        f"/v1/bugs/{target['id']}/merge", json={"into_bug_id": str(uuid.uuid4())}, headers=QA
    )
    # A bug the body names that does not exist is invalid input naming the field.
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"][0]["field"] == "into_bug_id"
    not_an_id = await client.post(
        f"/v1/bugs/{target['id']}/merge", json={"into_bug_id": "BUG-1"}, headers=QA
    )
    assert not_an_id.status_code == 422
    assert not_an_id.json()["errors"][0]["field"].endswith("into_bug_id")


async def test_merging_into_a_fixed_bug_a_ticket_that_came_later_reopens_it(
    running: Running,
) -> None:
    client = running.client
    target = await create(client, report())
    await move(client, target["id"], "reproducing")
    await reproduce(client, target["id"])
    for step in ("reproduced", "escalated", "fixed"):
        assert (await move(client, target["id"], step)).status_code == 200
    running.clock.advance(days=3)
    source = await create(
        client, report(title="PDF invoices blank again after update", force_new=True)
    )
    merged = await client.post(
        f"/v1/bugs/{source['id']}/merge", json={"into_bug_id": target["id"]}, headers=QA
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["status"] == "reopened"
    events = await bug_events(running.prefix, target["id"], count=7)
    assert [e.type for e in events][-2:] == ["bug.linked", "bug.reopened"]
    assert payload(events[-1], BugReopened).linked_ticket_ids == [
        target["linked_tickets"][0]["ticket_id"],
        source["linked_tickets"][0]["ticket_id"],
    ]
