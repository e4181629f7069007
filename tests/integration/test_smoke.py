"""The whole stack comes up: four services ready with database and Kafka healthy, each
answering on its own port."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from stack import LOG_DIR, Stack, answers_as, prepared_service, stop_stack

from servicekit.testing import auth, served, topic_prefix


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


async def test_a_service_whose_port_another_process_took_moves_to_a_free_one(
    stack: Stack,
) -> None:
    """A CI run once gave two services of the stack the same free port: the second
    could not bind it, and the first answered ``/readyz`` in its place, so every journey
    talked to the wrong service. Readiness is now the service answering as itself, and
    the one whose port was taken starts again on another."""
    impostor = FastAPI(title="supportops onboarding-service")

    @impostor.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    ticket = stack["ticket-service"]
    common = {k: v for k, v in ticket.env.items() if k != "TICKET_DATABASE_URL"}
    # its own database and topics: the journeys' ticket-service keeps its events
    common["KAFKA_TOPIC_PREFIX"] = topic_prefix()
    svc = await prepared_service("ticket-service", "TICKET_", common)
    second = Stack(prefix=common["KAFKA_TOPIC_PREFIX"], services={svc.name: svc})
    try:
        async with served(impostor) as impostor_url:
            taken = int(impostor_url.rsplit(":", 1)[1])
            svc.port = taken
            await second.launch()
            assert svc.port != taken
            assert svc.process is not None and svc.process.poll() is None
            async with httpx.AsyncClient(timeout=5) as client:
                assert await answers_as(client, svc)
                moved_from = await client.get(f"{impostor_url}/openapi.json")
                assert moved_from.json()["info"]["title"] == "supportops onboarding-service"
            logs = sorted(LOG_DIR.glob(f"ticket-service-{taken}.log"))
            assert logs and "address already in use" in logs[-1].read_text().lower()
    finally:
        await stop_stack(second)
