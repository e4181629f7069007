"""Fuzz the onboarding-service API with schemathesis against the real app
(docs/testing.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fuzzkit import ADMIN_HEADERS, FUZZ_MARKS, FuzzTarget, LongLivedApp, create

import onboarding_service
from onboarding_service.config import OnboardingSettings
from onboarding_service.main import create_app

pytestmark = FUZZ_MARKS


def make_app(database_url: str, prefix: str) -> FastAPI:
    return create_app(
        OnboardingSettings(database_url=database_url, kafka_topic_prefix=prefix, environment="test")
    )


TARGET = FuzzTarget.build(
    service="onboarding",
    migrations=Path(onboarding_service.__file__).parent / "migrations",
    make_app=make_app,
)


def tenant_body() -> dict[str, Any]:
    slug = uuid.uuid4().hex[:10]
    return {
        "company_name": f"Acme {slug}",
        "domains": [f"acme-{slug}.com"],
        "plan_code": "team-monthly",
        "seats": 5,
        "billing": {
            "collection_method": "charge_automatically",
            "billing_email": f"billing@acme-{slug}.com",
        },
        "configuration": {"locale": "en-US", "timezone": "Europe/Berlin"},
        "admin": {"email": f"admin@acme-{slug}.com", "name": "Ada Admin"},
    }


def seed(client: Any) -> str:
    mine = create(client, "/v1/tenants", tenant_body())
    create(client, "/v1/tenants", tenant_body())
    return str(mine["tenant"]["id"])


@pytest.fixture(scope="module")
async def onboarding_database() -> AsyncIterator[None]:
    async with TARGET.database_up():
        yield


@pytest.fixture(scope="module", autouse=True)
def onboarding_app(onboarding_database: None) -> Iterator[LongLivedApp]:
    yield from TARGET.run(seed)


@TARGET.admin.parametrize()
def test_admin(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN_HEADERS)


@TARGET.tenant.include(method="GET").parametrize()
def test_tenant_scoped(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=TARGET.tenant_headers(), additional_checks=[TARGET.confinement])
