"""Object-level authorization: every id a request names is resolved to its owning tenant,
from the service's own data, before the endpoint runs.

One mechanism for every service (docs/security.md, "Authorization model"):

- A service registers one *resolver* per id kind (``ticket``, ``invoice``, ``charge``,
  ``tenant``…) on its :class:`Ownership` registry: ``id -> owning tenant``, :data:`GLOBAL`
  for records no tenant owns (plans, triage rules), or ``None`` when it does not know the id.
- Every route that takes an id declares where each id is and what kind it is, with
  ``dependencies=[owned(path={"ticket_id": "ticket"}, body={"invoice_id": "invoice"})]``.
  The dependency runs before the endpoint (and before its own dependencies): an id of
  another tenant is a 404 for a tenant-confined token, on reads and writes alike, and so
  is an id nobody owns (the two are indistinguishable to it). For staff, an unknown id
  is a 404 in the path and a 422 naming the field in a body (so a staff token naming a
  tenant that does not exist gets a 422, in a query too). A list filter on another
  unknown id simply matches nothing.
- :func:`check_routes` runs when the app is built: a route with a path parameter, or an
  id-like query parameter or body field (``id``, ``*_id``, ``*_ids``) that its declaration
  does not cover, fails the start-up. A new endpoint cannot silently forget the check;
  an id that is not a tenant's record is declared ``exempt`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from fastapi import Depends, FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal, current_principal
from servicekit.deps import SessionDep
from servicekit.errors import NotFound, ProblemError, Unprocessable


class _Global:
    """The owner of records that belong to no tenant (plans, rules, agents)."""

    def __repr__(self) -> str:
        return "GLOBAL"


GLOBAL: Final = _Global()
Owner = str | frozenset[str] | _Global | None
"""A tenant id, the tenants a shared record belongs to (a bug every tenant it affects
sees), :data:`GLOBAL`, or ``None`` (the service does not know the id)."""

Resolver = Callable[[AsyncSession, str], Awaitable[Owner]]
Location = Literal["path", "query", "body"]

# Reasons for ``exempt`` ids that name no tenant's record.
GLOBAL_CONFIG: Final = "global configuration shared by every tenant, not a tenant's record"
STAFF: Final = "an agent of the support team, not a tenant's record"
SIGNED_LINK: Final = "a signed link that is its own credential and names its record"

ID_LIKE = re.compile(r"^(id|.+_id|.+_ids|tenants|.+_tenants)$")
"""Names the start-up check treats as ids; path parameters are always ids."""


async def owner_of(session: AsyncSession, statement: Select[Any]) -> Owner:
    """The tenant a one-column ``select(Model.tenant_id).where(...)`` finds, as text."""
    found = await session.scalar(statement)
    return None if found is None else str(found)


class Ownership:
    """A service's resolvers, one per id kind: ``kind -> (session, id) -> owner``."""

    def __init__(self) -> None:
        self._resolvers: dict[str, Resolver] = {}
        self._not_found: dict[str, str] = {}
        self._nouns: dict[str, str] = {}

    def resolver(
        self, kind: str, *, not_found_code: str = "not-found", noun: str | None = None
    ) -> Callable[[Resolver], Resolver]:
        """Registers ``kind``'s resolver; ``not_found_code`` is the problem code of the
        404 for a path id of this kind nobody (or another tenant) owns, and ``noun`` what
        its problems call the record (the kind itself by default: a second kind of the
        same record, e.g. one whose resolver also reads what the endpoint needs, keeps
        the record's name)."""

        def register(fn: Resolver) -> Resolver:
            if kind in self._resolvers:
                raise ValueError(f"a resolver for {kind!r} is already registered")
            self._resolvers[kind] = fn
            self._not_found[kind] = not_found_code
            self._nouns[kind] = noun or kind
            return fn

        return register

    def not_found(self, kind: str) -> NotFound:
        noun = self._nouns.get(kind, kind)
        return NotFound(f"{noun} not found", code=self._not_found.get(kind, "not-found"))

    def noun(self, kind: str) -> str:
        return self._nouns.get(kind, kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._resolvers)

    async def owner(self, session: AsyncSession, kind: str, value: str) -> Owner:
        return await self._resolvers[kind](session, value)


@dataclass(frozen=True)
class IdRef:
    """One id of a request: where it is (``body`` paths use ``a.b`` and ``items[].x``)."""

    location: Location
    name: str
    kind: str


@dataclass(frozen=True)
class Declaration:
    """What a route declared: its tenant-owned ids and the ids it exempts (with why)."""

    refs: tuple[IdRef, ...]
    exempt: Mapping[str, str] = field(default_factory=dict)

    def covers(self, location: Location, name: str) -> bool:
        return name in self.exempt or any(
            r.location == location and r.name == name for r in self.refs
        )


