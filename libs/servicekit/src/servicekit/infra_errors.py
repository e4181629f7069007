"""One classification of infrastructure errors: the database or the broker is away.

An infrastructure error says nothing about the request or the event being handled: the
same work succeeds once PostgreSQL or Kafka is back. So consumers retry it without
limit (never dead-letter it), requests answer ``503`` with ``Retry-After`` (never
``500``), and everything else (a bug, a constraint violation, bad data) keeps its own
path. See docs/decisions/0005-dura-infrastructure-errors.md.

Errors arrive bare (asyncpg raises ``ConnectionRefusedError`` or
``CannotConnectNowError`` while SQLAlchemy's pool connects) or wrapped (SQLAlchemy's
``DBAPIError`` around asyncpg's error, with the asyncpg error as ``__cause__`` of the
adapter's ``orig``), so the chain of ``orig`` and ``__cause__`` is walked.
"""

from __future__ import annotations

import socket

import asyncpg
from aiokafka import errors as kafka_errors
from sqlalchemy import exc as sa_exc

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many
# connections, disk full, out of memory).
INFRA_SQLSTATE_CLASSES = ("08", "53")
# Class 57 (operator intervention) is partly infrastructure: admin shutdown (57P01),
# crash shutdown (57P02), cannot connect now (57P03: starting up, shutting down,
# recovering), idle session timeout (57P05). 57014 (query canceled, e.g. a statement
# timeout) is not: it is the query's own doing.
INFRA_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05"})

_ASYNCPG_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)

# Kafka transport errors that aiokafka does not mark ``retriable`` but that only mean
# "the broker is not reachable right now".
_KAFKA_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.BrokerNotAvailableError,
)

# OSErrors that are about files, not sockets: a handler's own bug, not an outage.
_FILESYSTEM_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

_MAX_CHAIN = 12


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what it wraps (``orig``) and what caused it (``__cause__``)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < _MAX_CHAIN:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            todo.append(orig)
        if current.__cause__ is not None:
            todo.append(current.__cause__)
    return seen


def infrastructure_sqlstate(sqlstate: object) -> bool:
    """Whether a SQLSTATE means "the database is not available", not "the query is wrong"."""
    if not isinstance(sqlstate, str) or len(sqlstate) != 5:
        return False
    return sqlstate.startswith(INFRA_SQLSTATE_CLASSES) or sqlstate in INFRA_SQLSTATES


def _is_infra_one(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # the pool could not hand out a connection in time, or a checked-out one was dead
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if infrastructure_sqlstate(getattr(exc, "sqlstate", None)):
        return True
    if isinstance(exc, _ASYNCPG_CONNECTION_ERRORS):
        return True
    if isinstance(exc, asyncpg.exceptions.InterfaceError):
        # "connection is closed" / "connection was closed in the middle of operation";
        # other InterfaceErrors are misuse (two operations at once), a bug.
        return "closed" in str(exc).lower()
    if isinstance(exc, kafka_errors.KafkaError):
        return bool(getattr(exc, "retriable", False)) or isinstance(exc, _KAFKA_TRANSPORT_ERRORS)
    if isinstance(exc, socket.gaierror | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, _FILESYSTEM_ERRORS)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) means PostgreSQL or Kafka is unavailable."""
    return any(_is_infra_one(e) for e in _chain(exc))


def describe(exc: BaseException) -> str:
    """A short, safe name of the underlying infrastructure error, for logs and headers."""
    # the deepest one: asyncpg's own error rather than the adapter's translation of it
    found = [e for e in _chain(exc) if _is_infra_one(e)]
    return type(found[-1] if found else exc).__name__
