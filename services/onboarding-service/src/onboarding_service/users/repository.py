"""Every query on users and memberships."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service import repository as base
from onboarding_service.models import User
from onboarding_service.users.status import UserRole, UserStatus
from servicekit.pagination import PageParams, SortParams, count_rows, paginate


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await base.get(session, User, user_id)


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user row FOR UPDATE (after its tenant's: one lock order everywhere)."""
    return await base.lock(session, User, user_id)


async def add_user(session: AsyncSession, user: User) -> None:
    await base.add(session, user)


async def delete_user(session: AsyncSession, user: User) -> None:
    await base.delete(session, user)


async def list_users(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    status: UserStatus | None,
    role: UserRole | None,
    page: PageParams,
    sort: SortParams,
) -> tuple[list[User], str | None, int]:
    """One page of a tenant's users in ``sort`` order (newest first by default), and how
    many match (bounded by the tenant's seats and its deactivated users: cheap)."""
    stmt = select(User).where(User.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(User.status == status.value)
    if role is not None:
        stmt = stmt.where(User.role == role.value)
    rows, cursor = await paginate(
        session, stmt, keys=[User.created_at, User.id], params=page, direction=sort.direction
    )
    return list(rows), cursor, await count_rows(session, stmt)


def owner_query(user_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The tenant a user belongs to: for ``servicekit.authz``."""
    return select(User.tenant_id).where(User.id == user_id)


async def seats_in_use(session: AsyncSession, *, tenant_id: uuid.UUID, now: datetime) -> int:
    """Members holding a seat: everyone not deactivated, pending invitations included
    (expired ones no longer hold a seat)."""
    holding = or_(
        User.status.in_([UserStatus.active, UserStatus.inactive, UserStatus.locked]),
        and_(User.status == UserStatus.invited, User.invitation_expires_at > now),
    )
    count = await session.scalar(
        select(func.count()).select_from(User).where(User.tenant_id == tenant_id, holding)
    )
    return int(count or 0)


async def active_admins(
    session: AsyncSession, *, tenant_id: uuid.UUID, excluding: uuid.UUID
) -> int:
    """Admins of the tenant who can sign in, other than ``excluding``."""
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.tenant_id == tenant_id,
            User.id != excluding,
            User.role == UserRole.admin.value,
            User.status.in_([UserStatus.active.value, UserStatus.inactive.value]),
        )
    )
    return int(count or 0)


async def find_by_email(session: AsyncSession, *, tenant_id: uuid.UUID, email: str) -> User | None:
    result = await session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.email == email.lower())
    )
    return result.first()


async def find_by_token_hash(session: AsyncSession, token_hash: str) -> User | None:
    result = await session.scalars(select(User).where(User.invitation_token_hash == token_hash))
    return result.first()
