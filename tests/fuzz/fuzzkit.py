"""The harness shared by the four API fuzzers: budget, schemathesis config, tokens, the
app on its own migrated database, seed data, and the tenant-confinement check.

How it runs and why: docs/testing.md ("API fuzzing").
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from schemathesis.python import asgi

from servicekit.migrations import upgrade
from servicekit.testing import (
    create_database,
    drop_database,
    known_tenant,
    sqlalchemy_url,
    token,
    topic_prefix,
    unique_name,
)

# The budget (docs/testing.md): ~100 operations over four services on 2 cores, the whole
# fuzz run (collection and app start-up included) under ~3 minutes. Each operation gets
# the examples and coverage phases (deterministic: schema examples, boundary values,
# missing/incorrect fields) plus MAX_EXAMPLES random cases; its tenant-scoped GETs get
# TENANT_MAX_EXAMPLES. Raise both locally, e.g. FUZZ_MAX_EXAMPLES=200.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
TENANT_MAX_EXAMPLES = int(os.environ.get("FUZZ_TENANT_MAX_EXAMPLES", "5"))
SEED = os.environ.get("FUZZ_SEED")

STREAMING_PATHS = ["/v1/events"]
ADMIN_HEADERS = {"Authorization": f"Bearer {token('admin', subject='fuzz-admin')}"}

FUZZ_MARKS = [
    pytest.mark.fuzz,
    # The app's Kafka clients (aiokafka shuffles and picks nodes with `random`) run on
    # another thread while Hypothesis draws a case; it takes that for a strategy using
    # `random`.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
    # schemathesis sends raw (non-JSON) bodies, e.g. to the webhooks, with `data=`.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def fuzz_config(*, max_examples: int) -> schemathesis.Config:
    data: dict[str, Any] = {
        "generation": {
            "max-examples": max_examples,
            "mode": "all",  # valid and invalid data
            # The bearer token is ours; invalid data never replaces it (ignored_auth
            # still checks that a request without it, or with a bad one, is refused).
            "with-security-parameters": False,
        },
        # Stateful link-following would need far more requests than the budget allows.
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # "Valid data must succeed" does not hold for random ids (404), ETags (412)
            # or state machines (409); what matters is that each answer is documented.
            "positive_data_acceptance": {"enabled": False},
        },
    }
    if SEED:
        data["seed"] = int(SEED)
    return schemathesis.Config.from_dict(data)


class LongLivedApp:
    """The app as schemathesis sees it: HTTP goes straight through, but the app's own
    lifespan (database, Kafka producer, relay, consumers) starts once, on schemathesis'
    ASGI event loop, and runs until ``close()``.

    schemathesis' pytest plugin ends every ASGI lifespan after each test; restarting the
    Kafka runtime per operation would cost ~3 s each, so the lifespan it ends is this
    wrapper's, which costs nothing.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        stop = self._stop = asyncio.Event()
        started = asyncio.Event()

        async def serve() -> None:
            async with LifespanManager(self.app, startup_timeout=60, shutdown_timeout=60):
                started.set()
                await stop.wait()

        self._task = asyncio.create_task(serve(), name="fuzzed-app-lifespan")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiter.cancel()
            await self._task  # raises what made the start-up fail

    def close(self) -> None:
        if self._loop is None or self._task is None or self._stop is None:
            return
        stop, task = self._stop, self._task

        async def finish() -> None:
            stop.set()
            await task

        asyncio.run_coroutine_threadsafe(finish(), self._loop).result(timeout=90)


Seed = Callable[[Any], str]
"""Creates data of two tenants through the API (given a client) and returns the tenant
the tenant-scoped token is confined to."""


