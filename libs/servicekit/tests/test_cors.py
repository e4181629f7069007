"""CORS (servicekit.cors): a browser console on an allowed origin may call the API and
read the headers it needs; other origins, and production without configured origins,
get no CORS headers at all."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Response
from kitapp import KitSettings, definition

from servicekit.app import create_service_app
from servicekit.settings import DEV_CORS_ORIGINS
from servicekit.testing import production_values

VITE = "http://localhost:5173"


def client_for(settings: KitSettings) -> httpx.AsyncClient:
    # no lifespan: CORS answers before anything needs the database or Kafka
    app = create_service_app(definition(settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://kit")


def preflight(origin: str, method: str = "PATCH") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key",
    }


def production(**fields: object) -> KitSettings:
    return KitSettings(**{**production_values(KitSettings), **fields})


async def test_a_preflight_from_the_dev_origin_is_allowed_with_the_api_headers() -> None:
    async with client_for(KitSettings(environment="test")) as client:
        response = await client.options("/v1/items/abc", headers=preflight(VITE))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == VITE
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
        "last-event-id",
    } <= allowed
    assert "PATCH" in response.headers["access-control-allow-methods"]


async def test_a_preflight_from_another_origin_gets_no_allow_origin() -> None:
    async with client_for(KitSettings(environment="test")) as client:
        response = await client.options("/v1/items", headers=preflight("https://evil.example"))
    assert "access-control-allow-origin" not in response.headers


async def test_a_real_response_exposes_the_headers_a_console_reads() -> None:
    async with client_for(KitSettings(environment="test")) as client:
        response = await client.get("/healthz", headers={"Origin": "http://127.0.0.1:5173"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"ETag", "Location", "Idempotent-Replayed", "Retry-After"} <= exposed


async def test_production_without_configured_origins_has_no_cors() -> None:
    settings = production()
    assert settings.cors_origins == []
    async with client_for(settings) as client:
        refused = await client.options("/v1/items", headers=preflight(VITE))
        plain = await client.get("/healthz", headers={"Origin": VITE})
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.headers


async def test_production_allows_the_origins_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTOPS_CORS_ORIGINS", "https://console.example, https://ops.example")
    settings = production()
    assert settings.cors_origins == ["https://console.example", "https://ops.example"]
    async with client_for(settings) as client:
        response = await client.options("/v1/items", headers=preflight("https://ops.example"))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://ops.example"


def test_the_development_default_is_the_local_vite_origins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUPPORTOPS_CORS_ORIGINS", raising=False)
    assert KitSettings(environment="development").cors_origins == list(DEV_CORS_ORIGINS)
    monkeypatch.setenv("SUPPORTOPS_CORS_ORIGINS", '["https://a.example"]')
    assert KitSettings().cors_origins == ["https://a.example"]


def app_with_own_vary(settings: KitSettings) -> httpx.AsyncClient:
    """The kit app plus a route whose response varies on a header of its own."""
    app = create_service_app(definition(settings))

    async def negotiated() -> Response:
        return Response(b"{}", media_type="application/json", headers={"Vary": "Accept"})

    app.add_api_route("/negotiated", negotiated, methods=["GET"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://kit")


async def test_a_response_without_origin_varies_on_origin_once() -> None:
    # a shared cache must not serve a response made for no origin to a console's
    # cross-origin request (it would lack Access-Control-Allow-Origin): Vary: Origin,
    # as Starlette's CORSMiddleware adds it, now added by the kit without going through it
    async with app_with_own_vary(KitSettings(environment="test")) as client:
        probe = await client.get("/healthz")
        negotiated = await client.get("/negotiated")
    assert probe.headers.get_list("vary") == ["Origin"]
    assert "access-control-allow-origin" not in probe.headers
    assert negotiated.headers.get_list("vary") == ["Accept, Origin"]
    assert probe.headers["x-correlation-id"]


async def test_without_cors_a_response_does_not_vary_on_origin() -> None:
    async with app_with_own_vary(production()) as client:
        probe = await client.get("/healthz")
        negotiated = await client.get("/negotiated")
    assert "vary" not in probe.headers
    assert negotiated.headers.get_list("vary") == ["Accept"]


async def test_a_cross_origin_response_gets_cors_and_the_kit_headers() -> None:
    async with app_with_own_vary(KitSettings(environment="test")) as client:
        response = await client.get(
            "/negotiated", headers={"Origin": VITE, "X-Correlation-Id": "console-7"}
        )
        other = await client.get("/negotiated", headers={"Origin": "https://evil.example"})
    assert response.headers["access-control-allow-origin"] == VITE
    assert response.headers.get_list("vary") == ["Accept, Origin"]
    assert response.headers["x-correlation-id"] == "console-7"
    assert "access-control-allow-origin" not in other.headers
    assert other.headers.get_list("vary") == ["Accept, Origin"]
    assert other.headers["x-correlation-id"]


async def test_a_preflight_is_answered_before_the_405_rule() -> None:
    # OPTIONS is no method of /v1/items: without CORS first, the kit would refuse it 405
    async with client_for(KitSettings(environment="test")) as client:
        preflight_response = await client.options("/v1/items", headers=preflight(VITE, "POST"))
        plain = await client.options("/v1/items")
    assert preflight_response.status_code == 200
    assert preflight_response.headers["access-control-allow-origin"] == VITE
    assert plain.status_code == 405
    assert set(plain.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
