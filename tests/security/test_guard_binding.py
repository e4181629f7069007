"""The four services' guards are bound (docs/decisions/0043-bound-guards.md):
every route of the four apps that takes a guard (``servicekit.guard``) has, in the
dependency tree FastAPI solves for it, a guard bound to exactly that route's
``owned(...)`` declaration and parameters, and no ``owned`` dependency left beside it;
every route with ``owned(...)`` and no guard has that check bound to it the same way.
An unbound guard answers a 500 problem ``guard-not-installed``: this is the proof that
no shipped route can. (That the guarded ids are probed with another tenant's values:
``test_bola.py``, ``assert_every_guarded_id_probed``.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from billing_service.config import BillingSettings
from billing_service.main import create_app as billing_app
from escalation_service.config import EscalationSettings
from escalation_service.main import create_app as escalation_app
from onboarding_service.config import OnboardingSettings
from onboarding_service.main import create_app as onboarding_app
from servicekit.authz import OWNED_BINDING_MARK, Declaration, declaration_of, owned_nodes
from servicekit.guard import binding_of, guard_nodes
from servicekit.settings import ServiceSettings
from servicekit.testing import topic_prefix
from ticket_service.config import TicketSettings
from ticket_service.main import create_app as ticket_app

SERVICES: dict[str, tuple[type[ServiceSettings], Callable[..., FastAPI]]] = {
    "ticket": (TicketSettings, ticket_app),
    "billing": (BillingSettings, billing_app),
    "onboarding": (OnboardingSettings, onboarding_app),
    "escalation": (EscalationSettings, escalation_app),
}


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    """The four apps as the factory builds them (never started: nothing connects)."""
    built = {}
    for name, (settings, create_app) in SERVICES.items():
        values: dict[str, Any] = {"environment": "test", "kafka_topic_prefix": topic_prefix()}
        built[name] = create_app(settings(**values))
    return built


def _nodes(dependant: Dependant) -> list[Dependant]:
    found, stack = [], list(dependant.dependencies)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.dependencies)
    return found


def test_every_guard_of_the_four_services_carries_its_route_s_declaration(
    apps: dict[str, FastAPI],
) -> None:
    guarded: dict[str, set[str]] = {name: set() for name in apps}
    for name, app in apps.items():
        for context in routing.iter_route_contexts(app.routes):
            dependant: Dependant | None = getattr(context, "dependant", None)
            if dependant is None:
                continue
            nodes = guard_nodes(dependant)
            where = f"{name}: {sorted(context.methods or ())} {context.path}"
            for node in nodes:
                binding = binding_of(node.call)
                # unbound, the guard would answer "guard not installed" to every request
                assert binding is not None, f"{where}: an unbound guard"
                assert binding.declaration is declaration_of(context), where
                assert binding.dependant is dependant, f"{where}: another route's parameters"
                guarded[name] |= {f"{m} {context.path}" for m in context.methods or ()}
            if nodes:
                # the check runs once, in the guard: no owned(...) dependency beside it
                left = [
                    n
                    for n in _nodes(dependant)
                    if isinstance(getattr(n.call, "declaration", None), Declaration)
                ]
                assert not left, f"{where}: owned(...) still solved beside the guard"
    # the console's hot paths (decision 0042); a service adopting guards adds its routes
    assert guarded["ticket"] >= {
        "GET /v1/tickets/{ticket_id}",
        "GET /v1/tickets",
        "POST /v1/tickets",
    }


def test_each_guarded_route_has_a_guard_of_its_own(apps: dict[str, FastAPI]) -> None:
    """One binding per route: no two routes share the guard FastAPI calls (the other
    route's declaration would be checked instead of this one's)."""
    owners: dict[int, str] = {}
    for name, app in apps.items():
        for context in routing.iter_route_contexts(app.routes):
            dependant = getattr(context, "dependant", None)
            for node in guard_nodes(dependant) if dependant is not None else ():
                label = f"{name}: {sorted(context.methods or ())} {context.path}"
                assert owners.setdefault(id(node.call), label) == label, (owners, label)
    assert owners, "no guarded route at all?"


def test_every_owned_check_outside_a_guard_is_bound_to_its_route(
    apps: dict[str, FastAPI],
) -> None:
    """A route that takes ``owned(...)`` without a guard: the node FastAPI calls is a
    check bound to that route's declaration and parameters (``authz.bound_owned``), not
    the function that parses by ``scope["route"]``; and no node serves two routes."""
    checked: dict[str, int] = {name: 0 for name in apps}
    owners: dict[int, str] = {}
    for name, app in apps.items():
        for context in routing.iter_route_contexts(app.routes):
            dependant: Dependant | None = getattr(context, "dependant", None)
            if dependant is None or guard_nodes(dependant):
                continue
            where = f"{name}: {sorted(context.methods or ())} {context.path}"
            for node, declaration in owned_nodes(dependant):
                if not declaration.refs:
                    continue
                assert declaration is declaration_of(context), where
                assert getattr(node.call, OWNED_BINDING_MARK, None) is dependant, (
                    f"{where}: owned(...) not bound to this route's parameters"
                )
                assert owners.setdefault(id(node.call), where) == where, (owners, where)
                checked[name] += 1
    # every service has routes naming ids without a guard (the guards cover the hot paths)
    assert all(checked.values()), checked
