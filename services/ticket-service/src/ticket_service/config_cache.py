"""The per-process cache of configuration: triage rules, SLA policies and calendars, and
the agents' roster (who is available for which queue).

Configuration changes rarely and is read by every ticket create and get, so it is
loaded once per process and reloaded only when it changed. Triggers set the single row
of ``config_version`` to the id of every transaction that changes one of these tables;
a request reads that version inside a statement it makes anyway (the account's plan
tier, the ticket itself) and reloads only on a mismatch. A check per request rather than
LISTEN/NOTIFY: a change committed by any replica is seen by the very next request, and
no listener connection can miss a notification while reconnecting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.agents import repository as agents_repository
from ticket_service.models import ConfigVersion
from ticket_service.sla.policy import PolicyBook
from ticket_service.triage import repository as triage_repository
from ticket_service.triage.engine import Rule, rules_of

CONFIG_CACHE_KEY = "ticket_service.config_cache"


@dataclass(frozen=True)
class RosterAgent:
    id: str
    available: bool
    queues: frozenset[str]


@dataclass(frozen=True)
class Configuration:
    version: int | None
    rules: Sequence[Rule]
    book: PolicyBook
    roster: Sequence[RosterAgent]

    def candidates(self, queue: str) -> list[str]:
        """The available agents of ``queue`` (their loads are read live)."""
        return [a.id for a in self.roster if a.available and queue in a.queues]


VERSION_QUERY = select(ConfigVersion.version).where(ConfigVersion.id == 1)


def version_column() -> ScalarSelect[Any]:
    """The configuration version as a column to add to a statement made anyway."""
    return VERSION_QUERY.scalar_subquery()


class ConfigCache:
    """One per app (in the session info); safe on one event loop: a reload is atomic
    (the new ``Configuration`` replaces the old one in one assignment)."""

    def __init__(self) -> None:
        self._current: Configuration | None = None
        self.loads = 0

    async def get(self, session: AsyncSession, *, version: int | None) -> Configuration:
        current = self._current
        if current is not None and version is not None and current.version == version:
            return current
        loaded = await load_configuration(session, version=version)
        self.loads += 1
        self._current = loaded
        return loaded


async def load_configuration(session: AsyncSession, *, version: int | None) -> Configuration:
    agents = await agents_repository.roster(session)
    return Configuration(
        version=version,
        rules=rules_of(await triage_repository.enabled_rules(session)),
        book=await PolicyBook.load(session),
        roster=[
            RosterAgent(id=a.id, available=a.available, queues=frozenset(a.queues or []))
            for a in agents
        ],
    )


async def configuration(session: AsyncSession, *, version: int | None = None) -> Configuration:
    """The current configuration, from the process's cache when the session has one.

    ``version``: the value of ``version_column()`` read by the caller in the same
    request; without it, one small statement reads it.
    """
    if version is None:
        version = await session.scalar(VERSION_QUERY)
    cache = session.info.get(CONFIG_CACHE_KEY)
    if isinstance(cache, ConfigCache):
        return await cache.get(session, version=version)
    return await load_configuration(session, version=version)