@dataclass
class FuzzTarget:
    """One service's app, built at import so its OpenAPI document can parametrize the
    tests; its database is created, its lifespan started and its data seeded by a module
    fixture (``run``)."""

    app: LongLivedApp
    database: str
    migrations: Path
    admin: Any
    tenant: Any
    tenant_id: str = field(default="")

    @classmethod
    def build(
        cls, *, service: str, migrations: Path, make_app: Callable[[str, str], FastAPI]
    ) -> FuzzTarget:
        database = unique_name(f"{service}_fuzz")
        app = make_app(sqlalchemy_url(database), topic_prefix())
        document = app.openapi()
        # The live event stream (``GET /v1/events``) never ends: a fuzzer's request would
        # wait forever. Its auth and confinement have their own tests (tests/api_style).
        admin = schemathesis.openapi.from_dict(
            document, config=fuzz_config(max_examples=MAX_EXAMPLES)
        ).exclude(path=STREAMING_PATHS)
        tenant = schemathesis.openapi.from_dict(
            document, config=fuzz_config(max_examples=TENANT_MAX_EXAMPLES)
        ).exclude(path=STREAMING_PATHS)
        # Requests reach the app in-process, on schemathesis' own ASGI event loop.
        wrapped = LongLivedApp(app)
        admin.app = tenant.app = wrapped
        return cls(
            app=wrapped, database=database, migrations=migrations, admin=admin, tenant=tenant
        )

    @asynccontextmanager
    async def database_up(self) -> AsyncIterator[None]:
        """For an async fixture (on pytest-asyncio's loop): the app's database, migrated."""
        url = await create_database(self.database)
        try:
            await asyncio.to_thread(upgrade, self.migrations.parent, url)
            yield
        finally:
            await drop_database(self.database)

    def run(self, seed: Seed) -> Iterator[LongLivedApp]:
        """A fixture body, after ``database_up``: the app up and ready, seeded; then stopped."""
        try:
            with asgi.get_client(self.app) as client:
                wait_until_ready(client)
                self.tenant_id = seed(client)
            yield self.app
        finally:
            self.app.close()

    def known_tenant(self, tenant_id: str) -> str:
        """From a seed: the tenant made known to the app (as onboarding's events would),
        on the app's own event loop; every tenant_id a request names must be known."""
        loop = self.app._loop
        assert loop is not None, "the app's lifespan runs first"
        future = asyncio.run_coroutine_threadsafe(known_tenant(self.app.app, tenant_id), loop)
        return future.result(timeout=30)

    def tenant_headers(self) -> dict[str, str]:
        assert self.tenant_id, "the module fixture seeds the data first"
        confined = token("admin", tenant_id=self.tenant_id, subject="fuzz-tenant")
        return {"Authorization": f"Bearer {confined}"}

    def confinement(self, ctx: Any, response: Any, case: Any) -> bool | None:
        """A check: a tenant-scoped token never sees another tenant's data."""
        if not 200 <= response.status_code < 300 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        leaked = sorted({str(v) for v in tenant_ids(body)} - {self.tenant_id})
        if leaked:
            raise AssertionError(f"a token confined to {self.tenant_id} saw tenants {leaked}")
        return True


def wait_until_ready(client: Any, timeout: float = 60.0) -> None:
    """Fuzz only a service whose database and Kafka are up: /readyz says so."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        if response.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the service did not become ready: {response.text}")
        time.sleep(0.2)


def create(client: Any, path: str, body: dict[str, Any], *, status: int = 201) -> Any:
    """Seed data through the API, as an admin; fails loudly if the API refuses."""
    headers = {**ADMIN_HEADERS, "Idempotency-Key": uuid.uuid4().hex}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, (path, response.status_code, response.text)
    return response.json()


def tenant_ids(body: Any) -> Iterator[Any]:
    """Every tenant a response names: ``tenant_id`` members, and the ``id`` of tenant
    objects themselves (onboarding's, which carry a ``company_name``)."""
    if isinstance(body, dict):
        for key, value in body.items():
            is_tenant = key == "id" and "company_name" in body
            if (key == "tenant_id" and value is not None) or is_tenant:
                yield value
            else:
                yield from tenant_ids(value)
    elif isinstance(body, list):
        for item in body:
            yield from tenant_ids(item)
