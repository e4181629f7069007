"""``/v1/business-calendars`` and ``/v1/sla-policies``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.authz import GLOBAL_CONFIG, owned
from servicekit.deps import SessionDep
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.etag import IfMatchHeader, etag
from servicekit.idempotency import IdempotencyDep
from servicekit.merge_patch import MergePatch, apply_merge_patch, merge_patch_route
from servicekit.pagination import Page, PageDep, paginate
from ticket_service.clock import ClockDep
from ticket_service.models import BusinessCalendarRow, SlaPolicy, Ticket
from ticket_service.roles import Admin, AgentOnly
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
from ticket_service.sla.service import refresh_many

router = APIRouter(tags=["sla"])
CalendarId = Annotated[str, Path(min_length=1, max_length=64)]
MAX_HOLIDAYS = 2000  # twenty years of a busy feed


def _calendar_out(row: BusinessCalendarRow) -> BusinessCalendarOut:
    return BusinessCalendarOut.model_validate(row, from_attributes=True)


def _policy_out(row: SlaPolicy) -> SlaPolicyOut:
    return SlaPolicyOut.model_validate(row, from_attributes=True)


async def _flush(session: AsyncSession, conflict: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict, code="already-exists") from exc


async def _calendar(session: AsyncSession, calendar_id: str) -> BusinessCalendarRow:
    row = await session.get(BusinessCalendarRow, calendar_id)
    if row is None:
        raise NotFound("business calendar not found")
    return row


@router.get("/v1/business-calendars", summary="Business calendars")
async def list_calendars(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[BusinessCalendarOut]:
    rows, cursor = await paginate(
        session, select(BusinessCalendarRow), keys=[BusinessCalendarRow.id], params=page
    )
    return Page[BusinessCalendarOut](items=[_calendar_out(r) for r in rows], next_cursor=cursor)


@router.post(
    "/v1/business-calendars",
    dependencies=[owned(exempt={"id": GLOBAL_CONFIG})],
    status_code=201,
    summary="Add a calendar (admin)",
)
async def create_calendar(
    body: BusinessCalendarIn, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> BusinessCalendarOut:
    await idem.start(session, body)
    row = BusinessCalendarRow(
        **body.model_dump(exclude={"workdays", "holidays"}),
        workdays=sorted(set(body.workdays)),
        holidays=sorted(set(body.holidays)),
        version=1,
    )
    session.add(row)
    await _flush(session, "a calendar with this id exists")
    return await idem.complete(session, _calendar_out(row), status_code=201)


@router.get(
    "/v1/business-calendars/{calendar_id}",
    dependencies=[owned(exempt={"calendar_id": GLOBAL_CONFIG})],
    summary="One business calendar",
)
async def get_calendar(
    calendar_id: CalendarId, session: SessionDep, principal: AgentOnly, response: Response
) -> BusinessCalendarOut:
    row = await _calendar(session, calendar_id)
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
    principal: Admin,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> BusinessCalendarOut:
    row = await _calendar(session, calendar_id)
    current = _calendar_out(row).model_dump(
        mode="json", include=set(BusinessCalendarSettable.model_fields)
    )
    merged = apply_merge_patch(BusinessCalendarSettable, document=current, patch=patch)
    if_match.require(row.version)  # after validation: bad input is a 422
    row.name, row.timezone = merged.name, merged.timezone
    row.opens, row.closes = merged.opens, merged.closes
    row.workdays = sorted(set(merged.workdays))
    row.holidays = sorted(set(merged.holidays))
    if merged.holiday_country != row.holiday_country:
        row.holiday_country = merged.holiday_country
        row.holidays_refreshed_at = None  # the next scheduler run adds the new country's
    row.version += 1
    await session.flush()
    # every open ticket's deadlines move with the calendar, in this transaction
    await refresh_many(session, at=clock())
    response.headers["ETag"] = etag(row.version)
    return _calendar_out(row)


def _ical_problem(message: str, code: str) -> Unprocessable:
    return Unprocessable(
        message,
        code=code,
        errors=[{"field": "ical", "in": "body", "message": message, "code": code}],
    )


@router.post(
    "/v1/business-calendars/{calendar_id}/holiday-imports",
    dependencies=[owned(exempt={"calendar_id": GLOBAL_CONFIG})],
    summary="Add the days of an iCal feed as holidays (admin, If-Match)",
)
async def import_ical_holidays(
    calendar_id: CalendarId,
    body: IcalImportIn,
    session: SessionDep,
    principal: Admin,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> BusinessCalendarOut:
    row = await _calendar(session, calendar_id)
    if_match.require(row.version)
    try:
        days = dates_from_ical(body.ical, timezone=row.timezone)
    except InvalidCalendarFeed as exc:
        raise _ical_problem(str(exc), "invalid-ical") from exc
    merged = set(row.holidays or []) | days
    if len(merged) > MAX_HOLIDAYS:
        raise _ical_problem(
            f"a calendar holds at most {MAX_HOLIDAYS} holidays", "too-many-holidays"
        )
    if merged != set(row.holidays or []):
        row.holidays = sorted(merged)
        row.version += 1
        await session.flush()
        await refresh_many(session, at=clock())
    response.headers["ETag"] = etag(row.version)
    return _calendar_out(row)


@router.get("/v1/sla-policies", summary="SLA policies")
async def list_policies(
    session: SessionDep, principal: AgentOnly, page: PageDep
) -> Page[SlaPolicyOut]:
    rows, cursor = await paginate(
        session,
        select(SlaPolicy),
        keys=[SlaPolicy.plan_tier, SlaPolicy.priority, SlaPolicy.id],
        params=page,
    )
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
    principal: Admin,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> SlaPolicyOut:
    await idem.start(session, body)
    await _calendar(session, body.calendar_id)
    row = SlaPolicy(
        id=uuid.uuid4(),
        plan_tier=body.plan_tier,
        priority=body.priority.value,
        first_response_minutes=body.first_response_minutes,
        next_response_minutes=body.next_response_minutes or body.first_response_minutes,
        resolution_minutes=body.resolution_minutes,
        calendar_id=body.calendar_id,
        version=1,
    )
    session.add(row)
    await _flush(session, "a policy for this tier and priority exists")
    await refresh_many(session, at=clock(), where=[Ticket.priority == row.priority])
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
    principal: Admin,
    response: Response,
    clock: ClockDep,
    if_match: IfMatchHeader,
) -> SlaPolicyOut:
    row = await session.get(SlaPolicy, policy_id)
    if row is None:
        raise NotFound("SLA policy not found")
    current = _policy_out(row).model_dump(mode="json", include=set(SlaPolicySettable.model_fields))
    merged = apply_merge_patch(SlaPolicySettable, document=current, patch=patch)
    if_match.require(row.version)  # after validation: bad input is a 422
    if merged.calendar_id != row.calendar_id:
        await _calendar(session, merged.calendar_id)
    row.calendar_id = merged.calendar_id
    row.first_response_minutes = merged.first_response_minutes
    row.next_response_minutes = merged.next_response_minutes or merged.first_response_minutes
    row.resolution_minutes = merged.resolution_minutes
    row.version += 1
    await session.flush()
    await refresh_many(session, at=clock(), where=[Ticket.priority == row.priority])
    response.headers["ETag"] = etag(row.version)
    return _policy_out(row)
