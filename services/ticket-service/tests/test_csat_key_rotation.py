"""CSAT signing-key rotation: links name their key's id; after a rotation the links
already sent keep working (until they expire) while new links use the new key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import pytest
from ticket_service_testkit import (
    AGENT,
    Service,
    open_ticket,
    patch_ticket,
    post_message,
    problem,
)

from servicekit.errors import Unprocessable
from servicekit.testing import app_client
from ticket_service.csat.service import SurveyClaim, key_id, read_token, survey_token
from ticket_service.main import create_app

OLD = "old-csat-secret-0123456789abcdef"
NEW = "new-csat-secret-fedcba9876543210"
CLAIM = SurveyClaim(
    ticket_id=uuid.uuid4(),
    solved_at=datetime(2027, 2, 1, 15, tzinfo=UTC),
    expires_at=datetime(2027, 2, 15, 15, tzinfo=UTC),
)


def _payload(token: str) -> str:
    encoded = token.split(".")[0]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def test_a_token_names_its_key_and_is_read_with_the_previous_key_after_rotation() -> None:
    token = survey_token(secret=OLD, claim=CLAIM)
    assert _payload(token).split("|")[:2] == ["v3", key_id(OLD)]
    assert key_id(OLD) != key_id(NEW)
    assert read_token(secret=NEW, token=token, previous=(OLD,)) == CLAIM
    with pytest.raises(Unprocessable):  # the old key dropped: its links stop working
        read_token(secret=NEW, token=token)
    assert read_token(secret=NEW, token=survey_token(secret=NEW, claim=CLAIM)) == CLAIM


def test_a_token_from_before_key_ids_is_still_read() -> None:
    # v2 links (no key id) were signed with the key then current, now a previous one
    key = hmac.new(OLD.encode(), b"ticket-service csat v2", hashlib.sha256).digest()
    payload = "|".join(
        ("v2", str(CLAIM.ticket_id), CLAIM.solved_at.isoformat(), CLAIM.expires_at.isoformat())
    ).encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()
    b64 = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")  # noqa: E731
    legacy = f"{b64(payload)}.{b64(signature)}"
    assert read_token(secret=NEW, token=legacy, previous=(OLD,)) == CLAIM
    with pytest.raises(Unprocessable):
        read_token(secret=NEW, token=legacy)


def test_a_key_id_naming_another_key_is_refused() -> None:
    token = survey_token(secret=OLD, claim=CLAIM)
    signature = token.split(".")[1]
    raw = _payload(token).replace(key_id(OLD), key_id(NEW))
    swapped = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=") + "." + signature
    with pytest.raises(Unprocessable):
        read_token(secret=NEW, token=swapped, previous=(OLD,))


async def test_links_sent_before_a_rotation_are_answered_after_it(svc: Service) -> None:
    t = await svc.tenant()
    ticket = await open_ticket(svc.client, t)
    await post_message(svc.client, ticket["id"], AGENT, "Done for you.")
    await patch_ticket(svc.client, ticket["id"], {"status": "solved"})
    sent = (await svc.client.get(f"/v1/tickets/{ticket['id']}/csat-survey", headers=AGENT)).json()[
        "token"
    ]

    old_secret = svc.settings.csat_secret or svc.settings.jwt_secret
    rotated = svc.settings.model_copy(
        update={"csat_secret": NEW, "csat_previous_secrets": [old_secret]}
    )
    async with app_client(create_app(rotated)) as after_rotation:
        survey = await after_rotation.get(f"/v1/csat-surveys/{sent}")
        assert survey.status_code == 200, survey.text
        rated = await after_rotation.post("/v1/csat-responses", json={"token": sent, "rating": 4})
        assert rated.status_code == 201, rated.text
    dropped = svc.settings.model_copy(update={"csat_secret": NEW, "csat_previous_secrets": []})
    async with app_client(create_app(dropped)) as after_expiry:
        problem(await after_expiry.get(f"/v1/csat-surveys/{sent}"), 422)
