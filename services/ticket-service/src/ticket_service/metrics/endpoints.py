"""``GET /v1/metrics``: support KPIs over a date range, by queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import Unprocessable
from servicekit.fields import IsoDateTime
from servicekit.roles import AgentOnly, ensure_staff
from ticket_service.metrics.service import MetricsOut, support_metrics

router = APIRouter(tags=["metrics"])
MAX_RANGE = timedelta(days=366)


@router.get("/v1/metrics", summary="Support KPIs of tickets created in [from, to), by queue")
async def get_metrics(
    session: SessionDep,
    principal: AgentOnly,
    clock: ClockDep,
    created_from: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    created_to: Annotated[IsoDateTime | None, Query(alias="to")] = None,
    queue: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> MetricsOut:
    ensure_staff(principal)
    end = created_to or clock.now()
    try:
        start = created_from or end - timedelta(days=30)
    except OverflowError as exc:
        raise Unprocessable("to is out of range", field="to") from exc
    if start.tzinfo is None or end.tzinfo is None:
        raise Unprocessable("from and to need a time zone offset", field="from")
    if not start < end or end - start > MAX_RANGE:
        raise Unprocessable("from must be before to, at most 366 days apart", field="from")
    return await support_metrics(
        session, created_from=start, created_to=end, queue=queue, now=clock.now()
    )
