"""The kit's keyset pagination, with cursor values checked against the key columns.

The kit decodes a cursor's values but does not check their types, so a forged cursor
(``["x", "y"]`` for a timestamp key) reached the database as a 500. Checked here: a
cursor whose values do not fit the keys is a 400 ``invalid-cursor``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from servicekit.errors import BadRequest
from servicekit.pagination import PageParams, decode_cursor, paginate


def _fits(value: Any, column: InstrumentedAttribute[Any]) -> bool:
    try:
        expected = column.type.python_type
    except NotImplementedError:
        return True
    if expected is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    if expected is uuid.UUID:
        return isinstance(value, uuid.UUID)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
    if expected is str:
        return isinstance(value, str) and "\x00" not in value
    return isinstance(value, expected)


async def page_of(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    keys: Sequence[InstrumentedAttribute[Any]],
    params: PageParams,
    direction: Literal["asc", "desc"] = "asc",
) -> tuple[list[Any], str | None]:
    if params.cursor:
        values = decode_cursor(params.cursor, len(keys))
        if not all(_fits(v, k) for v, k in zip(values, keys, strict=True)):
            raise BadRequest(
                "the cursor is not valid for this list", code="invalid-cursor", field="cursor"
            )
    return await paginate(session, stmt, keys=keys, params=params, direction=direction)
