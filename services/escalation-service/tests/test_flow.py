"""Flow 5 of ARCHITECTURE.md through Kafka: escalated tickets become one bug, QA reproduces
and escalates it through the tracker adapter, the fix reaches every linked ticket, and a
ticket escalated after the fix reopens the bug."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from escalation_fixtures import QA, START, Running, announcing, bug_events, move, reproduce, uid

from escalation_service.config import EscalationSettings
from escalation_service.main import create_app
from escalation_service.tracker.base import QaTracker, TrackerIssue
from servicekit.testing import (
    TestClock,
    app_client,
    eventually,
    payload,
    read_topic,
    send_events,
    topic_prefix,
)
from supportops_events.escalation import (
    BugEscalated,
    BugLinked,
    BugReopened,
    BugReported,
    BugResolved,
)
from supportops_events.samples import sample
from supportops_events.tickets import TicketEscalated


class RecordingTracker(QaTracker):
    """A QA tracker that keeps what it was asked to file."""

    name = "recording"

    def __init__(self) -> None:
        self.issues: list[TrackerIssue] = []

    async def create_issue(self, issue: TrackerIssue) -> str | None:
        self.issues.append(issue)
        return f"QA-{len(self.issues)}"


@pytest.fixture(scope="module")
def tracker() -> RecordingTracker:
    return RecordingTracker()


@pytest.fixture(scope="module")
async def flow_app(escalation_db: str, tracker: RecordingTracker) -> AsyncIterator[Running]:
    settings = EscalationSettings(
        database_url=escalation_db,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        relay_poll_interval_seconds=0.1,
    )
    clock = TestClock(START)
    app = create_app(settings, clock=clock, qa_tracker=tracker)
    async with app_client(app) as client:
        client.event_hooks["request"].append(announcing(app))
        yield Running(client, settings, clock, settings.kafka_topic_prefix, app)


def escalated(**overrides: object) -> TicketEscalated:
    event = sample(
        "ticket.escalated",
        **{
            "tenant_id": uid("ten"),
            "ticket_id": uid("tkt"),
            "title": "Exporting an invoice as PDF shows a blank page",
            "steps": ["Open Billing > Invoices", "Open a paid invoice", "Click Export as PDF"],
            "expected": "A PDF with the invoice lines downloads",
            "actual": "A blank white PDF page downloads",
            "environment": {"app_version": "4.12.0", "browser": "Firefox 123", "os": "macOS"},
            **overrides,
        },
    )
    assert isinstance(event, TicketEscalated)
    return event


async def test_escalated_tickets_to_a_fix_fanned_out_and_a_regression(
    flow_app: Running, tracker: RecordingTracker
) -> None:
    client = flow_app.client
    first = escalated()
    await send_events([first], prefix=flow_app.prefix)

    async def filed() -> dict[str, object]:
        found = await client.get("/v1/bugs", params={"ticket_id": first.ticket_id}, headers=QA)
        items: list[dict[str, object]] = found.json()["items"]
        assert len(items) == 1
        return items[0]

    bug = await eventually(filed)
    bug_id = str(bug["id"])
    assert bug["status"] == "reported"
    assert bug["steps"] == first.steps

    duplicate = escalated(
        title="Invoice PDF export is blank",
        steps=["Go to Billing > Invoices", "Open an invoice", "Click Export as PDF"],
        actual="The downloaded PDF is a blank page",
    )
    await send_events([duplicate], prefix=flow_app.prefix)

    async def linked() -> None:
        detail = (await client.get(f"/v1/bugs/{bug_id}", headers=QA)).json()
        assert [t["ticket_id"] for t in detail["linked_tickets"]] == [
            first.ticket_id,
            duplicate.ticket_id,
        ]

    await eventually(linked)

    assert (await move(client, bug_id, "reproducing")).status_code == 200
    await reproduce(client, bug_id)
    assert (await move(client, bug_id, "reproduced")).status_code == 200
    escalation = await move(client, bug_id, "escalated", escalated_to="billing-team")
    assert escalation.status_code == 200, escalation.text
    assert escalation.json()["external_issue_key"] == f"QA-{len(tracker.issues)}"
    filed_issue = tracker.issues[-1]
    assert filed_issue.bug_id == bug_id
    assert filed_issue.steps == first.steps
    assert filed_issue.linked_ticket_ids == [first.ticket_id, duplicate.ticket_id]
    assert filed_issue.link.endswith(f"/v1/bugs/{bug_id}")
    fixed = await move(client, bug_id, "fixed", fixed_in_version="4.12.1", note="font bundled")
    assert fixed.status_code == 200, fixed.text

    events = await bug_events(flow_app.prefix, bug_id, count=6)
    assert [e.type for e in events] == [
        "bug.reported",
        "bug.linked",
        "bug.reproducing",
        "bug.reproduced",
        "bug.escalated",
        "bug.resolved",
    ]
    reported = payload(events[0], BugReported)
    linked_event = payload(events[1], BugLinked)
    escalated_event = payload(events[4], BugEscalated)
    resolved = payload(events[5], BugResolved)
    assert reported.ticket_id == first.ticket_id
    assert events[0].tenant_id == first.tenant_id
    assert linked_event.ticket_id == duplicate.ticket_id
    assert linked_event.is_duplicate is True
    assert escalated_event.escalated_to == "billing-team"
    assert escalated_event.external_issue_key == escalation.json()["external_issue_key"]
    assert resolved.resolution == "fixed"
    assert resolved.fixed_in_version == "4.12.1"
    assert resolved.resolution_note == "font bundled"
    assert resolved.linked_ticket_ids == [first.ticket_id, duplicate.ticket_id]

    regression = escalated(title="PDF export of invoices is blank again")
    await send_events([regression], prefix=flow_app.prefix)
    after = await bug_events(flow_app.prefix, bug_id, count=8)
    assert [e.type for e in after[6:]] == ["bug.linked", "bug.reopened"]
    reopened = payload(after[7], BugReopened)
    assert reopened.status == "reopened"
    assert reopened.previous_status == "resolved"
    assert reopened.linked_ticket_ids == [
        first.ticket_id,
        duplicate.ticket_id,
        regression.ticket_id,
    ]
    detail = (await client.get(f"/v1/bugs/{bug_id}", headers=QA)).json()
    assert detail["status"] == "reopened"
    assert detail["history"][-1]["note"] == (
        f"regression: ticket {regression.ticket_id} linked after the fix"
    )
    assert (await client.get("/v1/bugs", headers=QA)).json()["items"][0]["id"] == bug_id
    assert len((await client.get("/v1/bugs", headers=QA)).json()["items"]) == 1


async def test_an_escalation_that_cannot_be_filed_is_dead_lettered(flow_app: Running) -> None:
    too_long = escalated(ticket_id="t" * 80)
    good = escalated(title="Search ignores accents in customer names")
    sent = await send_events([too_long, good], prefix=flow_app.prefix)

    async def filed() -> None:
        found = await flow_app.client.get(
            "/v1/bugs", params={"ticket_id": good.ticket_id}, headers=QA
        )
        assert len(found.json()["items"]) == 1

    await eventually(filed)
    dead = await read_topic(
        flow_app.prefix + "escalation-service.dlq",
        until=lambda read: any(e.id == sent[0].id for e in read),
    )
    assert [e.id for e in dead] == [sent[0].id]
    assert len((await flow_app.client.get("/v1/bugs", headers=QA)).json()["items"]) == 1
