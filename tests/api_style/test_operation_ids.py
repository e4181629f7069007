"""Readable, unique, stable operation ids on every operation of the four services
(``servicekit.api_style``): what a generated client names its methods after."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from fastapi import APIRouter

from scripts.operation_ids import SNAPSHOT, documents, lines, render
from servicekit.api_style import OPERATION_ID, DuplicateOperationIds
from servicekit.app import ServiceDefinition, create_service_app
from servicekit.settings import ServiceSettings

DOCS = documents()


@pytest.mark.parametrize("service", sorted(DOCS))
def test_every_operation_has_a_readable_unique_id(service: str) -> None:
    ids = [line.split()[1] for line in lines({service: DOCS[service]})]
    assert ids, f"{service}: no operations?"
    unreadable = [i for i in ids if not OPERATION_ID.match(i)]
    assert not unreadable, f"{service}: ids not like `tickets.create`: {unreadable}"
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"{service}: duplicate ids {duplicates}"


def test_the_ids_clients_use_are_the_familiar_ones() -> None:
    ticket = {line.split()[1]: line.split(None, 2)[2] for line in lines(DOCS) if "ticket-" in line}
    assert ticket["tickets.create"] == "POST /v1/tickets"
    assert ticket["tickets.list"] == "GET /v1/tickets"
    assert ticket["tickets.get"] == "GET /v1/tickets/{ticket_id}"
    assert ticket["tickets.update"] == "PATCH /v1/tickets/{ticket_id}"
    assert ticket["tickets.addMessage"] == "POST /v1/tickets/{ticket_id}/messages"


def test_the_committed_snapshot_is_current() -> None:
    """A rename of an endpoint function renames a client method: it must show in review.
    Regenerate with ``uv run --frozen python -m scripts.operation_ids --write``."""
    assert SNAPSHOT.read_text() == render(DOCS), (
        f"{SNAPSHOT} is stale: run `uv run --frozen python -m scripts.operation_ids --write`"
    )


def _service(*routers: APIRouter) -> ServiceDefinition:
    return ServiceDefinition(
        name="style-probe", settings=ServiceSettings(environment="test"), routers=list(routers)
    )


def test_a_duplicate_id_stops_the_app_from_starting() -> None:
    router = APIRouter()

    @router.get("/v1/things")
    async def list_things() -> list[str]:
        return []

    @router.get("/v1/things/archived", operation_id="things.list")
    async def list_archived() -> list[str]:
        return []

    with pytest.raises(DuplicateOperationIds, match=re.escape("'things.list'")):
        create_service_app(_service(router))


def test_an_explicit_operation_id_is_kept() -> None:
    router = APIRouter()

    @router.post("/v1/things/polish", operation_id="things.shine")
    async def polish_things() -> str:
        return "shiny"

    @router.post("/v1/things/scan")
    async def scan_things() -> str:
        return "scanned"

    doc = create_service_app(_service(router)).openapi()
    assert doc["paths"]["/v1/things/polish"]["post"]["operationId"] == "things.shine"
    assert doc["paths"]["/v1/things/scan"]["post"]["operationId"] == "things.scan"
