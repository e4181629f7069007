"""Database engine, sessions and the one commit point per request or message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class ServiceBase(DeclarativeBase):
    """Subclass once per service (with its own ``metadata = make_metadata()``)."""

    __abstract__ = True


class Database:
    """Owns the engine and session factory; built in the app lifespan, never at import."""

    def __init__(
        self, url: str, *, pool_size: int = 10, max_overflow: int | None = None, echo: bool = False
    ) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size if max_overflow is None else max_overflow,
            pool_pre_ping=True,
            echo=echo,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def asyncpg_dsn(self) -> str:
        """The URL as plain asyncpg understands it (for LISTEN/NOTIFY)."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on any error.

        This and the request dependency are the only places that commit; services and
        repositories only ``flush()``.
        """
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def row_to_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)
