"""One clock (endpoints and tests), role aliases with one meaning, and the 409 body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

import pytest
from plainapp import client_for, plain_app
from test_auth import assert_problem

from servicekit.auth import Principal, Role
from servicekit.clock import Clock, ClockDep, SystemClock, clock_of
from servicekit.errors import InvalidTransition
from servicekit.roles import (
    AdminOnly,
    AgentOnly,
    AgentOrService,
    ServiceOnly,
    Staff,
)
from servicekit.testing import TestClock, auth

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_endpoints_get_the_apps_clock_and_see_it_replaced() -> None:
    app = plain_app()

    @app.get("/now")
    async def now(clock: ClockDep) -> dict[str, str]:
        return {"now": clock.now().isoformat()}

    async with client_for(app) as client:
        before = datetime.now(UTC)
        wall = datetime.fromisoformat((await client.get("/now")).json()["now"])
        assert before <= wall <= datetime.now(UTC)  # no clock set: the system clock

        clock = TestClock(T0)
        app.state.clock = clock
        assert (await client.get("/now")).json()["now"] == T0.isoformat()
        clock.advance(hours=2)
        assert (await client.get("/now")).json()["now"] == (T0 + timedelta(hours=2)).isoformat()

        # the old function shape (billing, ticket) still works while they migrate
        app.state.clock = lambda: T0 - timedelta(days=1)
        assert (await client.get("/now")).json()["now"] == (T0 - timedelta(days=1)).isoformat()


def test_the_test_clock_moves_only_when_told_and_stays_utc() -> None:
    clock = TestClock(T0)
    assert clock.now() == clock() == T0
    assert clock.advance(timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    assert clock.advance(days=1, seconds=1) == T0 + timedelta(days=1, minutes=5, seconds=1)
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        TestClock(datetime(2026, 3, 1, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 3, 1, 9, 0))


def test_the_kit_clocks_are_structurally_the_services_clocks() -> None:
    # onboarding's and escalation's Clock was ``Protocol: def now(self) -> datetime``
    # (escalation's module is gone: it uses the kit's clock now)
    class ObjectClock(Protocol):
        def now(self) -> datetime: ...

    def takes(clock: ObjectClock) -> datetime:
        return clock.now()

    assert takes(TestClock(T0)) == T0
    assert isinstance(SystemClock(), Clock)
    assert clock_of(None).now().tzinfo is not None
    assert clock_of(lambda: T0).now() == T0


async def test_role_aliases_admit_the_documented_roles_and_tenancy() -> None:
    app = plain_app()

    @app.get("/staff")
    async def staff(p: Staff) -> str:
        return p.subject

    @app.get("/admin")
    async def admin(p: AdminOnly) -> str:
        return p.subject

    @app.get("/service")
    async def service(p: ServiceOnly) -> str:
        return p.subject

    @app.get("/agent")
    async def agent(p: AgentOnly) -> str:
        return p.subject

    @app.get("/agent-or-service")
    async def agent_or_service(p: AgentOrService) -> str:
        return p.subject

    async with client_for(app) as c:
        for role in ("agent", "billing", "onboarding", "qa", "admin"):
            assert (await c.get("/staff", headers=auth(role))).status_code == 200, role
        assert_problem(await c.get("/staff", headers=auth("service")), 403, "insufficient-role")
        tenant_agent = auth("agent", tenant_id="t-1")
        assert_problem(await c.get("/staff", headers=tenant_agent), 403, "staff-only")
        assert_problem(await c.get("/agent", headers=tenant_agent), 403, "staff-only")
        assert (await c.get("/agent-or-service", headers=tenant_agent)).status_code == 200

        assert (await c.get("/admin", headers=auth("admin"))).status_code == 200
        assert_problem(await c.get("/admin", headers=auth("agent")), 403, "insufficient-role")
        tenant_admin = auth("admin", tenant_id="t-1")
        assert_problem(await c.get("/admin", headers=tenant_admin), 403, "staff-only")

        assert (await c.get("/service", headers=auth("service"))).status_code == 200
        assert_problem(await c.get("/service", headers=auth("qa")), 403, "insufficient-role")
        assert (await c.get("/agent-or-service", headers=auth("service"))).status_code == 200
        assert_problem(await c.get("/agent", headers=auth("qa")), 403, "insufficient-role")


def test_principal_roles_used_by_the_aliases_exist() -> None:
    p = Principal(subject="s", roles=frozenset({Role.qa}))
    assert p.has_any([Role.qa])


async def test_invalid_transition_is_one_409_body() -> None:
    app = plain_app()

    @app.post("/new")
    async def new() -> None:
        raise InvalidTransition("ticket", "solved", "pending", allowed={"open", "closed"})

    @app.post("/old")
    async def old() -> None:
        raise InvalidTransition("a paid invoice cannot be voided", allowed=["void", "open"])

    async with client_for(app) as c:
        body = assert_problem(await c.post("/new"), 409, "invalid-transition")
        assert body["current_status"] == "solved"
        assert body["requested_status"] == "pending"
        assert body["allowed"] == ["closed", "open"]
        assert "ticket" in str(body["detail"])
        old_body = assert_problem(await c.post("/old"), 409, "invalid-transition")
        assert old_body["detail"] == "a paid invoice cannot be voided"
        assert old_body["allowed"] == ["void", "open"]  # the older form passes it on as given
