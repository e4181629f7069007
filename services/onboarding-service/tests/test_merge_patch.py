"""PATCH of tenants and users is an RFC 7396 JSON Merge Patch: keys not named are kept,
``null`` removes a key (back to its default), nested objects merge, both media types."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from onboarding_fixtures import IDENTITY, OPERATOR

MERGE_PATCH = "application/merge-patch+json"

CONFIGURATION = {
    "locale": "de-DE",
    "timezone": "Europe/Berlin",
    "data_region": "eu",
    "mfa_required": False,
    "session_timeout_minutes": 60,
    "sso": {
        "enabled": True,
        "protocol": "oidc",
        "metadata_url": "https://idp.example/.well-known/openid-configuration",
        "enforce": False,
    },
    "feature_flags": {"beta_inbox": True, "dark_mode": False},
    "inactive_after_days": 30,
}


async def patch(
    client: httpx.AsyncClient, url: str, body: Any, *, content_type: str = MERGE_PATCH
) -> httpx.Response:

    etag = (await client.get(url, headers=OPERATOR)).headers["ETag"]
    return await client.patch(
        url,
        content=json.dumps(body),
        headers={**OPERATOR, "If-Match": etag, "Content-Type": content_type},
    )


@pytest.fixture
async def configured_tenant(new_tenant: Any) -> str:
    created = await new_tenant(configuration=CONFIGURATION)
    assert created["tenant"]["configuration"] == CONFIGURATION
    return f"/v1/tenants/{created['tenant']['id']}"


@pytest.mark.parametrize("content_type", [MERGE_PATCH, "application/json"])
async def test_a_partial_configuration_keeps_every_other_key(
    client: httpx.AsyncClient, configured_tenant: str, content_type: str
) -> None:
    """The finding: ``{"configuration": {"locale": "en-GB"}}`` reset the rest to defaults."""
    updated = await patch(
        client, configured_tenant, {"configuration": {"locale": "en-GB"}}, content_type=content_type
    )

    assert updated.status_code == 200, updated.text
    assert updated.json()["configuration"] == {**CONFIGURATION, "locale": "en-GB"}
    stored = (await client.get(configured_tenant, headers=OPERATOR)).json()
    assert stored["configuration"] == {**CONFIGURATION, "locale": "en-GB"}
    assert stored["company_name"] == updated.json()["company_name"]


async def test_nested_objects_merge_and_null_removes_a_key(
    client: httpx.AsyncClient, configured_tenant: str
) -> None:
    updated = await patch(
        client,
        configured_tenant,
        {
            "configuration": {
                "sso": {"enforce": True},  # merged into sso: provider kept
                "feature_flags": {"dark_mode": None, "ai_replies": True},  # one removed
                "locale": None,  # back to the default
                "inactive_after_days": None,
            }
        },
    )

    assert updated.status_code == 200, updated.text
    assert updated.json()["configuration"] == {
        **CONFIGURATION,
        "locale": "en-US",
        "sso": {**CONFIGURATION["sso"], "enforce": True},
        "feature_flags": {"beta_inbox": True, "ai_replies": True},
        "inactive_after_days": None,
    }


async def test_null_configuration_restores_every_default(
    client: httpx.AsyncClient, configured_tenant: str
) -> None:
    updated = await patch(client, configured_tenant, {"configuration": None})

    assert updated.status_code == 200, updated.text
    configuration = updated.json()["configuration"]
    assert configuration["locale"] == "en-US"
    assert configuration["sso"] == {
        "enabled": False,
        "protocol": None,
        "metadata_url": None,
        "enforce": False,
    }
    assert configuration["feature_flags"] == {}


async def test_an_invalid_merged_document_is_a_422_naming_the_field(
    client: httpx.AsyncClient, configured_tenant: str
) -> None:
    before = (await client.get(configured_tenant, headers=OPERATOR)).json()

    bad_value = await patch(client, configured_tenant, {"configuration": {"locale": "english"}})
    # valid alone, invalid merged: the enabled SSO loses its protocol
    bad_merge = await patch(
        client, configured_tenant, {"configuration": {"sso": {"protocol": None}}}
    )
    no_name = await patch(client, configured_tenant, {"company_name": None})
    unknown = await patch(client, configured_tenant, {"configuration": {"colour": "red"}})
    not_an_object = await patch(client, configured_tenant, ["locale", "en-GB"])

    for response, field in [
        (bad_value, "configuration.locale"),
        (no_name, "company_name"),
        (unknown, "configuration.colour"),
    ]:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == "https://supportops.dev/problems/validation-error"
        assert [e["field"] for e in problem["errors"]] == [field]
        assert problem["errors"][0]["in"] == "body"
    assert bad_merge.status_code == 422, bad_merge.text
    assert bad_merge.json()["errors"][0]["field"] == "configuration.sso"
    assert "needs protocol" in bad_merge.json()["errors"][0]["message"]
    assert not_an_object.status_code == 422
    stale_and_bad = await client.patch(
        configured_tenant,
        json={"configuration": {"locale": 42}},
        headers={**OPERATOR, "If-Match": '"999"', "Content-Type": MERGE_PATCH},
    )
    assert stale_and_bad.status_code == 422, stale_and_bad.text  # validation before If-Match
    after = (await client.get(configured_tenant, headers=OPERATOR)).json()
    assert after["configuration"] == before["configuration"]
    assert after["version"] == before["version"]


async def test_the_openapi_documents_merge_patch(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path in ("/v1/tenants/{tenant_id}", "/v1/users/{user_id}"):
        operation = document["paths"][path]["patch"]
        assert "RFC 7396" in operation["description"]
        content = operation["requestBody"]["content"]
        assert set(content) == {MERGE_PATCH, "application/json"}
    schema = document["paths"]["/v1/tenants/{tenant_id}"]["patch"]["requestBody"]["content"][
        MERGE_PATCH
    ]["schema"]
    assert "required" not in schema
    locale = schema["properties"]["configuration"]["anyOf"][0]["properties"]["locale"]
    assert {"type": "null"} in locale["anyOf"]


async def test_a_user_patch_keeps_what_it_does_not_name(
    client: httpx.AsyncClient, new_tenant: Any
) -> None:
    created = await new_tenant()
    tenant_id = created["tenant"]["id"]
    invited = await client.post(
        f"/v1/tenants/{tenant_id}/users",
        json={"email": "rosalind@example.com", "name": "Rosalind", "role": "member"},
        headers=OPERATOR,
    )
    user = invited.json()["user"]
    await client.post(
        "/v1/invitations/accept",
        json={"token": invited.json()["invitation_token"]},
        headers=IDENTITY,
    )
    url = f"/v1/users/{user['id']}"

    renamed = await patch(client, url, {"name": "Rosalind F."})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["role"]) == ("Rosalind F.", "member")
    promoted = await patch(client, url, {"role": "admin"}, content_type="application/json")
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["name"], promoted.json()["role"]) == ("Rosalind F.", "admin")
    unnamed = await patch(client, url, {"name": None})  # the name is optional: removed
    assert unnamed.status_code == 200, unnamed.text
    assert (unnamed.json()["name"], unnamed.json()["role"]) == (None, "admin")
    no_role = await patch(client, url, {"role": None})  # the role is not: refused
    assert no_role.status_code == 422
    assert [e["field"] for e in no_role.json()["errors"]] == ["role"]
    bad_role = await patch(client, url, {"role": "owner"})
    assert [e["field"] for e in bad_role.json()["errors"]] == ["role"]
