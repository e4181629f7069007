"""CSAT surveys: the signed survey link of a solved ticket, and the customer's rating."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from servicekit.deps import SessionDep
from servicekit.errors import Conflict
from ticket_service.clock import ClockDep
from ticket_service.csat.service import record_rating, survey_token
from ticket_service.roles import TicketReader
from ticket_service.tickets.service import Actor, add_entry, load_ticket

router = APIRouter(tags=["csat"])


class SurveyOut(BaseModel):
    ticket_id: uuid.UUID
    solved_at: datetime
    token: str


class RatingIn(BaseModel):
    token: str = Field(min_length=10, max_length=500)
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=5000)


class RatingOut(BaseModel):
    ticket_id: uuid.UUID
    rating: int
    comment: str | None
    created_at: datetime


def _secret(request: Request) -> str:
    settings = request.app.state.settings
    return str(getattr(settings, "csat_secret", None) or settings.jwt_secret)


@router.get("/v1/tickets/{ticket_id}/csat-survey", summary="The survey token of the last solve")
async def get_survey(
    ticket_id: uuid.UUID, request: Request, session: SessionDep, principal: TicketReader
) -> SurveyOut:
    ticket = await load_ticket(session, ticket_id, principal=principal)
    if ticket.solved_at is None:
        raise Conflict("the ticket is not solved", code="not-solved")
    token = survey_token(secret=_secret(request), ticket_id=ticket.id, solved_at=ticket.solved_at)
    return SurveyOut(ticket_id=ticket.id, solved_at=ticket.solved_at, token=token)


@router.post("/v1/csat-responses", status_code=201, summary="Rate a solve (1-5), once per token")
async def rate(
    body: RatingIn,
    request: Request,
    session: SessionDep,
    principal: TicketReader,
    clock: ClockDep,
) -> RatingOut:
    at = clock()
    ticket, response = await record_rating(
        session,
        secret=_secret(request),
        token=body.token,
        rating=body.rating,
        comment=body.comment,
        at=at,
    )
    principal.ensure_tenant(ticket.tenant_id, resource="ticket")
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=Actor.of(principal),
        at=at,
        action="csat_rated",
        body=f"customer satisfaction: {body.rating}/5",
        reason=body.comment,
        data={"rating": body.rating},
    )
    return RatingOut(
        ticket_id=ticket.id,
        rating=response.rating,
        comment=response.comment,
        created_at=response.created_at,
    )
