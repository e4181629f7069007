"""GET /v1/metrics: how good the reports are and how well reproduction goes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from escalation_service.metrics import service
from escalation_service.metrics.schemas import BugMetrics
from servicekit.auth import Principal, Role, require_roles
from servicekit.authz import owned
from servicekit.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["metrics"])

Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.qa))]


@router.get("/metrics", dependencies=[owned(query={"tenant_id": "tenant"})])
async def bug_metrics(
    session: SessionDep,
    principal: Reader,
    tenant_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")] = None,
) -> BugMetrics:
    """Over the bugs affecting ``tenant_id`` (a tenant-scoped token: its own tenant)."""
    return await service.compute(session, tenant_id=principal.tenant_filter(tenant_id))
