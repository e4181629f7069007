"""What every ``user.*`` event carries, built from a user row."""

from __future__ import annotations

from typing import Any

from onboarding_service.models import User
from onboarding_service.users.status import event_user_status
from supportops_events import onboarding as ev


def user_fields(
    user: User, *, request_id: str | None = None, ticket_id: str | None = None
) -> dict[str, Any]:
    return {
        "tenant_id": str(user.tenant_id),
        "user_id": str(user.id),
        "email": user.email,
        "name": user.name,
        "status": event_user_status(user.status),
        "role": ev.UserRole(user.role),
        "request_id": request_id,
        "ticket_id": ticket_id,
    }
