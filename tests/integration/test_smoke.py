"""The whole stack comes up: four services ready with database and Kafka healthy."""

from __future__ import annotations

import httpx
from stack import Stack

from servicekit.testing import auth


async def test_all_four_services_are_ready(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for name, svc in stack.services.items():
            resp = await client.get(f"{svc.url}/readyz")
            assert resp.status_code == 200, f"{name}: {resp.text}"
            assert resp.json() == {
                "status": "ready",
                "checks": {"database": "ok", "kafka": "ok"},
            }
            assert (await client.get(f"{svc.url}/healthz")).json() == {"status": "ok"}
            openapi = (await client.get(f"{svc.url}/openapi.json")).json()
            assert openapi["info"]["title"] == f"supportops {name}"


async def test_every_service_demands_a_token_and_serves_metrics(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for svc in stack.services.values():
            metrics = await client.get(f"{svc.url}/metrics")
            assert metrics.status_code == 200
            assert "outbox_published_total" in metrics.text or "http_requests_total" in metrics.text
            docs = await client.get(f"{svc.url}/docs")
            assert docs.status_code == 200
            # an unknown /v1 path is a problem+json 404 with or without a token
            resp = await client.get(f"{svc.url}/v1/does-not-exist", headers=auth("agent"))
            assert resp.status_code == 404
            assert resp.headers["content-type"].startswith("application/problem+json")
