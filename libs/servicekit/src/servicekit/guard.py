"""One dependency for what most endpoints need of a request: the caller, its role, the
session, the clock and the ownership check of the ids it names.

``AgentOrService`` + ``SessionDep`` + ``ClockDep`` + ``owned(...)`` are four FastAPI
dependencies with sub-dependencies of their own (the principal twice, the bearer
credentials, the session twice): FastAPI solves each node on every request (parameter
validation of the node, scope bookkeeping, its cache key), ~500 Python calls of a ticket
page. A guard does the same work in one function, so FastAPI solves two nodes::

    @router.get("/{ticket_id}", dependencies=[owned(path={"ticket_id": "ticket"})])
    async def get_ticket(ticket_id: uuid.UUID, ctx: AgentOrServiceCtx) -> Response:
        ... ctx.principal, ctx.session, ctx.now() ...

What it does, in the order the separate dependencies did it:

1. authenticates the bearer token (401; ``request.state.principal``), through the same
   ``HTTPBearer`` security dependency, so the OpenAPI document says the same;
2. checks the roles (403 ``insufficient-role``; ``staff_only``: 403 ``staff-only``);
3. opens the request's session (``servicekit.deps.request_session``: the read-only
   autocommit session for ``GET``/``HEAD``, the unit of work otherwise; committed before
   the response is sent, ``scope="function"``);
4. enforces the route's ``owned(...)`` declaration on that session (404 for another
   tenant's id…). The declaration stays where it is, in ``dependencies=[...]``, for the
   start-up check and the security suites.

The declaration is **bound, not looked up** (docs/decisions/0043-bound-guards.md):
``guard(...)`` returns a placeholder; ``install_guards`` (the app factory calls it after
the ownership check) replaces it, in each route's dependency tree, by a guard of that
route closed over the route's declaration and parameters (the same signature, so the
same nodes for FastAPI to solve and the same OpenAPI security), and takes the now
redundant ``owned`` dependency out of the tree. Nothing is read from ``scope["route"]``,
so another object there (a router included another way, a copied route, a future
FastAPI) cannot make the check skip. A placeholder FastAPI solves anyway (an app not
built by the factory, a router included after it) answers a 500 problem
``guard-not-installed`` and the endpoint does not run: it fails closed.

A guarded route may not also take ``SessionDep`` (two sessions, two transactions), a
second guard, nor sit on a websocket: ``install_guards`` refuses to start such an app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import BearerCredentials, Principal, Role, authenticate, check_roles
from servicekit.authz import OWNED_BINDING_MARK, Declaration, bound_owned, enforce, owned_nodes
from servicekit.clock import Clock, clock_of
from servicekit.deps import get_session, get_write_session, request_session
from servicekit.errors import ProblemError
from servicekit.roles import ensure_staff

_GUARD_MARK: Final = "__servicekit_guard__"
"""Attribute of the callable ``guard(...)`` returns: its :class:`_Spec`."""
_BINDING_MARK: Final = "__servicekit_guard_binding__"
"""Attribute of a route's bound guard: its :class:`Binding`."""

