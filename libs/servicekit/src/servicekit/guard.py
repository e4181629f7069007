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
   start-up check and the security suites; ``install_guards`` (the app factory calls it
   with the ownership check) takes its now redundant dependency out of what FastAPI
   solves and hands the declaration to the guard. Where that did not happen (an app not
   built by the factory), the ``owned`` dependency still runs and the guard checks
   nothing: the check runs exactly once either way.

A guarded route may not also take ``SessionDep`` (two sessions, two transactions) nor a
second guard: ``install_guards`` refuses to start such an app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import BearerCredentials, Principal, Role, authenticate, check_roles
from servicekit.authz import Declaration, api_routes, enforce
from servicekit.clock import Clock, clock_of
from servicekit.deps import get_session, get_write_session, request_session
from servicekit.roles import ensure_staff

_GUARD_MARK: Final = "__servicekit_guard__"
_DECLARATION: Final = "_servicekit_guarded_declaration"
"""Attribute of a guarded ``APIRoute``: the ``owned`` declaration its guard enforces."""


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


def guard(*roles: Role, staff_only: bool = False) -> GuardDependency:
    """A dependency admitting ``roles`` (admin always; with ``staff_only`` a
    tenant-scoped token is refused) and giving a :class:`Ctx`; wrap it as
    ``Annotated[Ctx, Depends(guard(...), scope="function")]``."""
    wanted = frozenset(roles)

    async def dependency(request: Request, credentials: BearerCredentials) -> AsyncIterator[Ctx]:
        principal = await authenticate(request, credentials)
        check_roles(principal, wanted)
        if staff_only:
            ensure_staff(principal)
        scope = request.scope
        # read when the request comes, as ``ClockDep`` does: a test may swap the clock
        clock = clock_of(getattr(scope["app"].state, "clock", None))
        async with request_session(request) as session:
            declaration: Declaration | None = getattr(scope.get("route"), _DECLARATION, None)
            if declaration is not None:
                await enforce(request, declaration, principal, session)
            yield Ctx(principal, session, clock)

    setattr(dependency, _GUARD_MARK, True)
    return dependency


def _is_guard(call: Any) -> bool:
    return getattr(call, _GUARD_MARK, False) is True


def _tree_calls(dependant: Any) -> list[Any]:
    """Every dependency call below ``dependant`` (not itself)."""
    found: list[Any] = []
    stack = list(dependant.dependencies)
    while stack:
        node = stack.pop()
        found.append(node.call)
        stack.extend(node.dependencies)
    return found


class GuardMisuse(RuntimeError):
    """A guarded route also takes a session of its own, or two different guards."""


def install_guards(app: FastAPI) -> None:
    """For each route that takes a guard: its ``owned(...)`` dependency leaves the tree
    FastAPI solves and the guard enforces the declaration instead. Called by the app
    factory after ``install_ownership`` (which puts ``app.state.ownership`` in place)."""
    problems: list[str] = []
    for context in api_routes(app):
        dependant = context.dependant
        guards = {d.call for d in dependant.dependencies if _is_guard(d.call)}
        if not guards:
            continue
        owned = [
            d
            for d in dependant.dependencies
            if isinstance(getattr(d.call, "declaration", None), Declaration)
        ]
        # the owned dependency's own session is the one the guard replaces
        owned_ids = {id(d) for d in owned}
        calls = [
            call
            for d in dependant.dependencies
            if id(d) not in owned_ids
            for call in (d.call, *_tree_calls(d))
        ]
        where = f"{sorted(context.methods or ())} {context.path}"
        if len(guards) > 1:
            problems.append(f"{where}: more than one guard")
        if any(c is get_session or c is get_write_session for c in calls):
            problems.append(f"{where}: a guard and SessionDep (two sessions)")
        if len(owned) > 1:
            problems.append(f"{where}: more than one owned(...)")
            continue
        for dependency in owned:
            declaration: Declaration = dependency.call.declaration
            if declaration.refs:  # an exempt-only declaration checks nothing
                # the declaration on the route object the router puts in ``scope["route"]``
                # (for an included router: the router's own route, which every inclusion
                # shares; the declaration is the route's own, so the same for each)
                setattr(context.original_route, _DECLARATION, declaration)
            dependant.dependencies.remove(dependency)
    if problems:
        raise GuardMisuse("guarded routes:\n  " + "\n  ".join(problems))


AgentOrServiceCtx = Annotated[Ctx, Depends(guard(Role.agent, Role.service), scope="function")]
"""``AgentOrService`` (``servicekit.roles``) with the session, the clock and the route's
ownership check in one dependency."""
