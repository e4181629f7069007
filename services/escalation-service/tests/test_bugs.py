"""Bug reports through REST: filing, reading, listing, editing, access."""

from __future__ import annotations

import httpx
from escalation_fixtures import (
    AGENT,
    QA,
    Running,
    announce_ticket,
    bug_events,
    create,
    move,
    report,
    uid,
)

from servicekit.testing import auth, known_tenant, payload
from supportops_events.escalation import BugReported


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
    data = payload(events[0], BugReported)
    assert data.linked_ticket_ids == [body["linked_tickets"][0]["ticket_id"]]
    assert data.steps == body["steps"]


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
            # different defects sharing the fixture's description paragraph verbatim: the
            # detector reads the whole report, so file them as new (this test is on lists)
            report(
                tenant_id=tenant,
                title=title,
                steps=[title, "then again"],
                actual=title,
                force_new=True,
            ),
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
    assert seen == ids[::-1]  # newest first, the default order of every list

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


async def test_a_tenant_token_sees_the_bugs_affecting_it_without_other_tenants_ids(
    running: Running,
) -> None:
    client = running.client
    reporter, linked_tenant, listed_tenant, stranger = (uid("ten") for _ in range(4))
    reporter_ticket, linked_ticket = uid("tkt"), uid("tkt")
    bug = await create(
        client,
        report(
            tenant_id=reporter,
            linked_tickets=[{"ticket_id": reporter_ticket, "tenant_id": reporter}],
            affected_tenants=[listed_tenant],
        ),
    )
    bug_id = bug["id"]
    linked = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": linked_ticket, "tenant_id": linked_tenant},
        headers=AGENT,
    )
    assert linked.status_code == 200
    noted = await move(
        client,
        bug_id,
        "reproducing",
        note=f"{reporter} sent logs on {reporter_ticket}; {linked_tenant} on {linked_ticket}.",
    )
    assert noted.status_code == 200

    # Unscoped agents, QA, admins and services see everything.
    for everyone in (AGENT, QA, auth("admin"), auth("service")):
        full = await client.get(f"/v1/bugs/{bug_id}", headers=everyone)
        assert full.status_code == 200
        assert full.json()["tenant_id"] == reporter
        assert [t["ticket_id"] for t in full.json()["linked_tickets"]] == [
            reporter_ticket,
            linked_ticket,
        ]
        assert full.json()["affected_tenants"] == sorted([reporter, linked_tenant, listed_tenant])

    # The tenant of a linked ticket: its own ticket and tenant, nothing of the others.
    as_linked = auth("agent", tenant_id=linked_tenant)
    seen = await client.get(f"/v1/bugs/{bug_id}", headers=as_linked)
    assert seen.status_code == 200, seen.text
    detail = seen.json()
    assert detail["tenant_id"] is None
    assert detail["linked_tickets"] == [
        {**detail["linked_tickets"][0], "ticket_id": linked_ticket, "tenant_id": linked_tenant}
    ]
    assert detail["affected_tenants"] == [linked_tenant]
    assert detail["impact"]["affected_tenants"] == [linked_tenant]
    assert detail["impact"]["open_linked_tickets"] == 1
    assert detail["attachments"] == []
    assert detail["environment"]["tenant_configuration"] == {}
    assert detail["environment"]["app_version"] == "4.12.0"
    assert detail["history"][-1]["note"] == (
        f"[hidden] sent logs on [hidden]; {linked_tenant} on {linked_ticket}."
    )
    for foreign in (reporter, reporter_ticket, listed_tenant):
        assert foreign not in seen.text
    listed = await client.get("/v1/bugs", headers=as_linked)
    assert [b["id"] for b in listed.json()["items"]] == [bug_id]
    assert reporter_ticket not in listed.text and reporter not in listed.text
    by_own_ticket = await client.get(
        "/v1/bugs", params={"ticket_id": linked_ticket}, headers=as_linked
    )
    assert [b["id"] for b in by_own_ticket.json()["items"]] == [bug_id]
    # Another tenant's ticket does not exist for this token (#13: one 404 for all ids).
    probing = await client.get("/v1/bugs", params={"ticket_id": reporter_ticket}, headers=as_linked)
    assert probing.status_code == 404
    assert reporter_ticket not in probing.text
    metrics = await client.get("/v1/metrics", headers=as_linked)
    assert metrics.json()["bugs"] == 1

    # The reporting tenant sees its report in full, but not the other tenants' ids.
    as_reporter = await client.get(f"/v1/bugs/{bug_id}", headers=auth("agent", tenant_id=reporter))
    assert as_reporter.json()["tenant_id"] == reporter
    assert [t["ticket_id"] for t in as_reporter.json()["linked_tickets"]] == [reporter_ticket]
    assert as_reporter.json()["attachments"] == bug["attachments"]
    assert as_reporter.json()["environment"]["tenant_configuration"] == {"locale": "de-DE"}
    for foreign in (linked_tenant, linked_ticket, listed_tenant):
        assert foreign not in as_reporter.text

    # A tenant only listed as affected sees the bug, no tickets.
    as_listed = await client.get(
        f"/v1/bugs/{bug_id}", headers=auth("agent", tenant_id=listed_tenant)
    )
    assert as_listed.status_code == 200
    assert as_listed.json()["linked_tickets"] == []
    assert as_listed.json()["affected_tenants"] == [listed_tenant]

    # Anyone else: as if the bug did not exist.
    as_stranger = auth("agent", tenant_id=stranger)
    assert (await client.get(f"/v1/bugs/{bug_id}", headers=as_stranger)).status_code == 404
    assert (
        await client.get(f"/v1/bugs/{bug_id}/reproductions", headers=as_stranger)
    ).status_code == 404
    assert (await client.get("/v1/bugs", headers=as_stranger)).json()["items"] == []
    assert (await client.get("/v1/metrics", headers=as_stranger)).json()["bugs"] == 0
    other_filter = await client.get("/v1/bugs", params={"tenant_id": reporter}, headers=as_stranger)
    assert other_filter.status_code == 404  # another tenant does not exist for this token


