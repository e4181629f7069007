"""Database engine, sessions and the one commit point per request or message."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

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


DEFAULT_PING_IDLE_SECONDS = 5.0
"""A pooled connection idle longer than this is pinged before it is handed out."""
DEFAULT_PING_TIMEOUT_SECONDS = 5.0
"""A ping unanswered this long counts as a dead connection (a silently dropped flow)."""

PING_QUERY = "SELECT 1"
"""Sent with the simple query protocol (an empty query would do, but asyncpg's
``execute`` expects a command tag back)."""

_IDLE_SINCE = "servicekit.idle_since"
"""Key in the pool entry's ``info``: when the connection went back to the pool. The pool
clears ``info`` whenever it opens a new connection for the entry, so a fresh connection
has no stamp and is never pinged."""


class _ReadSession:
    """The end of a read session (``Database.read_session``), as a plain class: a
    ``GET``'s session is opened on every request, and the generator-based context
    managers (``read_session`` over ``_committed`` over the session's own) were ~100
    Python calls of a ticket page, half of them a ``commit()`` that in autocommit sends
    nothing (docs/decisions/0042-one-guard-one-match.md).

    Without pending ORM changes there is nothing to commit: the statements ran in
    autocommit, so the session is only closed (its connection back to the pool). With
    some (a bug: a write on a ``GET``), it commits, so the flush reaches PostgreSQL and
    is refused there, loudly, as before. On an error it rolls back, like a unit of
    work."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        session = self.session
        try:
            if exc_type is not None:
                await session.rollback()
            elif session.new or session.dirty or session.deleted:
                await session.commit()
        finally:
            await session.__aexit__(None, None, None)  # closes it, shielded as usual


class Database:
    """Owns the engine and session factory; built in the app lifespan, never at import.

    Stale connections (docs/decisions/0037-idle-gated-ping.md): no per-checkout
    ``pool_pre_ping`` (with asyncpg it is ``BEGIN; ; ROLLBACK``, three round trips on
    every checkout). Instead, at checkout, a connection whose socket is already known
    closed is replaced (no round trip), one idle in the pool longer than
    ``ping_idle_seconds`` is pinged with one round trip and replaced if that fails, and
    a connection that breaks under a statement is handled optimistically: SQLAlchemy
    invalidates it and every pooled connection older than the error, and the request
    answers 503 (``infra_errors``).

    Reads (docs/decisions/0039-reads-without-a-transaction.md): ``read_engine`` is a
    second pool whose connections run each statement in autocommit (no ``BEGIN`` /
    ``COMMIT`` round trips) and on which PostgreSQL itself refuses writes
    (``default_transaction_read_only``); ``read_session()`` is what a ``GET`` gets.
    At READ COMMITTED every statement takes its own snapshot anyway, so a transaction
    around a read-only request bought no consistency. The pool is opened lazily: a
    process that serves no reads (a CLI, the relay) never connects it.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int | None = None,
        read_pool_size: int | None = None,
        echo: bool = False,
        ping_idle_seconds: float = DEFAULT_PING_IDLE_SECONDS,
        ping_timeout_seconds: float = DEFAULT_PING_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size if max_overflow is None else max_overflow,
            # the most recently returned connection is reused first: under steady
            # traffic it is never idle long enough to be pinged, and the spare ones age
            # (and are pinged, or closed by a server-side timeout) instead of being
            # rotated through
            pool_use_lifo=True,
            echo=echo,
        )
        install_stale_connection_check(
            self.engine, idle_seconds=ping_idle_seconds, timeout_seconds=ping_timeout_seconds
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        reads = pool_size if read_pool_size is None else read_pool_size
        self._read_pool_options: dict[str, Any] = {
            "pool_size": reads,
            "max_overflow": reads if max_overflow is None else max_overflow,
            "pool_use_lifo": True,
            "echo": echo,
        }
        self._ping = (ping_idle_seconds, ping_timeout_seconds)
        self._read_engine: AsyncEngine | None = None

    @property
    def read_engine(self) -> AsyncEngine:
        """The read-only autocommit pool, created on first use (same pool sizes, LIFO
        and idle-gated ping as ``engine``)."""
        if self._read_engine is None:
            engine = create_async_engine(
                self.url,
                isolation_level="AUTOCOMMIT",
                # PostgreSQL refuses any write (and FOR UPDATE, advisory xact locks'
                # writes…) on these connections: a write reached from a GET fails
                # loudly instead of being committed statement by statement
                connect_args={"server_settings": {"default_transaction_read_only": "on"}},
                **self._read_pool_options,
            )
            idle, timeout = self._ping
            install_stale_connection_check(engine, idle_seconds=idle, timeout_seconds=timeout)
            self._read_engine = engine
        return self._read_engine

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session on the read-only autocommit pool: one round trip per statement.

        Same session options (``info``: caches, the outbox source…) as
        ``sessionmaker``. ORM changes someone added on it are flushed when it ends, as a
        unit of work would, and refused by PostgreSQL rather than silently dropped.
        """
        return _ReadSession(self.sessionmaker(bind=self.read_engine))

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
        async with self._committed(self.sessionmaker()) as session:
            yield session

    @staticmethod
    @asynccontextmanager
    async def _committed(opened: AsyncSession) -> AsyncIterator[AsyncSession]:
        """The session's end, for a unit of work and a read session alike: commit on
        success, roll back on any error, close."""
        async with opened as session:
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
        if self._read_engine is not None:
            await self._read_engine.dispose()


CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


@asynccontextmanager
async def custom_plans(session: AsyncSession) -> AsyncIterator[None]:
    """The statements inside the block are planned for their own parameter values, never
    with a cached generic plan (``plan_cache_mode = force_custom_plan`` for the block).

    ``SET LOCAL`` lasts until the end of the transaction, and has no effect outside one:
    on a read session (autocommit) the block runs in a transaction of its own, opened
    with the setting in one round trip (``BEGIN; SET LOCAL …`` in the simple query
    protocol) and committed after it (three round trips for one search statement, one
    fewer than a unit of work with ``SET LOCAL``). In a unit of work it is plain
    ``SET LOCAL``.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    if not getattr(adapted, "autocommit", False):
        await session.execute(text(CUSTOM_PLANS))
        yield
        return
    driver = adapted.driver_connection  # type: ignore[union-attr]
    await driver.execute(f"BEGIN; {CUSTOM_PLANS}")
    try:
        yield
    except BaseException:
        try:
            await driver.execute("ROLLBACK")
        except BaseException:
            # cannot tell what state it is in: never hand it out again
            await connection.invalidate()
        raise
    await driver.execute("COMMIT")


def install_stale_connection_check(
    engine: AsyncEngine, *, idle_seconds: float, timeout_seconds: float
) -> None:
    """Replace stale pooled connections at checkout, cheaply (SQLAlchemy's documented
    hook for a custom ping: a ``checkout`` listener raising ``DisconnectionError``, on
    which the pool discards the connection and hands out a new one)."""

    def stamp_idle(dbapi_connection: DBAPIConnection | None, entry: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:
            entry.info[_IDLE_SINCE] = time.monotonic()

    def check_stale(
        dbapi_connection: DBAPIConnection,
        entry: ConnectionPoolEntry,
        proxy: PoolProxiedConnection,
    ) -> None:
        idle_since = entry.info.get(_IDLE_SINCE)
        if idle_since is None:
            return  # just opened
        driver = getattr(dbapi_connection, "driver_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            # asyncpg saw the server close it while it sat in the pool (a restart,
            # pg_terminate_backend, idle_session_timeout): no need to ask. Only this
            # one is replaced; the others are checked the same way when their turn comes.
            raise sa_exc.DisconnectionError("the connection was closed while idle in the pool")
        if time.monotonic() - idle_since < idle_seconds:
            return
        run_async = getattr(dbapi_connection, "run_async", None)
        if run_async is None:
            return  # not an asyncio driver: nothing cheaper to do than use it
        try:
            # one round trip of the simple query protocol: no BEGIN/ROLLBACK around it,
            # no prepared statement (so it is also safe behind PgBouncer in transaction
            # mode, the reason SQLAlchemy's asyncpg ping wraps itself in a transaction)
            run_async(lambda conn: conn.execute(PING_QUERY, timeout=timeout_seconds))
        except Exception as exc:
            # as SQLAlchemy's own pre-ping: a failed ping most likely means the server
            # went away, so every connection older than now is replaced when next used
            raise sa_exc.InvalidatePoolError(
                f"the connection idle in the pool did not answer a ping: {exc!r}"
            ) from exc

    event.listen(engine.sync_engine, "checkin", stamp_idle)
    event.listen(engine.sync_engine, "checkout", check_stale)


def row_to_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)
