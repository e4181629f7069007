"""What a journey test works with: the four services' public REST APIs with real tokens,
signed Stripe webhooks, the events on the topics, and the journey's one trace.

A journey behaves like a client that starts one trace: every request it makes carries
the same W3C ``traceparent`` trace id and one ``X-Correlation-Id``, so the services'
spans (HTTP, relay, consumers, workers) join that trace and every event it causes
carries that correlation id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from events import Event, EventTap
from otlp import TraceCollector
from stack import STRIPE_WEBHOOK_SECRET, Stack

from servicekit.testing import token

T = TypeVar("T")

SERVICE_NAMES = {
    "ticket": "ticket-service",
    "billing": "billing-service",
    "onboarding": "onboarding-service",
    "escalation": "escalation-service",
}


class Journey:
    def __init__(self, stack: Stack, tap: EventTap, traces: TraceCollector) -> None:
        self.stack = stack
        self.tap = tap
        self.traces = traces
        self.trace_id = secrets.token_hex(16)
        self.correlation_id = f"journey-{uuid.uuid4().hex[:12]}"
        self.http = httpx.AsyncClient(timeout=30)

    async def close(self) -> None:
        await self.http.aclose()

    # --- REST ----------------------------------------------------------------------

    def headers(
        self,
        *roles: str,
        tenant_id: str | None = None,
        subject: str | None = None,
        idempotency_key: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        bearer = token(*(roles or ("admin",)), tenant_id=tenant_id, subject=subject)
        headers = {
            "Authorization": f"Bearer {bearer}",
            "traceparent": f"00-{self.trace_id}-{secrets.token_hex(8)}-01",
            "X-Correlation-Id": self.correlation_id,
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        headers.update(extra or {})
        return headers

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        roles: tuple[str, ...] = ("admin",),
        tenant_id: str | None = None,
        subject: str | None = None,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        expect: int | tuple[int, ...] | None = None,
    ) -> httpx.Response:
        """Call ``service`` (``ticket``, ``billing``, ``onboarding``, ``escalation``)."""
        url = self.stack[SERVICE_NAMES[service]].url + path
        response = await self.http.request(
            method,
            url,
            json=json_body,
            params=params,
            headers=self.headers(
                *roles,
                tenant_id=tenant_id,
                subject=subject,
                idempotency_key=idempotency_key,
                extra=headers,
            ),
        )
        if expect is not None:
            wanted = (expect,) if isinstance(expect, int) else expect
            assert response.status_code in wanted, (
                f"{method} {service}{path} -> {response.status_code}: {response.text}"
            )
        return response

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("expect", 200)
        return (await self.request(service, "GET", path, **kwargs)).json()

    async def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("expect", (200, 201, 202))
        response = await self.request(service, "POST", path, json_body=body, **kwargs)
        return response.json() if response.content else None

    async def until(
        self, check: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.25
    ) -> T:
        """Retry ``check`` until it returns without raising AssertionError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await check()
            except AssertionError:
                if loop.time() > deadline:
                    raise
            await asyncio.sleep(interval)

    # --- Stripe --------------------------------------------------------------------

    async def stripe_webhook(
        self, event_type: str, obj: dict[str, Any], *, created: int | None = None
    ) -> dict[str, Any]:
        """Deliver a Stripe event exactly as Stripe signs it; returns the event sent."""
        event = {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": created if created is not None else int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        await self.deliver(event)
        return event

    async def deliver(self, event: dict[str, Any]) -> httpx.Response:
        payload = json.dumps(event)
        timestamp = int(time.time())
        mac = hmac.new(
            STRIPE_WEBHOOK_SECRET.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
        )
        response = await self.http.post(
            self.stack["billing-service"].url + "/v1/stripe/webhooks",
            content=payload,
            headers={
                "Stripe-Signature": f"t={timestamp},v1={mac.hexdigest()}",
                "Content-Type": "application/json",
                # Stripe sends no trace context; the journey does, so the worker's
                # processing of this event can be seen in the journey's trace.
                "traceparent": f"00-{self.trace_id}-{secrets.token_hex(8)}-01",
                "X-Correlation-Id": self.correlation_id,
            },
        )
        assert response.status_code == 200, response.text
        return response

    # --- events and trace ----------------------------------------------------------

    async def events(self, tenant: str, *types: str, timeout: float = 30.0) -> list[Event]:
        return await self.tap.wait_types(tenant, *types, timeout=timeout)

    def assert_cloudevent(self, event: Event, *, tenant: str, source: str) -> None:
        """The attributes every consumer relies on."""
        attrs = event.attributes
        assert attrs["specversion"] == "1.0", attrs
        assert event.source == source, attrs
        assert event.tenant == tenant and event.key == tenant, attrs
        assert attrs.get("id") and attrs.get("time"), attrs
        assert event.subject, attrs
        assert attrs.get("dataversion"), attrs
        assert event.headers.get("traceparent"), attrs

    async def assert_one_trace(self, *services: str, timeout: float = 20.0) -> None:
        """Spans of every named service (short names) arrived under the journey's trace."""
        wanted = {SERVICE_NAMES[s] for s in services}

        async def check() -> None:
            missing = self.traces.missing(self.trace_id, wanted)
            assert not missing, (
                f"trace {self.trace_id} has no spans of {sorted(missing)}; "
                f"it has {sorted(self.traces.services_in(self.trace_id))}"
            )

        await self.until(check, timeout=timeout)
