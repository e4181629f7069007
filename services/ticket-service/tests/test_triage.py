"""Triage rules: the seeded defaults, dry runs, ordering and guarded regular expressions."""

from __future__ import annotations

import pytest
from ticket_service_testkit import ADMIN, AGENT, Service, error_fields, problem, tenant


@pytest.mark.parametrize(
    ("subject", "body", "category"),
    [
        ("Can't log in", "my password is not accepted", "access/login"),
        ("Login", "my authenticator app was reset, 2FA fails", "access/mfa"),
        ("Invite", "the activation link expired", "access/activation"),
        ("Account", "my user was deactivated yesterday", "access/inactive"),
        ("Charged twice", "please refund the second payment", "billing"),
        ("Seats", "we need 5 more seats on our subscription", "subscription"),
        ("Export fails", "I get an error 500 when exporting", "potential_bug"),
        ("GDPR", "can you send us your DPA?", "compliance_guidance"),
        ("Idea", "It would be great to have dark mode, please add it", "feature_request"),
        ("Question", "how do I change the report colors", "platform_question"),
        ("Pricing", "can we get a quote for 200 users", "sales"),
        ("Getting started", "help with onboarding our team", "onboarding"),
        ("Hello", "just saying thanks", "other"),
    ],
)
async def test_seeded_rules_classify_common_requests(
    svc: Service, subject: str, body: str, category: str
) -> None:
    response = await svc.client.post(
        "/v1/triage-rules/dry-run", json={"subject": subject, "body": body}, headers=AGENT
    )
    assert response.status_code == 200, response.text
    outcome = response.json()
    label = outcome["category"] + (f"/{outcome['subcategory']}" if outcome["subcategory"] else "")
    assert label == category
    assert outcome["rule_name"] is not None  # every outcome names its rule
    assert outcome["reasons"]


async def test_a_new_rule_earlier_in_order_wins_and_explains_itself(svc: Service) -> None:
    t = await svc.tenant()
    rule = {
        "name": f"vip {t}",
        "position": 5,
        "conditions": {
            "channels": ["chat"],
            "patterns": [r"invoice\s+#?\d+"],
            "plan_tiers": ["enterprise"],
        },
        "actions": {"category": "billing", "priority": "urgent", "queue": "vip", "tags": ["vip"]},
    }
    created = await svc.client.post("/v1/triage-rules", json=rule, headers=ADMIN)
    assert created.status_code == 201, created.text
    text = {"subject": "Invoice #1234 wrong", "channel": "chat", "plan_tier": "enterprise"}
    outcome = (await svc.client.post("/v1/triage-rules/dry-run", json=text, headers=AGENT)).json()
    assert (outcome["rule_name"], outcome["priority"], outcome["queue"]) == (
        f"vip {t}",
        "urgent",
        "vip",
    )
    assert outcome["reasons"][0] == "channel is chat"
    # another tier falls through to the seeded billing rule
    other = {**text, "plan_tier": "starter"}
    fallback = (await svc.client.post("/v1/triage-rules/dry-run", json=other, headers=AGENT)).json()
    assert fallback["rule_name"] == "billing"

    rule_url = f"/v1/triage-rules/{created.json()['id']}"
    etag = (await svc.client.get(rule_url, headers=AGENT)).headers["ETag"]
    disabled = await svc.client.patch(
        rule_url, json={"enabled": False}, headers={**ADMIN, "If-Match": etag}
    )
    assert disabled.status_code == 200 and disabled.json()["version"] == 2
    again = (await svc.client.post("/v1/triage-rules/dry-run", json=text, headers=AGENT)).json()
    assert again["rule_name"] == "billing"
    duplicate = await svc.client.post("/v1/triage-rules", json=rule, headers=ADMIN)
    assert problem(duplicate, 409)["type"].endswith("/rule-name-taken")
    removed = await svc.client.delete(rule_url, headers={**ADMIN, "If-Match": '"2"'})
    assert removed.status_code == 204
    problem(await svc.client.get(rule_url, headers=AGENT), 404)


@pytest.mark.parametrize(
    "pattern",
    ["(unclosed", "(a+)+$", r"(\w*)*x", "x" * 201],
)
async def test_bad_or_catastrophic_patterns_are_refused(svc: Service, pattern: str) -> None:
    rule = {
        "name": f"bad {tenant()}",
        "position": 1,
        "conditions": {"patterns": [pattern]},
        "actions": {"category": "other"},
    }
    response = await svc.client.post("/v1/triage-rules", json=rule, headers=ADMIN)
    assert "conditions.patterns.0" in error_fields(problem(response, 422))


async def test_rules_are_admin_only_and_actions_validated(svc: Service) -> None:
    rule = {"name": "x", "position": 1, "conditions": {}, "actions": {"category": "other"}}
    refused = await svc.client.post("/v1/triage-rules", json=rule, headers=AGENT)
    assert problem(refused, 403)["type"].endswith("/insufficient-role")
    bad = {**rule, "actions": {"category": "billing", "subcategory": "mfa"}}
    assert "actions" in error_fields(
        problem(await svc.client.post("/v1/triage-rules", json=bad, headers=ADMIN), 422)
    )
    unknown = {**rule, "actions": {"category": "gossip"}}
    assert "actions.category" in error_fields(
        problem(await svc.client.post("/v1/triage-rules", json=unknown, headers=ADMIN), 422)
    )
    listed = (await svc.client.get("/v1/triage-rules?limit=200", headers=AGENT)).json()
    positions = [r["position"] for r in listed["items"]]
    assert positions == sorted(positions)
