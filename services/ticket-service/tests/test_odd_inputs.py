"""Odd and hostile inputs found by poking at the API: each is a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from ticket_service_testkit import ADMIN, Service, problem


def cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/v1/tickets?cursor={cursor(['x', 'y'])}", 400),
        (f"/v1/tickets?cursor={cursor([1, 2])}", 400),
        (f"/v1/tickets?cursor={cursor([{'dt': 'nope'}, 2])}", 400),
        (f"/v1/triage-rules?cursor={cursor(['x', 'y'])}", 400),
        (f"/v1/agents?cursor={cursor([1])}", 400),
        ("/v1/metrics?to=0001-01-01T00:00:00Z", 422),
        ("/v1/metrics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 422),
        ("/v1/templates/none-such?version=999999", 404),
    ],
)
async def test_odd_queries_are_problems(svc: Service, path: str, status: int) -> None:
    problem(await svc.client.get(path, headers=ADMIN), status)


async def test_hostile_bodies_are_problems(svc: Service) -> None:
    zoned = {
        "id": "zoned",
        "name": "n",
        "timezone": "UTC",
        "workdays": [5],
        "opens": "08:00+02:00",
        "closes": "09:00",
    }
    problem(await svc.client.post("/v1/business-calendars", json=zoned, headers=ADMIN), 422)
    forged = {"token": "!!!!!!!!!!.@@@", "rating": 3}
    problem(await svc.client.post("/v1/csat-responses", json=forged, headers=ADMIN), 422)
    search = await svc.client.get("/v1/tickets?q=%26%7C%21(", headers=ADMIN)
    assert search.status_code == 200
