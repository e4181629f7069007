"""Sign-ins reported by the identity system (successes, failures, lockout), the inactive
status (the scan as CronJob and admin endpoint, per-tenant policy) and its way back."""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR, tenant_body

from onboarding_service.cli import inactive_user_scan
from onboarding_service.config import OnboardingSettings
from servicekit.testing import TestClock, auth, payload
from supportops_events import onboarding as ev

SCAN = "/v1/scans/inactive-users"


async def active_admin(
    client: httpx.AsyncClient, new_tenant: Any, **overrides: Any
) -> dict[str, Any]:
    created: dict[str, Any] = await new_tenant(**overrides)
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    assert accepted.status_code == 200, accepted.text
    return {"tenant_id": created["tenant"]["id"], **accepted.json()}


def sign_in(client: httpx.AsyncClient, user_id: str, **body: Any) -> Any:
    return client.post(f"/v1/users/{user_id}/sign-ins", json=body, headers=IDENTITY)


async def user(client: httpx.AsyncClient, user_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/users/{user_id}", headers=OPERATOR)).json()
    return body


async def test_failed_sign_ins_are_counted_and_too_many_lock_the_user(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    admin = await active_admin(client, new_tenant)
    limit = onboarding_settings.lock_after_failed_sign_ins

    for attempt in range(1, limit):
        failed = await sign_in(client, admin["id"], outcome="failed")
        assert failed.status_code == 200, failed.text
        assert failed.json()["failed_sign_in_count"] == attempt
        assert failed.json()["status"] == "active"
    assert (await user(client, admin["id"]))["last_failed_sign_in_at"] is not None
    locked = await sign_in(client, admin["id"], outcome="failed")

    assert locked.json()["status"] == "locked"
    assert locked.json()["lock_reason"] == "failed_logins"
    assert locked.json()["session_epoch"] == 1
    # a locked user cannot sign in; further failures are still counted
    refused = await sign_in(client, admin["id"])
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/sign-in-not-allowed")
    counted = await sign_in(client, admin["id"], outcome="failed")
    assert counted.json()["failed_sign_in_count"] == limit + 1
    assert counted.json()["status"] == "locked"
    events = await published(admin["tenant_id"], "user.locked")
    locks = [payload(e, ev.UserLocked) for e in events if e.type == "user.locked"]
    assert len(locks) == 1
    assert locks[0].reason == "failed_logins"
    assert locks[0].status == "locked"

    unlocked = await client.post(
        f"/v1/users/{admin['id']}/actions", json={"action": "unlock"}, headers=OPERATOR
    )
    assert unlocked.json()["user"]["status"] == "active"
    assert unlocked.json()["user"]["failed_sign_in_count"] == 0


async def test_a_retried_report_with_its_idempotency_key_is_counted_once(
    client: httpx.AsyncClient,
    new_tenant: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    admin = await active_admin(client, new_tenant)
    path = f"/v1/users/{admin['id']}/sign-ins"
    key = {**IDENTITY, "Idempotency-Key": f"signin-{uuid.uuid4()}"}
    answers = [
        await client.post(path, json={"outcome": "failed"}, headers=key)
        for _ in range(onboarding_settings.lock_after_failed_sign_ins + 2)
    ]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["failed_sign_in_count"] for a in answers} == {1}
    assert (await user(client, admin["id"]))["status"] == "active"
    # the same key with another report is a conflict, not a second count
    other = await client.post(path, json={"outcome": "succeeded"}, headers=key)
    assert other.status_code in (409, 422), other.text
    assert (await user(client, admin["id"]))["failed_sign_in_count"] == 1


async def test_a_successful_sign_in_ends_the_failure_streak(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    admin = await active_admin(client, new_tenant)
    limit = onboarding_settings.lock_after_failed_sign_ins
    for _ in range(limit - 1):
        await sign_in(client, admin["id"], outcome="failed")

    succeeded = await sign_in(client, admin["id"], outcome="succeeded", mfa_enrolled=True)
    assert succeeded.status_code == 200
    assert succeeded.json()["failed_sign_in_count"] == 0
    assert succeeded.json()["mfa_enrolled"] is True
    assert succeeded.json()["last_sign_in_at"] is not None
    for _ in range(limit - 1):
        again = await sign_in(client, admin["id"], outcome="failed")
    assert again.json()["status"] == "active"


async def test_failures_of_users_who_cannot_sign_in_are_counted_without_locking(
    client: httpx.AsyncClient, new_tenant: Any, onboarding_settings: OnboardingSettings
) -> None:
    invited = (await new_tenant())["admin_invitation"]["user"]
    for _ in range(onboarding_settings.lock_after_failed_sign_ins + 1):
        response = await sign_in(client, invited["id"], outcome="failed")
    assert response.status_code == 200
    assert response.json()["status"] == "invited"
    assert (
        response.json()["failed_sign_in_count"]
        == onboarding_settings.lock_after_failed_sign_ins + 1
    )


async def test_sign_in_reports_are_validated(
    client: httpx.AsyncClient, new_tenant: Any, clock: Any
) -> None:
    admin = await active_admin(client, new_tenant)

    naive = await sign_in(client, admin["id"], signed_in_at="2026-01-01T10:00:00")
    future = await sign_in(
        client, admin["id"], signed_in_at=(clock.now() + timedelta(hours=1)).isoformat()
    )
    outcome = await sign_in(client, admin["id"], outcome="maybe")
    unknown = await sign_in(client, str(uuid.uuid4()))
    not_identity = await client.post(f"/v1/users/{admin['id']}/sign-ins", json={}, headers=OPERATOR)
    past = await sign_in(
        client, admin["id"], signed_in_at=(clock.now() - timedelta(days=2)).isoformat()
    )

    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "signed_in_at"
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "signed_in_at"
    assert outcome.status_code == 422
    assert unknown.status_code == 404
    assert not_identity.status_code == 403
    assert past.status_code == 200
    # an older report never moves the last sign-in back
    newest = await sign_in(client, admin["id"])
    older = await sign_in(
        client, admin["id"], signed_in_at=(clock.now() - timedelta(days=5)).isoformat()
    )
    assert older.json()["last_sign_in_at"] == newest.json()["last_sign_in_at"]


async def test_scan_marks_inactive_and_a_sign_in_brings_the_user_back(
    client: httpx.AsyncClient, new_tenant: Any, published: Any, clock: Any
) -> None:
    admin = await active_admin(client, new_tenant)
    tenant_id = admin["tenant_id"]
    member = await invite_and_accept(client, tenant_id)
    await sign_in(
        client, member["id"], signed_in_at=(clock.now() + timedelta(minutes=1)).isoformat()
    )

    present = clock.now()

    clock.advance(timedelta(days=30, hours=12))
    try:
        early = await client.post(
            SCAN, json={"tenant_id": tenant_id, "after_days": 31}, headers=OPERATOR
        )
        scan = await client.post(
            SCAN, json={"tenant_id": tenant_id, "after_days": 30}, headers=OPERATOR
        )
        again = await client.post(
            SCAN, json={"tenant_id": tenant_id, "after_days": 30}, headers=OPERATOR
        )
    finally:
        clock.set(present)

    assert early.status_code == 200, early.text
    assert early.json()["marked"] == []
    assert scan.status_code == 200
    marked = scan.json()["marked"]
    assert {m["user_id"] for m in marked} == {admin["id"], member["id"]}
    assert {m["inactive_days"] for m in marked} == {30}
    assert again.json()["marked"] == []  # marked once
    assert (await user(client, admin["id"]))["status"] == "inactive"
    assert (await user(client, admin["id"]))["role"] == "admin"
    events = await published(tenant_id, "user.marked_inactive", count=2)
    marked_inactive = [
        payload(e, ev.UserMarkedInactive) for e in events if e.type == "user.marked_inactive"
    ]
    inactive = {m.user_id: m for m in marked_inactive}
    assert inactive[admin["id"]].status == "inactive"
    assert inactive[admin["id"]].last_sign_in_at is None
    assert inactive[member["id"]].last_sign_in_at is not None
    assert inactive[member["id"]].inactive_days == 30

    back = await sign_in(client, admin["id"])
    assert back.status_code == 200
    assert back.json()["status"] == "active"
    reactivated = await client.post(
        f"/v1/users/{member['id']}/actions", json={"action": "reactivate"}, headers=OPERATOR
    )
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["user"]["status"] == "active"
    events = await published(tenant_id, "user.reactivated", count=2)
    reactivated_users = [
        payload(e, ev.UserReactivated) for e in events if e.type == "user.reactivated"
    ]
    assert {r.user_id for r in reactivated_users} == {
        admin["id"],
        member["id"],
    }
    users = (await client.get(f"/v1/tenants/{tenant_id}/users", headers=OPERATOR)).json()["items"]
    assert {u["status"] for u in users} == {"active"}


async def invite_and_accept(client: httpx.AsyncClient, tenant_id: str) -> dict[str, Any]:
    invited = await client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": f"m-{uuid.uuid4().hex[:8]}@example.com"},
        headers=OPERATOR,
    )
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"token": invited.json()["invitation_token"]},
        headers=IDENTITY,
    )
    body: dict[str, Any] = accepted.json()
    return body


