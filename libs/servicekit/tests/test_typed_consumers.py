"""Typed consumers: ``EventRouter.on(Model)`` hands the handler ``Received[Model]``; the
deprecated envelope style keeps working; the app's clock reaches the handler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.app import ServiceDefinition, create_service_app
from servicekit.consumer import EventRouter, Received, Reject
from servicekit.settings import ServiceSettings
from servicekit.testing import TestClock, payload
from supportops_events import Envelope
from supportops_events.onboarding import TenantActivated, TenantCreated
from supportops_events.samples import sample
from supportops_events.tickets import TicketCreated

T0 = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
SESSION = cast(AsyncSession, object())  # these handlers never touch the database


def envelope_of(event_type: str, **fields: object) -> Envelope:
    return Envelope.new(sample(event_type, **fields), source="test", subject="subj-1")


async def test_a_typed_handler_gets_the_payload_and_the_envelope_attributes() -> None:
    seen: list[Received[TicketCreated]] = []
    router = EventRouter(clock=TestClock(T0))

    @router.on(TicketCreated)
    async def handle(session: AsyncSession, received: Received[TicketCreated]) -> None:
        seen.append(received)

    env = envelope_of("ticket.created", tenant_id="t-1")
    await router.handlers["ticket.created"](SESSION, env)
    [got] = seen
    assert got.data.ticket_id == payload(env, TicketCreated).ticket_id  # typed attribute
    assert (got.id, got.type, got.source, got.subject) == (env.id, env.type, "test", "subj-1")
    assert (got.time, got.tenant_id) == (env.time, "t-1")
    assert got.correlation_id == env.correlation_id and got.causation_id == env.causation_id
    assert got.envelope is env
    assert got.clock.now() == T0
    with pytest.raises(AttributeError):
        got.data = got.data  # type: ignore[misc]  # frozen: handlers cannot swap payloads


async def test_one_handler_for_several_models_gets_a_union() -> None:
    kinds: list[str] = []
    router = EventRouter()

    @router.on(TenantCreated, TenantActivated)
    async def handle(
        session: AsyncSession, received: Received[TenantCreated | TenantActivated]
    ) -> None:
        match received.data:
            case TenantCreated():
                kinds.append("created")
            case TenantActivated():
                kinds.append("activated")

    await router.handlers["tenant.created"](SESSION, envelope_of("tenant.created"))
    await router.handlers["tenant.activated"](SESSION, envelope_of("tenant.activated"))
    assert kinds == ["created", "activated"]
    assert set(router.handlers) == {"tenant.created", "tenant.activated"}


async def test_the_deprecated_envelope_style_still_works() -> None:
    got: list[Envelope] = []
    router = EventRouter()

    @router.on(TicketCreated)
    async def legacy(session: AsyncSession, envelope: Envelope) -> None:
        got.append(envelope)

    @router.on_envelope(TenantCreated)
    async def explicit(session: AsyncSession, envelope: Envelope) -> None:
        got.append(envelope)

    a, b = envelope_of("ticket.created"), envelope_of("tenant.created")
    await router.handlers["ticket.created"](SESSION, a)
    await router.handlers["tenant.created"](SESSION, b)
    assert got == [a, b]


async def test_a_payload_of_another_model_is_rejected_not_mistyped() -> None:
    router = EventRouter()

    @router.on(TicketCreated)
    async def handle(session: AsyncSession, received: Received[TicketCreated]) -> None:
        raise AssertionError("must not run")

    router.handlers["tenant.created"] = router.handlers["ticket.created"]
    with pytest.raises(Reject):
        await router.handlers["tenant.created"](SESSION, envelope_of("tenant.created"))


def test_two_handlers_for_one_type_are_refused() -> None:
    router = EventRouter()

    @router.on(TicketCreated)
    async def first(session: AsyncSession, received: Received[TicketCreated]) -> None: ...

    with pytest.raises(ValueError, match="already registered"):

        @router.on(TicketCreated)
        async def second(session: AsyncSession, received: Received[TicketCreated]) -> None: ...


async def test_handlers_of_a_service_app_see_its_clock_even_when_replaced() -> None:
    seen: list[datetime] = []
    router = EventRouter()

    @router.on(TicketCreated)
    async def handle(session: AsyncSession, received: Received[TicketCreated]) -> None:
        seen.append(received.clock.now())

    clock = TestClock(T0)
    app = create_service_app(
        ServiceDefinition(name="clocked", settings=ServiceSettings(), events=router, clock=clock)
    )
    assert app.state.clock is clock
    await router.handlers["ticket.created"](SESSION, envelope_of("ticket.created"))
    clock.advance(minutes=1)
    app.state.clock = TestClock(T0 + timedelta(days=3))  # a test swapping the clock
    await router.handlers["ticket.created"](SESSION, envelope_of("ticket.created"))
    assert seen == [T0, T0 + timedelta(days=3)]


def test_payload_asserts_the_model() -> None:
    env = envelope_of("ticket.created")
    assert payload(env, TicketCreated).tenant_id == env.tenant_id
    with pytest.raises(AssertionError, match=r"ticket\.created carries TicketCreated"):
        payload(env, TenantCreated)
