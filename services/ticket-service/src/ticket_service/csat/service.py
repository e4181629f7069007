"""CSAT: the survey link sent on each solve, its signed token, and one rating per solve.

The link carries a token that names one ticket, one solve of it and an expiry time,
signed with HMAC-SHA256 under a key derived from ``TICKET_CSAT_SECRET``. The token is
the customer's credential for that one survey (as the signature is for a webhook): it
cannot be made for another ticket or solve, or made to last longer, without the key.

Key rotation: a token (v3) names the id of its key (a fingerprint of the key, so there
are no ids to manage). New links are signed with ``TICKET_CSAT_SECRET``; links signed
with a secret listed in ``TICKET_CSAT_PREVIOUS_SECRETS`` keep working until they expire,
so a previous secret can be dropped ``TICKET_CSAT_SURVEY_VALID_DAYS`` after a rotation.
Links from before key ids (v2) are checked against every configured secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound, ProblemError, Unprocessable
from supportops_events.tickets import TicketChannel
from ticket_service.config import TicketSettings
from ticket_service.csat import repository
from ticket_service.models import CsatResponse, Ticket
from ticket_service.templates.service import send_approved_reply, ticket_variables
from ticket_service.tickets.status import Solved
from ticket_service.tickets.timeline import SYSTEM, system_note

_CONTEXT = b"ticket-service csat v2"  # the key derivation, unchanged by token v3
_VERSION = "v3"
_LEGACY_VERSION = "v2"
SESSION_INFO_KEY = "ticket_service.csat_links"
"""Where the app and the CLI put the ``SurveyLinks`` of their settings on each session."""
SURVEY_TEMPLATE = "csat_survey"


class SurveyExpired(ProblemError):
    status, code, title = 410, "survey-expired", "Survey link expired"


@dataclass(frozen=True)
class SurveyLinks:
    """How survey links are signed and built: the key, the URL and how long they last."""

    secret: str
    url_template: str
    valid_for: timedelta
    previous_secrets: tuple[str, ...] = ()
    """Secrets rotated out: their links are still read until they expire."""

    @classmethod
    def from_settings(cls, settings: TicketSettings) -> SurveyLinks:
        return cls(
            secret=settings.csat_secret or settings.jwt_secret,
            url_template=settings.csat_survey_url,
            valid_for=timedelta(days=settings.csat_survey_valid_days),
            previous_secrets=tuple(settings.csat_previous_secrets),
        )

    def url(self, token: str) -> str:
        return self.url_template.replace("{token}", token)


def links_of(session: AsyncSession) -> SurveyLinks:
    links = session.info.get(SESSION_INFO_KEY)
    if isinstance(links, SurveyLinks):
        return links
    # a session made outside the app and the CLI: the settings of the environment
    return SurveyLinks.from_settings(TicketSettings())


@dataclass(frozen=True)
class SurveyClaim:
    """What a valid token says: this ticket's solve at ``solved_at``, until ``expires_at``."""

    ticket_id: uuid.UUID
    solved_at: datetime
    expires_at: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def key_id(secret: str) -> str:
    """The public id of a secret's key: a short fingerprint (reveals nothing usable)."""
    return _b64(hashlib.sha256(b"csat key id|" + _key(secret)).digest()[:6])


def survey_token(*, secret: str, claim: SurveyClaim) -> str:
    payload = "|".join(
        (
            _VERSION,
            key_id(secret),
            str(claim.ticket_id),
            claim.solved_at.isoformat(),
            claim.expires_at.isoformat(),
        )
    ).encode()
    signature = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def _signed_by(payload: bytes, signature: bytes, secret: str) -> bool:
    expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return hmac.compare_digest(signature, expected)


def claim_for(ticket: Ticket, links: SurveyLinks) -> SurveyClaim:
    assert ticket.solved_at is not None
    solved_at = ticket.solved_at.astimezone(UTC)  # one token per solve, whatever the zone
    return SurveyClaim(
        ticket_id=ticket.id, solved_at=solved_at, expires_at=solved_at + links.valid_for
    )


