"""The kit's API-style rules on a small app (servicekit.api_style, errors.py): readable
operation ids by the documented rule, unknown query parameters refused unless a route
opts out, malformed JSON a 400 and a body of the wrong shape still a 422."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, routing
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel

from servicekit.api_style import (
    AllowUnknownQuery,
    declared_query_names,
    install_query_check,
    operation_id,
)
from servicekit.errors import PROBLEM_BASE, Unauthorized, install_problem_handlers


class NewThing(BaseModel):
    name: str
    size: int


async def paging(limit: int = 50, cursor: str | None = None) -> dict[str, object]:
    return {"limit": limit, "cursor": cursor}


AUTH_CALLS: list[str] = []


async def require_token(token: str | None = None) -> str:
    """Stands for authentication: records that it ran, and refuses a missing token."""
    AUTH_CALLS.append(token or "")
    if not token:
        raise Unauthorized("no token")
    return token


def build(query_check: bool = True) -> FastAPI:
    router = APIRouter(tags=["things and stuff"])

    @router.post("/v1/things", status_code=201)
    async def create_thing(body: NewThing) -> NewThing:
        return body

    @router.get("/v1/things")
    async def list_things(
        page: Annotated[dict[str, object], Depends(paging)],
        status_filter: Annotated[str | None, Query(alias="status")] = None,
    ) -> dict[str, object]:
        return {**page, "status": status_filter}

    @router.get("/v1/policies/{policy_id}/history")
    async def list_policy_history(policy_id: str) -> str:
        return policy_id

    @router.get("/v1/callbacks/oauth", dependencies=[AllowUnknownQuery])
    async def oauth_callback() -> str:
        return "ok"

    @router.get("/v1/secrets")
    async def list_secrets(token: Annotated[str, Depends(require_token)]) -> str:
        return token

    app = FastAPI(generate_unique_id_function=operation_id)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> str:
        return "ok"

    install_problem_handlers(app)
    app.include_router(router)
    if query_check:
        install_query_check(app)
    return app


def ids(app: FastAPI) -> dict[str, str]:
    doc = app.openapi()
    return {
        f"{m.upper()} {p}": op["operationId"]
        for p, v in doc["paths"].items()
        for m, op in v.items()
    }


def test_operation_ids_follow_the_rule() -> None:
    assert ids(build()) == {
        "POST /v1/things": "things.create",
        "GET /v1/things": "things.list",
        "GET /v1/policies/{policy_id}/history": "policies.listHistory",
        "GET /v1/callbacks/oauth": "callbacks.oauth",
        "GET /v1/secrets": "secrets.list",
        "GET /healthz": "health.healthz",
    }


async def call(app: FastAPI, method: str, url: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, url, **kwargs)  # type: ignore[arg-type]


async def test_unknown_query_parameters_are_named_in_a_400() -> None:
    response = await call(build(), "GET", "/v1/things?limit=5&stauts=open&zz=1")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "unknown-query-parameter"
    assert body["parameters"] == ["stauts", "zz"]
    assert "cursor" in body["detail"] and "status" in body["detail"]


async def test_declared_parameters_of_the_route_and_its_dependencies_pass() -> None:
    response = await call(build(), "GET", "/v1/things?limit=5&cursor=abc&status=open")
    assert response.status_code == 200, response.text
    assert response.json() == {"limit": 5, "cursor": "abc", "status": "open"}


async def test_a_route_directly_on_the_app_is_checked_too() -> None:
    response = await call(build(), "GET", "/healthz?verbose=1")
    assert response.status_code == 400
    assert response.json()["parameters"] == ["verbose"]
    assert (await call(build(), "GET", "/healthz")).status_code == 200


async def test_the_check_runs_before_the_routes_dependencies() -> None:
    """An unknown key is refused before authentication runs (a typo is named, not
    hidden behind a 401), and a declared one reaches it."""
    AUTH_CALLS.clear()
    refused = await call(build(), "GET", "/v1/secrets?tokn=abc")
    assert refused.status_code == 400
    assert refused.json()["parameters"] == ["tokn"]
    assert AUTH_CALLS == []
    assert (await call(build(), "GET", "/v1/secrets")).status_code == 401
    allowed = await call(build(), "GET", "/v1/secrets?token=abc")
    assert allowed.status_code == 200 and allowed.json() == "abc"
    assert AUTH_CALLS == ["", "abc"]


def _dependency_counts(app: FastAPI) -> dict[str, int]:
    """Per API route, how many dependants FastAPI solves on each request."""
    counts: dict[str, int] = {}
    for context in routing.iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if not isinstance(dependant, Dependant):
            continue
        stack, seen = [dependant], 0
        while stack:
            node = stack.pop()
            seen += 1
            stack.extend(node.dependencies)
        counts[f"{sorted(context.methods or ())} {context.path}"] = seen
    return counts


def test_the_check_adds_no_dependency_for_fastapi_to_solve() -> None:
    """The check is a plain wrapper of each route, not a FastAPI dependency: a dependency
    made FastAPI solve a dependency tree on every request of every route, which was a
    third of a ``/healthz``'s CPU. Every route's dependency tree is what it declares."""
    checked, unchecked = build(), build(query_check=False)
    assert _dependency_counts(checked) == _dependency_counts(unchecked)
    assert len(_dependency_counts(checked)) >= 6
    # and the declared keys are still collected from the route and its dependencies
    things = next(
        c
        for c in routing.iter_route_contexts(checked.routes)
        if c.path == "/v1/things" and "GET" in (c.methods or ())
    )
    assert declared_query_names(things) == {"limit", "cursor", "status"}


async def test_a_route_may_opt_out() -> None:
    response = await call(build(), "GET", "/v1/callbacks/oauth?code=1&state=2")
    assert response.status_code == 200, response.text


async def test_malformed_json_is_400_and_the_wrong_shape_422() -> None:
    app = build()
    headers = {"Content-Type": "application/json"}
    syntax = await call(app, "POST", "/v1/things", content=b'{"name": ', headers=headers)
    assert syntax.status_code == 400
    assert syntax.json()["type"] == PROBLEM_BASE + "malformed-json"
    binary = await call(app, "POST", "/v1/things", content=b'{"name": "\xff"}', headers=headers)
    assert binary.status_code == 400
    assert binary.json()["type"] == PROBLEM_BASE + "malformed-json"
    shape = await call(app, "POST", "/v1/things", json={"name": "x", "size": "big"})
    assert shape.status_code == 422
    assert [e["field"] for e in shape.json()["errors"]] == ["size"]
