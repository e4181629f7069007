"""Dependencies shared by the feature routers: who may call, and the If-Match contract."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict

from servicekit.auth import Principal, Role, require_roles

Operator = Annotated[Principal, Depends(require_roles(Role.onboarding))]
"""Onboarding specialists (admin always passes)."""
Reader = Annotated[
    Principal, Depends(require_roles(Role.onboarding, Role.agent, Role.billing, Role.service))
]
IdentitySystem = Annotated[Principal, Depends(require_roles(Role.service))]
"""The identity system reporting sign-ins and lockouts."""
OperatorOrService = Annotated[Principal, Depends(require_roles(Role.onboarding, Role.service))]


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
