"""The QA tracker adapter interface: where an escalated bug becomes QA's issue."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackerIssue:
    """What a tracker needs to file an issue for a bug."""

    bug_id: str
    key: str
    title: str
    summary: str
    steps: list[str]
    expected: str
    actual: str
    environment: dict[str, object]
    severity: str
    link: str
    linked_ticket_ids: list[str] = field(default_factory=list)


class QaTracker(ABC):
    """A QA tracker; ``create_issue`` returns the tracker's issue key, if it has one."""

    name: str

    @abstractmethod
    async def create_issue(self, issue: TrackerIssue) -> str | None: ...

    async def aclose(self) -> None:
        """Release connections; called when the app stops."""
        return None


class InternalTracker(QaTracker):
    """The default: QA works in this service's own API, nothing to create elsewhere."""

    name = "internal"

    async def create_issue(self, issue: TrackerIssue) -> str | None:
        return None
