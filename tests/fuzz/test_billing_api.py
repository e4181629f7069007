"""Fuzz the billing-service API with schemathesis against the real app, Stripe calls
going to stripe-mock (docs/testing.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fuzzkit import ADMIN_HEADERS, FUZZ_MARKS, FuzzTarget, LongLivedApp, create

import billing_service
from billing_service.config import BillingSettings
from billing_service.main import create_app

pytestmark = FUZZ_MARKS


def make_app(database_url: str, prefix: str) -> FastAPI:
    return create_app(
        BillingSettings(database_url=database_url, kafka_topic_prefix=prefix, environment="test")
    )


TARGET = FuzzTarget.build(
    service="billing",
    migrations=Path(billing_service.__file__).parent / "migrations",
    make_app=make_app,
)


def seed(client: Any) -> str:
    code = f"team-{uuid.uuid4().hex[:6]}"
    create(
        client,
        "/v1/plans",
        {
            "code": code,
            "name": "Team",
            "tier": "team",
            "unit_amount": 1500,
            "currency": "usd",
            "interval": "month",
        },
    )
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    for tenant in (mine, other):
        TARGET.known_tenant(tenant)
    for tenant in (mine, other):
        create(client, "/v1/subscriptions", {"tenant_id": tenant, "plan_code": code, "seats": 3})
    return mine


@pytest.fixture(scope="module")
async def billing_database() -> AsyncIterator[None]:
    async with TARGET.database_up():
        yield


@pytest.fixture(scope="module", autouse=True)
def billing_app(billing_database: None) -> Iterator[LongLivedApp]:
    yield from TARGET.run(seed)


@TARGET.admin.parametrize()
def test_admin(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN_HEADERS)


@TARGET.tenant.include(method="GET").parametrize()
def test_tenant_scoped(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=TARGET.tenant_headers(), additional_checks=[TARGET.confinement])
