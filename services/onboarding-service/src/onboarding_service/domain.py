"""The service's own value sets and how they map onto the event catalog's."""

from __future__ import annotations

from enum import StrEnum

from supportops_events import onboarding as ev


class TenantStatus(StrEnum):
    onboarding = "onboarding"
    """Created, not live yet (the catalog's ``pending``)."""
    active = "active"
    suspended = "suspended"
    churned = "churned"
    """The customer left for good: terminal."""


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
    """The catalog calls an onboarding tenant ``pending``; the other statuses match."""
    match TenantStatus(status):
        case TenantStatus.onboarding:
            return ev.TenantStatus.pending
        case TenantStatus.active:
            return ev.TenantStatus.active
        case TenantStatus.suspended:
            return ev.TenantStatus.suspended
        case TenantStatus.churned:
            return ev.TenantStatus.churned


def event_user_status(status: UserStatus | str) -> ev.UserStatus:
    """The service's user statuses are the catalog's."""
    match UserStatus(status):
        case UserStatus.active:
            return ev.UserStatus.active
        case UserStatus.inactive:
            return ev.UserStatus.inactive
        case UserStatus.invited:
            return ev.UserStatus.invited
        case UserStatus.locked:
            return ev.UserStatus.locked
        case UserStatus.deactivated:
            return ev.UserStatus.deactivated
