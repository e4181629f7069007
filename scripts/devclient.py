"""A small client of the four running services for developer scripts: where they are,
development tokens minted the way ``make token`` does, Stripe-signed webhooks, bounded
concurrency, and waiting for what the events bring about."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from billing_service.config import BillingSettings
from servicekit.auth import mint_token
from servicekit.testing.stripe import sign as stripe_signature
from servicekit.testing.stripe import stripe_event
from ticket_service.config import TicketSettings

T = TypeVar("T")

__all__ = ["stripe_event", "stripe_signature"]  # the kit's, used by demo and api_tour

SERVICE_NAMES = ("ticket", "billing", "onboarding", "escalation")


@dataclass(frozen=True)
class Services:
    """Base URLs of the four services."""

    ticket: str
    billing: str
    onboarding: str
    escalation: str

    @classmethod
    def local(cls, host: str = "127.0.0.1") -> Services:
        """The ports ``make up`` uses (``TICKET_PORT`` … override them, as for services.sh)."""

        def url(prefix: str, default: int) -> str:
            return f"http://{host}:{os.environ.get(f'{prefix}_PORT', default)}"

        return cls(
            ticket=url("TICKET", 8001),
            billing=url("BILLING", 8002),
            onboarding=url("ONBOARDING", 8003),
            escalation=url("ESCALATION", 8004),
        )

    def url(self, service: str) -> str:
        base: str = getattr(self, service)
        return base

    def items(self) -> list[tuple[str, str]]:
        return [(name, self.url(name)) for name in SERVICE_NAMES]


@dataclass(frozen=True)
class Tokens:
    """Development HS256 tokens, minted with the services' own JWT settings."""

    secret: str
    issuer: str | None = None
    audience: str | None = None

    @classmethod
    def from_settings(cls) -> Tokens:
        """Exactly what ``make token`` (``ticket-service token``) uses."""
        settings = TicketSettings()
        if not settings.is_development:
            raise SystemExit("tokens are minted only in development (ENVIRONMENT=production)")
        return cls(
            secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )

    def mint(
        self,
        *roles: str,
        tenant_id: str | None = None,
        subject: str | None = None,
        ttl_seconds: int = 12 * 3600,
    ) -> str:
        return mint_token(
            secret=self.secret,
            roles=roles or ("agent",),
            tenant_id=tenant_id,
            subject=subject or f"demo-{'-'.join(roles) or 'agent'}",
            ttl_seconds=ttl_seconds,
            issuer=self.issuer,
            audience=self.audience,
        )


def stripe_webhook_secret() -> str:
    """The secret the billing-service verifies webhooks with, from its own settings."""
    secret: str = BillingSettings().stripe_webhook_secret
    return secret


class ApiError(RuntimeError):
    """A response the script did not expect; carries the problem document."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.method, self.url, self.status, self.body = method, url, status, body
        try:
            self.problem: dict[str, Any] = json.loads(body)
        except ValueError:
            self.problem = {}
        super().__init__(f"{method} {url} -> {status}: {body[:600]}")

    @property
    def code(self) -> str:
        return str(self.problem.get("type", "")).rsplit("/", 1)[-1]


@dataclass
class Api:
    """Calls the services with fresh tokens; at most ``concurrency`` requests in flight."""

    services: Services
    tokens: Tokens
    concurrency: int = 8
    timeout: float = 30.0
    client: httpx.AsyncClient | None = None
    subject_prefix: str = "demo"
    """Tokens name their subject ``<prefix>-<roles>`` unless a subject is given."""
    requests_made: int = 0
    _semaphore: asyncio.Semaphore = field(init=False)
    _token_cache: dict[tuple[tuple[str, ...], str | None, str | None], str] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        self._semaphore = asyncio.Semaphore(self.concurrency)

    async def __aenter__(self) -> Api:
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.concurrency * 2),
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def token(
        self, roles: Iterable[str], tenant_id: str | None = None, subject: str | None = None
    ) -> str:
        key = (tuple(roles), tenant_id, subject)
        if key not in self._token_cache:
            self._token_cache[key] = self.tokens.mint(
                *key[0],
                tenant_id=tenant_id,
                subject=subject or f"{self.subject_prefix}-{'-'.join(key[0])}",
            )
        return self._token_cache[key]

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        roles: Iterable[str] = ("admin",),
        tenant_id: str | None = None,
        subject: str | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        if_match: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: str | None = None,
        expect: Iterable[int] = (200, 201, 202),
        auth: bool = True,
    ) -> httpx.Response:
        assert self.client is not None, "use `async with Api(...)`"
        url = self.services.url(service) + path
        sent: dict[str, str] = dict(headers or {})
        if auth:
            sent["Authorization"] = f"Bearer {self.token(roles, tenant_id, subject)}"
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        if if_match is not None:
            sent["If-Match"] = if_match
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(4):
            try:
                async with self._semaphore:
                    self.requests_made += 1
                    response = await self.client.request(
                        method, url, json=json_body, params=query, headers=sent, content=content
                    )
                break
            except (httpx.ConnectError, httpx.ConnectTimeout):
                # nothing reached the service: safe to send again
                if attempt == 3:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        if response.status_code not in set(expect):
            raise ApiError(method, str(response.request.url), response.status_code, response.text)
        return response

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return (await self.call("GET", service, path, **kwargs)).json()

    async def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return (await self.call("POST", service, path, json_body=body, **kwargs)).json()

    async def all_pages(
        self, service: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated list."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self.get(
                service, path, params={**(params or {}), "limit": 200, "cursor": cursor}, **kwargs
            )
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def stripe_webhook(self, event: dict[str, Any], *, secret: str) -> httpx.Response:
        """Deliver an event to the billing-service signed exactly as Stripe signs it."""
        payload = json.dumps(event)
        return await self.call(
            "POST",
            "billing",
            "/v1/stripe/webhooks",
            content=payload,
            headers={
                "Stripe-Signature": stripe_signature(payload, secret=secret),
                "Content-Type": "application/json",
            },
            auth=False,
            expect=(200,),
        )

    async def ready(self) -> dict[str, str]:
        """Each service's /readyz verdict (``unreachable`` when nothing answers)."""
        client = self.client
        assert client is not None

        async def one(url: str) -> str:
            try:
                response = await client.get(f"{url}/readyz", timeout=5)
            except httpx.HTTPError:
                return "unreachable"
            return "ready" if response.status_code == 200 else f"not ready: {response.text[:200]}"

        verdicts = await asyncio.gather(*(one(url) for _, url in self.services.items()))
        return dict(zip(SERVICE_NAMES, verdicts, strict=True))


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    timeout: float = 60.0,
    interval: float = 0.5,
) -> T:
    """Poll ``check`` until it returns something other than None (events take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)
