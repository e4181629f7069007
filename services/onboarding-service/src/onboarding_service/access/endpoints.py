"""``POST /v1/users/{id}/actions``: an admin performs an access action (MFA reset,
reactivate, unlock, resend activation) with the rules of support's
``access.action_requested`` command."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from onboarding_service.access import service as access
from onboarding_service.access.schemas import AccessActionIn, AccessActionOut
from onboarding_service.deps import SettingsDep
from onboarding_service.users import service as users
from onboarding_service.users.schemas import user_out
from servicekit.authz import owned
from servicekit.clock import ClockDep
from servicekit.deps import SessionDep
from servicekit.errors import Conflict, problem_response
from servicekit.roles import Operator

router = APIRouter(prefix="/v1", tags=["users"])


@router.post(
    "/users/{user_id}/actions",
    dependencies=[
        owned(
            path={"user_id": "user"},
            exempt={
                "ticket_id": "the ticket-service ticket the command answers (recorded, never read)",
                "request_id": "the requesting service's own request id",
            },
        )
    ],
    summary="Perform an access action (same rules as access.action_requested)",
    response_model=AccessActionOut,
    responses={
        409: {"description": "rejected (with reasons), or the request_id was handled before"}
    },
)
async def access_action(
    user_id: uuid.UUID,
    body: AccessActionIn,
    request: Request,
    session: SessionDep,
    principal: Operator,
    clock: ClockDep,
    settings: SettingsDep,
) -> AccessActionOut | JSONResponse:
    await users.get_user(session, principal, user_id)
    ticket_id = body.ticket_id
    request_id: str | None = None
    if ticket_id is not None:
        request_id = body.request_id or f"rest-{uuid.uuid4()}"
        if (earlier := await access.already_handled(session, request_id)) is not None:
            raise Conflict(
                f"access request {request_id} was already handled",
                code="access-request-handled",
                request_id=request_id,
                outcome=earlier.outcome,
                reasons=earlier.reasons,
            )
    user, token, refused = await access.perform_admin_action(
        session,
        user_id=user_id,
        action=body.action,
        by=principal.subject,
        reason=body.reason,
        ticket_id=ticket_id,
        request_id=request_id,
        now=clock.now(),
        invitation_ttl=timedelta(hours=settings.invitation_ttl_hours),
    )
    if refused is not None:
        if ticket_id is None:
            raise refused
        # The ticket heard about the refusal, so it must commit: answer, do not raise.
        return problem_response(refused.to_problem(instance=request.url.path))
    assert user is not None
    return AccessActionOut(
        action=body.action,
        user=user_out(user),
        invitation_token=token,
        ticket_id=ticket_id,
        request_id=request_id,
    )