def read_token(*, secret: str, token: str, previous: tuple[str, ...] = ()) -> SurveyClaim:
    """The claim of a genuine token, signed with ``secret`` or one of the ``previous``
    ones; 422 ``invalid-token`` for anything else."""
    invalid = Unprocessable("the survey token is not valid", code="invalid-token", field="token")
    try:
        encoded_payload, encoded_signature = token.split(".", 1)
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
        fields = payload.decode().split("|")
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise invalid from exc
    secrets = (secret, *previous)
    if fields[0] == _VERSION and len(fields) == 5:
        # the key id picks the one key to check: no trying of every key
        keys = [s for s in secrets if hmac.compare_digest(key_id(s), fields[1])]
        fields = fields[2:]
    elif fields[0] == _LEGACY_VERSION and len(fields) == 4:
        keys, fields = list(secrets), fields[1:]
    else:
        raise invalid
    if not any(_signed_by(payload, signature, k) for k in keys):
        raise invalid
    try:
        raw_id, raw_solved, raw_expires = fields
        claim = SurveyClaim(
            ticket_id=uuid.UUID(raw_id),
            solved_at=datetime.fromisoformat(raw_solved),
            expires_at=datetime.fromisoformat(raw_expires),
        )
    except ValueError as exc:
        raise invalid from exc
    return claim


async def survey_ticket(
    session: AsyncSession, *, links: SurveyLinks, token: str, now: datetime, for_update: bool
) -> tuple[Ticket, SurveyClaim]:
    """The ticket a token may rate now: 422 forged, 410 expired, 409 superseded."""
    claim = read_token(secret=links.secret, token=token, previous=links.previous_secrets)
    ticket = await repository.get_ticket(session, claim.ticket_id, for_update=for_update)
    if ticket is None:
        raise Unprocessable("the survey token is not valid", code="invalid-token", field="token")
    if ticket.solved_at != claim.solved_at:
        raise Conflict(
            "this survey belongs to an earlier solve of the ticket; a newer survey was sent",
            code="survey-superseded",
        )
    if now >= claim.expires_at:
        raise SurveyExpired(
            f"the survey could be answered until {claim.expires_at.isoformat()}",
            expires_at=claim.expires_at.isoformat(),
        )
    return ticket, claim


async def record_rating(
    session: AsyncSession,
    *,
    ticket: Ticket,
    claim: SurveyClaim,
    rating: int,
    comment: str | None,
    at: datetime,
) -> CsatResponse:
    response = await repository.add_response_once(
        session, ticket=ticket, solved_at=claim.solved_at, rating=rating, comment=comment, at=at
    )
    if response is None:
        raise Conflict("this survey was already answered", code="survey-answered")
    return response


async def send_survey(session: AsyncSession, *, ticket: Ticket, at: datetime) -> None:
    """On solve: send the customer the survey link, as a public message on the timeline.

    Proactive tickets (opened by the system, e.g. a billing follow-up) get none: the
    customer asked for nothing there.
    """
    if ticket.channel == TicketChannel.proactive.value or ticket.solved_at is None:
        return
    links = links_of(session)
    claim = claim_for(ticket, links)
    url = links.url(survey_token(secret=links.secret, claim=claim))
    try:
        await send_approved_reply(
            session,
            ticket=ticket,
            key=SURVEY_TEMPLATE,
            values={
                **ticket_variables(ticket),
                "survey_url": url,
                "expires_on": claim.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            },
            actor=SYSTEM,
            at=at,
            action="csat_survey_sent",
            data={
                "solved_at": claim.solved_at.isoformat(),
                "expires_at": claim.expires_at.isoformat(),
            },
        )
    except (NotFound, Unprocessable) as exc:
        # a broken survey template must not stop the solve: say so where agents look
        await system_note(
            session,
            ticket=ticket,
            action="csat_survey_not_sent",
            body="the satisfaction survey could not be sent",
            reason=exc.detail,
            at=at,
        )


async def on_ticket_solved(solved: Solved) -> None:
    """The ``ticket_solved`` hook's handler (added at app start): send the survey."""
    await send_survey(solved.session, ticket=solved.ticket, at=solved.at)


async def response_to(
    session: AsyncSession, *, ticket: Ticket, claim: SurveyClaim
) -> CsatResponse | None:
    """The customer's answer to the survey of ``claim``'s solve, if given."""
    return await repository.response_to(session, ticket_id=ticket.id, solved_at=claim.solved_at)
