"""Request and response bodies of a user's access actions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints, model_validator

from onboarding_service.fields import Reason, Strict
from onboarding_service.users.schemas import UserOut
from supportops_events.onboarding import AccessAction

ExternalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f]+$"
    ),
]
"""An id another system gave (a ticket, a request): printable, no spaces."""


class AccessActionIn(Strict):
    action: AccessAction
    reason: Reason | None = None
    ticket_id: ExternalId | None = None
    """The support ticket this action is for: the outcome is then also published as
    ``access.action_completed`` / ``access.action_rejected`` for that ticket."""
    request_id: ExternalId | None = None
    """With ``ticket_id``: the request's id (generated when omitted); each is performed
    at most once, like the command's ``request_id``."""

    @model_validator(mode="after")
    def _request_needs_ticket(self) -> AccessActionIn:
        if self.request_id is not None and self.ticket_id is None:
            raise ValueError("request_id applies only together with ticket_id")
        return self


class AccessActionOut(BaseModel):
    action: AccessAction
    user: UserOut
    invitation_token: str | None = None
    """A new activation token, for ``resend_activation``."""
    ticket_id: str | None = None
    request_id: str | None = None
    """The id the outcome events carry, when a ticket was named."""
