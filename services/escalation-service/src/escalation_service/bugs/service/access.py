"""Who may see and change which bug: a tenant-scoped token sees the bugs affecting its
tenant, and changes only those first reported from it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository
from escalation_service.models import Bug
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound


async def visible_bug(
    session: AsyncSession,
    principal: Principal,
    bug_id: uuid.UUID,
    *,
    for_update: bool = False,
    to_change: bool = False,
) -> Bug:
    """The bug if the caller may see it: a tenant-scoped token sees the bugs affecting its
    tenant (404 otherwise, as if it did not exist). With ``to_change`` it must also be
    the tenant the bug was first reported from (403: it can see the bug, not change it)."""
    bug = await repository.get(session, bug_id, for_update=for_update)
    if bug is None:
        raise NotFound("bug not found")
    await _ensure_visible(session, principal, bug)
    if to_change and principal.tenant_id is not None and bug.tenant_id != principal.tenant_id:
        raise Forbidden(
            "this token may change only bugs first reported from its tenant",
            code="bug-of-another-tenant",
        )
    return bug


async def _ensure_visible(session: AsyncSession, principal: Principal, bug: Bug) -> None:
    tenant = principal.tenant_id
    if tenant is None or bug.tenant_id == tenant:
        return
    if not await repository.is_visible_to(session, bug.id, tenant):
        raise NotFound("bug not found")


async def visible_candidates(
    session: AsyncSession, principal: Principal, candidates: list[repository.Candidate]
) -> list[repository.Candidate]:
    """Only the candidates the caller may see (a tenant-scoped token: the bugs affecting
    its tenant; never another tenant's bug, not even its title)."""
    if principal.tenant_id is None:
        return candidates
    visible = await repository.visible_among(
        session, [c.bug.id for c in candidates], principal.tenant_id
    )
    return [c for c in candidates if c.bug.id in visible]


async def lock_pair_to_change(
    session: AsyncSession, principal: Principal, *, source_id: uuid.UUID, target_id: uuid.UUID
) -> tuple[Bug, Bug]:
    """Both bugs of a merge, locked in one stable order (no deadlock between two merges
    of the same pair), each one the caller may change."""
    locked = await repository.lock_all(session, [source_id, target_id])
    source, target = locked.get(source_id), locked.get(target_id)
    if source is None or target is None:
        raise NotFound("bug not found")
    for bug in (source, target):
        await visible_bug(session, principal, bug.id, to_change=True)
    return source, target
