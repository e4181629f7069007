"""A bug's PATCH is an RFC 7396 JSON Merge Patch: the environment merges key by key,
``null`` removes, what is not named is kept, both media types; documented so."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from escalation_fixtures import QA, Running, create, report, uid

MERGE_PATCH = "application/merge-patch+json"


async def merge_patch(
    client: httpx.AsyncClient, url: str, body: Any, *, content_type: str = MERGE_PATCH
) -> httpx.Response:
    etag = (await client.get(url, headers=QA)).headers["ETag"]
    return await client.patch(
        url,
        content=json.dumps(body),
        headers={**QA, "If-Match": etag, "Content-Type": content_type},
    )


async def a_bug(running: Running) -> tuple[str, dict[str, Any]]:
    body = report(title=f"Merge patch {uid('t')} export is blank", force_new=True)
    bug = await create(running.client, body)
    return f"/v1/bugs/{bug['id']}", body


@pytest.mark.parametrize("content_type", [MERGE_PATCH, "application/json"])
async def test_the_environment_merges_and_the_rest_is_kept(
    running: Running, content_type: str
) -> None:
    url, body = await a_bug(running)

    updated = await merge_patch(
        running.client,
        url,
        {"environment": {"browser": "Edge 120", "tenant_configuration": {"theme": "dark"}}},
        content_type=content_type,
    )

    assert updated.status_code == 200, updated.text
    bug = updated.json()
    assert bug["environment"] == {
        "app_version": "4.12.0",  # kept
        "browser": "Edge 120",
        "os": "macOS 14.3",  # kept
        "tenant_configuration": {"locale": "de-DE", "theme": "dark"},  # merged
    }
    assert (bug["title"], bug["steps"], bug["severity"]) == (
        body["title"],
        body["steps"],
        "high",
    )


async def test_null_removes_and_invalid_merges_are_named(running: Running) -> None:
    url, body = await a_bug(running)

    removed = await merge_patch(
        running.client,
        url,
        {"environment": {"os": None, "tenant_configuration": {"locale": None}}, "steps": None},
    )
    no_title = await merge_patch(running.client, url, {"title": None})
    bad_env = await merge_patch(running.client, url, {"environment": {"gpu": "x"}})
    bad_severity = await merge_patch(running.client, url, {"severity": "apocalyptic"})

    assert removed.status_code == 200, removed.text
    assert removed.json()["environment"] == {
        "app_version": "4.12.0",
        "browser": "Firefox 123",
        "os": None,
        "tenant_configuration": {},
    }
    assert removed.json()["steps"] == []
    assert removed.json()["summary"] == body["summary"]
    for response, field in [
        (no_title, "title"),
        (bad_env, "environment.gpu"),
        (bad_severity, "severity"),
    ]:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == [field]
    after = (await running.client.get(url, headers=QA)).json()
    assert after["version"] == removed.json()["version"]


async def test_the_patch_is_documented_as_a_merge_patch(running: Running) -> None:
    document = (await running.client.get("/openapi.json")).json()
    patches = [item["patch"] for item in document["paths"].values() if "patch" in item]
    assert patches
    for operation in patches:
        assert "RFC 7396" in operation["description"]
        assert set(operation["requestBody"]["content"]) >= {MERGE_PATCH, "application/json"}
