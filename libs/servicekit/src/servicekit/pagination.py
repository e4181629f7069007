"""Cursor (keyset) pagination: stable order, no duplicates or gaps across pages."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from servicekit.errors import BadRequest

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    total: int | None = Field(
        default=None,
        description="How many rows match the list's filters (exact), on lists where counting "
        "is cheap (bounded or small tables); absent elsewhere",
    )


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class SortParams:
    """``?sort=created_at`` (oldest first) or ``?sort=-created_at`` (newest first)."""

    key: str
    direction: Literal["asc", "desc"]


def sort_param(*keys: str, default: str = "-created_at") -> Any:
    """A dependency reading the optional ``sort`` query parameter of a list: one of
    ``keys``, ``-`` in front for descending (newest first for ``created_at``, the default of
    every resource list). An unknown key is a 400 ``invalid-sort`` naming it. Only keys
    backed by an index (ending in the primary key) are offered, so both directions are
    keyset-paginated index scans."""
    accepted = ", ".join(k for key in keys for k in (key, f"-{key}"))

    description = f"Order of the list: {accepted} (default `{default}`; `-` is descending)"

    # the Query() default form: an ``Annotated`` closure value would be a string
    # annotation (``from __future__``) FastAPI cannot resolve
    async def sort_params(
        sort: str | None = Query(None, max_length=64, description=description),
    ) -> SortParams:
        raw = default if sort is None else sort
        key = raw.removeprefix("-")
        if key not in keys:
            raise BadRequest(
                f"unknown sort key {key!r} (accepted: {accepted})",
                code="invalid-sort",
                field="sort",
            )
        return SortParams(key=key, direction="desc" if raw.startswith("-") else "asc")

    return Depends(sort_params)


SortDep = Annotated[SortParams, sort_param("created_at")]
"""The ``sort`` of a resource list ordered by creation (``created_at``, then the id)."""


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "dt":
            return datetime.fromisoformat(raw)
        if tag == "d":
            return date.fromisoformat(raw)
        if tag == "u":
            return uuid.UUID(raw)
        if tag == "n":
            return Decimal(raw)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, expected_len: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != expected_len:
            raise ValueError("wrong shape")
        return [_decode_value(v) for v in values]
    except (ValueError, binascii.Error, json.JSONDecodeError, TypeError) as exc:
        raise BadRequest(
            "the cursor is not valid for this list", code="invalid-cursor", field="cursor"
        ) from exc


def _value_fits(value: Any, key: InstrumentedAttribute[Any]) -> bool:
    try:
        expected = key.type.python_type
    except (NotImplementedError, AttributeError):
        return True
    if value is None:
        return True
    if expected is float and isinstance(value, int):
        return True
    if expected is int:  # a bool is not a key value; PostgreSQL's bigint is the bound
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
    if expected is datetime:  # a naive timestamp against timestamptz is a database error
        return isinstance(value, datetime) and value.tzinfo is not None
    if expected is str:  # PostgreSQL text cannot hold NUL
        return isinstance(value, str) and "\x00" not in value
    return isinstance(value, expected)


def check_cursor(values: Sequence[Any], keys: Sequence[InstrumentedAttribute[Any]]) -> None:
    """A forged cursor must be a 400 ``invalid-cursor``, never a database error: each
    value must fit its key column (type, timezone-aware timestamps, bigint range, no NUL)."""
    if not all(_value_fits(v, k) for v, k in zip(values, keys, strict=True)):
        raise BadRequest(
            "the cursor is not valid for this list", code="invalid-cursor", field="cursor"
        )


async def count_rows(session: AsyncSession, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` matches (its order and limit dropped): the ``total`` of a
    list, for lists where a count is cheap."""
    counted = select(func.count()).select_from(stmt.order_by(None).limit(None).subquery())
    return int(await session.scalar(counted) or 0)


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    keys: Sequence[InstrumentedAttribute[Any]],
    params: PageParams,
    direction: Literal["asc", "desc"] = "asc",
) -> tuple[list[Any], str | None]:
    """Run ``stmt`` (selecting ORM entities) one page at a time.

    ``keys`` must identify a row uniquely (end with the primary key) so the order is
    total: that is what makes pages free of duplicates and gaps even while rows are
    inserted between requests.
    """
    if params.cursor:
        # the cursor names the order it was issued in: continuing it in the other order
        # would silently skip or repeat rows, so that is a 400
        order, *after = decode_cursor(params.cursor, len(keys) + 1)
        if order != direction:
            raise BadRequest(
                "the cursor continues a list in the other order: send the same sort with it",
                code="invalid-cursor",
                field="cursor",
            )
        check_cursor(after, keys)
        cmp = tuple_(*keys) > tuple_(*after)
        if direction == "desc":
            cmp = tuple_(*keys) < tuple_(*after)
        stmt = stmt.where(cmp)
    order = [k.asc() if direction == "asc" else k.desc() for k in keys]
    stmt = stmt.order_by(*order).limit(params.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor([direction, *(getattr(last, k.key) for k in keys)])
    return rows, next_cursor
