"""CSAT surveys with signed tokens, one rating per solve; support KPIs by queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ticket_service_testkit import ADMIN, AGENT, Service, open_ticket, problem, tenant

from servicekit.testing import auth


async def _solve(svc: Service, ticket_id: str) -> None:
    url = f"/v1/tickets/{ticket_id}"
    etag = (await svc.client.get(url, headers=AGENT)).headers["ETag"]
    solved = await svc.client.patch(
        url, json={"status": "solved"}, headers={**AGENT, "If-Match": etag}
    )
    assert solved.status_code == 200, solved.text


async def test_csat_one_rating_per_solve_with_a_signed_token(svc: Service) -> None:
    t = tenant()
    customer = auth("agent", tenant_id=t, subject="pat@example.com")
    ticket = await open_ticket(svc.client, t, headers=customer)
    survey_url = f"/v1/tickets/{ticket['id']}/csat-survey"
    problem(await svc.client.get(survey_url, headers=AGENT), 409)
    await _solve(svc, ticket["id"])
    token = (await svc.client.get(survey_url, headers=customer)).json()["token"]

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad = await svc.client.post(
        "/v1/csat-responses", json={"token": forged, "rating": 5}, headers=customer
    )
    assert problem(bad, 422)["type"].endswith("/invalid-token")
    out_of_range = await svc.client.post(
        "/v1/csat-responses", json={"token": token, "rating": 6}, headers=customer
    )
    assert problem(out_of_range, 422)["errors"][0]["field"] == "rating"
    rated = await svc.client.post(
        "/v1/csat-responses",
        json={"token": token, "rating": 4, "comment": "quick, thanks"},
        headers=customer,
    )
    assert rated.status_code == 201, rated.text
    again = await svc.client.post(
        "/v1/csat-responses", json={"token": token, "rating": 1}, headers=customer
    )
    assert problem(again, 409)["type"].endswith("/survey-answered")

    # reopened and solved again: the old token is spent, a new solve gets a new survey
    await svc.client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"kind": "reply", "body": "one more thing"},
        headers=customer,
    )
    await _solve(svc, ticket["id"])
    stale = await svc.client.post(
        "/v1/csat-responses", json={"token": token, "rating": 2}, headers=customer
    )
    assert problem(stale, 409)["type"].endswith("/survey-expired")
    fresh = (await svc.client.get(survey_url, headers=customer)).json()["token"]
    assert fresh != token


async def test_metrics_by_queue(svc: Service) -> None:
    t = tenant()
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
    await svc.client.post("/v1/csat-responses", json={"token": token, "rating": 5}, headers=AGENT)

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

    backwards = {**params, "from": params["to"], "to": params["from"]}
    problem(await svc.client.get("/v1/metrics", params=backwards, headers=AGENT), 422)
    naive = {**params, "from": "2026-01-01T00:00:00"}
    problem(await svc.client.get("/v1/metrics", params=naive, headers=AGENT), 422)
