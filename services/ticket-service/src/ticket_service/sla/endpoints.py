"""``/v1/business-calendars`` and ``/v1/sla-policies``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from servicekit.authz import GLOBAL_CONFIG, owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, apply_merge_patch, merge_patch_route
from servicekit.pagination import Page, PageDep
from servicekit.roles import AdminOnly, AgentOnly
from ticket_service.models import BusinessCalendarRow, SlaPolicy
from ticket_service.sla import service
from ticket_service.sla.holidays import InvalidCalendarFeed, dates_from_ical
from ticket_service.sla.schemas import (
    BusinessCalendarIn,
    BusinessCalendarOut,
    BusinessCalendarSettable,
    IcalImportIn,
    SlaPolicyIn,
    SlaPolicyOut,
    SlaPolicySettable,
)

router = APIRouter(tags=["sla"])
CalendarId = Annotated[str, Path(min_length=1, max_length=64)]


def _calendar_out(row: BusinessCalendarRow) -> BusinessCalendarOut:
    return BusinessCalendarOut.model_validate(row, from_attributes=True)


def _policy_out(row: SlaPolicy) -> SlaPolicyOut:
    return SlaPolicyOut.model_validate(row, from_attributes=True)


@router.get("/v1/business-calendars", summary="Business calendars")
async def list_calendars(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[BusinessCalendarOut]:
    rows, cursor = await service.calendars_page(session, page)
    return Page[BusinessCalendarOut](items=[_calendar_out(r) for r in rows], next_cursor=cursor)


@router.post(
    "/v1/business-calendars",
    dependencies=[owned(exempt={"id": GLOBAL_CONFIG})],
    status_code=201,
    summary="Add a calendar (admin)",
)
async def create_calendar(
    body: BusinessCalendarIn, session: SessionDep, principal: AdminOnly, idem: IdempotencyDep
) -> BusinessCalendarOut:
    await idem.start(session, body)
    row = await service.add_calendar(session, body)
    return await idem.complete(session, _calendar_out(row), status_code=201)


@router.get(
    "/v1/business-calendars/{calendar_id}",
    dependencies=[owned(exempt={"calendar_id": GLOBAL_CONFIG})],
    summary="One business calendar",
)
async def get_calendar(
    calendar_id: CalendarId, session: SessionDep, principal: AgentOnly, response: Response
) -> BusinessCalendarOut:
    row = await service.get_calendar(session, calendar_id)
    response.headers["ETag"] = etag(row.version)
    return _calendar_out(row)


@router.patch(
    "/v1/business-calendars/{calendar_id}",
    dependencies=[owned(exempt={"calendar_id": GLOBAL_CONFIG})],
    summary="Change a calendar (If-Match)",
    **merge_patch_route(BusinessCalendarSettable),
)
async def update_calendar(
    calendar_id: CalendarId,
    patch: MergePatch,
    session: SessionDep,
    principal: AdminOnly,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> BusinessCalendarOut:
    row = await service.get_calendar(session, calendar_id)
    current = _calendar_out(row).model_dump(
        mode="json", include=set(BusinessCalendarSettable.model_fields)
    )
    merged = apply_merge_patch(BusinessCalendarSettable, document=current, patch=patch)
    if_match.require(row.version)  # after validation: bad input is a 422
    await service.change_calendar(session, row, merged, at=clock.now())
    response.headers["ETag"] = etag(row.version)
    return _calendar_out(row)


@router.post(
    "/v1/business-calendars/{calendar_id}/holiday-imports",
    dependencies=[owned(exempt={"calendar_id": GLOBAL_CONFIG})],
    summary="Add the days of an iCal feed as holidays (admin, If-Match)",
)
async def import_ical_holidays(
    calendar_id: CalendarId,
    body: IcalImportIn,
    session: SessionDep,
    principal: AdminOnly,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> BusinessCalendarOut:
    row = await service.get_calendar(session, calendar_id)
    if_match.require(row.version)
    try:
        days = dates_from_ical(body.ical, timezone=row.timezone)
    except InvalidCalendarFeed as exc:
        raise service.ical_problem(str(exc), "invalid-ical") from exc
    await service.add_holidays(session, row, days, at=clock.now())
    response.headers["ETag"] = etag(row.version)
    return _calendar_out(row)


@router.get("/v1/sla-policies", summary="SLA policies")
async def list_policies(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[SlaPolicyOut]:
    rows, cursor = await service.policies_page(session, page)
    return Page[SlaPolicyOut](items=[_policy_out(r) for r in rows], next_cursor=cursor)


@router.post(
    "/v1/sla-policies",
    dependencies=[owned(exempt={"calendar_id": GLOBAL_CONFIG})],
    status_code=201,
    summary="Add an SLA policy (admin)",
)
async def create_policy(
    body: SlaPolicyIn,
    session: SessionDep,
    principal: AdminOnly,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> SlaPolicyOut:
    await idem.start(session, body)
    row = await service.add_policy(session, body, at=clock.now())
    return await idem.complete(session, _policy_out(row), status_code=201)


@router.patch(
    "/v1/sla-policies/{policy_id}",
    dependencies=[owned(exempt={"policy_id": GLOBAL_CONFIG, "calendar_id": GLOBAL_CONFIG})],
    summary="Change an SLA policy (If-Match)",
    **merge_patch_route(SlaPolicySettable),
)
async def update_policy(
    policy_id: uuid.UUID,
    patch: MergePatch,
    session: SessionDep,
    principal: AdminOnly,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> SlaPolicyOut:
    row = await service.get_policy(session, policy_id)
    current = _policy_out(row).model_dump(mode="json", include=set(SlaPolicySettable.model_fields))
    merged = apply_merge_patch(SlaPolicySettable, document=current, patch=patch)
    if_match.require(row.version)  # after validation: bad input is a 422
    await service.change_policy(session, row, merged, at=clock.now())
    response.headers["ETag"] = etag(row.version)
    return _policy_out(row)
