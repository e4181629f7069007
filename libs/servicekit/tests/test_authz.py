"""servicekit.authz: a route naming an id it has not declared cannot start; declared ids
are resolved to their tenant before the endpoint runs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from kitapp import KitSettings
from pydantic import BaseModel

from servicekit.app import ServiceDefinition, create_service_app
from servicekit.auth import Principal, current_principal
from servicekit.authz import GLOBAL_CONFIG, Owner, Ownership, UndeclaredIds, owned
from servicekit.merge_patch import MergePatch, merge_patch_route
from servicekit.testing import auth


class LinkIn(BaseModel):
    note: str
    refs: list[Ref]


class Ref(BaseModel):
    thing_id: str


LinkIn.model_rebuild()
Caller = Annotated[Principal, Depends(current_principal)]
SEEN: list[Any] = []


def app_with(router: APIRouter, ownership: Ownership | None = None) -> FastAPI:
    settings = KitSettings(environment="test", run_relay=False, run_consumers=False)
    return create_service_app(
        ServiceDefinition(
            name="authz-test", settings=settings, routers=[router], ownership=ownership
        )
    )


def test_a_route_with_an_undeclared_id_fails_the_start() -> None:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def read(thing_id: str, caller: Caller) -> dict[str, str]:
        return {}

    @router.post("/links")
    async def link(body: LinkIn, caller: Caller) -> dict[str, str]:
        return {}

    with pytest.raises(UndeclaredIds) as refused:
        app_with(router)
    assert "path id 'thing_id'" in str(refused.value)
    assert "body id 'refs[].thing_id'" in str(refused.value)


class LinkSettable(BaseModel):
    note: str
    owner_id: str | None = None
    refs: list[Ref] = []


def test_a_merge_patch_body_counts_its_documented_members_as_ids() -> None:
    """A merge patch is a plain JSON object to FastAPI: the check reads the members of
    its documented schema, so an id in a PATCH body cannot slip past either."""
    router = APIRouter()

    @router.patch(
        "/links/{link_id}",
        dependencies=[owned(exempt={"link_id": GLOBAL_CONFIG})],
        **merge_patch_route(LinkSettable),
    )
    async def edit(link_id: str, patch: MergePatch, caller: Caller) -> dict[str, str]:
        return {}

    with pytest.raises(UndeclaredIds) as refused:
        app_with(router)
    assert "body id 'owner_id'" in str(refused.value)
    assert "body id 'refs[].thing_id'" in str(refused.value)
    assert "path id 'link_id'" not in str(refused.value)


def test_a_declared_kind_needs_a_resolver_and_exempt_ids_say_why() -> None:
    router = APIRouter()

    @router.get("/things/{thing_id}", dependencies=[owned(path={"thing_id": "thing"})])
    async def read(thing_id: str, caller: Caller) -> dict[str, str]:
        return {}

    @router.get("/rules/{rule_id}", dependencies=[owned(exempt={"rule_id": GLOBAL_CONFIG})])
    async def rule(rule_id: str, caller: Caller) -> dict[str, str]:
        return {}

    with pytest.raises(UndeclaredIds, match="no resolver for id kind 'thing'"):
        app_with(router)


async def test_ids_are_resolved_before_the_endpoint_runs() -> None:
    things = {"t-a1": "ten-a", "t-b1": "ten-b"}
    ownership = Ownership()

    @ownership.resolver("thing")
    async def thing(session: Any, value: str) -> Owner:
        return things.get(value)

    router = APIRouter()

    @router.post("/links", dependencies=[owned(body={"refs[].thing_id": "thing"})])
    async def link(body: LinkIn, caller: Caller) -> dict[str, str]:
        SEEN.append(body)
        return {"linked": ",".join(r.thing_id for r in body.refs)}

    app = app_with(router, ownership)
    from servicekit.testing import app_client

    async with app_client(app) as client:
        tenant_a = auth("agent", tenant_id="ten-a")

        async def post(refs: list[str], headers: dict[str, str]) -> httpx.Response:
            body = {"note": "n", "refs": [{"thing_id": r} for r in refs]}
            return await client.post("/links", json=body, headers=headers)

        assert (await post(["t-a1"], tenant_a)).status_code == 200
        foreign = await post(["t-a1", "t-b1"], tenant_a)
        assert foreign.status_code == 404
        assert foreign.headers["content-type"].startswith("application/problem+json")
        nobodys = f"t-{uuid.uuid4().hex[:4]}"
        unknown = await post([nobodys], auth("agent"))
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "refs[].thing_id"
        # a confined caller cannot tell an unknown id from another tenant's
        assert (await post([nobodys], tenant_a)).status_code == 404
        # invalid input is FastAPI's 422, and nothing is resolved or run
        invalid = await client.post("/links", json={"refs": []}, headers=tenant_a)
        assert invalid.status_code == 422
        # staff see every tenant's things
        assert (await post(["t-a1", "t-b1"], auth("agent"))).status_code == 200
    assert len(SEEN) == 2
