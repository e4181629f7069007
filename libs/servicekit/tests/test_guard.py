"""servicekit.guard: one dependency gives a route its caller (roles checked), its session,
its clock and the ownership check of the ids it names, with the same answers as the
separate dependencies (401, 403, 404 for another tenant's id, a read-only session on a
GET), the check run exactly once, and fewer dependencies for FastAPI to solve."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
import kitapp
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, WebSocket, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.app import create_service_app
from servicekit.auth import Principal, Role, require_roles
from servicekit.authz import (
    Declaration,
    Owner,
    Ownership,
    api_routes,
    declaration_of,
    owned,
    owner_of,
)
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.guard import Ctx, GuardMisuse, binding_of, guard, guard_nodes, install_guards
from servicekit.roles import AgentOnly
from servicekit.testing import TestClock, auth, topic_prefix

AgentCtx = Annotated[Ctx, Depends(guard(Role.agent), scope="function")]
StaffAgentCtx = Annotated[Ctx, Depends(guard(Role.agent, staff_only=True), scope="function")]
AnyAgent = Annotated[Principal, Depends(require_roles(Role.agent))]
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

RESOLVED: list[str] = []
ownership = Ownership()


@ownership.resolver("tenant")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    return value


@ownership.resolver("item")
async def item_owner(session: AsyncSession, value: str) -> Owner:
    RESOLVED.append(value)
    return await owner_of(
        session, select(kitapp.Item.tenant_id).where(kitapp.Item.id == uuid.UUID(value))
    )


router = APIRouter(prefix="/v1/guarded")


class ItemView(BaseModel):
    name: str
    subject: str
    now: datetime
    read_only: str


async def _read_only(session: AsyncSession) -> str:
    found = await session.scalar(text("SHOW transaction_read_only"))
    return str(found)


@router.get("/items/{item_id}", dependencies=[owned(path={"item_id": "item"})])
async def read_item(item_id: uuid.UUID, ctx: AgentCtx) -> ItemView:
    item = await ctx.session.get(kitapp.Item, item_id)
    assert item is not None
    return ItemView(
        name=item.name,
        subject=ctx.principal.subject,
        now=ctx.now(),
        read_only=await _read_only(ctx.session),
    )


@router.post("/items/{item_id}/rename", dependencies=[owned(path={"item_id": "item"})])
async def rename_item(item_id: uuid.UUID, ctx: AgentCtx) -> dict[str, Any]:
    item = await ctx.session.get(kitapp.Item, item_id)
    assert item is not None
    item.name = "renamed"
    return {"read_only": await _read_only(ctx.session)}


@router.get("/items", dependencies=[owned(query={"tenant_id": "tenant"})])
async def list_items(ctx: AgentCtx, tenant_id: str | None = None) -> dict[str, Any]:
    return {"tenant": ctx.principal.tenant_filter(tenant_id)}


@router.get("/staff-only")
async def staff_only(ctx: StaffAgentCtx) -> dict[str, str]:
    return {"subject": ctx.principal.subject}


class Claim(BaseModel):
    tenant_id: str


@router.post("/claims", dependencies=[owned(body={"tenant_id": "tenant"})])
async def claim(body: Claim, ctx: AgentCtx) -> dict[str, str]:
    return {"tenant": body.tenant_id}


async def _item_page(item_id: uuid.UUID, ctx: AgentCtx) -> ItemView:
    """A sub-dependency that takes the guard (the endpoint does not)."""
    item = await ctx.session.get(kitapp.Item, item_id)
    assert item is not None
    return ItemView(name=item.name, subject=ctx.principal.subject, now=ctx.now(), read_only="")


@router.get("/nested/{item_id}", dependencies=[owned(path={"item_id": "item"})])
async def nested_item(page: Annotated[ItemView, Depends(_item_page)]) -> ItemView:
    return page


# the same page with the separate dependencies, for the OpenAPI comparison
plain = APIRouter(prefix="/v1/plain")


async def _plain_view(
    session: AsyncSession, item_id: uuid.UUID, principal: Principal, clock: Any
) -> ItemView:
    item = await session.get(kitapp.Item, item_id)
    assert item is not None
    return ItemView(name=item.name, subject=principal.subject, now=clock.now(), read_only="")


@plain.get("/items/{item_id}", dependencies=[owned(path={"item_id": "item"})])
async def plain_read_item(
    item_id: uuid.UUID, session: SessionDep, principal: AgentOnly, clock: ClockDep
) -> ItemView:
    return await _plain_view(session, item_id, principal, clock)


@plain.get("/tenant-items/{item_id}", dependencies=[owned(path={"item_id": "item"})])
async def plain_tenant_item(
    item_id: uuid.UUID, session: SessionDep, principal: AnyAgent, clock: ClockDep
) -> ItemView:
    """The separate dependencies on a route tenant-scoped tokens may call."""
    return await _plain_view(session, item_id, principal, clock)


def build(settings: kitapp.KitSettings, *routers: APIRouter) -> FastAPI:
    defn = kitapp.definition(settings)
    return create_service_app(
        dataclasses.replace(
            defn, routers=list(routers or (router, plain)), ownership=ownership, clock=TestClock(AT)
        )
    )


@pytest.fixture
def kit_settings(kit_db_url: str) -> kitapp.KitSettings:
    return kitapp.KitSettings(
        database_url=kit_db_url,
        kafka_topic_prefix=topic_prefix(),
        environment="test",
        run_relay=False,
        run_consumers=False,
    )


@pytest.fixture
async def guarded(kit_settings: kitapp.KitSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build(kit_settings)
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            yield client


async def _item(client: httpx.AsyncClient, tenant: str) -> str:
    app = client._transport.app  # type: ignore[attr-defined]
    async with app.state.db.unit_of_work() as session:
        item = kitapp.Item(tenant_id=tenant, name=f"item of {tenant}")
        session.add(item)
        await session.flush()
        return str(item.id)


async def test_a_guarded_page_answers_as_the_separate_dependencies_did(
    guarded: httpx.AsyncClient,
) -> None:
    mine, theirs = f"ten-{uuid.uuid4().hex[:6]}", f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, mine)
    url = f"/v1/guarded/items/{item}"

    missing = await guarded.get(url)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong_role = await guarded.get(url, headers=auth("billing"))
    assert wrong_role.status_code == 403
    assert wrong_role.json()["required_roles"] == ["agent"]

    RESOLVED.clear()
    other_tenant = await guarded.get(url, headers=auth("agent", tenant_id=theirs))
    assert other_tenant.status_code == 404
    assert [item] == RESOLVED, "the id is resolved once"
    unknown = await guarded.get(f"/v1/guarded/items/{uuid.uuid4()}", headers=auth("agent"))
    assert unknown.status_code == 404

    RESOLVED.clear()
    page = await guarded.get(url, headers=auth("agent", tenant_id=mine, subject="ann"))
    assert page.status_code == 200, page.text
    # the caller, the app's clock, and a read-only session for a GET
    assert page.json() == {
        "name": f"item of {mine}",
        "subject": "ann",
        "now": AT.isoformat().replace("+00:00", "Z"),
        "read_only": "on",
    }
    assert [item] == RESOLVED, "the check runs once, not in the guard and in owned() too"


async def test_a_guarded_write_gets_the_unit_of_work(guarded: httpx.AsyncClient) -> None:
    tenant = f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, tenant)
    url = f"/v1/guarded/items/{item}/rename"
    foreign = await guarded.post(url, headers=auth("agent", tenant_id="someone-else"))
    assert foreign.status_code == 404
    done = await guarded.post(url, headers=auth("agent", tenant_id=tenant))
    assert done.status_code == 200, done.text
    assert done.json() == {"read_only": "off"}
    page = await guarded.get(f"/v1/guarded/items/{item}", headers=auth("agent"))
    assert page.json()["name"] == "renamed", "committed"


async def test_query_ids_and_staff_only(guarded: httpx.AsyncClient) -> None:
    confined = auth("agent", tenant_id="ten-a")
    own = await guarded.get("/v1/guarded/items?tenant_id=ten-a", headers=confined)
    assert own.json() == {"tenant": "ten-a"}
    assert (
        await guarded.get("/v1/guarded/items?tenant_id=ten-b", headers=confined)
    ).status_code == 404
    refused = await guarded.get("/v1/guarded/staff-only", headers=confined)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("staff-only")
    assert (await guarded.get("/v1/guarded/staff-only", headers=auth("agent"))).status_code == 200


def _solved(app: FastAPI, path: str) -> int:
    """How many dependencies FastAPI solves for the GET of ``path``."""
    for context in routing.iter_route_contexts(app.routes):
        if context.path == path and "GET" in (context.methods or ()):
            stack: list[Dependant] = list(context.dependant.dependencies)
            seen = 0
            while stack:
                node = stack.pop()
                seen += 1
                stack.extend(node.dependencies)
            return seen
    raise AssertionError(path)


def test_fastapi_solves_two_dependencies_instead_of_eleven(
    kit_settings: kitapp.KitSettings,
) -> None:
    app = build(kit_settings)
    assert _solved(app, "/v1/guarded/items/{item_id}") == 2  # the guard, its bearer scheme
    assert _solved(app, "/v1/plain/items/{item_id}") >= 10


def test_the_openapi_operation_says_the_same(kit_settings: kitapp.KitSettings) -> None:
    paths = build(kit_settings).openapi()["paths"]
    guarded_op = paths["/v1/guarded/items/{item_id}"]["get"]
    plain_op = paths["/v1/plain/items/{item_id}"]["get"]
    for key in ("security", "parameters", "responses"):
        assert guarded_op[key] == plain_op[key], key
    assert guarded_op["security"] == [{"HTTPBearer": []}]


def test_a_guard_beside_a_session_of_its_own_fails_the_start(
    kit_settings: kitapp.KitSettings,
) -> None:
    twice = APIRouter()

    @twice.get("/twice")
    async def two_sessions(ctx: AgentCtx, session: SessionDep) -> dict[str, str]:
        return {}

    with pytest.raises(GuardMisuse, match="two sessions"):
        build(kit_settings, twice)


async def test_every_operation_of_the_document_refuses_another_tenants_ids(
    guarded: httpx.AsyncClient,
) -> None:
    """The class, not examples: every operation of this app's OpenAPI document that names
    an id (in its path, its query or its JSON body), called with a token confined to
    another tenant and the first tenant's ids, is refused with a problem, and the record is
    unchanged (guarded and plain routes alike)."""
    mine, theirs = f"ten-{uuid.uuid4().hex[:6]}", f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, mine)
    values = {"item_id": item, "tenant_id": mine}
    app = guarded._transport.app  # type: ignore[attr-defined]
    document = app.openapi()
    probed: list[str] = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            names = {p["name"]: p["in"] for p in op.get("parameters", [])}
            schema = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            if "$ref" in schema:
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            body = {n: values[n] for n in schema.get("properties", {}) if n in values}
            if not (set(names) & set(values) or body):
                continue
            url = path.format(**{n: values[n] for n, where in names.items() if where == "path"})
            query = {n: values[n] for n, where in names.items() if where == "query"}
            answer = await guarded.request(
                method.upper(),
                url,
                params=query,
                json=body or None,
                headers=auth("agent", tenant_id=theirs),
            )
            assert answer.status_code in (403, 404), (method, path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            probed.append(f"{method.upper()} {path}")
    assert sorted(probed) == [
        "GET /v1/guarded/items",
        "GET /v1/guarded/items/{item_id}",
        "GET /v1/guarded/nested/{item_id}",
        "GET /v1/plain/items/{item_id}",
        "GET /v1/plain/tenant-items/{item_id}",
        "POST /v1/guarded/claims",
        "POST /v1/guarded/items/{item_id}/rename",
    ]
    page = await guarded.get(f"/v1/guarded/items/{item}", headers=auth("agent"))
    assert page.json()["name"] == f"item of {mine}", "nothing was changed"


# --- the declaration is bound to the route's guard, not looked up at request time -------


def _serve_with_another_route_object(app: FastAPI, prefix: str) -> list[str]:
    """What a FastAPI that puts another object than the declared route in
    ``scope["route"]`` does (its included-router route context, a copy of the route): the
    routes under ``prefix`` handle their requests with a stand-in there."""
    relabelled = []
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path.startswith(prefix):
            inner = route.app
            stand_in = SimpleNamespace(path=route.path, methods=route.methods)

            async def handle(
                scope: Any, receive: Any, send: Any, inner: Any = inner, stand_in: Any = stand_in
            ) -> None:
                scope["route"] = stand_in
                await inner(scope, receive, send)

            route.app = handle
            relabelled.append(route.path)
    return relabelled


async def test_the_check_does_not_depend_on_the_route_object_in_the_scope(
    guarded: httpx.AsyncClient,
) -> None:
    """Regression: the guard read its route's declaration from ``scope["route"]``; another
    object there (not the one ``install_guards`` decorated) and it checked nothing:
    another tenant's item was served, renamed, listed and claimed."""
    app = guarded._transport.app  # type: ignore[attr-defined]
    assert "/v1/guarded/items/{item_id}" in _serve_with_another_route_object(app, "/v1/guarded")
    mine, theirs = f"ten-{uuid.uuid4().hex[:6]}", f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, mine)
    intruder = auth("agent", tenant_id=theirs)

    refused = [
        await guarded.get(f"/v1/guarded/items/{item}", headers=intruder),
        await guarded.post(f"/v1/guarded/items/{item}/rename", headers=intruder),
        await guarded.get(f"/v1/guarded/nested/{item}", headers=intruder),
        await guarded.get("/v1/guarded/items", params={"tenant_id": mine}, headers=intruder),
        await guarded.post("/v1/guarded/claims", json={"tenant_id": mine}, headers=intruder),
    ]
    assert [r.status_code for r in refused] == [404] * 5, [r.text for r in refused]
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)

    owner = auth("agent", tenant_id=mine)
    page = await guarded.get(f"/v1/guarded/items/{item}", headers=owner)
    assert page.status_code == 200, page.text
    assert page.json()["name"] == f"item of {mine}", "not renamed by the intruder"
    claimed = await guarded.post("/v1/guarded/claims", json={"tenant_id": mine}, headers=owner)
    assert claimed.json() == {"tenant": mine}


