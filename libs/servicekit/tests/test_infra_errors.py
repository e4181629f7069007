"""The infrastructure-error classification: each kind, bare and wrapped as SQLAlchemy wraps it."""

from __future__ import annotations

import types

import asyncpg
import pytest
from aiokafka import errors as kafka_errors
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_dbapi,
)

from servicekit.infra_errors import describe, is_infrastructure_error

DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)


def wrapped_by_sqlalchemy(error: BaseException, *, invalidated: bool = False) -> BaseException:
    """What a query sees: asyncpg's error translated by SQLAlchemy's asyncpg adapter
    (``raise translated from error``), then wrapped in ``DBAPIError.instance``."""
    fake_connection = types.SimpleNamespace(
        _connection=types.SimpleNamespace(is_closed=lambda: invalidated),
        _transaction=None,
        _started=False,
        dbapi=DBAPI,
    )
    try:
        try:
            raise error
        except Exception as raised:
            AsyncAdapt_asyncpg_connection._handle_exception(fake_connection, raised)  # type: ignore[arg-type]
    except Exception as adapted:
        return sa_exc.DBAPIError.instance(
            "SELECT 1", {}, adapted, DBAPI.Error, connection_invalidated=invalidated
        )
    raise AssertionError("the adapter did not raise")


def pg_error(cls: type[asyncpg.PostgresError], message: str) -> asyncpg.PostgresError:
    return cls(message)


INFRA_POSTGRES = [
    pg_error(asyncpg.exceptions.CannotConnectNowError, "the database system is shutting down"),
    pg_error(asyncpg.exceptions.CannotConnectNowError, "the database system is starting up"),
    pg_error(asyncpg.exceptions.AdminShutdownError, "terminating connection due to admin"),
    pg_error(asyncpg.exceptions.CrashShutdownError, "terminating connection: crash"),
    pg_error(asyncpg.exceptions.ConnectionDoesNotExistError, "connection was closed"),
    pg_error(asyncpg.exceptions.ConnectionFailureError, "connection failure"),
    pg_error(asyncpg.exceptions.PostgresConnectionError, "class 08"),
    pg_error(asyncpg.exceptions.TooManyConnectionsError, "sorry, too many clients already"),
    pg_error(asyncpg.exceptions.OutOfMemoryError, "out of memory"),
    pg_error(asyncpg.exceptions.DiskFullError, "could not extend file"),
]

NOT_INFRA_POSTGRES = [
    pg_error(asyncpg.exceptions.UniqueViolationError, "duplicate key"),
    pg_error(asyncpg.exceptions.ForeignKeyViolationError, "fk"),
    pg_error(asyncpg.exceptions.UndefinedTableError, "relation does not exist"),
    pg_error(asyncpg.exceptions.NumericValueOutOfRangeError, "out of range"),
    pg_error(asyncpg.exceptions.QueryCanceledError, "canceling statement due to timeout"),
    pg_error(asyncpg.exceptions.SerializationError, "could not serialize"),
]


@pytest.mark.parametrize("error", INFRA_POSTGRES, ids=lambda e: f"{type(e).__name__}")
def test_postgres_unavailability_is_infrastructure_bare_and_wrapped(error: Exception) -> None:
    assert is_infrastructure_error(error)
    wrapped = wrapped_by_sqlalchemy(error)
    assert isinstance(wrapped, sa_exc.DBAPIError)
    assert is_infrastructure_error(wrapped)
    assert describe(wrapped) == type(error).__name__


@pytest.mark.parametrize("error", NOT_INFRA_POSTGRES, ids=lambda e: f"{type(e).__name__}")
def test_query_errors_are_not_infrastructure_bare_or_wrapped(error: Exception) -> None:
    assert not is_infrastructure_error(error)
    assert not is_infrastructure_error(wrapped_by_sqlalchemy(error))


def test_the_issue_case_cannot_connect_now_wrapped_as_plain_dbapi_error() -> None:
    # asyncpg's 57P03 is translated to the adapter's generic Error: SQLAlchemy raises a
    # DBAPIError, not an OperationalError, which is why a tuple of classes missed it.
    wrapped = wrapped_by_sqlalchemy(
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")
    )
    assert type(wrapped) is sa_exc.DBAPIError
    assert is_infrastructure_error(wrapped)
    assert describe(wrapped) == "CannotConnectNowError"


def test_an_invalidated_connection_is_infrastructure_whatever_the_error() -> None:
    plain = sa_exc.DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True)
    assert is_infrastructure_error(plain)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
        ConnectionResetError(104, "reset by peer"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        TimeoutError(),
        sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
        sa_exc.DisconnectionError("connection invalidated"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_and_pool_errors_are_infrastructure(error: BaseException) -> None:
    assert is_infrastructure_error(error)
    # also as the cause of something else (e.g. raised while SQLAlchemy connects)
    with pytest.raises(sa_exc.OperationalError) as outer:
        try:
            raise error
        except BaseException as inner:
            raise sa_exc.OperationalError("connect", {}, inner) from inner
    assert is_infrastructure_error(outer.value)


@pytest.mark.parametrize(
    "error",
    [
        kafka_errors.KafkaConnectionError("no connection"),
        kafka_errors.NodeNotReadyError("node 1"),
        kafka_errors.RequestTimedOutError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NoBrokersAvailable(),
        kafka_errors.LeaderNotAvailableError(),
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.NotEnoughReplicasError(),
        kafka_errors.BrokerNotAvailableError(),
        kafka_errors.CoordinatorNotAvailableError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_kafka_transport_errors_are_infrastructure(error: BaseException) -> None:
    assert is_infrastructure_error(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad payload"),
        KeyError("missing"),
        FileNotFoundError("template.txt"),
        PermissionError("denied"),
        asyncpg.exceptions.InterfaceError("cannot perform operation: another operation"),
        kafka_errors.RecordTooLargeError(),
        kafka_errors.UnsupportedVersionError(),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")),
        sa_exc.DBAPIError("SELECT", {}, Exception("syntax")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bugs_and_bad_data_are_not_infrastructure(error: BaseException) -> None:
    assert not is_infrastructure_error(error)
