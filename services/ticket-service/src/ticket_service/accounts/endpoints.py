"""``/v1/accounts/{tenant_id}``: the verified account context of a tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.errors import NotFound
from servicekit.roles import AgentOnly
from ticket_service.accounts.schemas import AccountOut
from ticket_service.accounts.service import account_view

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.get(
    "/{tenant_id}",
    dependencies=[owned(path={"tenant_id": "tenant"})],
    summary="The verified account context of a tenant",
)
async def get_account(
    tenant_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    principal: AgentOnly,
) -> AccountOut:
    principal.ensure_tenant(tenant_id, resource="account")
    view = await account_view(session, tenant_id)
    if view is None:
        raise NotFound("no event about this tenant has been received", code="account-not-found")
    return view
