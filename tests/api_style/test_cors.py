"""CORS on all four services (docs/api-style.md, "CORS"): the local Vite origins are
allowed in development and test, with the headers the API reads and writes; another
origin, or production without ``SUPPORTOPS_CORS_ORIGINS``, gets no CORS headers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from stylekit import IDS, SERVICES, Service

VITE = "http://localhost:5173"
REQUESTED = "authorization, content-type, idempotency-key, if-match, last-event-id"


@pytest.fixture(autouse=True)
def _no_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORTOPS_CORS_ORIGINS", raising=False)
    monkeypatch.delenv("ENVIRONMENT", raising=False)


def client(app: FastAPI) -> httpx.AsyncClient:
    # no lifespan: CORS answers before anything needs the database or Kafka
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": REQUESTED,
    }


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
async def test_a_preflight_from_the_dev_origin_is_allowed(service: Service) -> None:
    async with client(service.shared_test_app()) as c:
        response = await c.options("/v1/events", headers=preflight(VITE))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == VITE
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert set(REQUESTED.split(", ")) <= allowed


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
async def test_a_preflight_from_another_origin_is_refused(service: Service) -> None:
    async with client(service.shared_test_app()) as c:
        response = await c.options("/v1/events", headers=preflight("https://evil.example"))
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
async def test_a_response_exposes_etag_location_and_replay_headers(service: Service) -> None:
    async with client(service.shared_test_app()) as c:
        response = await c.get("/healthz", headers={"Origin": "http://127.0.0.1:5173"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"ETag", "Location", "Idempotent-Replayed", "Retry-After"} <= exposed


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
async def test_production_without_origins_answers_no_cors(service: Service) -> None:
    async with client(service.production_app()) as c:
        refused = await c.options("/v1/events", headers=preflight(VITE))
        plain = await c.get("/healthz", headers={"Origin": VITE})
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize("service", SERVICES, ids=IDS)
async def test_production_allows_a_configured_origin(service: Service) -> None:
    app = service.production_app(cors_origins=["https://console.example"])
    async with client(app) as c:
        response = await c.options("/v1/events", headers=preflight("https://console.example"))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://console.example"