class _OwnedDependency:
    """The dependency ``owned()`` returns; the start-up check finds it on the route.

    ``dependant`` (and ``embed_body_fields``): the route's, when ``install_guards`` bound
    the check to its route (``bound_owned``); ``None`` before, when the ids are parsed by
    the route in ``scope["route"]`` (see ``enforce``)."""

    def __init__(
        self,
        declaration: Declaration,
        dependant: Dependant | None = None,
        embed_body_fields: bool = False,
    ) -> None:
        self.declaration = declaration
        self.dependant = dependant
        self.embed_body_fields = embed_body_fields

    async def __call__(self, request: Request) -> None:
        if not self.declaration.refs:
            return
        # Resolved here, not as parameters, so exempt-only routes stay usable without a
        # token (public signed links); FastAPI's per-request cache shares both with the
        # endpoint.
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            raise RuntimeError("owned() runs after the principal dependency")  # pragma: no cover
        await enforce(
            request,
            self.declaration,
            principal,
            request.state.authz_session,
            dependant=self.dependant,
            embed_body_fields=self.embed_body_fields,
        )


async def enforce(
    request: Request,
    declaration: Declaration,
    principal: Principal,
    session: AsyncSession,
    *,
    dependant: Dependant | None = None,
    embed_body_fields: bool = False,
) -> None:
    """Resolves every id ``declaration`` names in ``request`` on ``session`` and refuses
    the ones ``principal`` may not name (404 / 422, see the module's docstring).

    ``dependant`` (and ``embed_body_fields``): the route's, whose parameters say how to
    parse the ids; a route's guard passes the ones it was bound to. Without them, those
    of the route in ``scope["route"]``."""
    if not declaration.refs:
        return
    if dependant is None:
        route = request.scope.get("route")
        dependant = getattr(route, "dependant", None)
        embed_body_fields = bool(getattr(route, "_embed_body_fields", False))
        if dependant is None:
            # nothing says how to parse the ids: refuse rather than check none of them
            raise ProblemError(
                "this route's authorization cannot read its parameters",
                status=500,
                code="authorization-unavailable",
                title="Authorization unavailable",
            )
    parsed = await _parsed(request, dependant, embed_body_fields)
    if parsed is None:
        return  # invalid input: FastAPI's validation refuses it (422) before the endpoint
    ownership: Ownership = request.app.state.ownership
    for ref in declaration.refs:
        for value in parsed.values(ref):
            try:
                owner = await ownership.owner(session, ref.kind, value)
            except ValueError:
                owner = None  # malformed for this kind: no record has that id
            if owner is None:
                if ref.location == "query" and ref.kind != "tenant":
                    continue  # a filter on an id nobody owns (yet) matches nothing
                if ref.location == "path" or principal.tenant_id is not None:
                    # A confined caller cannot tell "unknown" from "another tenant's":
                    # a 422 here would reveal which ids exist elsewhere.
                    raise ownership.not_found(ref.kind)
                noun = ownership.noun(ref.kind)
                raise Unprocessable(
                    f"unknown {noun} {value!r}",
                    code=f"unknown-{noun.replace('_', '-')}",
                    errors=[
                        {
                            "field": ref.name,
                            "in": ref.location,
                            "message": f"no {noun} {value!r} is known here",
                            "code": "unknown-id",
                        }
                    ],
                )
            if isinstance(owner, _Global):
                continue
            owners = owner if isinstance(owner, frozenset) else frozenset({owner})
            if principal.tenant_id is not None and principal.tenant_id not in owners:
                # 404, not 403: another tenant's records do not exist for this token.
                raise ownership.not_found(ref.kind)


@dataclass
class _Parsed:
    """The request's path, query and body as the endpoint will receive them (validated),
    so the ids checked are exactly the ids the endpoint uses."""

    path: dict[str, Any]
    query: dict[str, Any]
    body: Any
    request: Request

    def values(self, ref: IdRef) -> Iterator[str]:
        if ref.location == "path":
            found: Any = self.path.get(ref.name, self.request.path_params.get(ref.name))
            if found is not None:
                yield str(found)
        elif ref.location == "query":
            if ref.name in self.query:
                found = self.query[ref.name]
                items = found if isinstance(found, list) else [found]
                yield from (str(v) for v in items if v is not None)
            else:  # a parameter of a sub-dependency: read as sent
                yield from self.request.query_params.getlist(ref.name)
        else:
            yield from _body_values(self.body, ref.name.split("."))


