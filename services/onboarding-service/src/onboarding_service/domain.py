"""The service's own value sets and how they map onto the event catalog's."""

from __future__ import annotations

from enum import StrEnum

from supportops_events import onboarding as ev


class TenantStatus(StrEnum):
    onboarding = "onboarding"
    active = "active"
    suspended = "suspended"
    churned = "churned"


class UserStatus(StrEnum):
    invited = "invited"
    active = "active"
    inactive = "inactive"
    """No sign-in for ``inactive_after_days``; a sign-in makes the user active again."""
    locked = "locked"
    deactivated = "deactivated"


class UserRole(StrEnum):
    admin = "admin"
    member = "member"


def event_tenant_status(status: TenantStatus | str) -> ev.TenantStatus:
    """The catalog knows pending/active/suspended; churned tenants are blocked for good."""
    match TenantStatus(status):
        case TenantStatus.onboarding:
            return ev.TenantStatus.pending
        case TenantStatus.active:
            return ev.TenantStatus.active
        case TenantStatus.suspended | TenantStatus.churned:
            return ev.TenantStatus.suspended


def event_user_status(status: UserStatus | str) -> ev.UserStatus:
    """``inactive`` users can still sign in, so the catalog sees them as active."""
    match UserStatus(status):
        case UserStatus.inactive | UserStatus.active:
            return ev.UserStatus.active
        case UserStatus.invited:
            return ev.UserStatus.invited
        case UserStatus.locked:
            return ev.UserStatus.locked
        case UserStatus.deactivated:
            return ev.UserStatus.deactivated
