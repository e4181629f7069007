"""CSAT: the signed survey link sent on solve, answered once without a login; support
KPIs by queue, paused time not counted."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ticket_service_testkit import (
    ADMIN,
    AGENT,
    REVIEWER,
    Service,
    open_ticket,
    patch_ticket,
    post_message,
    problem,
)

from servicekit.testing import TestClock, auth, payload
from supportops_events.tickets import TicketReplied

NY = ZoneInfo("America/New_York")


async def _solve(svc: Service, ticket_id: str) -> None:
    url = f"/v1/tickets/{ticket_id}"
    etag = (await svc.client.get(url, headers=AGENT)).headers["ETag"]
    solved = await svc.client.patch(
        url, json={"status": "solved"}, headers={**AGENT, "If-Match": etag}
    )
    assert solved.status_code == 200, solved.text


@pytest.fixture
def clock(svc: Service) -> Iterator[TestClock]:
    moving = TestClock(ny(1, 9))  # Monday 1 February 2027
    svc.app.state.clock = moving
    yield moving
    del svc.app.state.clock


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 2, day, hour, minute, tzinfo=NY)


def _surveys(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in detail["timeline"] if e["action"] == "csat_survey_sent"]


def _token_of(entry: dict[str, Any]) -> str:
    found = re.search(r"/v1/csat-surveys/([A-Za-z0-9_.-]+)", entry["body"])
    assert found is not None, entry["body"]
    return found.group(1)


def _tampered(token: str, **changes: str) -> str:
    payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    for old, new in changes.items():
        raw = raw.replace(old, new)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=") + "." + signature


async def test_solving_sends_the_signed_survey_link_answered_once_without_a_login(
    svc: Service, clock: TestClock
) -> None:
    t = await svc.tenant()
    customer = auth("agent", tenant_id=t, subject="pat@example.com")
    ticket = await open_ticket(svc.client, t, headers=customer)
    tid = ticket["id"]
    problem(await svc.client.get(f"/v1/tickets/{tid}/csat-survey", headers=AGENT), 409)
    await post_message(svc.client, tid, AGENT, "Done for you.")
    clock.set(ny(1, 10))
    await patch_ticket(svc.client, tid, {"status": "solved"})

    # the customer got the link: a public message, through the approved template
    portal = (await svc.client.get(f"/v1/tickets/{tid}", headers=customer)).json()
    (sent,) = _surveys(portal)
    assert (sent["kind"], sent["author_type"]) == ("reply", "system")
    assert (sent["template_key"], sent["template_version"]) == ("csat_survey", 1)
    assert sent["data"]["expires_at"] == "2027-02-15T15:00:00+00:00"  # 14 days
    assert "Pat Doe" in sent["body"] and "2027-02-15 15:00 UTC" in sent["body"]
    token = _token_of(sent)
    staff = (await svc.client.get(f"/v1/tickets/{tid}/csat-survey", headers=AGENT)).json()
    assert staff["token"] == token and staff["url"] in sent["body"]
    assert staff["answered"] is False
    problem(await svc.client.get(f"/v1/tickets/{tid}/csat-survey"), 401)  # staff view: login
    replies = await svc.events_of("tickets.events", subject=tid, count=2, types={"ticket.replied"})
    assert [
        (r.author, r.template_key, r.visibility)
        for r in (payload(e, TicketReplied) for e in replies)
    ] == [
        ("agent", None, "public"),
        ("system", "csat_survey", "public"),
    ]

    # the link needs no bearer token; the signed token is the credential
    survey_url = f"/v1/csat-surveys/{token}"
    view = await svc.client.get(survey_url)
    assert view.status_code == 200, view.text
    assert (view.json()["ticket_id"], view.json()["answered"]) == (tid, False)
    assert view.json()["subject"] == ticket["subject"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert problem(await svc.client.get(f"/v1/csat-surveys/{forged}"), 422)["type"].endswith(
        "/invalid-token"
    )
    longer = _tampered(token, **{"2027-02-15": "2099-02-15"})
    refused = await svc.client.post(f"/v1/csat-surveys/{longer}", json={"rating": 5})
    assert problem(refused, 422)["type"].endswith("/invalid-token")
    out_of_range = await svc.client.post(survey_url, json={"rating": 6})
    assert problem(out_of_range, 422)["errors"][0]["field"] == "rating"

    clock.set(ny(2, 9))
    rated = await svc.client.post(survey_url, json={"rating": 4, "comment": "quick, thanks"})
    assert rated.status_code == 201, rated.text
    assert rated.json()["rating"] == 4
    again = await svc.client.post(
        "/v1/csat-responses", json={"token": token, "rating": 1}, headers=customer
    )
    assert problem(again, 409)["type"].endswith("/survey-answered")
    answered = (await svc.client.get(survey_url)).json()
    assert (answered["answered"], answered["rating"], answered["comment"]) == (
        True,
        4,
        "quick, thanks",
    )
    detail = (await svc.client.get(f"/v1/tickets/{tid}", headers=AGENT)).json()
    (note,) = [e for e in detail["timeline"] if e["action"] == "csat_rated"]
    assert (note["author_type"], note["author_id"], note["data"]["rating"]) == (
        "customer",
        "pat@example.com",
        4,
    )

    # reopened and solved again: the old link is spent, a new solve sends a new one
    await post_message(svc.client, tid, customer, "one more thing")
    clock.set(ny(2, 10))
    await patch_ticket(svc.client, tid, {"status": "solved"})
    detail = (await svc.client.get(f"/v1/tickets/{tid}", headers=AGENT)).json()
    first, second = _surveys(detail)
    assert _token_of(first) == token
    fresh = _token_of(second)
    assert fresh != token
    stale = await svc.client.post(survey_url, json={"rating": 2})
    assert problem(stale, 409)["type"].endswith("/survey-superseded")

    # and it expires
    clock.set(ny(16, 10))  # 14 days after the second solve
    expired = await svc.client.post(f"/v1/csat-surveys/{fresh}", json={"rating": 3})
    body = problem(expired, 410)
    assert body["type"].endswith("/survey-expired")
    assert body["expires_at"] == "2027-02-16T15:00:00+00:00"


async def test_metrics_subtract_paused_time(svc: Service, clock: TestClock) -> None:
    t = await svc.tenant()
    queue = f"pq-{t}"
    clock.set(ny(8, 9))
    customer = auth("agent", tenant_id=t, subject="pat@example.com")
    ticket = await open_ticket(svc.client, t, headers=customer)
    tid = ticket["id"]
    await patch_ticket(svc.client, tid, {"queue": queue})
    clock.set(ny(8, 9, 30))
    await patch_ticket(svc.client, tid, {"status": "pending"})
    clock.set(ny(8, 13, 30))
    await patch_ticket(svc.client, tid, {"status": "open"})
    clock.set(ny(8, 14))
    await post_message(svc.client, tid, AGENT, "First answer")
    clock.set(ny(8, 14, 10))
    await post_message(svc.client, tid, customer, "A follow-up question")
    clock.set(ny(8, 14, 40))
    await post_message(svc.client, tid, AGENT, "Second answer")
    clock.set(ny(8, 15))
    await patch_ticket(svc.client, tid, {"status": "solved"})

    params = {"from": "2027-02-08T00:00:00Z", "to": "2027-02-09T00:00:00Z", "queue": queue}
    response = await svc.client.get("/v1/metrics", params=params, headers=AGENT)
    assert response.status_code == 200, response.text
    (metrics,) = response.json()["by_queue"]
    # four hours in pending are not counted: 30 + 30 minutes, not 300
    assert metrics["first_response"] == {"count": 1, "median_minutes": 60.0, "p90_minutes": 60.0}
    assert metrics["next_response"]["median_minutes"] == 30.0
    assert metrics["resolution"]["median_minutes"] == 120.0  # 30 + 90, not 360
    assert metrics["sla_attainment"] == {
        "first_response": 1.0,
        "next_response": 1.0,
        "resolution": 1.0,
    }
    assert metrics["first_contact_resolution_rate"] == 0.0  # two agent replies


async def test_metrics_by_queue(svc: Service) -> None:
    t = await svc.tenant()
    queue = f"mq-{t}"
    await svc.client.post(
        "/v1/triage-rules",
        json={
            "name": f"metrics {t}",
            "position": 2,
            "conditions": {"requester_domains": [f"{t}.example"]},
            "actions": {"category": "other", "queue": queue},
        },
        headers=ADMIN,
    )
    email = f"pat@{t}.example"
    answered = await open_ticket(svc.client, t, email=email)
    await open_ticket(svc.client, t, email=email)
    await svc.client.post(
        f"/v1/tickets/{answered['id']}/messages",
        json={"kind": "reply", "body": "Done for you."},
        headers=AGENT,
    )
    await _solve(svc, answered["id"])
    token = (
        await svc.client.get(f"/v1/tickets/{answered['id']}/csat-survey", headers=AGENT)
    ).json()["token"]
    rated = await svc.client.post("/v1/csat-responses", json={"token": token, "rating": 5})
    assert rated.status_code == 201, rated.text

    now = datetime.now(UTC)
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
        "queue": queue,
    }
    response = await svc.client.get("/v1/metrics", params=params, headers=AGENT)
    assert response.status_code == 200, response.text
    (metrics,) = response.json()["by_queue"]
    assert metrics["queue"] == queue and metrics["tickets"] == 2
    assert metrics["first_response"]["count"] == 1
    assert metrics["resolution"]["count"] == 1
    assert metrics["first_contact_resolution_rate"] == 1.0
    assert (metrics["csat_average"], metrics["csat_responses"]) == (5.0, 1)
    assert metrics["escalation_rate"] == 0.0
    assert metrics["backlog_by_status"] == {"new": 1}
    assert metrics["sla_attainment"]["first_response"] == 1.0
    assert metrics["sla_first_response_attainment"] == 1.0

    backwards = {**params, "from": params["to"], "to": params["from"]}
    problem(await svc.client.get("/v1/metrics", params=backwards, headers=AGENT), 422)
    naive = {**params, "from": "2026-01-01T00:00:00"}
    problem(await svc.client.get("/v1/metrics", params=naive, headers=AGENT), 422)


async def test_a_broken_survey_template_does_not_stop_the_solve(svc: Service) -> None:
    current = await svc.client.get("/v1/templates/csat_survey", headers=AGENT)
    original = current.json()
    broken = await svc.client.patch(
        "/v1/templates/csat_survey",
        json={
            "body": original["body"] + "\n{{ coupon_code }}",
            "variables": [*original["variables"], "coupon_code"],
        },
        headers={**ADMIN, "If-Match": current.headers["ETag"]},
    )
    assert broken.status_code == 200, broken.text
    # only an approved version is sent: a second admin approves the broken one
    approval = f"/v1/templates/csat_survey/versions/{broken.json()['version']}/approval"
    assert (await svc.client.post(approval, headers=REVIEWER)).status_code == 200
    try:
        ticket = await open_ticket(svc.client, await svc.tenant())
        await patch_ticket(svc.client, ticket["id"], {"status": "solved"})
        detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
        assert detail["status"] == "solved"
        assert _surveys(detail) == []
        (note,) = [e for e in detail["timeline"] if e["action"] == "csat_survey_not_sent"]
        assert "coupon_code" in note["reason"]
    finally:
        restored = await svc.client.patch(
            "/v1/templates/csat_survey",
            json={"body": original["body"], "variables": original["variables"]},
            headers={**ADMIN, "If-Match": broken.headers["ETag"]},
        )
        assert restored.status_code == 200, restored.text
        again = f"/v1/templates/csat_survey/versions/{restored.json()['version']}/approval"
        assert (await svc.client.post(again, headers=REVIEWER)).status_code == 200
