"""Fuzz the escalation-service API with schemathesis against the real app
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

import escalation_service
from escalation_service.config import EscalationSettings
from escalation_service.main import create_app

pytestmark = FUZZ_MARKS


def make_app(database_url: str, prefix: str) -> FastAPI:
    return create_app(
        EscalationSettings(database_url=database_url, kafka_topic_prefix=prefix, environment="test")
    )


TARGET = FuzzTarget.build(
    service="escalation",
    migrations=Path(escalation_service.__file__).parent / "migrations",
    make_app=make_app,
)


def seed(client: Any) -> str:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    for tenant in (mine, other):
        TARGET.known_tenant(tenant)
    for tenant, title in ((mine, "PDF export is blank"), (other, "Search ignores accents")):
        create(
            client,
            "/v1/bugs",
            {
                "tenant_id": tenant,
                "title": title,
                "summary": "Since the last release.",
                "steps": ["Open the page", "Click the button"],
                "expected": "It works",
                "actual": "It does not",
                "force_new": True,
            },
        )
    return mine


@pytest.fixture(scope="module")
async def escalation_database() -> AsyncIterator[None]:
    async with TARGET.database_up():
        yield


@pytest.fixture(scope="module", autouse=True)
def escalation_app(escalation_database: None) -> Iterator[LongLivedApp]:
    yield from TARGET.run(seed)


@TARGET.admin.parametrize()
def test_admin(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN_HEADERS)


@TARGET.tenant.include(method="GET").parametrize()
def test_tenant_scoped(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=TARGET.tenant_headers(), additional_checks=[TARGET.confinement])
