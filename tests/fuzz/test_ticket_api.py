"""Fuzz the ticket-service API with schemathesis against the real app (docs/testing.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fuzzkit import ADMIN_HEADERS, FUZZ_MARKS, FuzzTarget, LongLivedApp, create
from hypothesis import strategies as st

import ticket_service
from ticket_service.config import TicketSettings
from ticket_service.main import create_app

pytestmark = FUZZ_MARKS

# POST /v1/inbound-email also takes raw mail (message/rfc822): fuzz it with header-ish
# text and plain garbage rather than skip it
_RAW_MAIL = st.one_of(
    st.binary(max_size=512),
    st.builds(
        lambda sender, subject, body: (
            f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{uuid.uuid4()}@fuzz>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        ).encode("utf-8", "surrogatepass"),
        st.sampled_from(["pat@example.com", "Pat <pat@example.com>", "", "@", "a@b"]),
        st.text(max_size=80).map(lambda t: " ".join(t.split())),
        st.text(max_size=300),
    ),
)
schemathesis.openapi.media_type("message/rfc822", _RAW_MAIL)


def make_app(database_url: str, prefix: str) -> FastAPI:
    return create_app(
        TicketSettings(database_url=database_url, kafka_topic_prefix=prefix, environment="test")
    )


TARGET = FuzzTarget.build(
    service="ticket",
    migrations=Path(ticket_service.__file__).parent / "migrations",
    make_app=make_app,
)


def seed(client: Any) -> str:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    for tenant in (mine, other):
        TARGET.known_tenant(tenant)
    for tenant in (mine, other):
        create(
            client,
            "/v1/tickets",
            {
                "tenant_id": tenant,
                "requester": {"email": "pat@example.com", "name": "Pat Doe"},
                "channel": "email",
                "subject": "Cannot log in",
                "body": "I lost my phone and with it my MFA codes.",
            },
        )
    return mine


@pytest.fixture(scope="module")
async def ticket_database() -> AsyncIterator[None]:
    async with TARGET.database_up():
        yield


@pytest.fixture(scope="module", autouse=True)
def ticket_app(ticket_database: None) -> Iterator[LongLivedApp]:
    yield from TARGET.run(seed)


@TARGET.admin.parametrize()
def test_admin(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN_HEADERS)


@TARGET.tenant.include(method="GET").parametrize()
def test_tenant_scoped(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=TARGET.tenant_headers(), additional_checks=[TARGET.confinement])