async def test_a_guard_on_a_route_install_guards_never_saw_fails_closed(
    guarded: httpx.AsyncClient,
) -> None:
    """The same router included a second way, after the factory built the app: its
    guards were never bound to a declaration. They answer a problem and the endpoint
    does not run (it used to run with nothing checked by the guard)."""
    app = guarded._transport.app  # type: ignore[attr-defined]
    app.include_router(router, prefix="/again")
    tenant = f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, tenant)
    owner = auth("agent", tenant_id=tenant)

    answers = [
        await guarded.get("/again/v1/guarded/staff-only", headers=auth("agent")),
        await guarded.get(f"/again/v1/guarded/items/{item}", headers=owner),
        await guarded.post(f"/again/v1/guarded/items/{item}/rename", headers=owner),
    ]
    for answer in answers:
        assert answer.status_code == 500, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"].endswith("/guard-not-installed"), problem
        assert "Traceback" not in answer.text
    page = await guarded.get(f"/v1/guarded/items/{item}", headers=owner)
    assert page.json()["name"] == f"item of {tenant}", "the rename did not run"


def test_each_route_s_guard_carries_that_route_s_declaration(
    kit_settings: kitapp.KitSettings,
) -> None:
    """The dependency FastAPI calls for a guarded route is bound to exactly that route's
    ``owned(...)`` declaration (none for a route that names no id), nested or not."""
    app = build(kit_settings)
    seen: dict[str, Declaration | None] = {}
    for context in api_routes(app):
        for node in guard_nodes(context.dependant):
            binding = binding_of(node.call)
            assert binding is not None, f"{context.path}: an unbound guard"
            assert binding.declaration is declaration_of(context), context.path
            assert binding.dependant is context.dependant, context.path
            seen[f"{sorted(context.methods)[0]} {context.path}"] = binding.declaration
    assert set(seen) == {
        "GET /v1/guarded/items/{item_id}",
        "POST /v1/guarded/items/{item_id}/rename",
        "GET /v1/guarded/items",
        "GET /v1/guarded/staff-only",
        "POST /v1/guarded/claims",
        "GET /v1/guarded/nested/{item_id}",
    }
    assert seen["GET /v1/guarded/staff-only"] is None
    assert _solved(app, "/v1/guarded/nested/{item_id}") == 3  # the page, the guard, bearer


