"""GET /v1/metrics: how good the reports are and how well reproduction goes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from escalation_service.metrics import service
from escalation_service.metrics.schemas import BugMetrics
from servicekit.authz import owned
from servicekit.deps import SessionDep
from servicekit.roles import AgentOrQa

router = APIRouter(prefix="/v1", tags=["metrics"])


@router.get(
    "/metrics",
    dependencies=[owned(query={"tenant_id": "tenant"})],
    operation_id="metrics.get",
)
async def bug_metrics(
    session: SessionDep,
    principal: AgentOrQa,
    tenant_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")] = None,
) -> BugMetrics:
    """Over the bugs affecting ``tenant_id`` (a tenant-scoped token: its own tenant)."""
    return await service.compute(session, tenant_id=principal.tenant_filter(tenant_id))