async def _parsed(request: Request, dependant: Dependant, embedded: bool) -> _Parsed | None:
    # Path parameters are one plain value each (never a list, never a parameter model):
    # validated straight by their field, which is what ``request_params_to_args`` ends
    # up doing after ~45 calls of sequence and alias checks per parameter.
    path: dict[str, Any] = {}
    received = request.scope.get("path_params") or {}
    for param in dependant.path_params:
        alias = param.alias
        value, errors = param.validate(received.get(alias), {}, loc=("path", alias))
        if errors:
            return None
        path[param.name] = value
    query: dict[str, Any] = {}
    if dependant.query_params:  # (``request.query_params`` parses the query string)
        query, query_errors = request_params_to_args(dependant.query_params, request.query_params)
        if query_errors:
            return None
    body: Any = None
    if dependant.body_params:
        try:
            raw = await request.json() if await request.body() else None
        except ValueError:
            return None
        values, body_errors = await request_body_to_args(
            body_fields=dependant.body_params, received_body=raw, embed_body_fields=embedded
        )
        if body_errors:
            return None
        dumped = {name: _jsonable(value) for name, value in values.items()}
        # One body parameter is the whole body; several (or embed=True) are its keys.
        body = dumped if embedded or len(dumped) != 1 else next(iter(dumped.values()))
    return _Parsed(path, query, body, request)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


def _body_values(node: Any, parts: list[str]) -> Iterator[str]:
    """Walks ``a.b`` / ``items[].x`` paths of the validated body (as JSON)."""
    if not parts:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            yield from (str(v) for v in node if v is not None)
        return
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(node, dict) or key not in node:
        return
    child = node[key]
    if many:
        if isinstance(child, list):
            for item in child:
                yield from _body_values(item, rest)
    else:
        yield from _body_values(child, rest)


async def _principal_and_session(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    session: SessionDep,
) -> None:
    request.state.authz_session = session


def owned(
    *,
    path: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: Mapping[str, str] | None = None,
    exempt: Mapping[str, str] | None = None,
) -> DependsParam:
    """Declares a route's ids: ``{name: kind}`` per location, and ``exempt`` ids
    (``{name: why it is not a tenant's record}``). Use it in ``dependencies=[...]``."""
    where: tuple[tuple[Location, Mapping[str, str] | None], ...] = (
        ("path", path),
        ("query", query),
        ("body", body),
    )
    refs = tuple(
        IdRef(location, name, kind)
        for location, mapping in where
        for name, kind in (mapping or {}).items()
    )
    dependency = _OwnedDependency(Declaration(refs=refs, exempt=dict(exempt or {})))
    if not refs:
        return Depends(dependency)  # type: ignore[no-any-return]
    # unbound until ``install_guards`` binds it to its route (``bound_owned``)
    return Depends(_check_node(dependency))  # type: ignore[no-any-return]


OWNED_BINDING_MARK: Final = "__servicekit_owned_binding__"
"""Attribute of a route's bound ``owned(...)`` check: the dependant it parses by."""


def _check_node(dependency: _OwnedDependency) -> Callable[..., Awaitable[None]]:
    """The function FastAPI calls for an ``owned(...)`` naming ids: after the principal
    and the session (``_principal_and_session``), the check. Bound or not, the same
    parameters, so rebinding a route's node changes nothing FastAPI solves."""

    async def checked(
        request: Request, _: Annotated[None, Depends(_principal_and_session)]
    ) -> None:
        await dependency(request)

    checked.declaration = dependency.declaration  # type: ignore[attr-defined]
    if dependency.dependant is not None:
        setattr(checked, OWNED_BINDING_MARK, dependency.dependant)
    return checked


def bound_owned(
    declaration: Declaration, dependant: Dependant, embed_body_fields: bool
) -> Callable[..., Awaitable[None]]:
    """The ``owned(...)`` check of one route, closed over that route's declaration and
    parameters (``servicekit.guard.install_guards`` puts it in the route's dependency
    node): nothing is read from ``scope["route"]``."""
    return _check_node(_OwnedDependency(declaration, dependant, embed_body_fields))


def owned_nodes(dependant: Dependant) -> list[tuple[Dependant, Declaration]]:
    """The route's own ``owned(...)`` dependency nodes, with their declarations."""
    return [
        (node, found)
        for node in dependant.dependencies
        if isinstance(found := getattr(node.call, "declaration", None), Declaration)
    ]


def declaration_of(route: Any) -> Declaration | None:
    for dep in route.dependencies:
        call = dep.dependency
        found = getattr(call, "declaration", None)
        if isinstance(found, Declaration):
            return found
    return None


