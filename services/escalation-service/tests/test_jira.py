"""The Jira Cloud adapter against a local Jira stand-in, and the Jira webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from escalation_fixtures import (
    QA,
    START,
    Running,
    announcing,
    bug_events,
    create,
    move,
    report,
    reproduce,
)
from escalation_jira_server import FakeJira, adf_errors

from escalation_service.config import EscalationSettings
from escalation_service.main import create_app
from escalation_service.tracker.base import TrackerIssue
from escalation_service.tracker.jira import adf_description
from servicekit.testing import TestClock, app_client, payload, topic_prefix
from supportops_events.escalation import BugEscalated, BugEvent, BugInProgress

SECRET = "test-webhook-secret"


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with FakeJira(email="qa-bot@example.com", token="jira-token") as server:
        yield server


@pytest.fixture(scope="module")
async def jira_app(escalation_db: str, jira: FakeJira) -> AsyncIterator[Running]:
    settings = EscalationSettings(
        database_url=escalation_db,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        relay_poll_interval_seconds=0.1,
        qa_tracker="jira",
        jira_base_url=jira.url,
        jira_email="qa-bot@example.com",
        jira_api_token="jira-token",
        jira_project_key="QA",
        jira_webhook_secret=SECRET,
        public_base_url="https://escalation.example.com",
    )
    clock = TestClock(START)
    app = create_app(settings, clock=clock)
    async with app_client(app) as client:
        client.event_hooks["request"].append(announcing(app))
        yield Running(client, settings, clock, settings.kafka_topic_prefix, app)


async def reproduced_bug(running: Running) -> dict[str, Any]:
    bug = await create(running.client, report())
    await move(running.client, bug["id"], "reproducing")
    await reproduce(running.client, bug["id"])
    assert (await move(running.client, bug["id"], "reproduced")).status_code == 200
    return bug


def signed(payload: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature": f"sha256={signature}", "Content-Type": "application/json"}


def status_update(issue_key: str, to: str) -> dict[str, Any]:
    return {
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": issue_key, "fields": {"status": {"name": to}}},
        "changelog": {"items": [{"field": "status", "fromString": "To Do", "toString": to}]},
    }


async def test_escalating_files_a_well_formed_jira_issue(jira_app: Running, jira: FakeJira) -> None:
    bug = await reproduced_bug(jira_app)
    escalated = await move(jira_app.client, bug["id"], "escalated")
    assert escalated.status_code == 200, escalated.text
    assert jira.rejections == []
    key = escalated.json()["external_issue_key"]
    assert key == f"QA-{len(jira.issues)}"

    fields = jira.issues[-1]["fields"]
    assert fields["project"] == {"key": "QA"}
    assert fields["issuetype"] == {"name": "Bug"}
    assert bug["key"] in fields["summary"]
    description = json.dumps(fields["description"])
    steps = fields["description"]["content"][2]
    assert steps["type"] == "orderedList"
    assert [i["content"][0]["content"][0]["text"] for i in steps["content"]] == bug["steps"]
    for text in (bug["expected"], bug["actual"], "4.12.0", "Firefox 123", "de-DE"):
        assert text in description
    assert f"https://escalation.example.com/v1/bugs/{bug['id']}" in description

    events = await bug_events(jira_app.prefix, bug["id"], count=4)
    assert [e.type for e in events] == [
        "bug.reported",
        "bug.reproducing",
        "bug.reproduced",
        "bug.escalated",
    ]
    assert payload(events[-1], BugEscalated).external_issue_key == key


async def test_a_jira_refusal_is_a_502_and_nothing_changes(
    jira_app: Running, jira: FakeJira
) -> None:
    bug = await reproduced_bug(jira_app)
    jira.refuse_next = True
    refused = await move(jira_app.client, bug["id"], "escalated")
    assert refused.status_code == 502
    assert refused.json()["type"].endswith("/qa-tracker-unavailable")
    current = await jira_app.client.get(f"/v1/bugs/{bug['id']}", headers=QA)
    assert current.json()["status"] == "reproduced"


def test_the_adf_check_catches_malformed_documents() -> None:
    issue = TrackerIssue(
        bug_id="b",
        key="BUG-1",
        title="t",
        summary="",
        steps=["one", "two"],
        expected="e",
        actual="a",
        environment={"app_version": "1.0"},
        severity="low",
        link="https://x.example/v1/bugs/b",
    )
    assert adf_errors(adf_description(issue)) == []
    broken = {
        "version": 1,
        "type": "doc",
        "content": [{"type": "orderedList", "content": [{"type": "text", "text": ""}]}],
    }
    assert adf_errors(broken) != []


async def test_jira_status_changes_move_the_bug(jira_app: Running, jira: FakeJira) -> None:
    client = jira_app.client
    bug = await reproduced_bug(jira_app)
    key = (await move(client, bug["id"], "escalated")).json()["external_issue_key"]

    body, headers = signed(status_update(key, "In Progress"))
    applied = await client.post("/v1/jira/webhooks", content=body, headers=headers)
    assert applied.status_code == 200, applied.text
    assert applied.json()["outcome"] == "applied"
    assert applied.json()["status"] == "in_progress"

    body, headers = signed(status_update(key, "Done"))
    done = await client.post("/v1/jira/webhooks", content=body, headers=headers)
    assert done.json()["status"] == "fixed"
    replay = await client.post("/v1/jira/webhooks", content=body, headers=headers)
    assert replay.json()["outcome"] == "ignored"

    body, headers = signed(status_update(key, "Backlog"))
    unmapped = await client.post("/v1/jira/webhooks", content=body, headers=headers)
    assert unmapped.json()["outcome"] == "ignored"

    body, headers = signed(status_update(key, "Verified"))
    verified = await client.post("/v1/jira/webhooks", content=body, headers=headers)
    assert verified.json()["status"] == "verified"

    events = await bug_events(jira_app.prefix, bug["id"], count=7)
    assert [(e.type, payload(e, BugEvent).status) for e in events[3:]] == [
        ("bug.escalated", "escalated"),
        ("bug.in_progress", "in_progress"),
        ("bug.resolved", "resolved"),
        ("bug.verified", "verified"),
    ]
    assert payload(events[4], BugInProgress).external_issue_key == key
    assert all(payload(e, BugEvent).actor_id == "jira" for e in events[4:])
    detail = (await client.get(f"/v1/bugs/{bug['id']}", headers=QA)).json()
    assert detail["status"] == "verified"
    assert detail["history"][-1]["note"] == f"Jira {key}: Verified"


async def test_odd_webhook_payloads_are_ignored_or_refused_never_a_500(
    jira_app: Running, jira: FakeJira
) -> None:
    client = jira_app.client
    odd_payloads: list[Any] = [
        {"issue": {"key": "QA-1"}, "changelog": "status"},
        {"issue": {"key": "QA-1"}, "changelog": [{"field": "status"}]},
        {"issue": {"key": "QA-1"}, "changelog": {"items": {"field": "status"}}},
        {"issue": {"key": "QA-1"}, "changelog": {"items": [7, {"field": "status", "toString": 1}]}},
        {"issue": ["QA-1"]},
        {
            "issue": {"key": "QA-\u0000"},
            "changelog": {"items": [{"field": "status", "toString": "Done"}]},
        },
    ]
    for odd in odd_payloads:
        body, headers = signed(odd)
        response = await client.post("/v1/jira/webhooks", content=body, headers=headers)
        assert response.status_code == 200, (odd, response.text)
        assert response.json()["outcome"] == "ignored"
    for raw in (b"[1, 2]", b"{not json"):
        signature = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        response = await client.post(
            "/v1/jira/webhooks", content=raw, headers={"X-Hub-Signature": f"sha256={signature}"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")

    # A bug merged into another ignores its Jira issue from then on.
    source = await reproduced_bug(jira_app)
    key = (await move(client, source["id"], "escalated")).json()["external_issue_key"]
    target = await create(client, report(title="Calendar sync duplicates events", force_new=True))
    merged = await client.post(
        f"/v1/bugs/{source['id']}/merge", json={"into_bug_id": target["id"]}, headers=QA
    )
    assert merged.status_code == 200, merged.text
    body, headers = signed(status_update(key, "Reopened"))
    ignored = await client.post("/v1/jira/webhooks", content=body, headers=headers)
    assert ignored.status_code == 200
    assert ignored.json()["outcome"] == "ignored"
    assert ignored.json()["reason"] == "the bug was merged"
    assert (await client.get(f"/v1/bugs/{source['id']}", headers=QA)).json()["status"] == "closed"


async def test_an_unsigned_or_forged_webhook_is_refused(jira_app: Running) -> None:
    body, _ = signed(status_update("QA-1", "Done"))
    unsigned = await jira_app.client.post("/v1/jira/webhooks", content=body)
    assert unsigned.status_code == 401
    _, forged_headers = signed(status_update("QA-1", "Done"), secret="wrong")
    forged = await jira_app.client.post("/v1/jira/webhooks", content=body, headers=forged_headers)
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
