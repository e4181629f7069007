"""``Idempotency-Key`` for POSTs that create or charge: replay the first response.

The key row is inserted in the request's own transaction. A second request with the
same key blocks on that insert until the first commits (PostgreSQL's unique-index
wait), then sees the stored response and replays it: two concurrent requests produce
one effect. If the first request fails, its transaction and key row roll back and a
retry runs afresh.

The typed way in an endpoint (no ignore comments; the route keeps its ``response_model``)::

    await idem.start(session, body)          # a replay raises Replayed: the stored
    out = ...                                # response is sent, the endpoint stops
    return await idem.complete(session, out, status_code=201)   # returns ``out``, typed

``begin`` (returning the replay response or ``None``) stays for code that must handle
the replay itself (billing's ``run_idempotent``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import CurrentPrincipal, Principal
from servicekit.errors import Conflict, SendResponse, Unprocessable
from servicekit.tables import idempotency_keys

REPLAY_HEADER = "Idempotent-Replayed"

T = TypeVar("T")


class Replayed(SendResponse):
    """Raised by ``Idempotency.start`` on a replay; the kit's handler (installed by
    ``install_problem_handlers``) sends ``response``, the first request's answer."""


def request_fingerprint(payload: Any) -> str:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    canonical = json.dumps(jsonable_encoder(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Idempotency:
    def __init__(self, *, key: str | None, scope: str) -> None:
        self.key = key
        self.scope = scope
        self._claimed = False

    async def begin(self, session: AsyncSession, payload: Any) -> JSONResponse | None:
        """Claim the key; returns the stored response when this is a replay."""
        if self.key is None:
            return None
        fingerprint = request_fingerprint(payload)
        claimed = await session.execute(
            insert(idempotency_keys)
            .values(scope=self.scope, key=self.key, request_hash=fingerprint)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        )
        if claimed.first() is not None:
            self._claimed = True
            return None
        row = (
            await session.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.scope == self.scope, idempotency_keys.c.key == self.key
                )
            )
        ).one()
        if row.request_hash != fingerprint:
            raise Unprocessable(
                "this Idempotency-Key was already used with a different request body",
                code="idempotency-key-reused",
                field="Idempotency-Key",
            )
        if row.status_code is None:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress",
                code="idempotency-key-in-progress",
            )
        headers = dict(row.response_headers or {})
        headers[REPLAY_HEADER] = "true"
        return JSONResponse(row.response_body, status_code=row.status_code, headers=headers)

    async def start(self, session: AsyncSession, payload: Any) -> None:
        """Claim the key; on a replay raise ``Replayed`` (the stored response is sent)."""
        replay = await self.begin(session, payload)
        if replay is not None:
            raise Replayed(replay)

    async def complete(
        self,
        session: AsyncSession,
        body: T,
        *,
        status_code: int = 201,
        headers: dict[str, str] | None = None,
    ) -> T:
        """Store the response to replay; returns ``body`` for the endpoint to return."""
        if self.key is not None and self._claimed:
            await session.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.scope == self.scope, idempotency_keys.c.key == self.key)
                .values(
                    status_code=status_code,
                    response_body=jsonable_encoder(body),
                    response_headers=headers or {},
                )
            )
        return body


async def get_idempotency(
    request: Request,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Replays of the same key return the first response",
        ),
    ] = None,
) -> Idempotency:
    # The concrete path (not the route template): one key on two resources is two scopes.
    return Idempotency(
        key=idempotency_key, scope=_scope(principal, request.method, request.url.path)
    )


def _scope(principal: Principal, method: str, path: str) -> str:
    return f"{principal.subject}|{method} {path}"[:512]


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