def id_fields(route: Any) -> list[tuple[Location, str]]:
    """Every id a route takes: all path parameters, id-like query parameters, and
    id-like body fields (nested models and lists of them included)."""
    found: list[tuple[Location, str]] = [("path", p.name) for p in route.dependant.path_params]
    found += [("query", p.name) for p in route.dependant.query_params if ID_LIKE.match(p.name)]
    for body_param in route.dependant.body_params:
        annotation = body_param.field_info.annotation
        found += [("body", name) for name in _model_id_fields(annotation, prefix="")]
    # A body documented by hand (a merge patch is a plain JSON object to FastAPI): the
    # members of its documented schema count the same as a model's fields.
    extra = getattr(route, "openapi_extra", None) or getattr(
        getattr(route, "original_route", None), "openapi_extra", None
    )
    content = ((extra or {}).get("requestBody") or {}).get("content") or {}
    documented = {
        name
        for media in content.values()
        for name in _schema_id_fields(media.get("schema") or {}, prefix="")
    }
    found += [("body", name) for name in sorted(documented) if ("body", name) not in found]
    return found


def _schema_id_fields(schema: Any, *, prefix: str, depth: int = 0) -> Iterator[str]:
    """Id-like members of a JSON Schema object (nested objects, arrays and unions)."""
    if depth > 5 or not isinstance(schema, dict):
        return
    for variant in (*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())):
        yield from _schema_id_fields(variant, prefix=prefix, depth=depth + 1)
    for key, member in (schema.get("properties") or {}).items():
        dotted = f"{prefix}{key}"
        if ID_LIKE.match(key):
            yield dotted
        yield from _schema_id_fields(member, prefix=f"{dotted}.", depth=depth + 1)
        for variant in (member, *member.get("anyOf", ())) if isinstance(member, dict) else ():
            if isinstance(variant, dict) and variant.get("type") == "array":
                yield from _schema_id_fields(
                    variant.get("items"), prefix=f"{dotted}[].", depth=depth + 1
                )


def _model_id_fields(annotation: Any, *, prefix: str, depth: int = 0) -> Iterator[str]:
    if depth > 5:
        return
    for model in _models_in(annotation):
        for name, info in model.model_fields.items():
            key = info.alias or name
            dotted = f"{prefix}{key}"
            if ID_LIKE.match(key):
                yield dotted
            inner = info.annotation
            yield from _model_id_fields(inner, prefix=f"{dotted}.", depth=depth + 1)
            for item in _list_items(inner):
                yield from _model_id_fields(item, prefix=f"{dotted}[].", depth=depth + 1)


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) in (list, tuple, set, frozenset)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Models an annotation is (``X``, ``X | None``), not those inside lists."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    elif not _is_list(annotation):
        for arg in getattr(annotation, "__args__", ()) or ():
            yield from _models_in(arg)


def _list_items(annotation: Any) -> Iterator[Any]:
    """Item types of the lists an annotation is (``list[X]``, ``list[X] | None``)."""
    if _is_list(annotation):
        yield from annotation.__args__
    elif not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        for arg in getattr(annotation, "__args__", ()) or ():
            yield from _list_items(arg)


class UndeclaredIds(RuntimeError):
    """A route takes ids its ``owned()`` declaration does not cover."""


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of the app as served (included routers' prefixes and
    dependencies applied)."""
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def check_routes(app: FastAPI, ownership: Ownership) -> None:
    """Fails the app's construction when a route takes an id it has not declared, or
    declares a kind no resolver answers."""
    problems: list[str] = []
    for route in api_routes(app):
        declaration = declaration_of(route)
        for location, name in id_fields(route):
            if declaration is None or not declaration.covers(location, name):
                problems.append(
                    f"{sorted(route.methods)} {route.path}: {location} id {name!r} is not "
                    "declared with owned(...)"
                )
        for ref in declaration.refs if declaration else ():
            if ref.kind not in ownership.kinds:
                problems.append(f"{route.path}: no resolver for id kind {ref.kind!r}")
    if problems:
        raise UndeclaredIds("object-level authorization:\n  " + "\n  ".join(problems))


def _resolve_last(route: Any) -> None:
    """Moves the route's ownership check after its other dependencies: a caller without
    the role is a 403 whatever the id, and the check still runs before the endpoint."""
    dependencies = route.dependant.dependencies
    mine = [
        d for d in dependencies if isinstance(getattr(d.call, "declaration", None), Declaration)
    ]
    for dependency in mine:
        dependencies.remove(dependency)
        dependencies.append(dependency)


def install_ownership(app: FastAPI, ownership: Ownership) -> None:
    """Called by the app factory once the routers are included."""
    app.state.ownership = ownership
    check_routes(app, ownership)
    for route in api_routes(app):
        _resolve_last(route)
