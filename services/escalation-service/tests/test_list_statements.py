"""The bug list stays lean at scale (issue #15): a page of bugs costs a small constant
number of SQL statements, one per related table for the whole page, never one per bug.

Counted, not guessed: ``servicekit.testing.count_statements`` records every statement the
request sends through the engine (a ``before_cursor_execute`` listener)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from escalation_fixtures import QA, Running

from escalation_service.models import Bug, BugLink, Reproduction, TenantPlan, TicketView
from servicekit.db import Database
from servicekit.testing import auth, count_statements

LIST_BUDGET = 5
"""The page, then one query each for links, ticket views, successful reproductions and
tenant plans."""
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _db(running: Running) -> Database:
    assert running.app is not None
    db: Database = running.app.state.db
    return db


async def _seed(running: Running, *, count: int, tenant: str, start: int) -> None:
    """``count`` bugs of ``tenant``, each with two linked tickets (one breaching its SLA,
    one of another tenant), the odd ones successfully reproduced."""
    async with _db(running).unit_of_work() as session:
        for n in range(start, start + count):
            bug_id, other = uuid.uuid4(), f"ten-other-{n}"
            created = AT + timedelta(minutes=n)
            session.add(
                Bug(
                    id=bug_id,
                    tenant_id=tenant,
                    title=f"bug number {n}",
                    summary="summary",
                    steps=["open", "click"],
                    steps_text="open\nclick",
                    expected="works",
                    actual="breaks",
                    environment={"app_version": "1.0", "browser": "Firefox", "os": "Linux"},
                    severity="high",
                    attachments=[],
                    affected_tenants=[tenant],
                    status="reported",
                    rework_count=0,
                    completeness_score=0,
                    version=1,
                    created_at=created,
                    updated_at=created,
                )
            )
            await session.flush()
            for ticket, owner in ((f"tkt-{n}-own", tenant), (f"tkt-{n}-other", other)):
                session.add(
                    BugLink(
                        id=uuid.uuid4(),
                        bug_id=bug_id,
                        ticket_id=ticket,
                        tenant_id=owner,
                        is_duplicate=False,
                        linked_at=created,
                    )
                )
            session.add(
                TicketView(
                    ticket_id=f"tkt-{n}-own",
                    tenant_id=tenant,
                    status="open",
                    sla_state="breached",
                    updated_at=created,
                )
            )
            session.add(
                TenantPlan(
                    tenant_id=other,
                    plan_tier="enterprise",
                    subscription_status="active",
                    updated_at=created,
                )
            )
            if n % 2:
                session.add(
                    Reproduction(
                        id=uuid.uuid4(),
                        bug_id=bug_id,
                        environment={},
                        steps_followed=[],
                        outcome="reproduced",
                        evidence=[],
                        recorded_at=created,
                    )
                )


async def _list(running: Running, headers: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    with count_statements(_db(running)) as sent:
        # oldest first, so item n is the n-th bug seeded
        response = await running.client.get("/v1/bugs?limit=50&sort=created_at", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items, len(sent)


async def test_a_page_of_bugs_costs_the_same_few_statements_for_5_and_for_50_bugs(
    running: Running,
) -> None:
    tenant = str(uuid.uuid4())
    await _seed(running, count=5, tenant=tenant, start=0)
    five, five_sent = await _list(running, QA)
    await _seed(running, count=45, tenant=tenant, start=5)
    fifty, fifty_sent = await _list(running, QA)

    assert (len(five), len(fifty)) == (5, 50)
    assert fifty_sent == five_sent, "a bug more on the page must not cost a statement more"
    assert 0 < fifty_sent <= LIST_BUDGET
    # each bug still carries its own links, SLA, tiers and completeness
    for n, item in enumerate(fifty):
        assert item["title"] == f"bug number {n}"
        assert [t["ticket_id"] for t in item["linked_tickets"]] == [
            f"tkt-{n}-own",
            f"tkt-{n}-other",
        ]
        impact = item["impact"]
        assert impact["sla_breached_tickets"] == 1
        assert impact["highest_customer_tier"] == "enterprise"
        assert impact["open_linked_tickets"] == 2
        missing = item["completeness"]["missing"]
        assert ("successful_reproduction" in missing) == (n % 2 == 0)


async def test_a_tenant_scoped_page_is_as_lean_and_shows_only_the_tenants_own(
    running: Running,
) -> None:
    tenant = str(uuid.uuid4())
    await _seed(running, count=5, tenant=tenant, start=0)
    own = auth("agent", tenant_id=tenant)
    five, five_sent = await _list(running, own)
    await _seed(running, count=45, tenant=tenant, start=5)
    fifty, fifty_sent = await _list(running, own)

    assert (len(five), len(fifty)) == (5, 50)
    # a tenant-scoped filter first checks the tenant exists: one statement of its own
    assert fifty_sent == five_sent
    assert fifty_sent <= LIST_BUDGET + 1
    for n, item in enumerate(fifty):
        assert [t["ticket_id"] for t in item["linked_tickets"]] == [f"tkt-{n}-own"]
        assert item["affected_tenants"] == [tenant]
        assert item["impact"]["tiers"] == {}