async def test_a_tenant_token_changes_only_its_own_reports_but_links_its_tickets(
    running: Running,
) -> None:
    client = running.client
    reporter, linked_tenant = uid("ten"), uid("ten")
    bug = await create(client, report(tenant_id=reporter))
    bug_id = bug["id"]
    await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": uid("tkt"), "tenant_id": linked_tenant},
        headers=AGENT,
    )
    etag = (await client.get(f"/v1/bugs/{bug_id}", headers=QA)).headers["ETag"]

    as_linked = auth("agent", "qa", tenant_id=linked_tenant)
    edit = await client.patch(
        f"/v1/bugs/{bug_id}", json={"summary": "hijacked"}, headers={**as_linked, "If-Match": etag}
    )
    assert edit.status_code == 403
    assert edit.json()["type"].endswith("/bug-of-another-tenant")
    transition = await client.post(
        f"/v1/bugs/{bug_id}/transitions", json={"to": "reproducing"}, headers=as_linked
    )
    assert transition.status_code == 403
    attempt = await client.post(
        f"/v1/bugs/{bug_id}/reproductions",
        json={"outcome": "reproduced"},
        headers={**as_linked, "Idempotency-Key": uid("k")},
    )
    assert attempt.status_code == 403
    foreign_ticket = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": uid("tkt"), "tenant_id": reporter},
        headers=as_linked,
    )
    assert foreign_ticket.status_code == 404
    own_ticket = uid("tkt")
    linked = await client.post(
        f"/v1/bugs/{bug_id}/links",
        json={"ticket_id": own_ticket, "tenant_id": linked_tenant},
        headers=as_linked,
    )
    assert linked.status_code == 200, linked.text
    assert len(linked.json()["linked_tickets"]) == 2
    assert all(t["tenant_id"] == linked_tenant for t in linked.json()["linked_tickets"])

    as_reporter = auth("agent", tenant_id=reporter)
    own_edit = await client.patch(
        f"/v1/bugs/{bug_id}",
        json={"summary": "Every PDF export is empty since 4.12."},
        headers={**as_reporter, "If-Match": linked.headers["ETag"]},
    )
    assert own_edit.status_code == 200, own_edit.text
    assert (await client.get(f"/v1/bugs/{bug_id}", headers=QA)).json()["version"] == 4

    # It cannot name other tenants, and what it cannot see survives its edits.
    naming_others = await client.patch(
        f"/v1/bugs/{bug_id}",
        json={"affected_tenants": [reporter, uid("ten")]},
        headers={**as_reporter, "If-Match": own_edit.headers["ETag"]},
    )
    assert naming_others.status_code == 404
    narrowed = await client.patch(
        f"/v1/bugs/{bug_id}",
        json={"affected_tenants": [reporter]},
        headers={**as_reporter, "If-Match": own_edit.headers["ETag"]},
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["affected_tenants"] == [reporter]
    full = (await client.get(f"/v1/bugs/{bug_id}", headers=QA)).json()
    assert full["affected_tenants"] == sorted([reporter, linked_tenant])
    filing_for_others = await client.post(
        "/v1/bugs",
        json=report(tenant_id=reporter, affected_tenants=[linked_tenant]),
        headers={**as_reporter, "Idempotency-Key": uid("k")},
    )
    assert filing_for_others.status_code == 404


async def test_a_tenant_reporting_a_known_bug_sees_only_its_side_of_it(running: Running) -> None:
    client = running.client
    original = await create(client, report())
    title = original["title"]
    elsewhere = await create(client, report(title=f"{title} in Safari", force_new=True))
    second_tenant = uid("ten")
    as_second = auth("agent", tenant_id=second_tenant)
    own = await create(
        client,
        report(tenant_id=second_tenant, title=f"{title} in Edge", force_new=True),
        **as_second,
    )
    duplicate = report(tenant_id=second_tenant)
    response = await client.post(
        "/v1/bugs", json=duplicate, headers={**as_second, "Idempotency-Key": uid("k")}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "linked_to_duplicate"
    assert result["bug"]["id"] == original["id"]
    assert result["bug"]["tenant_id"] is None
    assert [t["ticket_id"] for t in result["bug"]["linked_tickets"]] == [
        duplicate["linked_tickets"][0]["ticket_id"]
    ]
    # Another tenant's similar bug is a candidate for QA, not for this tenant.
    assert [c["bug_id"] for c in result["candidates"]] == [original["id"], own["id"]]
    for foreign in (
        elsewhere["id"],
        elsewhere["tenant_id"],
        original["tenant_id"],
        original["linked_tickets"][0]["ticket_id"],
    ):
        assert foreign not in response.text
    unscoped = await client.post(
        "/v1/bugs", json=report(), headers={**AGENT, "Idempotency-Key": uid("k")}
    )
    assert {c["bug_id"] for c in unscoped.json()["candidates"]} == {
        original["id"],
        elsewhere["id"],
        own["id"],
    }


async def test_links_resolve_each_tickets_real_tenant_not_the_bodys(running: Running) -> None:
    """#13: a tenant-confined token linked another tenant's ticket to its own bug (links
    and ``linked_tickets``) by claiming its own tenant in the body; a 409 for an already
    linked ticket named the other tenant's bug."""
    assert running.app is not None
    client = running.client
    attacker, victim = uid("ten"), uid("ten")
    victim_ticket, attacker_ticket = uid("tkt"), uid("tkt")
    await announce_ticket(running.app, ticket_id=victim_ticket, tenant_id=victim)
    victims_bug = await create(
        client,
        report(
            tenant_id=victim, linked_tickets=[{"ticket_id": victim_ticket, "tenant_id": victim}]
        ),
    )
    own_bug = await create(
        client,
        report(
            tenant_id=attacker,
            title="Calendar sync duplicates events",
            linked_tickets=[{"ticket_id": attacker_ticket, "tenant_id": attacker}],
            force_new=True,
        ),
    )
    claim = {"ticket_id": victim_ticket, "tenant_id": attacker}
    for role in ("agent", "qa", "admin"):
        token = auth(role, tenant_id=attacker)
        linked = await client.post(f"/v1/bugs/{own_bug['id']}/links", json=claim, headers=token)
        assert linked.status_code == 404, linked.text
        assert victims_bug["id"] not in linked.text and victim not in linked.text
        filed = await client.post(
            "/v1/bugs",
            json=report(tenant_id=attacker, linked_tickets=[claim], force_new=True),
            headers={**token, "Idempotency-Key": uid("k")},
        )
        assert filed.status_code == 404, filed.text
        assert victims_bug["id"] not in filed.text
    # Staff cannot put a ticket under a tenant it does not belong to either.
    misfiled = await client.post(f"/v1/bugs/{own_bug['id']}/links", json=claim, headers=QA)
    assert misfiled.status_code == 422, misfiled.text
    assert [e["field"] for e in misfiled.json()["errors"]] == ["tenant_id"]
    # The victim's ticket stays linked to the victim's bug only.
    for bug_id, expected in (
        (victims_bug["id"], [victim_ticket]),
        (own_bug["id"], [attacker_ticket]),
    ):
        detail = (await client.get(f"/v1/bugs/{bug_id}", headers=QA)).json()
        assert [t["ticket_id"] for t in detail["linked_tickets"]] == expected


async def test_a_bug_for_a_tenant_nobody_announced_is_refused(running: Running) -> None:
    """#13: tenant ids a request names are checked against the tenants onboarding
    announced (``tenant.*`` events), for staff too."""
    assert running.app is not None
    transport = httpx.ASGITransport(app=running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as bare:
        for tenant_id in ("not-a-uuid", uid("ten")):
            refused = await bare.post(
                "/v1/bugs",
                json=report(tenant_id=tenant_id, linked_tickets=[]),
                headers={**AGENT, "Idempotency-Key": uid("k")},
            )
            assert refused.status_code == 422, refused.text
            assert [e["field"] for e in refused.json()["errors"]] == ["tenant_id"]
        known = await known_tenant(running.app)
        accepted = await bare.post(
            "/v1/bugs",
            json=report(tenant_id=known, linked_tickets=[]),
            headers={**AGENT, "Idempotency-Key": uid("k")},
        )
        assert accepted.status_code == 201, accepted.text
