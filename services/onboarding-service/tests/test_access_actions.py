"""Access actions from support's commands and from admin REST, with one set of rules."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from onboarding_fixtures import IDENTITY, OPERATOR, KnownCodes

from onboarding_service.config import OnboardingSettings
from servicekit.testing import TestClock, auth, payload, send_events
from supportops_events import Envelope, Event
from supportops_events import onboarding as ev
from supportops_events.samples import sample


async def active_admin(client: httpx.AsyncClient, new_tenant: Any) -> tuple[str, dict[str, Any]]:
    created = await new_tenant()
    admin = created["admin_invitation"]
    accepted = await client.post(
        "/v1/invitations/accept", json={"token": admin["invitation_token"]}, headers=IDENTITY
    )
    return created["tenant"]["id"], accepted.json()


def command(tenant_id: str, user: dict[str, Any], action: str, **overrides: Any) -> Any:
    values = {
        "tenant_id": tenant_id,
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "action": action,
        "user_id": user["id"],
        "user_email": user["email"],
        "ticket_id": "tkt-1",
    }
    values.update(overrides)
    return sample("access.action_requested", **values)


def submission(request: Any, code: str) -> Any:
    """The agent's ``access.confirmation_submitted`` for ``request`` with ``code``."""
    return sample(
        "access.confirmation_submitted",
        tenant_id=request.tenant_id,
        request_id=request.request_id,
        submission_id=f"sub-{uuid.uuid4().hex[:12]}",
        ticket_id=request.ticket_id,
        user_id=request.user_id,
        code=code,
    )


E = TypeVar("E", bound=Event)


def of_request(events: list[Envelope], request: Any, event_type: str, model: type[E]) -> list[E]:
    found = [payload(e, model) for e in events if e.type == event_type]
    return [data for data in found if getattr(data, "request_id", None) == request.request_id]


