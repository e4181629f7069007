"""Every documented list order and filter is served by an index: the SQL each list
request really sends (captured from the app) is EXPLAIN ANALYZEd on a seeded table, and
its plan must read no table sequentially and sort at most one page.

The tables are seeded by the scale benchmark's own COPY seeding (``benchmarks.scale``)
at 20k tickets, 10k bugs and 20k invoices: large enough for the planner to prefer an
index over a scan when one serves the query, small enough to seed in seconds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from benchmarks import scale
from servicekit.db import Database
from servicekit.testing import (
    app_client,
    auth,
    count_statements,
    drop_database,
    migrated_database,
)

pytestmark = pytest.mark.infra
PAGE = 50


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def plan_problems(plan: dict[str, Any], table: str) -> list[str]:
    """What makes a list plan not index-driven: a sequential scan of ``table``, or a sort
    fed more than one page of rows."""
    problems = []
    for node in _nodes(plan):
        kind = node["Node Type"]
        if kind == "Seq Scan" and node.get("Relation Name") == table:
            problems.append(f"sequential scan of {table}")
        if kind in ("Sort", "Incremental Sort"):
            fed = sum(c["Actual Rows"] * c.get("Actual Loops", 1) for c in node.get("Plans", []))
            if fed > PAGE + 1:
                problems.append(f"{kind} of {fed} rows")
    return problems


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    data: scale.Dataset


async def explain_list_request(
    running: Running, url: str, headers: dict[str, str], table: str
) -> tuple[list[str], str]:
    """Send the request, find its SELECT of ``table`` and EXPLAIN ANALYZE it."""
    db: Database = running.app.state.db
    with count_statements(db) as sent:
        response = await running.client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) > 0, f"{url} found nothing: the check proves nothing"
    (select,) = [s for s in sent if s.sql.lstrip().startswith("SELECT") and table in s.sql]
    conn = await asyncpg.connect(db.asyncpg_dsn)
    try:
        raw = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + select.sql, *(select.parameters or ())
        )
    finally:
        await conn.close()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return plan_problems(plan, table), json.dumps(plan, indent=1)[:4000]


@pytest.fixture(scope="module")
async def tickets() -> AsyncIterator[Running]:
    name, url = await migrated_database("plans_tickets", scale.MIGRATIONS["ticket"])
    try:
        data = await scale.seed_tickets(url, 20_000)
        app = scale.ticket_app(url)
        async with app_client(app) as client:
            yield Running(app, client, data)
    finally:
        await drop_database(name)


def _ticket_lists(data: scale.Dataset) -> dict[str, str]:
    return {
        "newest first": "",
        "tenant": f"&tenant_id={data.big_tenant}",
        "status": "&status=open",
        "queue": f"&queue={data.queue}",
        "assignee": f"&assignee={data.assignee}",
        "priority": "&priority=urgent",
        "category": "&category=billing",
        "tag": "&tag=vip",
        "rare tag": f"&tag={scale.RARE_TAG}",
        "SLA state": "&sla_state=running",
        "full-text rare word": f"&q={scale.RARE_WORD}",
        "tenant and status": f"&tenant_id={data.big_tenant}&status=closed",
    }


TICKET_LISTS = list(_ticket_lists(scale.Dataset()).keys())


@pytest.mark.parametrize("name", TICKET_LISTS)
async def test_ticket_list_is_index_driven(tickets: Running, name: str) -> None:
    url = f"/v1/tickets?limit={PAGE}{_ticket_lists(tickets.data)[name]}"
    problems, plan = await explain_list_request(tickets, url, auth("agent"), "tickets")
    assert problems == [], plan


async def test_a_deep_cursor_is_one_index_range(tickets: Running) -> None:
    first = f"/v1/tickets?limit={PAGE}"
    cursor = await scale.cursor_deep(tickets.client, first, auth("agent"), 20)
    url = f"{first}&cursor={cursor}"
    problems, plan = await explain_list_request(tickets, url, auth("agent"), "tickets")
    assert problems == [], plan


OTHER_LISTS: dict[str, tuple[str, Callable[[str], FastAPI], str, dict[str, str], list[str]]] = {
    "bugs": (
        "escalation",
        scale._escalation_app,
        "/v1/bugs",
        auth("qa"),
        ["", "&status=reproduced", "&severity=critical"],
    ),
    "invoices": (
        "billing",
        scale._billing_app,
        "/v1/invoices",
        auth("billing"),
        ["", "&status=open", "&tenant_id={tenant}"],
    ),
}


@pytest.mark.parametrize("table", sorted(OTHER_LISTS))
async def test_bug_and_invoice_lists_are_index_driven(table: str) -> None:
    service, make_app, path, headers, filters = OTHER_LISTS[table]
    name, url = await migrated_database(f"plans_{table}", scale.MIGRATIONS[service])
    try:
        seed = scale.seed_bugs if table == "bugs" else scale.seed_invoices
        data = await seed(url, 10_000 if table == "bugs" else 20_000)
        app = make_app(url)
        failures = {}
        async with app_client(app) as client:
            running = Running(app, client, data)
            for extra in filters:
                query = f"{path}?limit={PAGE}{extra.format(tenant=data.big_tenant)}"
                problems, plan = await explain_list_request(running, query, headers, table)
                if problems:
                    failures[query] = (problems, plan)
        assert failures == {}
    finally:
        await drop_database(name)
