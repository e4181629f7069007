"""If-Match / ETag: the one precondition rule (docs/api-style.md) on a real route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Response
from plainapp import client_for, plain_app
from test_auth import assert_problem

from servicekit.etag import (
    PRECONDITION_RESPONSES,
    IfMatchHeader,
    check_if_match,
    etag,
    parse_if_match,
)

VERSION = 7


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = plain_app()

    @app.put("/required", responses=PRECONDITION_RESPONSES)
    async def required(if_match: IfMatchHeader, response: Response) -> dict[str, int]:
        if_match.require(VERSION)
        response.headers["ETag"] = etag(VERSION + 1)
        return {"version": VERSION + 1}

    @app.post("/optional")
    async def optional(if_match: IfMatchHeader) -> dict[str, bool]:
        if_match.check(VERSION)
        return {"done": True}

    async with client_for(app) as c:
        yield c


async def put(client: httpx.AsyncClient, value: str | None) -> httpx.Response:
    headers = {} if value is None else {"If-Match": value}
    return await client.put("/required", headers=headers)


@pytest.mark.parametrize("value", ['"7"', 'W/"7"', "*", '"3", "7"', ' W/"1" ,"7" ', '"7",W/"9"'])
async def test_a_matching_if_match_lets_the_update_through(
    client: httpx.AsyncClient, value: str
) -> None:
    resp = await put(client, value)
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"] == '"8"'


async def test_missing_if_match_is_428_when_the_endpoint_requires_it(
    client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await put(client, None), 428, "if-match-required")
    assert body["field"] == "If-Match"


async def test_missing_if_match_passes_when_the_endpoint_makes_it_optional(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/optional")).status_code == 200
    stale = await client.post("/optional", headers={"If-Match": '"6"'})
    assert_problem(stale, 412, "etag-mismatch")


async def test_a_stale_etag_is_412_naming_the_current_one(client: httpx.AsyncClient) -> None:
    body = assert_problem(await put(client, '"6", W/"5"'), 412, "etag-mismatch")
    assert body["current_etag"] == '"7"'


@pytest.mark.parametrize(
    "value",
    ["7", "abc", '"7', '"-1"', '""', "W/7", '"7", 8', '"1" "2"', "**", '"' + "9" * 40 + '"', ""],
)
async def test_a_malformed_if_match_is_400_naming_the_header(
    client: httpx.AsyncClient, value: str
) -> None:
    body = assert_problem(await put(client, value), 400, "malformed-if-match")
    assert body["field"] == "If-Match"


async def test_an_over_long_if_match_is_400_not_422(client: httpx.AsyncClient) -> None:
    value = ", ".join(['"1"'] * 300)
    body = assert_problem(await put(client, value), 400, "malformed-if-match")
    assert body["field"] == "If-Match"


async def test_the_openapi_document_lists_the_precondition_outcomes(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/openapi.json")).json()
    responses = doc["paths"]["/required"]["put"]["responses"]
    assert {"400", "412", "428"} <= set(responses)
    params = doc["paths"]["/required"]["put"]["parameters"]
    assert [p["name"] for p in params] == ["If-Match"]


def test_parse_and_check_without_fastapi() -> None:
    parsed = parse_if_match('W/"4", "5"')
    assert parsed.present and parsed.versions == frozenset({4, 5})
    assert parsed.matches(5) and not parsed.matches(6)
    assert not parse_if_match(None).present
    check_if_match('"5"', 5)
    check_if_match(None, 5, required=False)
    assert etag(12) == '"12"'
