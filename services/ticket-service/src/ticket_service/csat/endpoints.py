"""CSAT surveys: the customer answers through the signed link sent on solve; agents can
read the link of a ticket's last solve.

``/v1/csat-surveys/{token}`` and ``/v1/csat-responses`` take no bearer token: the signed
survey token is the credential, the way a webhook's signature is. It opens exactly one
survey (one ticket, one solve) until it expires, and is spent by the first answer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.authz import SIGNED_LINK, owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import Conflict
from servicekit.roles import AgentOrService
from supportops_events.tickets import ReplyAuthor
from ticket_service.csat.service import (
    SurveyLinks,
    claim_for,
    record_rating,
    response_to,
    survey_ticket,
    survey_token,
)
from ticket_service.models import Ticket
from ticket_service.tickets.service import load_ticket
from ticket_service.tickets.timeline import Actor, add_entry

router = APIRouter(tags=["csat"])
Token = Annotated[str, Path(min_length=10, max_length=500, description="The signed token")]


class SurveyOut(BaseModel):
    ticket_id: uuid.UUID
    solved_at: datetime
    expires_at: datetime
    token: str
    url: str
    answered: bool


class SurveyView(BaseModel):
    """What the survey page shows the customer."""

    ticket_id: uuid.UUID
    subject: str
    solved_at: datetime
    expires_at: datetime
    answered: bool
    rating: int | None
    comment: str | None


class AnswerIn(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=5000)


class RatingIn(AnswerIn):
    token: str = Field(min_length=10, max_length=500)


class RatingOut(BaseModel):
    ticket_id: uuid.UUID
    rating: int
    comment: str | None
    created_at: datetime


def _links(request: Request) -> SurveyLinks:
    return SurveyLinks.from_settings(request.app.state.settings)


@router.get(
    "/v1/tickets/{ticket_id}/csat-survey",
    dependencies=[owned(path={"ticket_id": "ticket"})],
    summary="The survey link of the ticket's last solve (as sent to the customer)",
)
async def get_survey(
    ticket_id: uuid.UUID, request: Request, session: SessionDep, principal: AgentOrService
) -> SurveyOut:
    ticket = await load_ticket(session, ticket_id, principal=principal)
    if ticket.solved_at is None:
        raise Conflict("the ticket is not solved", code="not-solved")
    links = _links(request)
    claim = claim_for(ticket, links)
    token = survey_token(secret=links.secret, claim=claim)
    answered = await response_to(session, ticket=ticket, claim=claim)
    return SurveyOut(
        ticket_id=ticket.id,
        solved_at=claim.solved_at,
        expires_at=claim.expires_at,
        token=token,
        url=links.url(token),
        answered=answered is not None,
    )


@router.get(
    "/v1/csat-surveys/{token}",
    dependencies=[owned(exempt={"token": SIGNED_LINK})],
    summary="The survey a signed link opens (no bearer token: the link is the credential)",
)
async def view_survey(
    token: Token, request: Request, session: SessionDep, clock: ClockDep
) -> SurveyView:
    ticket, claim = await survey_ticket(
        session, links=_links(request), token=token, now=clock.now(), for_update=False
    )
    answer = await response_to(session, ticket=ticket, claim=claim)
    return SurveyView(
        ticket_id=ticket.id,
        subject=ticket.subject,
        solved_at=claim.solved_at,
        expires_at=claim.expires_at,
        answered=answer is not None,
        rating=answer.rating if answer else None,
        comment=answer.comment if answer else None,
    )


async def _answer(
    session: AsyncSession,
    *,
    links: SurveyLinks,
    token: str,
    answer: AnswerIn,
    at: datetime,
) -> RatingOut:
    ticket, claim = await survey_ticket(session, links=links, token=token, now=at, for_update=True)
    response = await record_rating(
        session, ticket=ticket, claim=claim, rating=answer.rating, comment=answer.comment, at=at
    )
    await _note_rating(session, ticket=ticket, answer=answer, at=at)
    return RatingOut(
        ticket_id=ticket.id,
        rating=response.rating,
        comment=response.comment,
        created_at=response.created_at,
    )


async def _note_rating(
    session: AsyncSession, *, ticket: Ticket, answer: AnswerIn, at: datetime
) -> None:
    await add_entry(
        session,
        ticket=ticket,
        kind="system",
        actor=Actor(kind=ReplyAuthor.customer, id=ticket.requester_email),
        at=at,
        action="csat_rated",
        body=f"customer satisfaction: {answer.rating}/5",
        reason=answer.comment,
        data={"rating": answer.rating, "solved_at": ticket.solved_at.isoformat()}
        if ticket.solved_at
        else {"rating": answer.rating},
    )


@router.post(
    "/v1/csat-surveys/{token}",
    dependencies=[owned(exempt={"token": SIGNED_LINK})],
    status_code=201,
    summary="Answer a survey (1-5 and a comment), once per solve; the link is the credential",
)
async def answer_survey(
    token: Token, body: AnswerIn, request: Request, session: SessionDep, clock: ClockDep
) -> RatingOut:
    return await _answer(session, links=_links(request), token=token, answer=body, at=clock.now())


@router.post(
    "/v1/csat-responses",
    status_code=201,
    summary="Answer a survey with the token in the body (same rules as /v1/csat-surveys)",
)
async def rate(body: RatingIn, request: Request, session: SessionDep, clock: ClockDep) -> RatingOut:
    return await _answer(
        session, links=_links(request), token=body.token, answer=body, at=clock.now()
    )