logger = logging.getLogger("servicekit.guard")


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a guarded endpoint gets: the authenticated caller (roles checked), the
    request's session (the ids it names already checked on it) and the app's clock."""

    principal: Principal
    session: AsyncSession
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()


GuardDependency = Callable[..., AsyncIterator[Ctx]]


@dataclass(frozen=True, slots=True)
class _Spec:
    """What ``guard(...)`` was asked for: the roles it admits, staff only or not."""

    roles: frozenset[Role]
    staff_only: bool


@dataclass(frozen=True, slots=True, eq=False)  # one per route: compared by identity
class Binding:
    """What a route's guard enforces: the route's ``owned(...)`` declaration (``None``
    when the route names no id) and the route's dependant, whose path, query and body
    parameters the check parses (the ids checked are the ids the endpoint receives)."""

    spec: _Spec
    declaration: Declaration | None
    dependant: Dependant
    embed_body_fields: bool
    route: str
    """``"GET /path"``, for the errors and the tests."""


class GuardNotInstalled(ProblemError):
    """A guard FastAPI solved on a route ``install_guards`` never bound (an app not built
    by the factory, a router included after it): the server's misconfiguration. The
    endpoint does not run, the caller gets a problem, never an unchecked answer."""

    status, code, title = 500, "guard-not-installed", "Guard not installed"


def guard(*roles: Role, staff_only: bool = False) -> GuardDependency:
    """A dependency admitting ``roles`` (admin always; with ``staff_only`` a
    tenant-scoped token is refused) and giving a :class:`Ctx`; wrap it as
    ``Annotated[Ctx, Depends(guard(...), scope="function")]``.

    What it returns is a placeholder: ``install_guards`` (the app factory) replaces it,
    in each route's dependency tree, by that route's own guard, bound to the route's
    declaration. Solved where that did not happen, it refuses the request."""
    spec = _Spec(frozenset(roles), staff_only)

    async def unbound(request: Request, credentials: BearerCredentials) -> AsyncIterator[Ctx]:
        # fail closed: this route's ids were never bound to a check
        logger.error(
            "guard not installed on %s %s: the app was not built by create_service_app, "
            "or the route was added after it",
            request.method,
            request.url.path,
        )
        raise GuardNotInstalled(
            "this route's authorization is not installed; the request was not processed"
        )
        yield  # pragma: no cover - an async generator, as the bound guard is

    setattr(unbound, _GUARD_MARK, spec)
    return unbound


def _bound(binding: Binding) -> GuardDependency:
    """The guard of one route: the same parameters as the placeholder (so the same
    ``HTTPBearer`` sub-dependency and OpenAPI security), the declaration closed over."""
    wanted, staff_only = binding.spec.roles, binding.spec.staff_only
    declaration = binding.declaration if binding.declaration and binding.declaration.refs else None
    dependant, embedded = binding.dependant, binding.embed_body_fields

    async def dependency(request: Request, credentials: BearerCredentials) -> AsyncIterator[Ctx]:
        principal = await authenticate(request, credentials)
        check_roles(principal, wanted)
        if staff_only:
            ensure_staff(principal)
        # read when the request comes, as ``ClockDep`` does: a test may swap the clock
        clock = clock_of(getattr(request.scope["app"].state, "clock", None))
        async with request_session(request) as session:
            if declaration is not None:
                await enforce(
                    request,
                    declaration,
                    principal,
                    session,
                    dependant=dependant,
                    embed_body_fields=embedded,
                )
            yield Ctx(principal, session, clock)

    setattr(dependency, _GUARD_MARK, binding.spec)
    setattr(dependency, _BINDING_MARK, binding)
    return dependency


def _is_guard(call: Any) -> bool:
    return isinstance(getattr(call, _GUARD_MARK, None), _Spec)


def binding_of(call: Any) -> Binding | None:
    """The :class:`Binding` of a route's guard; ``None`` for anything else (the unbound
    placeholder included)."""
    found = getattr(call, _BINDING_MARK, None)
    return found if isinstance(found, Binding) else None


def _nodes(dependant: Dependant) -> Iterator[Dependant]:
    """Every dependency node below ``dependant`` (not itself), as FastAPI solves them."""
    stack = list(dependant.dependencies)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.dependencies)


def guard_nodes(dependant: Dependant) -> list[Dependant]:
    """The nodes of a route's dependency tree whose call is a guard (bound or not)."""
    return [node for node in _nodes(dependant) if _is_guard(node.call)]


class GuardMisuse(RuntimeError):
    """A guarded route also takes a session of its own, two different guards, or a
    guard that cannot be bound to it."""


