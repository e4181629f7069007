"""Bug reports through REST: filing, reading, listing, editing, access."""

from __future__ import annotations

from escalation_fixtures import AGENT, QA, Running, bug_events, create, report, uid

from servicekit.testing import auth


async def test_filing_a_report_returns_it_with_completeness_and_publishes_bug_reported(
    running: Running,
) -> None:
    body = report()
    key = uid("k")
    first = await running.client.post(
        "/v1/bugs", json=body, headers={**AGENT, "Idempotency-Key": key}
    )
    assert first.status_code == 201, first.text
    created = first.json()
    bug = created["bug"]
    assert created["outcome"] == "created"
    assert bug["status"] == "reported"
    assert bug["key"].startswith("BUG-")
    assert first.headers["ETag"] == f'"{bug["version"]}"'
    # Everything but a successful reproduction is there.
    assert bug["completeness"] == {"score": 85, "missing": ["successful_reproduction"]}
    assert [t["ticket_id"] for t in bug["linked_tickets"]] == [
        body["linked_tickets"][0]["ticket_id"]
    ]
    assert bug["affected_tenants"] == [body["tenant_id"]]

    replay = await running.client.post(
        "/v1/bugs", json=body, headers={**AGENT, "Idempotency-Key": key}
    )
    assert replay.status_code == 201
    assert replay.json()["bug"]["id"] == bug["id"]

    events = await bug_events(running.prefix, bug["id"], count=1)
    assert [e.type for e in events] == ["bug.reported"]
    data = events[0].data
    assert data.linked_ticket_ids == [body["linked_tickets"][0]["ticket_id"]]  # type: ignore[union-attr]
    assert data.steps == body["steps"]  # type: ignore[union-attr]


async def test_an_incomplete_report_lists_what_is_missing(running: Running) -> None:
    bug = await create(
        running.client,
        report(
            steps=["Click export"],
            expected="same",
            actual="Same",
            environment={},
            attachments=[],
            summary="",
        ),
    )
    completeness = bug["completeness"]
    assert completeness["score"] == 100 - 5 - 20 - 5 - 15 - 5 - 5 - 5 - 15
    assert completeness["missing"] == [
        "summary",
        "steps",
        "expected_differs_from_actual",
        "environment.app_version",
        "environment.browser",
        "environment.os",
        "attachments",
        "successful_reproduction",
    ]


async def test_bad_input_is_a_problem_naming_the_field(running: Running) -> None:
    client = running.client
    bad = await client.post(
        "/v1/bugs",
        json=report(severity="apocalyptic"),
        headers={**AGENT, "Idempotency-Key": uid("k")},
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].endswith("severity") for e in bad.json()["errors"])

    long_title = await client.post(
        "/v1/bugs", json=report(title="x" * 301), headers={**AGENT, "Idempotency-Key": uid("k")}
    )
    assert long_title.status_code == 422
    assert any(e["field"].endswith("title") for e in long_title.json()["errors"])

    nul = await client.post(
        "/v1/bugs", json=report(actual="boom\x00"), headers={**AGENT, "Idempotency-Key": uid("k")}
    )
    assert nul.status_code == 422
    assert "NUL" in nul.text

    ticket = {"ticket_id": uid("tkt"), "tenant_id": "ten_x"}
    twice = await client.post(
        "/v1/bugs",
        json=report(linked_tickets=[ticket, ticket]),
        headers={**AGENT, "Idempotency-Key": uid("k")},
    )
    assert twice.status_code == 422
    assert "twice" in twice.text

    bad_filter = await client.get("/v1/bugs", params={"tenant_id": "a\x00b"}, headers=AGENT)
    assert bad_filter.status_code == 422
    assert bad_filter.json()["errors"][0]["field"].endswith("tenant_id")

    not_uuid = await client.get("/v1/bugs/not-a-uuid", headers=AGENT)
    assert not_uuid.status_code == 422
    missing = await client.get(f"/v1/bugs/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=AGENT)
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not found"

    billing = await client.post(
        "/v1/bugs", json=report(), headers={**auth("billing"), "Idempotency-Key": uid("k")}
    )
    assert billing.status_code == 403
    anonymous = await client.get("/v1/bugs")
    assert anonymous.status_code == 401


async def test_list_filters_and_pages_with_a_cursor(running: Running) -> None:
    tenant = uid("ten")
    titles = [
        "Dashboard chart legend overlaps the axis labels",
        "Password reset email never arrives for SSO users",
        "CSV import silently drops rows with umlauts",
    ]
    ids = []
    for title in titles:
        bug = await create(
            running.client,
            report(tenant_id=tenant, title=title, steps=[title, "then again"], actual=title),
        )
        ids.append(bug["id"])
        running.clock.advance(seconds=1)
    await create(running.client, report(title="Unrelated tenant's calendar sync duplicates events"))

    seen: list[str] = []
    cursor = None
    while True:
        params = {"tenant_id": tenant, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await running.client.get("/v1/bugs", params=params, headers=QA)
        assert page.status_code == 200, page.text
        seen += [b["id"] for b in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    by_status = await running.client.get(
        "/v1/bugs", params={"tenant_id": tenant, "status": "escalated"}, headers=QA
    )
    assert by_status.json()["items"] == []
    bad_status = await running.client.get("/v1/bugs", params={"status": "nope"}, headers=QA)
    assert bad_status.status_code == 422


async def test_updates_need_a_current_if_match(running: Running) -> None:
    bug = await create(running.client, report(environment={"browser": "Edge"}))
    url = f"/v1/bugs/{bug['id']}"
    change = {"environment": {"app_version": "4.12.0", "browser": "Edge 120", "os": "Windows 11"}}

    without = await running.client.patch(url, json=change, headers=QA)
    assert without.status_code == 428

    stale = await running.client.patch(url, json=change, headers={**QA, "If-Match": '"999"'})
    assert stale.status_code == 412

    current = await running.client.get(url, headers=QA)
    ok = await running.client.patch(
        url, json=change, headers={**QA, "If-Match": current.headers["ETag"]}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["environment"]["app_version"] == "4.12.0"
    assert "environment.app_version" not in ok.json()["completeness"]["missing"]
    assert ok.headers["ETag"] != current.headers["ETag"]


async def test_a_tenant_token_sees_only_its_tenant(running: Running) -> None:
    bug = await create(running.client, report())
    other = auth("agent", tenant_id=uid("ten"))
    hidden = await running.client.get(f"/v1/bugs/{bug['id']}", headers=other)
    assert hidden.status_code == 404
    mine = auth("agent", tenant_id=bug["tenant_id"])
    shown = await running.client.get(f"/v1/bugs/{bug['id']}", headers=mine)
    assert shown.status_code == 200
    listed = await running.client.get("/v1/bugs", headers=other)
    assert listed.json()["items"] == []
