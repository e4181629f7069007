"""Role dependencies shared by the feature routers.

Tickets are the customer portal's too: a tenant-scoped token (any of the roles below
plus a ``tenant_id`` claim) reads and writes its own tenant's tickets as the customer.
Everything else (rules, agents, templates, account context, metrics, access actions,
escalations) is for support staff: a tenant-scoped token gets a 403 there.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from servicekit.auth import Principal, Role, require_roles
from servicekit.errors import Forbidden

_agent_or_service = require_roles(Role.agent, Role.service)
_agent = require_roles(Role.agent)
_admin = require_roles(Role.admin)


def ensure_staff(principal: Principal) -> None:
    """Actions for support staff only: a tenant-scoped (customer) token is refused."""
    if principal.is_tenant_scoped:
        raise Forbidden("this action is for support staff only", code="staff-only")


async def _staff_agent(principal: Annotated[Principal, Depends(_agent)]) -> Principal:
    ensure_staff(principal)
    return principal


async def _staff_admin(principal: Annotated[Principal, Depends(_admin)]) -> Principal:
    ensure_staff(principal)
    return principal


TicketReader = Annotated[Principal, Depends(_agent_or_service)]
AgentOnly = Annotated[Principal, Depends(_staff_agent)]
Admin = Annotated[Principal, Depends(_staff_admin)]
