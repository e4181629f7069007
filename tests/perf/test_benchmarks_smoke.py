"""The benchmarks keep working: ``make bench``'s scale benchmark at a smoke size (the
same code as the 1M-ticket run, seconds instead of minutes), and the request-path
benchmark's baselines and statement counts."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from benchmarks import request_path, scale
from servicekit.testing import drop_database, migrated_database

pytestmark = pytest.mark.infra


async def test_scale_benchmark_smoke() -> None:
    args = scale.parser().parse_args(
        [
            "--tickets", "4000", "--baseline-tickets", "400",
            "--bugs", "120", "--baseline-bugs", "60",
            "--invoices", "2000", "--baseline-invoices", "200",
            "--seconds", "0.25", "--deep-pages", "2", "--timeout", "5", "--in-process",
        ]
    )  # fmt: skip
    report = await scale.main(args)
    tickets = {row.name: row for row in report["rows"]["tickets"]}
    expected = {
        "first page", "tenant", "status open", "queue", "assignee", "tag (common)",
        "tag (rare)", "SLA state breached", "cursor deep", "full-text common word",
        "full-text rare word", "tenant-scoped token", "ticket create",
    }  # fmt: skip
    assert set(tickets) == expected
    for row in tickets.values():
        for stats in (row.small, row.large):
            assert stats.errors == stats.timeouts == 0, row.name
            assert len(stats.latencies_ms) == 5, row.name
    for kind in ("escalation", "billing"):
        assert {r.name for r in report["rows"][kind]} == {
            "first page", "status filter", "tenant", "cursor deep"
        }  # fmt: skip
    assert all("| ticket create |" in t or "Tickets" not in t for t in report["tables"][:1])
    assert "tickets 4,000 seeded in" in report["notes"]


async def test_request_path_baselines_answer_and_statements_are_counted() -> None:
    name, url = await migrated_database("bench_smoke_rp", request_path.TICKET_MIGRATIONS)
    try:
        import os

        os.environ["BENCH_DATABASE_URL"] = url
        for factory in (request_path.orm_app, request_path.asyncpg_app):
            app = factory()
            async with LifespanManager(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
                    created = await c.post("/v1/tickets", json=request_path._ticket_body(1))
                    assert created.status_code == 201, created.text
                    got = await c.get(f"/v1/tickets/{created.json()['id']}")
                    assert got.json()["status"] == "new"
        counts = await request_path.statements_per_request(url)
        assert counts["POST /v1/tickets"] <= 6
        assert counts["GET /v1/tickets/{id}"] <= 3
        assert counts["GET /v1/tickets"] == 1
    finally:
        await drop_database(name)
