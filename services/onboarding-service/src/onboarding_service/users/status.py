"""A user's status and role, and how they map onto the event catalog's (the status machine
itself is ``users.service.set_user_status``)."""

from __future__ import annotations

from enum import StrEnum

from supportops_events import onboarding as ev


class UserStatus(StrEnum):
    invited = "invited"
    active = "active"
    inactive = "inactive"
    """No sign-in for ``inactive_after_days``; a sign-in makes the user active again."""
    locked = "locked"
    deactivated = "deactivated"


TRANSITIONS: dict[UserStatus, frozenset[UserStatus]] = {
    UserStatus.invited: frozenset({UserStatus.active, UserStatus.deactivated}),
    UserStatus.active: frozenset({UserStatus.inactive, UserStatus.locked, UserStatus.deactivated}),
    UserStatus.inactive: frozenset({UserStatus.active, UserStatus.locked, UserStatus.deactivated}),
    UserStatus.locked: frozenset({UserStatus.active, UserStatus.deactivated}),
    UserStatus.deactivated: frozenset({UserStatus.active}),
}
"""Where each status may go (``users.service.set_user_status`` has one case per arrow);
a refusal names them (``allowed``)."""


class UserRole(StrEnum):
    admin = "admin"
    member = "member"


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