def test_a_guard_that_cannot_be_bound_fails_the_start(
    kit_settings: kitapp.KitSettings,
) -> None:
    """A guard on a websocket route has no HTTP request to check: refused at start-up
    rather than answering a problem on every connection."""
    sockets = APIRouter()

    @sockets.websocket("/v1/socket")
    async def socket(websocket: WebSocket, ctx: AgentCtx) -> None:
        await websocket.close()

    with pytest.raises(GuardMisuse, match="websocket"):
        build(kit_settings, sockets)


def test_installing_the_guards_again_keeps_each_route_s_binding(
    kit_settings: kitapp.KitSettings,
) -> None:
    """A second ``install_guards`` (the owned dependencies already gone) must not rebind
    the guards to nothing: the page still carries its declaration."""
    app = build(kit_settings)

    def bindings() -> dict[str, Any]:
        return {
            f"{sorted(c.methods)[0]} {c.path}": binding_of(node.call)
            for c in api_routes(app)
            for node in guard_nodes(c.dependant)
        }

    before = bindings()
    install_guards(app)
    assert bindings() == before
    page = before["GET /v1/guarded/items/{item_id}"]
    assert page.declaration is not None and page.declaration.refs


async def test_a_plain_owned_route_checks_by_its_own_parameters_whatever_the_scope_holds(
    guarded: httpx.AsyncClient,
) -> None:
    """Regression: a route with the separate ``owned(...)`` dependency parsed its ids by
    the route in ``scope["route"]``; with another object there, every request was refused
    (a 500, session 9), and before that none of its body ids was checked. Now its check is
    bound to the route at start-up: the owner is served, another tenant gets a 404."""
    app = guarded._transport.app  # type: ignore[attr-defined]
    assert "/v1/plain/tenant-items/{item_id}" in _serve_with_another_route_object(app, "/v1/plain")
    mine, theirs = f"ten-{uuid.uuid4().hex[:6]}", f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, mine)
    page = f"/v1/plain/tenant-items/{item}"
    owner = await guarded.get(page, headers=auth("agent", tenant_id=mine))
    assert owner.status_code == 200, owner.text
    assert owner.json()["name"] == f"item of {mine}"
    intruder = await guarded.get(page, headers=auth("agent", tenant_id=theirs))
    assert intruder.status_code == 404, intruder.text
    assert intruder.headers["content-type"] == "application/problem+json"


async def test_an_owned_route_install_guards_never_saw_refuses_rather_than_checks_nothing(
    guarded: httpx.AsyncClient,
) -> None:
    """An ``owned(...)`` route added after the factory (never bound) falls back to the
    route in ``scope["route"]``; an object there without parameters used to mean no body
    id was read (none checked). It answers a problem and the endpoint does not run."""
    app = guarded._transport.app  # type: ignore[attr-defined]
    app.add_api_route(
        "/later/items/{item_id}",
        plain_tenant_item,
        dependencies=[owned(path={"item_id": "item"})],
    )
    assert _serve_with_another_route_object(app, "/later") == ["/later/items/{item_id}"]
    tenant = f"ten-{uuid.uuid4().hex[:6]}"
    item = await _item(guarded, tenant)
    answer = await guarded.get(f"/later/items/{item}", headers=auth("agent", tenant_id=tenant))
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/authorization-unavailable")
