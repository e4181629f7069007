"""Literal request fields: a number is not a date, 0 is not false (422 naming the field)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_auth import assert_problem

from servicekit.testing import auth


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"at": 0}, "at"),
        ({"at": 1714554000.5}, "at"),
        ({"at": "2024"}, "at"),
        ({"at": "2024-05-01T09:00:00Z", "confirmed_at": 1714554000}, "confirmed_at"),
        ({"at": "2024-05-01T09:00:00Z", "confirmed_at": "2024-05-01T09:00:00"}, "confirmed_at"),
        ({"at": "2024-05-01T09:00:00Z", "daily_at": 3600}, "daily_at"),
        ({"at": "2024-05-01T09:00:00Z", "on": 0}, "on"),
        ({"at": "2024-05-01T09:00:00Z", "on": "19000"}, "on"),
        ({"at": "2024-05-01T09:00:00Z", "urgent": 0}, "urgent"),
        ({"at": "2024-05-01T09:00:00Z", "urgent": "true"}, "urgent"),
    ],
)
async def test_numbers_and_truthy_values_are_refused(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    resp = await client.post("/v1/reminders", json=body, headers=auth("agent"))
    problem = assert_problem(resp, 422, "validation-error")
    assert [e["field"] for e in problem["errors"]] == [field]  # type: ignore[attr-defined]


async def test_iso_text_and_json_booleans_are_accepted(client: httpx.AsyncClient) -> None:
    body = {
        "at": "2024-05-01T09:00:00Z",
        "confirmed_at": "2024-05-01T11:00:00+02:00",
        "daily_at": "09:30",
        "on": "2024-05-01",
        "urgent": True,
    }
    resp = await client.post("/v1/reminders", json=body, headers=auth("agent"))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "at": "2024-05-01T09:00:00Z",
        "confirmed_at": "2024-05-01T11:00:00+02:00",
        "daily_at": "09:30:00",
        "on": "2024-05-01",
        "urgent": True,
    }


async def test_a_timestamp_in_a_query_parameter_is_refused(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/reminders", params={"after": "2024"}, headers=auth("agent"))
    problem = assert_problem(resp, 422, "validation-error")
    assert problem["errors"][0]["field"] == "after"  # type: ignore[index]
    resp = await client.get(
        "/v1/reminders", params={"after": "2024-05-01T00:00:00Z"}, headers=auth("agent")
    )
    assert resp.json() == {"after": "2024-05-01T00:00:00+00:00"}
