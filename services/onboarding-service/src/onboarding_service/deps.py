"""Dependencies shared by the feature routers: who may call, and the If-Match contract."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header
from pydantic import BaseModel, ConfigDict

from servicekit.auth import Principal, Role, require_roles
from servicekit.errors import PreconditionFailed, PreconditionRequired

Operator = Annotated[Principal, Depends(require_roles(Role.onboarding))]
"""Onboarding specialists (admin always passes)."""
Reader = Annotated[
    Principal, Depends(require_roles(Role.onboarding, Role.agent, Role.billing, Role.service))
]
IdentitySystem = Annotated[Principal, Depends(require_roles(Role.service))]
"""The identity system reporting sign-ins and lockouts."""
OperatorOrService = Annotated[Principal, Depends(require_roles(Role.onboarding, Role.service))]

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=64,
        description="The ETag of the resource as last read; required on updates",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, *, version: int, required: bool) -> None:
    """428 when required and missing, 412 when it names another version."""
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "send If-Match with the ETag you last read", code="if-match-required"
            )
        return
    candidates = [c.strip() for c in if_match.split(",")]
    if "*" in candidates:
        return
    for candidate in candidates:
        # lenient about quoting: a bare version number names the same ETag
        if candidate.removeprefix("W/").strip('"') == str(version):
            return
    raise PreconditionFailed(
        "the resource changed since you read it", code="etag-mismatch", current_etag=etag(version)
    )


class Problem(BaseModel):
    """RFC 9457 problem details; extension members (``errors``, ``reasons``…) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": Problem.model_json_schema()}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed request (e.g. an invalid cursor or If-Match)"),
    401: _problem("Missing or invalid bearer token"),
    403: _problem("The token lacks a role, or is confined to another tenant"),
    404: _problem("Not found (or another tenant's)"),
    409: _problem("Conflict or a transition that is not allowed"),
    412: _problem("If-Match names a stale version"),
    422: _problem("Invalid input; `errors` names each field"),
    428: _problem("If-Match is required"),
}
"""What every onboarding endpoint may answer besides success and 422."""