async def test_mfa_reset_command_waits_for_the_code_then_revokes_sessions_and_completes(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
    codes: KnownCodes,
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    request = command(tenant_id, user, "mfa_reset")
    codes.queued.append("493817")
    envelope = Envelope.new(request, source="ticket-service")
    # the same command delivered twice (e.g. a producer retry with a new event id)
    duplicate = Envelope.new(request, source="ticket-service")
    prefix = onboarding_settings.kafka_topic_prefix
    await send_events([envelope, duplicate], prefix=prefix)

    events = await published(tenant_id, "access.confirmation_pending")
    (pending,) = of_request(
        events, request, "access.confirmation_pending", ev.AccessConfirmationPending
    )
    local, domain = user["email"].split("@")
    assert pending.destination == f"{local[0]}***@{domain}"  # never the code, nor the address
    assert (pending.delivery, pending.attempts_allowed) == ("email", 3)
    assert "493817" not in str([e.data.model_dump() for e in events])
    # nothing is reset before the user confirms
    held = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert (held["session_epoch"], held["mfa_reset_at"]) == (0, None)

    # a wrong code costs an attempt; the right one (read back with a space) resets
    await send_events([submission(request, "111111")], prefix=prefix)
    events = await published(tenant_id, "access.confirmation_failed")
    (failed,) = of_request(
        events, request, "access.confirmation_failed", ev.AccessConfirmationFailed
    )
    assert failed.attempts_left == 2
    await send_events([submission(request, "493 817")], prefix=prefix)

    events = await published(tenant_id, "access.action_completed", "user.mfa_reset")
    completed = of_request(events, request, "access.action_completed", ev.AccessActionCompleted)
    reset = payload(next(e for e in events if e.type == "user.mfa_reset"), ev.UserMfaReset)
    assert reset.request_id == request.request_id
    assert reset.ticket_id == "tkt-1"
    after = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert after["session_epoch"] == 1  # revoked once, not twice
    assert after["mfa_reset_at"] is not None
    assert len(completed) == 1

    # the code is single-use: submitting it again changes nothing
    await send_events([submission(request, "493817")], prefix=prefix)
    marker = command(tenant_id, user, "unlock")  # rejected: a marker that the replay was read
    await send_events([marker], prefix=prefix)
    events = await published(tenant_id, "access.action_rejected")
    assert of_request(events, marker, "access.action_rejected", ev.AccessActionRejected)
    assert (
        len(of_request(events, request, "access.action_completed", ev.AccessActionCompleted)) == 1
    )
    again = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert again["session_epoch"] == 1


async def test_a_late_or_thrice_wrong_code_rejects_the_mfa_reset(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
    codes: KnownCodes,
    clock: TestClock,
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    prefix = onboarding_settings.kafka_topic_prefix
    guessed = command(tenant_id, user, "mfa_reset")
    late = command(tenant_id, user, "mfa_reset")
    codes.queued += ["222222", "333333"]
    await send_events([guessed, late], prefix=prefix)
    await published(tenant_id, "access.confirmation_pending", count=2)

    await send_events(
        [submission(guessed, c) for c in ("000001", "000002", "000003")], prefix=prefix
    )
    events = await published(tenant_id, "access.action_rejected")
    (rejected,) = of_request(events, guessed, "access.action_rejected", ev.AccessActionRejected)
    assert rejected.reasons == ["confirmation_failed"]
    assert [
        f.attempts_left
        for f in of_request(
            events, guessed, "access.confirmation_failed", ev.AccessConfirmationFailed
        )
    ] == [
        2,
        1,
    ]
    # the right code after the limit is too late
    await send_events([submission(guessed, "222222")], prefix=prefix)

    present = clock.now()

    clock.advance(timedelta(minutes=onboarding_settings.confirmation_code_ttl_minutes + 1))
    try:
        await send_events([submission(late, "333333")], prefix=prefix)
        events = await published(tenant_id, "access.action_rejected", count=2)
    finally:
        clock.set(present)
    (expired,) = of_request(events, late, "access.action_rejected", ev.AccessActionRejected)
    assert expired.reasons == ["confirmation_expired"]
    assert "user.mfa_reset" not in [e.type for e in events]
    assert not of_request(events, guessed, "access.action_completed", ev.AccessActionCompleted)
    unchanged = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert (unchanged["session_epoch"], unchanged["mfa_reset_at"]) == (0, None)


async def test_commands_that_do_not_apply_are_rejected_with_reasons(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    other_tenant, _ = await active_admin(client, new_tenant)
    unlock_active = command(tenant_id, user, "unlock")
    wrong_tenant = command(other_tenant, user, "mfa_reset")
    unknown = command(tenant_id, user, "reactivate", user_id=str(uuid.uuid4()))
    await send_events(
        [unlock_active, wrong_tenant, unknown], prefix=onboarding_settings.kafka_topic_prefix
    )

    mine = await published(tenant_id, "access.action_rejected", count=2)
    rejections = [
        payload(e, ev.AccessActionRejected) for e in mine if e.type == "access.action_rejected"
    ]
    reasons = {r.request_id: r.reasons for r in rejections}
    assert reasons[unlock_active.request_id] == ["invalid_user_state"]
    assert reasons[unknown.request_id] == ["user_not_found"]
    theirs = await published(other_tenant, "access.action_rejected")
    rejected = payload(
        next(e for e in theirs if e.type == "access.action_rejected"), ev.AccessActionRejected
    )
    assert rejected.reasons == ["tenant_mismatch"]
    unchanged = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert unchanged["session_epoch"] == 0


async def test_rest_actions_follow_the_same_rules(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    created = await new_tenant()
    invited = created["admin_invitation"]["user"]
    url = f"/v1/users/{invited['id']}/actions"

    refused = await client.post(url, json={"action": "mfa_reset"}, headers=OPERATOR)
    assert refused.status_code == 409
    assert refused.json()["reasons"] == ["invalid_user_state"]

    resent = await client.post(url, json={"action": "resend_activation"}, headers=OPERATOR)
    assert resent.status_code == 200, resent.text
    new_token = resent.json()["invitation_token"]
    assert new_token != created["admin_invitation"]["invitation_token"]
    old = await client.post(
        "/v1/invitations/accept",
        json={"token": created["admin_invitation"]["invitation_token"]},
        headers=IDENTITY,
    )
    assert old.status_code == 404
    fresh = await client.post("/v1/invitations/accept", json={"token": new_token}, headers=IDENTITY)
    assert fresh.json()["status"] == "active"
    invites = await published(created["tenant"]["id"], "user.invited", count=2)
    invited = [payload(e, ev.UserInvited) for e in invites if e.type == "user.invited"]
    assert [i.is_resend for i in invited] == [False, True]

    bad = await client.post(url, json={"action": "format_disk"}, headers=OPERATOR)
    assert bad.status_code == 422


async def test_actions_on_a_suspended_tenant_are_rejected(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    status_url = f"/v1/tenants/{tenant_id}/status"
    await client.post(status_url, json={"status": "active"}, headers=OPERATOR)
    await client.post(status_url, json={"status": "suspended"}, headers=OPERATOR)
    request = command(tenant_id, user, "mfa_reset")
    await send_events([request], prefix=onboarding_settings.kafka_topic_prefix)

    events = await published(tenant_id, "access.action_rejected")
    rejected = payload(
        next(e for e in events if e.type == "access.action_rejected"), ev.AccessActionRejected
    )
    assert rejected.reasons == ["tenant_not_active"]
    assert "user.mfa_reset" not in [e.type for e in events]


async def test_rest_action_naming_a_ticket_publishes_the_outcome_for_it(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)

    done = await client.post(
        f"/v1/users/{user['id']}/actions",
        json={"action": "mfa_reset", "ticket_id": "tkt-42", "reason": "lost phone"},
        headers=OPERATOR,
    )

    assert done.status_code == 200, done.text
    body = done.json()
    assert body["ticket_id"] == "tkt-42"
    request_id = body["request_id"]
    assert request_id.startswith("rest-")
    assert body["user"]["session_epoch"] == 1
    events = await published(tenant_id, "access.action_completed", "user.mfa_reset")
    completed = payload(
        next(e for e in events if e.type == "access.action_completed"), ev.AccessActionCompleted
    )
    assert completed.request_id == request_id
    assert completed.ticket_id == "tkt-42"
    assert completed.action == "mfa_reset"
    assert completed.user_id == user["id"]
    assert completed.user_email == user["email"]
    assert completed.user_status == "active"
    reset = payload(next(e for e in events if e.type == "user.mfa_reset"), ev.UserMfaReset)
    assert reset.request_id == request_id
    assert reset.ticket_id == "tkt-42"


async def test_rest_refusal_naming_a_ticket_is_published_and_answered_409(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    url = f"/v1/users/{user['id']}/actions"

    refused = await client.post(
        url,
        json={"action": "unlock", "ticket_id": "tkt-7", "request_id": "req-rest-unlock-1"},
        headers=OPERATOR,
    )

    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/access-action-rejected")
    assert problem["reasons"] == ["invalid_user_state"]
    assert problem["request_id"] == "req-rest-unlock-1"
    events = await published(tenant_id, "access.action_rejected")
    rejected = payload(
        next(e for e in events if e.type == "access.action_rejected"), ev.AccessActionRejected
    )
    assert rejected.request_id == "req-rest-unlock-1"
    assert rejected.ticket_id == "tkt-7"
    assert rejected.reasons == ["invalid_user_state"]
    assert "user.unlocked" not in [e.type for e in events]

    # the same request id again, even for an action that would apply: handled once
    replay = await client.post(
        url,
        json={"action": "mfa_reset", "ticket_id": "tkt-7", "request_id": "req-rest-unlock-1"},
        headers=OPERATOR,
    )
    assert replay.status_code == 409
    assert replay.json()["type"].endswith("/access-request-handled")
    assert replay.json()["outcome"] == "rejected"
    after = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert after["session_epoch"] == 0


async def test_rest_actions_without_a_ticket_publish_only_the_user_event(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    url = f"/v1/users/{user['id']}/actions"

    refused = await client.post(url, json={"action": "reactivate"}, headers=OPERATOR)
    done = await client.post(url, json={"action": "mfa_reset"}, headers=OPERATOR)
    # a later event of the same tenant (the last active admin cannot be deactivated)
    locked = await client.post(f"/v1/users/{user['id']}/lock", json={}, headers=IDENTITY)

    assert locked.status_code == 200, locked.text
    assert refused.status_code == 409
    assert done.status_code == 200
    assert done.json()["request_id"] is None
    events = await published(tenant_id, "user.locked")
    types = [e.type for e in events]
    assert "user.mfa_reset" in types
    assert "access.action_completed" not in types
    assert "access.action_rejected" not in types
    reset = payload(next(e for e in events if e.type == "user.mfa_reset"), ev.UserMfaReset)
    assert reset.request_id is None


async def test_rest_action_input_is_validated(
    client: httpx.AsyncClient, new_tenant: Any, published: Any
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    url = f"/v1/users/{user['id']}/actions"

    orphan = await client.post(
        url, json={"action": "mfa_reset", "request_id": "req-1"}, headers=OPERATOR
    )
    spaced = await client.post(
        url, json={"action": "mfa_reset", "ticket_id": "tkt 1"}, headers=OPERATOR
    )
    long_id = await client.post(
        url, json={"action": "mfa_reset", "ticket_id": "t" * 129}, headers=OPERATOR
    )
    nul = await client.post(
        url, json={"action": "mfa_reset", "ticket_id": "tkt\u0000"}, headers=OPERATOR
    )
    unknown = await client.post(
        f"/v1/users/{uuid.uuid4()}/actions",
        json={"action": "mfa_reset", "ticket_id": "tkt-1"},
        headers=OPERATOR,
    )
    other_tenant = await client.post(
        url,
        json={"action": "mfa_reset", "ticket_id": "tkt-1"},
        headers=auth("onboarding", tenant_id=str(uuid.uuid4())),
    )

    for response in (orphan, spaced, long_id, nul):
        assert response.status_code == 422, response.text
        assert response.json()["errors"]
    assert unknown.status_code == 404
    assert other_tenant.status_code == 404
    after = (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()
    assert after["session_epoch"] == 0
    await client.post(f"/v1/users/{user['id']}/lock", json={}, headers=IDENTITY)
    events = await published(tenant_id, "user.locked")
    assert not [e.type for e in events if e.type.startswith("access.")]


async def test_reactivate_command_works_from_inactive(
    client: httpx.AsyncClient,
    new_tenant: Any,
    published: Any,
    clock: Any,
    onboarding_settings: OnboardingSettings,
) -> None:
    tenant_id, user = await active_admin(client, new_tenant)
    present = clock.now()
    clock.advance(timedelta(days=365))
    try:
        scan = await client.post(
            "/v1/scans/inactive-users", json={"tenant_id": tenant_id}, headers=OPERATOR
        )
    finally:
        clock.set(present)
    assert [m["user_id"] for m in scan.json()["marked"]] == [user["id"]]
    request = command(tenant_id, user, "reactivate")
    await send_events([request], prefix=onboarding_settings.kafka_topic_prefix)

    events = await published(tenant_id, "access.action_completed", "user.reactivated")
    completed = payload(
        next(e for e in events if e.type == "access.action_completed"), ev.AccessActionCompleted
    )
    assert completed.user_status == "active"
    reactivated = payload(
        next(e for e in events if e.type == "user.reactivated"), ev.UserReactivated
    )
    assert reactivated.request_id == request.request_id
    assert (await client.get(f"/v1/users/{user['id']}", headers=OPERATOR)).json()[
        "status"
    ] == "active"
