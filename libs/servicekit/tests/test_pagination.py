"""Cursor pagination: stable order, no duplicates or gaps, even with inserts between pages."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import kitapp
import pytest
from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from test_auth import assert_problem

from servicekit.db import Database
from servicekit.errors import BadRequest
from servicekit.pagination import check_cursor, decode_cursor, encode_cursor
from servicekit.testing import auth


async def seed(db: Database, n: int, *, rank_mod: int = 3, prefix: str = "i") -> None:
    async with db.unit_of_work() as session:
        for i in range(n):
            session.add(kitapp.Item(tenant_id="t", name=f"{prefix}{i}", rank=i % rank_mod))


async def walk(client: httpx.AsyncClient, limit: int, between=None) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = await client.get("/v1/items", params=params, headers=auth("agent"))
        assert resp.status_code == 200
        page = resp.json()
        assert len(page["items"]) <= limit
        seen.extend(i["id"] for i in page["items"])
        pages += 1
        if between is not None and pages == 1:
            await between()
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_pages_cover_every_row_exactly_once_in_order(
    client: httpx.AsyncClient, db: Database
) -> None:
    await seed(db, 23)
    ids = await walk(client, limit=5)
    assert len(ids) == 23
    assert len(set(ids)) == 23
    whole = await client.get("/v1/items", params={"limit": 100}, headers=auth("agent"))
    assert [i["id"] for i in whole.json()["items"]] == ids
    ranks = [i["rank"] for i in whole.json()["items"]]
    assert ranks == sorted(ranks)


async def test_rows_inserted_between_pages_cause_no_duplicates(
    client: httpx.AsyncClient, db: Database
) -> None:
    await seed(db, 10)

    async def insert_more() -> None:
        await seed(db, 5, prefix="late")

    ids = await walk(client, limit=4, between=insert_more)
    assert len(ids) == len(set(ids))
    assert len(ids) >= 10  # every original row is still seen


async def test_exact_multiple_of_limit_ends_cleanly(
    client: httpx.AsyncClient, db: Database
) -> None:
    await seed(db, 6)
    first = (await client.get("/v1/items", params={"limit": 3}, headers=auth("agent"))).json()
    second = (
        await client.get(
            "/v1/items",
            params={"limit": 3, "cursor": first["next_cursor"]},
            headers=auth("agent"),
        )
    ).json()
    assert len(second["items"]) == 3
    assert second["next_cursor"] is None


async def test_tampered_cursor_is_a_400_problem(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/items", params={"cursor": "%%%garbage"}, headers=auth("agent"))
    assert_problem(resp, 400, "invalid-cursor")
    wrong_shape = encode_cursor([1])
    resp = await client.get("/v1/items", params={"cursor": wrong_shape}, headers=auth("agent"))
    assert_problem(resp, 400, "invalid-cursor")


def test_cursor_round_trips_typed_values() -> None:
    import uuid
    from datetime import UTC, datetime

    values = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), uuid.uuid4(), 7, "x"]
    assert decode_cursor(encode_cursor(values), 4) == values


async def test_forged_cursor_with_wrong_types_is_400(client: httpx.AsyncClient) -> None:
    forged = encode_cursor(["x", "y"])  # keys are (rank: int, id: uuid)
    resp = await client.get("/v1/items", params={"cursor": forged}, headers=auth("agent"))
    assert_problem(resp, 400, "invalid-cursor")


class _CursorBase(DeclarativeBase):
    pass


class _CursorRow(_CursorBase):
    __tablename__ = "cursor_rows"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    name: Mapped[str] = mapped_column(String(20))


def test_a_cursor_must_fit_every_key_column() -> None:
    Row = _CursorRow
    keys = [Row.at, Row.name, Row.id]
    check_cursor([datetime(2026, 1, 1, tzinfo=UTC), "a", 5], keys)
    for forged in (
        [datetime(2026, 1, 1), "a", 5],  # naive timestamp
        [datetime(2026, 1, 1, tzinfo=UTC), "a\x00b", 5],  # NUL in text
        [datetime(2026, 1, 1, tzinfo=UTC), "a", 2**70],  # beyond bigint
        [datetime(2026, 1, 1, tzinfo=UTC), "a", True],  # a bool is no id
        ["yesterday", "a", 5],
    ):
        with pytest.raises(BadRequest) as caught:
            check_cursor(forged, keys)
        assert caught.value.code == "invalid-cursor", forged
        assert caught.value.extras["field"] == "cursor"
