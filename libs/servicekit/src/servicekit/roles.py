"""Named principals with one meaning in every service: ``Annotated[Principal, ...]``
aliases an endpoint takes as a parameter.

``admin`` always passes a role check (``Principal.has_any``). "Staff only" refuses a
tenant-scoped (customer) token with 403 ``staff-only``; the others admit a tenant token
holding the role, which the endpoint then confines to its tenant.

=================== =============================== ========================
name                roles (admin always passes)     tenant tokens allowed?
=================== =============================== ========================
Staff               agent, billing, onboarding, qa  no (staff only)
AdminOnly           admin                           no (staff only)
ServiceOnly         service                         yes (as before)
AgentOnly           agent                           no (staff only)
AgentOrService      agent, service                  yes
AgentOrQa           agent, qa                       yes
Qa                  qa                              yes
Billing             billing                         yes
Operator            onboarding                      yes
OperatorOrService   onboarding, service             yes
=================== =============================== ========================

Any other set: ``Name = Annotated[Principal, Depends(roles(Role.x, staff_only=...))]`` in
the service's
``deps.py``, with a name that is not one of the above (a service-specific ``Reader``
differs per service: prefer ``BugReader``, ``TenantReader``...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends

from servicekit.auth import CurrentPrincipal, Principal, Role, require_roles
from servicekit.errors import Forbidden

STAFF_ROLES = (Role.agent, Role.billing, Role.onboarding, Role.qa)


def ensure_staff(principal: Principal) -> None:
    """Actions for support staff only: a tenant-scoped (customer) token is refused."""
    if principal.is_tenant_scoped:
        raise Forbidden("this action is for support staff only", code="staff-only")


def roles(*wanted: Role, staff_only: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting ``wanted`` (admin always) and, with ``staff_only``, refusing
    tenant-scoped tokens (403 ``staff-only``); wrap it as
    ``Annotated[Principal, Depends(roles(...))]`` (an alias mypy can see)."""
    check = require_roles(*wanted)
    if not staff_only:
        return check

    async def staff(principal: CurrentPrincipal) -> Principal:
        principal = await check(principal)
        ensure_staff(principal)
        return principal

    return staff


Staff = Annotated[Principal, Depends(roles(*STAFF_ROLES, staff_only=True))]
AdminOnly = Annotated[Principal, Depends(roles(Role.admin, staff_only=True))]
AgentOnly = Annotated[Principal, Depends(roles(Role.agent, staff_only=True))]
ServiceOnly = Annotated[Principal, Depends(require_roles(Role.service))]
AgentOrService = Annotated[Principal, Depends(require_roles(Role.agent, Role.service))]
AgentOrQa = Annotated[Principal, Depends(require_roles(Role.agent, Role.qa))]
Qa = Annotated[Principal, Depends(require_roles(Role.qa))]
Billing = Annotated[Principal, Depends(require_roles(Role.billing))]
Operator = Annotated[Principal, Depends(require_roles(Role.onboarding))]
OperatorOrService = Annotated[Principal, Depends(require_roles(Role.onboarding, Role.service))]