def install_guards(app: FastAPI) -> None:
    """For each route that takes a guard: the guard's nodes in the route's dependency
    tree call a guard bound to the route's ``owned(...)`` declaration, and the
    ``owned`` dependency leaves the tree (the check runs once, in the guard). Called by
    the app factory after ``install_ownership`` (which puts ``app.state.ownership`` in
    place). Refuses to start an app with a guard it cannot bind.

    A route with ``owned(...)`` and no guard gets the same: its ``owned`` node calls a
    check bound to the route's declaration and parameters (``authz.bound_owned``)."""
    problems: list[str] = []
    bound_nodes: dict[int, str] = {}
    for context in routing.iter_route_contexts(app.routes):
        dependant: Dependant | None = getattr(context, "dependant", None)
        if dependant is None:
            continue
        nodes = guard_nodes(dependant)
        where = f"{' '.join(sorted(context.methods or ()))} {context.path}".strip()
        if not nodes:
            problems += _bind_owned(context, dependant, where, bound_nodes)
            continue
        if not isinstance(context.original_route, APIRoute):
            problems.append(f"{where}: a guard on a websocket route (no HTTP request)")
            continue
        problems += _bind(context, dependant, nodes, where, bound_nodes)
    if problems:
        raise GuardMisuse("guarded routes:\n  " + "\n  ".join(problems))


def _bind_owned(context: Any, dependant: Dependant, where: str, seen: dict[int, str]) -> list[str]:
    """A route without a guard: its ``owned(...)`` node calls a check bound to this
    route's declaration and parameters (``authz.bound_owned``), as a guard is bound, so
    the ids checked are parsed by the route's own parameters, never by whatever is in
    ``scope["route"]``. Bound already (a second call): left as it is."""
    problems: list[str] = []
    embedded = bool(getattr(context, "_embed_body_fields", False))
    for node, declaration in owned_nodes(dependant):
        if not declaration.refs or getattr(node.call, OWNED_BINDING_MARK, None) is not None:
            continue
        other = seen.setdefault(id(node), where)
        if other != where:
            problems.append(f"{where}: its owned(...) dependency node is {other}'s too")
            continue
        node.call = bound_owned(declaration, dependant, embedded)
    return problems


def _bind(
    context: Any, dependant: Dependant, nodes: list[Dependant], where: str, seen: dict[int, str]
) -> list[str]:
    """Binds one route's guard nodes; the problems that prevent it."""
    owned = owned_nodes(dependant)
    bindings = {binding_of(node.call) for node in nodes} - {None}
    if bindings and len(nodes) == sum(binding_of(n.call) is not None for n in nodes):
        # already bound (the factory's call, then another): the owned dependency is gone,
        # so binding again would bind nothing; keep what was bound
        return []
    specs = {getattr(node.call, _GUARD_MARK) for node in nodes}
    problems: list[str] = []
    if len(specs) > 1:
        problems.append(f"{where}: more than one guard")
    if bindings:  # some nodes bound by an earlier call, some added since: whose check?
        problems.append(f"{where}: a guard bound before and another one not")
    # the owned dependency's own session is the one the guard replaces
    owned_ids = {id(d) for d, _ in owned}
    calls = [
        node.call
        for d in dependant.dependencies
        if id(d) not in owned_ids
        for node in (d, *_nodes(d))
    ]
    if any(c is get_session or c is get_write_session for c in calls):
        problems.append(f"{where}: a guard and SessionDep (two sessions)")
    if len(owned) > 1:
        problems.append(f"{where}: more than one owned(...)")
    for node in nodes:
        # a node shared with another route would carry the other route's declaration
        other = seen.setdefault(id(node), where)
        if other != where:
            problems.append(f"{where}: its guard's dependency node is {other}'s too")
    if problems:
        return problems
    declaration = owned[0][1] if owned else None
    (spec,) = specs
    embedded = bool(getattr(context, "_embed_body_fields", False))
    bound = _bound(Binding(spec, declaration, dependant, embedded, where))
    for node in nodes:
        # one callable for every node: FastAPI's per-request cache (keyed by the call)
        # still solves the guard once, one session, however many nodes take it
        node.call = bound
    for dependency, _ in owned:
        dependant.dependencies.remove(dependency)
    return []


AgentOrServiceCtx = Annotated[Ctx, Depends(guard(Role.agent, Role.service), scope="function")]
"""``AgentOrService`` (``servicekit.roles``) with the session, the clock and the route's
ownership check in one dependency."""