async def test_the_tenant_policy_overrides_the_service_default(
    client: httpx.AsyncClient, new_tenant: Any, clock: Any
) -> None:
    strict = await active_admin(client, new_tenant, configuration={"inactive_after_days": 7})
    default = await active_admin(client, new_tenant)

    present = clock.now()

    clock.advance(timedelta(days=8))
    try:
        strict_scan = await client.post(
            SCAN, json={"tenant_id": strict["tenant_id"]}, headers=OPERATOR
        )
        default_scan = await client.post(
            SCAN, json={"tenant_id": default["tenant_id"]}, headers=OPERATOR
        )
    finally:
        clock.set(present)

    assert [m["inactive_days"] for m in strict_scan.json()["marked"]] == [7]
    assert default_scan.json()["marked"] == []
    assert default_scan.json()["after_days"] == 90
    bad = await client.post(
        "/v1/tenants",
        json=tenant_body(configuration={"inactive_after_days": 0}),
        headers=OPERATOR,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "configuration.inactive_after_days"


async def test_the_scan_skips_tenants_that_are_not_live_and_scoped_tokens_see_their_own(
    client: httpx.AsyncClient, new_tenant: Any, clock: Any
) -> None:
    live = await active_admin(client, new_tenant)
    suspended = await active_admin(client, new_tenant)
    for status in ("active", "suspended"):
        await client.post(
            f"/v1/tenants/{suspended['tenant_id']}/status",
            json={"status": status},
            headers=OPERATOR,
        )
    scoped = auth("onboarding", tenant_id=live["tenant_id"])

    present = clock.now()

    clock.advance(timedelta(days=400))
    try:
        blocked = await client.post(
            SCAN, json={"tenant_id": suspended["tenant_id"]}, headers=OPERATOR
        )
        other = await client.post(SCAN, json={"tenant_id": suspended["tenant_id"]}, headers=scoped)
        own = await client.post(SCAN, headers=scoped)
        agent = await client.post(SCAN, json={}, headers=auth("agent"))
        bad = await client.post(SCAN, json={"after_days": 0}, headers=OPERATOR)
    finally:
        clock.set(present)

    assert blocked.json()["marked"] == []
    assert other.status_code == 404
    assert own.status_code == 200
    assert [m["user_id"] for m in own.json()["marked"]] == [live["id"]]
    assert agent.status_code == 403
    assert bad.status_code == 422
    assert (await user(client, suspended["id"]))["status"] == "active"


async def test_inactive_user_scan_command_marks_with_the_configured_days(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
    clock: Any,
) -> None:
    admin = await active_admin(client, new_tenant)
    settings = onboarding_settings.model_copy(update={"inactive_after_days": 45})

    await inactive_user_scan(
        settings, argparse.Namespace(), clock=TestClock(clock.now() + timedelta(days=44))
    )
    assert (await user(client, admin["id"]))["status"] == "active"
    await inactive_user_scan(
        settings, argparse.Namespace(), clock=TestClock(clock.now() + timedelta(days=46))
    )

    assert (await user(client, admin["id"]))["status"] == "inactive"
    events = await published(admin["tenant_id"], "user.marked_inactive")
    marked = payload(
        next(e for e in events if e.type == "user.marked_inactive"), ev.UserMarkedInactive
    )
    assert marked.inactive_days == 45
    assert isinstance(marked.marked_at, datetime)
