"""API-style rules the kit applies to every route of every service (docs/api-style.md):
readable operation ids for generated clients, and unknown query parameters refused.

Operation ids (``operation_id``)
    ``<feature>.<action>``: the feature is the resource collection, the first path
    segment after the version prefix in lower camelCase (``/v1/triage-rules/{id}`` →
    ``triageRules``; a path without a version prefix, such as ``/healthz``, uses the
    route's first tag: ``health``); the action is the endpoint function's name in
    lower camelCase with the words naming the feature dropped (``create_ticket`` under
    ``tickets`` → ``create``, ``list_tickets`` → ``list``, ``add_message`` →
    ``addMessage``). A word names the feature when it equals one of its words,
    singular or plural (a trailing ``s``, ``-ies`` for ``-y``). If nothing is left, the
    function name is used whole. A route that passes ``operation_id=`` explicitly keeps
    it (FastAPI uses it before calling the generator). Ids must be unique within a service:
    :func:`check_operation_ids` refuses to build an app with a duplicate, like the
    authorization check (``servicekit.authz``) does with an undeclared id.

Unknown query parameters
    :func:`install_query_check` wraps every API route's ASGI app in a plain check that
    compares the request's query keys with the query parameters the route declares (its
    own and its dependencies', collected once at start-up); any other key is 400
    ``unknown-query-parameter`` naming them (a typo such as ``?stauts=open`` would
    otherwise silently list everything). It runs before the route reads its body or
    solves any dependency (authentication, ownership). A route that must take arbitrary
    parameters (a third party's callback) opts out with ``dependencies=[AllowUnknownQuery]``.

    Not a FastAPI dependency: one would make FastAPI solve a dependency tree on every
    request of every route (a third of a ``/healthz``'s CPU), for a set lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import Depends, FastAPI, routing
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import BadRequest

OPERATION_ID = re.compile(r"^[a-z][a-zA-Z]*(\.[a-z][a-zA-Z]*)+$")
_WORD = re.compile(r"[A-Za-z0-9]+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace("_", " "))]


def _camel(words: Iterable[str]) -> str:
    out = ""
    for i, word in enumerate(words):
        word = "".join(c for c in word if c.isalpha())
        if word:
            out += word if not out else word.capitalize()
        del i
    return out


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"  # policies -> policy
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def feature_of(route: Any) -> str:
    """The resource collection a route belongs to: the first path segment after the
    version prefix (``/v1/tickets/{ticket_id}/messages`` → ``tickets``); for a path
    without a version prefix (``/healthz``) the route's first tag."""
    segments: list[str] = [s for s in str(route.path).split("/") if s]
    if len(segments) > 1 and re.fullmatch(r"v[0-9]+", segments[0]):
        return segments[1]
    tags = [str(getattr(t, "value", t)) for t in (getattr(route, "tags", None) or [])]
    return tags[0] if tags else (str(segments[0]) if segments else "root")


def operation_id(route: Any) -> str:
    """The readable id of a route (the rule in the module docstring); FastAPI calls this
    as ``generate_unique_id_function`` for every route without an explicit id."""
    feature_words = _words(feature_of(route))
    feature = _camel(feature_words)
    nouns = {_singular(w) for w in feature_words}
    name_words = _words(route.name)
    action_words = [w for w in name_words if _singular(w) not in nouns] or name_words
    return f"{feature}.{_camel(action_words)}"


class DuplicateOperationIds(RuntimeError):
    """Two operations of one service would share an operation id."""


def _operations(app: FastAPI) -> Iterator[tuple[str, str, str]]:
    """(operation id, method, path) of every operation in the OpenAPI document."""
    for context in routing.iter_route_contexts(app.routes):
        route: Any = context
        if not isinstance(context.original_route, routing.APIRoute):
            continue
        if not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            yield str(route.operation_id or route.unique_id), method, str(route.path)


def check_operation_ids(app: FastAPI) -> None:
    """Refuses to build an app whose operations share an id (a generated client would
    silently get one method for two endpoints)."""
    seen: dict[str, str] = {}
    problems: list[str] = []
    for op_id, method, path in _operations(app):
        where = f"{method} {path}"
        if op_id in seen:
            problems.append(f"{op_id!r}: {seen[op_id]} and {where}")
        else:
            seen[op_id] = where
    if problems:
        raise DuplicateOperationIds(
            "duplicate operation ids (set operation_id= on one of them):\n  "
            + "\n  ".join(problems)
        )


async def _allow_unknown_query() -> None:
    """Marker: the route takes query parameters it does not declare."""


AllowUnknownQuery = Depends(_allow_unknown_query)
"""``dependencies=[AllowUnknownQuery]`` exempts a route from the unknown-query check."""


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def declared_query_names(route: Any) -> frozenset[str] | None:
    """The query keys a route accepts (aliases, as a client sends them); ``None`` when
    it opted out."""
    dependants = list(_dependants(route.dependant))
    if any(d.call is _allow_unknown_query for d in dependants):
        return None
    names: set[str] = set()
    for dependant in dependants:
        for param in dependant.query_params:
            annotation = getattr(param.field_info, "annotation", None)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                # a Pydantic model of query parameters: its fields are the keys
                for name, info in annotation.model_fields.items():
                    names.add(info.alias or name)
            names.add(param.alias)
            if isinstance(param.field_info.validation_alias, str):
                names.add(param.field_info.validation_alias)
    return frozenset(names)


class QueryCheck:
    """One route's ASGI app behind the unknown-query-key check: the route's declared keys
    are a set built once, and a request without a query string costs one comparison."""

    __slots__ = ("app", "declared")

    def __init__(self, app: ASGIApp, declared: frozenset[str]) -> None:
        self.app = app
        self.declared = declared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if query:
            # parsed as ``request.query_params`` parses it, so a key is what the route sees
            unknown = sorted({key for key in QueryParams(query) if key not in self.declared})
            if unknown:
                # raised, not answered here: the app's ProblemError handler renders it,
                # exactly as it renders every other 400
                accepted = ", ".join(sorted(self.declared)) or "none"
                raise BadRequest(
                    f"unknown query parameter(s): {', '.join(unknown)} (accepted: {accepted})",
                    code="unknown-query-parameter",
                    title="Unknown query parameter",
                    parameters=unknown,
                )
        await self.app(scope, receive, send)


def install_query_check(app: FastAPI) -> None:
    """Called by the app factory once the routers are included: every API route refuses
    query keys it does not declare, before it reads its body or runs any dependency."""
    for context in routing.iter_route_contexts(app.routes):
        if not isinstance(context.original_route, routing.APIRoute):
            continue
        declared = declared_query_names(context)
        if declared is None:
            continue
        # the object whose ``app`` the router calls for this route: the route itself,
        # or, for a route of an included router, its context under that inclusion
        # (FastAPI builds one handler per inclusion, cached with the router)
        target: Any = context._effective_route
        current = target.app
        if isinstance(current, QueryCheck):  # installed twice: the latest set wins
            current.declared = declared
        else:
            target.app = QueryCheck(current, declared)
