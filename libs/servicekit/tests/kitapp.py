"""A small service built with the kit, used to test the kit through HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.app import ServiceDefinition, create_service_app
from servicekit.auth import Principal, Role, require_roles
from servicekit.authz import Owner, Ownership, owned, owner_of
from servicekit.db import ServiceBase, make_metadata
from servicekit.deps import SessionDep
from servicekit.errors import NotFound
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import Page, PageDep, paginate
from servicekit.settings import ServiceSettings


class KitSettings(ServiceSettings):
    service_name = "kit-test"
    env_prefix = "KITTEST_"


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata()


class Item(Base):
    __tablename__ = "items"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ItemIn(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    rank: int = Field(default=0, ge=0)


class ItemOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    name: str
    rank: int


Agent = Annotated[Principal, Depends(require_roles(Role.agent))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]

router = APIRouter(prefix="/v1")
CALLS = {"create": 0}

# Object-level authorization (servicekit.authz): this test app keeps no tenant registry,
# so every tenant exists; an item belongs to its tenant.
ownership = Ownership()


@ownership.resolver("tenant")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    return value


@ownership.resolver("item")
async def item_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, select(Item.tenant_id).where(Item.id == uuid.UUID(value)))


@router.post("/items", status_code=201, dependencies=[owned(body={"tenant_id": "tenant"})])
async def create_item(
    body: ItemIn, session: SessionDep, principal: Agent, idem: IdempotencyDep
) -> ItemOut:
    await idem.start(session, body)
    principal.ensure_tenant(body.tenant_id, resource="tenant")
    CALLS["create"] += 1
    item = Item(tenant_id=body.tenant_id, name=body.name, rank=body.rank)
    session.add(item)
    await session.flush()
    out = ItemOut.model_validate(item, from_attributes=True)
    return await idem.complete(session, out, status_code=201)


@router.get("/items", dependencies=[owned(query={"tenant_id": "tenant"})])
async def list_items(
    session: SessionDep,
    principal: Agent,
    page: PageDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[ItemOut]:
    stmt = select(Item)
    tenant = principal.tenant_filter(tenant_id)
    if tenant is not None:
        stmt = stmt.where(Item.tenant_id == tenant)
    rows, cursor = await paginate(session, stmt, keys=[Item.rank, Item.id], params=page)
    return Page[ItemOut](
        items=[ItemOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )


@router.get("/items/{item_id}", dependencies=[owned(path={"item_id": "item"})])
async def get_item(item_id: uuid.UUID, session: SessionDep, principal: Agent) -> ItemOut:
    item = await session.get(Item, item_id)
    if item is None:
        raise NotFound("item not found")
    principal.ensure_tenant(item.tenant_id, resource="item")
    return ItemOut.model_validate(item, from_attributes=True)


@router.post(
    "/items/fail-after-write",
    status_code=201,
    dependencies=[owned(body={"tenant_id": "tenant"})],
)
async def fail_after_write(body: ItemIn, session: SessionDep, principal: Agent) -> ItemOut:
    session.add(Item(tenant_id=body.tenant_id, name=body.name))
    await session.flush()
    raise NotFound("deliberately failing after a flushed write")


@router.get("/admin-only")
async def admin_only(principal: Admin) -> dict[str, str]:
    return {"subject": principal.subject}


@router.get("/boom")
async def boom(principal: Agent) -> dict[str, str]:
    raise RuntimeError("secret internals: password=hunter2")


def definition(settings: KitSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="kit-test",
        settings=settings,
        routers=[router],
        produces=["tickets.events"],
        ownership=ownership,
    )


@contextlib.asynccontextmanager
async def served_client(
    settings: KitSettings, *extra: APIRouter
) -> AsyncIterator[httpx.AsyncClient]:
    """The kit app with ``extra`` routers, started, its producer booted (its boot runs on
    the same loop: a test timing requests or the loop would count it otherwise), and a
    client on it that gets the app's 500 answers instead of its exceptions."""
    defn = definition(settings)
    defn.routers = [*defn.routers, *extra]
    app: FastAPI = create_service_app(defn)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        await asyncio.wait_for(app.state.kafka.ready.wait(), 30)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
            yield client


def now() -> datetime:
    return datetime.now(UTC)


# --- event backbone fixtures ------------------------------------------------------------


from servicekit.consumer import EventRouter, Received, Reject
from servicekit.outbox import publish
from supportops_events.tickets import (
    Requester,
    TicketChannel,
    TicketCreated,
    TicketPriority,
    TicketStatus,
)


class Effect(Base):
    """One row per handled event: duplicates here would be double effects."""

    __tablename__ = "effects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    handled_by: Mapped[str] = mapped_column(String(64), default="")


def ticket_created(tenant_id: str, seq: int, *, subject: str | None = None) -> TicketCreated:
    return TicketCreated(
        tenant_id=tenant_id,
        ticket_id=f"tkt-{tenant_id}-{seq}",
        status=TicketStatus.new,
        subject=subject or f"seq-{seq}",
        requester=Requester(email="pat@example.com", name="Pat"),
        channel=TicketChannel.email,
        priority=TicketPriority.normal,
        created_at=now(),
    )


def effect_router(handled_by: str = "") -> EventRouter:
    events = EventRouter()

    @events.on(TicketCreated)
    async def on_created(session: AsyncSession, received: Received[TicketCreated]) -> None:
        data = received.data  # typed: no isinstance needed
        if data.subject == "poison":
            raise ValueError("this event always fails")
        if data.subject == "reject":
            raise Reject("not processable")
        session.add(
            Effect(
                event_id=received.id,
                tenant_id=data.tenant_id,
                seq=int(data.ticket_id.rsplit("-", 1)[1]),
                handled_by=handled_by,
            )
        )
        await session.flush()

    return events


class ItemEventIn(BaseModel):
    tenant_id: str
    seq: int = 0


@router.post(
    "/items/with-event", status_code=202, dependencies=[owned(body={"tenant_id": "tenant"})]
)
async def create_with_event(
    body: ItemEventIn, session: SessionDep, principal: Agent
) -> dict[str, str]:
    envelope = await publish(session, ticket_created(body.tenant_id, body.seq))
    return {"event_id": envelope.id}


# --- literal request fields (servicekit.fields) -------------------------------------------

from servicekit.fields import AwareIsoDateTime, IsoDate, IsoDateTime, LocalTime, StrictBool


class ReminderIn(BaseModel):
    at: IsoDateTime
    confirmed_at: AwareIsoDateTime | None = None
    daily_at: LocalTime | None = None
    on: IsoDate | None = None
    urgent: StrictBool = False


@router.post("/reminders")
async def echo_reminder(body: ReminderIn, principal: Agent) -> ReminderIn:
    return body


@router.get("/reminders")
async def reminders_after(
    principal: Agent, after: Annotated[IsoDateTime | None, Query()] = None
) -> dict[str, str | None]:
    return {"after": after.isoformat() if after else None}


def without_database(settings: KitSettings) -> KitSettings:
    """The same service pointed at a port where no PostgreSQL listens (and no relay):
    every request that needs the database meets an infrastructure error."""
    from throwaway_pg import free_port

    return settings.model_copy(
        update={
            "database_url": f"postgresql+asyncpg://supportops:supportops@127.0.0.1:{free_port()}/x",
            "run_relay": False,
        }
    )
