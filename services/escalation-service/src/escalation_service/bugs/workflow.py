"""The bug state machine: which transitions exist and which event each one publishes."""

from __future__ import annotations

from enum import StrEnum

from escalation_service.bugs.schemas import BugState
from servicekit.errors import InvalidTransition
from supportops_events.escalation import BugResolution, BugStatus

S = BugState


class TransitionEvent(StrEnum):
    """The one catalog event a transition publishes."""

    reproducing = "bug.reproducing"
    reproduced = "bug.reproduced"
    cannot_reproduce = "bug.cannot_reproduce"
    needs_info = "bug.needs_info"
    escalated = "bug.escalated"
    in_progress = "bug.in_progress"
    resolved = "bug.resolved"
    verified = "bug.verified"
    reopened = "bug.reopened"
    closed = "bug.closed"


OPEN_BEFORE_FIX = (
    S.reported,
    S.reproducing,
    S.reproduced,
    S.cannot_reproduce,
    S.needs_info,
    S.escalated,
    S.in_progress,
    S.reopened,
)
"""States from which a bug may still be declared ``wont_fix``."""


def transition_event(previous: BugState, current: BugState) -> TransitionEvent:
    """The event of ``previous → current``; a 409 problem when the move is not allowed."""
    event = _allowed(previous, current)
    if event is None:
        raise InvalidTransition(
            "bug",
            current=previous.value,
            requested=current.value,
            allowed=[s.value for s in allowed_targets(previous)],
        )
    return event


def allowed_targets(previous: BugState) -> list[BugState]:
    return [target for target in BugState if _allowed(previous, target) is not None]


def _allowed(previous: BugState, current: BugState) -> TransitionEvent | None:
    match (previous, current):
        case (S.reported | S.needs_info | S.cannot_reproduce | S.reopened, S.reproducing):
            return TransitionEvent.reproducing
        case (S.reproducing, S.reproduced):
            return TransitionEvent.reproduced
        case (S.reproducing, S.cannot_reproduce):
            return TransitionEvent.cannot_reproduce
        case (S.reported | S.reproducing | S.reopened, S.needs_info):
            return TransitionEvent.needs_info
        case (S.reproduced, S.escalated):
            return TransitionEvent.escalated
        case (S.escalated, S.in_progress):
            return TransitionEvent.in_progress
        case (S.escalated | S.in_progress, S.fixed):
            return TransitionEvent.resolved
        case (S.fixed, S.verified):
            return TransitionEvent.verified
        case (S.verified | S.wont_fix | S.cannot_reproduce, S.closed):
            return TransitionEvent.closed
        case (prev, S.wont_fix) if prev in OPEN_BEFORE_FIX:
            return TransitionEvent.resolved
        case (S.fixed | S.verified | S.closed | S.wont_fix | S.cannot_reproduce, S.reopened):
            return TransitionEvent.reopened
        case _:
            return None


def event_status(state: BugState) -> BugStatus:
    """Our state as the catalog's ``BugStatus``: the same name, except ``fixed``, which
    the catalog calls ``resolved`` (fixed, not verified yet)."""
    match state:
        case S.fixed:
            return BugStatus.resolved
        case _:
            return BugStatus(state.value)


def is_after_fix(state: BugState, resolution: str | None) -> bool:
    """Whether a new customer report of this bug is a regression: it was fixed (and
    perhaps verified or closed as fixed). ``wont_fix`` and ``cannot_reproduce`` were never
    fixed, so a new ticket there is only linked."""
    match state:
        case S.fixed | S.verified:
            return True
        case S.closed:
            return resolution == BugResolution.fixed.value
        case _:
            return False
